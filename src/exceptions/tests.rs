//! Unit tests of exception list files (both formats, value lists, problems) and of the clauses
//! they become, compared with the shapes Kibana's exception filter builds.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exceptions/testdata")
}

fn catalog() -> Catalog {
    let catalog = Catalog::load(&[testdata()]);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
    catalog
}

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap()
}

/// A folder holding the given files, removed when dropped.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("a file can be written");
    }
    dir
}

fn phrase(field: &str, value: &str) -> Value {
    json!({"bool": {"minimum_should_match": 1, "should": [{"match_phrase": {field: value}}]}})
}

#[test]
fn both_formats_and_value_lists_load_from_one_folder() {
    let catalog = catalog();
    assert_eq!(catalog.counts(), (2, 6));
    let aws = catalog.get("aws-noise").expect("the TOML list");
    assert_eq!(aws.name, "AWS noise");
    assert_eq!(aws.list_type, "detection");
    assert_eq!(aws.namespace_type.as_deref(), Some("single"));
    assert_eq!(aws.line, 10);
    let red = catalog.get("red-team").expect("the NDJSON list");
    assert_eq!(red.items.len(), 2);
    assert_eq!(red.items[0].item_id.as_deref(), Some("rt-hosts"));
}

#[test]
fn match_entries_are_phrases_and_excluded_ones_are_negated() {
    let catalog = catalog();
    let item = &catalog.get("aws-noise").unwrap().items[0];
    assert_eq!(
        item.clauses,
        vec![json!({"bool": {"filter": [
            phrase("user.name", "ci-deployer"),
            {"bool": {"must_not": phrase("event.outcome", "failure")}},
        ]}})]
    );
}

#[test]
fn match_any_is_a_should_of_phrases() {
    let catalog = catalog();
    let item = &catalog.get("aws-noise").unwrap().items[1];
    assert_eq!(
        item.clauses,
        vec![json!({"bool": {"minimum_should_match": 1, "should": [
            phrase("cloud.account.id", "111111111111"),
            phrase("cloud.account.id", "222222222222"),
        ]}})]
    );
}

#[test]
fn os_types_give_one_clause_per_os_field_and_os_with_lists_and_wildcards() {
    let catalog = catalog();
    let item = &catalog.get("aws-noise").unwrap().items[2];
    let entries = |os_field: &str| {
        json!({"bool": {"filter": [
            phrase(os_field, "linux"),
            {"bool": {"filter": {"terms": {"source.ip": ["10.1.2.3", "192.0.2.0/24", "2001:db8::1"]}}}},
            {"bool": {"filter": {"wildcard": {"user_agent.original": "*scanner*"}}}},
        ]}})
    };
    assert_eq!(
        item.clauses,
        vec![entries("host.os.type"), entries("host.os.name.caseless")]
    );
}

#[test]
fn nested_entries_prefix_their_fields_and_query_inside_the_nested_path() {
    let catalog = catalog();
    let item = &catalog.get("aws-noise").unwrap().items[3];
    assert_eq!(
        item.clauses,
        vec![json!({"nested": {
            "path": "process.Ext.code_signature",
            "query": {"bool": {"filter": [
                phrase("process.Ext.code_signature.subject_name", "Elastic"),
                {"bool": {"minimum_should_match": 1, "should": [{"exists": {"field": "process.Ext.code_signature.trusted"}}]}},
            ]}},
            "score_mode": "none",
        }})]
    );
}

#[test]
fn the_kibana_export_keeps_item_order_and_os_types() {
    let catalog = catalog();
    let red = catalog.get("red-team").unwrap();
    // windows and macos, each on host.os.type then host.os.name.caseless.
    assert_eq!(red.items[0].clauses.len(), 4);
    assert_eq!(
        red.items[0].clauses[1]["bool"]["filter"][0],
        phrase("host.os.type", "macos")
    );
    assert_eq!(
        red.items[0].clauses[2]["bool"]["filter"][0],
        phrase("host.os.name.caseless", "windows")
    );
    assert_eq!(
        red.items[1].clauses[0]["bool"]["filter"][1],
        json!({"bool": {"must_not": {"bool": {"minimum_should_match": 1, "should": [{"exists": {"field": "process.parent"}}]}}}})
    );
}

#[test]
fn a_rules_lists_become_one_should_of_every_item_in_order() {
    let catalog = catalog();
    let exceptions = Exceptions::new(vec![
        catalog.list("red-team").unwrap(),
        catalog.list("aws-noise").unwrap(),
    ]);
    let clause = exceptions.clause(at(2026, 3, 1)).expect("items apply");
    let should = clause["bool"]["should"].as_array().unwrap();
    // red-team: 4 + 1 clauses, aws-noise: 1 + 1 + 2 + 1.
    assert_eq!(should.len(), 10);
    assert_eq!(
        should[4],
        catalog.get("red-team").unwrap().items[1].clauses[0]
    );
}

#[test]
fn an_expired_item_no_longer_applies() {
    let catalog = catalog();
    let exceptions = Exceptions::new(vec![catalog.list("aws-noise").unwrap()]);
    let before = exceptions.clause(at(2026, 3, 31)).unwrap();
    let after = exceptions.clause(at(2026, 4, 1)).unwrap();
    assert_eq!(before["bool"]["should"].as_array().unwrap().len(), 5);
    assert_eq!(after["bool"]["should"].as_array().unwrap().len(), 4);
    assert!(!after.to_string().contains("111111111111"));
}

#[test]
fn a_rule_without_lists_has_no_clause() {
    assert_eq!(Exceptions::default().clause(at(2026, 1, 1)), None);
}

#[test]
fn a_list_no_file_defines_names_the_folders() {
    let catalog = catalog();
    let error = catalog.list("endpoint_list").unwrap_err();
    assert_eq!(
        error.0,
        format!(
            "exception list `endpoint_list` is in none of the exception list files under {}",
            testdata().display()
        )
    );
    let missing = Catalog::load(&[PathBuf::from("no/such/folder")]);
    assert!(
        missing
            .list("x")
            .unwrap_err()
            .0
            .contains("no/such/folder (which does not exist)"),
        "{:?}",
        missing.list("x")
    );
}

#[test]
fn a_value_that_is_not_an_ip_makes_the_list_unusable_naming_the_value_file_and_line() {
    let toml = std::fs::read_to_string(testdata().join("aws_exceptions.toml")).unwrap();
    let dir = folder(&[
        ("aws.toml", &toml),
        ("scanner_ips.txt", "10.0.0.1\nnot-an-ip\n"),
    ]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    assert_eq!(catalog.problems.len(), 1);
    let problem = catalog.problems[0].to_string();
    let value_file = dir.path().join("scanner_ips.txt");
    assert!(
        problem.contains(&format!("{}:2 holds \"not-an-ip\"", value_file.display())),
        "{problem}"
    );
    assert!(problem.starts_with(&format!("{}:", dir.path().join("aws.toml").display())));
    let error = catalog.list("aws-noise").unwrap_err().0;
    assert!(error.contains("cannot be used"), "{error}");
}

#[test]
fn a_missing_value_list_makes_the_list_unusable() {
    let toml = std::fs::read_to_string(testdata().join("aws_exceptions.toml")).unwrap();
    let dir = folder(&[("aws.toml", &toml)]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    let problem = catalog.problems[0].to_string();
    assert!(
        problem.contains("value list `scanner_ips` has no file"),
        "{problem}"
    );
    assert!(catalog.list("aws-noise").is_err());
}

#[test]
fn syntax_errors_are_reported_at_their_line_and_other_files_still_load() {
    let dir = folder(&[
        (
            "broken.toml",
            "[metadata]\nlist_name = \"x\"\n[[exceptions]\n",
        ),
        (
            "broken.ndjson",
            "{\"list_id\": \"a\", \"type\": \"detection\"}\n{not json\n",
        ),
        (
            "good.ndjson",
            "{\"list_id\": \"good\", \"type\": \"detection\", \"name\": \"Good\"}\n",
        ),
    ]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    let problems: Vec<String> = catalog.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("broken.ndjson:2:1: not JSON"),
        "{problems:?}"
    );
    assert!(problems[1].contains("broken.toml:3:"), "{problems:?}");
    assert!(problems[1].contains("TOML syntax error"), "{problems:?}");
    assert!(catalog.get("good").is_some());
    assert!(
        catalog.get("a").is_some(),
        "the container on the good line still loads"
    );
}

#[test]
fn a_bad_entry_is_reported_at_its_item_with_the_entry_number() {
    let item = r#"{"list_id": "l", "type": "simple", "entries": [{"field": "a", "operator": "included", "type": "match", "value": "x"}, {"field": "b", "operator": "sometimes", "type": "match", "value": "y"}]}"#;
    let dir = folder(&[(
        "l.ndjson",
        &format!("{{\"list_id\": \"l\", \"type\": \"detection\"}}\n{item}\n"),
    )]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    let problem = catalog.problems[0].to_string();
    assert!(
        problem.ends_with(
            "l.ndjson:2:1: exception list `l`: entry 2: `operator` must be included or excluded, found \"sometimes\""
        ),
        "{problem}"
    );
    assert!(catalog.list("l").unwrap_err().0.contains("entry 2"));
}

#[test]
fn a_list_defined_twice_is_unusable_and_names_both_files() {
    let container = "{\"list_id\": \"twice\", \"type\": \"detection\"}\n";
    let dir = folder(&[("a.ndjson", container), ("b.ndjson", container)]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    assert_eq!(catalog.problems.len(), 1);
    let error = catalog.list("twice").unwrap_err().0;
    assert!(error.contains("defined twice"), "{error}");
    assert!(
        error.contains("a.ndjson:1") && error.contains("b.ndjson:1"),
        "{error}"
    );
}

#[test]
fn nested_entries_may_only_match_or_exist() {
    let item = json!({"type": "simple", "entries": [{"field": "p", "type": "nested", "entries": [
        {"field": "x", "operator": "included", "type": "wildcard", "value": "a*"}
    ]}]});
    let error = entry::read_item(&item, &mut value_list::ValueLists::default()).unwrap_err();
    assert_eq!(
        error,
        "entry 1: in nested `p`: a nested entry may be match, match_any or exists, found \"wildcard\""
    );
}

#[test]
fn expire_time_must_be_a_time_and_os_types_known_systems() {
    let values = &mut value_list::ValueLists::default();
    let entries = json!([{"field": "a", "operator": "included", "type": "exists"}]);
    let bad_time = json!({"entries": entries, "expire_time": "next tuesday"});
    assert!(
        entry::read_item(&bad_time, values)
            .unwrap_err()
            .contains("RFC 3339")
    );
    let bad_os = json!({"entries": entries, "os_types": ["beos"]});
    assert!(
        entry::read_item(&bad_os, values)
            .unwrap_err()
            .contains("\"beos\"")
    );
}

#[test]
fn a_rules_export_with_exception_lists_skips_the_rule_lines() {
    let dir = folder(&[(
        "rules_export.ndjson",
        "{\"rule_id\": \"r\", \"type\": \"query\", \"name\": \"R\"}\n\
         {\"list_id\": \"l\", \"type\": \"detection\", \"name\": \"L\"}\n\
         {\"list_id\": \"l\", \"type\": \"simple\", \"entries\": [{\"field\": \"a\", \"operator\": \"included\", \"type\": \"exists\"}]}\n\
         {\"exported_count\": 3}\n",
    )]);
    let catalog = Catalog::load(&[dir.path().to_path_buf()]);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
    assert_eq!(catalog.get("l").unwrap().items.len(), 1);
}
