//! Tests of the native `_eql/search` request (Kibana's `build_eql_search_request.ts`) and of
//! reading its answers, recorded in the documented shape by the `eql_search_double`.

use super::eql_search_double::{self, EqlSearchDouble};
use super::*;
use crate::eql::sequence::{
    Document, Event, KeyValue, SequenceMatcher, SequenceSpec, Stage, StageMatch,
};
use proptest::prelude::*;
use std::sync::Arc;

const SEQUENCE_QUERY: &str = r#"sequence by user.name with maxspan=5m
  [iam where event.action == "CreateUser"]
  [iam where event.action == "AttachUserPolicy"]"#;

fn time_range() -> Value {
    json!({
        "bool": {
            "should": [
                { "range": { "event.ingested": {
                    "gte": "2026-01-10T11:54:00.000Z",
                    "lte": "2026-01-10T12:00:00.000Z",
                    "format": "strict_date_optional_time" } } },
                { "bool": {
                    "filter": [{ "range": { "@timestamp": {
                        "gte": "2026-01-10T11:54:00.000Z",
                        "lte": "2026-01-10T12:00:00.000Z",
                        "format": "strict_date_optional_time" } } }],
                    "must_not": [{ "exists": { "field": "event.ingested" } }] } }
            ],
            "minimum_should_match": 1
        }
    })
}

fn input<'a>(query: &'a str, time_range: &'a Value) -> RequestInput<'a> {
    RequestInput {
        query,
        max_signals: 100,
        time_range,
        filter: None,
        primary_timestamp: "event.ingested",
        secondary_timestamp: Some("@timestamp"),
        timestamp_field: None,
        event_category_field: None,
        tiebreaker_field: None,
        runtime_mappings: None,
        allow_partial_search_results: true,
    }
}

#[test]
fn the_request_sends_the_rules_query_unchanged_and_max_signals_as_size() {
    let range = time_range();
    let body = request_body(&RequestInput {
        max_signals: 37,
        ..input(SEQUENCE_QUERY, &range)
    });
    assert_eq!(body["query"], json!(SEQUENCE_QUERY));
    assert_eq!(body["size"], json!(37));
}

#[test]
fn the_filter_is_the_window_then_the_rules_filters() {
    let range = time_range();
    let rule_filter = json!({ "bool": { "must_not": [{ "term": { "user.name": "svc" } }] } });
    let body = request_body(&RequestInput {
        filter: Some(&rule_filter),
        ..input(SEQUENCE_QUERY, &range)
    });
    assert_eq!(
        body["filter"],
        json!({ "bool": { "filter": [range, rule_filter] } })
    );
}

#[test]
fn without_rule_filters_the_filter_is_the_window_alone() {
    let range = time_range();
    let body = request_body(&input(SEQUENCE_QUERY, &range));
    assert_eq!(body["filter"], json!({ "bool": { "filter": [range] } }));
}

#[test]
fn fields_ask_for_every_field_and_the_window_timestamps_as_dates() {
    let range = time_range();
    let body = request_body(&input(SEQUENCE_QUERY, &range));
    assert_eq!(
        body["fields"],
        json!([
            { "field": "*", "include_unmapped": true },
            { "field": "event.ingested", "format": "strict_date_optional_time" },
            { "field": "@timestamp", "format": "strict_date_optional_time" }
        ])
    );
    let without_fallback = request_body(&RequestInput {
        primary_timestamp: "@timestamp",
        secondary_timestamp: None,
        ..input(SEQUENCE_QUERY, &range)
    });
    assert_eq!(
        without_fallback["fields"],
        json!([
            { "field": "*", "include_unmapped": true },
            { "field": "@timestamp", "format": "strict_date_optional_time" }
        ])
    );
}

#[test]
fn timestamp_category_and_tiebreaker_fields_are_sent_only_when_the_rule_sets_them() {
    let range = time_range();
    let plain = request_body(&input(SEQUENCE_QUERY, &range));
    for field in [
        "timestamp_field",
        "event_category_field",
        "tiebreaker_field",
        "runtime_mappings",
    ] {
        assert!(plain.get(field).is_none(), "{field}");
    }
    let runtime = json!({ "day": { "type": "keyword" } });
    let set = request_body(&RequestInput {
        timestamp_field: Some("event.created"),
        event_category_field: Some("event.type"),
        tiebreaker_field: Some("event.sequence"),
        runtime_mappings: Some(&runtime),
        ..input(SEQUENCE_QUERY, &range)
    });
    assert_eq!(set["timestamp_field"], json!("event.created"));
    assert_eq!(set["event_category_field"], json!("event.type"));
    assert_eq!(set["tiebreaker_field"], json!("event.sequence"));
    assert_eq!(set["runtime_mappings"], runtime);
    let empty = request_body(&RequestInput {
        tiebreaker_field: Some(""),
        ..input(SEQUENCE_QUERY, &range)
    });
    assert!(empty.get("tiebreaker_field").is_none());
}

#[test]
fn partial_results_are_asked_for_only_from_servers_that_accept_the_field() {
    let range = time_range();
    let new = request_body(&input(SEQUENCE_QUERY, &range));
    assert_eq!(new["allow_partial_search_results"], json!(true));
    let old = request_body(&RequestInput {
        allow_partial_search_results: false,
        ..input(SEQUENCE_QUERY, &range)
    });
    assert!(old.get("allow_partial_search_results").is_none());
}

#[test]
fn an_index_pattern_matching_nothing_is_allowed_by_a_query_parameter() {
    assert_eq!(QUERY_PARAMETERS, [("allow_no_indices", "true")]);
}

#[test]
fn every_field_of_the_request_is_one_the_eql_search_api_documents() {
    let range = time_range();
    let runtime = json!({ "day": { "type": "keyword" } });
    let body = request_body(&RequestInput {
        filter: Some(&range),
        timestamp_field: Some("event.created"),
        event_category_field: Some("event.type"),
        tiebreaker_field: Some("event.sequence"),
        runtime_mappings: Some(&runtime),
        ..input(SEQUENCE_QUERY, &range)
    });
    let double = EqlSearchDouble::default().answering(SEQUENCE_QUERY, eql_search_double::SEQUENCES);
    assert_eq!(double.search(&body), Ok(eql_search_double::SEQUENCES));
}

#[test]
fn the_double_refuses_a_field_the_api_does_not_document() {
    let range = time_range();
    let mut body = request_body(&input(SEQUENCE_QUERY, &range));
    body["sort"] = json!([{ "@timestamp": "asc" }]);
    let double = EqlSearchDouble::default().answering(SEQUENCE_QUERY, eql_search_double::SEQUENCES);
    assert_eq!(
        double.search(&body),
        Err("[eql/search] unknown field [sort]".to_string())
    );
}

fn answer(text: &str) -> EqlAnswer {
    read_answer(text.as_bytes()).expect("a recorded answer reads")
}

#[test]
fn an_event_query_answer_reads_into_events() {
    let answer = answer(eql_search_double::EVENTS);
    assert!(!answer.is_partial && !answer.is_running && !answer.timed_out);
    assert_eq!(answer.took_ms, Some(31));
    assert_eq!(answer.total, Some(2));
    let EqlHits::Events(events) = &answer.hits else {
        panic!("events expected, got {:?}", answer.hits);
    };
    let ids: Vec<&str> = events.iter().map(|event| event.id.as_str()).collect();
    assert_eq!(ids, ["evt-1", "evt-2"]);
    assert_eq!(
        events[0].index,
        ".ds-logs-aws.cloudtrail-default-2026.01.10-000001"
    );
    assert_eq!(events[0].source["user"]["name"], json!("mallory"));
    assert_eq!(
        events[0].fields["event.ingested"],
        json!(["2026-01-10T11:58:04.000Z"])
    );
    assert!(events[1].fields.is_empty());
    assert!(!events[0].missing);
}

#[test]
fn a_sequence_answer_reads_into_sequences_with_their_join_keys() {
    let answer = answer(eql_search_double::SEQUENCES);
    let EqlHits::Sequences(sequences) = &answer.hits else {
        panic!("sequences expected, got {:?}", answer.hits);
    };
    assert_eq!(sequences.len(), 1);
    assert_eq!(sequences[0].join_keys, vec![json!("mallory")]);
    let ids: Vec<&str> = sequences[0]
        .present_events()
        .map(|event| event.id.as_str())
        .collect();
    assert_eq!(ids, ["evt-1", "evt-3"]);
}

#[test]
fn a_missing_event_placeholder_is_read_and_left_out_of_the_present_events() {
    let answer = answer(eql_search_double::SEQUENCE_WITH_MISSING_EVENT);
    let EqlHits::Sequences(sequences) = &answer.hits else {
        panic!("sequences expected");
    };
    let sequence = &sequences[0];
    assert_eq!(sequence.events.len(), 2);
    assert!(sequence.events[1].missing);
    assert_eq!(sequence.events[1].id, "");
    let present: Vec<&str> = sequence
        .present_events()
        .map(|event| event.id.as_str())
        .collect();
    assert_eq!(present, ["logon-1"]);
    assert_eq!(sequence.present_events().count(), 1);
}

#[test]
fn shard_failures_are_read_with_their_reason() {
    let answer = answer(eql_search_double::PARTIAL_WITH_SHARD_FAILURE);
    assert_eq!(
        answer.shard_failures,
        vec![ShardFailure {
            index: Some("logs-aws.cloudtrail-default".into()),
            shard: Some(0),
            node: Some("Xq3fK0p2R5y".into()),
            reason: "no_shard_available_action_exception".into(),
        }]
    );
    assert_eq!(answer.hits, EqlHits::Sequences(Vec::new()));
}

#[test]
fn a_sequence_query_that_matched_nothing_has_no_sequences() {
    let answer = answer(eql_search_double::NO_SEQUENCES);
    assert_eq!(answer.hits, EqlHits::Sequences(Vec::new()));
    assert!(answer.shard_failures.is_empty());
    assert!(!answer.reached_max_signals(100));
}

#[test]
fn max_signals_is_reached_when_the_total_is_at_least_max_signals() {
    let answer = answer(eql_search_double::EVENTS);
    assert!(answer.reached_max_signals(2));
    assert!(answer.reached_max_signals(1));
    assert!(!answer.reached_max_signals(3));
}

#[test]
fn an_answer_with_neither_events_nor_sequences_is_an_error() {
    let body =
        br#"{"is_partial":false,"is_running":false,"hits":{"total":{"value":0,"relation":"eq"}}}"#;
    assert_eq!(read_answer(body), Err(AnswerError::NoHits));
}

#[test]
fn an_answer_that_is_not_the_documented_json_is_an_error() {
    for body in [
        &b"<html>502 Bad Gateway</html>"[..],
        b"{\"hits\": 3}",
        b"",
        b"{\"hits\":{\"events\":[{\"_id\":7}]}}",
    ] {
        assert!(
            matches!(read_answer(body), Err(AnswerError::Malformed(_))),
            "{body:?}"
        );
    }
}

proptest! {
    #[test]
    fn reading_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_answer(&bytes);
    }

    #[test]
    fn reading_a_cut_recorded_answer_never_panics(cut in 0usize..eql_search_double::SEQUENCES.len()) {
        let _ = read_answer(&eql_search_double::SEQUENCES.as_bytes()[..cut]);
    }
}

/// The same two events as lookout's own matcher sees them.
fn matcher_event(id: &str, timestamp: i64, stage: usize, source: &Value) -> Event {
    Event {
        document: Arc::new(Document {
            index: ".ds-logs-aws.cloudtrail-default-2026.01.10-000001".into(),
            id: id.into(),
            source: source.clone(),
        }),
        timestamp,
        tiebreaker: None,
        stages: vec![StageMatch {
            stage,
            join: vec![vec![KeyValue::Text("mallory".into())]],
        }],
        until: None,
    }
}

#[test]
fn a_native_sequence_and_lookouts_own_match_of_the_same_events_give_the_same_alerts() {
    let rule_id = "seq-rule-1";
    let range = time_range();
    let body = request_body(&input(SEQUENCE_QUERY, &range));
    let double = EqlSearchDouble::default().answering(SEQUENCE_QUERY, eql_search_double::SEQUENCES);
    let answer = read_answer(double.search(&body).unwrap().as_bytes()).unwrap();
    let EqlHits::Sequences(sequences) = &answer.hits else {
        panic!("sequences expected");
    };
    let native = &sequences[0];

    let spec = SequenceSpec::new(&[Stage::positive(), Stage::positive()], None).unwrap();
    let mut matcher = SequenceMatcher::new(spec, "default", rule_id);
    let found = matcher.feed(vec![
        matcher_event("evt-3", 1_768_046_370_000, 1, &native.events[1].source),
        matcher_event("evt-1", 1_768_046_280_000, 0, &native.events[0].source),
    ]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, native.id("default", rule_id));

    // The same events in the same order: the alerts, a pure function of them, are the same too.
    let native_events: Vec<(&str, &str, &Value)> = native
        .present_events()
        .map(|event| (event.index.as_str(), event.id.as_str(), &event.source))
        .collect();
    let matched_events: Vec<(&str, &str, &Value)> = found[0]
        .events
        .iter()
        .map(|event| (event.index.as_str(), event.id.as_str(), &event.source))
        .collect();
    assert_eq!(native_events, matched_events);
    assert_eq!(native_events[0].2["source"]["ip"], json!("192.0.2.1"));
}
