//! The crash test: `lookout run --once --now T` (the binary) over a stream of CloudTrail events,
//! T advancing 5 minutes per tick, through the fault proxy. Runs are killed with SIGKILL at
//! chosen points (inside a search page, an id lookup, a bulk write, a refresh, a state save,
//! an execution record; before or after the server saw the request) and at random times, then
//! restarted; other runs get injected faults (429, 503, resets, non-JSON answers, timeouts).
//! At the end the alerts index must hold exactly the alerts the rules call for, computed from
//! the events here, without running lookout: no duplicate, none missing, none unexpected. A
//! fourth rule suppresses its alerts (grouped by action, 12 minutes): its alerts must count
//! every matching event exactly once (the docs_count of the alerts of a group, plus one each,
//! equals the group's events), whatever runs were killed between the search and the update.
//!
//! `LOOKOUT_CRASH_ITERATIONS` sets how many kills must land (default 50), `LOOKOUT_CRASH_SEED`
//! the random seed, `LOOKOUT_CRASH_TRACE=1` prints each run. The report is printed (run with `--nocapture` to see it).

mod reliability_support;
#[path = "reliability_crash/report.rs"]
mod report;

use chrono::{DateTime, Utc};
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, FaultStats, Proxy};
use integration_tests::server::{Api, Capability, partly};
use integration_tests::{TestServer, unique_name};
use reliability_support::{
    Names, Rng, TICK, TempDir, generated_events, spawn_lookout, t0, write_rules,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::process::Child;
use std::time::{Duration, Instant};

const KILLS_VAR: &str = "LOOKOUT_CRASH_ITERATIONS";
const SEED_VAR: &str = "LOOKOUT_CRASH_SEED";
/// Set to print one line per run.
const TRACE_VAR: &str = "LOOKOUT_CRASH_TRACE";
/// Kills that must land by default (the issue asks for at least 50).
const DEFAULT_KILLS: u32 = 50;
const DEFAULT_SEED: u64 = 0x006c_6f6f_6b6f_7574;
/// How long a held request is held: far longer than any run, so the kill always comes first.
const HOLD: Duration = Duration::from_secs(60);
/// lookout's request timeout in this test (the delay fault holds an answer past it).
const REQUEST_TIMEOUT: &str = "2s";
const DELAY_PAST_TIMEOUT: Duration = Duration::from_millis(2500);
/// A run that takes longer than this has hung: the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// How often a running child is checked.
const POLL: Duration = Duration::from_millis(2);

/// Where a run is killed: inside one kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Point {
    OpenPit,
    SearchPage,
    IdLookup,
    BulkWrite,
    Refresh,
    StateSave,
    ExecutionRecord,
    /// The versioned update of suppressed alerts (a `_bulk` of `update`s of their count).
    SuppressionUpdate,
}

const POINTS: [Point; 8] = [
    Point::OpenPit,
    Point::SearchPage,
    Point::IdLookup,
    Point::BulkWrite,
    Point::Refresh,
    Point::StateSave,
    Point::ExecutionRecord,
    Point::SuppressionUpdate,
];

impl Point {
    /// A rule matching this point's requests, applying `fault`.
    fn rule(self, names: &Names, fault: Fault) -> FaultRule {
        let rule = FaultRule::new(fault);
        match self {
            Point::OpenPit => rule.method("POST").path(names.open_pit_path),
            // A window that fits in one page is searched once on the source pattern; a larger
            // one is paged inside a point-in-time on `/_search`. Most crash-test windows are
            // small, so the kill point is the single-page search.
            Point::SearchPage => rule
                .method("POST")
                .path_prefix(&format!("/{}", names.source_prefix))
                .path("/_search?"),
            Point::IdLookup => rule
                .method("POST")
                .path(&format!("{}*/_search", names.alerts)),
            Point::BulkWrite => rule.method("POST").path("/_bulk"),
            Point::Refresh => rule.path(&format!("/{}/_refresh", names.alerts)),
            Point::StateSave => rule.method("PUT").path(&format!("/{}/_doc/", names.state)),
            Point::ExecutionRecord => rule.path(&format!("/{}/_doc", names.executions)),
            Point::SuppressionUpdate => rule
                .method("POST")
                .path("/_bulk")
                .body("kibana.alert.suppression.docs_count"),
        }
    }
}

/// What one tick does.
#[derive(Debug, Clone)]
enum Scenario {
    Clean,
    /// Kill inside the n-th request of a point; `forwarded`: after the server answered.
    KillAt {
        point: Point,
        nth: u32,
        forwarded: bool,
    },
    /// Kill after this many milliseconds, wherever the run is.
    KillAfter(u64),
    /// Inject one kind of fault and let the run end.
    Faults(&'static str, FaultRule),
}

impl Scenario {
    fn label(&self) -> String {
        match self {
            Scenario::Clean => "clean run".into(),
            Scenario::KillAt {
                point, forwarded, ..
            } => format!(
                "SIGKILL in {point:?} ({} the server saw it)",
                if *forwarded { "after" } else { "before" }
            ),
            Scenario::KillAfter(_) => "SIGKILL at a random time".into(),
            Scenario::Faults(name, _) => format!("fault: {name}"),
        }
    }
}

/// The scenarios of one cycle, in order; parameters drawn from `rng`.
fn cycle(rng: &mut Rng, names: &Names, suppressing: bool) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    for point in POINTS {
        if point == Point::SuppressionUpdate && !suppressing {
            continue;
        }
        for forwarded in [true, false] {
            // A run sends one suppression update (more when catching up): kill in the first.
            let nth = match point {
                Point::SuppressionUpdate => 1,
                _ => 1 + rng.below(3) as u32,
            };
            scenarios.push(Scenario::KillAt {
                point,
                nth,
                forwarded,
            });
        }
        scenarios.push(Scenario::KillAfter(rng.below(400)));
    }
    let bulk = |fault| Point::BulkWrite.rule(names, fault);
    let search = |fault| Point::SearchPage.rule(names, fault);
    scenarios.extend([
        Scenario::Faults("429 on a bulk write", bulk(Fault::Status(429))),
        Scenario::Faults(
            "503 on two bulk items, twice",
            bulk(Fault::FailBulkItems {
                positions: vec![0, 2],
                status: 503,
            })
            .times(2),
        ),
        Scenario::Faults("503 on a search page", search(Fault::Status(503)).always()),
        Scenario::Faults(
            "search answer cut mid-way",
            search(Fault::ResetMidResponse).always(),
        ),
        Scenario::Faults(
            "id lookup answers HTML",
            Point::IdLookup.rule(names, Fault::NotJson(200)).always(),
        ),
        Scenario::Faults(
            "state save refused",
            Point::StateSave.rule(names, Fault::Refuse).always(),
        ),
        Scenario::Faults(
            "bulk answer held past the timeout",
            bulk(Fault::Delay(DELAY_PAST_TIMEOUT)),
        ),
        Scenario::Clean,
    ]);
    scenarios
}

/// A source event and when it became searchable.
struct Event {
    index: String,
    id: String,
    doc: Value,
    searchable_at: DateTime<Utc>,
    searchable_wall: Instant,
}

/// How one run ended.
struct RunEnd {
    killed: bool,
    exit: Option<i32>,
    stderr: String,
}

struct Sim {
    server: TestServer,
    proxy: Proxy,
    names: Names,
    rules_dir: TempDir,
    source_prefix: String,
    rng: Rng,
    seed: u64,
    events: Vec<Event>,
    /// Whether the suppressing rule runs (the server has the composite aggregation it needs).
    suppressing: bool,
    /// First wall-clock time each alert key was seen in the alerts index.
    seen: HashMap<report::AlertKey, Instant>,
    report: Report,
}

#[derive(Default)]
struct Report {
    ticks: u32,
    scenarios: BTreeMap<String, u32>,
    kills: BTreeMap<String, u32>,
    kill_total: u32,
    runs: u32,
    failed_runs: u32,
    clean_failures: Vec<String>,
}

impl Sim {
    async fn new(seed: u64) -> Sim {
        let server = TestServer::connect();
        let proxy = Proxy::start(&server.url).await;
        let source_prefix = unique_name("reliab-crash-src");
        let names = Names {
            source_prefix: source_prefix.clone(),
            alerts: unique_name("reliab-crash-alerts"),
            state: unique_name("reliab-crash-state"),
            executions: unique_name("reliab-crash-executions"),
            open_pit_path: match server.info().await.api {
                Api::Elasticsearch => "/_pit?",
                Api::OpenSearch => "/_search/point_in_time",
            },
        };
        for suffix in ["a", "b"] {
            server
                .create_cloudtrail_index(&format!("{source_prefix}-{suffix}"))
                .await;
        }
        let rules_dir = TempDir::new("reliab-crash-rules");
        write_rules(rules_dir.path(), &format!("{source_prefix}-*"));
        let left_out = "the suppressing rule is left out";
        let suppressing = partly(&server, Capability::CompositeAggregation, left_out).await;
        if suppressing {
            report::write_suppression_rule(rules_dir.path(), &format!("{source_prefix}-*"));
        }
        Sim {
            server,
            proxy,
            names,
            rules_dir,
            source_prefix,
            rng: Rng::new(seed),
            seed,
            events: Vec::new(),
            suppressing,
            seen: HashMap::new(),
            report: Report::default(),
        }
    }

    /// Indexes this tick's events: stamped inside (at - 5m, at], searchable from `at`.
    async fn ingest(&mut self, tick: u32, at: DateTime<Utc>) {
        let count = 2 + self.rng.below(8);
        let docs = generated_events(self.seed ^ u64::from(tick), at, count);
        let mut by_index: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        for (n, doc) in docs.into_iter().enumerate() {
            let suffix = if self.rng.chance(50) { "a" } else { "b" };
            let index = format!("{}-{suffix}", self.source_prefix);
            by_index
                .entry(index)
                .or_default()
                .push((format!("evt-{tick:04}-{n:02}"), doc));
        }
        for (index, docs) in by_index {
            bulk_with_ids(&self.server, &index, &docs).await;
            let now = Instant::now();
            self.events.extend(docs.into_iter().map(|(id, doc)| Event {
                index: index.clone(),
                id,
                doc,
                searchable_at: at,
                searchable_wall: now,
            }));
        }
    }

    fn spawn(&self, at: DateTime<Utc>) -> Child {
        spawn_lookout(
            &self.proxy.url(),
            self.rules_dir.path(),
            &self.names,
            at,
            REQUEST_TIMEOUT,
        )
    }

    /// Runs lookout once at `at` under `scenario`.
    async fn run(&mut self, at: DateTime<Utc>, scenario: &Scenario) -> RunEnd {
        *self.report.scenarios.entry(scenario.label()).or_default() += 1;
        self.report.runs += 1;
        let plan = match scenario {
            Scenario::KillAt {
                point,
                nth,
                forwarded,
            } => {
                let fault = if *forwarded {
                    Fault::Delay(HOLD)
                } else {
                    Fault::Stall(HOLD)
                };
                FaultPlan::pass().with(point.rule(&self.names, fault).skip(nth - 1))
            }
            Scenario::Faults(_, rule) => FaultPlan::pass().with(rule.clone()),
            _ => FaultPlan::pass(),
        };
        self.proxy.set_plan(plan);
        let held_before = held(&self.proxy.stats());
        let child = self.spawn(at);
        let started = Instant::now();
        let end = watch(child, started, |elapsed| match scenario {
            Scenario::KillAt { .. } => held(&self.proxy.stats()) > held_before,
            Scenario::KillAfter(ms) => elapsed >= Duration::from_millis(*ms),
            _ => false,
        })
        .await;
        self.proxy.set_plan(FaultPlan::pass());
        if std::env::var_os(TRACE_VAR).is_some() {
            let (label, killed, exit) = (scenario.label(), end.killed, end.exit);
            eprintln!(
                "{at} {label}: killed {killed}, exit {exit:?}, {:?}",
                started.elapsed()
            );
        }
        if end.killed {
            self.report.kill_total += 1;
            *self.report.kills.entry(scenario.label()).or_default() += 1;
        } else if end.exit != Some(0) {
            self.report.failed_runs += 1;
            if matches!(scenario, Scenario::Clean) {
                self.report
                    .clean_failures
                    .push(format!("{at}: exit {:?}: {}", end.exit, end.stderr));
            }
        }
        end
    }

    /// Notes the wall-clock time alerts are first seen.
    async fn observe(&mut self) {
        let now = Instant::now();
        for key in report::alert_keys(&self.server, &self.names.alerts).await {
            self.seen.entry(key).or_insert(now);
        }
    }
}

/// Requests the proxy has started holding (delayed after forwarding, or stalled).
fn held(stats: &FaultStats) -> u64 {
    stats.delayed + stats.stalled
}

/// Waits for the child to exit, killing it (SIGKILL) as soon as `kill_now` says so.
async fn watch(
    mut child: Child,
    started: Instant,
    mut kill_now: impl FnMut(Duration) -> bool,
) -> RunEnd {
    loop {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            let stderr = read_stderr(&mut child);
            return RunEnd {
                killed: false,
                exit: status.code(),
                stderr,
            };
        }
        let elapsed = started.elapsed();
        assert!(elapsed < RUN_LIMIT, "lookout run hung for {elapsed:?}");
        if kill_now(elapsed) {
            child.kill().expect("SIGKILL is delivered");
            child.wait().expect("the killed child is reaped");
            return RunEnd {
                killed: true,
                exit: None,
                stderr: String::new(),
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

fn read_stderr(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// Indexes documents under the given ids, then refreshes.
async fn bulk_with_ids(server: &TestServer, index: &str, docs: &[(String, Value)]) {
    for (id, doc) in docs {
        server
            .ok(
                elasticsearch::http::Method::Put,
                &format!("/{index}/_create/{id}"),
                Some(doc.clone()),
            )
            .await;
    }
    server.refresh(index).await;
}

fn kills_wanted() -> u32 {
    std::env::var(KILLS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_KILLS)
}

fn seed() -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_point_and_injected_faults_lose_and_duplicate_no_alert() {
    let started = Instant::now();
    let seed = seed();
    let mut sim = Sim::new(seed).await;
    let wanted = kills_wanted();
    let mut tick = 0u32;
    let mut scenarios = Vec::new();
    while sim.report.kill_total < wanted {
        if scenarios.is_empty() {
            scenarios = cycle(&mut sim.rng, &sim.names, sim.suppressing);
            scenarios.reverse();
        }
        let scenario = scenarios.pop().expect("refilled above");
        let at = t0() + TICK * tick as i32;
        sim.ingest(tick, at).await;
        let end = sim.run(at, &scenario).await;
        if end.killed && sim.rng.chance(50) {
            // Restarted at once, at the same simulated time.
            sim.run(at, &Scenario::Clean).await;
        }
        sim.observe().await;
        tick += 1;
    }
    // Two quiet ticks let every failed window be searched again.
    for extra in 0..2 {
        let at = t0() + TICK * (tick + extra) as i32;
        sim.run(at, &Scenario::Clean).await;
    }
    sim.observe().await;
    sim.report.ticks = tick + 2;
    report::verify(&sim, seed, started.elapsed()).await;
}
