//! Fitting an alert to the alerts index's mappings before it is written again: a value whose
//! shape cannot be indexed as its mapped field (an object where the mapping has a keyword, a
//! number where it has an object) is moved out of the indexed document into `lookout.unfit`, a
//! field the index keeps but never parses, under its dotted path. Kibana drops such values from
//! its alerts (it strips what does not fit ECS); lookout keeps them, so nothing of the event is
//! lost. Values of the right shape that do not parse (a word in a `long` field) need no fitting:
//! the index ignores them (`ignore_malformed`). Pure.

use super::template::alert_mappings;
use serde_json::{Map, Value};

/// Where moved values go (mapped `enabled: false`).
pub const UNFIT_FIELD: &str = "unfit";

/// Moves every value of `document` that its mapped field cannot hold into `lookout.unfit`;
/// returns the dotted paths moved (none: the document is unchanged).
pub fn fit_to_mappings(document: &mut Value) -> Vec<String> {
    let Some(fields) = document.as_object_mut() else {
        return Vec::new();
    };
    let mut moved = Vec::new();
    fit_object(fields, Some(alert_mappings()), "", &mut moved);
    if moved.is_empty() {
        return Vec::new();
    }
    let paths = moved.iter().map(|(path, _)| path.clone()).collect();
    let lookout = fields
        .entry("lookout")
        .or_insert_with(|| Value::Object(Map::new()));
    if !lookout.is_object() {
        *lookout = Value::Object(Map::new());
    }
    let unfit = lookout
        .as_object_mut()
        .expect("made an object above")
        .entry(UNFIT_FIELD)
        .or_insert_with(|| Value::Object(Map::new()));
    if !unfit.is_object() {
        *unfit = Value::Object(Map::new());
    }
    let unfit = unfit.as_object_mut().expect("made an object above");
    for (path, value) in moved {
        unfit.insert(path, value);
    }
    paths
}

/// What a mapping node expects of a value.
enum Expects {
    /// Not mapped, or mapped `enabled: false`: anything goes.
    Anything,
    /// An object (or an array of objects), whose fields are checked against `node`.
    Object(Option<&'static Value>),
    /// A value, or an array of values.
    Leaf,
}

fn expects(node: Option<&'static Value>) -> Expects {
    let Some(node) = node else {
        return Expects::Anything;
    };
    if node["enabled"] == Value::Bool(false) {
        return Expects::Anything;
    }
    let object_type = matches!(node["type"].as_str(), None | Some("object" | "nested"));
    match (object_type, node.get("properties").is_some()) {
        (true, _) | (_, true) => Expects::Object(Some(node)),
        (false, false) => Expects::Leaf,
    }
}

/// The mapping of the child `key` (possibly dotted) of `node`: `Err` when a dotted key reaches
/// below a leaf (the value cannot be indexed there).
fn child(node: Option<&'static Value>, key: &str) -> Result<Option<&'static Value>, ()> {
    let mut node = node;
    for part in key.split('.') {
        match expects(node) {
            Expects::Anything => return Ok(None),
            Expects::Leaf => return Err(()),
            Expects::Object(object) => {
                node = object
                    .and_then(|o| o.get("properties"))
                    .and_then(|p| p.get(part));
                if node.is_none() {
                    return Ok(None);
                }
            }
        }
    }
    Ok(node)
}

fn fit_object(
    fields: &mut Map<String, Value>,
    node: Option<&'static Value>,
    prefix: &str,
    moved: &mut Vec<(String, Value)>,
) {
    let keys: Vec<String> = fields.keys().cloned().collect();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let fits = match child(node, &key) {
            Err(()) => false,
            Ok(mapping) => {
                let value = fields.get_mut(&key).expect("a key of this object");
                fit_value(value, expects(mapping), &path, moved)
            }
        };
        if !fits {
            let value = fields.remove(&key).expect("a key of this object");
            moved.push((path, value));
        }
    }
}

/// Whether `value` can stay where `expected` applies (fitting the objects inside it).
fn fit_value(
    value: &mut Value,
    expected: Expects,
    path: &str,
    moved: &mut Vec<(String, Value)>,
) -> bool {
    match (expected, value) {
        (Expects::Anything, _) | (_, Value::Null) => true,
        (Expects::Object(node), Value::Object(fields)) => {
            fit_object(fields, node, path, moved);
            true
        }
        (Expects::Object(node), Value::Array(items)) => items.iter_mut().all(|item| match item {
            Value::Null => true,
            Value::Object(fields) => {
                fit_object(fields, node, path, moved);
                true
            }
            _ => false,
        }),
        (Expects::Object(_), _) => false,
        (Expects::Leaf, Value::Object(_)) => false,
        (Expects::Leaf, Value::Array(items)) => items.iter().all(is_leaf_value),
        (Expects::Leaf, _) => true,
    }
}

fn is_leaf_value(value: &Value) -> bool {
    match value {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(is_leaf_value),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_where_a_keyword_is_mapped_moves_to_unfit() {
        let mut doc = json!({
            "user": {"name": {"first": "a"}, "id": "u1"},
            "kibana.alert.rule.name": "r",
            "foo": {"x": 1},
        });
        assert_eq!(fit_to_mappings(&mut doc), vec!["user.name".to_string()]);
        assert_eq!(doc["user"], json!({"id": "u1"}));
        assert_eq!(doc["lookout"]["unfit"]["user.name"], json!({"first": "a"}));
        // Unmapped fields are not indexed, so they fit whatever their shape.
        assert_eq!(doc["foo"], json!({"x": 1}));
    }

    #[test]
    fn a_value_where_an_object_is_mapped_and_dotted_keys_below_a_leaf_move() {
        let mut doc = json!({"host": "h1", "user.name.first": "a", "source.ip": ["1.2.3.4"]});
        let mut moved = fit_to_mappings(&mut doc);
        moved.sort();
        assert_eq!(moved, vec!["host", "user.name.first"]);
        assert_eq!(doc["source.ip"], json!(["1.2.3.4"]));
        assert_eq!(doc["lookout"]["unfit"]["host"], "h1");
    }

    #[test]
    fn arrays_of_objects_are_fitted_item_by_item_and_a_fitting_document_is_unchanged() {
        let mut doc = json!({"kibana.alert.ancestors": [{"id": "e", "depth": 0}]});
        let before = doc.clone();
        assert!(fit_to_mappings(&mut doc).is_empty());
        assert_eq!(doc, before);
        let mut doc = json!({"event": {"category": [{"a": 1}], "action": "x"}});
        assert_eq!(fit_to_mappings(&mut doc), vec!["event.category"]);
        assert_eq!(doc["event"], json!({"action": "x"}));
    }

    #[test]
    fn a_source_lookout_value_that_is_not_an_object_is_kept_too() {
        let mut doc = json!({"lookout": 5, "user": {"name": {"x": 1}}});
        let mut moved = fit_to_mappings(&mut doc);
        moved.sort();
        assert_eq!(moved, vec!["lookout", "user.name"]);
        assert_eq!(doc["lookout"]["unfit"]["lookout"], 5);
    }

    #[test]
    fn every_ecs_field_is_mapped_at_its_path_with_a_known_type() {
        let text = include_str!("ecs_fields.txt");
        let fields: Vec<&str> = (text.lines())
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .collect();
        assert!(fields.len() > 100);
        let known = ["keyword", "long", "float", "date", "ip", "boolean", "text"];
        for line in fields {
            let (path, kind) = line.split_once(' ').expect("path type");
            assert!(known.contains(&kind), "{line}");
            let mut node = alert_mappings();
            for part in path.split('.') {
                node = &node["properties"][part];
            }
            assert!(node["type"].is_string(), "{path} is mapped: {node}");
        }
        assert_eq!(alert_mappings()["dynamic"], json!(false));
    }
}
