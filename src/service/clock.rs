//! The engine's source of time: a [`Clock`] gives "now" and sleeps until an instant. The daemon
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
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
    sleepers: Arc<Mutex<Vec<DateTime<Utc>>>>,
    sleeper_added: Arc<tokio::sync::Notify>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let (sender, _) = watch::channel(start);
        Self {
            now: Arc::new(sender),
            sleepers: Arc::new(Mutex::new(Vec::new())),
            sleeper_added: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Moves the clock to `time` (never backwards) and wakes the sleepers it reaches.
    pub fn set(&self, time: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let moved = time > *now;
            if moved {
                *now = time;
            }
            moved
        });
    }

    /// Moves the clock forward by `delta`.
    pub fn advance(&self, delta: chrono::TimeDelta) {
        self.set(self.now() + delta);
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

    /// The deadlines of the tasks sleeping now.
    pub fn pending(&self) -> Vec<DateTime<Utc>> {
        let now = self.now();
        let sleepers = self
            .sleepers
            .lock()
            .expect("the sleeper list is never poisoned");
        sleepers.iter().copied().filter(|d| *d > now).collect()
    }

    fn register(&self, deadline: DateTime<Utc>) {
        let mut sleepers = self
            .sleepers
            .lock()
            .expect("the sleeper list is never poisoned");
        let now = self.now();
        sleepers.retain(|d| *d > now);
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
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let mut receiver = self.now.subscribe();
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
            let _ = receiver.wait_for(|now| *now >= deadline).await;
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

    #[test]
    fn manual_clock_never_goes_backwards() {
        let clock = ManualClock::new(start());
        clock.set(start() - TimeDelta::hours(1));
        assert_eq!(clock.now(), start());
    }
}
