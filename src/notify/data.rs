//! What a message says about its alerts: their key fields, and the template data with Kibana's
//! action variables (`context.rule.*`, `context.alerts`, `context.results_link`,
//! `state.signals_count`, `alerts.new.*`, `rule.*`, `date`, `kibanaBaseUrl`) so that message
//! templates written for Kibana's security rule actions work unchanged. Pure.

use serde_json::{Map, Value, json};

/// The fields a message shows of each alert, in order, when the alert has them.
pub const KEY_FIELDS: &[&str] = &[
    "kibana.alert.uuid",
    "kibana.alert.original_time",
    "kibana.alert.severity",
    "kibana.alert.risk_score",
    "kibana.alert.reason",
    "event.action",
    "event.outcome",
    "user.name",
    "host.name",
    "source.ip",
    "cloud.account.id",
    "cloud.region",
];

/// Reads a field given by its dotted name, whether the document holds it nested (`host` ->
/// `name`) or as one dotted key (`"kibana.alert.uuid"`), or anything in between.
pub fn field<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(value) = doc.get(name) {
        return Some(value);
    }
    let mut rest = name;
    while let Some((head, tail)) = rest.split_once('.') {
        let prefix_len = name.len() - rest.len() + head.len();
        if let Some(found) = doc
            .get(&name[..prefix_len])
            .and_then(|inner| field(inner, tail))
        {
            return Some(found);
        }
        rest = tail;
    }
    None
}

/// A field as text ("" when absent).
pub fn text(doc: &Value, name: &str) -> String {
    field(doc, name)
        .map(super::template::value_text)
        .unwrap_or_default()
}

/// The key fields an alert has, as (name, text) pairs.
pub fn key_fields(doc: &Value) -> Vec<(&'static str, String)> {
    KEY_FIELDS
        .iter()
        .filter_map(|name| {
            let value = field(doc, name)?;
            let text = super::template::value_text(value);
            (!text.is_empty()).then_some((*name, text))
        })
        .collect()
}

/// The key fields as one flat JSON object.
pub fn key_object(doc: &Value) -> Value {
    let mut object = Map::new();
    for (name, value) in KEY_FIELDS.iter().filter_map(|n| Some((*n, field(doc, n)?))) {
        object.insert(name.to_string(), value.clone());
    }
    Value::Object(object)
}

/// `doc` with every dotted key turned into nested objects (`"a.b": 1` -> `{"a": {"b": 1}}`),
/// as Kibana gives alerts to action templates.
pub fn expand(doc: &Value) -> Value {
    let Value::Object(map) = doc else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = expand(value);
        let mut parts = key.split('.').peekable();
        let mut node = &mut out;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                merge(node, part, value);
                break;
            }
            let entry = node.entry(part.to_string()).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            node = entry.as_object_mut().expect("made an object above");
        }
    }
    Value::Object(out)
}

/// Puts `value` at `key`, merging objects that meet.
fn merge(node: &mut Map<String, Value>, key: &str, value: Value) {
    match (node.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(incoming)) => {
            for (k, v) in incoming {
                merge(existing, &k, v);
            }
        }
        (_, value) => {
            node.insert(key.to_string(), value);
        }
    }
}

/// The facts about the message a template can use besides the alerts.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub connector: &'a str,
    pub mode: &'a str,
    /// Kibana's base URL, when configured.
    pub kibana_url: Option<&'a str>,
    /// Discover filtered to the message's alerts, when Kibana's URL is configured.
    pub results_link: Option<&'a str>,
    /// When the message is made (ISO 8601).
    pub date: &'a str,
    /// How many alerts the message lists (the rest are counted).
    pub shown: usize,
}

/// The template data for a message about `alerts` (all of one rule).
pub fn template_data(alerts: &[&Value], frame: Frame<'_>) -> Value {
    let expanded: Vec<Value> = alerts.iter().map(|a| expand(a)).collect();
    let first = expanded.first().cloned().unwrap_or(Value::Null);
    let rule = first["kibana"]["alert"]["rule"].clone();
    let rule_uuid = rule["uuid"].clone();
    let shown: Vec<Value> = expanded.iter().take(frame.shown).cloned().collect();
    let count = alerts.len();
    let link = frame.results_link.unwrap_or("");
    let mut context_rule = rule.clone();
    if let Value::Object(map) = &mut context_rule {
        map.insert("id".into(), rule_uuid.clone());
    }
    json!({
        "date": frame.date,
        "kibanaBaseUrl": frame.kibana_url.unwrap_or(""),
        "rule": {
            "id": rule_uuid,
            "name": rule["name"],
            "tags": rule["tags"],
            "spaceId": first["kibana"]["space_ids"][0],
            "url": "",
        },
        "context": {
            "rule": context_rule,
            "alerts": expanded,
            "results_link": link,
        },
        "state": {"signals_count": count},
        "alerts": {
            "new": {"count": count, "data": shown},
            "all": {"count": count, "data": shown},
        },
        "alert": first,
        "lookout": {
            "connector": frame.connector,
            "mode": frame.mode,
            "count": count,
            "more": count.saturating_sub(frame.shown),
            "results_link": link,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_flat_nested_or_mixed() {
        let doc =
            json!({"kibana.alert.uuid": "a", "host": {"name": "h"}, "cloud.account": {"id": "1"}});
        assert_eq!(text(&doc, "kibana.alert.uuid"), "a");
        assert_eq!(text(&doc, "host.name"), "h");
        assert_eq!(text(&doc, "cloud.account.id"), "1");
        assert_eq!(text(&doc, "user.name"), "");
    }

    #[test]
    fn dotted_keys_expand_into_objects_that_merge() {
        let doc = json!({"kibana.alert.uuid": "a", "kibana.alert.rule.name": "n", "kibana": {"space_ids": ["d"]}});
        assert_eq!(
            expand(&doc),
            json!({"kibana": {"alert": {"uuid": "a", "rule": {"name": "n"}}, "space_ids": ["d"]}})
        );
    }

    #[test]
    fn template_data_offers_kibanas_variables() {
        let alert = json!({"kibana.alert.uuid": "a", "kibana.alert.rule.name": "R", "kibana.alert.rule.uuid": "u", "kibana.space_ids": ["default"]});
        let frame = Frame {
            connector: "soc",
            mode: "summary",
            kibana_url: Some("https://kb"),
            results_link: Some("https://kb/app/discover"),
            date: "2026-01-01T00:00:00Z",
            shown: 1,
        };
        let data = template_data(&[&alert, &alert], frame);
        assert_eq!(data["context"]["rule"]["name"], "R");
        assert_eq!(data["context"]["rule"]["id"], "u");
        assert_eq!(data["state"]["signals_count"], 2);
        assert_eq!(data["alerts"]["new"]["data"].as_array().unwrap().len(), 1);
        assert_eq!(data["lookout"]["more"], 1);
        assert_eq!(data["rule"]["spaceId"], "default");
        assert_eq!(data["context"]["alerts"][1]["kibana"]["alert"]["uuid"], "a");
    }
}
