//! One execution over an explicit window, for `lookout backfill`: the same search, alert ids and
//! writes as a scheduled execution, and an execution record, but the rule's `covered_to` and
//! state are left alone (a backfill fills the past; it does not move the schedule).

use super::record::{Tally, execution_record, log_execution};
use super::{Engine, ExecutionError, ExecutionReport};
use crate::rule::Rule;
use crate::schedule::Window;
use chrono::{DateTime, Utc};
use std::time::Instant;

/// What retrying a rule's dead letters did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadLetterRetry {
    /// Dead letters found for the rule.
    pub found: usize,
    /// Windows searched again.
    pub windows: usize,
    /// Dead letters whose alert is now written (their records are removed).
    pub written: usize,
    /// Windows whose execution failed.
    pub failed: usize,
}

impl Engine {
    /// Searches `window` for `rule` and writes its new alerts (at most `max_signals`); `at` is
    /// the alerts' creation time. Never fails: a failure is a `failed` execution, recorded.
    pub async fn execute_window(
        &self,
        rule: &Rule,
        window: Window,
        at: DateTime<Utc>,
    ) -> ExecutionReport {
        let started = Instant::now();
        let execution_uuid = uuid::Uuid::new_v4().to_string();
        let mut tally = Tally {
            window: Some(window),
            ..Tally::default()
        };
        let result = self
            .search_window(rule, window, at, &execution_uuid, &mut tally)
            .await;
        let record = execution_record(rule, at, execution_uuid, &tally, result, started);
        let report = ExecutionReport {
            chunks: tally.chunks,
            record,
        };
        if let Err(error) = self.store.record_manual_execution(&report.record).await {
            tracing::warn!(rule_id = %rule.rule_id, %error, "recording the execution failed");
        }
        log_execution(&report);
        report
    }

    /// Retries the rule's dead letters: searches each of their windows again (an alert refused
    /// because of the index, fixed since, is written now), then removes the dead letters whose
    /// alert is written. Those still refused stay recorded.
    pub async fn retry_dead_letters(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterRetry, ExecutionError> {
        let state = |error| ExecutionError::state(rule, error);
        let letters = self.store.dead_letters(Some(&rule.rule_id)).await;
        let letters = letters.map_err(state)?;
        let mut windows: Vec<Window> = letters
            .iter()
            .map(|letter| Window {
                from: letter.window.from,
                to: letter.window.to,
            })
            .collect();
        windows.sort_by_key(|window| (window.from, window.to));
        windows.dedup();
        let mut retry = DeadLetterRetry {
            found: letters.len(),
            windows: windows.len(),
            ..DeadLetterRetry::default()
        };
        for window in windows {
            if self.execute_window(rule, window, at).await.failed() {
                retry.failed += 1;
            }
        }
        let ids: Vec<String> = letters.iter().map(|l| l.alert_id.clone()).collect();
        let pattern = self.settings.alerts_pattern();
        let written = self.client.existing_ids(&pattern, &ids).await;
        let written = written.map_err(|error| ExecutionError::es(rule, error))?;
        for id in ids.iter().filter(|id| written.contains(*id)) {
            self.store.remove_dead_letter(id).await.map_err(state)?;
            retry.written += 1;
        }
        Ok(retry)
    }

    async fn search_window(
        &self,
        rule: &Rule,
        window: Window,
        at: DateTime<Utc>,
        execution_uuid: &str,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        let query = self.translate(rule, tally).await;
        self.run_chunk(rule, &query, window, (execution_uuid, at, true), tally)
            .await
    }
}
