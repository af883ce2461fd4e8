//! Shared by the notification tests: an engine test environment whose configuration has a
//! `[notify]` section, the notifier over its alerts, and helpers to read the outbox state of the
//! alerts. Receivers are real servers on loopback (`integration_tests::receiver`, the fault
//! proxy in front of one, the SMTP server).

#![allow(dead_code)]

use crate::engine_support::{Env, add_user, minutes, t0};
use chrono::{DateTime, Utc};
use lookout::Notifier;
use lookout::Rule;
use lookout::{Config, NotifyConfig};
use serde_json::Value;

/// The `[notify]` part of a configuration text.
pub fn notify_config(text: &str) -> NotifyConfig {
    Config::from_toml_str(text, std::path::Path::new("notify-test.toml"), |_| None)
        .unwrap_or_else(|e| panic!("the test configuration is invalid: {e}"))
        .notify
}

/// An engine environment notifying as `text` says.
pub async fn env_with(text: &str) -> Env {
    let notify = notify_config(text);
    Env::with_config(move |config| config.notify = notify).await
}

/// The notifier of the environment.
pub fn notifier(env: &Env) -> Notifier {
    lookout::notifier(&env.config, &env.engine, None).expect("the connectors are usable")
}

/// The AddUserToGroup seed rule of the environment.
pub fn add_user_rule(env: &Env) -> Rule {
    env.rule(crate::engine_support::ADD_USER_TO_GROUP, &[])
}

/// Indexes `count` successful AddUserToGroup events ingested before `at` and runs the rule at
/// `at`; returns the alerts written.
pub async fn alerts_at(
    env: &Env,
    rule: &Rule,
    at: DateTime<Utc>,
    count: usize,
    mark: &str,
) -> Vec<Value> {
    let docs: Vec<Value> = (0..count)
        .map(|n| {
            add_user(
                at - minutes(2) + chrono::TimeDelta::seconds(n as i64),
                &format!("{mark}-{n}"),
            )
        })
        .collect();
    env.index(&docs).await;
    let report = env.execute(rule, at).await;
    assert!(
        !report.failed(),
        "the execution failed: {:?}",
        report.record.error
    );
    env.alerts().await
}

/// The first execution time of the tests.
pub fn start() -> DateTime<Utc> {
    t0()
}

/// A list field of an alert (`lookout.notify.pending` ...), sorted.
pub fn list(alert: &Value, field: &str) -> Vec<String> {
    let mut items: Vec<String> = alert[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    items
}

/// `lookout.notify.state.<connector>.<name>` of an alert.
pub fn state<'a>(alert: &'a Value, connector: &str, name: &str) -> &'a Value {
    &alert[format!("lookout.notify.state.{connector}.{name}").as_str()]
}
