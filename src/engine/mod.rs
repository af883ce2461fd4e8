//! The engine: one rule execution from start to end, the same for every rule kind
//! (docs/architecture.md, "The data path"). An execution reads the rule's `covered_to`, plans its
//! windows, runs each chunk oldest first through the rule's kind (`kind`), which searches through
//! the shared search service (`search`) and hands its alerts to the shared alert sink (`sink`),
//! moves `covered_to` once a chunk's alerts are written, and records one execution document and
//! one log event.

mod backfill;
mod coverage;
mod error;
mod kept;
mod kind;
mod plan;
mod preview;
mod query;
mod record;
mod search;
mod sink;
mod suppress;

pub use backfill::DeadLetterRetry;
pub use error::ExecutionError;
pub use kind::{
    MAX_SEQUENCE_LOOKBACK, NEW_TERMS_PAGE_SIZE, PlannedSearch, THREAT_INDICATOR_PAGE_SIZE,
    planned_searches,
};
pub use plan::simplify_filter;
pub use preview::{NewTerm, NewTermsFound, Preview, preview};
pub use query::{FieldCapsCache, FieldInfo};

use crate::alert::AlertContext;
use crate::config::Config;
use crate::es::Client;
use crate::rule::Rule;
use crate::schedule::{self, Window};
use crate::state::{ExecutionRecord, ExecutionStatus, Fence, StateStore, Stored};
use chrono::{DateTime, TimeDelta, Utc};
use kind::Chunk;
use record::{ChunkOutcome, Tally, advance, execution_record, log_execution, outcome};
use search::Searcher;
use serde_json::Value;
use sink::AlertSink;
use std::time::Instant;
use suppress::Suppressor;

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
    /// Where EQL rules run (`engine.eql`).
    pub eql: crate::config::EqlPath,
    /// This instance's name, written into each execution record.
    pub instance: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            alerts_index: config.alerts.index.clone(),
            namespace: config.alerts.namespace.clone(),
            max_catch_up: config.engine.max_catch_up,
            notify: std::sync::Arc::new(config.notify.clone()),
            eql: config.engine.eql,
            instance: config.leases.instance.clone(),
        }
    }

    /// Every alerts index, including those rolled over from the configured one.
    pub fn alerts_pattern(&self) -> String {
        format!("{}*", self.alerts_index)
    }
}

/// The lease an execution runs under when several instances share the rules: its fence goes
/// with every state write, and a lease no longer held ends the execution as superseded before
/// its next state write.
pub trait LeaseCheck: Send + Sync {
    fn fence(&self) -> Fence;
    /// Whether this instance still holds the lease (renewed in time, not taken over).
    fn held(&self) -> bool;
}

/// A shared [`LeaseCheck`].
#[derive(Clone)]
pub struct Lease(pub std::sync::Arc<dyn LeaseCheck>);

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lease").field(&self.0.fence()).finish()
    }
}

/// Runs rule executions against one server.
pub struct Engine {
    client: Client,
    store: StateStore,
    settings: Settings,
    field_caps: FieldCapsCache,
    eql: kind::EqlMemory,
    /// Each rule's state as this engine last saved it, with the fence it was saved under: the
    /// rule's next execution starts from it instead of reading it back (one request less).
    saved_states: kept::Kept<String, Option<Fence>, Stored>,
    /// Whether this deployment lost its execution records (none left, though its alerts say
    /// it ran): asked once, the first time a rule has neither state nor records, so before any
    /// execution of this engine wrote a record (`coverage::recover_coverage`).
    records_lost: tokio::sync::OnceCell<bool>,
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

impl Engine {
    pub fn new(client: Client, store: StateStore, settings: Settings) -> Self {
        Self {
            client,
            store,
            eql: kind::EqlMemory::new(settings.eql),
            settings,
            field_caps: FieldCapsCache::default(),
            saved_states: kept::Kept::default(),
            records_lost: tokio::sync::OnceCell::new(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The field types of the indices the rules search, shared by every execution.
    pub fn field_caps(&self) -> &FieldCapsCache {
        &self.field_caps
    }

    /// The state store this engine writes to.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// Runs one execution of `rule` whose start time is `at`. Never fails: a failure is an
    /// execution with status `failed`, recorded like any other.
    pub async fn execute(&self, rule: &Rule, at: DateTime<Utc>) -> ExecutionReport {
        self.execute_leased(rule, at, None).await
    }

    /// [`Engine::execute`] under a lease (several instances): every state write carries the
    /// lease's fence, and an execution whose lease was lost, or whose rule state was written
    /// under a later lease, ends as `superseded` without writing the state.
    pub async fn execute_leased(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        lease: Option<Lease>,
    ) -> ExecutionReport {
        let started = Instant::now();
        let execution_uuid = uuid::Uuid::new_v4().to_string();
        let mut tally = Tally {
            lease,
            ..Tally::default()
        };
        let result = self.run(rule, at, &execution_uuid, &mut tally).await;
        let mut record = execution_record(rule, at, execution_uuid, &tally, result, started);
        record.instance = Some(self.settings.instance.clone());
        self.persist(rule, at, &mut tally, &mut record).await;
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
        let stored = self.load_state(rule, tally).await?;
        tally.version = stored.as_ref().and_then(|stored| stored.version);
        tally.previous = stored.map(|stored| stored.state);
        tally.covered_to = tally.previous.as_ref().and_then(|state| state.covered_to);
        let nominal = self.nominal_window(rule, at, tally)?;
        tally.window = Some(nominal);
        if tally.covered_to.is_none() {
            self.recover_coverage(rule, nominal, at, tally).await?;
        }
        if tally.covered_to.is_none() {
            self.start_coverage(rule, nominal.from, tally).await?;
        }
        let coverage_from = (tally.previous.as_ref()).and_then(|state| state.coverage_from);
        let windows = schedule::plan(
            nominal,
            (tally.covered_to, coverage_from),
            rule.schedule.interval,
            self.settings.max_catch_up,
            at,
        );
        tally.window = Some(windows.searched());
        if let Some(gap) = windows.gap {
            self.record_gap(rule, gap, tally).await?;
        }
        let query = self.translate(rule, tally).await;
        let last = windows.chunks.len().saturating_sub(1);
        for (n, window) in windows.chunks.iter().enumerate() {
            self.run_chunk(rule, &query, *window, (execution_uuid, at, false), tally)
                .await?;
            advance(tally, window.to);
            // The last chunk's coverage is saved with the execution's final state (one request
            // less per execution); earlier chunks of a catch-up are saved as they finish.
            if n < last {
                self.cover(rule, tally).await?;
            }
        }
        Ok(())
    }

    /// The rule's window at `at`, never ending past the server's now: when the host's clock is
    /// ahead of the server's (as the `Date` header of the server's answers says), the window is
    /// the one of an execution at the server's now, so no coverage is recorded for time the
    /// server has not reached (events stamped there may still come). Moved back by more than
    /// the clock tolerance, the execution warns.
    fn nominal_window(
        &self,
        rule: &Rule,
        at: DateTime<Utc>,
        tally: &mut Tally,
    ) -> Result<Window, ExecutionError> {
        let server_now = self.client.server_now();
        let resolve_at = server_now.map_or(at, |server_now| at.min(server_now));
        let mut window = (rule.schedule.window_at(resolve_at))
            .map_err(|error| ExecutionError::schedule(rule, error))?;
        if let Some(server_now) = server_now
            && window.to > server_now
        {
            // `to` in the future of `now` (date math such as `now+1m`).
            window.to = server_now;
            window.from = window.from.min(server_now);
        }
        let moved = at - resolve_at;
        if moved > self.client.clock_tolerance() {
            tally.warn(format!(
                "the host's clock is {} s ahead of the server's: the window was resolved at the \
                 server's now {} instead of {} (set the host's time)",
                moved.num_seconds(),
                resolve_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
        Ok(window)
    }

    /// The rule's query as DSL, typed with the field types of its indices; problems finding
    /// those are warnings of the execution.
    async fn translate(&self, rule: &Rule, tally: &mut Tally) -> Value {
        let translated = self.field_caps.translate(&self.client, rule).await;
        translated
            .warnings
            .iter()
            .for_each(|w| tally.warn(w.clone()));
        if translated.no_index_matches {
            tally.warn(format!(
                "index pattern {} matches no index",
                rule.search.index.join(",")
            ));
        }
        translated.dsl
    }

    /// Runs one window through the rule's kind and adds what it did to the tally, also when
    /// it failed part-way (alerts written stay written). `manual`: a backfill's window.
    async fn run_chunk(
        &self,
        rule: &Rule,
        query: &Value,
        window: Window,
        (execution_uuid, at, manual): (&str, DateTime<Utc>, bool),
        tally: &mut Tally,
    ) -> Result<(), ExecutionError> {
        let alerts_pattern = self.settings.alerts_pattern();
        let searcher = Searcher::new(&self.client, rule, &self.field_caps);
        let mut sink = AlertSink::new(
            &self.client,
            rule,
            &self.settings.alerts_index,
            &alerts_pattern,
        );
        let notify = crate::notify::route(rule, &self.settings.notify);
        let chunk = Chunk {
            rule,
            query,
            window,
            search: &searcher,
            alert: AlertContext {
                rule,
                namespace: &self.settings.namespace,
                execution_uuid,
                created_at: at,
                notify: &notify,
                intended_at: manual.then_some(window.to),
            },
            eql: &self.eql,
        };
        let result = match suppress::Policy::of(rule) {
            Some(policy) => {
                // A backfill suppresses as of the time its window stands for.
                let now = chunk.alert.intended_at.unwrap_or(at);
                let suppressor = Suppressor::new(rule, policy, chunk.alert.namespace, now, window);
                sink.suppress(suppressor).await
            }
            None => Ok(()),
        };
        let result = match result {
            Ok(()) => kind::run(&chunk, &mut sink).await,
            Err(error) => Err(error),
        };
        let (hits, mut written) = match result {
            Ok(hits) => (hits, sink.finish().await?),
            Err(error) => {
                // What was written stays written: made searchable for the next lookups (a
                // failed refresh only costs 409s later) and counted in the record.
                let mut written = sink.written();
                std::mem::take(&mut written.warnings)
                    .into_iter()
                    .for_each(|w| tally.warn(w));
                sink.abandon().await;
                tally.add(ChunkOutcome {
                    search: searcher.elapsed(),
                    ..outcome(0, written)
                });
                return Err(error);
            }
        };
        let refused = std::mem::take(&mut written.refused);
        (std::mem::take(&mut written.warnings).into_iter()).for_each(|w| tally.warn(w));
        tally.add(ChunkOutcome {
            search: searcher.elapsed(),
            ..outcome(hits, written)
        });
        self.dead_letters(rule, window, at, refused, tally).await
    }
}
