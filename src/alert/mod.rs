//! Alerts (docs/architecture.md, "Alerts and deduplication"): the stable id of "this event matched by this rule" and the alert
//! document written for it, in Kibana's alert schema. Pure: takes a source hit and the rule,
//! returns JSON; it never searches or writes.
//!
//! Field layout: like Kibana's alerts-as-data indices, the source event's fields keep their
//! nested shape and every `kibana.*` field is one flat dotted key (`"kibana.alert.rule.name"`).
//! Both forms address the same field in Elasticsearch, so queries and the index template
//! (`mappings.json`, nested form) treat them alike.

mod reason;
// Until the engine's EQL kind writes sequence alerts (issue 13), only its tests do.
#[allow(dead_code)]
mod sequence;
mod template;
mod text;

#[cfg(test)]
mod sequence_tests;

pub use crate::ids::{alert_id, framed_id, rule_uuid};
pub use reason::{field, reason};
#[allow(unused_imports)] // the EQL kind uses them once it lands
pub use sequence::{SequenceAlerts, build_sequence_alerts, building_block_id};
pub use template::{index_template, template_name};
pub use text::alert_json;

use crate::rule::Rule;
use crate::schedule::duration::format_duration;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// `kibana.alert.rule.version` of a rule file without `version` (Kibana numbers a new rule 1;
/// the corpus keeps versions in a separate lock file).
pub const DEFAULT_RULE_VERSION: u64 = 1;

/// The depth of an alert built directly from source events (Kibana: 1; building blocks are 2).
const ALERT_DEPTH: u64 = 1;

/// One source hit as the search returned it.
#[derive(Debug, Clone, Copy)]
pub struct SourceEvent<'a> {
    pub index: &'a str,
    pub id: &'a str,
    pub source: &'a Value,
}

/// What an alert says about the execution that produced it.
#[derive(Debug, Clone, Copy)]
pub struct AlertContext<'a> {
    pub rule: &'a Rule,
    pub namespace: &'a str,
    pub execution_uuid: &'a str,
    /// The alert's `@timestamp`: when it was created.
    pub created_at: DateTime<Utc>,
}

/// An alert ready to write: its id and its document.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub document: Value,
}

/// The fields every alert of one rule and execution shares (`@timestamp`, the constant
/// `kibana.alert.*` fields, `kibana.alert.rule.*`, the execution uuid, the space), built once
/// and cloned into each alert: building them per alert was most of the cost of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedFields {
    created_at: Value,
    fields: Map<String, Value>,
    /// `fields` as JSON text without the braces (`"kibana.alert.depth":1,...`), built when
    /// [`alert_json`] first asks for it (the tree builders never do).
    fragment: std::sync::OnceLock<String>,
}

impl SharedFields {
    pub fn new(context: AlertContext<'_>) -> Self {
        let rule = context.rule;
        let mut fields = into_map(json!({
            "kibana.alert.depth": ALERT_DEPTH,
            "kibana.alert.status": "active",
            "kibana.alert.workflow_status": "open",
            "kibana.alert.severity": rule.meta.severity.as_str(),
            "kibana.alert.risk_score": rule.meta.risk_score,
        }));
        fields.extend(rule_fields(rule, context.namespace));
        fields.insert(
            "kibana.alert.rule.execution.uuid".into(),
            json!(context.execution_uuid),
        );
        fields.insert("kibana.space_ids".into(), json!([context.namespace]));
        if let Some(kind) = &rule.meta.details.building_block_type {
            // Kibana hides building-block alerts from the default alerts view by this field.
            fields.insert("kibana.alert.building_block_type".into(), json!(kind));
        }
        Self {
            created_at: json!(millis(context.created_at)),
            fields,
            fragment: std::sync::OnceLock::new(),
        }
    }

    /// The fields as JSON object entries, without the braces.
    fn fragment(&self) -> &str {
        self.fragment.get_or_init(|| {
            let object =
                serde_json::to_string(&self.fields).expect("JSON values serialize into memory");
            object[1..object.len() - 1].to_string()
        })
    }
}

/// Builds the alert for one source event.
pub fn build_alert(event: SourceEvent<'_>, context: AlertContext<'_>) -> Alert {
    build_alert_with(event, context, &SharedFields::new(context))
}

/// Builds the alert for one source event with the shared fields built beforehand
/// ([`SharedFields::new`] of the same `context`), as a JSON tree. The engine's query rules
/// write [`alert_json`] instead; the documents are equal.
pub fn build_alert_with(
    event: SourceEvent<'_>,
    context: AlertContext<'_>,
    shared: &SharedFields,
) -> Alert {
    let (alert_id, added) =
        alert_fields(event.index, event.id, event.source, context, shared, true);
    let mut document = match event.source {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    document.shift_remove("event.kind");
    if let Some(Value::Object(event)) = document.get_mut("event") {
        event.shift_remove("kind");
    }
    set_event_kind(&mut document);
    document.extend(added);
    document.extend((shared.fields.iter()).map(|(key, value)| (key.clone(), value.clone())));
    Alert {
        id: alert_id,
        document: Value::Object(document),
    }
}

/// The alert's id and the fields it adds to the source document, apart from `event.kind` and
/// the shared fields; `kibana.alert.original_event.*` only with `original_event` (the text
/// builder copies those from the source's text itself).
fn alert_fields(
    index: &str,
    id: &str,
    source: &Value,
    context: AlertContext<'_>,
    shared: &SharedFields,
    original_event: bool,
) -> (String, Map<String, Value>) {
    let rule = context.rule;
    let alert_id = alert_id(index, id, context.namespace, &rule.rule_id);
    let mut added = Map::with_capacity(32);
    added.insert("@timestamp".into(), shared.created_at.clone());
    added.insert("kibana.alert.uuid".into(), Value::String(alert_id.clone()));
    if let Some(original_time) = field(source, "@timestamp") {
        added.insert("kibana.alert.original_time".into(), original_time.clone());
    }
    if original_event {
        add_original_event(&mut added, source);
    }
    added.insert("kibana.alert.ancestors".into(), ancestors(index, id));
    added.insert(
        "kibana.alert.reason".into(),
        Value::String(reason(source, rule)),
    );
    (alert_id, added)
}

/// Sets `event.kind: "signal"` inside the document's `event` object, creating it when absent.
fn set_event_kind(document: &mut Map<String, Value>) {
    let event = document.entry("event").or_insert_with(|| json!({}));
    if !event.is_object() {
        *event = json!({});
    }
    event["kind"] = json!("signal");
}

/// The prefix of the flattened copies of the source's `event.*` fields.
const ORIGINAL_EVENT: &str = "kibana.alert.original_event";

/// `kibana.alert.original_event.*`: every `event.*` field of the source, flattened.
fn add_original_event(out: &mut Map<String, Value>, source: &Value) {
    if let Some(Value::Object(event)) = source.get("event") {
        flatten_into(out, ORIGINAL_EVENT, event);
    }
    if let Some(object) = source.as_object() {
        for (key, value) in object {
            if let Some(rest) = key.strip_prefix("event.") {
                out.insert(format!("{ORIGINAL_EVENT}.{rest}"), value.clone());
            }
        }
    }
}

/// Every leaf of `object` as `prefix.path.to.leaf` (what Kibana's `original_event` holds).
fn flatten_into(out: &mut Map<String, Value>, prefix: &str, object: &Map<String, Value>) {
    for (key, value) in object {
        let name = format!("{prefix}.{key}");
        match value {
            Value::Object(inner) => flatten_into(out, &name, inner),
            _ => {
                out.insert(name, value.clone());
            }
        }
    }
}

/// `kibana.alert.ancestors`: the source event the alert was built from.
fn ancestors(index: &str, id: &str) -> Value {
    json!([{
        "id": id,
        "index": index,
        "type": "event",
        "depth": 0,
    }])
}

/// The `kibana.alert.rule.*` fields: the rule as it was when the alert was made.
fn rule_fields(rule: &Rule, namespace: &str) -> Map<String, Value> {
    let meta = &rule.meta;
    let query = rule.kind.query();
    let fields = json!({
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.uuid": rule_uuid(namespace, &rule.rule_id).to_string(),
        "kibana.alert.rule.type": rule.rule_type().as_str(),
        "kibana.alert.rule.description": meta.description,
        "kibana.alert.rule.severity": meta.severity.as_str(),
        "kibana.alert.rule.risk_score": meta.risk_score,
        "kibana.alert.rule.tags": meta.tags,
        "kibana.alert.rule.threat": meta.threat,
        "kibana.alert.rule.references": meta.references,
        "kibana.alert.rule.author": meta.author,
        "kibana.alert.rule.license": meta.license,
        "kibana.alert.rule.from": rule.schedule.from.as_str(),
        "kibana.alert.rule.to": rule.schedule.to.as_str(),
        "kibana.alert.rule.interval": format_duration(rule.schedule.interval),
        "kibana.alert.rule.max_signals": rule.max_signals,
        "kibana.alert.rule.version": meta.version.unwrap_or(DEFAULT_RULE_VERSION),
        "kibana.alert.rule.timestamp_override": rule.search.timestamp.field,
        "kibana.alert.rule.query": query.text(),
        "kibana.alert.rule.language": query.language().as_str(),
        "kibana.alert.rule.index": rule.search.index,
    });
    into_map(fields)
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

fn millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
