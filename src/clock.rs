//! The source of time for everything that waits (the scheduler, start-up back-off, notification
//! retries): a [`Clock`] gives "now" and sleeps until an instant. The daemon
//! takes one as a value, so tests drive many scheduling cycles with a [`ManualClock`] and never
//! sleep; production uses [`SystemClock`].

use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A future returned by [`Clock::sleep_until`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where the engine gets time from.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_>;
}

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Wall-clock time shifted by a fixed offset: `lookout run --now T` starts at `T` and then moves
/// at the speed of real time (replays, demos).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: chrono::TimeDelta,
}

impl OffsetClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        SystemClock.sleep_until(deadline - self.offset)
    }
}

/// A clock that moves only when told to. Sleepers wake when [`ManualClock::set`] or
/// [`ManualClock::advance`] reaches their deadline; [`ManualClock::next_sleeper`] lets a test
/// wait until the code under test is sleeping, and see until when.
///
/// Like the host's clock under [`SystemClock`], it has two time lines: the elapsed time, which
/// sleepers wait on (tokio's timers are monotonic), and the wall clock that `now()` reads, which
/// [`ManualClock::step`] can set back or forward (an operator or NTP setting the host's clock)
/// without moving the elapsed time: a sleeper that was to wake in five minutes still wakes
/// five minutes later, at a wall time shifted by the step.
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// The elapsed time line, as the wall time it would show without any step.
    elapsed: Arc<watch::Sender<DateTime<Utc>>>,
    /// The sum of the steps: `now() = elapsed + step`.
    step: Arc<Mutex<chrono::TimeDelta>>,
    /// The pending sleepers, as instants of the elapsed time line.
    sleepers: Arc<Mutex<Vec<DateTime<Utc>>>>,
    sleeper_added: Arc<tokio::sync::Notify>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let (sender, _) = watch::channel(start);
        Self {
            elapsed: Arc::new(sender),
            step: Arc::new(Mutex::new(chrono::TimeDelta::zero())),
            sleepers: Arc::new(Mutex::new(Vec::new())),
            sleeper_added: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn stepped(&self) -> chrono::TimeDelta {
        *self.step.lock().expect("the step is never poisoned")
    }

    /// Moves the clock to `time` (never backwards) and wakes the sleepers it reaches.
    pub fn set(&self, time: DateTime<Utc>) {
        let target = time - self.stepped();
        self.elapsed.send_if_modified(|elapsed| {
            let moved = target > *elapsed;
            if moved {
                *elapsed = target;
            }
            moved
        });
    }

    /// Moves the clock forward by `delta`.
    pub fn advance(&self, delta: chrono::TimeDelta) {
        self.set(self.now() + delta);
    }

    /// Sets the wall clock by `delta` (back when negative), as an operator or NTP stepping the
    /// host's clock does: `now()` jumps, no time elapses, and every sleeper still wakes after
    /// the time it was to wait (so at a wall time moved by `delta`).
    pub fn step(&self, delta: chrono::TimeDelta) {
        *self.step.lock().expect("the step is never poisoned") += delta;
    }

    /// Waits until some task sleeps on this clock and returns the earliest pending deadline.
    pub async fn next_sleeper(&self) -> DateTime<Utc> {
        loop {
            let notified = self.sleeper_added.notified();
            if let Some(earliest) = self.pending().into_iter().min() {
                return earliest;
            }
            notified.await;
        }
    }

    /// The deadlines of the tasks sleeping now (on the wall clock as it reads now).
    pub fn pending(&self) -> Vec<DateTime<Utc>> {
        let elapsed = *self.elapsed.borrow();
        let step = self.stepped();
        let sleepers = self
            .sleepers
            .lock()
            .expect("the sleeper list is never poisoned");
        sleepers
            .iter()
            .filter(|d| **d > elapsed)
            .map(|d| *d + step)
            .collect()
    }

    fn register(&self, deadline: DateTime<Utc>) {
        let mut sleepers = self
            .sleepers
            .lock()
            .expect("the sleeper list is never poisoned");
        let elapsed = *self.elapsed.borrow();
        sleepers.retain(|d| *d > elapsed);
        sleepers.push(deadline);
        drop(sleepers);
        self.sleeper_added.notify_waiters();
    }

    fn unregister(&self, deadline: DateTime<Utc>) {
        let mut sleepers = self
            .sleepers
            .lock()
            .expect("the sleeper list is never poisoned");
        if let Some(at) = sleepers.iter().position(|d| *d == deadline) {
            sleepers.swap_remove(at);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.elapsed.borrow() + self.stepped()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let mut receiver = self.elapsed.subscribe();
        // As a timer does: the wait is fixed now, on the elapsed time line.
        let deadline = deadline - self.stepped();
        Box::pin(async move {
            if *receiver.borrow() >= deadline {
                return;
            }
            let _registration = Registration {
                clock: self,
                deadline,
            };
            self.register(deadline);
            // The sender lives as long as `self`, so `wait_for` only ends when the time comes.
            let _ = receiver.wait_for(|elapsed| *elapsed >= deadline).await;
        })
    }
}

/// Removes a sleeper's deadline when its sleep ends or is dropped.
struct Registration<'a> {
    clock: &'a ManualClock,
    deadline: DateTime<Utc>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.clock.unregister(self.deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn manual_sleep_ends_when_the_clock_reaches_the_deadline() {
        let clock = ManualClock::new(start());
        let sleeper = clock.clone();
        let deadline = start() + TimeDelta::minutes(5);
        let task = tokio::spawn(async move { sleeper.sleep_until(deadline).await });
        assert_eq!(clock.next_sleeper().await, deadline);
        clock.advance(TimeDelta::minutes(4));
        assert!(!task.is_finished());
        clock.advance(TimeDelta::minutes(1));
        task.await.unwrap();
        assert!(clock.pending().is_empty());
    }

    #[tokio::test]
    async fn manual_sleep_in_the_past_returns_at_once() {
        let clock = ManualClock::new(start());
        clock.sleep_until(start() - TimeDelta::seconds(1)).await;
        clock.sleep_until(start()).await;
    }

    #[tokio::test]
    async fn a_step_moves_now_but_not_the_time_a_sleeper_waits() {
        let clock = ManualClock::new(start());
        let sleeper = clock.clone();
        let deadline = start() + TimeDelta::minutes(5);
        let task = tokio::spawn(async move { sleeper.sleep_until(deadline).await });
        assert_eq!(clock.next_sleeper().await, deadline);
        clock.step(-TimeDelta::hours(1));
        assert_eq!(clock.now(), start() - TimeDelta::hours(1));
        let woken = deadline - TimeDelta::hours(1);
        assert_eq!(clock.next_sleeper().await, woken);
        clock.set(woken);
        task.await.unwrap();
        assert_eq!(clock.now(), woken);
    }

    #[test]
    fn manual_clock_never_goes_backwards() {
        let clock = ManualClock::new(start());
        clock.set(start() - TimeDelta::hours(1));
        assert_eq!(clock.now(), start());
    }
}
