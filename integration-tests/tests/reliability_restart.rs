//! The server restarts in the middle of an execution: the execution's bulk write is held by the
//! fault proxy, the test server is stopped and a new one started (its data lives in memory, so
//! the test loads it again: templates, source events, lookout's state), the proxy switches to
//! it, and the held request is dropped. The execution must finish on the new server with every
//! alert written once, and the next execution must add no copy.

mod reliability_support;

use chrono::{DateTime, TimeDelta, Utc};
use integration_tests::proxy::server::OwnServer;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::{read_json, shared_file, unique_name};
use lookout::Backoff;
use lookout::Config;
use lookout::ExecutionStatus;
use lookout::SystemClock;
use reliability_support::{rule_file, rules, t0};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long the bulk write is held: the restart happens meanwhile.
const HOLD: Duration = Duration::from_secs(3);
/// How long the test waits for the held request to arrive.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

/// The source index with the CloudTrail mapping and the events, on `server`.
async fn load_source(server: &OwnServer, index: &str, events: &[(Option<String>, Value)]) {
    let template = read_json(&shared_file(
        "fixtures/cloudtrail/index-template.opensearch.json",
    ));
    let mappings = template["template"]["mappings"].clone();
    let (status, answer) = server
        .request(
            "PUT",
            &format!("/{index}"),
            Some(json!({"mappings": mappings})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    server.bulk(index, events).await;
}

/// Every document of an index, with its id.
async fn dump(server: &OwnServer, index: &str) -> Vec<(Option<String>, Value)> {
    let (_, answer) = server
        .request(
            "POST",
            &format!("/{index}/_search"),
            Some(json!({"size": 10_000, "query": {"match_all": {}}})),
        )
        .await;
    answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|hit| {
            (
                hit["_id"].as_str().map(str::to_string),
                hit["_source"].clone(),
            )
        })
        .collect()
}

fn add_user(at: DateTime<Utc>) -> Value {
    lookout_generator::EventSpec::new("AddUserToGroup").to_document(at, Some(at))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_during_a_bulk_write_loses_and_duplicates_nothing() {
    let mut first = OwnServer::start();
    let proxy = Proxy::start(&first.url).await;
    let source = unique_name("reliab-restart-src");
    let events: Vec<(Option<String>, Value)> = (1..=3)
        .map(|n| {
            (
                Some(format!("evt-{n}")),
                add_user(t0() - TimeDelta::minutes(n)),
            )
        })
        .collect();
    load_source(&first, &source, &events).await;
    let mut config = Config::default();
    config.elasticsearch.url = proxy.url();
    config.elasticsearch.request_timeout = Duration::from_secs(10);
    config.alerts.index = unique_name("reliab-restart-alerts");
    config.engine.state_index = unique_name("reliab-restart-state");
    let backoff = Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };
    let engine = lookout::connect(&config, &SystemClock, backoff)
        .await
        .expect("the server answers");
    let text = rule_file(&rules()[0], &source);
    let rule = integration_tests::runnable_rule("rule.toml".as_ref(), &text);
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Stall(HOLD)).path("/_bulk")));
    let restart = async {
        let waited = Instant::now();
        while proxy.stats().stalled == 0 {
            assert!(
                waited.elapsed() < ARRIVAL_LIMIT,
                "the bulk write never came"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Mid-execution: keep what the server held, restart it, load it again.
        let state = dump(&first, &config.engine.state_index).await;
        first.stop();
        let second = OwnServer::start();
        let client = lookout::Client::new(&lookout::ElasticsearchConfig {
            url: second.url.clone(),
            ..Default::default()
        })
        .expect("a client for the new server");
        for (name, body) in lookout::index_templates(&config) {
            client
                .put_index_template(&name, &body)
                .await
                .expect("template");
        }
        load_source(&second, &source, &events).await;
        second.bulk(&config.engine.state_index, &state).await;
        proxy.set_upstream(&second.url);
        second
    };
    // Both in this task: the execution runs while the restart waits for its bulk write.
    let (report, second) = tokio::join!(engine.execute(&rule, t0()), restart);
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(report.record.alerts_created, 3);
    let next = engine.execute(&rule, t0() + TimeDelta::minutes(5)).await;
    assert_eq!(
        next.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        next.record
    );
    assert_eq!(next.record.alerts_created, 0);
    let alerts = dump(&second, &format!("{}*", config.alerts.index)).await;
    assert_eq!(alerts.len(), 3);
    assert_eq!(proxy.stats().stalled, 1);
}
