//! Shared set-up of the rule-type tests (threshold, new terms, indicator match): rule files
//! written for a test's own source index, CloudTrail events from the shared fixtures with chosen
//! fields, a second engine on the same indices (a restart), and alert helpers.

#![allow(dead_code)]

use crate::engine_support::{Env, iso};
use chrono::{DateTime, Utc};
use integration_tests::ecs_samples;
use lookout::Backoff;
use lookout::Rule;
use lookout::{Engine, SystemClock};
use lookout::{ExecutionRecord, ExecutionStatus};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A rule file of the given type searching `index`, parsed like any rule file.
pub fn typed_rule(index: &str, rule_id: &str, query: &str, type_part: &str) -> Rule {
    rule_in_language(index, rule_id, "kuery", query, type_part)
}

/// A rule file whose query is in `language`, with `type_part` (its `type` and its own
/// settings) at the end.
pub fn rule_in_language(
    index: &str,
    rule_id: &str,
    language: &str,
    query: &str,
    type_part: &str,
) -> Rule {
    let text = format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout tests"]
description = "A rule for the rule-type tests"
index = ["{index}"]
language = "{language}"
license = "Elastic License v2"
name = "Rule type test {rule_id}"
risk_score = 47
rule_id = "{rule_id}"
severity = "medium"
interval = "5m"
from = "now-6m"
query = '''{query}'''
{type_part}"#
    );
    let path = PathBuf::from(format!("rules/{rule_id}.toml"));
    integration_tests::runnable_rule(&path, &text)
}

/// The first fixture sample with this action, at `timestamp`, with `fields` (dotted names)
/// set and a `labels.mark` to find it again.
pub fn event_with(
    action: &str,
    timestamp: DateTime<Utc>,
    mark: &str,
    fields: &[(&str, Value)],
) -> Value {
    let mut doc = ecs_samples()
        .into_iter()
        .find(|doc| doc["event"]["action"] == action)
        .unwrap_or_else(|| panic!("no fixture sample has event.action {action}"));
    doc["@timestamp"] = json!(iso(timestamp));
    doc["event"]["ingested"] = json!(iso(timestamp));
    doc["labels"] = json!({"mark": mark});
    for (name, value) in fields {
        set_path(&mut doc, name, value.clone());
    }
    doc
}

/// A generated CloudTrail event (`lookout_generator::EventSpec`) at `timestamp` (ingested at
/// the same time) with a `labels.mark` to find it again.
pub fn generated(
    spec: &lookout_generator::EventSpec,
    timestamp: DateTime<Utc>,
    mark: &str,
) -> Value {
    let mut doc = spec.to_document(timestamp, Some(timestamp));
    doc["labels"] = json!({"mark": mark});
    doc
}

/// Sets a dotted field inside nested objects, creating them as needed.
pub fn set_path(doc: &mut Value, name: &str, value: Value) {
    let mut current = doc;
    let parts: Vec<&str> = name.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if !current[*part].is_object() {
            current[*part] = json!({});
        }
        current = &mut current[*part];
    }
    current[parts[parts.len() - 1]] = value;
}

/// A second engine on the same indices, as after a restart.
pub async fn restarted(env: &Env) -> Engine {
    let backoff = Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };
    lookout::connect(&env.config, &SystemClock, backoff)
        .await
        .expect("the test server answers")
}

/// Runs `rule` again at each of `times` with a freshly started engine (a restart) and checks
/// that no execution fails and none creates an alert; returns the records for further checks.
pub async fn rerun_after_restart(
    env: &Env,
    rule: &Rule,
    times: &[DateTime<Utc>],
) -> Vec<ExecutionRecord> {
    let engine = restarted(env).await;
    let mut records = Vec::new();
    for &at in times {
        let record = engine.execute(rule, at).await.record;
        assert_ne!(
            record.status,
            ExecutionStatus::Failed,
            "at {at}: {record:?}"
        );
        assert_eq!(record.alerts_created, 0, "at {at}: {record:?}");
        records.push(record);
    }
    records
}

/// The alerts of one rule.
pub async fn alerts_of(env: &Env, rule_id: &str) -> Vec<Value> {
    env.alerts()
        .await
        .into_iter()
        .filter(|alert| alert["kibana.alert.rule.rule_id"] == rule_id)
        .collect()
}
