//! What the simulated-time benchmarks (bench_scale, bench_leases) share: the clock that jumps
//! while nothing runs, this process's CPU time, and percentiles.

use chrono::{DateTime, TimeDelta, Utc};
use lookout::{Clock, ManualClock};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often the clock is moved while executions run.
pub const TICK: Duration = Duration::from_millis(1);

/// Moves the clock: to the next due instant while nothing is in flight, at real speed while
/// executions run, never past `end` (slots after it are not the run's: a short run's backlog
/// would otherwise reach the next slot of the first rules); returns once the next due instant
/// is at or past `end`.
pub async fn drive(clock: &ManualClock, in_flight: &Cell<usize>, end: DateTime<Utc>) {
    let mut anchor = (clock.now(), Instant::now());
    loop {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        if in_flight.get() > 0 {
            tokio::time::sleep(TICK).await;
            let elapsed = TimeDelta::from_std(anchor.1.elapsed()).expect("a short time");
            clock.set((anchor.0 + elapsed).min(end));
            continue;
        }
        let next = clock.next_sleeper().await;
        if next >= end {
            return;
        }
        clock.set(next);
        anchor = (next, Instant::now());
    }
}

/// This process's user+sys CPU seconds (Linux, /proc/self/stat; USER_HZ is 100).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    let after_name = &stat[stat
        .rfind(')')
        .expect("stat has the command in parentheses")
        + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks = |n: usize| fields[n - 3].parse::<f64>().expect("a tick count");
    (ticks(14) + ticks(15)) / 100.0
}

/// The `p`th percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
