//! lookout's Elasticsearch client through the fault proxy, against the live server: bulk writes
//! survive 429s, item failures, resets, timeouts and refused connections with every document
//! written exactly once; searches that cannot be answered fail fast with an error that names
//! the index; a server restart is survived by the same client.

use integration_tests::proxy::server::OwnServer;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::{TestServer, unique_name};
use lookout::ElasticsearchConfig;
use lookout::{Client, EsError};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The request timeout of the clients that test timeouts: short, so that they come quickly.
const SHORT_TIMEOUT: Duration = Duration::from_millis(400);
/// The request timeout of the other clients: long enough for a busy machine.
const NORMAL_TIMEOUT: Duration = Duration::from_secs(20);

fn client(url: &str) -> Client {
    client_with_timeout(url, NORMAL_TIMEOUT)
}

fn client_with_timeout(url: &str, request_timeout: Duration) -> Client {
    let config = ElasticsearchConfig {
        url: url.to_string(),
        request_timeout,
        ..Default::default()
    };
    Client::new(&config).expect("the proxy URL is a valid configuration")
}

fn docs(count: usize) -> Vec<(String, Value)> {
    (0..count)
        .map(|n| {
            (
                format!("doc-{n:03}"),
                json!({"@timestamp": "2026-11-01T00:00:00Z", "n": n}),
            )
        })
        .collect()
}

fn ids(docs: &[(String, Value)]) -> HashSet<String> {
    docs.iter().map(|(id, _)| id.clone()).collect()
}

/// The ids stored in an index, asserting that none is stored twice.
async fn stored_ids(server: &TestServer, index: &str) -> HashSet<String> {
    let hits = server.all_docs(index).await;
    let ids: Vec<String> = hits
        .iter()
        .map(|hit| hit["_id"].as_str().expect("an id").to_string())
        .collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "an id is stored twice in {index}");
    unique
}

async fn setup(plan: FaultPlan) -> (TestServer, Proxy, Client, String) {
    let server = TestServer::connect();
    let proxy = Proxy::start(&server.url).await;
    proxy.set_plan(plan);
    let client = client(&proxy.url());
    (server, proxy, client, unique_name("reliab-es"))
}

fn bulk_rule(fault: Fault) -> FaultRule {
    FaultRule::new(fault).method("POST").path("/_bulk")
}

#[tokio::test]
async fn a_429_answer_to_a_bulk_is_retried_and_every_document_is_written_once() {
    let (server, proxy, client, index) =
        setup(FaultPlan::pass().with(bulk_rule(Fault::Status(429)))).await;
    let sent = docs(50);
    let outcome = client
        .bulk_create(&index, sent.clone(), true)
        .await
        .expect("retried");
    assert_eq!(outcome.created.len(), 50, "{outcome:?}");
    assert!(outcome.duplicates.is_empty() && outcome.failed.is_empty());
    assert_eq!(stored_ids(&server, &index).await, ids(&sent));
    assert_eq!(proxy.stats().statuses, 1);
}

#[tokio::test]
async fn failed_bulk_items_are_retried_alone_and_written_once() {
    let fail = Fault::FailBulkItems {
        positions: vec![3, 7, 41],
        status: 503,
    };
    let (server, proxy, client, index) = setup(FaultPlan::pass().with(bulk_rule(fail))).await;
    let sent = docs(50);
    let outcome = client
        .bulk_create(&index, sent.clone(), true)
        .await
        .expect("retried");
    assert_eq!(outcome.created.len(), 50, "{outcome:?}");
    // The first answer creates 47; the retry carries only the three failed items.
    assert_eq!(outcome.created[47..], ["doc-003", "doc-007", "doc-041"]);
    assert!(outcome.duplicates.is_empty() && outcome.failed.is_empty());
    assert_eq!(stored_ids(&server, &index).await, ids(&sent));
    assert_eq!(proxy.stats().bulk_items_failed, 3);
}

#[tokio::test]
async fn items_that_keep_failing_are_reported_failed_after_the_retry_ceiling() {
    let fail = Fault::FailBulkItems {
        positions: vec![0],
        status: 500,
    };
    let (server, proxy, client, index) =
        setup(FaultPlan::pass().with(bulk_rule(fail).always())).await;
    let outcome = client
        .bulk_create(&index, docs(5), true)
        .await
        .expect("an outcome");
    assert_eq!(outcome.created.len(), 4);
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert_eq!(
        (outcome.failed[0].id.as_str(), outcome.failed[0].status),
        ("doc-000", 500)
    );
    assert_eq!(stored_ids(&server, &index).await.len(), 4);
    assert_eq!(
        proxy.stats().bulk_items_failed,
        u64::from(lookout::BULK_MAX_ATTEMPTS)
    );
}

#[tokio::test]
async fn a_bulk_answer_cut_mid_way_is_retried_and_the_repeat_counts_duplicates_not_copies() {
    let (server, proxy, client, index) =
        setup(FaultPlan::pass().with(bulk_rule(Fault::ResetMidResponse))).await;
    let sent = docs(20);
    let outcome = client
        .bulk_create(&index, sent.clone(), true)
        .await
        .expect("retried");
    // The server wrote them before the answer was cut; the retry finds them all there.
    assert_eq!(
        outcome.duplicates.len() + outcome.created.len(),
        20,
        "{outcome:?}"
    );
    assert!(outcome.failed.is_empty());
    assert_eq!(stored_ids(&server, &index).await, ids(&sent));
    assert_eq!(proxy.stats().resets, 1);
}

#[tokio::test]
async fn a_refused_bulk_is_retried_and_written_once() {
    let (server, proxy, client, index) =
        setup(FaultPlan::pass().with(bulk_rule(Fault::Refuse).times(2))).await;
    let sent = docs(10);
    let outcome = client
        .bulk_create(&index, sent.clone(), true)
        .await
        .expect("retried");
    assert_eq!(outcome.created.len(), 10, "{outcome:?}");
    assert_eq!(stored_ids(&server, &index).await, ids(&sent));
    assert_eq!(proxy.stats().refused, 2);
}

#[tokio::test]
async fn a_bulk_answer_held_past_the_timeout_is_retried_without_copies() {
    let delay = Fault::Delay(SHORT_TIMEOUT * 3);
    let (server, proxy, _, index) = setup(FaultPlan::pass().with(bulk_rule(delay))).await;
    let client = client_with_timeout(&proxy.url(), SHORT_TIMEOUT);
    let sent = docs(10);
    let outcome = client
        .bulk_create(&index, sent.clone(), true)
        .await
        .expect("retried");
    assert_eq!(
        outcome.created.len() + outcome.duplicates.len(),
        10,
        "{outcome:?}"
    );
    assert_eq!(stored_ids(&server, &index).await, ids(&sent));
    assert_eq!(proxy.stats().delayed, 1);
}

#[tokio::test]
async fn a_bulk_that_always_gets_503_fails_with_an_error_naming_the_index() {
    let (_server, proxy, client, index) =
        setup(FaultPlan::pass().with(bulk_rule(Fault::Status(503)).always())).await;
    let error = client
        .bulk_create(&index, docs(3), true)
        .await
        .expect_err("nothing can be written");
    assert!(
        matches!(error, EsError::Status { status: 503, .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&index), "{error}");
    assert_eq!(
        proxy.stats().statuses,
        u64::from(lookout::BULK_MAX_ATTEMPTS)
    );
}

async fn searchable_index(server: &TestServer) -> String {
    let index = unique_name("reliab-search");
    server
        .bulk_create(&index, &[json!({"@timestamp": "2026-11-01T00:00:00Z"})])
        .await;
    index
}

async fn search_error(fault: Fault) -> (EsError, String, Duration) {
    let server = TestServer::connect();
    let index = searchable_index(&server).await;
    let proxy = Proxy::start(&server.url).await;
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(fault).path("_search").always()));
    let client = client_with_timeout(&proxy.url(), SHORT_TIMEOUT);
    let started = Instant::now();
    let error = client
        .search::<serde_json::Value>(
            std::slice::from_ref(&index),
            None,
            json!({"query": {"match_all": {}}}),
        )
        .await
        .expect_err("the fault reaches the caller");
    (error, index, started.elapsed())
}

#[tokio::test]
async fn a_search_answer_held_past_the_timeout_fails_as_a_timeout_naming_the_index() {
    let held = Duration::from_secs(5);
    let (error, index, elapsed) = search_error(Fault::Delay(held)).await;
    assert!(
        matches!(error, EsError::Unreachable { timeout: true, .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&index), "{error}");
    assert!(
        elapsed < held,
        "the client waited {elapsed:?}, past its timeout"
    );
}

#[tokio::test]
async fn a_search_answer_that_is_not_json_is_a_clear_error_naming_the_index() {
    let (error, index, _) = search_error(Fault::NotJson(200)).await;
    assert!(matches!(error, EsError::BadAnswer { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&index) && text.contains("not JSON"), "{text}");
}

#[tokio::test]
async fn an_html_error_page_becomes_a_status_error_with_its_text() {
    let (error, index, _) = search_error(Fault::NotJson(502)).await;
    assert!(
        matches!(error, EsError::Status { status: 502, .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&index), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_search_cut_mid_answer_is_a_retryable_error_naming_the_index() {
    let (error, index, _) = search_error(Fault::ResetMidResponse).await;
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains(&index), "{error}");
}

#[tokio::test]
async fn a_refused_search_is_a_retryable_unreachable_error() {
    let (error, index, _) = search_error(Fault::Refuse).await;
    assert!(matches!(error, EsError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains(&index), "{error}");
}

#[tokio::test]
async fn the_same_client_works_again_after_the_server_restarts() {
    let mut own = OwnServer::start();
    let proxy = Proxy::start(&own.url).await;
    let client = client(&proxy.url());
    let index = unique_name("reliab-restart");
    let first = docs(5);
    client
        .bulk_create(&index, first.clone(), true)
        .await
        .expect("written");
    own.stop();
    let error = client
        .existing_ids(&index, &["doc-000".to_string()])
        .await
        .expect_err("the server is down");
    assert!(
        error.is_retryable() && error.to_string().contains(&index),
        "{error}"
    );
    let restarted = OwnServer::start();
    proxy.set_upstream(&restarted.url);
    // Its data was in memory: load what the test had written.
    let reload: Vec<(Option<String>, Value)> = first
        .iter()
        .map(|(id, doc)| (Some(id.clone()), doc.clone()))
        .collect();
    restarted.bulk(&index, &reload).await;
    let found = client
        .existing_ids(&index, &["doc-000".to_string(), "doc-999".to_string()])
        .await
        .expect("the client reconnects");
    assert_eq!(found, HashSet::from(["doc-000".to_string()]));
    let outcome = client
        .bulk_create(&index, docs(6), true)
        .await
        .expect("written");
    assert_eq!((outcome.created.len(), outcome.duplicates.len()), (1, 5));
    assert!(proxy.stats().upstream_down >= 1);
}
