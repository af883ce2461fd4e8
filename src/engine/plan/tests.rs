//! Unit tests of the search request.

use super::*;
use crate::rule::test_rule;
use chrono::TimeZone;

fn window() -> Window {
    Window {
        from: Utc.with_ymd_and_hms(2026, 1, 10, 11, 54, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
    }
}

fn query() -> Value {
    json!({"match": {"event.action": "AddUserToGroup"}})
}

fn expected_range(field: &str) -> Value {
    json!({"range": {field: {
        "gte": "2026-01-10T11:54:00.000Z",
        "lte": "2026-01-10T12:00:00.000Z",
        "format": "strict_date_optional_time",
    }}})
}

#[test]
fn without_override_the_range_and_sort_use_timestamp() {
    let rule = test_rule("r");
    let body = events_body(&rule.search, &query(), &window());
    assert_eq!(
        body["query"],
        json!({"bool": {"filter": [expected_range("@timestamp"), query()]}})
    );
    assert_eq!(
        body["sort"],
        json!([{"@timestamp": {"order": "asc", "unmapped_type": "date"}}])
    );
    assert_eq!(body["track_total_hits"], false);
}

#[test]
fn override_with_fallback_matches_timestamp_when_the_override_is_missing() {
    let mut rule = test_rule("r");
    rule.search.timestamp.field = Some("event.ingested".into());
    let body = events_body(&rule.search, &query(), &window());
    let expected_time = json!({"bool": {
        "should": [
            expected_range("event.ingested"),
            {"bool": {
                "filter": [expected_range("@timestamp")],
                "must_not": [{"exists": {"field": "event.ingested"}}],
            }},
        ],
    }});
    assert_eq!(body["query"]["bool"]["filter"][0], expected_time);
    assert_eq!(
        body["sort"],
        json!([
            {"event.ingested": {"order": "asc", "unmapped_type": "date"}},
            {"@timestamp": {"order": "asc", "unmapped_type": "date"}},
        ])
    );
}

#[test]
fn override_with_fallback_disabled_uses_only_the_override() {
    let mut rule = test_rule("r");
    rule.search.timestamp.field = Some("event.ingested".into());
    rule.search.timestamp.fallback_disabled = true;
    let body = events_body(&rule.search, &query(), &window());
    assert_eq!(
        body["query"]["bool"]["filter"][0],
        expected_range("event.ingested")
    );
    assert_eq!(body["sort"].as_array().unwrap().len(), 1);
}

#[test]
fn page_size_is_max_signals_up_to_one_hundred() {
    assert_eq!(page_size(7), 7);
    assert_eq!(page_size(1000), 100);
    assert_eq!(page_size(0), 1);
}

#[test]
fn negated_filters_go_to_must_not_and_disabled_ones_are_ignored() {
    let mut rule = test_rule("r");
    rule.search.filters = vec![
        json!({"meta": {"negate": true}, "query": {"wildcard": {"file.path": {"value": "C:*"}}}}),
        json!({"meta": {"negate": false}, "query": {"term": {"host.os.type": "windows"}}}),
        json!({"meta": {"disabled": true}, "query": {"term": {"never": "used"}}}),
        json!({"meta": {}, "exists": {"field": "process.name"}}),
    ];
    let body = events_body(&rule.search, &query(), &window());
    let bool_query = &body["query"]["bool"];
    assert_eq!(
        bool_query["filter"],
        json!([
            expected_range("@timestamp"),
            query(),
            {"term": {"host.os.type": "windows"}},
            {"exists": {"field": "process.name"}},
        ])
    );
    assert_eq!(
        bool_query["must_not"],
        json!([{"wildcard": {"file.path": {"value": "C:*"}}}])
    );
}

#[test]
fn override_equal_to_timestamp_does_not_fall_back() {
    let mut rule = test_rule("r");
    rule.search.timestamp.field = Some("@timestamp".into());
    assert!(!rule.search.timestamp.falls_back());
}

#[test]
fn exception_items_that_apply_to_the_window_follow_the_negated_filters_in_must_not() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exceptions/testdata");
    let catalog = crate::exceptions::Catalog::load(&[folder]);
    let list = catalog.list("aws-noise").expect("the test list loads");
    let mut rule = test_rule("r");
    rule.search.filters = vec![json!({"meta": {"negate": true}, "query": {"term": {"a": 1}}})];
    rule.search.exceptions = crate::exceptions::Exceptions::new(vec![list]);
    // Sent simplified: `not (item or item ...)` becomes one `must_not` clause per item.
    let expected_must_not = |to| {
        let clause = rule.search.exceptions.clause(to).unwrap();
        let query = json!({"bool": {"must_not": [{"term": {"a": 1}}, clause]}});
        super::simplify_filter(query)["bool"]["must_not"].clone()
    };
    let body = events_body(&rule.search, &query(), &window());
    let must_not = &body["query"]["bool"]["must_not"];
    assert_eq!(must_not[0], json!({"term": {"a": 1}}));
    assert_eq!(*must_not, expected_must_not(window().to));
    // The lab-accounts item expires on 2026-04-01: a later window leaves it out.
    let mut later = window();
    later.to = Utc.with_ymd_and_hms(2026, 4, 2, 0, 0, 0).unwrap();
    let body_later = events_body(&rule.search, &query(), &later);
    let must_not_later = &body_later["query"]["bool"]["must_not"];
    assert_eq!(*must_not_later, expected_must_not(later.to));
    assert!(must_not_later.as_array().unwrap().len() < must_not.as_array().unwrap().len());
}

#[test]
fn the_rules_query_is_sent_simplified_after_the_time_range() {
    let rule = test_rule("r");
    let kibana = json!({"bool": {"filter": [
        {"bool": {"should": [{"match": {"event.action": "CreateUser"}}], "minimum_should_match": 1}},
        {"bool": {"should": [{"match": {"event.outcome": "success"}}], "minimum_should_match": 1}},
    ]}});
    let body = events_body(&rule.search, &kibana, &window());
    assert_eq!(
        body["query"],
        json!({"bool": {"filter": [
            expected_range("@timestamp"),
            {"match": {"event.action": "CreateUser"}},
            {"match": {"event.outcome": "success"}},
        ]}})
    );
}

#[test]
fn a_negated_query_joins_the_negated_filters() {
    let mut rule = test_rule("r");
    rule.search.filters =
        vec![json!({"meta": {"negate": true}, "query": {"term": {"user.name": "root"}}})];
    let kibana = json!({"bool": {"must_not": {"bool": {
        "should": [{"match": {"event.action": "GetUser"}}], "minimum_should_match": 1,
    }}}});
    let body = events_body(&rule.search, &kibana, &window());
    assert_eq!(
        body["query"],
        json!({"bool": {
            "filter": [expected_range("@timestamp")],
            "must_not": [
                {"term": {"user.name": "root"}},
                {"match": {"event.action": "GetUser"}},
            ],
        }})
    );
}
