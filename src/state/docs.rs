//! The documents of the state and executions indices, built from and read back into the
//! state types. Pure: no I/O.

use super::{DeadLetter, ExecutionRecord, ExecutionStatus, Gap, RuleState};
use crate::ids::framed_id;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// `event.action` of an execution document.
pub const EXECUTION_ACTION: &str = "execute-rule";
/// `event.action` of a gap document.
pub const GAP_ACTION: &str = "gap";
/// `event.action` of a dead-letter document.
pub const DEAD_LETTER_ACTION: &str = "dead-letter";
/// `event.action` of a deployment's housekeeping claim.
pub const HOUSEKEEPING_ACTION: &str = "housekeeping";

pub fn state_doc(state: &RuleState) -> Value {
    let mut doc = json!({
        "rule": {"id": state.rule_id},
        "lookout": {"state": state},
    });
    if let Some(at) = state.last_execution_at.or(state.covered_to) {
        doc["@timestamp"] = json!(at);
    }
    doc
}

pub fn state_from_doc(doc: &Value) -> Result<RuleState, String> {
    serde_json::from_value(doc["lookout"]["state"].clone())
        .map_err(|e| format!("not a rule state: {e}"))
}

pub fn execution_doc(record: &ExecutionRecord) -> Value {
    let total = chrono::TimeDelta::milliseconds(i64::try_from(record.total_ms).unwrap_or(i64::MAX));
    let end = record
        .started_at
        .checked_add_signed(total)
        .unwrap_or(record.started_at);
    let outcome = match record.status {
        ExecutionStatus::Failed => "failure",
        ExecutionStatus::Superseded => "unknown",
        ExecutionStatus::Succeeded | ExecutionStatus::PartialFailure => "success",
    };
    json!({
        "@timestamp": record.started_at,
        "event": {
            "kind": "event",
            "action": EXECUTION_ACTION,
            "outcome": outcome,
            "start": record.started_at,
            "end": end,
            "duration": record.total_ms.saturating_mul(1_000_000),
        },
        "rule": {"id": record.rule_id, "name": record.rule_name},
        "lookout": {"execution": record},
    })
}

pub fn execution_from_doc(doc: &Value) -> Result<ExecutionRecord, String> {
    serde_json::from_value(doc["lookout"]["execution"].clone())
        .map_err(|e| format!("not an execution record: {e}"))
}

pub fn gap_doc(rule_id: &str, gap: &Gap) -> Value {
    let duration_ms = (gap.to - gap.from).num_milliseconds();
    json!({
        "@timestamp": gap.from,
        "event": {
            "kind": "event",
            "action": GAP_ACTION,
            "start": gap.from,
            "end": gap.to,
            "duration": duration_ms.saturating_mul(1_000_000),
        },
        "rule": {"id": rule_id},
        "lookout": {"gap": {"rule_id": rule_id, "from": gap.from, "to": gap.to, "duration_ms": duration_ms}},
    })
}

pub fn gap_from_doc(doc: &Value) -> Result<Gap, String> {
    serde_json::from_value(doc["lookout"]["gap"].clone())
        .map_err(|e| format!("not a gap record: {e}"))
}

/// A stable id for a gap of one deployment: its namespace, alerts index, rule and start, each
/// framed by its length. Not its end: a rule stuck behind a gap records the same start again at
/// every execution, with a later end, and that extends one document instead of adding another.
pub fn gap_id(namespace: &str, alerts_index: &str, rule_id: &str, from: DateTime<Utc>) -> String {
    let from = from.to_rfc3339();
    format!(
        "gap-{}",
        framed_id(&[namespace, alerts_index, rule_id, &from])
    )
}

pub fn dead_letter_doc(letter: &DeadLetter) -> Value {
    json!({
        "@timestamp": letter.recorded_at,
        "event": {"kind": "event", "action": DEAD_LETTER_ACTION, "outcome": "failure"},
        "rule": {"id": letter.rule_id},
        "lookout": {"dead_letter": letter},
    })
}

pub fn dead_letter_from_doc(doc: &Value) -> Result<DeadLetter, String> {
    serde_json::from_value(doc["lookout"]["dead_letter"].clone())
        .map_err(|e| format!("not a dead letter: {e}"))
}

/// The id of an alert's dead letter: one per alert, so recording it again replaces it.
pub fn dead_letter_id(alert_id: &str) -> String {
    format!("dead-{alert_id}")
}

/// The id of a rule's state document in one deployment: a hash of the namespace, the alerts
/// index and the rule id, each framed by its length.
pub fn state_id(namespace: &str, alerts_index: &str, rule_id: &str) -> String {
    format!("state-{}", framed_id(&[namespace, alerts_index, rule_id]))
}

/// The id of a deployment's housekeeping claim in the executions index.
pub fn housekeeping_id(namespace: &str, alerts_index: &str) -> String {
    format!("housekeeping-{}", framed_id(&[namespace, alerts_index]))
}
