//! lookout's Elasticsearch client and state store against the live server: server detection,
//! point-in-time, paging, bulk create with duplicates, id lookups across a pattern, state and
//! execution records, and what an unreachable server looks like.

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use integration_tests::{TestServer, unique_name};
use lookout::{Client, Distribution, EsError, Flow, Hit, Paging};
use lookout::{ElasticsearchConfig, EngineConfig};
use lookout::{ExecutionRecord, ExecutionStatus, Gap, RuleState, StateStore};
use serde_json::{Value, json};
use std::collections::HashSet;

fn client() -> Client {
    let config = ElasticsearchConfig {
        url: integration_tests::server_url(),
        ..Default::default()
    };
    Client::new(&config).expect("the test server URL is a valid configuration")
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + TimeDelta::minutes(minute)
}

/// `count` small documents with increasing timestamps and a `seq` number.
fn numbered_docs(count: usize) -> Vec<Value> {
    (0..count)
        .map(|seq| json!({"@timestamp": at(seq as i64 / 7), "seq": seq}))
        .collect()
}

async fn index_with_docs(server: &TestServer, prefix: &str, docs: &[Value]) -> String {
    let index = unique_name(prefix);
    server
        .ok(
            elasticsearch::http::Method::Put,
            &format!("/{index}"),
            Some(json!({"mappings": {"properties": {"@timestamp": {"type": "date"}, "seq": {"type": "long"}}}})),
        )
        .await;
    server.bulk_create(&index, docs).await;
    index
}

fn seqs(hits: &[Hit]) -> Vec<u64> {
    hits.iter()
        .map(|hit| hit.source["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn server_info_reports_the_distribution_the_server_names() {
    let server = TestServer::connect();
    let root = server.ok(elasticsearch::http::Method::Get, "/", None).await;
    let info = client()
        .server_info()
        .await
        .expect("the server answers GET /");
    let expected = if root["version"]["distribution"] == "opensearch" {
        Distribution::OpenSearch
    } else {
        Distribution::Elasticsearch
    };
    assert_eq!(info.distribution, expected);
    assert_eq!(
        info.version,
        root["version"]["number"].as_str().expect("a version")
    );
}

/// Every hit `for_each_page` visits, and how many pages it visited.
async fn visit_all(
    client: &Client,
    index: &[String],
    point_in_time: bool,
    sort: Value,
    page_size: usize,
) -> (Vec<Hit>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let paging = Paging {
        index,
        page_size,
        point_in_time,
    };
    client
        .for_each_page(paging, json!({"sort": sort}), async |page: Vec<Hit>| {
            pages += 1;
            all.extend(page);
            Ok::<_, ()>(Flow::More)
        })
        .await
        .expect("every page answers");
    (all, pages)
}

#[tokio::test]
async fn paging_inside_a_point_in_time_over_a_pattern_sees_every_index() {
    let server = TestServer::connect();
    let prefix = unique_name("es-pit");
    index_with_docs(&server, &format!("{prefix}-a"), &numbered_docs(3)).await;
    index_with_docs(&server, &format!("{prefix}-b"), &numbered_docs(4)).await;
    let client = client();
    let pattern = vec![format!("{prefix}-*")];
    let sort = json!([{"@timestamp": "asc"}]);
    let (hits, pages) = visit_all(&client, &pattern, true, sort, 100).await;
    assert_eq!((hits.len(), pages), (7, 1));
    let indices: HashSet<&str> = hits.iter().map(|hit| hit.index.as_str()).collect();
    assert_eq!(indices.len(), 2, "hits come from both indices: {indices:?}");
}

#[tokio::test]
async fn paging_without_a_point_in_time_sees_every_hit_that_shares_a_timestamp_across_indices() {
    // Three indices whose documents share timestamps: `_doc` is unique only within a shard, so
    // `search_after [timestamp, _doc]` would skip hits of one index whose `_doc` equals that of
    // the last hit of a page from another. Runs of equal timestamps longer than a page, shorter,
    // and single ones, over page sizes that put boundaries inside the runs.
    let server = TestServer::connect();
    let prefix = unique_name("es-ties");
    let mut expected = HashSet::new();
    for (n, name) in ["a", "b", "c"].into_iter().enumerate() {
        let docs: Vec<Value> = (0..7_usize)
            .map(|i| {
                let minute = match i {
                    0..=3 => 0,
                    4 | 5 => 1,
                    _ => 2 + n as i64,
                };
                json!({"@timestamp": at(minute), "seq": n * 100 + i})
            })
            .collect();
        index_with_docs(&server, &format!("{prefix}-{name}"), &docs).await;
        expected.extend(docs.iter().map(|doc| doc["seq"].as_u64().expect("seq")));
    }
    let client = client();
    let pattern = vec![format!("{prefix}-*")];
    let sort = json!([{"@timestamp": "asc"}]);
    for page_size in [2, 3, 5, 100] {
        let (hits, _) = visit_all(&client, &pattern, false, sort.clone(), page_size).await;
        let seen: Vec<u64> = seqs(&hits);
        let unique: HashSet<u64> = seen.iter().copied().collect();
        assert_eq!(unique, expected, "page size {page_size}: {seen:?}");
        assert_eq!(
            seen.len(),
            expected.len(),
            "page size {page_size}: each hit once"
        );
        let times: Vec<&Value> = hits.iter().map(|hit| &hit.source["@timestamp"]).collect();
        assert!(
            times
                .windows(2)
                .all(|pair| pair[0].as_str() <= pair[1].as_str()),
            "page size {page_size}: in timestamp order: {times:?}"
        );
    }
}

#[tokio::test]
async fn paging_over_a_pattern_matching_nothing_or_a_missing_index_visits_no_page() {
    let client = client();
    let sort = json!([{"@timestamp": "asc"}]);
    for point_in_time in [true, false] {
        let pattern = vec![format!("{}-*", unique_name("es-nothing"))];
        let (hits, pages) = visit_all(&client, &pattern, point_in_time, sort.clone(), 10).await;
        assert_eq!((hits.len(), pages), (0, 0));
        let missing = vec![unique_name("es-missing")];
        let (hits, pages) = visit_all(&client, &missing, point_in_time, sort.clone(), 10).await;
        assert_eq!((hits.len(), pages), (0, 0), "a missing index is ignored");
    }
}

#[tokio::test]
async fn paging_goes_through_more_hits_than_a_page_with_and_without_a_point_in_time() {
    let server = TestServer::connect();
    let index = index_with_docs(&server, "es-paging", &numbered_docs(250)).await;
    let client = client();
    let target = vec![index.clone()];
    let expected: Vec<u64> = (0..250).collect();
    let sort = json!([{"@timestamp": "asc"}, {"seq": "asc"}]);
    for point_in_time in [true, false] {
        let (hits, pages) = visit_all(&client, &target, point_in_time, sort.clone(), 100).await;
        assert_eq!(seqs(&hits), expected, "point in time: {point_in_time}");
        assert_eq!(
            pages, 3,
            "two full pages and a short one, which is the last"
        );
    }
}

fn alert_docs(ids: &[&str]) -> Vec<(String, Value)> {
    ids.iter()
        .map(|id| (id.to_string(), json!({"@timestamp": at(0), "name": id})))
        .collect()
}

#[tokio::test]
async fn bulk_create_writes_new_ids_and_reports_existing_ones_as_duplicates() {
    let server = TestServer::connect();
    let index = unique_name("es-bulk");
    let client = client();
    let ids = ["a1", "a2", "a3"];

    let first = client
        .bulk_create(&index, alert_docs(&ids), true)
        .await
        .expect("written");
    assert_eq!(first.created, ids);
    assert!(first.duplicates.is_empty() && first.failed.is_empty());

    let again = client
        .bulk_create(&index, alert_docs(&ids), true)
        .await
        .expect("answered");
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.duplicates, ids);
    assert!(again.failed.is_empty());
    assert_eq!(server.count(&index).await, 3);
}

#[tokio::test]
async fn existing_ids_finds_ids_in_every_index_behind_a_pattern() {
    let prefix = unique_name("es-ids");
    let client = client();
    client
        .bulk_create(&format!("{prefix}-000001"), alert_docs(&["x1", "x2"]), true)
        .await
        .expect("written");
    client
        .bulk_create(&format!("{prefix}-000002"), alert_docs(&["x3"]), true)
        .await
        .expect("written");
    let wanted: Vec<String> = ["x1", "x3", "nope"]
        .iter()
        .map(|id| id.to_string())
        .collect();

    let found = client
        .existing_ids(&format!("{prefix}-*"), &wanted)
        .await
        .expect("looked up");
    let expected: HashSet<String> = ["x1", "x3"].iter().map(|id| id.to_string()).collect();
    assert_eq!(found, expected);

    let none = client
        .existing_ids(&format!("{}-*", unique_name("es-ids-none")), &wanted)
        .await
        .expect("no index is fine");
    assert!(none.is_empty());
    let none = client
        .existing_ids(&unique_name("es-ids-missing"), &wanted)
        .await
        .expect("a missing index is fine");
    assert!(none.is_empty());
}

#[tokio::test]
async fn documents_round_trip_and_a_missing_one_is_none() {
    let index = unique_name("es-doc");
    let client = client();
    assert_eq!(
        client
            .get_doc(&index, "d1")
            .await
            .expect("a missing index is fine"),
        None
    );
    client
        .put_doc(&index, "d1", &json!({"v": 1}), true)
        .await
        .expect("written");
    client
        .put_doc(&index, "d1", &json!({"v": 2}), false)
        .await
        .expect("replaced");
    assert_eq!(
        client.get_doc(&index, "d1").await.expect("read"),
        Some(json!({"v": 2}))
    );
    assert_eq!(client.get_doc(&index, "other").await.expect("read"), None);
    let hits = client
        .search_docs(&index, json!({"query": {"match_all": {}}}))
        .await
        .expect("searched");
    assert_eq!(hits.len(), 1);
    assert!(
        client
            .search_docs(&unique_name("es-doc-missing"), json!({}))
            .await
            .expect("fine")
            .is_empty()
    );
}

#[tokio::test]
async fn field_caps_lists_the_mapped_fields() {
    let server = TestServer::connect();
    let index = unique_name("logs-aws.cloudtrail-es-caps");
    server.create_cloudtrail_index(&index).await;
    let caps = client().field_caps(&[index]).await.expect("answered");
    assert!(
        caps["fields"]["event.action"].is_object(),
        "{}",
        caps["fields"].as_object().map_or(0, |f| f.len())
    );
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        state_index: unique_name("es-state"),
        executions_index: unique_name("es-executions"),
        ..Default::default()
    }
}

#[tokio::test]
async fn rule_state_saved_is_loaded_back() {
    let store = StateStore::new(client(), &engine_config());
    store.install_templates().await.expect("templates install");
    assert_eq!(store.load("rule-a").await.expect("read"), None);
    assert!(store.load_all().await.expect("read").is_empty());

    let mut state = RuleState::new("rule-a");
    state.covered_to = Some(at(10));
    state.last_status = Some(ExecutionStatus::Succeeded);
    state.last_execution_at = Some(at(11));
    store.save(&state).await.expect("saved");
    store.save(&RuleState::new("rule-b")).await.expect("saved");
    assert_eq!(
        store.load("rule-a").await.expect("read"),
        Some(state.clone())
    );

    state.covered_to = Some(at(15));
    state.last_status = Some(ExecutionStatus::Failed);
    state.last_error = Some("search on logs-*: HTTP 500".to_string());
    store.save(&state).await.expect("saved again");
    let all = store.load_all().await.expect("read");
    assert_eq!(all, vec![state, RuleState::new("rule-b")]);
}

#[tokio::test]
async fn an_execution_record_is_written_and_found_and_gaps_are_recorded_once() {
    let config = engine_config();
    let client = client();
    let store = StateStore::new(client.clone(), &config);
    store.install_templates().await.expect("templates install");
    let record = ExecutionRecord {
        execution_uuid: "0b5a3c9e-1111-4000-8000-000000000001".to_string(),
        rule_id: "rule-x".to_string(),
        rule_name: "Rule X".to_string(),
        started_at: at(30),
        window_from: at(24),
        window_to: at(30),
        status: ExecutionStatus::Succeeded,
        hits: 3,
        alerts_created: 2,
        duplicates: 1,
        alerts_suppressed: 0,
        dead_letters: 0,
        search_ms: 12,
        write_ms: 8,
        total_ms: 25,
        warnings: Vec::new(),
        error: None,
        gap: None,
        instance: None,
    };
    store.record_execution(&record).await.expect("recorded");
    client
        .refresh(&config.executions_index)
        .await
        .expect("refreshed");
    assert_eq!(
        store.executions("rule-x", 10).await.expect("read"),
        vec![record]
    );
    assert!(
        store
            .executions("rule-y", 10)
            .await
            .expect("read")
            .is_empty()
    );

    store
        .record_gap("rule-x", at(0), at(20))
        .await
        .expect("recorded");
    store
        .record_gap("rule-x", at(0), at(20))
        .await
        .expect("recorded again");
    assert_eq!(
        store.gaps("rule-x").await.expect("read"),
        vec![Gap {
            from: at(0),
            to: at(20)
        }]
    );
    let stored = TestServer::connect()
        .all_docs(&config.executions_index)
        .await;
    assert_eq!(stored.len(), 2, "one execution and one gap document");
}

#[tokio::test]
async fn a_closed_port_is_unreachable_at_once_and_the_password_stays_secret() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    };
    let config = ElasticsearchConfig {
        url: format!("http://elastic:hunter2@127.0.0.1:{port}"),
        ..Default::default()
    };
    let client = Client::new(&config).expect("valid configuration");
    let error = client
        .server_info()
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(error, EsError::Unreachable { timeout: false, .. }),
        "refused, not timed out: {error:?}"
    );
    assert!(error.is_retryable());
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}
