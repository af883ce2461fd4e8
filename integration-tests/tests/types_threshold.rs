//! Threshold rules through the engine against the live server: one alert per group over the
//! threshold with `kibana.alert.threshold_result`, no second alert for events already counted
//! (overlapping windows, a restarted engine), a new alert when enough new events arrive, and
//! cardinality.

mod engine_support;
mod types_support;

use engine_support::*;
use integration_tests::server::{Capability, require_all};
use lookout::ExecutionStatus;
use lookout_generator::EventSpec;
use serde_json::{Value, json};
use types_support::*;

const FAILED_LOGINS: &str = "event.action: ConsoleLogin and event.outcome: failure";

/// A generated failed console login from `ip` by `user`.
fn login(minute_offset: i64, ip: &str, user: &str, mark: &str) -> Value {
    let spec = EventSpec::new("ConsoleLogin")
        .failed()
        .with_source_ip(ip)
        .with_user(user);
    generated(&spec, t0() + minutes(minute_offset), mark)
}

fn result_of(alert: &Value) -> &Value {
    &alert["kibana.alert.threshold_result"]
}

#[tokio::test]
async fn one_alert_per_group_over_the_threshold_and_none_twice_across_windows_and_restarts() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "threshold-logins",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 3\n",
    );
    env.index(&[
        login(-4, "198.51.100.7", "alice", "a1"),
        login(-3, "198.51.100.7", "alice", "a2"),
        login(-2, "198.51.100.7", "alice", "a3"),
        login(-4, "203.0.113.5", "bob", "b1"),
        login(-3, "203.0.113.5", "bob", "b2"),
    ])
    .await;

    let first = env.execute(&rule, t0()).await;
    assert_eq!(
        first.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        first.record
    );
    assert_eq!(first.record.alerts_created, 1);
    let alerts = alerts_of(&env, "threshold-logins").await;
    assert_eq!(alerts.len(), 1);
    let result = result_of(&alerts[0]);
    assert_eq!(
        result["terms"],
        json!([{"field": "source.ip", "value": "198.51.100.7"}])
    );
    assert_eq!(result["count"], 3);
    assert_eq!(result["from"], json!(iso(t0() - minutes(4))));
    assert_eq!(
        alerts[0]["kibana.alert.original_time"],
        json!(iso(t0() - minutes(2)))
    );
    assert_eq!(alerts[0]["kibana.alert.rule.type"], "threshold");
    assert_eq!(alerts[0]["source.ip"], "198.51.100.7");

    // The next window overlaps the first by a minute; one new event for each address: the
    // events already counted do not count again, so neither group reaches 3.
    env.index(&[
        login(1, "198.51.100.7", "alice", "a4"),
        login(2, "203.0.113.5", "bob", "b3"),
    ])
    .await;
    let second = env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(second.record.alerts_created, 0, "{:?}", second.record);

    // Three new events for the first address: a new crossing, a new alert.
    env.index(&[
        login(6, "198.51.100.7", "alice", "a5"),
        login(7, "198.51.100.7", "alice", "a6"),
        login(8, "198.51.100.7", "alice", "a7"),
    ])
    .await;
    let third = env.execute(&rule, t0() + minutes(10)).await;
    assert_eq!(third.record.alerts_created, 1, "{:?}", third.record);
    let alerts = alerts_of(&env, "threshold-logins").await;
    assert_eq!(alerts.len(), 2);
    let mut counts: Vec<(String, u64)> = alerts
        .iter()
        .map(|a| {
            (
                result_of(a)["from"].as_str().unwrap().to_string(),
                result_of(a)["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(counts[1], (iso(t0() + minutes(6)), 3));

    // A restarted engine runs the same three windows again: nothing new.
    rerun_after_restart(&env, &rule, &[t0(), t0() + minutes(5), t0() + minutes(10)]).await;
    assert_eq!(alerts_of(&env, "threshold-logins").await.len(), 2);
}

#[tokio::test]
async fn cardinality_and_several_group_fields_decide_which_groups_alert() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "threshold-spray",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.ip\", \"cloud.region\"]\nvalue = 2\n\
         [[rule.threshold.cardinality]]\nfield = \"user.name\"\nvalue = 2\n",
    );
    env.index(&[
        // Two users from one address: over both thresholds.
        login(-4, "198.51.100.7", "alice", "s1"),
        login(-3, "198.51.100.7", "bob", "s2"),
        // Three attempts on one user: enough events, one distinct user.
        login(-4, "203.0.113.5", "carol", "s3"),
        login(-3, "203.0.113.5", "carol", "s4"),
        login(-2, "203.0.113.5", "carol", "s5"),
    ])
    .await;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    let alerts = alerts_of(&env, "threshold-spray").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let result = result_of(&alerts[0]);
    assert_eq!(
        result["terms"][0],
        json!({"field": "source.ip", "value": "198.51.100.7"})
    );
    assert_eq!(result["terms"][1]["field"], "cloud.region");
    assert_eq!(
        result["cardinality"],
        json!([{"field": "user.name", "value": 2}])
    );
    assert_eq!(result["count"], 2);
}

#[tokio::test]
async fn without_group_fields_all_matching_events_form_one_group() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "threshold-all",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = []\nvalue = 4\n",
    );
    env.index(&[
        login(-4, "198.51.100.7", "alice", "n1"),
        login(-3, "203.0.113.5", "bob", "n2"),
        login(-2, "192.0.2.1", "carol", "n3"),
    ])
    .await;
    assert_eq!(env.execute(&rule, t0()).await.record.alerts_created, 0);
    env.index(&[login(-1, "192.0.2.2", "dave", "n4")]).await;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    let alerts = alerts_of(&env, "threshold-all").await;
    assert_eq!(result_of(&alerts[0])["count"], 4);
    assert_eq!(result_of(&alerts[0])["terms"], json!([]));
    assert_eq!(env.execute(&rule, t0()).await.record.alerts_created, 0);
}

#[tokio::test]
async fn numeric_and_text_group_values_share_one_alerts_index() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let by_number = typed_rule(
        &env.source,
        "threshold-as-number",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.as.number\"]\nvalue = 2\n",
    );
    let by_address = typed_rule(
        &env.source,
        "threshold-address",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 2\n",
    );
    let mut first = login(-4, "198.51.100.7", "alice", "m1");
    let mut second = login(-3, "198.51.100.7", "alice", "m2");
    set_path(&mut first, "source.as.number", json!(64500));
    set_path(&mut second, "source.as.number", json!(64500));
    env.index(&[first, second]).await;

    // The first alert holds a number in threshold_result.terms.value, the second text: the
    // alerts index maps the value as a keyword, so both are written.
    let numeric = env.execute(&by_number, t0()).await;
    assert_eq!(numeric.record.alerts_created, 1, "{:?}", numeric.record);
    let text = env.execute(&by_address, t0()).await;
    assert_eq!(text.record.alerts_created, 1, "{:?}", text.record);
    let alerts = alerts_of(&env, "threshold-as-number").await;
    assert_eq!(
        result_of(&alerts[0])["terms"],
        json!([{"field": "source.as.number", "value": 64500}])
    );
}

#[tokio::test]
async fn catch_up_chunks_alert_a_group_once() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "threshold-catch-up",
        FAILED_LOGINS,
        "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 3\n",
    );
    assert_eq!(env.execute(&rule, t0()).await.record.alerts_created, 0);
    // lookout was down for 30 minutes; the group crosses the threshold at t0+6..t0+8 and gets
    // more events in the later chunks, never 3 new ones after the alert.
    env.index(&[
        login(6, "198.51.100.7", "alice", "c1"),
        login(7, "198.51.100.7", "alice", "c2"),
        login(8, "198.51.100.7", "alice", "c3"),
        login(16, "198.51.100.7", "alice", "c4"),
        login(26, "198.51.100.7", "alice", "c5"),
    ])
    .await;
    let report = env.execute(&rule, t0() + minutes(30)).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert!(report.chunks > 1, "{report:?}");
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
}

/// A signal history with more alerted groups than one search may exclude (the server's clause
/// limit) keeps the groups with the latest counted events, warns, and the execution runs: no
/// refused search, no new alert for events already counted.
#[tokio::test]
async fn a_history_over_the_clause_limit_warns_and_the_execution_runs() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let groups = 320;
    let rule = typed_rule(
        &env.source,
        "threshold-many-groups",
        FAILED_LOGINS,
        "type = \"threshold\"\nmax_signals = 1000\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 1\n",
    );
    let events: Vec<Value> = (0..groups)
        .map(|n| {
            // Last octets below 128: osmem-server 0.1.6 groups the addresses of a /24 from
            // .128 up into one composite bucket.
            let ip = format!("10.1.{}.{}", n / 100, n % 100);
            login(0, &ip, "alice", &format!("m{n}"))
        })
        .collect();
    env.index(&events).await;
    let first = env.execute(&rule, t0()).await;
    assert!(!first.failed(), "{:?}", first.record);
    assert_eq!(first.record.alerts_created, groups, "{:?}", first.record);
    // The next window overlaps the first: every group is in the history, 3 clauses each.
    let second = env.execute(&rule, t0() + minutes(5)).await;
    assert!(!second.failed(), "{:?}", second.record);
    assert_eq!(second.record.alerts_created, 0, "{:?}", second.record);
    assert!(
        (second.record.warnings.iter()).any(|w| w.contains("more than one search may exclude")),
        "{:?}",
        second.record.warnings
    );
}
