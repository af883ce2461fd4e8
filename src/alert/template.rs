//! The index template of the alerts index, as Kibana's alerts index is set up: the fields of
//! lookout's alerts (`mappings.json`) and the common ECS fields (`ecs_fields.txt`) are mapped,
//! every other source field is kept in `_source` without being indexed (`dynamic: false`), and
//! a value that does not parse as its field's type is left unindexed (`ignore_malformed`). So
//! one event's field can never change how another rule's alert must look. Pure: builds JSON,
//! installs nothing.

use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// The mappings of every field an alert carries beyond its source event.
const MAPPINGS: &str = include_str!("mappings.json");

/// The ECS fields mapped besides (`path type` per line).
const ECS_FIELDS: &str = include_str!("ecs_fields.txt");

/// ECS's limit on the length of a keyword value that is indexed (longer ones stay in `_source`).
const KEYWORD_IGNORE_ABOVE: u64 = 1024;

/// The template's priority: above Elasticsearch's built-in templates (`logs-*-*` has 100) so
/// that an alerts index named like them still gets lookout's mappings.
pub const TEMPLATE_PRIORITY: u64 = 200;

/// The most fields the alerts index may map. With `dynamic: false` the mapping holds only the
/// template's fields (far fewer); the limit stays as a margin for mappings added by hand.
pub const TOTAL_FIELDS_LIMIT: u64 = 10_000;

/// The template's name for a given alerts index (one template per alerts index, so instances
/// with different alerts indices never overwrite each other's).
pub fn template_name(alerts_index: &str) -> String {
    format!("{alerts_index}-template")
}

/// The mappings of the alerts index: `mappings.json` with the ECS fields added (a field both
/// name keeps lookout's mapping).
pub fn alert_mappings() -> &'static Value {
    static MAPPED: OnceLock<Value> = OnceLock::new();
    MAPPED.get_or_init(|| {
        let mut mappings: Value = serde_json::from_str(MAPPINGS)
            .expect("mappings.json is valid JSON (a unit test checks it)");
        for (path, mapping) in ecs_fields() {
            add_field(&mut mappings, &path, mapping);
        }
        mappings
    })
}

/// `(dotted path, mapping)` of each ECS field of `ecs_fields.txt`.
fn ecs_fields() -> Vec<(String, Value)> {
    ECS_FIELDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (path, kind) = line
                .split_once(' ')
                .expect("each line of ecs_fields.txt is `path type` (a unit test checks it)");
            let mapping = match kind.trim() {
                "keyword" => json!({"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}),
                other => json!({"type": other}),
            };
            (path.to_string(), mapping)
        })
        .collect()
}

/// Adds `mapping` at `path` under `mappings`' properties unless a mapping is there already.
fn add_field(mappings: &mut Value, path: &str, mapping: Value) {
    let mut node = mappings;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let properties = node
            .as_object_mut()
            .expect("mapping nodes are objects")
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let properties = properties.as_object_mut().expect("properties is an object");
        if parts.peek().is_none() {
            properties.entry(part).or_insert(mapping);
            return;
        }
        node = properties
            .entry(part)
            .or_insert_with(|| json!({"properties": {}}));
    }
}

/// The composable index template body for `alerts_index` and the indices rolled over from it
/// (`<alerts_index>-*`).
pub fn index_template(alerts_index: &str) -> Value {
    json!({
        "index_patterns": [alerts_index, format!("{alerts_index}-*")],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {
                "index.mapping.total_fields.limit": TOTAL_FIELDS_LIMIT,
                "index.mapping.ignore_malformed": true,
            },
            "mappings": alert_mappings(),
        },
        "_meta": { "managed_by": "lookout", "description": "lookout alerts (Kibana alert schema)" },
    })
}
