//! The scheduler: every rule runs every `interval`, first at start + a stagger derived from its
//! rule id (so rules do not all fire in the same second), or at the instants of its cron
//! schedule; at most `concurrency` executions run at once; a rule never overlaps itself (a tick
//! that finds it still running is skipped, and the next execution catches up through
//! `covered_to`). Shutdown is a future passed in: when it completes, nothing new starts and
//! running executions get `grace` to finish their writes.

use super::clock::Clock;
use crate::rule::Rule;
use crate::schedule::Cadence;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Runs one execution and says whether it succeeded. The engine implements it; scheduling tests
/// use a recording fake, so the scheduler is tested without a server.
///
/// Executions are polled by the scheduler's own task (no `tokio::spawn`), so their futures need
/// not be `Send`: the work is I/O-bound and one task drives many requests at once.
pub trait Executor {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>>;

    /// Told, just before an execution starts, how long after its due time it starts (waiting
    /// for a free permit included). The operator's metrics use it; by default it is ignored.
    fn started_late(&self, _rule: &Rule, _delay: Duration) {}
}

impl Executor for super::Engine {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move { !super::Engine::execute(self, rule, at).await.failed() })
    }
}

/// Limits of the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The most executions running at once.
    pub concurrency: usize,
    /// How long running executions may take to finish after shutdown begins.
    pub grace: Duration,
}

/// The stagger of a rule: a deterministic offset in `[0, interval)` from its rule id.
pub fn stagger(rule_id: &str, interval: TimeDelta) -> TimeDelta {
    let digest = Sha256::digest(rule_id.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    let interval_ms = u64::try_from(interval.num_milliseconds())
        .unwrap_or(0)
        .max(1);
    let offset = u64::from_be_bytes(first) % interval_ms;
    TimeDelta::milliseconds(i64::try_from(offset).expect("offset < interval, which fits an i64"))
}

/// The first slot after `now` in the series `previous + k * interval`.
fn next_slot(previous: DateTime<Utc>, interval: TimeDelta, now: DateTime<Utc>) -> DateTime<Utc> {
    let interval = interval.max(TimeDelta::seconds(1));
    let mut next = previous + interval;
    if next <= now {
        let behind = (now - next).num_milliseconds() / interval.num_milliseconds() + 1;
        next += interval * i32::try_from(behind).unwrap_or(i32::MAX);
    }
    next
}

/// One scheduled rule.
struct Slot {
    rule: Rc<Rule>,
    cadence: Cadence,
    next: DateTime<Utc>,
    running: bool,
}

impl Slot {
    /// The rule's slot, or `None` (logged) when its cron schedule never fires.
    fn new(rule: Rule, start: DateTime<Utc>) -> Option<Slot> {
        let cadence = rule.schedule.cadence();
        let next = match &cadence {
            Cadence::Every(interval) => Some(start + stagger(&rule.rule_id, *interval)),
            Cadence::Cron(cron) => cron.next_after(start),
        };
        let Some(next) = next else {
            tracing::error!(rule_id = %rule.rule_id, "the cron schedule never fires; rule not scheduled");
            return None;
        };
        Some(Slot {
            rule: Rc::new(rule),
            cadence,
            next,
            running: false,
        })
    }

    /// Moves to the first run after `now` (never again when a cron schedule has no more runs).
    fn advance(&mut self, now: DateTime<Utc>) {
        self.next = match &self.cadence {
            Cadence::Every(interval) => next_slot(self.next, *interval, now),
            Cadence::Cron(cron) => cron.next_after(now).unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
    }
}

/// Runs `rules` on their schedules until `shutdown` completes.
pub async fn run(
    executor: &dyn Executor,
    rules: Vec<Rule>,
    clock: &dyn Clock,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let start = clock.now();
    let mut slots: Vec<Slot> = rules
        .into_iter()
        .filter_map(|rule| Slot::new(rule, start))
        .collect();
    let permits = Semaphore::new(options.concurrency.max(1));
    let mut running = FuturesUnordered::new();
    tokio::pin!(shutdown);
    while let Some(due) = slots.iter().map(|slot| slot.next).min() {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = running.next(), if !running.is_empty() => {
                let slot: &mut Slot = &mut slots[done];
                slot.running = false;
                continue;
            }
            () = clock.sleep_until(due) => {}
        }
        let now = clock.now();
        for (index, slot) in slots
            .iter_mut()
            .enumerate()
            .filter(|(_, slot)| slot.next <= now)
        {
            let due_at = slot.next;
            slot.advance(now);
            if slot.running {
                tracing::info!(rule_id = %slot.rule.rule_id, "previous execution still running; tick skipped");
                continue;
            }
            slot.running = true;
            running.push(execution(
                executor,
                clock,
                &permits,
                Rc::clone(&slot.rule),
                (index, due_at),
            ));
        }
    }
    drain(running, options.grace).await;
}

/// One execution once a permit is free; yields the slot index when done. `(index, due_at)`:
/// the slot and when the execution was due.
async fn execution(
    executor: &dyn Executor,
    clock: &dyn Clock,
    permits: &Semaphore,
    rule: Rc<Rule>,
    (index, due_at): (usize, DateTime<Utc>),
) -> usize {
    let _permit = permits.acquire().await;
    let at = clock.now();
    executor.started_late(&rule, (at - due_at).to_std().unwrap_or_default());
    executor.execute(&rule, at).await;
    index
}

/// Waits for running executions, at most `grace`, then abandons the rest (their windows stay
/// uncovered and are searched again at the next start).
async fn drain<F: Future<Output = usize>>(mut running: FuturesUnordered<F>, grace: Duration) {
    if !running.is_empty() {
        tracing::info!(
            running = running.len(),
            grace_s = grace.as_secs(),
            "shutting down: waiting for running executions"
        );
    }
    let all_done = async { while running.next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        tracing::warn!(
            abandoned = running.len(),
            "grace period over: abandoning running executions"
        );
    }
}

/// Runs every rule once at `at`, at most `concurrency` at a time; returns the number of failed
/// executions.
pub async fn run_once(
    executor: &dyn Executor,
    rules: &[Rule],
    at: DateTime<Utc>,
    concurrency: usize,
) -> usize {
    futures_util::stream::iter(rules)
        .map(|rule| executor.execute(rule, at))
        .buffer_unordered(concurrency.max(1))
        .filter(|succeeded| std::future::ready(!succeeded))
        .count()
        .await
}

#[cfg(test)]
mod tests;
