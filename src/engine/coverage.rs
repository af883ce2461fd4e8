//! The rule state an execution reads and writes: where coverage stands (`covered_to`), where it
//! starts on a rule's first execution, gaps older than the catch-up bound, and the final state
//! and execution record (docs/architecture.md, "Windows" and "State and executions").

use super::record::Tally;
use super::sink::Refused;
use super::{Engine, ExecutionError};
use crate::rule::Rule;
use crate::schedule::Window;
use crate::state::{
    DeadLetter, ExecutionRecord, ExecutionStatus, Gap, RuleState, StateWriteError, Stored,
    check_fence,
};
use chrono::{DateTime, Utc};

impl Engine {
    /// The rule's state and its version. Under a lease: the lease must still be held, and the
    /// state must not have been written under a later lease (else the execution is superseded
    /// before it searches anything).
    pub(super) async fn load_state(
        &self,
        rule: &Rule,
        tally: &Tally,
    ) -> Result<Option<Stored>, ExecutionError> {
        let fence = self.lease_fence(rule, tally)?;
        // The state this engine saved at the rule's last execution, under the same fence (the
        // same lease generation, or none): no one else wrote it since but a stale writer,
        // whose write the conditional write finds.
        if let Some(stored) = self.saved_states.take(&rule.rule_id, &fence) {
            return Ok(Some(stored));
        }
        let (stored, stored_fence) = (self.store.load_fenced(&rule.rule_id).await)
            .map_err(|error| ExecutionError::state(rule, error))?;
        check_fence(&rule.rule_id, stored_fence.as_ref(), fence.as_ref())
            .map_err(|error| written_error(rule, error))?;
        Ok(stored)
    }

    /// The fence of the execution's lease, `None` without one; superseded when the lease is
    /// no longer held.
    fn lease_fence(
        &self,
        rule: &Rule,
        tally: &Tally,
    ) -> Result<Option<crate::state::Fence>, ExecutionError> {
        let Some(lease) = &tally.lease else {
            return Ok(None);
        };
        if !lease.0.held() {
            return Err(ExecutionError::Superseded {
                rule_id: rule.rule_id.clone(),
                message: "this instance no longer holds the rule's lease (not renewed in time, or taken over); the state is not written".to_string(),
            });
        }
        Ok(Some(lease.0.fence()))
    }

    /// Writes the rule's state over the version read (never backwards), fenced by the lease.
    async fn save_state(
        &self,
        rule: &Rule,
        state: &RuleState,
        tally: &mut Tally,
    ) -> Result<RuleState, ExecutionError> {
        let fence = self.lease_fence(rule, tally)?;
        let saved = self
            .store
            .save_advancing_fenced(state, &mut tally.version, fence.as_ref())
            .await;
        saved.map_err(|error| written_error(rule, error))
    }

    pub(super) async fn record_gap(
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

    /// Records the alerts of a chunk that the alerts index refused for good as dead letters,
    /// with a warning: the chunk stays covered and the rule keeps detecting. When a record
    /// cannot be written, the chunk fails (its window is searched again; nothing is lost).
    pub(super) async fn dead_letters(
        &self,
        rule: &Rule,
        window: Window,
        at: DateTime<Utc>,
        refused: Vec<Refused>,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        let Some(first) = refused.first() else {
            return Ok(());
        };
        tally.warn(format!(
            "{} alerts refused by {} were recorded as dead letters (first: HTTP {}: {}); `lookout backfill --dead-letters` retries them",
            refused.len(),
            self.settings.alerts_index,
            first.status,
            first.reason
        ));
        for refusal in &refused {
            let (event_index, event_id) = refusal.event.clone().unzip();
            let letter = DeadLetter {
                rule_id: rule.rule_id.clone(),
                alert_id: refusal.alert_id.clone(),
                event_index,
                event_id,
                window: Gap {
                    from: window.from,
                    to: window.to,
                },
                status: refusal.status,
                error: refusal.reason.clone(),
                recorded_at: at,
            };
            (self.store.record_dead_letter(&letter).await)
                .map_err(|error| ExecutionError::state(rule, error))?;
            tally.dead_letters += 1;
        }
        Ok(())
    }

    /// A rule without coverage (no state document, or one written before its coverage
    /// started): new, or its state was lost (the document or the whole
    /// state index deleted). When this deployment's execution records say the rule ran,
    /// coverage resumes where they say it stood (older than `max_catch_up`, the rest is a gap).
    /// When they are gone too but the rule's alerts say it ran, or the deployment kept no
    /// execution record at all though its alerts say it ran (its executions index was lost: a
    /// rule that never alerted ran too), the `max_catch_up` before the nominal window is
    /// recorded as a gap (`lookout backfill --gaps` searches it). Otherwise the rule is new:
    /// its coverage starts at its first window, as before.
    pub(super) async fn recover_coverage(
        &self,
        rule: &Rule,
        nominal: Window,
        at: DateTime<Utc>,
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        let state_error = |error| ExecutionError::state(rule, error);
        if let Some(recorded) =
            (self.store.recorded_coverage(&rule.rule_id).await).map_err(state_error)?
        {
            let covered_to = recorded.covered_to;
            // A state document without coverage is a first execution that failed before its
            // coverage started: nothing was lost.
            if tally.previous.is_none() {
                tally.warn(format!(
                    "the rule's state was missing; coverage resumes at {} from its execution records",
                    covered_to.to_rfc3339()
                ));
            }
            tally.covered_to = Some(covered_to);
            if recorded.started {
                let mut previous =
                    (tally.previous.take()).unwrap_or_else(|| RuleState::new(rule.rule_id.clone()));
                previous.coverage_from = Some(covered_to);
                tally.previous = Some(previous);
            }
            return self.cover(rule, tally).await;
        }
        // Asked before this rule's own alerts, so that it is answered before any execution of
        // this engine wrote a record (each passes here first when the records were lost).
        let records_lost = self.records_lost().await.map_err(state_error)?;
        if !records_lost && !self.has_alerts(rule).await.map_err(state_error)? {
            return Ok(());
        }
        let from = at - self.settings.max_catch_up;
        if from < nominal.from {
            let gap = Window {
                from,
                to: nominal.from,
            };
            tally.warn(
                "the rule's state and execution records were missing, though it (or its deployment) has alerts: the max_catch_up before its window is recorded as a gap",
            );
            self.record_gap(rule, gap, tally).await?;
        }
        Ok(())
    }

    /// Whether this deployment lost its execution records: the executions index holds none of
    /// its execution records, though the alerts indices hold an alert of its namespace from a
    /// scheduled execution. Asked once per engine (two searches at most).
    async fn records_lost(&self) -> Result<bool, crate::es::EsError> {
        let lost = self.records_lost.get_or_try_init(async || {
            if self.store.has_execution_records().await? {
                return Ok(false);
            }
            self.has_alerts_of(None).await
        });
        lost.await.copied()
    }

    /// Whether the alerts indices hold an alert of this rule and namespace from a scheduled
    /// execution.
    async fn has_alerts(&self, rule: &Rule) -> Result<bool, crate::es::EsError> {
        self.has_alerts_of(Some(&rule.rule_id)).await
    }

    /// Whether the alerts indices hold an alert of this namespace (of one rule, when given)
    /// from a scheduled execution.
    async fn has_alerts_of(&self, rule_id: Option<&str>) -> Result<bool, crate::es::EsError> {
        let mut filter =
            vec![serde_json::json!({"term": {"kibana.space_ids": self.settings.namespace}})];
        if let Some(rule_id) = rule_id {
            filter.push(serde_json::json!({"term": {"kibana.alert.rule.rule_id": rule_id}}));
        }
        let body = serde_json::json!({
            "size": 1,
            "_source": false,
            "query": {"bool": {"filter": filter, "must_not": [
                // A backfill's alerts say nothing about scheduled coverage.
                {"term": {"kibana.alert.rule.execution.type": "manual"}},
            ]}},
        });
        let pattern = self.settings.alerts_pattern();
        Ok(!self.client.search_docs(&pattern, body).await?.is_empty())
    }

    /// A rule's first execution records where its coverage starts (its first window's `from`)
    /// before searching, so that when this execution dies or fails, the next one searches
    /// from there instead of from its own, later window. Nothing before it is lookout's to
    /// search, so the window up to `from` is covered vacuously.
    pub(super) async fn start_coverage(
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
        state.coverage_from = Some(from);
        let stored = self.save_state(rule, &state, tally).await?;
        tally.covered_to = stored.covered_to;
        tally.previous = Some(stored);
        Ok(())
    }

    /// Saves `covered_to` once a chunk's alerts are written (over the version read; never
    /// backwards).
    pub(super) async fn cover(&self, rule: &Rule, tally: &mut Tally) -> Result<(), ExecutionError> {
        let mut state = tally
            .previous
            .clone()
            .unwrap_or_else(|| RuleState::new(rule.rule_id.clone()));
        state.covered_to = tally.covered_to;
        let stored = self.save_state(rule, &state, tally).await?;
        tally.covered_to = stored.covered_to;
        tally.previous = Some(stored);
        Ok(())
    }

    /// Stores the rule's final state (with the last chunk's coverage) and the execution
    /// record, in one request. When the state cannot be saved after the execution searched
    /// something, the execution counts as failed: its alerts are written, but its window is
    /// searched again next time (the alert ids drop what is already written); the record is
    /// then written again with that status. A failed record only gets logged. A saved state
    /// is remembered, so that the rule's next execution here need not read it back.
    pub(super) async fn persist(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        tally: &mut Tally,
        record: &mut ExecutionRecord,
    ) {
        let state = RuleState {
            rule_id: rule.rule_id.clone(),
            covered_to: tally.covered_to,
            coverage_from: (tally.previous.as_ref()).and_then(|state| state.coverage_from),
            last_status: Some(record.status),
            last_error: record.error.clone(),
            last_execution_at: Some(at),
        };
        // Another instance runs the rule now: its state is that instance's to write.
        let fence = match record.status {
            ExecutionStatus::Superseded => None,
            _ => Some(self.lease_fence(rule, tally)),
        };
        let recorded = match fence {
            None => self.store.record_execution(record).await,
            Some(Err(error)) => {
                self.state_not_saved(rule, error, tally, record);
                self.store.record_execution(record).await
            }
            Some(Ok(fence)) => {
                let (saved, recorded) = (self.store)
                    .save_with_record(&state, &mut tally.version, fence.as_ref(), record)
                    .await;
                match saved {
                    Ok(state) => {
                        let version = tally.version;
                        let stored = Stored { state, version };
                        self.saved_states.put(rule.rule_id.clone(), fence, stored);
                        recorded
                    }
                    Err(error) => {
                        if self.state_not_saved(rule, written_error(rule, error), tally, record) {
                            // The record written with the state says otherwise: again.
                            self.store.record_execution(record).await
                        } else {
                            recorded
                        }
                    }
                }
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(rule_id = %rule.rule_id, %error, "recording the execution failed");
        }
    }

    /// What a state write that failed makes of the execution: superseded when another
    /// instance's lease wrote the state, failed when the execution had moved coverage.
    /// Whether the record changed.
    fn state_not_saved(
        &self,
        rule: &Rule,
        error: ExecutionError,
        tally: &Tally,
        record: &mut ExecutionRecord,
    ) -> bool {
        let superseded = matches!(error, ExecutionError::Superseded { .. });
        tracing::warn!(rule_id = %rule.rule_id, %error, "saving the rule state failed");
        let saved = tally.previous.as_ref().and_then(|state| state.covered_to);
        if superseded {
            record.status = ExecutionStatus::Superseded;
            record.error = Some(error.to_string());
            true
        } else if tally.covered_to != saved && record.error.is_none() {
            record.status = ExecutionStatus::Failed;
            record.error = Some(format!("{error}; its window is searched again next time"));
            true
        } else {
            false
        }
    }
}

/// A refused state write as an execution error: superseded when a later lease wrote the state.
fn written_error(rule: &Rule, error: StateWriteError) -> ExecutionError {
    match error {
        StateWriteError::Superseded { .. } => ExecutionError::Superseded {
            rule_id: rule.rule_id.clone(),
            message: error.to_string(),
        },
        other => ExecutionError::state(rule, other),
    }
}
