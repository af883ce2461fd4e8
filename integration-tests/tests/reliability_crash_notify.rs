//! The crash test extended to notifications: `lookout run --once --now T` (the binary) with
//! three per-alert connectors (a webhook with `Idempotency-Key`, PagerDuty with `dedup_key`,
//! Slack without either), the fault proxy between lookout and the server and another between
//! lookout and the receiver. Runs are killed with SIGKILL at chosen points (after the alert
//! write, during a send before or after the receiver saw it, before or after the outbox update
//! reached the server) and at random times, then restarted; other runs meet receiver faults.
//! At the end: every alert written was notified on every connector at least once, no
//! notification names an alert that was not written, and the connectors documented as
//! exactly-once delivered each alert once (their receivers recognise the resends, which the
//! report counts); duplicates of the at-least-once connector are counted, not failed.
//!
//! `LOOKOUT_CRASH_NOTIFY_ITERATIONS` sets how many kills must land (default 50),
//! `LOOKOUT_CRASH_SEED` the seed, `LOOKOUT_CRASH_TRACE=1` prints each run.

mod reliability_support;

use integration_tests::proxy::{Fault, FaultPlan, FaultRule, FaultStats, Proxy};
use integration_tests::receiver::{Received, Receiver};
use integration_tests::server::Api;
use integration_tests::{TestServer, unique_name};
use reliability_support::{
    Names, Rng, TICK, TempDir, generated_events, spawn_lookout_with, t0, write_rules,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

const KILLS_VAR: &str = "LOOKOUT_CRASH_NOTIFY_ITERATIONS";
const SEED_VAR: &str = "LOOKOUT_CRASH_SEED";
const TRACE_VAR: &str = "LOOKOUT_CRASH_TRACE";
const DEFAULT_KILLS: u32 = 50;
const DEFAULT_SEED: u64 = 0x6e6f_7469_6679;
/// How long a held request is held: longer than any run, so the kill comes first.
const HOLD: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: &str = "5s";
const RUN_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(2);
/// The connectors: id, receiver path, exactly-once (the receiver recognises a resend).
const CONNECTORS: [(&str, &str, bool); 3] = [
    ("hook", "hook", true),
    ("pd", "pagerduty/v2/enqueue", true),
    ("slack", "slack/T0/B0/x", false),
];

/// Where a run is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// Inside the `_bulk` that creates alerts (forwarded: the alerts are written).
    AlertWrite,
    /// Inside a request to a receiver (forwarded: the receiver got the message).
    Send(usize),
    /// Inside the `_bulk` that records outcomes (forwarded: the outbox is updated).
    OutboxUpdate,
}

#[derive(Debug, Clone)]
enum Scenario {
    Clean,
    KillAt {
        point: Point,
        nth: u32,
        forwarded: bool,
    },
    KillAfter(u64),
    /// The receiver answers errors for a while.
    ReceiverFails(u16, u32),
}

impl Scenario {
    fn label(&self) -> String {
        match self {
            Scenario::Clean => "clean run".into(),
            Scenario::KillAt {
                point, forwarded, ..
            } => format!(
                "SIGKILL in {} ({} it reached its server)",
                match point {
                    Point::AlertWrite => "the alert write".to_string(),
                    Point::Send(c) => format!("a send to {}", CONNECTORS[*c].0),
                    Point::OutboxUpdate => "the outbox update".to_string(),
                },
                if *forwarded { "after" } else { "before" }
            ),
            Scenario::KillAfter(_) => "SIGKILL at a random time".into(),
            Scenario::ReceiverFails(status, n) => format!("receiver answers {status} {n} times"),
        }
    }
}

fn cycle(rng: &mut Rng) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    let mut points = vec![Point::AlertWrite, Point::OutboxUpdate];
    points.extend((0..CONNECTORS.len()).map(Point::Send));
    for point in points {
        for forwarded in [true, false] {
            scenarios.push(Scenario::KillAt {
                point,
                nth: 1 + rng.below(3) as u32,
                forwarded,
            });
        }
        scenarios.push(Scenario::KillAfter(rng.below(500)));
    }
    scenarios.push(Scenario::ReceiverFails(503, 2));
    scenarios.push(Scenario::ReceiverFails(429, 1));
    scenarios.push(Scenario::Clean);
    scenarios
}

struct Sim {
    server: TestServer,
    es_proxy: Proxy,
    receiver: Receiver,
    receiver_proxy: Proxy,
    names: Names,
    rules_dir: TempDir,
    /// Holds the configuration file.
    _config_dir: TempDir,
    config: std::path::PathBuf,
    source_prefix: String,
    rng: Rng,
    seed: u64,
    kills: u32,
    runs: u32,
    scenarios: BTreeMap<String, (u32, u32)>,
}

impl Sim {
    async fn new(seed: u64) -> Sim {
        let server = TestServer::connect();
        let es_proxy = Proxy::start(&server.url).await;
        let receiver = Receiver::start().await;
        let receiver_proxy = Proxy::start(&receiver.url("")).await;
        let source_prefix = unique_name("crash-notify-src");
        let names = Names {
            source_prefix: source_prefix.clone(),
            alerts: unique_name("crash-notify-alerts"),
            state: unique_name("crash-notify-state"),
            executions: unique_name("crash-notify-executions"),
            open_pit_path: match server.info().await.api {
                Api::Elasticsearch => "/_pit?",
                Api::OpenSearch => "/_search/point_in_time",
            },
        };
        server
            .create_cloudtrail_index(&format!("{source_prefix}-a"))
            .await;
        let rules_dir = TempDir::new("crash-notify-rules");
        write_rules(rules_dir.path(), &format!("{source_prefix}-*"));
        let mut text = String::new();
        for (id, path, _) in CONNECTORS {
            let kind = match id {
                "pd" => "pagerduty",
                "slack" => "slack",
                _ => "webhook",
            };
            let url = format!("{}/{path}", receiver_proxy.url());
            let secret = if kind == "pagerduty" {
                "routing_key = \"R0000000000000000000000000000000\"\n"
            } else {
                ""
            };
            text += &format!(
                "[[notify.connectors]]\nid = \"{id}\"\ntype = \"{kind}\"\nurl = \"{url}\"\ntimeout = \"3s\"\n{secret}\n"
            );
        }
        text += "[[notify.routes]]\nconnectors = [\"hook\", \"pd\", \"slack\"]\n";
        // Beside the rules folder, not in it: a file there that is not a rule is a rule file error.
        let config_dir = TempDir::new("crash-notify-config");
        let config = config_dir.path().join("notify.toml");
        std::fs::write(&config, text).expect("the configuration is written");
        Sim {
            server,
            es_proxy,
            receiver,
            receiver_proxy,
            names,
            rules_dir,
            _config_dir: config_dir,
            config,
            source_prefix,
            rng: Rng::new(seed),
            seed,
            kills: 0,
            runs: 0,
            scenarios: BTreeMap::new(),
        }
    }

    async fn ingest(&mut self, tick: u32, at: chrono::DateTime<chrono::Utc>) {
        let count = 2 + self.rng.below(5);
        let index = format!("{}-a", self.source_prefix);
        for (n, doc) in generated_events(self.seed ^ u64::from(tick), at, count)
            .into_iter()
            .enumerate()
        {
            let id = format!("evt-{tick:04}-{n:02}");
            self.server
                .ok(
                    elasticsearch::http::Method::Put,
                    &format!("/{index}/_create/{id}"),
                    Some(doc),
                )
                .await;
        }
        self.server.refresh(&index).await;
    }

    fn spawn(&self, at: chrono::DateTime<chrono::Utc>) -> Child {
        let config = self.config.display().to_string();
        spawn_lookout_with(
            &self.es_proxy.url(),
            self.rules_dir.path(),
            &self.names,
            at,
            REQUEST_TIMEOUT,
            &[("LOOKOUT_CONFIG", &config)],
        )
    }

    fn plans(&self, scenario: &Scenario) -> (FaultPlan, FaultPlan) {
        let Scenario::KillAt {
            point,
            nth,
            forwarded,
        } = scenario
        else {
            return (FaultPlan::pass(), FaultPlan::pass());
        };
        let fault = if *forwarded {
            Fault::Delay(HOLD)
        } else {
            Fault::Stall(HOLD)
        };
        let skip = nth - 1;
        match point {
            Point::AlertWrite => (
                FaultPlan::pass().with(
                    FaultRule::new(fault)
                        .method("POST")
                        .path("/_bulk")
                        .body("\"create\"")
                        .skip(skip),
                ),
                FaultPlan::pass(),
            ),
            Point::OutboxUpdate => (
                FaultPlan::pass().with(
                    FaultRule::new(fault)
                        .method("POST")
                        .path("/_bulk")
                        .body("if_seq_no")
                        .skip(skip),
                ),
                FaultPlan::pass(),
            ),
            Point::Send(c) => (
                FaultPlan::pass(),
                FaultPlan::pass().with(
                    FaultRule::new(fault)
                        .path(&format!("/{}", CONNECTORS[*c].1))
                        .skip(skip),
                ),
            ),
        }
    }

    async fn run(&mut self, at: chrono::DateTime<chrono::Utc>, scenario: &Scenario) -> bool {
        self.runs += 1;
        let (es_plan, receiver_plan) = self.plans(scenario);
        self.es_proxy.set_plan(es_plan);
        self.receiver_proxy.set_plan(receiver_plan);
        if let Scenario::ReceiverFails(status, times) = scenario {
            self.receiver.fail_next(*status, Some(1), *times);
        }
        let held_before = held(&self.es_proxy.stats()) + held(&self.receiver_proxy.stats());
        let mut child = self.spawn(at);
        let started = Instant::now();
        let killed = loop {
            if let Some(status) = child.try_wait().expect("the child can be polled") {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use std::io::Read;
                    let _ = stderr.read_to_string(&mut err);
                }
                assert!(
                    status.success() || !matches!(scenario, Scenario::Clean),
                    "a clean run failed: {err}"
                );
                break false;
            }
            assert!(started.elapsed() < RUN_LIMIT, "lookout run hung");
            let now_held = held(&self.es_proxy.stats()) + held(&self.receiver_proxy.stats());
            let kill = match scenario {
                Scenario::KillAt { .. } => now_held > held_before,
                Scenario::KillAfter(ms) => started.elapsed() >= Duration::from_millis(*ms),
                _ => false,
            };
            if kill {
                child.kill().expect("SIGKILL is delivered");
                child.wait().expect("the killed child is reaped");
                break true;
            }
            tokio::time::sleep(POLL).await;
        };
        self.es_proxy.set_plan(FaultPlan::pass());
        self.receiver_proxy.set_plan(FaultPlan::pass());
        self.receiver.fail_next(200, None, 0);
        let entry = self.scenarios.entry(scenario.label()).or_default();
        entry.0 += 1;
        if killed {
            entry.1 += 1;
            self.kills += 1;
        }
        if std::env::var_os(TRACE_VAR).is_some() {
            eprintln!(
                "{at} {}: killed {killed}, {:?}",
                scenario.label(),
                started.elapsed()
            );
        }
        killed
    }
}

fn held(stats: &FaultStats) -> u64 {
    stats.delayed + stats.stalled
}

fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The alert ids a request is about, among `known` (the written alerts) or not.
fn ids_in(request: &Received, written: &HashSet<String>) -> Vec<String> {
    let text = request.text();
    let mut found: Vec<String> = written
        .iter()
        .filter(|id| text.contains(id.as_str()))
        .cloned()
        .collect();
    let named = [
        &request.json["kibana.alert.uuid"],
        &request.json["dedup_key"],
    ];
    for id in named.into_iter().filter_map(Value::as_str) {
        if !found.iter().any(|f| f == id) {
            found.push(id.to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_around_alert_writes_sends_and_outbox_updates_loses_no_notification() {
    let started = Instant::now();
    let seed = env_number(SEED_VAR, DEFAULT_SEED);
    let wanted = env_number(KILLS_VAR, u64::from(DEFAULT_KILLS)) as u32;
    let mut sim = Sim::new(seed).await;
    let mut tick = 0u32;
    let mut scenarios = Vec::new();
    while sim.kills < wanted {
        if scenarios.is_empty() {
            scenarios = cycle(&mut sim.rng);
            scenarios.reverse();
        }
        let scenario = scenarios.pop().expect("refilled above");
        let at = t0() + TICK * tick as i32;
        sim.ingest(tick, at).await;
        let killed = sim.run(at, &scenario).await;
        if killed && sim.rng.chance(50) {
            sim.run(at, &Scenario::Clean).await;
        }
        tick += 1;
    }
    // Quiet runs, far enough apart for every back-off to end, deliver what is left.
    for extra in 0..3 {
        let at = t0() + TICK * (tick + 4 * extra) as i32;
        sim.run(at, &Scenario::Clean).await;
    }
    verify(&sim, seed, tick, started.elapsed()).await;
}

async fn verify(sim: &Sim, seed: u64, ticks: u32, elapsed: Duration) {
    let pattern = format!("{}*", sim.names.alerts);
    sim.server.refresh(&pattern).await;
    let (_, answer) = sim
        .server
        .request(
            elasticsearch::http::Method::Post,
            &format!("/{pattern}/_search"),
            Some(json!({"size": 10_000, "query": {"match_all": {}}})),
        )
        .await;
    let alerts = answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let written: HashSet<String> = alerts
        .iter()
        .filter_map(|h| h["_id"].as_str().map(String::from))
        .collect();
    let still_pending: Vec<&Value> = alerts
        .iter()
        .filter(|h| {
            h["_source"]["lookout.notify.pending"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .collect();
    let received = sim.receiver.received();
    let mut text = String::from("=== lookout reliability report (crash test, notifications) ===\n");
    text += &format!(
        "seed: {seed}; wall time: {:.1} s; ticks: {ticks}; lookout runs: {}\n",
        elapsed.as_secs_f64(),
        sim.runs
    );
    for (label, (runs, kills)) in &sim.scenarios {
        text += &format!("  {runs:4}  {label} ({kills} killed)\n");
    }
    text += &format!("SIGKILLs that landed: {}\n", sim.kills);
    text += &format!(
        "alerts written: {}; still pending at the end: {}\n",
        written.len(),
        still_pending.len()
    );
    let mut failures = Vec::new();
    for (connector, path, exactly_once) in CONNECTORS {
        let requests: Vec<&Received> = received
            .iter()
            .filter(|r| r.path == format!("/{path}") && !r.refused)
            .collect();
        let mut delivered: HashMap<String, u32> = HashMap::new();
        let mut recognised = 0;
        let mut unknown = HashSet::new();
        for request in &requests {
            for id in ids_in(request, &written) {
                if !written.contains(&id) {
                    unknown.insert(id.clone());
                }
                if request.resend {
                    recognised += 1;
                } else {
                    *delivered.entry(id).or_default() += 1;
                }
            }
        }
        let missing = written
            .iter()
            .filter(|id| !delivered.contains_key(*id))
            .count();
        let duplicates: u32 = delivered.values().map(|n| n - 1).sum();
        text += &format!(
            "{connector} ({}): messages {}, alerts notified {}, missing {missing}, duplicates {duplicates}, resends recognised by the receiver {recognised}, unknown alerts {}\n",
            if exactly_once {
                "exactly-once"
            } else {
                "at-least-once"
            },
            requests.len(),
            delivered.len(),
            unknown.len()
        );
        if missing > 0 {
            failures.push(format!("{connector}: {missing} alerts never notified"));
        }
        if !unknown.is_empty() {
            failures.push(format!(
                "{connector}: notifications for alerts not written: {unknown:?}"
            ));
        }
        if exactly_once && duplicates > 0 {
            failures.push(format!(
                "{connector}: {duplicates} duplicates on an exactly-once connector"
            ));
        }
    }
    eprintln!("{text}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        still_pending.is_empty(),
        "alerts still pending: {}",
        still_pending.len()
    );
    assert!(sim.kills >= DEFAULT_KILLS.min(env_number(KILLS_VAR, u64::from(DEFAULT_KILLS)) as u32));
}
