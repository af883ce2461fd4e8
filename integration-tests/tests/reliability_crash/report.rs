//! The end of the crash test: reads the alerts index, compares it with the alerts the events
//! call for, and prints the report (scenarios, kills, faults, executions, alerts expected and
//! written, duplicates, missing, worst delay).

use super::{Event, Sim, kills_wanted};
use crate::reliability_support::rules;
use chrono::{DateTime, TimeDelta, Utc};
use integration_tests::TestServer;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What identifies an alert: rule id, source index, source id.
pub type AlertKey = (String, String, String);

/// The suppressing rule: failed console logins and instance listings, grouped by action, for
/// 12 minutes (so groups take two or three ticks of updates, then start again).
pub const SUPPRESSION_RULE_ID: &str = "reliab-0000-4000-8000-000000000004";
const SUPPRESSION_ACTIONS: [&str; 2] = ["DescribeInstances", "ConsoleLogin"];

/// Writes the suppressing rule's file.
pub fn write_suppression_rule(folder: &std::path::Path, index_pattern: &str) {
    let text = format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout"]
description = "Reliability test rule with alert suppression."
from = "now-6m"
index = ["{index_pattern}"]
interval = "5m"
language = "kuery"
max_signals = 10000
name = "Actions, suppressed"
risk_score = 21
rule_id = "{SUPPRESSION_RULE_ID}"
severity = "low"
type = "query"
query = "event.action: (DescribeInstances or ConsoleLogin)"

[rule.alert_suppression]
group_by = ["event.action"]
missing_fields_strategy = "suppress"

[rule.alert_suppression.duration]
unit = "m"
value = 12
"#
    );
    std::fs::write(folder.join("rule-suppressed.toml"), text).expect("a rule file can be written");
}

/// Per action of the suppressing rule: its alerts' docs_count plus one each, summed.
async fn suppressed_counts(server: &TestServer, alerts: &str) -> (HashMap<String, u64>, usize) {
    let pattern = format!("{alerts}*");
    let (_, answer) = server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_search?ignore_unavailable=true&allow_no_indices=true"),
            Some(json!({"size": 10_000, "query": {"term": {"kibana.alert.rule.rule_id": SUPPRESSION_RULE_ID}}})),
        )
        .await;
    let hits = answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for hit in &hits {
        let source = &hit["_source"];
        let action = source["kibana.alert.suppression.terms"][0]["value"]
            .as_str()
            .unwrap_or("?");
        let docs = source["kibana.alert.suppression.docs_count"]
            .as_u64()
            .unwrap_or(0);
        *counts.entry(action.to_string()).or_default() += docs + 1;
    }
    (counts, hits.len())
}

/// (rule_id, source index, source id) of every alert, with repeats (the suppressing rule's
/// alerts stand for groups, and are checked by their counts instead).
pub async fn alert_list(server: &TestServer, alerts: &str) -> Vec<AlertKey> {
    let pattern = format!("{alerts}*");
    server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_refresh"),
            None,
        )
        .await;
    let (_, answer) = server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_search?ignore_unavailable=true&allow_no_indices=true"),
            Some(json!({"size": 10_000, "query": {"bool": {"must_not": {"term": {"kibana.alert.rule.rule_id": SUPPRESSION_RULE_ID}}}}})),
        )
        .await;
    let hits = answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    hits.iter()
        .map(|hit| {
            let source = &hit["_source"];
            let ancestor = &source["kibana.alert.ancestors"][0];
            (
                source["kibana.alert.rule.rule_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                ancestor["index"].as_str().unwrap_or("").to_string(),
                ancestor["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub async fn alert_keys(server: &TestServer, alerts: &str) -> HashSet<AlertKey> {
    alert_list(server, alerts).await.into_iter().collect()
}

/// Compares, prints the report, and fails on any duplicate, missing or unexpected alert.
pub async fn verify(sim: &Sim, seed: u64, elapsed: Duration) {
    let rules = rules();
    let mut expected: HashMap<AlertKey, &Event> = HashMap::new();
    for event in &sim.events {
        for rule in rules.iter().filter(|rule| (rule.matches)(&event.doc)) {
            let key = (
                rule.rule_id.to_string(),
                event.index.clone(),
                event.id.clone(),
            );
            expected.insert(key, event);
        }
    }
    let written = alert_list(&sim.server, &sim.names.alerts).await;
    let mut counts: HashMap<&AlertKey, u32> = HashMap::new();
    for key in &written {
        *counts.entry(key).or_default() += 1;
    }
    let duplicates: u32 = counts.values().map(|n| n - 1).sum();
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !counts.contains_key(k))
        .collect();
    let unexpected: Vec<_> = counts
        .keys()
        .filter(|k| !expected.contains_key(**k))
        .collect();
    let (worst_sim, worst_wall) = worst_delays(sim, &expected).await;
    let mut expected_suppressed: HashMap<String, u64> = HashMap::new();
    for event in sim.events.iter().filter(|_| sim.suppressing) {
        let action = event.doc["event"]["action"].as_str().unwrap_or("");
        if SUPPRESSION_ACTIONS.contains(&action) {
            *expected_suppressed.entry(action.to_string()).or_default() += 1;
        }
    }
    let (suppressed, suppressed_alerts) = suppressed_counts(&sim.server, &sim.names.alerts).await;
    let stats = sim.proxy.stats();
    let executions = count_executions(&sim.server, &sim.names.executions).await;
    let report = &sim.report;
    let mut text = String::new();
    text += "=== lookout reliability report (crash test) ===\n";
    text += &format!("seed: {seed}; wall time: {:.1} s\n", elapsed.as_secs_f64());
    text += &format!("ticks (5 simulated minutes each): {}\n", report.ticks);
    text += &format!(
        "lookout runs: {} ({} ended with a failed execution)\n",
        report.runs, report.failed_runs
    );
    text += &format!("executions recorded: {executions}\n");
    text += &format!("scenarios run: {} kinds\n", report.scenarios.len());
    for (label, n) in &report.scenarios {
        match report.kills.get(label) {
            Some(kills) => text += &format!("  {n:4}  {label} ({kills} landed)\n"),
            None => text += &format!("  {n:4}  {label}\n"),
        }
    }
    text += &format!("SIGKILLs that landed: {}\n", report.kill_total);
    text += &format!(
        "faults injected by the proxy: {} (429/503 answers {}, failed bulk items {}, resets {}, refused {}, non-JSON {}, answers held after the server saw the request (past the timeout, or for a kill) {}, requests held for a kill before the server saw them {})\n",
        stats.faults(),
        stats.statuses,
        stats.bulk_items_failed,
        stats.resets,
        stats.refused,
        stats.not_json,
        stats.delayed,
        stats.stalled
    );
    text += &format!("source events: {}\n", sim.events.len());
    text += &format!("alerts expected: {}\n", expected.len());
    text += &format!("alerts written: {}\n", written.len());
    text += &format!("duplicates: {duplicates}\n");
    text += &format!("missing: {}\n", missing.len());
    text += &format!("unexpected: {}\n", unexpected.len());
    text += &format!(
        "suppressing rule: {suppressed_alerts} alerts; events counted per action {suppressed:?}, matching events {expected_suppressed:?}\n"
    );
    text += &format!(
        "worst delay event searchable -> alert written: {} simulated minutes; {:.2} s wall clock (upper bound: seen after the run that wrote it)\n",
        worst_sim.num_minutes(),
        worst_wall.as_secs_f64()
    );
    eprintln!("{text}");
    for key in missing.iter().take(10) {
        let event = expected[*key];
        eprintln!("missing: {key:?} searchable at {}", event.searchable_at);
    }
    assert!(
        report.clean_failures.is_empty(),
        "clean runs failed: {:#?}",
        report.clean_failures
    );
    assert_eq!(duplicates, 0, "duplicate alerts");
    assert!(missing.is_empty(), "{} alerts missing", missing.len());
    assert!(unexpected.is_empty(), "unexpected alerts: {unexpected:?}");
    assert_eq!(
        suppressed, expected_suppressed,
        "suppressed alerts must count every matching event exactly once"
    );
    assert!(report.kill_total >= kills_wanted());
}

/// The worst delay from an event being searchable to its alert being written: in simulated
/// time (alert `@timestamp` = execution time, minus the tick that made the event searchable),
/// and in wall-clock time (first seen after a run, minus when the event was indexed).
async fn worst_delays(sim: &Sim, expected: &HashMap<AlertKey, &Event>) -> (TimeDelta, Duration) {
    let pattern = format!("{}*", sim.names.alerts);
    let (_, answer) = sim
        .server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_search"),
            Some(json!({"size": 10_000, "query": {"match_all": {}}})),
        )
        .await;
    let mut worst_sim = TimeDelta::zero();
    for hit in answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let source = &hit["_source"];
        let ancestor = &source["kibana.alert.ancestors"][0];
        let key = (
            source["kibana.alert.rule.rule_id"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            ancestor["index"].as_str().unwrap_or("").to_string(),
            ancestor["id"].as_str().unwrap_or("").to_string(),
        );
        let written = source["@timestamp"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok());
        if let (Some(event), Some(written)) = (expected.get(&key), written) {
            worst_sim = worst_sim.max(written - event.searchable_at);
        }
    }
    let worst_wall = expected
        .iter()
        .filter_map(|(key, event)| {
            sim.seen
                .get(key)
                .map(|seen| seen.saturating_duration_since(event.searchable_wall))
        })
        .max()
        .unwrap_or_default();
    (worst_sim, worst_wall)
}

async fn count_executions(server: &TestServer, executions: &str) -> u64 {
    server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{executions}*/_refresh"),
            None,
        )
        .await;
    let (_, answer) = server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{executions}*/_search?ignore_unavailable=true&allow_no_indices=true"),
            Some(json!({"size": 0, "track_total_hits": true, "query": {"exists": {"field": "lookout.execution.execution_uuid"}}})),
        )
        .await;
    answer["hits"]["total"]["value"].as_u64().unwrap_or(0)
}
