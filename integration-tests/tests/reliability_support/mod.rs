//! Shared by the reliability tests: a seeded random source, CloudTrail events made from the
//! shared fixtures, three query rules written as rule files, the alerts each event must give
//! (decided here from the events' fields, independently of lookout), and `lookout run --once`
//! as a child process configured through LOOKOUT_* variables.

#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use integration_tests::ecs_samples;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A small deterministic random source (splitmix64): the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The simulated time of the first tick.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("a valid date")
}

/// The schedule of the rules (and of the simulated ticks).
pub const TICK: TimeDelta = TimeDelta::minutes(5);

pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A rule of the reliability tests: its id and when an event must alert.
pub struct TestRule {
    pub rule_id: &'static str,
    pub name: &'static str,
    pub query: &'static str,
    pub matches: fn(&Value) -> bool,
}

fn field<'a>(doc: &'a Value, path: &str) -> &'a str {
    let mut value = doc;
    for part in path.split('.') {
        value = &value[part];
    }
    value.as_str().unwrap_or("")
}

/// The three rules: the two seed actions and a disjunction over a few others.
pub fn rules() -> Vec<TestRule> {
    vec![
        TestRule {
            rule_id: "reliab-0000-4000-8000-000000000001",
            name: "User added to an IAM group",
            query: "event.provider: iam.amazonaws.com and event.action: AddUserToGroup and event.outcome: success",
            matches: |d| {
                field(d, "event.provider") == "iam.amazonaws.com"
                    && field(d, "event.action") == "AddUserToGroup"
                    && field(d, "event.outcome") == "success"
            },
        },
        TestRule {
            rule_id: "reliab-0000-4000-8000-000000000002",
            name: "IAM group created",
            query: "event.action: CreateGroup and event.outcome: success",
            matches: |d| {
                field(d, "event.action") == "CreateGroup" && field(d, "event.outcome") == "success"
            },
        },
        TestRule {
            rule_id: "reliab-0000-4000-8000-000000000003",
            name: "Failed console login or access key change",
            query: "(event.action: ConsoleLogin and event.outcome: failure) or event.action: (CreateAccessKey or DeleteAccessKey)",
            matches: |d| {
                let action = field(d, "event.action");
                (action == "ConsoleLogin" && field(d, "event.outcome") == "failure")
                    || action == "CreateAccessKey"
                    || action == "DeleteAccessKey"
            },
        },
    ]
}

/// The rule file of a test rule searching `index_pattern`.
pub fn rule_file(rule: &TestRule, index_pattern: &str) -> String {
    format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout"]
description = "Reliability test rule."
from = "now-6m"
index = ["{index_pattern}"]
interval = "5m"
language = "kuery"
max_signals = 10000
name = "{}"
risk_score = 47
rule_id = "{}"
severity = "medium"
type = "query"
query = '''
{}
'''
"#,
        rule.name, rule.rule_id, rule.query
    )
}

/// Writes the rule files into `folder`.
pub fn write_rules(folder: &Path, index_pattern: &str) {
    std::fs::create_dir_all(folder).expect("the rules folder can be made");
    for (n, rule) in rules().iter().enumerate() {
        let path = folder.join(format!("rule-{n}.toml"));
        std::fs::write(path, rule_file(rule, index_pattern)).expect("a rule file can be written");
    }
}

/// The actions the generated stream is made of: every rule's, and read-only noise.
pub const STREAM_ACTIONS: &[&str] = &[
    "DescribeInstances",
    "ConsoleLogin",
    "CreateAccessKey",
    "DeleteAccessKey",
    "AddUserToGroup",
    "CreateGroup",
];

/// `count` CloudTrail events from lookout's generator, stamped inside `(at - 5m, at]` and
/// searchable (ingested) by `at`; deterministic for a seed.
pub fn generated_events(seed: u64, at: DateTime<Utc>, count: u64) -> Vec<Value> {
    use lookout_generator::{Generator, GeneratorConfig, LagModel};
    let start = at - TICK + TimeDelta::milliseconds(1);
    let mut config = GeneratorConfig::new(seed, start, at, count);
    config.seed_actions_rate = 0.3;
    config.failure_rate = 0.3;
    config.lag = LagModel::none();
    config.ingested_not_after = Some(at);
    config.actions = Some(STREAM_ACTIONS.iter().map(|a| a.to_string()).collect());
    Generator::new(config)
        .expect("a valid generator configuration")
        .documents()
        .collect()
}

/// The fixture samples (read once per test).
pub fn samples() -> Vec<Value> {
    ecs_samples()
}

/// A folder under the system's temporary folder, removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(integration_tests::unique_name(prefix));
        std::fs::create_dir_all(&path).expect("a temporary folder can be made");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names one test's lookout uses.
pub struct Names {
    /// The source indices' common prefix (the rules search `<source_prefix>-*`).
    pub source_prefix: String,
    pub alerts: String,
    pub state: String,
    pub executions: String,
}

/// Names the lookout binary to run (otherwise the one beside this test's profile folder).
pub const LOOKOUT_BIN_VAR: &str = "LOOKOUT_BIN";

/// The lookout binary: [`LOOKOUT_BIN_VAR`], else `target/<profile>/lookout`, which
/// `cargo test --workspace` (and so `scripts/test`, before the integration tests) builds; a
/// missing binary fails with what to run.
pub fn lookout_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os(LOOKOUT_BIN_VAR) {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> -> target/<profile>/lookout
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .join("lookout");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --bin lookout` first (scripts/test does), or set \
         {LOOKOUT_BIN_VAR}",
        binary.display()
    );
    binary
}

/// `lookout run --once --now AT` against `url` with the rules in `rules_folder`, started as a
/// child process (stdout and stderr captured so that a test can show them).
pub fn spawn_lookout(
    url: &str,
    rules_folder: &Path,
    names: &Names,
    at: DateTime<Utc>,
    request_timeout: &str,
) -> Child {
    let mut command = Command::new(lookout_binary());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LOOKOUT_")) {
        command.env_remove(name);
    }
    command
        .args(["run", "--once", "--now", &iso(at)])
        .current_dir(rules_folder)
        .env("LOOKOUT_ES_URL", url)
        .env("LOOKOUT_RULES_FOLDERS", rules_folder)
        .env("LOOKOUT_ALERTS_INDEX", &names.alerts)
        .env("LOOKOUT_STATE_INDEX", &names.state)
        .env("LOOKOUT_EXECUTIONS_INDEX", &names.executions)
        .env("LOOKOUT_ES_REQUEST_TIMEOUT", request_timeout)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lookout binary starts")
}
