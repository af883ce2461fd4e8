//! Per-rule state, execution records and gaps, kept in Elasticsearch itself so that restarts
//! and several instances see the same truth. Input: what the engine did; output: documents in
//! two indices (and the index templates for them). It decides nothing about scheduling.
//!
//! # Documents (chosen so that Kibana can chart rule health)
//!
//! * **State index** (`engine.state_index`): one document per rule and deployment, id = a hash
//!   of (namespace, alerts index, `rule_id`), so two deployments sharing a cluster never move
//!   each other's coverage: `{"@timestamp", "rule": {"id"}, "lookout": {"state": RuleState,
//!   "scope": {"namespace", "alerts_index"}}}`. `@timestamp` is the last execution time (else
//!   `covered_to`). A document of an older lookout (id = `rule_id`, no scope) is read when the
//!   rule has none of its own yet, and replaced by one at the first write.
//! * **Executions index** (`engine.executions_index`), two kinds told apart by `event.action`:
//!   - `"execute-rule"`: one per execution, id = `execution_uuid`:
//!     `{"@timestamp": started_at, "event": {"kind": "event", "action", "outcome":
//!     "success"|"failure", "start", "end", "duration" (ns)}, "rule": {"id", "name"},
//!     "lookout": {"execution": ExecutionRecord, "scope": {"namespace", "alerts_index"}}}`.
//!     A rule whose state is lost resumes from the newest of its deployment's records
//!     ([`StateStore::recorded_coverage`]).
//!   - `"gap"`: one per missed stretch of time, id = hash of (namespace, alerts index, rule_id,
//!     from), so recording it twice is harmless and a later end extends it:
//!     `{"@timestamp": from, "event": {"kind": "event", "action": "gap", "start": from,
//!     "end": to, "duration"}, "rule": {"id"}, "lookout": {"gap": {"rule_id", "from", "to",
//!     "duration_ms"}, "scope"}}`.
//!
//! ECS names (`@timestamp`, `event.*`, `rule.id`, `rule.name`) let a Kibana data view over
//! `lookout-executions-*` chart executions per rule, failures (`event.outcome`), durations
//! (`lookout.execution.total_ms`), alerts created and gaps without any setup.
//!
//! # Conditional writes
//! The engine writes a rule's state only over the version it read (`if_seq_no` /
//! `if_primary_term`, or create-only when it read none): [`StateStore::load_versioned`] and
//! [`StateStore::save_advancing`]. A writer that finds the document changed since it read it
//! reads it again and writes the later coverage of the two, so a stale writer (a slow
//! execution, a second instance) can never move `covered_to` backwards.
//!
//! # Durability
//! Writes are acknowledged only once durable (the server's default translog durability).
//! State writes do not wait for a refresh: the engine reads a rule's state by id (`load`), which
//! is real-time, and `load_all` refreshes the state index before its search. Waiting
//! (`refresh=wait_for`, up to the 1 s refresh interval on Elasticsearch, twice per execution)
//! would hold each execution's concurrency slot for nothing. Gap writes (rare) still wait, so
//! that `gaps` right after sees them.

mod batch;
mod docs;
mod templates;
#[cfg(test)]
mod tests;

pub use templates::index_templates;

use crate::config::EngineConfig;
use crate::es::{Client, ConditionalPut, EsError, ItemFailure, PutOutcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How many state documents (or executions, or gaps) one search returns.
pub const STATE_PAGE_SIZE: usize = 1000;

/// How many rules one pruning of execution records covers (the rest wait for the next one).
pub const PRUNE_RULES_PER_ROUND: usize = 10_000;

/// What lookout remembers about one rule between executions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    pub rule_id: String,
    /// The end of the last window fully searched and written.
    pub covered_to: Option<DateTime<Utc>>,
    /// Where coverage started (the rule's first window's start): nothing before it is the
    /// rule's to search. `None` when unknown (coverage resumed from the execution records, or
    /// a state written by an older lookout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_from: Option<DateTime<Utc>>,
    pub last_status: Option<ExecutionStatus>,
    pub last_error: Option<String>,
    pub last_execution_at: Option<DateTime<Utc>>,
}

impl RuleState {
    /// The state of a rule that never ran.
    pub fn new(rule_id: impl Into<String>) -> RuleState {
        RuleState {
            rule_id: rule_id.into(),
            covered_to: None,
            coverage_from: None,
            last_status: None,
            last_error: None,
            last_execution_at: None,
        }
    }
}

/// How an execution ended (Kibana's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    #[serde(rename = "succeeded")]
    Succeeded,
    #[serde(rename = "partial failure")]
    PartialFailure,
    #[serde(rename = "failed")]
    Failed,
    /// Another instance took the rule's lease during the execution: its state write was
    /// refused (fenced), and the new owner searches the window (docs/operations.md).
    #[serde(rename = "superseded")]
    Superseded,
}

/// A stretch of time no execution searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// An alert the alerts index refused for good (a 4xx other than 409 and 429, also after it was
/// fitted to the mappings). Its window was covered all the same, so the record is what says
/// that this event was matched; `lookout backfill --dead-letters` searches its window again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub rule_id: String,
    pub alert_id: String,
    /// The source event's index and id, when the alert stands for one event.
    pub event_index: Option<String>,
    pub event_id: Option<String>,
    /// The window (chunk) whose search matched the event.
    pub window: Gap,
    /// The HTTP status of the refusal and the server's reason.
    pub status: u16,
    pub error: String,
    pub recorded_at: DateTime<Utc>,
}

/// One execution of one rule, as recorded in the executions index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub execution_uuid: String,
    pub rule_id: String,
    pub rule_name: String,
    pub started_at: DateTime<Utc>,
    pub window_from: DateTime<Utc>,
    pub window_to: DateTime<Utc>,
    pub status: ExecutionStatus,
    pub hits: u64,
    pub alerts_created: u64,
    pub duplicates: u64,
    /// Candidate alerts merged into an alert of their group (alert suppression).
    #[serde(default)]
    pub alerts_suppressed: u64,
    pub search_ms: u64,
    pub write_ms: u64,
    pub total_ms: u64,
    /// Alerts refused for good and recorded as dead letters.
    #[serde(default)]
    pub dead_letters: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub gap: Option<Gap>,
    /// The instance that ran it (several instances share the rules through leases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// The version of a stored document: what a conditional write names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub seq_no: u64,
    pub primary_term: u64,
}

/// The lease a state write is made under (several instances): its owner and generation are
/// written with the state (`lookout.fence`), and a write whose generation is older than the
/// stored one is refused, so a stale owner can never write over its successor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    pub owner: String,
    pub generation: u64,
}

/// A rule's state as read, with the version to write over (`None`: no document of this
/// deployment yet, so the next write creates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub state: RuleState,
    pub version: Option<Version>,
}

/// Where a rule's coverage stood by its execution records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedCoverage {
    pub covered_to: DateTime<Utc>,
    /// No recorded execution succeeded: `covered_to` is where coverage started.
    pub started: bool,
}

/// How many times a conditional state write reads again and retries after a conflict.
pub const STATE_WRITE_ATTEMPTS: u32 = 5;

/// A state write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StateWriteError {
    #[error(transparent)]
    Es(#[from] EsError),
    #[error(
        "another instance holds the lease of rule {rule_id} now (generation {stored} over this execution's {ours}): this execution's state write is refused"
    )]
    Superseded {
        rule_id: String,
        stored: u64,
        ours: u64,
    },
    #[error(
        "the state of rule {rule_id} changed under every one of {STATE_WRITE_ATTEMPTS} conditional writes (other writers)"
    )]
    Contended { rule_id: String },
}

/// Refuses a write under `ours` when the stored document was written under a later lease
/// generation (another instance took the rule since). Writes without a fence (a one-off run, a
/// backfill) are never refused, and never refuse.
pub fn check_fence(
    rule_id: &str,
    stored: Option<&Fence>,
    ours: Option<&Fence>,
) -> Result<(), StateWriteError> {
    match (stored, ours) {
        (Some(stored), Some(ours)) if stored.generation > ours.generation => {
            Err(StateWriteError::Superseded {
                rule_id: rule_id.to_string(),
                stored: stored.generation,
                ours: ours.generation,
            })
        }
        _ => Ok(()),
    }
}

/// Reads and writes rule state, executions and gaps.
#[derive(Debug, Clone)]
pub struct StateStore {
    client: Client,
    state_index: String,
    executions_index: String,
    /// The deployment's namespace and alerts index: part of every state document's id.
    namespace: String,
    alerts_index: String,
    templates: Vec<(String, serde_json::Value)>,
    /// The writes that end executions, sent together when several wait (clones share it).
    batch: batch::WriteBatch,
}

impl StateStore {
    /// A store of the deployment with the default alerts settings (namespace and alerts index);
    /// [`StateStore::for_config`] takes them from the configuration.
    pub fn new(client: Client, config: &EngineConfig) -> StateStore {
        let alerts = crate::config::AlertsConfig::default();
        StateStore::scoped(client, config, &alerts.namespace, &alerts.index)
    }

    /// The store of the deployment a configuration describes.
    pub fn for_config(client: Client, config: &crate::config::Config) -> StateStore {
        let (namespace, index) = (&config.alerts.namespace, &config.alerts.index);
        StateStore::scoped(client, &config.engine, namespace, index)
    }

    /// The store of the deployment writing alerts of `namespace` into `alerts_index`.
    pub fn scoped(
        client: Client,
        config: &EngineConfig,
        namespace: &str,
        alerts_index: &str,
    ) -> StateStore {
        StateStore {
            batch: batch::WriteBatch::new(client.clone()),
            client,
            state_index: config.state_index.clone(),
            executions_index: config.executions_index.clone(),
            namespace: namespace.to_string(),
            alerts_index: alerts_index.to_string(),
            templates: index_templates(config),
        }
    }

    fn state_id(&self, rule_id: &str) -> String {
        docs::state_id(&self.namespace, &self.alerts_index, rule_id)
    }

    /// Installs the index templates of both indices (call before the first write).
    pub async fn install_templates(&self) -> Result<(), EsError> {
        for (name, body) in &self.templates {
            self.client.put_index_template(name, body).await?;
        }
        Ok(())
    }

    /// The stored state of one rule, `None` when it never ran.
    pub async fn load(&self, rule_id: &str) -> Result<Option<RuleState>, EsError> {
        Ok(self
            .load_versioned(rule_id)
            .await?
            .map(|stored| stored.state))
    }

    /// The stored state of one rule with its version, `None` when it never ran. A state of an
    /// older lookout (no scope) is returned without a version: the next write creates this
    /// deployment's document.
    pub async fn load_versioned(&self, rule_id: &str) -> Result<Option<Stored>, EsError> {
        Ok(self.load_fenced(rule_id).await?.0)
    }

    /// [`StateStore::load_versioned`], with the fence of the last fenced write.
    pub async fn load_fenced(
        &self,
        rule_id: &str,
    ) -> Result<(Option<Stored>, Option<Fence>), EsError> {
        let id = self.state_id(rule_id);
        if let Some(doc) = self.client.get_versioned(&self.state_index, &id).await? {
            let state = docs::state_from_doc(&doc.source).map_err(|message| {
                self.bad_doc("load rule state", &self.state_index, &id, message)
            })?;
            let version = Version {
                seq_no: doc.seq_no,
                primary_term: doc.primary_term,
            };
            let fence = serde_json::from_value(doc.source["lookout"]["fence"].clone()).ok();
            let stored = Stored {
                state,
                version: Some(version),
            };
            return Ok((Some(stored), fence));
        }
        let Some(legacy) = self.client.get_doc(&self.state_index, rule_id).await? else {
            return Ok((None, None));
        };
        if !legacy["lookout"]["scope"].is_null() {
            return Ok((None, None));
        }
        let state = docs::state_from_doc(&legacy).map_err(|message| {
            self.bad_doc("load rule state", &self.state_index, rule_id, message)
        })?;
        let stored = Stored {
            state,
            version: None,
        };
        Ok((Some(stored), None))
    }

    /// The stored state of every rule of this deployment (and those of an older lookout that
    /// this deployment has not written yet).
    pub async fn load_all(&self) -> Result<Vec<RuleState>, EsError> {
        // State writes do not wait for a refresh; make them all searchable first.
        self.client.refresh(&self.state_index).await?;
        // Filtered here, not in the query: a state index made by an older lookout does not map
        // the scope fields (the state index is small: one document per rule and deployment).
        let sort = ["rule.id", "lookout.scope.key"];
        let hits = (self.all_hits(&self.state_index, json!({"match_all": {}}), &sort)).await?;
        let mut states: Vec<(bool, RuleState)> = Vec::new();
        for hit in &hits {
            let state = docs::state_from_doc(&hit.source).map_err(|message| {
                self.bad_doc("load rule states", &self.state_index, &hit.id, message)
            })?;
            let scope = &hit.source["lookout"]["scope"];
            let scoped = !scope.is_null();
            if scoped && scope["key"] != json!(self.state_id(&state.rule_id)) {
                continue;
            }
            match states.iter_mut().find(|(_, s)| s.rule_id == state.rule_id) {
                Some(entry) if scoped => *entry = (true, state),
                Some(_) => {}
                None => states.push((scoped, state)),
            }
        }
        Ok(states.into_iter().map(|(_, state)| state).collect())
    }

    /// Stores a rule's state, replacing the previous one whatever it was (tools and tests; the
    /// engine writes with [`StateStore::save_advancing`]).
    pub async fn save(&self, state: &RuleState) -> Result<(), EsError> {
        let doc = self.state_doc(state);
        self.client
            .put_doc(
                &self.state_index,
                &self.state_id(&state.rule_id),
                &doc,
                false,
            )
            .await
    }

    /// Stores a rule's state only over `expected` (the version read; `None`: only if there is
    /// none). Returns the new version, or `None` when the document changed since (a conflict).
    pub async fn save_if(
        &self,
        state: &RuleState,
        expected: Option<Version>,
    ) -> Result<Option<Version>, EsError> {
        self.save_fenced_if(state, expected, None).await
    }

    /// [`StateStore::save_if`], writing `fence` with the state.
    async fn save_fenced_if(
        &self,
        state: &RuleState,
        expected: Option<Version>,
        fence: Option<&Fence>,
    ) -> Result<Option<Version>, EsError> {
        let doc = self.fenced_state_doc(state, fence);
        let id = self.state_id(&state.rule_id);
        let expected = expected.map(|v| (v.seq_no, v.primary_term));
        let written = self
            .client
            .put_doc_if(&self.state_index, &id, &doc, expected)
            .await?;
        Ok(written.map(|(seq_no, primary_term)| Version {
            seq_no,
            primary_term,
        }))
    }

    /// Stores a rule's state over the version in `expected`, and updates it. When another
    /// writer changed the document since, reads it again and writes `state` with the later
    /// `covered_to` of the two (so coverage never moves backwards), up to
    /// [`STATE_WRITE_ATTEMPTS`] times. Returns the state stored.
    pub async fn save_advancing(
        &self,
        state: &RuleState,
        expected: &mut Option<Version>,
    ) -> Result<RuleState, StateWriteError> {
        self.save_advancing_fenced(state, expected, None).await
    }

    /// [`StateStore::save_advancing`] under a lease: `fence` is written with the state, and
    /// when the document, read again after a conflict, carries a later generation than
    /// `fence`'s, the write is refused with [`StateWriteError::Superseded`] (a stale owner's
    /// late write never lands).
    pub async fn save_advancing_fenced(
        &self,
        state: &RuleState,
        expected: &mut Option<Version>,
        fence: Option<&Fence>,
    ) -> Result<RuleState, StateWriteError> {
        if let Some(version) = self.save_fenced_if(state, *expected, fence).await? {
            *expected = Some(version);
            return Ok(state.clone());
        }
        self.advance_after_conflict(state, expected, fence).await
    }

    /// After a conditional write of `state` found the document changed: reads it again,
    /// refuses when a later lease wrote it, and writes `state` with the later `covered_to` of
    /// the two, up to [`STATE_WRITE_ATTEMPTS`] writes in all.
    async fn advance_after_conflict(
        &self,
        state: &RuleState,
        expected: &mut Option<Version>,
        fence: Option<&Fence>,
    ) -> Result<RuleState, StateWriteError> {
        let mut state = state.clone();
        for _ in 1..STATE_WRITE_ATTEMPTS {
            let (current, stored_fence) = self.load_fenced(&state.rule_id).await?;
            check_fence(&state.rule_id, stored_fence.as_ref(), fence)?;
            let (theirs, version) = match current {
                Some(Stored {
                    state: theirs,
                    version: Some(version),
                }) => (theirs.covered_to, Some(version)),
                _ => (None, None),
            };
            if theirs > state.covered_to {
                tracing::warn!(
                    rule_id = %state.rule_id,
                    "another writer moved the rule's coverage further meanwhile; it is kept"
                );
                state.covered_to = theirs;
            }
            *expected = version;
            if let Some(version) = self.save_fenced_if(&state, *expected, fence).await? {
                *expected = Some(version);
                return Ok(state);
            }
        }
        Err(StateWriteError::Contended {
            rule_id: state.rule_id,
        })
    }

    /// The state document, with the fence of the lease it is written under.
    fn fenced_state_doc(&self, state: &RuleState, fence: Option<&Fence>) -> serde_json::Value {
        let mut doc = self.state_doc(state);
        if let Some(fence) = fence {
            doc["lookout"]["fence"] = json!(fence);
        }
        doc
    }

    fn state_doc(&self, state: &RuleState) -> serde_json::Value {
        let mut doc = docs::state_doc(state);
        doc["lookout"]["scope"] = json!({
            "namespace": self.namespace,
            "alerts_index": self.alerts_index,
            "key": self.state_id(&state.rule_id),
        });
        doc
    }

    /// This deployment's namespace and alerts index, as its execution, gap and dead-letter
    /// documents carry them (`lookout.scope`).
    fn scope(&self) -> serde_json::Value {
        json!({"namespace": self.namespace, "alerts_index": self.alerts_index})
    }

    /// Whether a document of the executions index was written by this deployment. (Filtered
    /// in code, not in the query: an executions index made by an older lookout does not map
    /// the scope fields, and its documents have none.)
    fn in_scope(&self, doc: &serde_json::Value) -> bool {
        let scope = &doc["lookout"]["scope"];
        scope["namespace"] == json!(self.namespace)
            && scope["alerts_index"] == json!(self.alerts_index)
    }

    /// Stores one execution record.
    pub async fn record_execution(&self, record: &ExecutionRecord) -> Result<(), EsError> {
        self.put_execution(record, false).await
    }

    /// Stores the record of a manual execution (a backfill's window), marked so (its window says
    /// nothing about where scheduled coverage stands).
    pub async fn record_manual_execution(&self, record: &ExecutionRecord) -> Result<(), EsError> {
        self.put_execution(record, true).await
    }

    async fn put_execution(&self, record: &ExecutionRecord, manual: bool) -> Result<(), EsError> {
        let doc = self.execution_doc(record, manual);
        self.client
            .put_doc(&self.executions_index, &record.execution_uuid, &doc, false)
            .await
    }

    fn execution_doc(&self, record: &ExecutionRecord, manual: bool) -> serde_json::Value {
        let mut doc = docs::execution_doc(record);
        doc["lookout"]["scope"] = self.scope();
        if manual {
            doc["lookout"]["scope"]["manual"] = json!(true);
        }
        doc
    }

    /// [`StateStore::save_advancing_fenced`] and [`StateStore::record_execution`] in one
    /// `_bulk` (an execution's last two writes, one request instead of two), shared with the
    /// executions that end while another such request is in flight (`batch`). When the state
    /// changed since it was read, the conditional write falls back to reading it again and
    /// advancing over it; the record is written as given either way (the caller writes it again
    /// when the state's outcome changes what it says). Returns what became of each.
    pub async fn save_with_record(
        &self,
        state: &RuleState,
        expected: &mut Option<Version>,
        fence: Option<&Fence>,
        record: &ExecutionRecord,
    ) -> (Result<RuleState, StateWriteError>, Result<(), EsError>) {
        let state_put = ConditionalPut {
            id: self.state_id(&state.rule_id),
            doc: self.fenced_state_doc(state, fence),
            expected: expected.map(|v| (v.seq_no, v.primary_term)),
        };
        let record_put = ConditionalPut {
            id: record.execution_uuid.clone(),
            doc: self.execution_doc(record, false),
            expected: None,
        };
        let puts = vec![
            (self.state_index.clone(), state_put),
            (self.executions_index.clone(), record_put),
        ];
        let label = format!("{},{}", self.state_index, self.executions_index);
        let outcomes = match self.batch.put(&label, puts).await {
            Ok(outcomes) if outcomes.len() == 2 => outcomes,
            Ok(outcomes) => {
                let error = EsError::BadAnswer {
                    op: "bulk put",
                    index: label,
                    message: format!("{} outcomes for 2 writes", outcomes.len()),
                };
                return (Err(error.clone().into()), Err(error));
            }
            Err(error) => return (Err(error.clone().into()), Err(error)),
        };
        let recorded = match &outcomes[1] {
            PutOutcome::Written(..) => Ok(()),
            // The record of this execution id is there already (a retried request).
            PutOutcome::Conflict => Ok(()),
            PutOutcome::Failed(failure) => Err(item_error(&self.executions_index, failure)),
        };
        let saved = match &outcomes[0] {
            PutOutcome::Written(seq_no, primary_term) => {
                *expected = Some(Version {
                    seq_no: *seq_no,
                    primary_term: *primary_term,
                });
                Ok(state.clone())
            }
            PutOutcome::Conflict => self.advance_after_conflict(state, expected, fence).await,
            PutOutcome::Failed(failure) => Err(item_error(&self.state_index, failure).into()),
        };
        (saved, recorded)
    }

    /// Records a stretch of time the rule did not search. One document per rule and start: a
    /// gap recorded again with the same start (a rule stuck behind it, whose coverage does not
    /// move) extends the one recorded, and recording the same gap twice is harmless.
    pub async fn record_gap(
        &self,
        rule_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), EsError> {
        let id = docs::gap_id(&self.namespace, &self.alerts_index, rule_id, from);
        if let Some(known) = self.client.get_doc(&self.executions_index, &id).await?
            && docs::gap_from_doc(&known).is_ok_and(|known| known.to >= to)
        {
            return Ok(());
        }
        let mut doc = docs::gap_doc(rule_id, &Gap { from, to });
        doc["lookout"]["scope"] = self.scope();
        self.client
            .put_doc(&self.executions_index, &id, &doc, true)
            .await
    }

    /// Records an alert the alerts index refused for good (recording it again replaces it).
    /// Waits for a refresh, so that `status` right after counts it.
    pub async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), EsError> {
        let doc = docs::dead_letter_doc(letter);
        let id = docs::dead_letter_id(&letter.alert_id);
        self.client
            .put_doc(&self.executions_index, &id, &doc, true)
            .await
    }

    /// The dead letters recorded for a rule (every rule's with `None`), oldest window first.
    pub async fn dead_letters(&self, rule_id: Option<&str>) -> Result<Vec<DeadLetter>, EsError> {
        let mut filter = vec![json!({"term": {"event.action": docs::DEAD_LETTER_ACTION}})];
        if let Some(rule_id) = rule_id {
            filter.push(json!({"term": {"rule.id": rule_id}}));
        }
        let query = json!({"bool": {"filter": filter}});
        let sort = [
            "lookout.dead_letter.window.from",
            "lookout.dead_letter.alert_id",
        ];
        let hits = self.all_hits(&self.executions_index, query, &sort).await?;
        hits.iter()
            .map(|hit| {
                docs::dead_letter_from_doc(&hit.source).map_err(|m| {
                    self.bad_doc("load dead letters", &self.executions_index, &hit.id, m)
                })
            })
            .collect()
    }

    /// Removes the dead letter of an alert that is now written.
    pub async fn remove_dead_letter(&self, alert_id: &str) -> Result<(), EsError> {
        self.client
            .delete_doc(&self.executions_index, &docs::dead_letter_id(alert_id))
            .await
    }

    /// The gaps this deployment recorded for a rule, oldest first.
    pub async fn gaps(&self, rule_id: &str) -> Result<Vec<Gap>, EsError> {
        let query = json!({"bool": {"filter": [{"term": {"event.action": docs::GAP_ACTION}}, {"term": {"rule.id": rule_id}}]}});
        let hits = self
            .all_hits(
                &self.executions_index,
                query,
                &["lookout.gap.from", "lookout.gap.to"],
            )
            .await?;
        // This deployment's gaps, and those of an older lookout (no scope).
        let ours = |hit: &&crate::es::Hit| {
            hit.source["lookout"]["scope"].is_null() || self.in_scope(&hit.source)
        };
        hits.iter()
            .filter(ours)
            .map(|hit| {
                docs::gap_from_doc(&hit.source)
                    .map_err(|m| self.bad_doc("load gaps", &self.executions_index, &hit.id, m))
            })
            .collect()
    }

    /// The most recent executions of a rule (at most `limit`, at most [`STATE_PAGE_SIZE`]), newest first.
    pub async fn executions(
        &self,
        rule_id: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionRecord>, EsError> {
        let body = json!({
            "size": limit.min(STATE_PAGE_SIZE),
            "query": {"bool": {"filter": [{"term": {"event.action": docs::EXECUTION_ACTION}}, {"term": {"rule.id": rule_id}}]}},
            "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
        });
        let hits = self
            .client
            .search_docs(&self.executions_index, body)
            .await?;
        hits.iter()
            .map(|hit| {
                docs::execution_from_doc(&hit.source).map_err(|m| {
                    self.bad_doc("load executions", &self.executions_index, &hit.id, m)
                })
            })
            .collect()
    }

    /// Whether the executions index holds any execution record of this deployment (its
    /// namespace and alerts index). One search, after a refresh.
    pub async fn has_execution_records(&self) -> Result<bool, EsError> {
        self.client.refresh(&self.executions_index).await?;
        let body = json!({
            "size": 1,
            "_source": false,
            "query": {"bool": {"filter": [
                {"term": {"event.action": docs::EXECUTION_ACTION}},
                {"term": {"lookout.scope.namespace": self.namespace}},
                {"term": {"lookout.scope.alerts_index": self.alerts_index}},
            ]}},
        });
        let hits = self
            .client
            .search_docs(&self.executions_index, body)
            .await?;
        Ok(!hits.is_empty())
    }

    /// Where a rule's coverage stood by this deployment's execution records, for a rule whose
    /// state document is gone: the end of the newest execution that did not fail (its whole
    /// window was covered), else the start of the oldest recorded execution (coverage started
    /// there); backfill windows do not count; `None` when this deployment recorded no execution of the rule (records of other
    /// deployments sharing the index, and of an older lookout, are not this deployment's).
    pub async fn recorded_coverage(
        &self,
        rule_id: &str,
    ) -> Result<Option<RecordedCoverage>, EsError> {
        // Execution records do not wait for a refresh.
        self.client.refresh(&self.executions_index).await?;
        let query = json!({"bool": {"filter": [
            {"term": {"event.action": docs::EXECUTION_ACTION}},
            {"term": {"rule.id": rule_id}},
        ]}});
        let sort = json!([
            {"@timestamp": {"order": "desc", "unmapped_type": "date"}},
            {"lookout.execution.execution_uuid": {"order": "asc", "unmapped_type": "keyword"}},
        ]);
        let mut oldest_start: Option<DateTime<Utc>> = None;
        let mut after: Option<Vec<serde_json::Value>> = None;
        loop {
            let mut body = json!({"size": STATE_PAGE_SIZE, "query": query, "sort": sort});
            if let Some(values) = &after {
                body["search_after"] = json!(values);
            }
            let page = self
                .client
                .search_docs(&self.executions_index, body)
                .await?;
            let scheduled = |hit: &&crate::es::Hit| {
                self.in_scope(&hit.source)
                    && hit.source["lookout"]["scope"]["manual"] != json!(true)
            };
            for hit in page.iter().filter(scheduled) {
                let record = docs::execution_from_doc(&hit.source).map_err(|m| {
                    self.bad_doc("load executions", &self.executions_index, &hit.id, m)
                })?;
                if record.status != ExecutionStatus::Failed {
                    return Ok(Some(RecordedCoverage {
                        covered_to: record.window_to,
                        started: false,
                    }));
                }
                let start = oldest_start.map_or(record.window_from, |s| s.min(record.window_from));
                oldest_start = Some(start);
            }
            if page.len() < STATE_PAGE_SIZE {
                return Ok(oldest_start.map(|covered_to| RecordedCoverage {
                    covered_to,
                    started: true,
                }));
            }
            after = page.last().map(|hit| hit.sort.clone());
        }
    }

    /// When this deployment's last housekeeping round was claimed (`lookout status`); `None`
    /// when no round was ever done. One real-time read of the claim document.
    pub async fn last_housekeeping(&self) -> Result<Option<DateTime<Utc>>, EsError> {
        let id = docs::housekeeping_id(&self.namespace, &self.alerts_index);
        let current = self
            .client
            .get_versioned(&self.executions_index, &id)
            .await?;
        Ok(current.and_then(|doc| {
            let text = doc.source["@timestamp"].as_str()?.to_string();
            DateTime::parse_from_rfc3339(&text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }))
    }

    /// Claims this deployment's housekeeping round at `now` (alerts rollover, pruning): `true`
    /// when no instance of the deployment did one within `every` before and this one's
    /// conditional write of the claim document (`event.action: housekeeping` in the executions
    /// index, the last round's time as `@timestamp`) won; `false` when another did or won.
    /// Two requests: a real-time read and a conditional write.
    pub async fn claim_housekeeping(
        &self,
        now: DateTime<Utc>,
        every: chrono::TimeDelta,
    ) -> Result<bool, EsError> {
        let id = docs::housekeeping_id(&self.namespace, &self.alerts_index);
        let current = self
            .client
            .get_versioned(&self.executions_index, &id)
            .await?;
        let expected = match &current {
            Some(doc) => {
                let last = doc.source["@timestamp"]
                    .as_str()
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok());
                if last.is_some_and(|last| last.with_timezone(&Utc) > now - every) {
                    return Ok(false);
                }
                Some((doc.seq_no, doc.primary_term))
            }
            None => None,
        };
        let doc = json!({
            "@timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "event": {"kind": "event", "action": docs::HOUSEKEEPING_ACTION},
            "lookout": {"scope": self.scope()},
        });
        let written = self
            .client
            .put_doc_if(&self.executions_index, &id, &doc, expected)
            .await?;
        Ok(written.is_some())
    }

    /// Deletes this deployment's execution records started before `before` (the retention),
    /// except what recovering lost state reads ([`StateStore::recorded_coverage`]): per rule, the
    /// newest scheduled record that did not fail and the oldest scheduled record among those
    /// older than `before` stay (a rule with newer records never reads them; one without reads
    /// exactly these). Gap records and dead letters are never deleted here. Two requests: an
    /// aggregation that finds the records to keep, and one `_delete_by_query`. Returns how many
    /// records were deleted. Records of an older lookout (without a scope) are left alone.
    pub async fn prune_executions(&self, before: DateTime<Utc>) -> Result<u64, EsError> {
        let old = json!({"bool": {"filter": [
            {"term": {"event.action": docs::EXECUTION_ACTION}},
            {"term": {"lookout.scope.namespace": self.namespace}},
            {"term": {"lookout.scope.alerts_index": self.alerts_index}},
            {"range": {"@timestamp": {"lt": before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}}},
        ]}});
        let scheduled = json!({"term": {"lookout.scope.manual": true}});
        let one = |order: &str| {
            json!({"top_hits": {"size": 1, "_source": false,
                "sort": [{"@timestamp": {"order": order}}, {"lookout.execution.execution_uuid": {"order": "asc"}}]}})
        };
        let body = json!({
            "size": 0,
            "query": old,
            "aggs": {"rules": {
                "terms": {"field": "rule.id", "size": PRUNE_RULES_PER_ROUND},
                "aggs": {
                    "oldest": {"filter": {"bool": {"must_not": [scheduled]}}, "aggs": {"hit": one("asc")}},
                    "newest_ok": {
                        "filter": {"bool": {"must_not": [scheduled, {"term": {"lookout.execution.status": "failed"}}]}},
                        "aggs": {"hit": one("desc")},
                    },
                },
            }},
        });
        let answer = self.client.search_raw(&self.executions_index, body).await?;
        let (rules, keep) = prune_plan(&answer);
        if rules.is_empty() {
            return Ok(0);
        }
        let mut query = old;
        query["bool"]["filter"]
            .as_array_mut()
            .expect("a filter list")
            .push(json!({"terms": {"rule.id": rules}}));
        query["bool"]["must_not"] = json!([{"ids": {"values": keep}}]);
        self.client
            .delete_by_query(&self.executions_index, query)
            .await
    }

    /// Every hit of a query, paged with `search_after` on fields that together are unique (a
    /// field an index does not map sorts as missing).
    async fn all_hits(
        &self,
        index: &str,
        query: serde_json::Value,
        sort_fields: &[&str],
    ) -> Result<Vec<crate::es::Hit>, EsError> {
        let sort: Vec<serde_json::Value> = sort_fields
            .iter()
            .map(|field| json!({*field: {"order": "asc", "unmapped_type": "keyword"}}))
            .collect();
        let mut all = Vec::new();
        let mut after: Option<Vec<serde_json::Value>> = None;
        loop {
            let mut body = json!({
                "size": STATE_PAGE_SIZE,
                "query": query,
                "sort": sort,
            });
            if let Some(values) = &after {
                body["search_after"] = json!(values);
            }
            let page = self.client.search_docs(index, body).await?;
            let full = page.len() == STATE_PAGE_SIZE;
            after = page.last().map(|hit| hit.sort.clone());
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    fn bad_doc(&self, op: &'static str, index: &str, id: &str, message: String) -> EsError {
        EsError::BadAnswer {
            op,
            index: index.to_string(),
            message: format!("document {id}: {message}"),
        }
    }
}

/// The rules an answer of [`StateStore::prune_executions`]'s aggregation covers, and the ids of
/// the records to keep among their old ones.
fn prune_plan(answer: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let mut rules = Vec::new();
    let mut keep = Vec::new();
    let buckets = answer["aggregations"]["rules"]["buckets"].as_array();
    for bucket in buckets.into_iter().flatten() {
        let Some(rule) = bucket["key"].as_str() else {
            continue;
        };
        rules.push(rule.to_string());
        for part in ["oldest", "newest_ok"] {
            let hits = bucket[part]["hit"]["hits"]["hits"].as_array();
            let ids = hits
                .into_iter()
                .flatten()
                .filter_map(|hit| hit["_id"].as_str());
            keep.extend(ids.map(str::to_string));
        }
    }
    keep.sort();
    keep.dedup();
    (rules, keep)
}

/// A `_bulk` item refused for good, as the error of a request.
fn item_error(index: &str, failure: &ItemFailure) -> EsError {
    EsError::Status {
        op: "bulk put",
        index: index.to_string(),
        status: failure.status,
        reason: format!("document {}: {}", failure.id, failure.reason),
    }
}
