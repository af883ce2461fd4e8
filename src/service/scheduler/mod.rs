//! The scheduler: every rule runs every `interval`, at start + a stagger derived from its rule
//! id + k intervals (so rules do not all fire in the same second), or at the instants of its
//! cron schedule. A rule that is due at start (never run, or covered less recently than one
//! interval ago) does not wait for its stagger: the due rules run in a short ramp after start
//! ([`START_RAMP`], spread evenly, at most `concurrency` at once), then fall into their
//! staggered cadence. At most `concurrency` executions run at once; a rule never overlaps
//! itself (a tick that finds it still running is skipped, and the next execution catches up
//! through `covered_to`). With several instances, a rule runs only where its lease is held
//! ([`Ownership`]); a rule whose lease this instance has just taken runs within the ramp too.
//! Shutdown is a future passed in: when it completes, nothing new starts and running
//! executions get `grace` to finish their writes.

use crate::clock::Clock;
use crate::rule::Rule;
use crate::schedule::Cadence;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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

    /// Where each rule's coverage stands (`covered_to` by rule id; a rule absent never ran),
    /// read once at start to find the due rules; `None` when unknown (nothing is ramped).
    fn coverage(&self) -> Pin<Box<dyn Future<Output = Option<Coverage>> + '_>> {
        Box::pin(std::future::ready(None))
    }
}

/// `covered_to` by rule id.
pub type Coverage = HashMap<String, DateTime<Utc>>;

/// How long after start (or after taking leases) the due rules are spread over.
pub const START_RAMP: TimeDelta = TimeDelta::seconds(10);

/// Which rules this instance may run: all of them alone; with several instances, those whose
/// lease it holds.
pub trait Ownership {
    fn may_run(&self, rule_id: &str) -> bool;
    /// The rules this instance has taken since the last call: they run within [`START_RAMP`].
    fn take_fresh(&self) -> Vec<String>;
    /// Completes when rules were taken (the scheduler then calls `take_fresh`).
    fn fresh_taken(&self) -> Pin<Box<dyn Future<Output = ()> + '_>>;
}

/// The one instance: it runs every rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alone;

impl Ownership for Alone {
    fn may_run(&self, _rule_id: &str) -> bool {
        true
    }

    fn take_fresh(&self) -> Vec<String> {
        Vec::new()
    }

    fn fresh_taken(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(std::future::pending())
    }
}

impl Executor for super::Engine {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move { !super::Engine::execute(self, rule, at).await.failed() })
    }

    fn coverage(&self) -> Pin<Box<dyn Future<Output = Option<Coverage>> + '_>> {
        Box::pin(super::coverage(self))
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

/// The first instant after `now` in the series `anchor + k * interval` (k >= 0).
fn next_on_grid(anchor: DateTime<Utc>, interval: TimeDelta, now: DateTime<Utc>) -> DateTime<Utc> {
    if anchor > now {
        return anchor;
    }
    next_slot(anchor, interval, now)
}

/// Whether a rule is due at `now`: it never ran, or its coverage is older than one interval.
pub fn is_due(covered_to: Option<DateTime<Utc>>, interval: TimeDelta, now: DateTime<Utc>) -> bool {
    covered_to.is_none_or(|covered| covered < now - interval)
}

/// The instants of `count` ramped executions after `start`, spread evenly over [`START_RAMP`].
pub fn ramp(start: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let count_i = i32::try_from(count.max(1)).unwrap_or(i32::MAX);
    (0..count)
        .map(|i| start + START_RAMP * i32::try_from(i).unwrap_or(i32::MAX) / count_i)
        .collect()
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
    /// `start + stagger`: the rule's cadence is `anchor + k * interval`.
    anchor: DateTime<Utc>,
    next: DateTime<Utc>,
    /// `next` is a ramped run off the cadence: the cadence slot right after it is skipped when
    /// it comes sooner than half an interval later.
    ramped: bool,
    running: bool,
}

impl Slot {
    /// The rule's slot, or `None` (logged) when its cron schedule never fires.
    fn new(rule: Rule, start: DateTime<Utc>) -> Option<Slot> {
        let cadence = rule.schedule.cadence();
        let anchor = match &cadence {
            Cadence::Every(interval) => start + stagger(&rule.rule_id, *interval),
            Cadence::Cron(_) => start,
        };
        let next = match &cadence {
            Cadence::Every(_) => Some(anchor),
            Cadence::Cron(cron) => cron.next_after(start),
        };
        let Some(next) = next else {
            tracing::error!(rule_id = %rule.rule_id, "the cron schedule never fires; rule not scheduled");
            return None;
        };
        Some(Slot {
            rule: Rc::new(rule),
            cadence,
            anchor,
            next,
            ramped: false,
            running: false,
        })
    }

    /// Moves to the first run after `now` (never again when a cron schedule has no more runs).
    fn advance(&mut self, now: DateTime<Utc>) {
        self.next = match &self.cadence {
            Cadence::Every(interval) => {
                let mut next = next_on_grid(self.anchor, *interval, now);
                if self.ramped && next - now < *interval / 2 {
                    next += *interval;
                }
                next
            }
            Cadence::Cron(cron) => cron.next_after(now).unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        self.ramped = false;
    }

    /// Runs at `at` instead, off the cadence (a ramped run), when that is sooner.
    fn ramp_to(&mut self, at: DateTime<Utc>) {
        if matches!(self.cadence, Cadence::Every(_)) && at < self.next {
            self.next = at;
            self.ramped = true;
        }
    }
}

/// Moves the slots `pick` chooses into a ramp after `start`, in stagger order; returns how many.
fn ramp_slots(slots: &mut [Slot], start: DateTime<Utc>, pick: impl Fn(&Slot) -> bool) -> usize {
    let mut picked: Vec<&mut Slot> = slots.iter_mut().filter(|slot| pick(slot)).collect();
    picked.sort_by_key(|slot| slot.anchor);
    let count = picked.len();
    for (slot, at) in picked.into_iter().zip(ramp(start, count)) {
        slot.ramp_to(at);
    }
    count
}

/// Moves the due rules (by `coverage`) into the ramp after `start`.
fn ramp_due(slots: &mut [Slot], coverage: &Coverage, start: DateTime<Utc>) -> usize {
    ramp_slots(slots, start, |slot| match slot.cadence {
        Cadence::Every(interval) => {
            is_due(coverage.get(&slot.rule.rule_id).copied(), interval, start)
        }
        Cadence::Cron(_) => false,
    })
}

/// Runs `rules` on their schedules until `shutdown` completes (one instance: every rule).
pub async fn run(
    executor: &dyn Executor,
    rules: Vec<Rule>,
    clock: &dyn Clock,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    run_shared(executor, rules, clock, options, &Alone, shutdown).await;
}

/// Runs the rules `ownership` lets this instance run on their schedules until `shutdown`
/// completes.
pub async fn run_shared(
    executor: &dyn Executor,
    rules: Vec<Rule>,
    clock: &dyn Clock,
    options: Options,
    ownership: &dyn Ownership,
    shutdown: impl Future<Output = ()>,
) {
    let start = clock.now();
    let mut slots: Vec<Slot> = rules
        .into_iter()
        .filter_map(|rule| Slot::new(rule, start))
        .collect();
    if let Some(coverage) = executor.coverage().await {
        let ramped = ramp_due(&mut slots, &coverage, start);
        if ramped > 0 {
            tracing::info!(
                due = ramped,
                ramp_s = START_RAMP.num_seconds(),
                "rules due at start run in a ramp, then on their cadence"
            );
        }
    }
    // Taken before scheduling starts (the first lease cycle): they are in the ramp already.
    drop(ownership.take_fresh());
    let permits = Semaphore::new(options.concurrency.max(1));
    let mut running = FuturesUnordered::new();
    tokio::pin!(shutdown);
    // The latest instant the clock showed or a timer reached: a clock reading before it means
    // the host's clock was set back.
    let mut seen = start;
    while let Some(due) = slots.iter().map(|slot| slot.next).min() {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = running.next(), if !running.is_empty() => {
                let slot: &mut Slot = &mut slots[done];
                slot.running = false;
                seen = follow_steps(&mut slots, seen, clock.now());
                continue;
            }
            () = ownership.fresh_taken() => {
                seen = follow_steps(&mut slots, seen, clock.now());
                let fresh = ownership.take_fresh();
                ramp_slots(&mut slots, clock.now(), |slot| fresh.contains(&slot.rule.rule_id));
                continue;
            }
            // Timers wait on elapsed time: when this one ends, `due` has been reached, whatever
            // the wall clock reads now.
            () = clock.sleep_until(due) => seen = seen.max(due),
        }
        let now = clock.now();
        seen = follow_steps(&mut slots, seen, now);
        for (index, slot) in slots
            .iter_mut()
            .enumerate()
            .filter(|(_, slot)| slot.next <= now)
        {
            let due_at = slot.next;
            slot.advance(now);
            if !ownership.may_run(&slot.rule.rule_id) {
                continue;
            }
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

/// Follows a backward step of the host's clock: when `now` reads before `seen` (an instant
/// already shown or reached), every rule's next run moves back by the step, so rules keep their
/// cadence in elapsed time instead of waiting, idle, until the clock reads the instants that
/// were planned before the step (an hour without executions after a one-hour step). A step
/// seen when a timer ends is measured exactly; one seen when an execution ends is measured
/// from the last reading, so the time between that reading and the step is not recovered.
/// A cron rule runs at the first instant of its schedule from `now` on. Returns the new `seen`.
fn follow_steps(slots: &mut [Slot], seen: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    if now >= seen {
        return now;
    }
    let step = seen - now;
    if step >= TimeDelta::seconds(1) {
        tracing::warn!(
            step_ms = step.num_milliseconds(),
            "the host's clock went back: the schedule moves back with it"
        );
    }
    for slot in slots {
        match &slot.cadence {
            Cadence::Every(_) => {
                slot.anchor -= step;
                slot.next -= step;
            }
            Cadence::Cron(cron) => {
                let from = now - TimeDelta::milliseconds(1);
                slot.next = cron.next_after(from).unwrap_or(DateTime::<Utc>::MAX_UTC);
            }
        }
    }
    now
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
