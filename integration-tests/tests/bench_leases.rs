//! The leases scenario of scripts/bench (`scripts/bench leases`; ignored unless asked for): three
//! instances share 3,000 query rules on a 5-minute schedule through leases in the live server,
//! for a simulated hour. Prints the executions of each instance, the schedule delay (p50, p99,
//! max), the lease traffic (requests and bytes per minute, by kind) and the CPU of this process;
//! asserts only correctness: every rule ran 12 times in all (none lost, none doubled), none
//! overlapped itself, no execution failed, and each instance held a third of the leases.
//!
//! How the hour is compressed: the three instances run in this process, each with its own engine,
//! its own leases (`Sharing`, the daemon's code: one cycle every quarter of the lease period) and
//! its own scheduler. The schedulers share a simulated clock that jumps to the next due execution
//! while nothing runs and moves at the speed of real time while executions run (as the scale
//! scenario's, bench_scale.rs), so the hour passes in the time the work takes. The leases run on
//! real time, at the real lease period (default 30 s): their traffic is counted per minute of
//! wall time, which is what a deployment sends per minute whatever its schedule (the count per
//! cycle does not depend on the rules' interval). Each instance's lease requests go through its
//! own forwarder (`integration_tests::proxy::Proxy` with no fault: a counter, not a test double)
//! and the executions straight to the server. The rules search an index without events (quiet
//! rules): what is measured is the sharing and the schedule, not alert writing (scripts/bench's
//! other scenarios measure that).
//!
//! Inputs (environment, defaults in brackets): LOOKOUT_BENCH_LEASE_RULES [3000],
//! LOOKOUT_BENCH_CONCURRENCY [4] (per instance), LOOKOUT_BENCH_LEASE_PERIOD_S [30] (seconds),
//! LOOKOUT_BENCH_MINUTES [60] (the simulated time; a multiple of 5, shorter for a quick look).

use chrono::{DateTime, TimeDelta, Utc};
use integration_tests::bench::{cpu_seconds, drive, percentile};
use integration_tests::proxy::{Exchange, Proxy};
use integration_tests::{TestServer, unique_name};
use lookout::Backoff;
use lookout::Config;
use lookout::Rule;
use lookout::Sharing;
use lookout::{Clock, Engine, ManualClock, SystemClock};
use lookout::{Executor, SchedulerOptions as Options, stagger};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The rules' interval, in minutes.
const INTERVAL_MINUTES: usize = 5;
const INSTANCES: [&str; 3] = ["bench-a", "bench-b", "bench-c"];
/// The longest the leases may take to spread evenly at start (a bound, not a measurement).
const SPREAD_WAIT: Duration = Duration::from_secs(300);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// What every instance's executions add to.
struct Totals<'a> {
    clock: &'a ManualClock,
    start: DateTime<Utc>,
    in_flight: Cell<usize>,
    running: RefCell<HashSet<String>>,
    overlaps: Cell<usize>,
    delays_ms: RefCell<Vec<i64>>,
    runs: RefCell<HashMap<String, usize>>,
    by_instance: RefCell<BTreeMap<&'static str, usize>>,
    /// Ticks of a rule whose lease the instance did not hold when its execution was to start.
    not_held: Cell<usize>,
    failed: Cell<usize>,
}

impl Totals<'_> {
    /// The slot an execution starting at `at` belongs to: the last one at or before `at`.
    fn due(&self, rule: &Rule, at: DateTime<Utc>) -> DateTime<Utc> {
        let first = self.start + stagger(&rule.rule_id, rule.schedule.interval);
        let interval_ms = rule.schedule.interval.num_milliseconds();
        let slots = (at - first).num_milliseconds().max(0) / interval_ms;
        first + TimeDelta::milliseconds(slots * interval_ms)
    }
}

/// One instance: its engine, its leases and its concurrency limit (applied here, so that the
/// delay waiting for a permit is seen, as in the scale scenario).
struct Instance<'a> {
    name: &'static str,
    engine: Engine,
    sharing: Sharing,
    permits: Semaphore,
    totals: &'a Totals<'a>,
}

impl Executor for Instance<'_> {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        _at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            let totals = self.totals;
            totals.in_flight.set(totals.in_flight.get() + 1);
            let fired = totals.clock.now();
            if !totals.running.borrow_mut().insert(rule.rule_id.clone()) {
                totals.overlaps.set(totals.overlaps.get() + 1);
            }
            let permit = self.permits.acquire().await.expect("never closed");
            let at = totals.clock.now();
            let delay = (at - totals.due(rule, fired)).num_milliseconds();
            let report = self.sharing.execute(&self.engine, rule, at).await;
            drop(permit);
            match &report {
                None => totals.not_held.set(totals.not_held.get() + 1),
                Some(report) => {
                    totals.delays_ms.borrow_mut().push(delay);
                    if report.failed() {
                        totals.failed.set(totals.failed.get() + 1);
                        eprintln!("failed: {}: {:?}", rule.rule_id, report.record.error);
                    }
                    *(totals.runs.borrow_mut())
                        .entry(rule.rule_id.clone())
                        .or_default() += 1;
                    *totals
                        .by_instance
                        .borrow_mut()
                        .entry(self.name)
                        .or_default() += 1;
                }
            }
            totals.running.borrow_mut().remove(&rule.rule_id);
            totals.in_flight.set(totals.in_flight.get() - 1);
            report.is_none_or(|report| !report.failed())
        })
    }
}

fn rule_file(rule_id: &str, source: &str) -> String {
    format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout"]
description = "Lease benchmark rule."
from = "now-6m"
index = ["{source}"]
interval = "5m"
language = "kuery"
max_signals = 100
name = "Lease benchmark {rule_id}"
risk_score = 21
rule_id = "{rule_id}"
severity = "low"
type = "query"
query = "event.action: AddUserToGroup"
"#
    )
}

/// The kind of a lease request, from its `METHOD target`.
fn kind(request: &str) -> &'static str {
    if request.contains("/_bulk") {
        "claim/give back (_bulk)"
    } else if request.contains("/_refresh") {
        "refresh"
    } else if request.contains("/_search") {
        "read (_search)"
    } else if request.starts_with("PUT") {
        "heartbeat (PUT)"
    } else if request.starts_with("DELETE") {
        "delete"
    } else {
        "other"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench leases runs it with --ignored --nocapture"]
async fn three_instances_share_three_thousand_rules_every_five_minutes_for_a_simulated_hour() {
    let rule_count: usize = env_or("LOOKOUT_BENCH_LEASE_RULES", "3000")
        .parse()
        .expect("a number");
    let concurrency: usize = env_or("LOOKOUT_BENCH_CONCURRENCY", "4")
        .parse()
        .expect("a number");
    let period = Duration::from_secs(
        env_or("LOOKOUT_BENCH_LEASE_PERIOD_S", "30")
            .parse()
            .expect("a number of seconds"),
    );
    let minutes: usize = env_or("LOOKOUT_BENCH_MINUTES", "60")
        .parse()
        .expect("a number of minutes");
    // Executions per rule at a 5-minute interval.
    let expected_runs = minutes / INTERVAL_MINUTES;
    let server = TestServer::connect();
    let base = unique_name("bench-leases");
    let source = format!("{base}-src");
    server.create_cloudtrail_index(&source).await;
    let dir = std::env::temp_dir().join(format!("{base}-rules"));
    std::fs::create_dir_all(&dir).expect("a rules folder");
    for n in 0..rule_count {
        let rule_id = format!("{base}-rule-{n:04}");
        std::fs::write(
            dir.join(format!("{rule_id}.toml")),
            rule_file(&rule_id, &source),
        )
        .expect("a rule file");
    }
    let report = lookout::load_path(&dir);
    assert!(report.errors.is_empty(), "bench rules: {:?}", report.errors);
    let rules = report.rules;
    assert_eq!(rules.len(), rule_count);
    std::fs::remove_dir_all(&dir).expect("the rules folder is removed");

    let mut base_config = Config::default();
    base_config.elasticsearch.url = server.url.clone();
    base_config.alerts.index = format!("{base}-alerts");
    base_config.engine.state_index = format!("{base}-state");
    base_config.engine.executions_index = format!("{base}-executions");
    base_config.leases.index = format!("{base}-leases");
    base_config.leases.period = period;
    let backoff = || Backoff {
        max_attempts: Some(1),
        ..Backoff::default()
    };

    let end = Utc::now();
    let start = end - TimeDelta::minutes(i64::try_from(minutes).expect("a few minutes"));
    let clock = ManualClock::new(start);
    let totals = Totals {
        clock: &clock,
        start,
        in_flight: Cell::new(0),
        running: RefCell::new(HashSet::new()),
        overlaps: Cell::new(0),
        delays_ms: RefCell::new(Vec::new()),
        runs: RefCell::new(HashMap::new()),
        by_instance: RefCell::new(BTreeMap::new()),
        not_held: Cell::new(0),
        failed: Cell::new(0),
    };

    // Three instances join; each keeps its leases in a task of its own, as the daemon does.
    let mut instances = Vec::new();
    let mut proxies = Vec::new();
    let mut maintaining = Vec::new();
    let joining = Instant::now();
    for name in INSTANCES {
        let mut config = base_config.clone();
        config.leases.instance = name.to_string();
        let engine = lookout::connect(&config, &SystemClock, backoff())
            .await
            .expect("the server answers");
        let proxy = Proxy::start(&server.url).await;
        let mut through = config.clone();
        through.elasticsearch.url = proxy.url();
        let lease_engine = lookout::connect(&through, &SystemClock, backoff())
            .await
            .expect("the server answers through the forwarder");
        let sharing = Sharing::join(&through, &lease_engine, &rules, None).await;
        maintaining.push(tokio::spawn({
            let sharing = sharing.clone();
            async move { sharing.maintain(None).await }
        }));
        instances.push(Instance {
            name,
            engine,
            sharing,
            permits: Semaphore::new(concurrency),
            totals: &totals,
        });
        proxies.push(proxy);
    }
    let share = rule_count.div_ceil(INSTANCES.len());
    loop {
        let held: Vec<usize> = (instances.iter())
            .map(|i| i.sharing.held().expect("leases are on"))
            .collect();
        let spread =
            held.iter().all(|n| *n + 1 >= share) && held.iter().sum::<usize>() == rule_count;
        if spread {
            println!(
                "leases: {rule_count} rules spread {held:?} over {} instances {:.1} s after the first joined (lease period {period:?})",
                INSTANCES.len(),
                joining.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            joining.elapsed() < SPREAD_WAIT,
            "the leases did not spread: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let counted_from: Vec<usize> = proxies.iter().map(|p| p.exchanges().len()).collect();
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    let options = Options {
        concurrency: Semaphore::MAX_PERMITS,
        grace: Duration::from_secs(60),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let schedulers = futures_util::future::join_all(instances.iter().map(|instance| {
        let mut stopped = stopped.clone();
        lookout::schedule_shared(
            instance,
            rules.clone(),
            &clock,
            options,
            instance.sharing.ownership(),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )
    }));
    let driver = async {
        drive(&clock, &totals.in_flight, end).await;
        stop.send(true).expect("the schedulers listen");
    };
    tokio::join!(schedulers, driver);
    let cpu = cpu_seconds() - cpu_before;
    let wall = wall.elapsed().as_secs_f64();
    let wall_minutes = wall / 60.0;

    let mut delays = totals.delays_ms.take();
    delays.sort_unstable();
    let executions = delays.len();
    println!(
        "leases: {rule_count} rules, interval 5m, {} instances, simulated {minutes} min {start} .. {end}, concurrency {concurrency} per instance, lease period {period:?}",
        INSTANCES.len()
    );
    println!(
        "leases: {executions} executions ({} failed, {} ticks skipped for want of the lease) in {wall:.1} s of wall time; by instance {:?}",
        totals.failed.get(),
        totals.not_held.get(),
        totals.by_instance.borrow()
    );
    println!(
        "leases: schedule delay p50 {} ms, p99 {} ms, max {} ms",
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        delays.last().copied().unwrap_or(0)
    );
    println!(
        "leases: CPU {cpu:.2} s in total, {:.2} ms per execution (this process: three engines, leases and schedulers, the clock driver and the three forwarders)",
        1000.0 * cpu / executions.max(1) as f64
    );
    let mut by_kind: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut cycles_read = Vec::new();
    for (proxy, from) in proxies.iter().zip(&counted_from) {
        let exchanges: Vec<Exchange> = proxy.exchanges().split_off(*from);
        for exchange in &exchanges {
            let entry = by_kind.entry(kind(&exchange.request)).or_default();
            entry.0 += 1;
            entry.1 += exchange.sent;
            entry.2 += exchange.received;
            if kind(&exchange.request) == "read (_search)" {
                cycles_read.push(exchange.received);
            }
        }
    }
    let (requests, sent, received) = by_kind
        .values()
        .fold((0, 0, 0), |t, v| (t.0 + v.0, t.1 + v.1, t.2 + v.2));
    println!(
        "leases: traffic of the {} instances over {wall_minutes:.1} min: {:.1} requests/min, {:.1} KB/min sent, {:.1} KB/min received ({:.1} requests/min per instance)",
        INSTANCES.len(),
        requests as f64 / wall_minutes,
        sent as f64 / 1024.0 / wall_minutes,
        received as f64 / 1024.0 / wall_minutes,
        requests as f64 / wall_minutes / INSTANCES.len() as f64
    );
    for (kind, (n, sent, received)) in &by_kind {
        println!(
            "leases:   {kind}: {n} requests ({:.1}/min), {:.1} KB sent, {:.1} KB received",
            *n as f64 / wall_minutes,
            *sent as f64 / 1024.0,
            *received as f64 / 1024.0
        );
    }
    if let Some(largest) = cycles_read.iter().max() {
        println!(
            "leases: one read of the {rule_count} leases and {} heartbeats: {:.1} KB",
            INSTANCES.len(),
            *largest as f64 / 1024.0
        );
    }

    let runs = totals.runs.take();
    for task in maintaining {
        task.abort();
        drop(task.await);
    }
    for instance in &instances {
        instance.sharing.leave(None).await;
    }
    for index in [
        &base_config.alerts.index,
        &base_config.engine.state_index,
        &base_config.engine.executions_index,
        &base_config.leases.index,
        &source,
    ] {
        server.delete_index(&format!("{index}*")).await;
    }
    assert_eq!(totals.overlaps.get(), 0, "a rule overlapped itself");
    assert_eq!(totals.failed.get(), 0, "executions failed");
    assert_eq!(runs.len(), rule_count, "every rule ran");
    let wrong: Vec<_> = runs.iter().filter(|(_, n)| **n != expected_runs).collect();
    assert!(
        wrong.is_empty(),
        "rules that did not run {expected_runs} times in all: {wrong:?}"
    );
}
