//! One execution over an explicit window, for `lookout backfill`: the same search, alert ids and
//! writes as a scheduled execution, and an execution record, but the rule's `covered_to` and
//! state are left alone (a backfill fills the past; it does not move the schedule).

use super::record::{Tally, execution_record, log_execution};
use super::{Engine, ExecutionError, ExecutionReport};
use crate::rule::Rule;
use crate::schedule::Window;
use chrono::{DateTime, Utc};
use std::time::Instant;

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
        if let Err(error) = self.store.record_execution(&report.record).await {
            tracing::warn!(rule_id = %rule.rule_id, %error, "recording the execution failed");
        }
        log_execution(&report);
        report
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
