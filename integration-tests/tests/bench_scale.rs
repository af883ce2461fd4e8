//! The scale scenario of scripts/bench (ignored unless asked for): 1,000 generated rules on a
//! 5-minute schedule for a simulated hour, run by the real daemon against the live server with a
//! simulated clock. Prints schedule delay percentiles (p50, p99, max) and lookout's CPU; asserts
//! only correctness: every rule ran 12 times and no rule overlapped itself.
//!
//! The clock jumps to the next due execution while nothing runs and moves at the speed of real
//! time while executions run, so the hour passes in the time the work takes, and a delay (an
//! execution starting after its slot because the concurrency limit was busy) is what it would
//! be in real time. scripts/bench sets the inputs: LOOKOUT_BENCH_RULES (a folder of rule files),
//! LOOKOUT_BENCH_SOURCE (the index pattern holding CloudTrail events), LOOKOUT_BENCH_END (the
//! end of the simulated hour) and LOOKOUT_BENCH_CONCURRENCY.

use chrono::{DateTime, TimeDelta, Utc};
use integration_tests::bench::{cpu_seconds, drive, percentile};
use integration_tests::{TestServer, unique_name};
use lookout::Backoff;
use lookout::Config;
use lookout::Rule;
use lookout::{Clock, Engine, ManualClock, SystemClock};
use lookout::{Executor, SchedulerOptions as Options, stagger};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The length of the simulated run.
const SIMULATED: TimeDelta = TimeDelta::hours(1);
/// Executions per rule in the simulated hour at a 5-minute interval.
const EXPECTED_RUNS: usize = 12;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this scenario is run by scripts/bench, which sets it")
    })
}

/// The engine with the daemon's concurrency limit applied here, so the test sees every
/// execution the moment its slot fires (the daemon's own limit is set out of the way).
struct Measured<'a> {
    engine: &'a Engine,
    clock: &'a ManualClock,
    start: DateTime<Utc>,
    permits: Semaphore,
    in_flight: Cell<usize>,
    running: RefCell<HashSet<String>>,
    overlaps: Cell<usize>,
    delays_ms: RefCell<Vec<i64>>,
    runs: RefCell<HashMap<String, usize>>,
    failed: Cell<usize>,
}

impl Measured<'_> {
    /// The slot an execution starting at `at` belongs to: the last one at or before `at`.
    fn due(&self, rule: &Rule, at: DateTime<Utc>) -> DateTime<Utc> {
        let first = self.start + stagger(&rule.rule_id, rule.schedule.interval);
        let interval_ms = rule.schedule.interval.num_milliseconds();
        let slots = (at - first).num_milliseconds().max(0) / interval_ms;
        first + TimeDelta::milliseconds(slots * interval_ms)
    }
}

impl Executor for Measured<'_> {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        _at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            self.in_flight.set(self.in_flight.get() + 1);
            let fired = self.clock.now();
            if !self.running.borrow_mut().insert(rule.rule_id.clone()) {
                self.overlaps.set(self.overlaps.get() + 1);
            }
            let permit = self.permits.acquire().await.expect("never closed");
            let at = self.clock.now();
            self.delays_ms
                .borrow_mut()
                .push((at - self.due(rule, fired)).num_milliseconds());
            let report = self.engine.execute(rule, at).await;
            drop(permit);
            if report.failed() {
                self.failed.set(self.failed.get() + 1);
                eprintln!("failed: {}: {:?}", rule.rule_id, report.record.error);
            }
            *self
                .runs
                .borrow_mut()
                .entry(rule.rule_id.clone())
                .or_default() += 1;
            self.running.borrow_mut().remove(&rule.rule_id);
            self.in_flight.set(self.in_flight.get() - 1);
            !report.failed()
        })
    }
}

fn load_rules(folder: &str, source: &str) -> Vec<Rule> {
    let report = lookout::load_path(std::path::Path::new(folder));
    assert!(report.errors.is_empty(), "bench rules: {:?}", report.errors);
    report
        .rules
        .into_iter()
        .map(|mut rule| {
            rule.search.index = vec![source.to_string()];
            rule
        })
        .collect()
}

#[tokio::test]
#[ignore = "a benchmark: scripts/bench runs it with --ignored --nocapture"]
async fn thousand_rules_every_five_minutes_for_a_simulated_hour() {
    let rules = load_rules(&env("LOOKOUT_BENCH_RULES"), &env("LOOKOUT_BENCH_SOURCE"));
    let end: DateTime<Utc> = env("LOOKOUT_BENCH_END").parse().expect("RFC 3339");
    let concurrency: usize = env("LOOKOUT_BENCH_CONCURRENCY").parse().expect("a number");
    let server = TestServer::connect();
    let mut config = Config::default();
    config.elasticsearch.url = server.url.clone();
    config.alerts.index = unique_name("bench-scale-alerts");
    config.engine.state_index = unique_name("bench-scale-state");
    config.engine.executions_index = unique_name("bench-scale-executions");
    let backoff = Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };
    let engine = lookout::connect(&config, &SystemClock, backoff)
        .await
        .expect("the server answers");
    let start = end - SIMULATED;
    let clock = ManualClock::new(start);
    let measured = Measured {
        engine: &engine,
        clock: &clock,
        start,
        permits: Semaphore::new(concurrency),
        in_flight: Cell::new(0),
        running: RefCell::new(HashSet::new()),
        overlaps: Cell::new(0),
        delays_ms: RefCell::new(Vec::new()),
        runs: RefCell::new(HashMap::new()),
        failed: Cell::new(0),
    };
    let options = Options {
        concurrency: Semaphore::MAX_PERMITS,
        grace: Duration::from_secs(60),
    };
    let rule_count = rules.len();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    let daemon = lookout::schedule_rules(&measured, rules, &clock, options, async {
        let _ = stopped.await;
    });
    let driver = async {
        drive(&clock, &measured.in_flight, end).await;
        stop.send(()).expect("the daemon listens");
    };
    tokio::join!(daemon, driver);
    let cpu = cpu_seconds() - cpu_before;
    let wall = wall.elapsed().as_secs_f64();

    let mut delays = measured.delays_ms.take();
    delays.sort_unstable();
    let executions = delays.len();
    println!(
        "scale: {rule_count} rules, interval 5m, simulated hour {start} .. {end}, concurrency {concurrency}"
    );
    println!(
        "scale: {executions} executions ({} failed) in {wall:.1} s of wall time",
        measured.failed.get()
    );
    println!(
        "scale: schedule delay p50 {} ms, p99 {} ms, max {} ms",
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        delays.last().copied().unwrap_or(0)
    );
    println!(
        "scale: lookout CPU {cpu:.2} s in total, {:.2} ms per execution (this test process: engine, daemon and clock driver)",
        1000.0 * cpu / executions.max(1) as f64
    );

    let runs = measured.runs.take();
    assert_eq!(measured.overlaps.get(), 0, "a rule overlapped itself");
    assert_eq!(runs.len(), rule_count, "every rule ran");
    let wrong: Vec<_> = runs.iter().filter(|(_, n)| **n != EXPECTED_RUNS).collect();
    assert!(
        wrong.is_empty(),
        "rules that did not run 12 times: {wrong:?}"
    );
    for index in [
        &config.alerts.index,
        &config.engine.state_index,
        &config.engine.executions_index,
    ] {
        server.delete_index(&format!("{index}*")).await;
    }
}
