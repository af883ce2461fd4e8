//! The delivery loop: per connector, read the alerts whose notification is due (oldest first,
//! with their sequence numbers), group them (one alert, a rule execution's summary, or a
//! throttle period's alerts), send each group, and record every outcome on its alerts with
//! conditional `_bulk` updates. Connectors run side by side: one that keeps failing backs off
//! (exponentially, with jitter, or as long as its `Retry-After` says) and delays only itself.
//! One log event per batch.

use super::data::{self, Frame};
use super::message::{self, Group, Templates};
use super::outbox::{self, Outcome, PendingAlert};
use super::route::{self, Delivery, RuleFacts};
use super::send::{self, SendError, Transport};
use crate::clock::Clock;
use crate::config::{Connector, Mode, NotifyConfig};
use crate::es::Client;
use crate::observe::DeliverySample;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many due alerts one batch reads (and updates in one `_bulk`). A summary lists at most
/// this many alerts; a larger execution is summarised in several messages.
pub const BATCH_SIZE: usize = 250;
/// The first retry's delay; it doubles per failed attempt.
pub const RETRY_BASE: TimeDelta = TimeDelta::seconds(5);
/// The longest delay between two attempts.
pub const RETRY_MAX: TimeDelta = TimeDelta::minutes(10);
/// How long a summary waits for its execution to be recorded before it is sent anyway.
pub const SUMMARY_SETTLE: TimeDelta = TimeDelta::minutes(10);
/// How many times an outcome is recorded again after its alert changed in between.
const CONFLICT_RETRIES: usize = 3;
/// When an unsettled summary is looked at again.
const SETTLE_RECHECK: TimeDelta = TimeDelta::seconds(5);

/// Where the loop reads and writes.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Every alerts index (`<alerts index>*`).
    pub alerts_pattern: String,
    /// The executions index (a summary waits for its execution's record).
    pub executions_index: String,
}

/// One connector, ready to send.
struct Prepared {
    connector: Connector,
    templates: Templates,
    transport: Transport,
    state: Mutex<ConnectorState>,
}

/// What a connector remembers between batches (not persisted: a restart may send one throttled
/// message early, and starts without back-off).
#[derive(Debug, Default)]
struct ConnectorState {
    /// No attempt before this (back-off after a failure, or `Retry-After`).
    paused_until: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    /// Per rule id: when its last message went out (throttled routes).
    last_message: HashMap<String, DateTime<Utc>>,
    last_send: Option<Instant>,
}

/// Sends pending notifications.
pub struct Notifier {
    client: Client,
    config: Arc<NotifyConfig>,
    targets: Targets,
    connectors: Vec<Prepared>,
    metrics: Option<Arc<crate::observe::Observer>>,
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing is due.
    Idle,
    /// Sent (or recorded) something; more may be due.
    Progress,
    /// The receiver failed; nothing more until this time.
    Blocked(DateTime<Utc>),
}

/// What a batch did, for its log event and the metrics.
#[derive(Debug, Default)]
struct BatchReport {
    alerts: usize,
    messages: usize,
    sample: DeliverySample,
    deferred: u64,
    conflicts: usize,
    error: Option<String>,
}

impl Notifier {
    /// Prepares every connector (templates parsed, transports built); an error names the
    /// connector and key.
    pub fn new(
        client: Client,
        config: &NotifyConfig,
        targets: Targets,
        metrics: Option<Arc<crate::observe::Observer>>,
    ) -> Result<Notifier, String> {
        let mut connectors = Vec::new();
        for connector in &config.connectors {
            connectors.push(Prepared {
                templates: Templates::of(connector)?,
                transport: Transport::new(connector, &client)?,
                connector: connector.clone(),
                state: Mutex::new(ConnectorState::default()),
            });
        }
        Ok(Notifier {
            client,
            config: Arc::new(config.clone()),
            targets,
            connectors,
            metrics,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.connectors.is_empty()
    }

    /// Delivers what is due now, every connector side by side, until each is idle or blocked
    /// (`lookout run --once`); what is left stays pending.
    pub async fn deliver_due(&self, clock: &dyn Clock) {
        let passes = self.connectors.iter().map(|prepared| async move {
            while self.pass(prepared, clock).await == Pass::Progress {}
        });
        join_all(passes).await;
    }

    /// Delivers until `shutdown` completes: each connector works through what is due, then
    /// sleeps until its back-off ends or the poll interval passes.
    pub async fn run(&self, clock: &dyn Clock, shutdown: impl std::future::Future<Output = ()>) {
        let loops = self
            .connectors
            .iter()
            .map(|prepared| self.connector_loop(prepared, clock));
        tokio::select! {
            _ = join_all(loops) => {}
            () = shutdown => {}
        }
    }

    async fn connector_loop(&self, prepared: &Prepared, clock: &dyn Clock) {
        loop {
            let wake = match self.pass(prepared, clock).await {
                Pass::Progress => continue,
                Pass::Blocked(until) => until,
                Pass::Idle => {
                    clock.now()
                        + TimeDelta::from_std(self.config.poll_interval)
                            .unwrap_or(TimeDelta::seconds(10))
                }
            };
            clock.sleep_until(wake).await;
        }
    }

    /// One batch of one connector.
    async fn pass(&self, prepared: &Prepared, clock: &dyn Clock) -> Pass {
        let connector = &prepared.connector.id;
        let now = clock.now();
        if let Some(until) = lock(&prepared.state)
            .paused_until
            .filter(|until| *until > now)
        {
            return Pass::Blocked(until);
        }
        let started = Instant::now();
        let due = match self.read_due(connector, now).await {
            Ok(due) if due.is_empty() => {
                self.count_pending(connector).await;
                return Pass::Idle;
            }
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(connector = %connector, %error, "reading pending notifications failed");
                return Pass::Blocked(now + RETRY_BASE);
            }
        };
        let mut report = BatchReport {
            alerts: due.len(),
            ..BatchReport::default()
        };
        let outcomes = self.work(prepared, &due, clock, &mut report).await;
        self.record(connector, &due, &outcomes, now, &mut report)
            .await;
        self.count_pending(connector).await;
        log_batch(connector, &report, started);
        let paused = lock(&prepared.state)
            .paused_until
            .filter(|until| *until > clock.now());
        match paused {
            Some(until) => Pass::Blocked(until),
            None if report.messages == 0 && report.sample == DeliverySample::default() => {
                Pass::Idle
            }
            None => Pass::Progress,
        }
    }

    async fn read_due(
        &self,
        connector: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingAlert>, crate::es::EsError> {
        let answer = self
            .client
            .search_raw(
                &self.targets.alerts_pattern,
                outbox::due_query(connector, now, BATCH_SIZE),
            )
            .await?;
        Ok(outbox::read_due(&answer, connector))
    }

    async fn count_pending(&self, connector: &str) {
        let Some(observer) = &self.metrics else {
            return;
        };
        if let Ok(answer) = self
            .client
            .search_raw(
                &self.targets.alerts_pattern,
                outbox::pending_query(connector),
            )
            .await
        {
            let count = crate::es::total_hits(&answer).unwrap_or(0);
            observer.metrics.notify.set_pending(connector, count);
        }
    }

    /// Decides and sends: returns one outcome per due alert (`None`: left untouched).
    async fn work(
        &self,
        prepared: &Prepared,
        due: &[PendingAlert],
        clock: &dyn Clock,
        report: &mut BatchReport,
    ) -> Vec<Option<Outcome>> {
        let now = clock.now();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; due.len()];
        let mut live = Vec::new();
        for (n, alert) in due.iter().enumerate() {
            if now - alert.created_at > self.config.max_age {
                let last = data::text(
                    &alert.doc,
                    &outbox::state_field(&prepared.connector.id, "last_error"),
                );
                outcomes[n] = Some(Outcome::Failed {
                    error: format!("not delivered within notify.max_age; last error: {last}"),
                });
            } else {
                live.push(n);
            }
        }
        let groups = self.groups(prepared, due, &live, now, &mut outcomes).await;
        for (indices, delivery) in groups {
            if lock(&prepared.state)
                .paused_until
                .is_some_and(|until| until > clock.now())
            {
                break;
            }
            let outcome = self
                .send_group(prepared, due, &indices, delivery, clock)
                .await;
            report.messages += 1;
            if let Outcome::Retry { error, .. } | Outcome::Failed { error } = &outcome {
                report.error = Some(error.clone());
            }
            for &n in &indices {
                outcomes[n] = Some(outcome.clone());
            }
        }
        outcomes
    }

    /// The groups to send now, as indices into `due`; throttled and unsettled alerts get a
    /// deferred outcome instead.
    async fn groups(
        &self,
        prepared: &Prepared,
        due: &[PendingAlert],
        live: &[usize],
        now: DateTime<Utc>,
        outcomes: &mut [Option<Outcome>],
    ) -> Vec<(Vec<usize>, Delivery)> {
        let connector = &prepared.connector.id;
        let mut keyed: Vec<(String, Vec<usize>, Delivery)> = Vec::new();
        for &n in live {
            let doc = &due[n].doc;
            let tags = string_list(data::field(doc, "kibana.alert.rule.tags"));
            let rule_id = data::text(doc, "kibana.alert.rule.rule_id");
            let facts = RuleFacts {
                rule_id: &rule_id,
                rule_type: &data::text(doc, "kibana.alert.rule.type"),
                severity: &data::text(doc, "kibana.alert.rule.severity"),
                tags: &tags,
            };
            let delivery = route::delivery(&self.config, connector, facts);
            let key = match (delivery.throttle, delivery.mode) {
                (Some(_), _) => rule_id.clone(),
                (None, Mode::Summary) => format!(
                    "{rule_id}\n{}",
                    data::text(doc, "kibana.alert.rule.execution.uuid")
                ),
                (None, Mode::PerAlert) => due[n].id.clone(),
            };
            if let Some(throttle) = delivery.throttle
                && let Some(last) = lock(&prepared.state).last_message.get(&rule_id).copied()
                && last + throttle > now
            {
                outcomes[n] = Some(Outcome::Deferred {
                    next_at: last + throttle,
                });
                continue;
            }
            match keyed.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, members, _)) => members.push(n),
                None => keyed.push((key, vec![n], delivery)),
            }
        }
        let unsettled = self.unsettled(due, &keyed, now).await;
        let cut = cut_off_summary(due.len(), &keyed);
        let mut groups = Vec::new();
        for (key, members, delivery) in keyed {
            if cut.as_ref() == Some(&key) {
                continue;
            }
            if unsettled.contains(&key) {
                for &n in &members {
                    outcomes[n] = Some(Outcome::Deferred {
                        next_at: now + SETTLE_RECHECK,
                    });
                }
            } else {
                groups.push((members, delivery));
            }
        }
        groups
    }

    /// The keys of summary groups whose execution is not recorded yet (still running), unless
    /// older than [`SUMMARY_SETTLE`].
    async fn unsettled(
        &self,
        due: &[PendingAlert],
        keyed: &[(String, Vec<usize>, Delivery)],
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let waiting: Vec<(&String, String)> = keyed
            .iter()
            .filter(|(_, members, d)| {
                d.mode == Mode::Summary
                    && d.throttle.is_none()
                    && now - due[members[0]].created_at < SUMMARY_SETTLE
            })
            .map(|(key, members, _)| {
                (
                    key,
                    data::text(&due[members[0]].doc, "kibana.alert.rule.execution.uuid"),
                )
            })
            .collect();
        if waiting.is_empty() {
            return Vec::new();
        }
        // Read by id (real-time): a record written a moment ago may not be searchable yet.
        let mut recorded: Vec<String> = Vec::new();
        let mut unsettled = Vec::new();
        for (key, uuid) in waiting {
            let known = recorded.contains(&uuid)
                || matches!(
                    self.client
                        .get_doc(&self.targets.executions_index, &uuid)
                        .await,
                    Ok(Some(_)) | Err(_)
                );
            if known {
                recorded.push(uuid);
            } else {
                unsettled.push(key.clone());
            }
        }
        unsettled
    }

    /// Sends one group and says what became of its alerts.
    async fn send_group(
        &self,
        prepared: &Prepared,
        due: &[PendingAlert],
        indices: &[usize],
        delivery: Delivery,
        clock: &dyn Clock,
    ) -> Outcome {
        pace(prepared).await;
        let now = clock.now();
        let alerts: Vec<&Value> = indices.iter().map(|&n| &due[n].doc).collect();
        let summary = delivery.mode == Mode::Summary || alerts.len() > 1;
        let group = Group::new(&prepared.connector.id, alerts, summary);
        let link = self.results_link(&group.alerts);
        let date = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let frame = Frame {
            connector: &prepared.connector.id,
            mode: delivery.mode.as_str(),
            kibana_url: self.config.kibana_url.as_deref(),
            results_link: link.as_deref(),
            date: &date,
            shown: delivery.summary_alerts,
        };
        let message = message::build(&prepared.connector, &prepared.templates, &group, frame);
        let result = send::send(&prepared.connector, &prepared.transport, message).await;
        let rule_id = data::text(group.alerts[0], "kibana.alert.rule.rule_id");
        let mut state = lock(&prepared.state);
        match result {
            Ok(()) => {
                state.consecutive_failures = 0;
                state.last_message.insert(rule_id, now);
                Outcome::Sent
            }
            Err(SendError::Permanent(error)) => Outcome::Failed { error },
            Err(SendError::Retry { after, message }) => {
                state.consecutive_failures += 1;
                let pause = backoff(state.consecutive_failures).max(
                    after
                        .and_then(|a| TimeDelta::from_std(a).ok())
                        .unwrap_or_default(),
                );
                state.paused_until = Some(now + pause);
                let attempts = indices.iter().map(|&n| due[n].attempts).max().unwrap_or(0) + 1;
                Outcome::Retry {
                    next_at: now + backoff(attempts).max(pause),
                    error: message,
                }
            }
        }
    }

    /// Discover, filtered to the alerts, when Kibana's URL is configured.
    fn results_link(&self, alerts: &[&Value]) -> Option<String> {
        let kibana = self.config.kibana_url.as_deref()?;
        let ids: Vec<String> = alerts
            .iter()
            .map(|a| format!("\"{}\"", data::text(a, "kibana.alert.uuid")))
            .collect();
        let times: Vec<String> = alerts
            .iter()
            .map(|a| data::text(a, "kibana.alert.original_time"))
            .filter(|t| !t.is_empty())
            .collect();
        let from = times
            .iter()
            .min()
            .cloned()
            .unwrap_or_else(|| "now-7d".into());
        let to = times.iter().max().cloned().unwrap_or_else(|| "now".into());
        let view =
            crate::kibana::alerts_data_view_id(self.targets.alerts_pattern.trim_end_matches('*'));
        let query = format!("kibana.alert.uuid:({})", ids.join(" or "));
        let link = format!(
            "{kibana}/app/discover#/?_g=(time:(from:'{from}',to:'{to}'))&_a=(dataSource:(dataViewId:'{view}',type:dataView),query:(language:kuery,query:'{}'))",
            rison_string(&query)
        );
        Some(link.replace(' ', "%20").replace('"', "%22"))
    }

    /// Writes the outcomes, each only if its alert is unchanged since it was read.
    async fn record(
        &self,
        connector: &str,
        due: &[PendingAlert],
        outcomes: &[Option<Outcome>],
        now: DateTime<Utc>,
        report: &mut BatchReport,
    ) {
        let mut updates = Vec::new();
        for (alert, outcome) in due.iter().zip(outcomes) {
            let Some(outcome) = outcome else {
                continue;
            };
            match outcome {
                Outcome::Sent => report.sample.sent += 1,
                Outcome::Retry { .. } => report.sample.retried += 1,
                Outcome::Failed { .. } => report.sample.failed += 1,
                Outcome::Deferred { .. } => report.deferred += 1,
            }
            updates.push(outbox::update(alert, connector, outcome, now));
        }
        if let Some(observer) = &self.metrics {
            observer.metrics.notify.record(connector, report.sample);
        }
        if updates.is_empty() {
            return;
        }
        match self.client.bulk_update(&updates).await {
            Ok(outcome) => {
                report.conflicts = outcome.conflicts.len();
                if let Some(first) = outcome.failed.first() {
                    report.error = Some(format!(
                        "recording the outcome failed: HTTP {}: {}",
                        first.status, first.reason
                    ));
                }
                self.record_again(connector, due, outcomes, &outcome.conflicts, now)
                    .await;
            }
            Err(error) => report.error = Some(format!("recording the outcome failed: {error}")),
        }
        if let Err(error) = self.client.refresh(&self.targets.alerts_pattern).await {
            tracing::debug!(%error, "refreshing the alerts after delivery failed");
        }
    }

    /// Records outcomes again on alerts another connector (or instance) updated in between:
    /// each is read again (real-time) and its update rebuilt, a few times at most. An alert
    /// no longer pending for this connector is left as it is.
    async fn record_again(
        &self,
        connector: &str,
        due: &[PendingAlert],
        outcomes: &[Option<Outcome>],
        conflicts: &[String],
        now: DateTime<Utc>,
    ) {
        let mut left: Vec<String> = conflicts.to_vec();
        for _ in 0..CONFLICT_RETRIES {
            let mut updates = Vec::new();
            for (alert, outcome) in due.iter().zip(outcomes) {
                let Some(outcome) = outcome.as_ref().filter(|_| left.contains(&alert.id)) else {
                    continue;
                };
                let Ok(Some(current)) = self.client.get_versioned(&alert.index, &alert.id).await
                else {
                    continue;
                };
                let fresh = PendingAlert {
                    doc: current.source,
                    seq_no: current.seq_no,
                    primary_term: current.primary_term,
                    ..alert.clone()
                };
                if outbox::is_pending(&fresh.doc, connector) {
                    updates.push(outbox::update(&fresh, connector, outcome, now));
                }
            }
            if updates.is_empty() {
                return;
            }
            match self.client.bulk_update(&updates).await {
                Ok(outcome) if !outcome.conflicts.is_empty() => left = outcome.conflicts,
                _ => return,
            }
        }
    }

    /// Sends a sample message to one connector now (`lookout notify test`), outside the outbox.
    pub async fn test(
        &self,
        connector: &str,
        sample: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let prepared = self
            .connectors
            .iter()
            .find(|p| p.connector.id == connector)
            .ok_or_else(|| format!("no connector has the id {connector:?}"))?;
        let group = Group::new(connector, vec![sample], false);
        let date = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let link = self.results_link(&group.alerts);
        let frame = Frame {
            connector,
            mode: prepared.connector.mode.as_str(),
            kibana_url: self.config.kibana_url.as_deref(),
            results_link: link.as_deref(),
            date: &date,
            shown: crate::config::DEFAULT_SUMMARY_ALERTS,
        };
        let message = message::build(&prepared.connector, &prepared.templates, &group, frame);
        send::send(&prepared.connector, &prepared.transport, message)
            .await
            .map_err(|e| e.message().to_string())
    }
}

/// The summary group a full batch may have cut off (the one holding its last alert), to be
/// sent whole from the next batch, unless it is the whole batch.
fn cut_off_summary(read: usize, keyed: &[(String, Vec<usize>, Delivery)]) -> Option<String> {
    if read < BATCH_SIZE || keyed.len() < 2 {
        return None;
    }
    keyed
        .iter()
        .find(|(_, members, d)| d.mode == Mode::Summary && members.contains(&(read - 1)))
        .map(|(key, _, _)| key.clone())
}

/// Waits so that the connector sends at most `max_per_second` messages a second (real time).
async fn pace(prepared: &Prepared) {
    let Some(rate) = prepared.connector.max_per_second else {
        return;
    };
    let gap = Duration::from_secs_f64(1.0 / rate);
    let last = lock(&prepared.state).last_send;
    if let Some(last) = last {
        let ready = last + gap;
        let now = Instant::now();
        if ready > now {
            tokio::time::sleep(ready - now).await;
        }
    }
    lock(&prepared.state).last_send = Some(Instant::now());
}

/// The delay after the `attempt`-th failure: [`RETRY_BASE`] doubled per attempt, at most
/// [`RETRY_MAX`], with jitter (a random point in its upper half).
pub fn backoff(attempt: u32) -> TimeDelta {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = (RETRY_BASE * 2_i32.pow(exponent)).min(RETRY_MAX);
    let millis = full.num_milliseconds().max(2);
    let jitter = rand::random_range(0..=millis / 2);
    TimeDelta::milliseconds(millis / 2 + jitter)
}

/// A Rison string's content: `!` and `'` escaped with `!`.
fn rison_string(text: &str) -> String {
    text.replace('!', "!!").replace('\'', "!'")
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The one log event of a delivery batch.
fn log_batch(connector: &str, report: &BatchReport, started: Instant) {
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = report
        .error
        .as_deref()
        .map(crate::terminal::printable)
        .unwrap_or_default();
    macro_rules! batch_event {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                connector = %connector,
                alerts = report.alerts,
                messages = report.messages,
                sent = report.sample.sent,
                retried = report.sample.retried,
                failed = report.sample.failed,
                deferred = report.deferred,
                conflicts = report.conflicts,
                elapsed_ms,
                error = %error,
                $message
            )
        };
    }
    if report.error.is_some() {
        batch_event!(tracing::Level::WARN, "notification batch had failures");
    } else {
        batch_event!(tracing::Level::INFO, "notification batch delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_in_its_upper_half_and_is_capped() {
        for attempt in 1..=6 {
            let full = RETRY_BASE * 2_i32.pow(attempt - 1);
            let delay = backoff(attempt);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay}");
        }
        assert!(backoff(40) <= RETRY_MAX);
        assert!(backoff(40) >= RETRY_MAX / 2);
    }

    #[test]
    fn rison_quotes_are_escaped() {
        assert_eq!(rison_string("a'b!c"), "a!'b!!c");
    }
}
