//! Scheduler tests on a manual clock with a recording executor: no server, no sleeping.

use super::*;
use crate::clock::ManualClock;
use crate::rule::test_rule;
use chrono::TimeZone;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Records each execution (rule id, start time); blocks on `gate` until a test releases it.
struct Recorder {
    events: mpsc::UnboundedSender<(String, DateTime<Utc>)>,
    gate: Arc<Semaphore>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    failing: Vec<String>,
    coverage: Option<Coverage>,
}

impl Executor for Recorder {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.events.send((rule.rule_id.clone(), at)).unwrap();
            self.gate.acquire().await.unwrap().forget();
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            !self.failing.contains(&rule.rule_id)
        })
    }

    fn coverage(&self) -> Pin<Box<dyn Future<Output = Option<Coverage>> + '_>> {
        Box::pin(std::future::ready(self.coverage.clone()))
    }
}

fn recorder(
    open: bool,
) -> (
    Arc<Recorder>,
    mpsc::UnboundedReceiver<(String, DateTime<Utc>)>,
) {
    let (events, receiver) = mpsc::unbounded_channel();
    let permits = if open { Semaphore::MAX_PERMITS } else { 0 };
    let recorder = Recorder {
        events,
        gate: Arc::new(Semaphore::new(permits)),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        failing: vec!["bad".to_string()],
        coverage: None,
    };
    (Arc::new(recorder), receiver)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
}

const FIVE: TimeDelta = TimeDelta::minutes(5);

fn options(concurrency: usize) -> Options {
    Options {
        concurrency,
        grace: Duration::from_secs(3600),
    }
}

/// Starts the daemon on a local task; returns its handle and the sender that shuts it down.
fn start(
    executor: Arc<Recorder>,
    rules: Vec<Rule>,
    clock: &ManualClock,
    concurrency: usize,
) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let clock = clock.clone();
    let handle = tokio::task::spawn_local(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        run(
            executor.as_ref(),
            rules,
            &clock,
            options(concurrency),
            shutdown,
        )
        .await;
    });
    (handle, stop)
}

/// Moves the clock to the daemon's next wake-up and returns that instant.
async fn tick(clock: &ManualClock) -> DateTime<Utc> {
    let deadline = clock.next_sleeper().await;
    clock.set(deadline);
    deadline
}

#[test]
fn stagger_is_deterministic_and_within_the_interval() {
    for id in ["a", "b", "4c8c1d94-43a4-4978-b7a7-9a8e6c5f0c11"] {
        let offset = stagger(id, FIVE);
        assert_eq!(offset, stagger(id, FIVE));
        assert!(
            offset >= TimeDelta::zero() && offset < FIVE,
            "{id}: {offset}"
        );
    }
    assert_ne!(stagger("a", FIVE), stagger("b", FIVE));
}

#[test]
fn next_slot_skips_the_slots_already_past() {
    assert_eq!(next_slot(t0(), FIVE, t0()), t0() + FIVE);
    assert_eq!(
        next_slot(t0(), FIVE, t0() + TimeDelta::minutes(12)),
        t0() + TimeDelta::minutes(15)
    );
}

#[tokio::test]
async fn each_rule_runs_every_interval_from_its_stagger() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(true);
            let rules = vec![test_rule("a"), test_rule("b")];
            let (handle, stop) = start(executor, rules, &clock, 4);
            let mut seen = Vec::new();
            for _ in 0..6 {
                tick(&clock).await;
                seen.push(events.recv().await.unwrap());
            }
            let mut expected = Vec::new();
            for k in 0..3 {
                for id in ["a", "b"] {
                    expected.push((id.to_string(), t0() + stagger(id, FIVE) + FIVE * k));
                }
            }
            expected.sort_by_key(|(_, at)| *at);
            assert_eq!(seen, expected);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

/// Moves the clock to the daemon's next wake-up and returns when the rule that ran there ran;
/// fails when nothing ran (the daemon went back to sleep instead).
async fn ran_at_the_next_wake_up(
    clock: &ManualClock,
    events: &mut mpsc::UnboundedReceiver<(String, DateTime<Utc>)>,
) -> DateTime<Utc> {
    let woke = tick(clock).await;
    let sleeps_until = clock.next_sleeper().await;
    match events.try_recv() {
        Ok((_, at)) => at,
        Err(_) => panic!("nothing ran at {woke}; the daemon sleeps until {sleeps_until}"),
    }
}

#[tokio::test]
async fn a_backward_step_of_the_host_clock_does_not_stop_executions() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(true);
            let (handle, stop) = start(executor, vec![test_rule("a")], &clock, 4);
            tick(&clock).await;
            let first = events.recv().await.unwrap().1;
            assert_eq!(first, t0() + stagger("a", FIVE));
            // The host's clock is set back an hour while the scheduler sleeps: the next runs
            // still come every five minutes of elapsed time, not an hour and five minutes later.
            let step = TimeDelta::hours(1);
            clock.step(-step);
            let mut seen = Vec::new();
            for _ in 0..2 {
                seen.push(ran_at_the_next_wake_up(&clock, &mut events).await);
            }
            assert_eq!(seen, vec![first + FIVE - step, first + FIVE * 2 - step]);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn a_backward_step_during_an_execution_does_not_stop_the_next() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(false);
            let (handle, stop) = start(Arc::clone(&executor), vec![test_rule("a")], &clock, 4);
            let first = tick(&clock).await;
            assert_eq!(events.recv().await.unwrap().1, first);
            // The step comes while the execution runs; its end wakes the scheduler first.
            let step = TimeDelta::minutes(30);
            clock.step(-step);
            executor.gate.add_permits(1);
            while executor.in_flight.load(Ordering::SeqCst) > 0 {
                tokio::task::yield_now().await;
            }
            executor.gate.add_permits(1);
            let next = tick(&clock).await;
            assert_eq!(next, first + FIVE - step);
            assert_eq!(events.recv().await.unwrap().1, next);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn a_cron_rule_after_a_backward_step_runs_at_its_next_instant() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0() + TimeDelta::seconds(30));
            let (executor, mut events) = recorder(true);
            let mut rule = test_rule("cron");
            rule.schedule.cron = Some(crate::schedule::Cron::parse("*/10 * * * *").unwrap());
            let (handle, stop) = start(executor, vec![rule], &clock, 4);
            tick(&clock).await;
            assert_eq!(
                events.recv().await.unwrap().1,
                t0() + TimeDelta::minutes(10)
            );
            clock.step(-TimeDelta::hours(2));
            // The wake-up planned for 12:20 comes at 10:20 on the stepped clock; the rule runs
            // there (an instant of its schedule), not two hours later.
            let at = ran_at_the_next_wake_up(&clock, &mut events).await;
            assert_eq!(at, t0() + TimeDelta::minutes(20) - TimeDelta::hours(2));
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn a_cron_rule_runs_at_its_cron_instants() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0() + TimeDelta::seconds(30));
            let (executor, mut events) = recorder(true);
            let mut rule = test_rule("cron");
            rule.schedule.cron = Some(crate::schedule::Cron::parse("*/10 * * * *").unwrap());
            let (handle, stop) = start(executor, vec![rule], &clock, 4);
            let mut seen = Vec::new();
            for _ in 0..3 {
                tick(&clock).await;
                seen.push(events.recv().await.unwrap().1);
            }
            let expected: Vec<_> = (1..=3).map(|k| t0() + TimeDelta::minutes(10 * k)).collect();
            assert_eq!(seen, expected);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn a_rule_never_overlaps_itself() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(false);
            let (handle, stop) = start(Arc::clone(&executor), vec![test_rule("a")], &clock, 4);
            let first = tick(&clock).await;
            assert_eq!(events.recv().await.unwrap().1, first);
            tick(&clock).await;
            tick(&clock).await;
            clock.next_sleeper().await;
            assert!(
                events.try_recv().is_err(),
                "a tick ran while the rule was running"
            );
            executor.gate.add_permits(1);
            while executor.in_flight.load(Ordering::SeqCst) > 0 {
                tokio::task::yield_now().await;
            }
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let after = tick(&clock).await;
            assert_eq!(events.recv().await.unwrap().1, after);
            assert_eq!(executor.max_in_flight.load(Ordering::SeqCst), 1);
            executor.gate.add_permits(1);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn concurrency_bounds_the_executions_running_at_once() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(false);
            let rules = vec![test_rule("a"), test_rule("b"), test_rule("c")];
            let (handle, stop) = start(Arc::clone(&executor), rules, &clock, 1);
            for _ in 0..3 {
                tick(&clock).await;
            }
            for _ in 0..3 {
                events.recv().await.unwrap();
                executor.gate.add_permits(1);
            }
            assert_eq!(executor.max_in_flight.load(Ordering::SeqCst), 1);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn shutdown_waits_for_running_executions() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (executor, mut events) = recorder(false);
            let (handle, stop) = start(Arc::clone(&executor), vec![test_rule("a")], &clock, 4);
            tick(&clock).await;
            events.recv().await.unwrap();
            stop.send(()).unwrap();
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(
                !handle.is_finished(),
                "the daemon exited while a rule was running"
            );
            executor.gate.add_permits(1);
            handle.await.unwrap();
            assert_eq!(executor.in_flight.load(Ordering::SeqCst), 0);
        })
        .await;
}

#[tokio::test]
async fn run_once_runs_every_rule_at_the_given_time_and_counts_failures() {
    let (executor, mut events) = recorder(true);
    let rules = vec![test_rule("a"), test_rule("bad"), test_rule("c")];
    let failed = run_once(executor.as_ref(), &rules, t0(), 2).await;
    assert_eq!(failed, 1);
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    seen.sort();
    let expected: Vec<_> = ["a", "bad", "c"]
        .iter()
        .map(|id| (id.to_string(), t0()))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_due_rule_runs_in_the_start_ramp_then_on_its_staggered_cadence() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let clock = ManualClock::new(t0());
            let (events, mut seen) = mpsc::unbounded_channel();
            let mut coverage = Coverage::new();
            // b ran a minute ago: not due, it keeps its stagger; a never ran: due.
            coverage.insert("b".to_string(), t0() - TimeDelta::minutes(1));
            let executor = Arc::new(Recorder {
                events,
                gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                failing: Vec::new(),
                coverage: Some(coverage),
            });
            let rules = vec![test_rule("a"), test_rule("b")];
            let (handle, stop) = start(executor, rules, &clock, 4);
            let mut runs = Vec::new();
            for _ in 0..4 {
                tick(&clock).await;
                runs.push(seen.recv().await.unwrap());
            }
            let a_grid = t0() + stagger("a", FIVE);
            // The cadence slot of a right after the ramp is skipped when it comes sooner than
            // half an interval later.
            let a_next = if a_grid - t0() < FIVE / 2 {
                a_grid + FIVE
            } else {
                a_grid
            };
            let mut expected = [
                ("a".to_string(), t0()),
                ("b".to_string(), t0() + stagger("b", FIVE)),
                ("b".to_string(), t0() + stagger("b", FIVE) + FIVE),
                ("a".to_string(), a_next),
            ];
            expected.sort_by_key(|(_, at)| *at);
            assert_eq!(runs, expected[..4]);
            stop.send(()).unwrap();
            handle.await.unwrap();
        })
        .await;
}

#[test]
fn the_ramp_spreads_due_rules_over_a_few_seconds() {
    let instants = ramp(t0(), 4);
    assert_eq!(instants[0], t0());
    assert!(instants.windows(2).all(|w| w[0] < w[1]));
    assert!(*instants.last().unwrap() < t0() + START_RAMP);
    assert!(is_due(None, FIVE, t0()));
    assert!(is_due(Some(t0() - TimeDelta::minutes(6)), FIVE, t0()));
    assert!(!is_due(Some(t0() - TimeDelta::minutes(4)), FIVE, t0()));
}
