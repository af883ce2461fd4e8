//! The engine with bad input and failing executions, against the live server through the fault
//! proxy: a failed execution leaves its window to the next one (the first execution too);
//! documents without timestamps, with odd types or of 1 MB+; an index pattern matching
//! nothing; a mapping conflict across two indices; shard failures; answers that are not JSON;
//! KQL values that look like query DSL.

mod reliability_support;

use chrono::{DateTime, TimeDelta, Utc};
use elasticsearch::http::Method;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::server::{Capability, require_all};
use integration_tests::{TestServer, unique_name};
use lookout::Backoff;
use lookout::Config;
use lookout::Rule;
use lookout::{Engine, ExecutionReport, SystemClock};
use lookout::{ExecutionStatus, StateStore};
use reliability_support::{iso, rule_file, rules, samples, t0};
use serde_json::{Value, json};
use std::time::Duration;

struct Env {
    server: TestServer,
    proxy: Proxy,
    config: Config,
    engine: Engine,
    /// The prefix of this test's source indices; rules search `<prefix>-*`.
    prefix: String,
}

impl Env {
    async fn new() -> Env {
        let server = TestServer::connect();
        let proxy = Proxy::start(&server.url).await;
        let mut config = Config::default();
        config.elasticsearch.url = proxy.url();
        config.elasticsearch.request_timeout = Duration::from_secs(5);
        config.alerts.index = unique_name("reliab-eng-alerts");
        config.engine.state_index = unique_name("reliab-eng-state");
        config.engine.executions_index = unique_name("reliab-eng-executions");
        let backoff = Backoff {
            max_attempts: Some(1),
            ..Backoff::default()
        };
        let engine = lookout::connect(&config, &SystemClock, backoff)
            .await
            .expect("the test server answers");
        Env {
            server,
            proxy,
            config,
            engine,
            prefix: unique_name("reliab-eng-src"),
        }
    }

    /// A CloudTrail-mapped source index `<prefix>-<suffix>`.
    async fn cloudtrail_index(&self, suffix: &str) -> String {
        let index = format!("{}-{suffix}", self.prefix);
        self.server.create_cloudtrail_index(&index).await;
        index
    }

    /// Test rule `n` (0: AddUserToGroup, 1: CreateGroup, 2: logins and keys) over this
    /// test's source indices, or with its query replaced.
    fn rule(&self, n: usize, query: Option<&str>) -> Rule {
        let mut text = rule_file(&rules()[n], &format!("{}-*", self.prefix));
        if let Some(query) = query {
            text = text.replace(rules()[n].query, query);
        }
        let path = std::path::PathBuf::from(format!("rule-{n}.toml"));
        integration_tests::runnable_rule(&path, &text)
    }

    async fn execute(&self, rule: &Rule, at: DateTime<Utc>) -> ExecutionReport {
        self.engine.execute(rule, at).await
    }

    async fn alerts(&self) -> Vec<Value> {
        self.server
            .all_docs(&format!("{}*", self.config.alerts.index))
            .await
    }

    async fn covered_to(&self, rule: &Rule) -> Option<DateTime<Utc>> {
        let client = lookout::Client::new(&self.config.elasticsearch).expect("client");
        StateStore::for_config(client, &self.config)
            .load(&rule.rule_id)
            .await
            .expect("the state loads")
            .and_then(|state| state.covered_to)
    }

    /// A source index holding one AddUserToGroup event a minute before t0, and rule 0 over it.
    async fn one_event_before_t0(&self) -> (String, Rule) {
        let index = self.cloudtrail_index("a").await;
        self.server
            .bulk_create(&index, &[add_user(t0() - minutes(1))])
            .await;
        (index, self.rule(0, None))
    }

    fn fail(&self, rule: FaultRule) {
        self.proxy.set_plan(FaultPlan::pass().with(rule));
    }

    fn heal(&self) {
        self.proxy.set_plan(FaultPlan::pass());
    }
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// A fixture sample with this action and outcome, stamped at `at` (absent when `None`).
fn event(action: &str, outcome: &str, at: Option<DateTime<Utc>>) -> Value {
    let mut doc = samples()
        .into_iter()
        .find(|doc| doc["event"]["action"] == action)
        .unwrap_or_else(|| panic!("no fixture sample has event.action {action}"));
    doc["event"]["outcome"] = json!(outcome);
    match at {
        Some(at) => doc["@timestamp"] = json!(iso(at)),
        None => {
            doc.as_object_mut().expect("an object").remove("@timestamp");
        }
    }
    doc
}

fn add_user(at: DateTime<Utc>) -> Value {
    event("AddUserToGroup", "success", Some(at))
}

/// Every search of source events: the single-page search (`/<index>/_search`) and the pages
/// inside a point-in-time (`/_search`).
fn search_rule(fault: Fault) -> FaultRule {
    FaultRule::new(fault)
        .method("POST")
        .path("_search")
        .always()
}

#[tokio::test]
async fn a_first_execution_that_fails_leaves_its_whole_window_to_the_next() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    // Inside the first window, before the second execution's own window starts.
    env.server
        .bulk_create(&index, &[add_user(t0() - minutes(5))])
        .await;
    let rule = env.rule(0, None);
    env.fail(search_rule(Fault::Status(503)));
    assert!(env.execute(&rule, t0()).await.failed());
    env.heal();
    let report = env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(report.record.window_from, t0() - minutes(6));
    assert_eq!(env.alerts().await.len(), 1);
}

#[tokio::test]
async fn a_failed_execution_keeps_its_window_uncovered_and_the_next_tick_searches_it() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    let rule = env.rule(0, None);
    assert!(!env.execute(&rule, t0()).await.failed());
    env.server
        .bulk_create(&index, &[add_user(t0() + minutes(2))])
        .await;
    env.fail(FaultRule::new(Fault::Status(503)).path("/_bulk").always());
    let failed = env.execute(&rule, t0() + minutes(5)).await;
    assert!(failed.failed(), "{:?}", failed.record);
    assert!(failed.record.error.as_deref().unwrap_or("").contains("503"));
    assert_eq!(env.covered_to(&rule).await, Some(t0()));
    env.heal();
    let next = env.execute(&rule, t0() + minutes(10)).await;
    // From where coverage stood, less the rule's minute of lookback (the overlap a late
    // execution keeps).
    assert_eq!(
        next.record.window_from,
        t0() - minutes(1),
        "{:?}",
        next.record
    );
    assert_eq!((next.record.alerts_created, next.record.duplicates), (1, 0));
    assert_eq!(env.covered_to(&rule).await, Some(t0() + minutes(10)));
}

#[tokio::test]
async fn documents_without_timestamps_or_with_odd_types_alert_only_when_they_match() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    let mut boolean_outcome = add_user(t0() - minutes(1));
    boolean_outcome["event"]["outcome"] = json!(true);
    let mut epoch_millis = add_user(t0() - minutes(2));
    epoch_millis["@timestamp"] = json!((t0() - minutes(2)).timestamp_millis());
    let no_timestamp = event("AddUserToGroup", "success", None);
    env.server
        .bulk_create(&index, &[no_timestamp, boolean_outcome, epoch_millis])
        .await;
    let report = env.execute(&env.rule(0, None), t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 1, "only the epoch-millis event matches");
    assert_eq!(
        alerts[0]["_source"]["kibana.alert.original_time"],
        json!((t0() - minutes(2)).timestamp_millis())
    );
}

#[tokio::test]
async fn a_document_over_one_megabyte_alerts_with_its_whole_source() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    let mut big = add_user(t0() - minutes(1));
    let message = "m".repeat(1_500_000);
    big["message"] = json!(message);
    env.server.bulk_create(&index, &[big]).await;
    let report = env.execute(&env.rule(0, None), t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["_source"]["message"].as_str().map(str::len),
        Some(1_500_000)
    );
}

#[tokio::test]
async fn an_index_pattern_matching_nothing_is_a_warning_and_the_window_is_covered() {
    let env = Env::new().await;
    let rule = env.rule(0, None);
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::PartialFailure,
        "{:?}",
        report.record
    );
    assert!(
        report
            .record
            .warnings
            .iter()
            .any(|w| w.contains("matches no index"))
    );
    assert_eq!(env.covered_to(&rule).await, Some(t0()));
}

#[tokio::test]
async fn a_mapping_conflict_across_indices_fails_naming_the_index_and_keeps_the_window() {
    let env = Env::new().await;
    let good = env.cloudtrail_index("a").await;
    env.server
        .bulk_create(&good, &[add_user(t0() - minutes(1))])
        .await;
    // The other index maps user.name (a keyword in CloudTrail) as long.
    let conflicting = format!("{}-b", env.prefix);
    env.server
        .ok(
            Method::Put,
            &format!("/{conflicting}"),
            Some(json!({"mappings": {"properties": {
                "@timestamp": {"type": "date"},
                "user": {"properties": {"name": {"type": "long"}}},
            }}})),
        )
        .await;
    env.server
        .bulk_create(
            &conflicting,
            &[json!({"@timestamp": iso(t0()), "user": {"name": 7}})],
        )
        .await;
    let rule = env.rule(0, Some("user.name: alice or event.action: AddUserToGroup"));
    let report = env.execute(&rule, t0()).await;
    let outcome = (report.record.status, report.record.alerts_created);
    match outcome {
        // A server that answers for the good index and reports the other's failure, or that
        // fails the search: either way the window is not covered and the error names it.
        (ExecutionStatus::Failed, _) => {
            let error = report.record.error.clone().unwrap_or_default();
            assert!(
                error.contains(&conflicting) || error.contains(&env.prefix),
                "{error}"
            );
            assert_eq!(env.covered_to(&rule).await, Some(t0() - minutes(6)));
        }
        // A server that searches the long field leniently: the good index's event alerts.
        (_, created) => assert_eq!(created, 1, "{:?}", report.record),
    }
    env.server.delete_index(&conflicting).await;
    let next = env.execute(&rule, t0() + minutes(5)).await;
    assert!(!next.failed(), "{:?}", next.record);
    assert_eq!(env.alerts().await.len(), 1);
}

#[tokio::test]
async fn a_shard_failure_writes_what_answered_and_leaves_the_window_uncovered() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    env.fail(search_rule(Fault::ShardFailure));
    let report = env.execute(&rule, t0()).await;
    assert!(report.failed(), "{:?}", report.record);
    assert!(
        report
            .record
            .error
            .as_deref()
            .unwrap_or("")
            .contains("shard")
    );
    assert_eq!(env.alerts().await.len(), 1, "the answered hits are alerted");
    assert_eq!(env.covered_to(&rule).await, Some(t0() - minutes(6)));
    env.heal();
    let next = env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(
        next.record.window_from,
        t0() - minutes(6),
        "{:?}",
        next.record
    );
    assert_eq!(next.record.alerts_created, 0);
    assert!(next.record.duplicates >= 1);
    assert_eq!(env.alerts().await.len(), 1);
}

#[tokio::test]
async fn a_shard_failure_reading_the_suppression_history_fails_the_chunk() {
    let env = Env::new().await;
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let (_, rule) = env.one_event_before_t0().await;
    // The same rule, suppressing: its chunks first read the groups' history from the alerts.
    let text = rule_file(&rules()[0], &format!("{}-*", env.prefix))
        + "\n[rule.alert_suppression]\ngroup_by = [\"user.name\"]\n";
    let rule = integration_tests::runnable_rule(&rule.path, &text);
    // Only the history search (it alone asks for alerts with an instance id).
    env.fail(search_rule(Fault::ShardFailure).body("kibana.alert.instance.id"));
    let report = env.execute(&rule, t0()).await;
    let error = report.record.error.clone().unwrap_or_default();
    assert!(
        report.failed() && error.contains("shard"),
        "{:?}",
        report.record
    );
    assert!(
        env.alerts().await.is_empty(),
        "a group read from part of its history is not written"
    );
    assert_eq!(env.covered_to(&rule).await, Some(t0() - minutes(6)));
    env.heal();
    let next = env.execute(&rule, t0() + minutes(5)).await;
    assert!(!next.failed(), "{:?}", next.record);
    assert_eq!(env.alerts().await.len(), 1);
}

#[tokio::test]
async fn an_answer_that_is_not_json_fails_the_execution_clearly_and_the_next_recovers() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    env.fail(search_rule(Fault::NotJson(200)));
    let report = env.execute(&rule, t0()).await;
    let error = report.record.error.clone().unwrap_or_default();
    assert!(report.failed() && error.contains("not JSON"), "{error}");
    assert!(
        error.contains(&rule.rule_id) || error.contains(&env.prefix),
        "{error}"
    );
    env.heal();
    env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(env.alerts().await.len(), 1);
}

#[tokio::test]
async fn kql_values_that_look_like_query_dsl_select_only_their_literal_value() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    let hostile = r#"x"}}]}, {"match_all": {}}, {"y": "\"#;
    let mut target = add_user(t0() - minutes(1));
    target["user"]["name"] = json!(hostile);
    let bystander = add_user(t0() - minutes(2));
    env.server.bulk_create(&index, &[target, bystander]).await;
    let quoted = hostile.replace('\\', "\\\\").replace('"', "\\\"");
    let query = format!("user.name: \"{quoted}\"");
    let report = env.execute(&env.rule(0, Some(&query)), t0()).await;
    assert!(!report.failed(), "{:?}", report.record);
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["_source"]["user"]["name"], hostile);
}

#[tokio::test]
async fn a_state_save_failing_after_the_search_fails_the_execution_and_the_window_is_searched_again()
 {
    let env = Env::new().await;
    let (index, rule) = env.one_event_before_t0().await;
    let first = env.execute(&rule, t0()).await;
    assert_eq!(first.record.alerts_created, 1, "{:?}", first.record);
    assert_eq!(env.covered_to(&rule).await, Some(t0()));

    env.server
        .bulk_create(&index, &[add_user(t0() + minutes(4))])
        .await;
    // The final state is written with the execution record in one `_bulk`; any write of the
    // state document fails.
    let state_index = format!("\"{}\"", env.config.engine.state_index);
    env.fail(
        FaultRule::new(Fault::Status(503))
            .body(&state_index)
            .always(),
    );
    let failed = env.execute(&rule, t0() + minutes(5)).await;
    let error = failed.record.error.clone().unwrap_or_default();
    assert!(failed.failed(), "{:?}", failed.record);
    assert!(error.contains("searched again"), "{error}");
    assert_eq!(failed.record.alerts_created, 1, "the alert is written");
    assert_eq!(
        env.covered_to(&rule).await,
        Some(t0()),
        "coverage not saved"
    );

    env.heal();
    let next = env.execute(&rule, t0() + minutes(10)).await;
    assert_eq!(
        next.record.window_from,
        t0() - minutes(1),
        "{:?}",
        next.record
    );
    assert_eq!(next.record.alerts_created, 0, "{:?}", next.record);
    assert!(next.record.duplicates >= 1, "{:?}", next.record);
    assert_eq!(env.alerts().await.len(), 2, "each event alerted once");
    assert_eq!(env.covered_to(&rule).await, Some(t0() + minutes(10)));
}

/// Issue 17's poison alert: rule A writes an alert whose event has `foo: 5`; rule B then matches
/// an event with `foo: {"x": 1}`. With the alerts index mapping fields dynamically, `foo` became
/// a `long` and B's alert was refused, B's execution failed, and B stayed blind to every later
/// event. The alerts index now maps only what Kibana's maps: B's alerts are written.
#[tokio::test]
async fn an_event_field_that_does_not_fit_another_rules_alert_never_blinds_a_rule() {
    let env = Env::new().await;
    let a_index = env.cloudtrail_index("a").await;
    let b_index = env.cloudtrail_index("b").await;
    let mut first = add_user(t0() - minutes(2));
    first["foo"] = json!(5);
    env.server.bulk_create(&a_index, &[first]).await;
    let rule_a = env.rule(0, None);
    let a = env.execute(&rule_a, t0()).await;
    assert_eq!(a.record.alerts_created, 1, "{:?}", a.record);
    let mut poison = event("CreateGroup", "success", Some(t0() + minutes(2)));
    poison["foo"] = json!({"x": 1});
    env.server.bulk_create(&b_index, &[poison]).await;
    let rule_b = env.rule(1, None);
    let b = env.execute(&rule_b, t0() + minutes(5)).await;
    assert!(!b.failed(), "{:?}", b.record);
    assert_eq!(b.record.alerts_created, 1, "{:?}", b.record);
    let later = event("CreateGroup", "success", Some(t0() + minutes(7)));
    env.server.bulk_create(&b_index, &[later]).await;
    let next = env.execute(&rule_b, t0() + minutes(10)).await;
    assert!(!next.failed(), "{:?}", next.record);
    assert_eq!(next.record.alerts_created, 1, "{:?}", next.record);
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 3);
    let foos: Vec<&Value> = alerts.iter().map(|a| &a["_source"]["foo"]).collect();
    assert!(
        foos.contains(&&json!({"x": 1})),
        "kept in _source: {foos:?}"
    );
}

/// A value whose shape its mapped field cannot hold (an object where ECS has `orchestrator.namespace`, a
/// keyword) is moved to `lookout.unfit` and the alert written; a server that stores it as it
/// is keeps it where it was. Either way the alert is written with the value.
#[tokio::test]
async fn a_value_that_does_not_fit_its_mapped_field_is_kept_and_the_alert_written() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    let mut odd = add_user(t0() - minutes(1));
    odd["orchestrator"] = json!({"namespace": {"x": 1}});
    env.server.bulk_create(&index, &[odd]).await;
    let report = env.execute(&env.rule(0, None), t0()).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    let alerts = env.alerts().await;
    let source = &alerts[0]["_source"];
    let kept = match &source["lookout"]["unfit"]["orchestrator.namespace"] {
        Value::Null => &source["orchestrator"]["namespace"],
        moved => moved,
    };
    assert_eq!(kept, &json!({"x": 1}), "{source}");
}

/// An alert the alerts index refuses for good (here: an index created by hand with `strict`
/// mappings) becomes a dead letter naming the rule, the event and the error; the window is
/// covered, the execution warns, the rule goes on; once the index is fixed, retrying the dead
/// letters writes the alert and removes the record.
#[tokio::test]
async fn an_alert_refused_for_good_is_a_dead_letter_that_a_retry_writes_later() {
    let env = Env::new().await;
    let (index, rule) = env.one_event_before_t0().await;
    // The write index behind the alerts alias, made again by hand with strict mappings.
    let alias = &env.config.alerts.index;
    let write_index = lookout::first_generation(alias);
    env.server.delete_index(&write_index).await;
    env.server
        .ok(
            Method::Put,
            &format!("/{write_index}"),
            Some(json!({
                "mappings": {"dynamic": "strict", "properties": {"@timestamp": {"type": "date"}}},
                "aliases": {alias.as_str(): {"is_write_index": true}},
            })),
        )
        .await;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::PartialFailure,
        "{:?}",
        report.record
    );
    assert_eq!(report.record.dead_letters, 1, "{:?}", report.record);
    assert!(
        report
            .record
            .warnings
            .iter()
            .any(|w| w.contains("dead letter")),
        "{:?}",
        report.record.warnings
    );
    assert_eq!(env.covered_to(&rule).await, Some(t0()));
    let client = lookout::Client::new(&env.config.elasticsearch).expect("client");
    let store = StateStore::for_config(client, &env.config);
    let letters = store.dead_letters(None).await.expect("dead letters load");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].rule_id, rule.rule_id);
    assert_eq!(letters[0].event_index.as_deref(), Some(index.as_str()));
    assert!(letters[0].event_id.is_some());
    assert_eq!(letters[0].status, 400);
    assert!(letters[0].error.contains("strict"), "{}", letters[0].error);
    // The rule keeps running.
    assert!(!env.execute(&rule, t0() + minutes(5)).await.failed());
    // Fixed: the index goes (its alias with it), lookout's template makes it again.
    env.server.delete_index(&write_index).await;
    let retry = env
        .engine
        .retry_dead_letters(&rule, t0() + minutes(6))
        .await
        .expect("the retry runs");
    assert_eq!((retry.found, retry.written, retry.failed), (1, 1, 0));
    assert_eq!(env.alerts().await.len(), 1);
    assert!(store.dead_letters(None).await.expect("load").is_empty());
}

/// An engine of another deployment on the same server: `adjust` changes this test's
/// configuration (the server is reached directly, not through the proxy).
async fn other_engine(env: &Env, adjust: impl FnOnce(&mut Config)) -> Engine {
    let mut config = env.config.clone();
    config.elasticsearch.url = env.server.url.clone();
    adjust(&mut config);
    let backoff = Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };
    lookout::connect(&config, &SystemClock, backoff)
        .await
        .expect("the test server answers")
}

/// Rule state is keyed by namespace, alerts index and rule id: a second deployment sharing the
/// state index starts its own coverage instead of taking the first one's.
#[tokio::test]
async fn two_deployments_sharing_a_cluster_never_move_each_others_coverage() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    let other = other_engine(&env, |config| {
        config.alerts.namespace = "other-space".into();
        config.alerts.index = unique_name("reliab-eng-alerts-other");
    })
    .await;
    let report = other.execute(&rule, t0() + minutes(30)).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(
        report.record.window_from,
        t0() + minutes(24),
        "{:?}",
        report.record
    );
    assert_eq!(env.covered_to(&rule).await, Some(t0()));
}

/// State writes are conditional: an execution that read the state before a second instance
/// moved coverage further (its search held back by the proxy) does not move it back.
#[tokio::test]
async fn a_stale_writer_never_moves_coverage_backwards() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    let other = other_engine(&env, |_| {}).await;
    env.fail(search_rule(Fault::Delay(Duration::from_secs(2))));
    let slow = env.execute(&rule, t0() + minutes(5));
    let fast = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        other.execute(&rule, t0() + minutes(10)).await
    };
    let (slow, fast) = tokio::join!(slow, fast);
    assert!(!fast.failed(), "{:?}", fast.record);
    assert!(!slow.failed(), "{:?}", slow.record);
    assert_eq!(env.covered_to(&rule).await, Some(t0() + minutes(10)));
}

/// The state store of this test's deployment, reaching the server directly.
fn store(env: &Env) -> StateStore {
    let client = lookout::Client::new(&env.config.elasticsearch).expect("client");
    StateStore::for_config(client, &env.config)
}

/// Lost state is a gap, not a fresh start: with the state index gone, the execution records
/// say where coverage stood, and the next execution searches from there (an event between
/// that point and its own window is alerted).
#[tokio::test]
async fn a_lost_state_index_resumes_coverage_from_the_execution_records() {
    let env = Env::new().await;
    let (index, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    env.server
        .bulk_create(&index, &[add_user(t0() + minutes(2))])
        .await;
    env.server
        .delete_index(&env.config.engine.state_index)
        .await;
    // A restarted lookout (the engine that ran remembers the state it saved).
    let restarted = other_engine(&env, |_| {}).await;
    let report = restarted.execute(&rule, t0() + minutes(30)).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(
        report.record.window_from,
        t0() - minutes(1),
        "{:?}",
        report.record
    );
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    assert!(
        report
            .record
            .warnings
            .iter()
            .any(|w| w.contains("state was missing")),
        "{:?}",
        report.record.warnings
    );
    assert_eq!(env.covered_to(&rule).await, Some(t0() + minutes(30)));
    assert!(
        store(&env)
            .gaps(&rule.rule_id)
            .await
            .expect("gaps")
            .is_empty()
    );
}

/// Another deployment's execution records (same rule id, same executions index) are not this
/// deployment's: a deployment without state of its own starts fresh, not from them.
#[tokio::test]
async fn execution_records_of_another_deployment_are_not_resumed_from() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    let other = other_engine(&env, |config| {
        config.alerts.index = unique_name("reliab-eng-alerts-other");
        config.engine.state_index = unique_name("reliab-eng-state-other");
    })
    .await;
    let report = other.execute(&rule, t0() + minutes(30)).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(report.record.window_from, t0() + minutes(24));
    assert!(report.record.warnings.is_empty(), "{:?}", report.record);
}

/// With the state and the execution records gone, a rule whose alerts show that it ran records
/// the `max_catch_up` before its window as a gap, which `backfill --gaps` fills; so does a rule
/// that ran and never alerted, since the deployment's alerts show that its records were lost; a
/// rule that never ran, added while the records were there, starts without one.
#[tokio::test]
async fn lost_state_and_records_leave_a_gap_of_max_catch_up() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    assert_eq!(env.alerts().await.len(), 1);
    let quiet = env.rule(2, None);
    let report = env.execute(&quiet, t0()).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(report.record.alerts_created, 0, "{:?}", report.record);
    env.server
        .delete_index(&env.config.engine.state_index)
        .await;
    env.server
        .delete_index(&env.config.engine.executions_index)
        .await;
    let at = t0() + minutes(30);
    // A restarted lookout (the engine that ran remembers the state it saved).
    let restarted = other_engine(&env, |_| {}).await;
    let report = restarted.execute(&rule, at).await;
    assert!(!report.failed(), "{:?}", report.record);
    let gaps = store(&env).gaps(&rule.rule_id).await.expect("gaps");
    let expected = lookout::Gap {
        from: at - env.config.engine.max_catch_up,
        to: at - minutes(6),
    };
    assert_eq!(gaps, vec![expected]);
    let report = restarted.execute(&quiet, at).await;
    assert!(!report.failed(), "{:?}", report.record);
    let quiet_gaps = store(&env).gaps(&quiet.rule_id).await.expect("gaps");
    assert_eq!(quiet_gaps, vec![expected], "the rule that never alerted");
    let fresh = env.rule(1, None);
    let report = env.execute(&fresh, at).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert!(
        store(&env)
            .gaps(&fresh.rule_id)
            .await
            .expect("gaps")
            .is_empty()
    );
}

/// A rule stuck behind a gap (its searches fail, so its coverage stays before the gap) records
/// the gap once and extends it, instead of a new overlapping record at every execution.
#[tokio::test]
async fn a_rule_stuck_behind_a_gap_records_it_once() {
    let env = Env::new().await;
    let (_, rule) = env.one_event_before_t0().await;
    assert!(!env.execute(&rule, t0()).await.failed());
    env.fail(search_rule(Fault::Status(503)));
    let day = env.config.engine.max_catch_up;
    for n in 0..3 {
        let at = t0() + day + minutes(60 + 5 * n);
        let report = env.execute(&rule, at).await;
        assert!(report.failed(), "{:?}", report.record);
    }
    env.heal();
    let gaps = store(&env).gaps(&rule.rule_id).await.expect("gaps");
    let expected = lookout::Gap {
        from: t0(),
        to: t0() + minutes(70),
    };
    assert_eq!(gaps, vec![expected]);
}

/// A concrete index that does not exist is left out of the point-in-time instead of the search
/// going without one: paging then never skips hits of two indices that share their sort value
/// (here all 300 hits share one timestamp, in pages of 100).
#[tokio::test]
async fn a_missing_concrete_index_leaves_the_others_paged_inside_a_point_in_time() {
    let env = Env::new().await;
    let a = env.cloudtrail_index("a").await;
    let b = env.cloudtrail_index("b").await;
    let at = t0() - minutes(1);
    let events: Vec<Value> = (0..150).map(|_| add_user(at)).collect();
    env.server.bulk_create(&a, &events).await;
    env.server.bulk_create(&b, &events).await;
    let missing = format!("{}-missing", env.prefix);
    let indices = format!("{a}\", \"{b}\", \"{missing}");
    let text = rule_file(&rules()[0], &indices);
    let rule = integration_tests::runnable_rule("rule-0.toml".as_ref(), &text);
    let report = env.execute(&rule, t0()).await;
    assert!(!report.failed(), "{:?}", report.record);
    assert_eq!(report.record.hits, 300, "{:?}", report.record);
    assert_eq!(env.alerts().await.len(), 300);
    // The test servers happen to sort `_doc` uniquely across indices, so the skip itself does
    // not show here: what must hold is that the pages were read inside a point-in-time (a
    // search without an index in its path), over the two indices that exist.
    let requests = env.proxy.requests();
    let paged_in_pit = (requests.iter())
        .filter(|r| r.starts_with("POST /_search"))
        .count();
    assert!(paged_in_pit >= 3, "{requests:#?}");
}

/// A quiet execution (nothing found) after the rule's first sends two requests: the search and
/// one `_bulk` with the rule's state and the execution record (the state it starts from is the
/// one it saved last time, not read back). Counted at the proxy.
#[tokio::test]
async fn a_quiet_execution_sends_the_search_and_one_write() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    // Outside the next window and its overlap (t0 - 1 minute onwards).
    (env.server)
        .bulk_create(&index, &[add_user(t0() - minutes(3))])
        .await;
    let rule = env.rule(0, None);
    let first = env.execute(&rule, t0()).await;
    assert_eq!(first.record.alerts_created, 1, "{:?}", first.record);
    let before = env.proxy.requests().len();
    let quiet = env.execute(&rule, t0() + minutes(5)).await;
    assert!(!quiet.failed(), "{:?}", quiet.record);
    assert_eq!(quiet.record.hits, 0, "{:?}", quiet.record);
    let requests = env.proxy.requests()[before..].to_vec();
    println!("a quiet execution's requests: {requests:#?}");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests[0].contains("_search"), "{requests:#?}");
    assert!(requests[1].starts_with("POST /_bulk"), "{requests:#?}");
    assert_eq!(env.covered_to(&rule).await, Some(t0() + minutes(5)));
    let client = lookout::Client::new(&env.config.elasticsearch).expect("client");
    (client.refresh(&env.config.engine.executions_index).await).expect("a refresh");
    let records = (store(&env).executions(&rule.rule_id, 5).await).expect("the records load");
    let uuids: Vec<&str> = records.iter().map(|r| r.execution_uuid.as_str()).collect();
    assert!(
        uuids.contains(&quiet.record.execution_uuid.as_str()),
        "the bulk wrote the record: {uuids:?}"
    );
}

/// Executions that end while another's state write is in flight share the next `_bulk`: with
/// the first write held back by the proxy, eight quiet executions of eight rules send fewer
/// than eight `_bulk` requests (two on a quiet machine), and every rule's coverage moves.
#[tokio::test]
async fn executions_ending_together_share_one_state_write() {
    let env = Env::new().await;
    let index = env.cloudtrail_index("a").await;
    (env.server)
        .bulk_create(&index, &[add_user(t0() - minutes(3))])
        .await;
    let rules: Vec<Rule> = (0..8)
        .map(|n| {
            let mut rule = env.rule(0, None);
            rule.rule_id = format!("{}-{n}", rule.rule_id);
            rule
        })
        .collect();
    for rule in &rules {
        assert!(!env.execute(rule, t0()).await.failed());
    }
    env.fail(
        FaultRule::new(Fault::Delay(Duration::from_secs(2)))
            .method("POST")
            .path("/_bulk")
            .times(1),
    );
    let before = env.proxy.requests().len();
    let at = t0() + minutes(5);
    let reports =
        futures_util::future::join_all(rules.iter().map(|rule| env.execute(rule, at))).await;
    for report in &reports {
        assert!(!report.failed(), "{:?}", report.record);
        assert_eq!(report.record.hits, 0, "{:?}", report.record);
    }
    let requests = env.proxy.requests()[before..].to_vec();
    let bulks = requests
        .iter()
        .filter(|r| r.starts_with("POST /_bulk"))
        .count();
    let searches = requests.iter().filter(|r| r.contains("_search")).count();
    println!("8 quiet executions at once: {searches} searches, {bulks} _bulk requests");
    assert_eq!(searches, 8, "{requests:#?}");
    // Two on a quiet machine (the first write, then the other seven together); more when a
    // search is slower than the first write's hold; eight without the batch.
    assert!((2..8).contains(&bulks), "{requests:#?}");
    for rule in &rules {
        assert_eq!(env.covered_to(rule).await, Some(at), "{}", rule.rule_id);
    }
}
