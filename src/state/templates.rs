//! Index templates (mappings) of the state and executions indices, so that fields have the
//! right types from the first write and Kibana can chart them.

use crate::config::EngineConfig;
use serde_json::{Value, json};

/// Template priority: above the catch-all templates a cluster may have, so ours apply.
pub const TEMPLATE_PRIORITY: u64 = 500;

/// `(template name, body)` for the state index and the executions index of this configuration.
/// Each template matches exactly its index name (template name = index name).
pub fn index_templates(config: &EngineConfig) -> Vec<(String, Value)> {
    vec![
        (
            config.state_index.clone(),
            template(&config.state_index, state_properties()),
        ),
        (
            config.executions_index.clone(),
            template(&config.executions_index, executions_properties()),
        ),
    ]
}

fn template(index: &str, properties: Value) -> Value {
    json!({
        "index_patterns": [index],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            "mappings": {"dynamic": false, "properties": properties},
        },
        "_meta": {"managed_by": "lookout"},
    })
}

fn keyword() -> Value {
    json!({"type": "keyword"})
}

fn date() -> Value {
    json!({"type": "date"})
}

fn long() -> Value {
    json!({"type": "long"})
}

fn text() -> Value {
    json!({"type": "text"})
}

fn object(properties: Value) -> Value {
    json!({"properties": properties})
}

fn state_properties() -> Value {
    json!({
        "@timestamp": date(),
        "rule": object(json!({"id": keyword()})),
        "lookout": object(json!({"state": object(json!({
            "rule_id": keyword(),
            "covered_to": date(),
            "last_status": keyword(),
            "last_error": text(),
            "last_execution_at": date(),
        })), "scope": object(json!({"namespace": keyword(), "alerts_index": keyword(), "key": keyword()}))})),
    })
}

fn executions_properties() -> Value {
    let window = object(json!({"from": date(), "to": date()}));
    json!({
        "@timestamp": date(),
        "event": object(json!({
            "kind": keyword(), "action": keyword(), "outcome": keyword(),
            "start": date(), "end": date(), "duration": long(),
        })),
        "rule": object(json!({"id": keyword(), "name": keyword()})),
        "lookout": object(json!({
            "execution": object(json!({
                "execution_uuid": keyword(), "rule_id": keyword(), "rule_name": keyword(),
                "started_at": date(), "window_from": date(), "window_to": date(),
                "status": keyword(), "hits": long(), "alerts_created": long(), "duplicates": long(),
                "alerts_suppressed": long(), "dead_letters": long(),
                "search_ms": long(), "write_ms": long(), "total_ms": long(),
                "warnings": text(), "error": text(), "gap": window, "instance": keyword(),
            })),
            "gap": object(json!({"rule_id": keyword(), "from": date(), "to": date(), "duration_ms": long()})),
            "scope": object(json!({"namespace": keyword(), "alerts_index": keyword(), "manual": json!({"type": "boolean"})})),
            "dead_letter": object(json!({
                "rule_id": keyword(), "alert_id": keyword(), "event_index": keyword(),
                "event_id": keyword(), "window": object(json!({"from": date(), "to": date()})),
                "status": long(), "error": text(), "recorded_at": date(),
            })),
        })),
    })
}
