//! Alerts (docs/architecture.md, "Alerts and deduplication"): the stable id of "this event matched by this rule" and the alert
//! document written for it, in Kibana's alert schema. Pure: takes a source hit and the rule,
//! returns JSON; it never searches or writes.
//!
//! Field layout: like Kibana's alerts-as-data indices, the source event's fields keep their
//! nested shape and every `kibana.*` field is one flat dotted key (`"kibana.alert.rule.name"`).
//! Both forms address the same field in Elasticsearch, so queries and the index template
//! (`mappings.json`, nested form) treat them alike.

mod fit;
mod overrides;
mod reason;
mod rule_fields;
mod sequence;
mod template;
mod text;

#[cfg(test)]
mod sequence_tests;

pub use crate::ids::{alert_id, framed_id, rule_uuid};
pub use fit::fit_to_mappings;
pub use overrides::overrides;
pub use reason::{field, reason, reason_sentence};
pub use sequence::{SequenceAlerts, build_sequence_alerts};
pub use template::{index_template, template_name};
pub use text::alert_json;

use crate::rule::Rule;
use chrono::{DateTime, SecondsFormat, Utc};
use rule_fields::{into_map, rule_fields};
use serde_json::{Map, Value, json};

/// `kibana.alert.rule.version` of a rule file without `version` (Kibana numbers a new rule 1;
/// the corpus keeps versions in a separate lock file).
pub const DEFAULT_RULE_VERSION: u64 = 1;

/// The depth of an alert built directly from source events (Kibana: 1; building blocks are 2).
const ALERT_DEPTH: u64 = 1;

/// Top-level source objects that never reach an alert, as in Kibana: an event's own `kibana`,
/// `signal` and `threshold_result` could otherwise write into the alert's fields.
const DROPPED_OBJECTS: [&str; 3] = ["kibana", "signal", "threshold_result"];

/// The source objects copied, flattened, under a prefix of the alert (Kibana's copies, so
/// that the alert's own `event.kind` and a rolled-over data stream do not hide the originals).
const ORIGINALS: [(&str, &str); 2] = [
    ("event", ORIGINAL_EVENT),
    ("data_stream", "kibana.alert.original_data_stream"),
];

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
    /// The connectors the alert must be notified to (`lookout.notify.pending`; see
    /// `crate::notify::route`). Empty: the field is left out.
    pub notify: &'a [String],
    /// For a manual execution (`lookout backfill`), the time the window stands for (its end);
    /// `None` for a scheduled one.
    pub intended_at: Option<DateTime<Utc>>,
}

/// An alert ready to write: its id and its document.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub document: Value,
}

/// The fields every alert of one rule and execution shares (`@timestamp`, the constant
/// `kibana.alert.*` fields, `kibana.alert.rule.*` but its name, the execution uuid, the space),
/// built once and cloned into each alert: building them per alert was most of the cost of an
/// alert.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedFields {
    created_at: Value,
    fields: Map<String, Value>,
    /// The source fields an alert reads (reason, severity and risk mappings, name override).
    reads: Vec<String>,
    /// `fields` as JSON text without the braces (`"kibana.alert.depth":1,...`), built when
    /// [`alert_json`] first asks for it (the tree builders never do).
    fragment: std::sync::OnceLock<String>,
}

impl SharedFields {
    pub fn new(context: AlertContext<'_>) -> Self {
        let rule = context.rule;
        let created_at = json!(millis(context.created_at));
        let intended = context
            .intended_at
            .map_or(created_at.clone(), |at| json!(millis(at)));
        let execution_type = match context.intended_at {
            Some(_) => "manual",
            None => "scheduled",
        };
        let mut fields = into_map(json!({
            "kibana.alert.depth": ALERT_DEPTH,
            "kibana.alert.status": "active",
            "kibana.alert.workflow_status": "open",
            "kibana.alert.workflow_tags": [],
            "kibana.alert.workflow_assignee_ids": [],
            // A manual run's alerts start at the time they stand for, as in Kibana, so that a
            // suppression duration counts from there.
            "kibana.alert.start": intended,
            "kibana.alert.last_detected": intended,
            "kibana.alert.intended_timestamp": intended,
            "kibana.alert.rule.execution.type": execution_type,
            "kibana.alert.rule.execution.timestamp": created_at,
        }));
        fields.extend(rule_fields(rule, context.namespace));
        fields.insert(
            "kibana.alert.rule.execution.uuid".into(),
            json!(context.execution_uuid),
        );
        fields.insert("kibana.space_ids".into(), json!([context.namespace]));
        if !context.notify.is_empty() {
            // The outbox: written with the alert, so an alert written is one to be notified.
            fields.insert("lookout.notify.pending".into(), json!(context.notify));
        }
        if let Some(kind) = &rule.meta.details.building_block_type {
            // Kibana hides building-block alerts from the default alerts view by this field.
            fields.insert("kibana.alert.building_block_type".into(), json!(kind));
        }
        Self {
            created_at,
            fields,
            reads: source_reads(rule),
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

/// Every source field an alert of `rule` reads besides `@timestamp`.
fn source_reads(rule: &Rule) -> Vec<String> {
    let details = &rule.meta.details;
    let mut reads: Vec<String> = reason::REASON_FIELDS
        .iter()
        .map(|f| f.to_string())
        .collect();
    reads.extend(details.severity_mapping.iter().map(|m| m.field.clone()));
    reads.extend(details.risk_score_mapping.iter().map(|m| m.field.clone()));
    reads.extend(details.rule_name_override.iter().cloned());
    reads.sort();
    reads.dedup();
    reads
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
    document.retain(|key, _| !is_dropped(key));
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

/// Whether a top-level source key is one of [`DROPPED_OBJECTS`] or inside one (`kibana.x`).
fn is_dropped(key: &str) -> bool {
    let first = key.split('.').next().unwrap_or(key);
    DROPPED_OBJECTS.contains(&first)
}

/// The alert's id and the fields it adds to the source document, apart from `event.kind` and
/// the shared fields; the original copies (`kibana.alert.original_event.*`, ...) only with
/// `originals` (the text builder copies those from the source's text itself).
fn alert_fields(
    index: &str,
    id: &str,
    source: &Value,
    context: AlertContext<'_>,
    shared: &SharedFields,
    originals: bool,
) -> (String, Map<String, Value>) {
    let rule = context.rule;
    let alert_id = alert_id(index, id, context.namespace, &rule.rule_id);
    let overrides = overrides(source, rule);
    let mut added = Map::with_capacity(32);
    added.insert("@timestamp".into(), shared.created_at.clone());
    added.insert("kibana.alert.uuid".into(), Value::String(alert_id.clone()));
    if let Some(original_time) = field(source, "@timestamp") {
        added.insert("kibana.alert.original_time".into(), original_time.clone());
    }
    if originals {
        add_originals(&mut added, source);
    }
    added.insert("kibana.alert.ancestors".into(), ancestors(index, id));
    let severity = overrides.severity.as_str();
    let sentence = reason_sentence(source, &overrides.name, severity);
    added.insert("kibana.alert.reason".into(), Value::String(sentence));
    added.insert("kibana.alert.severity".into(), json!(severity));
    added.insert("kibana.alert.risk_score".into(), overrides.risk_score);
    added.insert(
        "kibana.alert.rule.name".into(),
        Value::String(overrides.name),
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

/// The [`ORIGINALS`] copies: every field of each object, flattened, then every dotted key of
/// it (a later one replacing an earlier one of the same name).
fn add_originals(out: &mut Map<String, Value>, source: &Value) {
    let Some(object) = source.as_object() else {
        return;
    };
    for (name, prefix) in ORIGINALS {
        if let Some(Value::Object(inner)) = object.get(name) {
            flatten_into(out, prefix, inner);
        }
        for (key, value) in object {
            if let Some(rest) = key.strip_prefix(name).and_then(|r| r.strip_prefix('.')) {
                out.insert(format!("{prefix}.{rest}"), value.clone());
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

fn millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
