//! One execution over an explicit window, for `lookout backfill`: the same search, alert ids and
//! writes as a scheduled execution, and an execution record, but the rule's `covered_to` and
//! state are left alone (a backfill fills the past; it does not move the schedule).

use super::{Engine, ExecutionError, ExecutionReport, Tally, log_execution, record};
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
        let record = record(rule, at, execution_uuid, &tally, result, started);
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
        let translated = self.field_caps.translate(&self.client, rule).await?;
        translated
            .warnings
            .iter()
            .for_each(|w| tally.warn(w.clone()));
        let alerts_pattern = self.settings.alerts_pattern();
        let context =
            self.chunk_context(rule, &translated.dsl, &alerts_pattern, execution_uuid, at);
        let outcome = super::typed::run(&context, &window).await?;
        tally.add(outcome);
        Ok(())
    }
}
