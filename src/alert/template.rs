//! The index template of the alerts index: mappings for every field lookout writes
//! (`mappings.json`), source fields mapped dynamically. Pure: builds JSON, installs nothing.

use serde_json::{Value, json};

/// The mappings of every field an alert carries beyond its source event.
const MAPPINGS: &str = include_str!("mappings.json");

/// The template's priority: above Elasticsearch's built-in templates (`logs-*-*` has 100) so
/// that an alerts index named like them still gets lookout's mappings.
pub const TEMPLATE_PRIORITY: u64 = 200;

/// The most fields the alerts index may map. Alerts copy their source events, whose fields are
/// mapped dynamically; events of many integrations (and flattened request parameters) can pass
/// Elasticsearch's default of 1,000 fields, after which every write would fail.
pub const TOTAL_FIELDS_LIMIT: u64 = 10_000;

/// The template's name for a given alerts index (one template per alerts index, so instances
/// with different alerts indices never overwrite each other's).
pub fn template_name(alerts_index: &str) -> String {
    format!("{alerts_index}-template")
}

/// The composable index template body for `alerts_index` and the indices rolled over from it
/// (`<alerts_index>-*`).
pub fn index_template(alerts_index: &str) -> Value {
    let mappings: Value = serde_json::from_str(MAPPINGS)
        .expect("mappings.json is valid JSON (a unit test checks it)");
    json!({
        "index_patterns": [alerts_index, format!("{alerts_index}-*")],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": { "index.mapping.total_fields.limit": TOTAL_FIELDS_LIMIT },
            "mappings": mappings,
        },
        "_meta": { "managed_by": "lookout", "description": "lookout alerts (Kibana alert schema)" },
    })
}
