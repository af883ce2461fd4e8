//! Request building, answer parsing, the bulk retry loop and error mapping, without a server.

use super::bulk::{
    BULK_RETRY_BASE_DELAY, BULK_RETRY_MAX_DELAY, BulkOutcome, Classified, bulk_body, classify,
    create_with_retries, retry_delay,
};
use super::error::error_reason;
use super::search::{
    PitId, close_pit_request, encode_path_segment, ids_query, parse_page, with_pit,
};
use super::*;
use serde_json::json;
use std::cell::RefCell;

fn pit() -> PitId {
    PitId {
        id: "abc==".to_string(),
        keep_alive: "1m".to_string(),
    }
}

#[test]
fn opensearch_is_recognised_from_version_distribution() {
    let info =
        parse_server_info(&json!({"version": {"number": "3.8.0", "distribution": "opensearch"}}))
            .expect("valid");
    assert_eq!(
        info,
        ServerInfo {
            distribution: Distribution::OpenSearch,
            version: "3.8.0".to_string()
        }
    );
    let info =
        parse_server_info(&json!({"version": {"number": "8.15.1", "build_flavor": "default"}}))
            .expect("valid");
    assert_eq!(info.distribution, Distribution::Elasticsearch);
}

#[test]
fn a_root_answer_without_a_version_is_an_error() {
    assert!(parse_server_info(&json!({"name": "x"})).is_err());
}

#[test]
fn a_pit_search_body_carries_the_pit_id_and_keep_alive() {
    let body = with_pit(json!({"size": 10, "query": {"match_all": {}}}), &pit());
    assert_eq!(body["pit"], json!({"id": "abc==", "keep_alive": "1m"}));
    assert_eq!(body["size"], 10);
}

#[test]
fn closing_a_pit_uses_each_distributions_api() {
    assert_eq!(
        close_pit_request(&pit(), Distribution::Elasticsearch),
        ("/_pit".to_string(), json!({"id": "abc=="}))
    );
    assert_eq!(
        close_pit_request(&pit(), Distribution::OpenSearch),
        (
            "/_search/point_in_time".to_string(),
            json!({"pit_id": ["abc=="]})
        )
    );
}

#[test]
fn an_ids_query_asks_for_no_sources_and_room_for_copies() {
    let ids = vec!["a".to_string(), "b".to_string()];
    let body = ids_query(&ids);
    assert_eq!(body["query"], json!({"ids": {"values": ["a", "b"]}}));
    assert_eq!(body["_source"], false);
    assert!(body["size"].as_u64().expect("size") >= 2);
}

#[test]
fn index_names_are_kept_readable_and_odd_bytes_encoded() {
    assert_eq!(
        encode_path_segment("logs-aws.cloudtrail-*,-logs-x"),
        "logs-aws.cloudtrail-*,-logs-x"
    );
    assert_eq!(encode_path_segment("a b/c?"), "a%20b%2Fc%3F");
}

#[test]
fn a_bulk_body_is_one_create_action_and_one_document_per_line() {
    let body = bulk_body(
        "alerts",
        &[
            ("id1".to_string(), json!({"a": 1})),
            ("id2".to_string(), json!({"b": "x\ny"})),
        ],
    );
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        serde_json::from_str::<Value>(lines[0]).expect("json"),
        json!({"create": {"_index": "alerts", "_id": "id1"}})
    );
    assert_eq!(
        serde_json::from_str::<Value>(lines[3]).expect("json"),
        json!({"b": "x\ny"})
    );
    assert!(body.ends_with('\n'));
}

fn item(status: u16, error: Option<(&str, &str)>) -> Value {
    let mut result = json!({"_index": "alerts", "status": status});
    if let Some((kind, reason)) = error {
        result["error"] = json!({"type": kind, "reason": reason});
    }
    json!({"create": result})
}

#[test]
fn bulk_items_are_sorted_into_created_duplicate_retry_and_failed() {
    let answer = json!({"errors": true, "items": [
        item(201, None),
        item(409, Some(("version_conflict_engine_exception", "document already exists"))),
        item(429, Some(("es_rejected_execution_exception", "queue full"))),
        item(400, Some(("mapper_parsing_exception", "failed to parse field [x]"))),
        item(503, Some(("unavailable_shards_exception", "primary shard is not active"))),
    ]});
    let classified = classify(&answer, &["a", "b", "c", "d", "e"]).expect("valid answer");
    assert_eq!(classified.created, vec!["a"]);
    assert_eq!(classified.duplicates, vec!["b"]);
    let retry: Vec<(&str, u16)> = classified
        .retry
        .iter()
        .map(|f| (f.id.as_str(), f.status))
        .collect();
    assert_eq!(retry, vec![("c", 429), ("e", 503)]);
    assert_eq!(classified.failed.len(), 1);
    assert_eq!(classified.failed[0].id, "d");
    assert_eq!(
        classified.failed[0].reason,
        "mapper_parsing_exception: failed to parse field [x]"
    );
}

#[test]
fn a_bulk_answer_with_the_wrong_number_of_items_is_an_error() {
    let answer = json!({"items": [item(201, None)]});
    assert!(classify(&answer, &["a", "b"]).is_err());
    assert!(classify(&json!({"took": 1}), &["a"]).is_err());
}

#[test]
fn retry_delays_double_up_to_the_ceiling() {
    assert_eq!(retry_delay(1), BULK_RETRY_BASE_DELAY);
    assert_eq!(retry_delay(2), BULK_RETRY_BASE_DELAY * 2);
    assert_eq!(retry_delay(3), BULK_RETRY_BASE_DELAY * 4);
    assert_eq!(retry_delay(40), BULK_RETRY_MAX_DELAY);
}

/// Runs the retry loop against scripted answers; returns the outcome, the ids sent per attempt
/// and the pauses taken.
fn run_scripted(
    docs: &[&str],
    answers: Vec<Result<Value, EsError>>,
) -> (
    Result<BulkOutcome, EsError>,
    Vec<Vec<String>>,
    Vec<Duration>,
) {
    let docs: Vec<(String, Value)> = docs
        .iter()
        .map(|id| (id.to_string(), json!({"id": id})))
        .collect();
    let sent = RefCell::new(Vec::new());
    let slept = RefCell::new(Vec::new());
    let answers = RefCell::new(answers.into_iter());
    let send = async |body: String| {
        let ids = body
            .lines()
            .step_by(2)
            .map(|line| {
                serde_json::from_str::<Value>(line).expect("action")["create"]["_id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect();
        sent.borrow_mut().push(ids);
        answers
            .borrow_mut()
            .next()
            .expect("a scripted answer for every attempt")
    };
    let sleep = async |delay: Duration| slept.borrow_mut().push(delay);
    let outcome =
        futures_util::FutureExt::now_or_never(create_with_retries("alerts", docs, send, sleep))
            .expect("the scripted loop never waits");
    (outcome, sent.into_inner(), slept.into_inner())
}

fn answer(items: Vec<Value>) -> Result<Value, EsError> {
    Ok(json!({"errors": true, "items": items}))
}

fn unreachable() -> EsError {
    EsError::Unreachable {
        op: "bulk create",
        index: "alerts".to_string(),
        timeout: true,
        message: "timed out".to_string(),
    }
}

#[test]
fn only_the_retryable_items_are_sent_again() {
    let (outcome, sent, slept) = run_scripted(
        &["a", "b", "c"],
        vec![
            answer(vec![
                item(201, None),
                item(429, Some(("x", "busy"))),
                item(409, None),
            ]),
            answer(vec![item(201, None)]),
        ],
    );
    let outcome = outcome.expect("written");
    assert_eq!(outcome.created, vec!["a", "b"]);
    assert_eq!(outcome.duplicates, vec!["c"]);
    assert!(outcome.failed.is_empty());
    assert_eq!(sent, vec![vec!["a", "b", "c"], vec!["b"]]);
    assert_eq!(slept, vec![BULK_RETRY_BASE_DELAY]);
}

#[test]
fn items_still_failing_after_the_last_attempt_are_reported_failed() {
    let busy = || answer(vec![item(503, Some(("unavailable", "shard down")))]);
    let answers = (0..BULK_MAX_ATTEMPTS).map(|_| busy()).collect();
    let (outcome, sent, slept) = run_scripted(&["a"], answers);
    let outcome = outcome.expect("an outcome");
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(
        (outcome.failed[0].id.as_str(), outcome.failed[0].status),
        ("a", 503)
    );
    assert_eq!(sent.len(), BULK_MAX_ATTEMPTS as usize);
    assert_eq!(slept.len(), BULK_MAX_ATTEMPTS as usize - 1);
}

#[test]
fn a_whole_request_failure_is_retried_then_succeeds() {
    let (outcome, sent, _) = run_scripted(
        &["a"],
        vec![Err(unreachable()), answer(vec![item(201, None)])],
    );
    assert_eq!(outcome.expect("written").created, vec!["a"]);
    assert_eq!(sent.len(), 2);
}

#[test]
fn a_persistent_whole_request_failure_is_an_error_when_nothing_was_written() {
    let answers = (0..BULK_MAX_ATTEMPTS).map(|_| Err(unreachable())).collect();
    let (outcome, _, _) = run_scripted(&["a"], answers);
    assert!(outcome.expect_err("nothing written").is_retryable());
}

#[test]
fn a_request_failure_after_partial_success_reports_the_rest_as_failed() {
    let mut answers = vec![answer(vec![
        item(201, None),
        item(429, Some(("x", "busy"))),
    ])];
    answers.extend((1..BULK_MAX_ATTEMPTS).map(|_| Err(unreachable())));
    let (outcome, _, _) = run_scripted(&["a", "b"], answers);
    let outcome = outcome.expect("an outcome");
    assert_eq!(outcome.created, vec!["a"]);
    assert_eq!(
        outcome
            .failed
            .iter()
            .map(|f| f.id.as_str())
            .collect::<Vec<_>>(),
        vec!["b"]
    );
}

#[test]
fn a_client_error_is_not_retried() {
    let bad = EsError::Status {
        op: "bulk create",
        index: "alerts".to_string(),
        status: 400,
        reason: "bad".to_string(),
    };
    let (outcome, sent, _) = run_scripted(&["a"], vec![Err(bad)]);
    assert_eq!(outcome.expect_err("failed").status(), Some(400));
    assert_eq!(sent.len(), 1);
}

#[test]
fn totals_are_read_in_both_forms() {
    let total = super::total_hits;
    assert_eq!(
        total(&json!({"hits": {"total": {"value": 5, "relation": "eq"}}})),
        Some(5)
    );
    assert_eq!(total(&json!({"hits": {"total": 7}})), Some(7));
    assert_eq!(total(&json!({"hits": {"hits": []}})), None);
}

#[test]
fn a_search_page_gives_hits_sort_values_pit_and_total() {
    let answer = json!({
        "pit_id": "new-pit",
        "_shards": {"total": 2, "failed": 1, "failures": [{"reason": {"type": "query_shard_exception", "reason": "boom"}}]},
        "hits": {"total": {"value": 7, "relation": "eq"}, "hits": [
            {"_index": "logs-1", "_id": "x", "_source": {"a": 1}, "sort": [1700000000000_i64, 5]},
            {"_index": "logs-2", "_id": "y", "_source": {"a": 2}}
        ]}
    });
    let page: SearchPage = parse_page(answer.to_string().as_bytes()).expect("valid");
    assert_eq!(page.pit_id.as_deref(), Some("new-pit"));
    assert_eq!(page.total, Some(7));
    assert_eq!(page.hits.len(), 2);
    assert_eq!(page.hits[0].sort, vec![json!(1700000000000_i64), json!(5)]);
    assert_eq!(
        (page.hits[1].index.as_str(), page.hits[1].id.as_str()),
        ("logs-2", "y")
    );
    assert!(page.hits[1].sort.is_empty());
    assert_eq!(page.shard_failures, vec!["query_shard_exception: boom"]);
}

#[test]
fn a_search_answer_without_hits_is_an_error() {
    assert!(parse_page::<Value>(br#"{"took": 3}"#).is_err());
}

#[test]
fn an_error_answer_is_mapped_to_its_status_and_reason() {
    let reply = Reply {
        status: 404,
        body: json!({"error": {"type": "index_not_found_exception", "reason": "no such index [x]"}, "status": 404}),
    };
    let error = reply.ok("search", "x").expect_err("an error status");
    assert_eq!(error.status(), Some(404));
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "search on x: HTTP 404: index_not_found_exception: no such index [x]"
    );
}

#[test]
fn error_reasons_include_the_cause() {
    let body = json!({"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
        "caused_by": {"type": "illegal_argument_exception", "reason": "no mapping for [x]"}}});
    assert_eq!(
        error_reason(&body),
        "search_phase_execution_exception: all shards failed (caused by illegal_argument_exception: no mapping for [x])"
    );
}

#[test]
fn too_many_requests_and_server_errors_are_retryable() {
    let status = |status| EsError::Status {
        op: "search",
        index: "x".to_string(),
        status,
        reason: String::new(),
    };
    assert!(status(429).is_retryable());
    assert!(status(503).is_retryable());
    assert!(!status(400).is_retryable());
    assert!(unreachable().is_retryable());
}

#[test]
fn a_success_answer_that_is_not_json_is_an_error() {
    assert!(parse_body(b"<html>proxy</html>", 200).is_err());
    assert_eq!(parse_body(b"", 200).expect("empty is fine"), Value::Null);
    assert_eq!(
        parse_body(b"Not Acceptable", 406).expect("kept as text"),
        json!("Not Acceptable")
    );
}

#[test]
fn a_client_debug_shows_no_credentials() {
    let config = crate::config::ElasticsearchConfig {
        url: "http://elastic:hunter2@localhost:9200".to_string(),
        ..Default::default()
    };
    let client = Client::new(&config).expect("a valid configuration");
    let debug = format!("{client:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("localhost:9200"), "{debug}");
}

#[test]
fn classified_default_is_empty() {
    assert_eq!(
        classify(&json!({"items": []}), &[]).expect("valid"),
        Classified::default()
    );
}

#[test]
fn point_in_time_support_follows_the_server_version() {
    let info = |distribution, version: &str| ServerInfo {
        distribution,
        version: version.to_string(),
    };
    assert!(info(Distribution::Elasticsearch, "8.15.0").supports_pit());
    assert!(info(Distribution::Elasticsearch, "7.10.2").supports_pit());
    assert!(!info(Distribution::Elasticsearch, "7.9.3").supports_pit());
    assert!(info(Distribution::OpenSearch, "3.8.0").supports_pit());
    assert!(!info(Distribution::OpenSearch, "2.3.0").supports_pit());
    assert!(!info(Distribution::OpenSearch, "1.3.19").supports_pit());
    assert!(info(Distribution::Elasticsearch, "unknown").supports_pit());
}

#[test]
fn a_cloud_id_client_names_only_the_deployment() {
    // "name:" + base64("us-east-1.aws.found.io$es-uuid$kibana-uuid")
    let cloud_id = "prod:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbyRlcy11dWlkJGtpYmFuYS11dWlk";
    let config = crate::config::ElasticsearchConfig {
        cloud_id: Some(cloud_id.to_string()),
        ..Default::default()
    };
    let client = Client::new(&config).expect("a valid cloud id");
    assert_eq!(client.endpoint(), "elastic cloud deployment prod");
}

#[test]
fn a_search_page_can_keep_each_source_as_the_server_sent_it() {
    let answer = br#"{"hits": {"hits": [
        {"_index": "logs", "_id": "x", "_source": {"b": 1, "a": {"z": "\u00fc"}}, "sort": [5]},
        {"_index": "logs", "_id": "y"}
    ]}}"#;
    let page: SearchPage<crate::es::RawSource> = parse_page(answer).expect("valid");
    assert_eq!(
        page.hits[0].source.get(),
        r#"{"b": 1, "a": {"z": "\u00fc"}}"#
    );
    assert_eq!(page.hits[0].sort, vec![json!(5)]);
    assert_eq!(page.hits[1].source.get(), "null");
}

#[test]
fn a_hit_without_an_id_is_an_error() {
    let answer = br#"{"hits": {"hits": [{"_index": "logs"}]}}"#;
    assert_eq!(
        parse_page::<Value>(answer).expect_err("no _id"),
        "a hit has no _id"
    );
}

#[test]
fn an_https_url_to_a_plain_http_server_says_so_in_plain_words() {
    let text = super::plain_words(
        "client error (Connect): received corrupt message of type InvalidContentType".to_string(),
    );
    assert_eq!(
        text,
        "client error (Connect): the server does not speak TLS (it answered in plain HTTP: use \
         an http:// URL)"
    );
    let closed = super::plain_words("client error (Connect): tls handshake eof".to_string());
    assert!(closed.contains("does not speak TLS"), "{closed}");
}
