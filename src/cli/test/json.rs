//! `lookout test --format json`: the dry run as one JSON object for scripts: the rule, the
//! window, `events` (each matched event with its `_index`, `_id` and `_source`), whether more
//! matched than were read, and for query rules the alert counts. Pure.

use lookout::{Preview, Rule, RuleType, Window};
use serde_json::{Value, json};

/// The dry run of `rule` over `window` as one JSON object.
pub fn preview_json(rule: &Rule, window: Window, preview: &Preview) -> Value {
    let events: Vec<Value> = preview
        .events
        .iter()
        .map(|hit| json!({"_index": hit.index, "_id": hit.id, "_source": hit.source}))
        .collect();
    let mut out = json!({
        "rule_id": rule.rule_id,
        "name": rule.name,
        "type": rule.rule_type().as_str(),
        "window": {"from": window.from, "to": window.to},
        "events": events,
        "more": preview.more,
    });
    if rule.rule_type() == RuleType::Query {
        out["alerts"] = json!({
            "existing": preview.existing.len(),
            "would_create": preview.new_alerts(),
        });
    }
    out
}
