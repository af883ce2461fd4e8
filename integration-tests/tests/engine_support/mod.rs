//! Shared set-up of the engine tests: a fresh CloudTrail source index and fresh alerts, state
//! and executions indices per test, the two seed rules from Elastic's corpus pointed at that
//! source index, and CloudTrail events from the shared fixtures stamped at chosen times.

#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use integration_tests::{TestServer, ecs_samples, shared_file, unique_name};
use lookout::Backoff;
use lookout::Config;
use lookout::Rule;
use lookout::{Engine, ExecutionReport, SystemClock};
use serde_json::{Value, json};
use std::path::PathBuf;

/// The seed rule that fires on a successful AddUserToGroup.
pub const ADD_USER_TO_GROUP: &str = "corpus/detection-rules/rules/integrations/aws/credential_access_iam_user_addition_to_group.toml";
/// The seed rule that fires on a successful CreateGroup.
pub const CREATE_GROUP: &str =
    "corpus/detection-rules/rules/integrations/aws/persistence_iam_group_creation.toml";
pub const ADD_USER_RULE_ID: &str = "333de828-8190-4cf5-8d7c-7575846f6fe0";
pub const CREATE_GROUP_RULE_ID: &str = "169f3a93-efc7-4df2-94d6-0d9438c310d1";

/// The simulated "now" of the first execution in every test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
}

pub fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// One test's server, indices and engine.
pub struct Env {
    pub server: TestServer,
    pub source: String,
    pub config: Config,
    pub engine: Engine,
}

impl Env {
    pub async fn new() -> Env {
        Env::with_config(|_| {}).await
    }

    /// Like [`Env::new`], with the configuration adjusted first.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Env {
        let server = TestServer::connect();
        let source = unique_name("logs-aws.cloudtrail-eng");
        server.create_cloudtrail_index(&source).await;
        let mut config = test_config(&server);
        adjust(&mut config);
        let backoff = Backoff {
            max_attempts: Some(1),
            ..Backoff::default()
        };
        let engine = lookout::connect(&config, &SystemClock, backoff)
            .await
            .expect("the test server answers");
        Env {
            server,
            source,
            config,
            engine,
        }
    }

    /// Indexes events into the source index (refreshed).
    pub async fn index(&self, docs: &[Value]) {
        self.server.bulk_create(&self.source, docs).await;
    }

    /// A seed rule searching this test's source index.
    pub fn rule(&self, seed: &str, overrides: &[(&str, &str)]) -> Rule {
        seed_rule(seed, &self.source, overrides)
    }

    pub async fn execute(&self, rule: &Rule, at: DateTime<Utc>) -> ExecutionReport {
        self.engine.execute(rule, at).await
    }

    /// Every alert document (`_source` with `_id` added as `"_id"`).
    pub async fn alerts(&self) -> Vec<Value> {
        search_all(&self.server, &format!("{}*", self.config.alerts.index)).await
    }

    /// Every document of the executions index (executions and gaps).
    pub async fn execution_docs(&self) -> Vec<Value> {
        search_all(
            &self.server,
            &format!("{}*", self.config.engine.executions_index),
        )
        .await
    }
}

/// A configuration pointing at the test server with this test's own index names.
pub fn test_config(server: &TestServer) -> Config {
    let mut config = Config::default();
    config.elasticsearch.url = server.url.clone();
    config.alerts.index = unique_name("lookout-alerts-eng");
    config.engine.state_index = unique_name("lookout-state-eng");
    config.engine.executions_index = unique_name("lookout-executions-eng");
    config
}

/// All documents behind a pattern (empty when nothing matches), `_id` copied into each.
pub async fn search_all(server: &TestServer, pattern: &str) -> Vec<Value> {
    let body = json!({"size": 10_000, "query": {"match_all": {}}});
    let path = format!("/{pattern}/_search?ignore_unavailable=true&allow_no_indices=true");
    server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_refresh"),
            None,
        )
        .await;
    let answer = server
        .ok(elasticsearch::http::Method::Post, &path, Some(body))
        .await;
    let hits = answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    hits.into_iter()
        .map(|hit| {
            let mut source = hit["_source"].clone();
            source["_id"] = hit["_id"].clone();
            source
        })
        .collect()
}

/// The rule file text of a seed rule with `index` set to `index` and keys of `[rule]` replaced
/// or added.
pub fn seed_rule_text(seed: &str, index: &str, overrides: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(shared_file(seed)).expect("the seed rule is readable");
    let mut settings: Vec<(String, String)> = vec![("index".into(), format!("[\"{index}\"]"))];
    settings.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let replaced = settings
            .iter()
            .any(|(key, _)| line.starts_with(&format!("{key} = ")));
        if !replaced {
            lines.push(line.to_string());
        }
        if line == "[rule]" {
            lines.extend(
                settings
                    .iter()
                    .map(|(key, value)| format!("{key} = {value}")),
            );
        }
    }
    lines.join("\n") + "\n"
}

/// A seed rule, parsed like any rule file.
pub fn seed_rule(seed: &str, index: &str, overrides: &[(&str, &str)]) -> Rule {
    let text = seed_rule_text(seed, index, overrides);
    let path = PathBuf::from(seed);
    integration_tests::runnable_rule(&path, &text)
}

/// A CloudTrail event of the shared fixtures with this action (the first such sample), with its
/// outcome set, `@timestamp` at `timestamp` and `event.ingested` at `ingested` (absent if None).
pub fn event(
    action: &str,
    outcome: &str,
    timestamp: DateTime<Utc>,
    ingested: Option<DateTime<Utc>>,
) -> Value {
    let mut doc = ecs_samples()
        .into_iter()
        .find(|doc| doc["event"]["action"] == action)
        .unwrap_or_else(|| panic!("no fixture sample has event.action {action}"));
    doc["@timestamp"] = json!(iso(timestamp));
    doc["event"]["outcome"] = json!(outcome);
    match ingested {
        Some(ingested) => doc["event"]["ingested"] = json!(iso(ingested)),
        None => {
            doc["event"]
                .as_object_mut()
                .expect("event is an object")
                .remove("ingested");
        }
    }
    doc
}

/// A successful AddUserToGroup ingested at `ingested`, marked with a label to find it again.
pub fn add_user(ingested: DateTime<Utc>, mark: &str) -> Value {
    let mut doc = event(
        "AddUserToGroup",
        "success",
        ingested - minutes(1),
        Some(ingested),
    );
    doc["labels"] = json!({"mark": mark});
    doc
}

pub fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The `labels.mark` of each alert, sorted.
pub fn marks(alerts: &[Value]) -> Vec<String> {
    let mut marks: Vec<String> = alerts
        .iter()
        .map(|alert| alert["labels"]["mark"].as_str().unwrap_or("?").to_string())
        .collect();
    marks.sort();
    marks
}
