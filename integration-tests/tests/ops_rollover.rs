//! Indices that must not grow without end, against the live server: the alerts index is a
//! write alias that rolls over, and deduplication holds across its generations; execution
//! records older than the retention go, but never those that recovering lost state reads.

mod reliability_support;

use chrono::{DateTime, TimeDelta, Utc};
use elasticsearch::http::Method;
use integration_tests::{TestServer, unique_name};
use lookout::{
    AlertsTarget, Backoff, Config, ExecutionRecord, ExecutionStatus, Housekeeping, IndexName,
    StateStore, SystemClock,
};
use reliability_support::{iso, rule_file, rules, samples, t0};
use serde_json::{Value, json};

fn config(prefix: &str) -> Config {
    let mut config = Config::default();
    config.elasticsearch.url = integration_tests::server_url();
    config.alerts.index = unique_name(&format!("{prefix}-alerts"));
    config.engine.state_index = unique_name(&format!("{prefix}-state"));
    config.engine.executions_index = unique_name(&format!("{prefix}-executions"));
    config
}

fn client(config: &Config) -> lookout::Client {
    lookout::Client::new(&config.elasticsearch).expect("a client")
}

async fn connect(config: &Config) -> lookout::Engine {
    let backoff = Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };
    lookout::connect(config, &SystemClock, backoff)
        .await
        .expect("the test server answers")
}

fn add_user(at: DateTime<Utc>) -> Value {
    let mut doc = samples()
        .into_iter()
        .find(|doc| doc["event"]["action"] == "AddUserToGroup")
        .expect("a fixture sample of AddUserToGroup");
    doc["event"]["outcome"] = json!("success");
    doc["@timestamp"] = json!(iso(at));
    doc
}

/// The alerts of every generation, as (index, id).
async fn alerts(server: &TestServer, alias: &str) -> Vec<(String, String)> {
    server.refresh(&format!("{alias}*")).await;
    let mut found: Vec<(String, String)> = server
        .all_docs(&format!("{alias}*"))
        .await
        .iter()
        .map(|hit| {
            let text = |key: &str| hit[key].as_str().unwrap_or_default().to_string();
            (text("_index"), text("_id"))
        })
        .collect();
    found.sort();
    found
}

/// Rolls the alias over with lookout's housekeeping, its conditions set so that the write
/// index (one alert) meets one: `_rollover` where the server has it, by hand (the next index,
/// then the write alias moved to it) where it does not.
async fn force_rollover(server: &TestServer, config: &Config) -> String {
    let mut forced = config.clone();
    forced.alerts.rollover.max_docs = Some(1);
    let mut housekeeping = Housekeeping::new(client(&forced), &forced);
    let report = housekeeping.round(Utc::now()).await;
    let by = housekeeping.rollover_by();
    println!("{}: rolled over by {by:?}", server.info().await.label);
    assert!(
        matches!(
            by,
            Some(lookout::RolloverBy::Lookout | lookout::RolloverBy::LookoutByHand)
        ),
        "{by:?}"
    );
    report.rolled_over_to.expect("the alias rolled over")
}

/// The test: an alert written before a rollover is not written again by a later
/// execution whose window holds its event, though writes now go to a new, empty index.
#[tokio::test]
async fn a_forced_rollover_between_two_executions_of_the_same_window_writes_no_duplicate() {
    let server = TestServer::connect();
    let config = config("rollover");
    let engine = connect(&config).await;
    let alias = &config.alerts.index;
    let first = lookout::first_generation(alias);
    match client(&config).resolve_name(alias).await.expect("resolve") {
        IndexName::Alias {
            indices,
            write_index,
        } => {
            assert_eq!(indices, vec![first.clone()]);
            assert_eq!(write_index.as_deref(), Some(first.as_str()));
        }
        other => panic!("the alerts index is a write alias after start, not {other:?}"),
    }
    let source = unique_name("rollover-src");
    server.create_cloudtrail_index(&source).await;
    server
        .bulk_create(&source, &[add_user(t0() - TimeDelta::minutes(1))])
        .await;
    let text = rule_file(&rules()[0], &source);
    let rule = integration_tests::runnable_rule(std::path::Path::new("rule-0.toml"), &text);

    let report = engine.execute(&rule, t0()).await;
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    let before = alerts(&server, alias).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].0, first, "the alert is in the first generation");

    let new_index = force_rollover(&server, &config).await;
    assert_eq!(new_index, format!("{alias}-000002"));
    match client(&config).resolve_name(alias).await.expect("resolve") {
        IndexName::Alias {
            indices,
            write_index,
        } => {
            assert_eq!(indices, vec![first.clone(), new_index.clone()]);
            assert_eq!(write_index.as_deref(), Some(new_index.as_str()));
        }
        other => panic!("still an alias after the rollover, not {other:?}"),
    }

    // The next window overlaps the first and holds the same event.
    let again = engine.execute(&rule, t0() + TimeDelta::minutes(1)).await;
    assert!(!again.failed(), "{:?}", again.record);
    assert_eq!(again.record.hits, 1, "{:?}", again.record);
    assert_eq!(again.record.alerts_created, 0, "{:?}", again.record);
    assert_eq!(again.record.duplicates, 1, "{:?}", again.record);
    assert_eq!(
        alerts(&server, alias).await,
        before,
        "no alert in {new_index}"
    );

    // A new event after the rollover goes to the new write index.
    server
        .bulk_create(&source, &[add_user(t0() + TimeDelta::minutes(2))])
        .await;
    let later = engine.execute(&rule, t0() + TimeDelta::minutes(6)).await;
    assert_eq!(later.record.alerts_created, 1, "{:?}", later.record);
    let after = alerts(&server, alias).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().any(|(index, _)| *index == new_index),
        "{after:?}"
    );
}

/// An alerts index made by an older lookout (a concrete index of the configured name) keeps
/// working: start-up keeps it, housekeeping never rolls it over, alerts are written to it.
#[tokio::test]
async fn a_concrete_alerts_index_of_an_older_lookout_is_kept() {
    let server = TestServer::connect();
    let config = config("rollover-old");
    let alias = &config.alerts.index;
    server.ok(Method::Put, &format!("/{alias}"), None).await;
    let engine = connect(&config).await;
    let target = lookout::prepare_alerts(&client(&config), alias).await;
    assert_eq!(target.expect("prepared"), AlertsTarget::ConcreteIndex);
    let mut housekeeping = Housekeeping::new(client(&config), &config);
    let report = housekeeping.round(Utc::now()).await;
    assert_eq!(report.rolled_over_to, None);
    assert_eq!(
        housekeeping.rollover_by(),
        Some(lookout::RolloverBy::Nobody)
    );

    let source = unique_name("rollover-old-src");
    server.create_cloudtrail_index(&source).await;
    server
        .bulk_create(&source, &[add_user(t0() - TimeDelta::minutes(1))])
        .await;
    let text = rule_file(&rules()[0], &source);
    let rule = integration_tests::runnable_rule(std::path::Path::new("rule-0.toml"), &text);
    let report = engine.execute(&rule, t0()).await;
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    let written = alerts(&server, alias).await;
    assert_eq!(written.len(), 1);
    assert_eq!(&written[0].0, alias);
}

fn record(rule_id: &str, started_at: DateTime<Utc>, status: ExecutionStatus) -> ExecutionRecord {
    ExecutionRecord {
        execution_uuid: unique_name(&format!("exec-{rule_id}")),
        rule_id: rule_id.to_string(),
        rule_name: rule_id.to_string(),
        started_at,
        window_from: started_at - TimeDelta::minutes(5),
        window_to: started_at,
        status,
        hits: 0,
        alerts_created: 0,
        duplicates: 0,
        alerts_suppressed: 0,
        search_ms: 0,
        write_ms: 0,
        total_ms: 0,
        dead_letters: 0,
        warnings: Vec::new(),
        error: None,
        gap: None,
        instance: None,
    }
}

/// Backdated records: those older than the retention go, except, per rule, the newest that did
/// not fail and the oldest (what state recovery reads when the state is lost), so recovery
/// finds the same coverage before and after; gaps and other deployments' records stay; another
/// instance of the deployment does no round within the hour; the next round deletes nothing.
#[tokio::test]
async fn execution_records_past_the_retention_go_but_what_state_recovery_reads_stays() {
    let server = TestServer::connect();
    let config = config("retention");
    let _engine = connect(&config).await;
    let store = StateStore::for_config(client(&config), &config);
    let now = Utc::now();
    let days = TimeDelta::days;
    use ExecutionStatus::{Failed, Succeeded};
    let plan = [
        // a: the newest success is recent; of the old ones the newest success and the oldest stay.
        ("a", days(40), Succeeded, true),
        ("a", days(39), Failed, false),
        ("a", days(35), Succeeded, true),
        ("a", days(1), Succeeded, true),
        // b: never succeeded: recovery reads the oldest start.
        ("b", days(40), Failed, true),
        ("b", days(38), Failed, false),
        // c: its newest success is old.
        ("c", days(50), Succeeded, true),
        ("c", days(45), Failed, false),
        ("c", days(31), Failed, false),
    ];
    let mut kept = Vec::new();
    for (rule_id, age, status, stays) in plan {
        let record = record(rule_id, now - age, status);
        store.record_execution(&record).await.expect("recorded");
        if stays {
            kept.push(record.execution_uuid.clone());
        }
    }
    store
        .record_gap("c", now - days(60), now - days(55))
        .await
        .expect("gap recorded");
    let mut other = config.clone();
    other.alerts.namespace = "other-space".into();
    let other_store = StateStore::for_config(client(&other), &other);
    let foreign = record("a", now - days(90), Succeeded);
    (other_store.record_execution(&foreign).await).expect("recorded");
    kept.push(foreign.execution_uuid.clone());
    server.refresh(&config.engine.executions_index).await;

    let coverage = |store: &StateStore, rule_id: &'static str| {
        let store = store.clone();
        async move {
            let found = store.recorded_coverage(rule_id).await.expect("read");
            found.map(|c| (c.covered_to, c.started))
        }
    };
    let mut recovered = Vec::new();
    for rule_id in ["a", "b", "c"] {
        recovered.push(coverage(&store, rule_id).await);
    }

    let mut housekeeping = Housekeeping::new(client(&config), &config);
    let report = housekeeping.round(now).await;
    assert!(report.claimed, "{report:?}");
    assert_eq!(report.pruned, 4, "{report:?}");
    let left: Vec<String> = server
        .all_docs(&config.engine.executions_index)
        .await
        .iter()
        .filter(|hit| hit["_source"]["event"]["action"] == "execute-rule")
        .map(|hit| hit["_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let (mut left_sorted, mut kept_sorted) = (left.clone(), kept.clone());
    left_sorted.sort();
    kept_sorted.sort();
    assert_eq!(left_sorted, kept_sorted);
    for (rule_id, before) in ["a", "b", "c"].into_iter().zip(recovered) {
        assert_eq!(
            coverage(&store, rule_id).await,
            before,
            "rule {rule_id} recovers the same coverage"
        );
    }
    let gaps = store.gaps("c").await.expect("gaps load");
    assert_eq!(gaps.len(), 1, "the gap record stays");
    // Another instance of the deployment in the same hour: the round is done already.
    let mut second = Housekeeping::new(client(&config), &config);
    let skipped = second.round(now + TimeDelta::minutes(59)).await;
    assert_eq!(skipped, lookout::HousekeepingReport::default());
    // An hour later, a round again, and nothing is left to delete.
    let again = second.round(now + TimeDelta::minutes(61)).await;
    assert!(again.claimed, "{again:?}");
    assert_eq!(again.pruned, 0, "{again:?}");
}

/// What housekeeping costs, counted at a proxy: the first round learns what the alerts index is
/// (its alias and the write index's settings); a later round is the claim (a read and a
/// conditional write), the `_rollover` request (or, on a server without it, the three reads that
/// check the conditions by hand), and the search for old records (no `_delete_by_query` when none is old); another instance in the same hour reads
/// the claim and stops.
#[tokio::test]
async fn a_housekeeping_round_costs_a_few_requests_an_hour() {
    let server = TestServer::connect();
    let proxy = integration_tests::proxy::Proxy::start(&server.url).await;
    let mut config = config("rollover-cost");
    let _engine = connect(&config).await;
    config.elasticsearch.url = proxy.url();
    let mut housekeeping = Housekeeping::new(client(&config), &config);
    let now = Utc::now();
    let first = housekeeping.round(now).await;
    assert!(first.claimed, "{first:?}");
    let learned = proxy.requests();
    println!("first round: {learned:#?}");
    let later = housekeeping.round(now + TimeDelta::minutes(61)).await;
    assert!(later.claimed, "{later:?}");
    let requests = proxy.requests()[learned.len()..].to_vec();
    println!("a later round: {requests:#?}");
    // With _rollover, one request; by hand, the alias, the write index's stats and settings.
    let rollover = match housekeeping.rollover_by() {
        Some(lookout::RolloverBy::Lookout) => 1,
        Some(lookout::RolloverBy::LookoutByHand) => 3,
        other => panic!("lookout rolls these alerts over, not {other:?}"),
    };
    assert_eq!(requests.len(), 2 + rollover + 1, "{requests:#?}");
    assert!(!requests.iter().any(|r| r.contains("_delete_by_query")));
    let before = proxy.requests().len();
    let mut other = Housekeeping::new(client(&config), &config);
    let skipped = other.round(now + TimeDelta::minutes(62)).await;
    assert!(!skipped.claimed);
    assert_eq!(
        proxy.requests().len() - before,
        1,
        "{:#?}",
        proxy.requests()
    );
}
