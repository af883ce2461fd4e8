//! The engine: runs one rule execution from start to end (ENGINE.md sections 2, 4, 5, 6), and,
//! in [`daemon`], every enabled rule on its schedule. An execution reads the rule's `covered_to`,
//! plans its windows, searches and writes each chunk oldest first, moves `covered_to` after
//! each chunk's alerts are written, and records one execution document and one log event.

mod chunk;
pub mod clock;
pub mod daemon;
mod error;
pub mod plan;
pub mod query;
pub mod service;
pub mod setup;
mod typed;
mod window;

pub use chunk::{AlertWrite, PIT_KEEP_ALIVE, create_alerts};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use error::ExecutionError;

use crate::alert::AlertContext;
use crate::config::Config;
use crate::es::Client;
use crate::rule::Rule;
use crate::schedule::{self, Window};
use crate::state::{ExecutionRecord, ExecutionStatus, Gap, RuleState, StateStore};
use chrono::{DateTime, TimeDelta, Utc};
use chunk::{ChunkContext, ChunkOutcome};
use query::FieldCapsCache;
use std::time::{Duration, Instant};

/// The warning of an execution that found more new alerts than `max_signals` allows.
pub const MAX_SIGNALS_WARNING: &str = "reached the maximum alert limit";

/// Where an engine writes and how far back it catches up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub alerts_index: String,
    pub namespace: String,
    pub max_catch_up: TimeDelta,
    /// Connectors and routes: which connectors each rule's alerts must reach.
    pub notify: std::sync::Arc<crate::config::NotifyConfig>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            alerts_index: config.alerts.index.clone(),
            namespace: config.alerts.namespace.clone(),
            max_catch_up: config.engine.max_catch_up,
            notify: std::sync::Arc::new(config.notify.clone()),
        }
    }

    /// Every alerts index, including those rolled over from the configured one.
    pub fn alerts_pattern(&self) -> String {
        format!("{}*", self.alerts_index)
    }
}

/// Runs rule executions against one server.
pub struct Engine {
    client: Client,
    store: StateStore,
    settings: Settings,
    field_caps: FieldCapsCache,
}

/// The result of one execution: the record written to the executions index.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    pub record: ExecutionRecord,
    /// How many chunks were searched (more than one when catching up).
    pub chunks: usize,
}

impl ExecutionReport {
    pub fn failed(&self) -> bool {
        self.record.status == ExecutionStatus::Failed
    }
}

/// What an execution has done so far; becomes the execution record.
#[derive(Debug, Default)]
struct Tally {
    window: Option<Window>,
    /// The rule's state when the execution started (`None` before its first execution).
    previous: Option<RuleState>,
    covered_to: Option<DateTime<Utc>>,
    gap: Option<Window>,
    chunks: usize,
    totals: ChunkOutcome,
    warnings: Vec<String>,
}

impl Tally {
    fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn add(&mut self, outcome: ChunkOutcome) {
        self.chunks += 1;
        self.totals.hits += outcome.hits;
        self.totals.created += outcome.created;
        self.totals.duplicates += outcome.duplicates;
        self.totals.search += outcome.search;
        self.totals.write += outcome.write;
        if outcome.limit_reached {
            self.warn(MAX_SIGNALS_WARNING);
        }
    }
}

impl Engine {
    pub fn new(client: Client, store: StateStore, settings: Settings) -> Self {
        Self {
            client,
            store,
            settings,
            field_caps: FieldCapsCache::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs one execution of `rule` whose start time is `at`. Never fails: a failure is an
    /// execution with status `failed`, recorded like any other.
    pub async fn execute(&self, rule: &Rule, at: DateTime<Utc>) -> ExecutionReport {
        let started = Instant::now();
        let execution_uuid = uuid::Uuid::new_v4().to_string();
        let mut tally = Tally::default();
        let result = self.run(rule, at, &execution_uuid, &mut tally).await;
        let mut record = record(rule, at, execution_uuid, &tally, result, started);
        self.persist(rule, at, &tally, &mut record).await;
        let report = ExecutionReport {
            chunks: tally.chunks,
            record,
        };
        log_execution(&report);
        report
    }

    /// The execution proper: plan, then search and write chunk by chunk.
    async fn run(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        execution_uuid: &str,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        tally.previous = self.load_state(rule).await?;
        tally.covered_to = tally.previous.as_ref().and_then(|state| state.covered_to);
        let nominal = schedule::resolve(rule, at)?;
        tally.window = Some(nominal);
        if tally.covered_to.is_none() {
            self.start_coverage(rule, nominal.from, tally).await?;
        }
        let windows = schedule::plan(
            nominal,
            tally.covered_to,
            rule.interval,
            self.settings.max_catch_up,
            at,
        );
        tally.window = Some(windows.searched());
        if let Some(gap) = windows.gap {
            self.record_gap(rule, gap, tally).await?;
        }
        let translated = self.field_caps.translate(&self.client, rule).await?;
        translated
            .warnings
            .iter()
            .for_each(|w| tally.warn(w.clone()));
        if translated.no_index_matches {
            tally.warn(format!(
                "index pattern {} matches no index",
                rule.index.join(",")
            ));
        }
        let alerts_pattern = self.settings.alerts_pattern();
        let notify = crate::notify::route(rule, &self.settings.notify);
        let context =
            self.chunk_context(rule, &translated.dsl, &alerts_pattern, execution_uuid, at);
        let context = ChunkContext {
            alert: AlertContext {
                notify: &notify,
                ..context.alert
            },
            ..context
        };
        let last = windows.chunks.len().saturating_sub(1);
        for (n, window) in windows.chunks.iter().enumerate() {
            let outcome = typed::run(&context, window).await?;
            tally.add(outcome);
            advance(tally, window.to);
            // The last chunk's coverage is saved with the execution's final state (one request
            // less per execution); earlier chunks of a catch-up are saved as they finish.
            if n < last {
                self.cover(rule, tally).await?;
            }
        }
        Ok(())
    }

    /// What every chunk of one execution shares.
    fn chunk_context<'a>(
        &'a self,
        rule: &'a Rule,
        query: &'a serde_json::Value,
        alerts_pattern: &'a str,
        execution_uuid: &'a str,
        at: DateTime<Utc>,
    ) -> ChunkContext<'a> {
        ChunkContext {
            client: &self.client,
            rule,
            query,
            alerts_index: &self.settings.alerts_index,
            alerts_pattern,
            alert: AlertContext {
                rule,
                namespace: &self.settings.namespace,
                execution_uuid,
                created_at: at,
                notify: &[],
            },
        }
    }

    async fn load_state(&self, rule: &Rule) -> Result<Option<RuleState>, ExecutionError> {
        self.store
            .load(&rule.rule_id)
            .await
            .map_err(|error| ExecutionError::state(rule, error))
    }

    async fn record_gap(
        &self,
        rule: &Rule,
        gap: Window,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        tally.gap = Some(gap);
        tally.warn(format!(
            "gap {gap}: older than max_catch_up, not searched (lookout backfill can fill it)"
        ));
        self.store
            .record_gap(&rule.rule_id, gap.from, gap.to)
            .await
            .map_err(|error| ExecutionError::state(rule, error))
    }

    /// A rule's first execution records where its coverage starts (its first window's `from`)
    /// before searching, so that when this execution dies or fails, the next one searches
    /// from there instead of from its own, later window. Nothing before it is lookout's to
    /// search, so the window up to `from` is covered vacuously.
    async fn start_coverage(
        &self,
        rule: &Rule,
        from: DateTime<Utc>,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        let mut state = tally
            .previous
            .clone()
            .unwrap_or_else(|| RuleState::new(rule.rule_id.clone()));
        state.covered_to = Some(from);
        self.store
            .save(&state)
            .await
            .map_err(|error| ExecutionError::state(rule, error))?;
        tally.covered_to = Some(from);
        tally.previous = Some(state);
        Ok(())
    }

    /// Saves `covered_to` once a chunk's alerts are written.
    async fn cover(&self, rule: &Rule, tally: &Tally) -> Result<(), ExecutionError> {
        let mut state = tally
            .previous
            .clone()
            .unwrap_or_else(|| RuleState::new(rule.rule_id.clone()));
        state.covered_to = tally.covered_to;
        self.store
            .save(&state)
            .await
            .map_err(|error| ExecutionError::state(rule, error))
    }

    /// Stores the rule's final state (with the last chunk's coverage), then the execution
    /// record. When the state cannot be saved after the execution searched something, the
    /// execution counts as failed: its alerts are written, but its window is searched again
    /// next time (the alert ids drop what is already written). A failed record only gets logged.
    async fn persist(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        tally: &Tally,
        record: &mut ExecutionRecord,
    ) {
        let state = RuleState {
            rule_id: rule.rule_id.clone(),
            covered_to: tally.covered_to,
            last_status: Some(record.status),
            last_error: record.error.clone(),
            last_execution_at: Some(at),
        };
        if let Err(error) = self.store.save(&state).await {
            tracing::warn!(rule_id = %rule.rule_id, %error, "saving the rule state failed");
            let saved = tally.previous.as_ref().and_then(|state| state.covered_to);
            if tally.covered_to != saved && record.error.is_none() {
                record.status = ExecutionStatus::Failed;
                record.error = Some(format!(
                    "{}; its window is searched again next time",
                    ExecutionError::state(rule, error)
                ));
            }
        }
        if let Err(error) = self.store.record_execution(record).await {
            tracing::warn!(rule_id = %rule.rule_id, %error, "recording the execution failed");
        }
    }
}

/// Moves `covered_to` to `to`, never backwards.
fn advance(tally: &mut Tally, to: DateTime<Utc>) {
    tally.covered_to = Some(tally.covered_to.map_or(to, |covered| covered.max(to)));
}

/// The execution record of a finished execution.
fn record(
    rule: &Rule,
    at: DateTime<Utc>,
    execution_uuid: String,
    tally: &Tally,
    result: Result<(), ExecutionError>,
    started: Instant,
) -> ExecutionRecord {
    let error = result.err().map(|error| error.to_string());
    let status = match (&error, tally.warnings.is_empty()) {
        (Some(_), _) => ExecutionStatus::Failed,
        (None, false) => ExecutionStatus::PartialFailure,
        (None, true) => ExecutionStatus::Succeeded,
    };
    let window = tally.window.unwrap_or(Window { from: at, to: at });
    ExecutionRecord {
        execution_uuid,
        rule_id: rule.rule_id.clone(),
        rule_name: rule.name.clone(),
        started_at: at,
        window_from: window.from,
        window_to: window.to,
        status,
        hits: tally.totals.hits,
        alerts_created: tally.totals.created,
        duplicates: tally.totals.duplicates,
        search_ms: millis(tally.totals.search),
        write_ms: millis(tally.totals.write),
        total_ms: millis(started.elapsed()),
        warnings: tally.warnings.clone(),
        error,
        gap: tally.gap.map(|gap| Gap {
            from: gap.from,
            to: gap.to,
        }),
    }
}

/// The one log event of an execution.
fn log_execution(report: &ExecutionReport) {
    let record = &report.record;
    let window = Window {
        from: record.window_from,
        to: record.window_to,
    };
    macro_rules! execution_event {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                rule_id = %record.rule_id,
                window = %window,
                hits = record.hits,
                created = record.alerts_created,
                duplicates = record.duplicates,
                elapsed_ms = record.total_ms,
                search_ms = record.search_ms,
                write_ms = record.write_ms,
                chunks = report.chunks,
                status = ?record.status,
                warnings = %record.warnings.join("; "),
                error = record.error.as_deref().unwrap_or(""),
                $message
            )
        };
    }
    match (&record.error, record.warnings.is_empty()) {
        (Some(_), _) => execution_event!(tracing::Level::ERROR, "rule execution failed"),
        (None, false) => execution_event!(
            tracing::Level::WARN,
            "rule execution finished with warnings"
        ),
        (None, true) => execution_event!(tracing::Level::INFO, "rule execution succeeded"),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A query rule for unit tests, parsed from rule-file TOML like every real rule.
#[cfg(test)]
pub(crate) fn test_rule(rule_id: &str) -> crate::rule::Rule {
    let text = format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["Elastic"]
description = "A rule for tests"
index = ["logs-aws.cloudtrail-*"]
language = "kuery"
license = "Elastic License v2"
name = "Test rule {rule_id}"
risk_score = 47
rule_id = "{rule_id}"
severity = "medium"
tags = ["Domain: Cloud"]
type = "query"
interval = "5m"
from = "now-6m"
query = "event.action: AddUserToGroup"
"#
    );
    let path = std::path::PathBuf::from(format!("rules/{rule_id}.toml"));
    let (rule, _warnings) = crate::rule::parse_rule_bytes(&path, text.as_bytes())
        .unwrap_or_else(|errors| panic!("test rule does not parse: {errors:?}"));
    rule
}
