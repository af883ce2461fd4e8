//! Why an execution failed. Every message names the rule, and the index or window involved.

use crate::es::EsError;
use crate::rule::Rule;
use crate::schedule::ScheduleError;

/// A failed execution. The window it was searching stays uncovered, so the next execution
/// searches it again.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("rule {rule_id}: {source}")]
    Schedule {
        rule_id: String,
        #[source]
        source: ScheduleError,
    },
    #[error("rule {rule_id}: {source}")]
    Es {
        rule_id: String,
        #[source]
        source: EsError,
    },
    #[error("rule {rule_id}: {message}")]
    Search { rule_id: String, message: String },
    #[error("rule {rule_id}: rule state: {message}")]
    State { rule_id: String, message: String },
    /// The rule's lease was lost, or its state written under a later lease: another instance
    /// runs the rule now, and this execution writes no state.
    #[error("rule {rule_id}: superseded: {message}")]
    Superseded { rule_id: String, message: String },
    #[error(
        "rule {rule_id}: {failed} alerts could not be written to {index} (first: HTTP {status}: {reason})"
    )]
    WriteFailed {
        rule_id: String,
        index: String,
        failed: usize,
        status: u16,
        reason: String,
    },
    #[error(
        "rule {rule_id}: the suppressed alert {alert_id} was not updated ({reason}); nothing was counted twice, the window is searched again"
    )]
    SuppressionUpdate {
        rule_id: String,
        alert_id: String,
        reason: String,
    },
}

impl ExecutionError {
    pub(super) fn es(rule: &Rule, source: EsError) -> Self {
        Self::Es {
            rule_id: rule.rule_id.clone(),
            source,
        }
    }

    pub(super) fn schedule(rule: &Rule, source: ScheduleError) -> Self {
        Self::Schedule {
            rule_id: rule.rule_id.clone(),
            source,
        }
    }

    pub(super) fn state(rule: &Rule, error: impl std::fmt::Display) -> Self {
        Self::State {
            rule_id: rule.rule_id.clone(),
            message: error.to_string(),
        }
    }
}
