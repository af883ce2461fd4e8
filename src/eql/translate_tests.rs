//! Unit tests of the stage translation: the DSL each part becomes with and without field
//! types, what goes to the residual, and that every corpus stage translates.

use super::corpus_tests::{cloudtrail_fields, corpus};
use super::*;
use crate::kql::FieldMap;
use serde_json::json;

fn stage(text: &str, fields: Option<&FieldMap>) -> StageFilter {
    let query = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    translate_stage(query.filters()[0], DEFAULT_CATEGORY_FIELD, fields)
}

fn keyword_fields() -> FieldMap {
    let mut map = FieldMap::default();
    for name in ["event.category", "process.name", "user.name"] {
        map.insert(name, &["keyword"], None);
    }
    map.insert("process.pid", &["long"], None);
    map.insert("source.ip", &["ip"], None);
    map.insert("message", &["text"], None);
    map.insert("title", &["text"], None);
    map.insert("title.keyword", &["keyword"], None);
    map
}

#[test]
fn typed_equality_and_category_become_exact_term_queries() {
    let map = keyword_fields();
    let filter = stage("process where process.name == \"cmd.exe\"", Some(&map));
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"term": {"event.category": {"value": "process"}}},
            {"term": {"process.name": {"value": "cmd.exe"}}}
        ]}})
    );
    assert!(filter.residual.is_none());
}

#[test]
fn case_insensitive_operators_use_case_insensitive_queries() {
    let map = keyword_fields();
    let filter = stage(
        "any where process.name : \"CMD*\" and startsWith~(user.name, \"Adm\") and process.name in~ (\"A\")",
        Some(&map),
    );
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"bool": {"should": [{"wildcard": {"process.name": {"value": "CMD*", "case_insensitive": true}}}], "minimum_should_match": 1}},
            {"prefix": {"user.name": {"value": "Adm", "case_insensitive": true}}},
            {"bool": {"should": [{"term": {"process.name": {"value": "A", "case_insensitive": true}}}], "minimum_should_match": 1}}
        ]}})
    );
    assert!(filter.residual.is_none());
}

#[test]
fn backslashes_in_wildcard_patterns_are_escaped_for_lucene() {
    let map = keyword_fields();
    let filter = stage(r#"any where process.name like "C:\\*""#, Some(&map));
    assert_eq!(
        filter.dsl.to_json()["bool"]["should"][0],
        json!({"wildcard": {"process.name": {"value": "C:\\\\*"}}})
    );
}

#[test]
fn not_equal_is_must_not_and_null_checks_are_exists() {
    let map = keyword_fields();
    let filter = stage(
        "any where process.name != \"a\" and user.name == null",
        Some(&map),
    );
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"bool": {"must_not": [{"term": {"process.name": {"value": "a"}}}]}},
            {"bool": {"must_not": [{"exists": {"field": "user.name"}}]}}
        ]}})
    );
}

#[test]
fn numbers_ranges_and_cidr_use_the_field_types() {
    let map = keyword_fields();
    let filter = stage(
        "any where process.pid >= \"4\" and cidrMatch(source.ip, \"10.0.0.0/8\")",
        Some(&map),
    );
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"range": {"process.pid": {"gte": 4}}},
            {"terms": {"source.ip": ["10.0.0.0/8"]}}
        ]}})
    );
    assert!(filter.residual.is_none());
}

#[test]
fn a_text_field_is_queried_through_its_keyword_sub_field() {
    let map = keyword_fields();
    let filter = stage("any where title == \"A b\"", Some(&map));
    assert_eq!(
        filter.dsl.to_json(),
        json!({"term": {"title.keyword": {"value": "A b"}}})
    );
    let without = stage("any where message == \"A b\"", Some(&map));
    assert_eq!(
        without.dsl.to_json(),
        json!({"exists": {"field": "message"}})
    );
    assert!(without.residual.is_some());
}

#[test]
fn without_types_field_conditions_loosen_to_exists_and_go_to_the_residual() {
    let filter = stage(
        "process where process.name == \"a\" and user.name != \"b\"",
        None,
    );
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"exists": {"field": "event.category"}},
            {"exists": {"field": "process.name"}},
            {"match_all": {}}
        ]}})
    );
    let residual = filter.residual.expect("a residual");
    assert!(matches!(residual.expr(), Expr::And(parts) if parts.len() == 3));
}

#[test]
fn scripts_go_to_the_residual_and_exact_conjuncts_stay_out_of_it() {
    let map = keyword_fields();
    let filter = stage(
        "any where process.name == \"a\" and length(user.name) > 3",
        Some(&map),
    );
    assert_eq!(
        filter.dsl.to_json(),
        json!({"bool": {"filter": [
            {"term": {"process.name": {"value": "a"}}},
            {"match_all": {}}
        ]}})
    );
    let residual = filter.residual.as_ref().expect("a residual");
    assert!(matches!(residual.expr(), Expr::Compare { .. }));
    assert!(filter.accepts(&json!({"user": {"name": "abcd"}}), Some(&map)));
    assert!(!filter.accepts(&json!({"user": {"name": "abc"}}), Some(&map)));
}

#[test]
fn not_over_an_inexact_part_selects_everything_and_keeps_the_residual() {
    let map = keyword_fields();
    let filter = stage(
        "any where not (process.name == \"a\" or length(user.name) > 3)",
        Some(&map),
    );
    assert_eq!(filter.dsl.to_json(), json!({"match_all": {}}));
    assert!(filter.residual.is_some());
}

#[test]
fn constant_conditions_become_match_all_or_match_none() {
    assert_eq!(
        stage("any where true", None).dsl.to_json(),
        json!({"match_all": {}})
    );
    assert_eq!(
        stage("any where 1 == 2", None).dsl.to_json(),
        json!({"bool": {"must_not": [{"match_all": {}}]}})
    );
}

#[test]
fn every_corpus_stage_translates_typed_and_untyped() {
    let (_, rules) = corpus();
    let map = cloudtrail_fields();
    let (mut stages, mut exact) = (0, 0);
    for rule in &rules {
        let query = parse(&rule.query).unwrap_or_else(|e| panic!("{}: {e}", rule.path.display()));
        for filter in query.filters() {
            stages += 1;
            let typed = translate_stage(filter, DEFAULT_CATEGORY_FIELD, Some(&map));
            let untyped = translate_stage(filter, DEFAULT_CATEGORY_FIELD, None);
            assert!(typed.dsl.to_json().is_object() && untyped.dsl.to_json().is_object());
            // serde_json reads back what it wrote: the DSL stays within its nesting limit.
            let text = serde_json::to_string(&typed.dsl).expect("json");
            serde_json::from_str::<serde_json::Value>(&text).expect("reads back");
            exact += usize::from(typed.residual.is_none());
        }
    }
    eprintln!("eql corpus stages: {stages}, {exact} exact with the CloudTrail mapping");
    assert!(stages > rules.len());
}
