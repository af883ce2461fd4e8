//! Alerts (ENGINE.md section 5): the stable id of "this event matched by this rule" and the alert
//! document written for it, in Kibana's alert schema. Pure: takes a source hit and the rule,
//! returns JSON; it never searches or writes.
//!
//! Field layout: like Kibana's alerts-as-data indices, the source event's fields keep their
//! nested shape and every `kibana.*` field is one flat dotted key (`"kibana.alert.rule.name"`).
//! Both forms address the same field in Elasticsearch, so queries and the index template
//! (`mappings.json`, nested form) treat them alike.

mod reason;
mod template;
mod text;

pub use reason::{field, reason};
pub use template::{TEMPLATE_PRIORITY, TOTAL_FIELDS_LIMIT, index_template, template_name};
pub use text::alert_json;

use crate::rule::Rule;
use crate::rule::duration::format_duration;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The fixed namespace of lookout's UUID v5 rule uuids (`kibana.alert.rule.uuid`). Never change
/// it: every alert written so far names its rule by a uuid derived from it.
pub const RULE_UUID_NAMESPACE: Uuid = Uuid::from_u128(0xf3b8_8a71_732d_445f_8a24_e1af_5821_ab13);

/// `kibana.alert.rule.version` of a rule file without `version` (Kibana numbers a new rule 1;
/// the corpus keeps versions in a separate lock file).
pub const DEFAULT_RULE_VERSION: u64 = 1;

/// The depth of an alert built directly from source events (Kibana: 1; building blocks are 2).
const ALERT_DEPTH: u64 = 1;

/// The id of the alert for one source event and one rule: lowercase hex SHA-256 over the source
/// index, source id, namespace and rule id.
///
/// ENGINE.md asks for the parts joined by a separator that cannot occur in them. A document id
/// may hold any character, NUL included (`"\u0000"` in JSON), so no single byte is safe; each
/// part is instead framed by its length (8 bytes, big-endian) before its bytes, which keeps
/// distinct tuples distinct for every possible input: ("ab", "c") never hashes like ("a", "bc").
pub fn alert_id(source_index: &str, source_id: &str, namespace: &str, rule_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [source_index, source_id, namespace, rule_id] {
        let length = u64::try_from(part.len()).expect("a string length fits in a u64");
        hasher.update(length.to_be_bytes());
        hasher.update(part.as_bytes());
    }
    lower_hex(&hasher.finalize())
}

/// Bytes as lowercase hex, two digits each.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `kibana.alert.rule.uuid`: a UUID v5 over the namespace and rule id (length-framed as in
/// [`alert_id`]), stable across restarts and instances.
pub fn rule_uuid(namespace: &str, rule_id: &str) -> Uuid {
    Uuid::new_v5(&RULE_UUID_NAMESPACE, &framed(&[namespace, rule_id]))
}

/// Each part as its length (u64, big-endian) followed by its bytes.
fn framed(parts: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in parts {
        let length = u64::try_from(part.len()).expect("a string length fits in a u64");
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

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
            "kibana.alert.severity": rule.severity.as_str(),
            "kibana.alert.risk_score": rule.risk_score,
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
        if let Some(kind) = &rule.details.building_block_type {
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
    let fields = json!({
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.uuid": rule_uuid(namespace, &rule.rule_id).to_string(),
        "kibana.alert.rule.type": rule.rule_type.as_str(),
        "kibana.alert.rule.description": rule.description,
        "kibana.alert.rule.severity": rule.severity.as_str(),
        "kibana.alert.rule.risk_score": rule.risk_score,
        "kibana.alert.rule.tags": rule.tags,
        "kibana.alert.rule.threat": rule.threat,
        "kibana.alert.rule.references": rule.references,
        "kibana.alert.rule.author": rule.author,
        "kibana.alert.rule.license": rule.license,
        "kibana.alert.rule.from": rule.from.as_str(),
        "kibana.alert.rule.to": rule.to.as_str(),
        "kibana.alert.rule.interval": format_duration(rule.interval),
        "kibana.alert.rule.max_signals": rule.max_signals,
        "kibana.alert.rule.version": rule.version.unwrap_or(DEFAULT_RULE_VERSION),
        "kibana.alert.rule.timestamp_override": rule.timestamp_override,
        "kibana.alert.rule.query": rule.query,
        "kibana.alert.rule.language": rule.language.as_str(),
        "kibana.alert.rule.index": rule.index,
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
