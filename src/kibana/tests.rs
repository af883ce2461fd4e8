//! The shipped NDJSON file is valid, equals what `lookout setup --kibana` sends for the default
//! configuration, and its columns are fields lookout writes.

use super::*;
use crate::config::Config;

const SHIPPED: &str = include_str!("../../kibana/lookout-saved-objects.ndjson");

fn shipped_objects() -> Vec<Value> {
    SHIPPED
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("kibana/lookout-saved-objects.ndjson:{}: {e}", i + 1))
        })
        .collect()
}

fn columns(object: &Value) -> Vec<String> {
    object["attributes"]["columns"]
        .as_array()
        .expect("a saved search has columns")
        .iter()
        .map(|c| c.as_str().expect("a column is a string").to_string())
        .collect()
}

#[test]
fn the_shipped_file_is_what_setup_imports_for_the_defaults() {
    assert_eq!(SHIPPED, to_ndjson(&saved_objects(&Config::default())));
}

#[test]
fn the_shipped_file_holds_two_data_views_and_three_saved_searches() {
    let objects = shipped_objects();
    let types: Vec<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "index-pattern",
            "index-pattern",
            "search",
            "search",
            "search"
        ]
    );
    for view in &objects[..2] {
        assert_eq!(view["attributes"]["timeFieldName"], "@timestamp");
    }
}

#[test]
fn every_saved_search_refers_to_a_data_view_in_the_file() {
    let objects = shipped_objects();
    for search in objects.iter().filter(|o| o["type"] == "search") {
        let reference = &search["references"][0];
        assert_eq!(reference["name"], INDEX_REF);
        let target = reference["id"].as_str().expect("a reference has an id");
        assert!(
            objects
                .iter()
                .any(|o| o["type"] == "index-pattern" && o["id"] == target),
            "{target} is not a data view of the file"
        );
        let source: Value = serde_json::from_str(
            search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
                .as_str()
                .expect("searchSourceJSON is a string"),
        )
        .expect("searchSourceJSON is JSON");
        assert_eq!(source["indexRefName"], INDEX_REF);
    }
}

#[test]
fn execution_columns_are_fields_of_the_executions_template() {
    let config = Config::default();
    let templates = crate::state::index_templates(&config.engine);
    let (_, executions) = templates
        .iter()
        .find(|(name, _)| *name == config.engine.executions_index)
        .expect("there is an executions template");
    let search = &shipped_objects()[4];
    for column in columns(search) {
        assert!(
            template_maps_field(executions, &column),
            "{column} is not written by lookout"
        );
    }
}

/// The query of a saved search.
fn query_of(search: &Value) -> String {
    let source: Value = serde_json::from_str(
        search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
            .as_str()
            .expect("searchSourceJSON is a string"),
    )
    .expect("searchSourceJSON is JSON");
    source["query"]["query"].as_str().unwrap_or("").to_string()
}

#[test]
fn building_block_alerts_are_hidden_by_default_and_shown_by_a_second_search() {
    let objects = shipped_objects();
    assert_eq!(objects[2]["attributes"]["title"], "lookout alerts");
    assert_eq!(
        query_of(&objects[2]),
        "not kibana.alert.building_block_type: *"
    );
    assert_eq!(
        objects[3]["attributes"]["title"],
        "lookout alerts, building blocks included"
    );
    assert_eq!(query_of(&objects[3]), "");
    assert_eq!(objects[2]["references"], objects[3]["references"]);
    assert!(crate::kql::parse(&query_of(&objects[2])).is_ok());
}

#[test]
fn a_missing_field_is_not_taken_for_a_mapped_one() {
    let template = json!({"template": {"mappings": {"properties": {"rule": {"properties": {"id": {"type": "keyword"}}}}}}});
    assert!(template_maps_field(&template, "rule.id"));
    assert!(!template_maps_field(&template, "rule.name"));
    assert!(!template_maps_field(&template, "rule.id.more"));
}

/// A field of a document written nested, dotted, or mixed.
fn lookup<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(value) = document.get(name) {
        return Some(value);
    }
    name.char_indices()
        .filter(|(_, c)| *c == '.')
        .find_map(|(at, _)| lookup(document.get(&name[..at])?, &name[at + 1..]))
}

#[test]
fn alert_columns_are_fields_of_the_alerts_lookout_writes() {
    let rule = crate::rule::test_rule("r1");
    let source = json!({
        "@timestamp": "2026-01-10T12:00:00Z",
        "event": {"action": "AddUserToGroup", "kind": "event", "outcome": "success"},
        "user": {"name": "alice"},
        "source": {"ip": "203.0.113.7"},
    });
    let context = crate::alert::AlertContext {
        rule: &rule,
        namespace: "default",
        execution_uuid: "e1",
        created_at: chrono::Utc::now(),
        notify: &[],
        intended_at: None,
    };
    let event = crate::alert::SourceEvent {
        index: "logs",
        id: "1",
        source: &source,
    };
    let alert = crate::alert::build_alert(event, context);
    let template = crate::alert::index_template("lookout-alerts-default");
    let search = &shipped_objects()[2];
    for column in columns(search) {
        assert!(
            lookup(&alert.document, &column).is_some(),
            "alerts carry no {column}"
        );
        if column.starts_with("kibana.") {
            assert!(
                template_maps_field(&template, &column),
                "the alerts template does not map {column}"
            );
        }
    }
}

/// Whether a dotted field path is declared in an index template's mappings.
fn template_maps_field(template: &Value, field: &str) -> bool {
    let mut properties = &template["template"]["mappings"]["properties"];
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let entry = &properties[part];
        if entry.is_null() {
            return false;
        }
        if parts.peek().is_none() {
            return true;
        }
        properties = &entry["properties"];
    }
    false
}
