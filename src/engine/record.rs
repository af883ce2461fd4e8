//! What one execution did: the tally its chunks add to, the execution record made from it,
//! and the one log event of the execution. Pure.

use super::ExecutionError;
use super::ExecutionReport;
use super::MAX_SIGNALS_WARNING;
use super::sink;
use crate::rule::Rule;
use crate::schedule::Window;
use crate::state::{ExecutionRecord, ExecutionStatus, Gap, RuleState};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// What one chunk did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ChunkOutcome {
    pub(super) hits: u64,
    pub(super) created: u64,
    pub(super) duplicates: u64,
    pub(super) suppressed: u64,
    /// More new alerts existed than the chunk's `max_signals` budget.
    pub(super) limit_reached: bool,
    pub(super) search: Duration,
    pub(super) write: Duration,
}

/// What an execution has done so far; becomes the execution record.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) window: Option<Window>,
    /// The rule's state when the execution started (`None` before its first execution).
    pub(super) previous: Option<RuleState>,
    /// The version of the state document read or last written (conditional writes).
    pub(super) version: Option<crate::state::Version>,
    pub(super) covered_to: Option<DateTime<Utc>>,
    pub(super) gap: Option<Window>,
    pub(super) chunks: usize,
    pub(super) totals: ChunkOutcome,
    pub(super) warnings: Vec<String>,
    /// Alerts refused for good, recorded as dead letters.
    pub(super) dead_letters: u64,
    /// The lease the execution runs under (several instances), `None` alone.
    pub(super) lease: Option<super::Lease>,
}

impl Tally {
    pub(super) fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    pub(super) fn add(&mut self, outcome: ChunkOutcome) {
        self.chunks += 1;
        self.totals.hits += outcome.hits;
        self.totals.created += outcome.created;
        self.totals.duplicates += outcome.duplicates;
        self.totals.suppressed += outcome.suppressed;
        self.totals.search += outcome.search;
        self.totals.write += outcome.write;
        if outcome.limit_reached {
            self.warn(MAX_SIGNALS_WARNING);
        }
    }
}

/// A chunk's outcome from its hits and what its sink wrote.
pub(super) fn outcome(hits: u64, written: sink::Written) -> ChunkOutcome {
    ChunkOutcome {
        hits,
        created: written.created,
        duplicates: written.duplicates,
        suppressed: written.suppressed,
        limit_reached: written.limit_reached,
        search: Duration::ZERO,
        write: written.elapsed,
    }
}

/// Moves `covered_to` to `to`, never backwards.
pub(super) fn advance(tally: &mut Tally, to: DateTime<Utc>) {
    tally.covered_to = Some(tally.covered_to.map_or(to, |covered| covered.max(to)));
}

/// The execution record of a finished execution.
pub(super) fn execution_record(
    rule: &Rule,
    at: DateTime<Utc>,
    execution_uuid: String,
    tally: &Tally,
    result: Result<(), ExecutionError>,
    started: Instant,
) -> ExecutionRecord {
    let superseded = matches!(result, Err(ExecutionError::Superseded { .. }));
    let error = result.err().map(|error| error.to_string());
    let status = match (&error, tally.warnings.is_empty()) {
        (Some(_), _) if superseded => ExecutionStatus::Superseded,
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
        alerts_suppressed: tally.totals.suppressed,
        search_ms: millis(tally.totals.search),
        write_ms: millis(tally.totals.write),
        total_ms: millis(started.elapsed()),
        dead_letters: tally.dead_letters,
        warnings: tally.warnings.clone(),
        error,
        gap: tally.gap.map(|gap| Gap {
            from: gap.from,
            to: gap.to,
        }),
        instance: None,
    }
}

/// The one log event of an execution.
pub(super) fn log_execution(report: &ExecutionReport) {
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
                rule_name = %record.rule_name,
                window = %window,
                hits = record.hits,
                created = record.alerts_created,
                duplicates = record.duplicates,
                suppressed = record.alerts_suppressed,
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
        (Some(_), _) if record.status == ExecutionStatus::Superseded => execution_event!(
            tracing::Level::WARN,
            "rule execution superseded: another instance holds the rule now"
        ),
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
