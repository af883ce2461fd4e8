//! The alerts Kibana writes for one matched sequence: one shell alert that stands for the sequence
//! and one building-block alert per event, tied by `kibana.alert.group.id`, with ids that depend
//! only on the events, the rule id and the namespace (docs/eql.md, "Sequence alerts"). Pure.

use super::{
    Alert, AlertContext, SharedFields, SourceEvent, build_alert_with, framed_id, reason, rule_uuid,
};
use crate::eql::sequence::sequence_id;
use serde_json::{Map, Value, json};

/// Keeps a building-block id apart from every other id lookout derives with the same framing.
const BUILDING_BLOCK_ID_TAG: &str = "lookout:eql-building-block";

/// The depth of a shell alert: its parents are the building blocks (depth 1).
const SHELL_DEPTH: u64 = 2;

/// Fields of an event's alert that the shell never takes from the intersection: it sets its own.
const PER_ALERT_FIELDS: [&str; 5] = [
    "kibana.alert.uuid",
    "kibana.alert.ancestors",
    "kibana.alert.depth",
    "kibana.alert.reason",
    "kibana.alert.original_time",
];

/// The alerts of one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceAlerts {
    pub shell: Alert,
    /// One per event, in sequence order.
    pub building_blocks: Vec<Alert>,
}

/// The id of the building block at `position` (from 0) of the sequence `sequence_id`: lowercase
/// hex SHA-256 over a fixed tag, the sequence id and the position, length-framed. An event that
/// takes part in two sequences gets a building block in each, as in Kibana.
pub fn building_block_id(sequence_id: &str, position: usize) -> String {
    framed_id(&[BUILDING_BLOCK_ID_TAG, sequence_id, &position.to_string()])
}

/// The shell and building-block alerts of a sequence whose present events (missing-event
/// placeholders left out) are `events`, in sequence order; `None` for no events. `shared` is
/// [`SharedFields::new`] of the same `context`.
pub fn build_sequence_alerts(
    events: &[SourceEvent<'_>],
    context: AlertContext<'_>,
    shared: &SharedFields,
) -> Option<SequenceAlerts> {
    if events.is_empty() {
        return None;
    }
    let group_id = sequence_id(
        events.iter().map(|event| (event.index, event.id)),
        context.namespace,
        &context.rule.rule_id,
    );
    let alerts: Vec<Map<String, Value>> = (events.iter())
        .map(|event| into_object(build_alert_with(*event, context, shared).document))
        .collect();
    let shell = shell_document(&alerts, context, &group_id);
    let building_blocks = (alerts.into_iter().enumerate())
        .map(|(position, alert)| building_block(alert, &group_id, position))
        .collect();
    Some(SequenceAlerts {
        shell: Alert {
            id: group_id,
            document: shell,
        },
        building_blocks,
    })
}

/// An event's alert as a building block of the group `group_id`.
fn building_block(mut alert: Map<String, Value>, group_id: &str, position: usize) -> Alert {
    let id = building_block_id(group_id, position);
    alert.insert("kibana.alert.uuid".into(), json!(id));
    alert.insert("kibana.alert.building_block_type".into(), json!("default"));
    alert.insert("kibana.alert.group.id".into(), json!(group_id));
    alert.insert("kibana.alert.group.index".into(), json!(position));
    Alert {
        id,
        document: Value::Object(alert),
    }
}

/// The shell: the fields every event's alert has in common, then its own id, group, ancestors
/// (each event and each building block), depth, reason and original time.
fn shell_document(
    alerts: &[Map<String, Value>],
    context: AlertContext<'_>,
    group_id: &str,
) -> Value {
    let mut shell = common_fields(alerts);
    for field in PER_ALERT_FIELDS {
        shell.shift_remove(field);
    }
    shell.insert("kibana.alert.uuid".into(), json!(group_id));
    shell.insert("kibana.alert.group.id".into(), json!(group_id));
    shell.insert(
        "kibana.alert.ancestors".into(),
        shell_ancestors(alerts, context, group_id),
    );
    shell.insert("kibana.alert.depth".into(), json!(SHELL_DEPTH));
    if let Some(time) = alerts[0].get("kibana.alert.original_time") {
        shell.insert("kibana.alert.original_time".into(), time.clone());
    }
    let mut shell = Value::Object(shell);
    shell["kibana.alert.reason"] = json!(reason(&shell, context.rule));
    shell
}

/// Kibana's order: each event's own ancestors, then the building block built from it.
fn shell_ancestors(
    alerts: &[Map<String, Value>],
    context: AlertContext<'_>,
    group_id: &str,
) -> Value {
    let rule = rule_uuid(context.namespace, &context.rule.rule_id).to_string();
    let mut ancestors = Vec::with_capacity(alerts.len() * 2);
    for (position, alert) in alerts.iter().enumerate() {
        if let Some(Value::Array(own)) = alert.get("kibana.alert.ancestors") {
            ancestors.extend(own.iter().cloned());
        }
        ancestors.push(json!({
            "id": building_block_id(group_id, position),
            "index": "",
            "type": "signal",
            "depth": 1,
            "rule": rule,
        }));
    }
    Value::Array(ancestors)
}

fn into_object(document: Value) -> Map<String, Value> {
    match document {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// Kibana's `objectArrayIntersection`: the fields all documents share, folded pairwise from the
/// first; values compared by value (Kibana compares array items by identity, see docs/eql.md).
fn common_fields(documents: &[Map<String, Value>]) -> Map<String, Value> {
    let Some((first, rest)) = documents.split_first() else {
        return Map::new();
    };
    let mut common = first.clone();
    for other in rest {
        common = common_object(&common, other).unwrap_or_default();
    }
    common
}

/// The keys of `left` also in `right` whose values have something in common; `None` when none.
fn common_object(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let mut common = Map::new();
    for (key, value) in left {
        let Some(other) = right.get(key) else {
            continue;
        };
        if let Some(shared) = common_value(value, other) {
            common.insert(key.clone(), shared);
        }
    }
    (!common.is_empty()).then_some(common)
}

/// Objects recurse; arrays (or an array and a scalar) keep the items in both, possibly none;
/// equal scalars stay; anything else is dropped.
fn common_value(left: &Value, right: &Value) -> Option<Value> {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => {
            common_object(left, right).map(Value::Object)
        }
        (Value::Array(left), Value::Array(right)) => Some(common_items(left, right)),
        (Value::Array(left), scalar) => Some(common_items(left, std::slice::from_ref(scalar))),
        (scalar, Value::Array(right)) => Some(common_items(std::slice::from_ref(scalar), right)),
        (left, right) if same_value(left, right) => Some(left.clone()),
        _ => None,
    }
}

/// The distinct items of `left` that `right` also holds, in `left`'s order (lodash
/// `intersection`).
fn common_items(left: &[Value], right: &[Value]) -> Value {
    let mut common: Vec<Value> = Vec::new();
    for item in left {
        let in_right = right.iter().any(|other| same_value(item, other));
        if in_right && !common.iter().any(|kept| same_value(kept, item)) {
            common.push(item.clone());
        }
    }
    Value::Array(common)
}

/// JavaScript's `===` on JSON scalars (numbers by value: `1` and `1.0` are one number), by value
/// on arrays and objects.
fn same_value(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        _ => left == right,
    }
}
