//! Windows over time on the live server with a simulated clock: overlapping cycles (done-means
//! 3), the max_signals cap (4), catch-up after downtime and gaps (5), execution records (8).

mod engine_support;

use engine_support::*;
use lookout::MAX_SIGNALS_WARNING;
use lookout::{ExecutionStatus, StateStore};
use serde_json::json;
use std::collections::BTreeSet;

/// Cycle `k` of a rule running every 5 minutes from t0.
fn cycle(k: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + minutes(5 * k)
}

#[tokio::test]
async fn overlapping_cycles_alert_every_event_exactly_once() {
    let env = Env::new().await;
    let seconds = chrono::TimeDelta::seconds;
    let mut docs = Vec::new();
    for k in 0..6 {
        docs.push(add_user(cycle(k) - seconds(30), &format!("{k}-overlap")));
        docs.push(add_user(cycle(k) - minutes(1), &format!("{k}-edge")));
        docs.push(add_user(cycle(k) - minutes(3), &format!("{k}-middle")));
    }
    env.index(&docs).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);

    let mut created = 0;
    let mut duplicates = 0;
    for k in 0..6 {
        let report = env.execute(&rule, cycle(k)).await;
        assert_eq!(
            report.record.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            report.record
        );
        assert_eq!(report.chunks, 1, "no catch-up between regular cycles");
        created += report.record.alerts_created;
        duplicates += report.record.duplicates;
    }

    let alerts = env.alerts().await;
    let unique: BTreeSet<String> = marks(&alerts).into_iter().collect();
    assert_eq!(alerts.len(), 18, "one alert per event");
    assert_eq!(unique.len(), 18, "no event alerted twice");
    assert_eq!(created, 18);
    // The overlap and edge events of cycles 0..=4 fall in the next window too.
    assert_eq!(duplicates, 10);
}

#[tokio::test]
async fn running_the_same_window_again_writes_nothing_new() {
    let env = Env::new().await;
    let at = t0();
    env.index(&[
        add_user(at - minutes(1), "a"),
        add_user(at - minutes(2), "b"),
        add_user(at - minutes(5), "c"),
    ])
    .await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    let first = env.execute(&rule, at).await;
    assert_eq!(first.record.alerts_created, 3);
    let before = env.alerts().await;

    for _ in 0..3 {
        let again = env.execute(&rule, at).await;
        assert_eq!(again.record.status, ExecutionStatus::Succeeded);
        assert_eq!(
            (
                again.record.hits,
                again.record.alerts_created,
                again.record.duplicates
            ),
            (3, 0, 3)
        );
    }

    let after = env.alerts().await;
    assert_eq!(after.len(), 3);
    let timestamps = |alerts: &[serde_json::Value]| -> BTreeSet<String> {
        alerts
            .iter()
            .map(|a| a["kibana.alert.rule.execution.uuid"].to_string())
            .collect()
    };
    assert_eq!(
        timestamps(&before),
        timestamps(&after),
        "no alert was rewritten"
    );
}

#[tokio::test]
async fn max_signals_caps_alerts_at_one_hundred_with_one_warning() {
    let env = Env::new().await;
    let at = t0();
    env.index(&events_a_second_apart(250)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);

    let report = env.execute(&rule, at).await;

    assert_eq!(report.record.alerts_created, 100, "{:?}", report.record);
    assert_eq!(
        report.record.warnings,
        vec![MAX_SIGNALS_WARNING.to_string()]
    );
    assert_eq!(report.record.status, ExecutionStatus::PartialFailure);
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 100);
    // Hits come oldest first, so the alerts are those of the 100 oldest events.
    let expected: Vec<String> = (0..100).map(|i| format!("{i:03}")).collect();
    assert_eq!(marks(&alerts), expected);
}

/// `count` AddUserToGroup events one second apart, marked `000`, `001`, ...
fn events_a_second_apart(count: i64) -> Vec<serde_json::Value> {
    (0..count)
        .map(|i| {
            add_user(
                t0() - minutes(5) + chrono::TimeDelta::seconds(i),
                &format!("{i:03}"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_window_of_exactly_max_signals_hits_alerts_them_all_without_a_warning() {
    let env = Env::new().await;
    env.index(&events_a_second_apart(100)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);

    let report = env.execute(&rule, t0()).await;

    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(
        (report.record.hits, report.record.alerts_created),
        (100, 100)
    );
    assert!(report.record.warnings.is_empty(), "{:?}", report.record);
}

#[tokio::test]
async fn each_run_of_a_capped_window_alerts_the_next_oldest_events() {
    let env = Env::new().await;
    env.index(&events_a_second_apart(250)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);

    let created: Vec<u64> = {
        let mut created = Vec::new();
        for _ in 0..3 {
            let report = env.execute(&rule, t0()).await;
            created.push(report.record.alerts_created);
        }
        created
    };

    // The first run's one search settles it (its new hits exceed the cap); the next runs find
    // the written ones first and page on past them.
    assert_eq!(created, vec![100, 100, 50]);
    let expected: Vec<String> = (0..250).map(|i| format!("{i:03}")).collect();
    assert_eq!(marks(&env.alerts().await), expected, "every event once");
}

#[tokio::test]
async fn hits_beyond_one_page_are_all_alerted_under_a_higher_max_signals() {
    let env = Env::new().await;
    let at = t0();
    env.index(&events_a_second_apart(250)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[("max_signals", "1000")]);

    let report = env.execute(&rule, at).await;

    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(
        (report.record.hits, report.record.alerts_created),
        (250, 250)
    );
    let expected: Vec<String> = (0..250).map(|i| format!("{i:03}")).collect();
    assert_eq!(
        marks(&env.alerts().await),
        expected,
        "three pages, no hit skipped or repeated"
    );
}

#[tokio::test]
async fn downtime_is_searched_in_chunks_and_every_event_alerted_once() {
    let env = Env::new().await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    env.execute(&rule, cycle(0)).await;
    env.execute(&rule, cycle(1)).await;
    // Down from cycle 1 (t0+5m) until t0+50m: nine cycles missed.
    let restart = t0() + minutes(50);
    let docs: Vec<_> = (0..22)
        .map(|i| add_user(cycle(1) + minutes(2 * i + 1), &format!("{i:02}")))
        .collect();
    env.index(&docs).await;

    let report = env.execute(&rule, restart).await;

    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(
        report.chunks, 9,
        "eight 5-minute catch-up chunks and the rule's own window"
    );
    // From the last search's end, less the rule's minute of lookback (the overlap an on-time
    // execution would have had).
    assert_eq!(report.record.window_from, cycle(1) - minutes(1));
    assert_eq!(report.record.window_to, restart);
    assert_eq!(report.record.alerts_created, 22);
    let after = env.execute(&rule, restart + minutes(5)).await;
    assert_eq!(after.record.alerts_created, 0);
    let alerts = env.alerts().await;
    let expected: Vec<String> = (0..22).map(|i| format!("{i:02}")).collect();
    assert_eq!(marks(&alerts), expected);
}

#[tokio::test]
async fn downtime_longer_than_max_catch_up_records_a_gap() {
    let env = Env::with_config(|config| config.engine.max_catch_up = minutes(30)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    env.execute(&rule, t0()).await;
    let restart = t0() + minutes(120);
    env.index(&[
        add_user(t0() + minutes(60), "in-gap"),
        add_user(t0() + minutes(100), "caught-up"),
    ])
    .await;

    let report = env.execute(&rule, restart).await;

    let gap = report
        .record
        .gap
        .as_ref()
        .expect("the execution records its gap");
    assert_eq!((gap.from, gap.to), (t0(), restart - minutes(30)));
    assert_eq!(report.record.window_from, restart - minutes(30));
    assert_eq!(report.record.status, ExecutionStatus::PartialFailure);
    assert_eq!(marks(&env.alerts().await), vec!["caught-up"]);
    let store = StateStore::for_config(env.engine.client().clone(), &env.config);
    let gaps = store.gaps(&rule.rule_id).await.unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].from, gaps[0].to), (gap.from, gap.to));
    let state = store.load(&rule.rule_id).await.unwrap().unwrap();
    assert_eq!(state.covered_to, Some(restart));
}

#[tokio::test]
async fn every_execution_writes_one_record_with_window_status_counts_and_durations() {
    let env = Env::new().await;
    env.index(&[add_user(t0() - minutes(1), "a")]).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    let mut broken = rule.clone();
    // A query the server refuses (a Lucene syntax error) makes the execution fail.
    broken.kind = lookout::Kind::Query(lookout::Query::Lucene {
        text: "event.action:(AddUserToGroup".to_string(),
    });

    let reports = vec![
        env.execute(&rule, t0()).await,
        env.execute(&rule, cycle(1)).await,
        env.execute(&broken, cycle(2)).await,
    ];

    env.server
        .refresh(&env.config.engine.executions_index)
        .await;
    let store = StateStore::for_config(env.engine.client().clone(), &env.config);
    let mut records = store.executions(&rule.rule_id, 100).await.unwrap();
    records.sort_by_key(|r| r.started_at);
    assert_eq!(records.len(), 3, "one record per execution");
    for (record, report) in records.iter().zip(&reports) {
        assert_eq!(record.execution_uuid, report.record.execution_uuid);
        assert_eq!(record.rule_name, "AWS IAM User Addition to Group");
        assert_eq!(record.window_from, report.record.window_from);
        assert_eq!(record.window_to, report.record.window_to);
        assert!(record.total_ms >= record.search_ms);
    }
    let summary: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.started_at,
                r.window_from,
                r.window_to,
                r.status,
                r.hits,
                r.alerts_created,
                r.duplicates,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                t0(),
                t0() - minutes(6),
                t0(),
                ExecutionStatus::Succeeded,
                1,
                1,
                0
            ),
            (
                cycle(1),
                cycle(1) - minutes(6),
                cycle(1),
                ExecutionStatus::Succeeded,
                1,
                0,
                1
            ),
            (
                cycle(2),
                cycle(2) - minutes(6),
                cycle(2),
                ExecutionStatus::Failed,
                0,
                0,
                0
            ),
        ]
    );
    let error = records[2]
        .error
        .as_deref()
        .expect("a failed execution says why");
    assert!(
        error.contains(&rule.rule_id) && error.contains("HTTP 400"),
        "the rule and the server's refusal: {error}"
    );
    let state = store.load(&rule.rule_id).await.unwrap().unwrap();
    assert_eq!(
        state.covered_to,
        Some(cycle(1)),
        "a failed execution covers nothing"
    );
    assert_eq!(state.last_status, Some(ExecutionStatus::Failed));
    let docs = env.execution_docs().await;
    assert!(docs.iter().all(|d| d["rule"]["id"] == json!(rule.rule_id)));
}
