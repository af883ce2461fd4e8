//! New terms rules through the engine against the live server: one alert per value (or
//! combination) seen in the window and not in the history, multi-valued fields, the first event
//! as the alert's source with `kibana.alert.new_terms`, and none twice across overlapping
//! windows and a restarted engine.

mod engine_support;
mod types_support;

use engine_support::*;
use lookout::ExecutionStatus;
use serde_json::{Value, json};
use types_support::*;

const HISTORY: &str = "[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-7d\"\n";

fn new_terms_part(fields: &str) -> String {
    format!(
        "type = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [{fields}]\n{HISTORY}"
    )
}

fn group_change(minute_offset: i64, mark: &str, fields: &[(&str, Value)]) -> Value {
    event_with(
        "AddUserToGroup",
        t0() + minutes(minute_offset),
        mark,
        fields,
    )
}

/// (new terms, mark of the source event) of every alert, sorted.
fn terms_and_marks(alerts: &[Value]) -> Vec<(Value, String)> {
    let mut found: Vec<(Value, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["kibana.alert.new_terms"].clone(),
                a["labels"]["mark"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    found.sort_by_key(|(terms, mark)| (terms.to_string(), mark.clone()));
    found
}

#[tokio::test]
async fn values_unseen_in_the_history_alert_once_each_across_windows_and_restarts() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "new-related-user",
        "event.action: AddUserToGroup",
        &new_terms_part("\"related.user\""),
    );
    env.index(&[
        group_change(-2 * 24 * 60, "old", &[("related.user", json!(["Alice"]))]),
        group_change(
            -8 * 24 * 60,
            "too-old",
            &[("related.user", json!(["Erin"]))],
        ),
        group_change(-3, "e1", &[("related.user", json!(["Alice", "Bob"]))]),
        group_change(-2, "e2", &[("related.user", json!(["Bob", "Erin"]))]),
        // Inside the next window's overlap too.
        group_change(0, "e3", &[("related.user", json!(["Carol"]))]),
    ])
    .await;

    let first = env.execute(&rule, t0()).await;
    assert_eq!(
        first.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        first.record
    );
    let alerts = alerts_of(&env, "new-related-user").await;
    assert_eq!(
        terms_and_marks(&alerts),
        vec![
            (json!(["Bob"]), "e1".to_string()),
            (json!(["Carol"]), "e3".to_string()),
            (json!(["Erin"]), "e2".to_string()),
        ],
        "Alice was seen two days ago; Erin only before the history window"
    );
    assert!(
        alerts
            .iter()
            .all(|a| a["kibana.alert.rule.type"] == "new_terms")
    );

    // Overlapping window: Carol's first event is in the overlap (same alert, not a new one),
    // Bob is history now, Dave is new.
    env.index(&[group_change(
        1,
        "e4",
        &[("related.user", json!(["Bob", "Dave", "Carol"]))],
    )])
    .await;
    let second = env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(second.record.alerts_created, 1, "{:?}", second.record);
    let alerts = alerts_of(&env, "new-related-user").await;
    assert_eq!(alerts.len(), 4);
    assert!(terms_and_marks(&alerts).contains(&(json!(["Dave"]), "e4".to_string())));

    let again = rerun_after_restart(&env, &rule, &[t0(), t0() + minutes(5)]).await;
    assert!(
        again.iter().all(|r| r.status == ExecutionStatus::Succeeded),
        "{again:?}"
    );
    assert_eq!(alerts_of(&env, "new-related-user").await.len(), 4);
}

#[tokio::test]
async fn combinations_of_two_fields_are_new_only_as_a_pair() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "new-user-address",
        "event.action: AddUserToGroup",
        &new_terms_part("\"user.name\", \"source.ip\""),
    );
    env.index(&[
        group_change(
            -60,
            "old-pair",
            &[
                ("user.name", json!("Alice")),
                ("source.ip", json!("198.51.100.7")),
            ],
        ),
        group_change(
            -61,
            "old-other",
            &[
                ("user.name", json!("Bob")),
                ("source.ip", json!("203.0.113.5")),
            ],
        ),
        group_change(
            -3,
            "seen",
            &[
                ("user.name", json!("Alice")),
                ("source.ip", json!("198.51.100.7")),
            ],
        ),
        group_change(
            -2,
            "mixed",
            &[
                ("user.name", json!("Alice")),
                ("source.ip", json!("203.0.113.5")),
            ],
        ),
    ])
    .await;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    let alerts = alerts_of(&env, "new-user-address").await;
    assert_eq!(
        terms_and_marks(&alerts),
        vec![(json!(["Alice", "203.0.113.5"]), "mixed".to_string())],
        "each value was seen before, but not this pair"
    );
}

#[tokio::test]
async fn more_terms_than_a_page_are_all_checked() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "new-many",
        "event.action: AddUserToGroup",
        &new_terms_part("\"user.name\""),
    );
    let count = lookout::NEW_TERMS_PAGE_SIZE + 150;
    let mut docs = Vec::new();
    for n in 0..count {
        let name = format!("user-{n:04}");
        if n % 2 == 0 {
            docs.push(group_change(
                -120,
                &format!("h{n}"),
                &[("user.name", json!(name.clone()))],
            ));
        }
        docs.push(group_change(
            -3,
            &format!("w{n}"),
            &[("user.name", json!(name))],
        ));
    }
    env.index(&docs).await;
    let mut rule = rule;
    rule.max_signals = 10_000;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    assert_eq!(
        report.record.hits, count as u64,
        "every term of the window is a candidate"
    );
    assert_eq!(
        report.record.alerts_created,
        (count / 2) as u64,
        "the odd ones are new"
    );
}

#[tokio::test]
async fn catch_up_chunks_alert_a_new_term_once() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "new-catch-up",
        "event.action: AddUserToGroup",
        &new_terms_part("\"user.name\""),
    );
    assert_eq!(env.execute(&rule, t0()).await.record.alerts_created, 0);
    env.index(&[
        group_change(7, "first", &[("user.name", json!("zoe"))]),
        group_change(17, "again", &[("user.name", json!("zoe"))]),
        group_change(27, "later", &[("user.name", json!("zoe"))]),
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
    let alerts = alerts_of(&env, "new-catch-up").await;
    assert_eq!(
        terms_and_marks(&alerts),
        vec![(json!(["zoe"]), "first".to_string())]
    );
}
