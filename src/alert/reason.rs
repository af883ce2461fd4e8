//! The alert's reason sentence (`kibana.alert.reason`), written with the template of Kibana's
//! detection engine (`reason_formatters`, the same for every rule type): the event category,
//! then the fields of interest (process, parent process, file, source and destination address
//! and port), the user and the host, and the severity and name of the alert. Pure.

use super::overrides::{lodash_get, overrides};
use crate::rule::Rule;
use serde_json::Value;

/// Every source field the reason sentence reads.
pub(super) const REASON_FIELDS: [&str; 10] = [
    "destination.ip",
    "destination.port",
    "event.category",
    "file.name",
    "host.name",
    "process.name",
    "process.parent.name",
    "source.ip",
    "source.port",
    "user.name",
];

/// A field of a JSON document by its dotted ECS name, whether the document nests it
/// (`{"user": {"name": ..}}`), stores it as a dotted key (`{"user.name": ..}`) or mixes both.
pub fn field<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    let object = document.as_object()?;
    if let Some(value) = object.get(name) {
        return Some(value);
    }
    name.match_indices('.').find_map(|(at, _)| {
        let inner = object.get(&name[..at])?;
        field(inner, &name[at + 1..])
    })
}

/// The reason of `rule`'s alert for `source`, with the alert's name and severity (which the
/// rule's mappings and name override may take from the event).
pub fn reason(source: &Value, rule: &Rule) -> String {
    let overrides = overrides(source, rule);
    reason_sentence(source, &overrides.name, overrides.severity.as_str())
}

/// The reason sentence for an alert named `name` at `severity`, for example
/// `iam event with source 192.0.2.1 by Alice created medium alert AWS IAM User Addition to Group.`
pub fn reason_sentence(source: &Value, name: &str, severity: &str) -> String {
    let text = |field: &str| template_value(lodash_get(source, field));
    let interest = [
        ("process", text("process.name")),
        ("parent process", text("process.parent.name")),
        ("file", text("file.name")),
    ];
    let source_address = text("source.ip");
    let source_port = text("source.port");
    let destination_address = text("destination.ip");
    let destination_port = text("destination.port");
    let with = interest.iter().any(|(_, value)| value.is_some())
        || [
            &source_address,
            &source_port,
            &destination_address,
            &destination_port,
        ]
        .iter()
        .any(|value| value.is_some());
    let mut sentence = String::new();
    if let Some(category) = text("event.category") {
        sentence.push_str(&category);
        sentence.push(' ');
    }
    sentence.push_str("event");
    if with {
        sentence.push_str(" with");
    }
    for (label, value) in &interest {
        if let Some(value) = value {
            sentence.push_str(&format!(" {label} {value},"));
        }
    }
    push_address(&mut sentence, "source", source_address, source_port);
    push_address(
        &mut sentence,
        "destination",
        destination_address,
        destination_port,
    );
    if let Some(user) = text("user.name") {
        sentence.push_str(&format!(" by {user}"));
    }
    if let Some(host) = text("host.name") {
        sentence.push_str(&format!(" on {host}"));
    }
    sentence.push_str(&format!(" created {severity} alert {name}."));
    sentence
}

/// ` source 192.0.2.1` and `:443,` (each only when present, as in Kibana's template).
fn push_address(sentence: &mut String, label: &str, address: Option<String>, port: Option<String>) {
    if let Some(address) = address {
        sentence.push_str(&format!(" {label} {address}"));
    }
    if let Some(port) = port {
        sentence.push_str(&format!(":{port},"));
    }
}

/// A field as the template shows it: a non-empty string other than `-`, or an array (joined
/// with ", ") other than `["-"]`. A single number, boolean or object is left out, as in Kibana
/// (its template tests the value's length).
fn template_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() && text != "-" => Some(text.clone()),
        Value::Array(items) if !items.is_empty() => {
            if items.len() == 1 && items[0] == Value::String("-".into()) {
                return None;
            }
            let parts: Vec<String> = items.iter().map(js_text).collect();
            Some(parts.join(", "))
        }
        _ => None,
    }
}

/// A value as JavaScript's `String()` writes an array element.
fn js_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(js_text).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sentence(source: Value) -> String {
        reason_sentence(&source, "R", "high")
    }

    #[test]
    fn an_empty_event_names_only_the_alert() {
        assert_eq!(sentence(json!({})), "event created high alert R.");
    }

    #[test]
    fn category_user_and_host_need_no_with() {
        let source = json!({"event": {"category": ["iam", "configuration"]}, "user": {"name": "alice"}, "host": {"name": "h1"}});
        assert_eq!(
            sentence(source),
            "iam, configuration event by alice on h1 created high alert R."
        );
    }

    #[test]
    fn fields_of_interest_follow_with_in_the_templates_order() {
        let source = json!({
            "process": {"name": "curl", "parent": {"name": "bash"}},
            "file": {"name": "x.sh"},
            "source": {"ip": "192.0.2.1", "port": "51000"},
            "destination": {"ip": "198.51.100.7", "port": ["443"]},
            "user.name": "bob",
        });
        assert_eq!(
            sentence(source),
            "event with process curl, parent process bash, file x.sh, source 192.0.2.1:51000, \
             destination 198.51.100.7:443, by bob created high alert R."
        );
    }

    #[test]
    fn single_numbers_dashes_and_empty_strings_are_left_out_as_kibana_does() {
        let source = json!({"source": {"ip": "-", "port": 443}, "user": {"name": ""}, "host": {"name": ["-"]}});
        assert_eq!(sentence(source), "event created high alert R.");
        let port_only = json!({"source": {"port": [443]}});
        assert_eq!(sentence(port_only), "event with:443, created high alert R.");
    }
}
