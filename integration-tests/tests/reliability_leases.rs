//! Several `lookout run` daemons (real processes) sharing the same rules through leases in the
//! server, while events arrive in real time:
//! - three daemons; one is SIGKILLed (its rules move once its heartbeat expires), one
//!   SIGTERMed (it gives its leases back at once), a fourth joins (it takes its share without a
//!   restart of the others): every event is alerted by every rule exactly once, no window is
//!   left uncovered, and no execution fails;
//! - two daemons; one is paused (SIGSTOP) past its lease in the middle of its executions (its
//!   searches are slowed by the fault proxy) and continued: its late state writes are refused
//!   (its executions end as superseded), coverage never moves backwards, and every event is
//!   still alerted once;
//! - two daemons; one is cut off from the server (every request refused by the fault proxy):
//!   its leases lapse, the other takes its rules over and carries on, and once the cut is
//!   healed the rules spread again; every event is alerted once, and the cut-off instance
//!   starts no execution once its leases lapsed;
//! - two daemons; one reloads (SIGHUP): its leases stay held under the same generation (the
//!   other takes none of them over) and every event is still alerted once;
//! - two daemons; both reload without two of the rules: the lease documents of those rules are
//!   removed (the rules that stay are spread again);
//! - two daemons reading rules folders of their own; the owner of one rule reloads without it
//!   (a rolling config change), the other still loads it but holds its share already: it
//!   adopts the rule's lease over its share once it stayed free for two lease periods, the
//!   leases stay put afterwards, and the rule alerts every event once (it catches up).
//!
//! The lease period is 3 s and the rules run every 2 s, so that a run takes seconds. The times
//! measured (how long rules took to move) are printed, not asserted.

mod ops;

use chrono::{DateTime, SecondsFormat, Utc};
use elasticsearch::http::Method;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::{TestServer, unique_name};
use ops::{Daemon, http_get, lookout, metric, signal};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest any wait in these tests lasts (a bound, not a timing assertion).
const WAIT: Duration = Duration::from_secs(120);
const LEASE_PERIOD: Duration = Duration::from_secs(3);

/// One test's indices and rules folder.
struct Setup {
    server: TestServer,
    dir: std::path::PathBuf,
    source: String,
    alerts: String,
    state: String,
    executions: String,
    leases: String,
    rule_ids: Vec<String>,
}

impl Setup {
    async fn new(prefix: &str, rules: usize) -> Setup {
        let server = TestServer::connect();
        let base = unique_name(prefix);
        let source = format!("{base}-src");
        server.create_cloudtrail_index(&source).await;
        let dir = std::env::temp_dir().join(format!("{base}-dir"));
        std::fs::create_dir_all(dir.join("rules")).expect("a rules folder");
        let rule_ids: Vec<String> = (0..rules).map(|n| format!("{base}-rule-{n:02}")).collect();
        for rule_id in &rule_ids {
            let text = rule_file(rule_id, &source);
            std::fs::write(dir.join("rules").join(format!("{rule_id}.toml")), text)
                .expect("a rule file");
        }
        Setup {
            server,
            dir,
            source,
            alerts: format!("{base}-alerts"),
            state: format!("{base}-state"),
            executions: format!("{base}-executions"),
            leases: format!("{base}-leases"),
            rule_ids,
        }
    }

    /// Six rules and two instances holding three each: `inst-a` through a fault proxy with the
    /// plan `plan(source index)`, `inst-b` straight to the server.
    async fn pair(
        prefix: &str,
        plan: impl Fn(&str) -> FaultPlan,
    ) -> (Setup, Proxy, Daemon, Daemon) {
        let setup = Setup::new(prefix, 6).await;
        let proxy = Proxy::start(&setup.server.url).await;
        proxy.set_plan(plan(&setup.source));
        let a = setup.daemon("inst-a", &proxy.url());
        let b = setup.daemon("inst-b", &setup.server.url);
        setup
            .wait_for_holders(&[("inst-a", 3), ("inst-b", 3)])
            .await;
        (setup, proxy, a, b)
    }

    /// `lookout run` as instance `name`, through `url`.
    fn daemon(&self, name: &str, url: &str) -> Daemon {
        self.daemon_reading(name, url, &self.dir.join("rules"))
    }

    /// `lookout run` as instance `name`, through `url`, with the rules of `folder`.
    fn daemon_reading(&self, name: &str, url: &str, folder: &std::path::Path) -> Daemon {
        let mut command = lookout(&self.dir);
        command
            .env("LOOKOUT_ES_URL", url)
            .env("LOOKOUT_RULES_FOLDERS", folder)
            .env("LOOKOUT_EXCEPTION_FOLDERS", self.dir.join("exceptions"))
            .env("LOOKOUT_ALERTS_INDEX", &self.alerts)
            .env("LOOKOUT_STATE_INDEX", &self.state)
            .env("LOOKOUT_EXECUTIONS_INDEX", &self.executions)
            .env("LOOKOUT_LEASES_INDEX", &self.leases)
            .env("LOOKOUT_INSTANCE", name)
            .env(
                "LOOKOUT_LEASE_PERIOD",
                format!("{}s", LEASE_PERIOD.as_secs()),
            )
            .env("LOOKOUT_SHUTDOWN_GRACE", "20s")
            .env("LOOKOUT_ES_REQUEST_TIMEOUT", "10s")
            .args(["run", "--http-listen", "127.0.0.1:0"]);
        Daemon::start(command)
    }

    /// Every document of an index (none while it does not exist).
    async fn docs(&self, index: &str) -> Vec<Value> {
        let (status, _) = (self.server)
            .request(Method::Post, &format!("/{index}/_refresh"), None)
            .await;
        if !status.is_success() {
            return Vec::new();
        }
        self.server.all_docs(index).await
    }

    /// Who holds each rule's lease (live owners only), by instance.
    async fn holders(&self) -> BTreeMap<String, usize> {
        let now = Utc::now();
        let docs = self.docs(&self.leases).await;
        let live: BTreeSet<String> = (docs.iter())
            .filter(|doc| doc["_source"]["kind"] == "instance")
            .filter(|doc| date(&doc["_source"]["expires_at"]).is_some_and(|at| at > now))
            .filter_map(|doc| doc["_source"]["instance"].as_str().map(str::to_string))
            .collect();
        let mut holders = BTreeMap::new();
        for doc in docs.iter().filter(|d| d["_source"]["kind"] == "lease") {
            if let Some(owner) = doc["_source"]["owner"].as_str()
                && live.contains(owner)
            {
                *holders.entry(owner.to_string()).or_default() += 1;
            }
        }
        holders
    }

    /// The generation of each rule's lease and its owner.
    async fn leases(&self) -> BTreeMap<String, (Option<String>, u64)> {
        let docs = self.docs(&self.leases).await;
        (docs.iter())
            .filter(|doc| doc["_source"]["kind"] == "lease")
            .map(|doc| {
                let source = &doc["_source"];
                let rule_id = source["rule_id"].as_str().unwrap_or_default().to_string();
                let owner = source["owner"].as_str().map(str::to_string);
                (rule_id, (owner, source["generation"].as_u64().unwrap_or(0)))
            })
            .collect()
    }

    /// Each rule's state: `covered_to` and the fence of its last write (owner, generation).
    async fn states(&self) -> BTreeMap<String, (Option<DateTime<Utc>>, Option<(String, u64)>)> {
        let docs = self.docs(&self.state).await;
        (docs.iter())
            .map(|doc| {
                let source = &doc["_source"];
                let rule_id = source["rule"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let covered = date(&source["lookout"]["state"]["covered_to"]);
                let fence = &source["lookout"]["fence"];
                let fence = (fence["owner"].as_str())
                    .map(|owner| (owner.to_string(), fence["generation"].as_u64().unwrap_or(0)));
                (rule_id, (covered, fence))
            })
            .collect()
    }

    /// Waits until the live instances hold exactly `expected` (instance, rules held); returns
    /// how long it took.
    async fn wait_for_holders(&self, expected: &[(&str, usize)]) -> Duration {
        let started = Instant::now();
        loop {
            let holders = self.holders().await;
            let matches = holders.len() == expected.len()
                && (expected.iter()).all(|(name, n)| holders.get(*name).copied() == Some(*n));
            if matches {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < WAIT,
                "gave up waiting for the holders {expected:?}: {holders:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every rule has run once (its coverage starts there: earlier events are not
    /// lookout's to alert).
    async fn wait_for_first_runs(&self) {
        let started = Instant::now();
        while self
            .states()
            .await
            .values()
            .filter(|s| s.0.is_some())
            .count()
            < self.rule_ids.len()
        {
            assert!(started.elapsed() < WAIT, "rules never ran");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every rule's coverage reaches `to`.
    async fn wait_for_coverage(&self, to: DateTime<Utc>) {
        let started = Instant::now();
        loop {
            let states = self.states().await;
            let behind: Vec<&String> = (self.rule_ids.iter())
                .filter(|id| states.get(*id).and_then(|s| s.0).is_none_or(|c| c < to))
                .collect();
            if behind.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "rules still not covered up to {to}: {behind:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Once every rule ran once (its coverage starts there: earlier events are not lookout's
    /// to alert), starts writing events (see [`ingest`]).
    async fn start_ingesting(&self) -> Ingesting {
        self.wait_for_first_runs().await;
        let stop = Arc::new(AtomicBool::new(false));
        let task = ingest(self.source.clone(), Arc::clone(&stop));
        Ingesting { stop, task }
    }

    /// Stops writing events, waits until every rule covered the time the last one was written, then
    /// [`Setup::verify`].
    async fn finish(
        &self,
        ingesting: Ingesting,
        may_fail: Option<&str>,
    ) -> BTreeMap<(String, String), u64> {
        ingesting.stop.store(true, Ordering::SeqCst);
        let (events, _newest) = ingesting.task.await.expect("ingestion ran");
        // Every event is searchable now: an execution whose window ends later saw them all (one
        // that ended just after the newest event's timestamp may have searched before that
        // event was written, and the next execution finds it).
        let written = Utc::now();
        self.wait_for_coverage(written).await;
        self.verify(&events, may_fail).await
    }

    /// Every event alerted by every rule exactly once; no gap recorded; no failed execution
    /// (except by `may_fail`, an instance cut off from the server); executions by status and
    /// instance (printed). Returns the execution counts by (instance, status).
    async fn verify(
        &self,
        events: &[String],
        may_fail: Option<&str>,
    ) -> BTreeMap<(String, String), u64> {
        let alerts = self.server.all_docs(&format!("{}*", self.alerts)).await;
        let mut seen: BTreeMap<(String, String), u32> = BTreeMap::new();
        for alert in &alerts {
            let source = &alert["_source"];
            let rule_id = source["kibana.alert.rule.rule_id"]
                .as_str()
                .unwrap_or_default();
            let event = source["kibana.alert.ancestors"][0]["id"]
                .as_str()
                .unwrap_or_default();
            let (rule_id, event) = (rule_id.to_string(), event.to_string());
            *seen.entry((rule_id, event)).or_default() += 1;
        }
        let mut missing = Vec::new();
        for rule_id in &self.rule_ids {
            for event in events {
                if !seen.contains_key(&(rule_id.clone(), event.clone())) {
                    missing.push((rule_id.clone(), event.clone()));
                }
            }
        }
        let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        let expected = self.rule_ids.len() * events.len();
        println!(
            "alerts: {} expected, {} written, {} missing, {} duplicates",
            expected,
            alerts.len(),
            missing.len(),
            doubled.len()
        );
        if let Some((rule_id, _)) = missing.first() {
            let records = self.server.all_docs(&self.executions).await;
            let mut lines: Vec<String> = (records.iter())
                .map(|r| &r["_source"]["lookout"]["execution"])
                .filter(|e| e["rule_id"].as_str() == Some(rule_id.as_str()))
                .map(|e| {
                    format!(
                        "{} {} {} [{} .. {}] hits {} created {} {}",
                        e["started_at"],
                        e["instance"],
                        e["status"],
                        e["window_from"],
                        e["window_to"],
                        e["hits"],
                        e["alerts_created"],
                        e["error"]
                    )
                })
                .collect();
            lines.sort();
            eprintln!("executions of {rule_id}:\n{}", lines.join("\n"));
            let per_rule: BTreeMap<&String, usize> =
                missing.iter().fold(BTreeMap::new(), |mut m, (r, _)| {
                    *m.entry(r).or_default() += 1;
                    m
                });
            eprintln!(
                "missing per rule: {per_rule:?}; first {:?} last {:?}",
                missing.first(),
                missing.last()
            );
        }
        assert!(missing.is_empty(), "{} missing alerts", missing.len());
        assert!(doubled.is_empty(), "duplicate alerts: {doubled:?}");
        assert_eq!(alerts.len(), expected, "unexpected alerts");
        let records = self.server.all_docs(&self.executions).await;
        let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
        for record in &records {
            let source = &record["_source"];
            assert_ne!(
                source["event"]["action"], "gap",
                "a gap was recorded: {source}"
            );
            let execution = &source["lookout"]["execution"];
            let instance = execution["instance"].as_str().unwrap_or("?").to_string();
            let status = execution["status"].as_str().unwrap_or("?").to_string();
            if status == "failed" && may_fail != Some(instance.as_str()) {
                panic!("an execution failed: {execution}");
            }
            *by_status.entry((instance, status)).or_default() += 1;
        }
        println!("executions by instance and status: {by_status:?}");
        by_status
    }
}

/// Events being written (see [`ingest`]).
struct Ingesting {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<String>, DateTime<Utc>)>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
description = "Lease test rule."
from = "now-6s"
index = ["{source}"]
interval = "2s"
language = "kuery"
max_signals = 1000
name = "Lease test {rule_id}"
risk_score = 21
rule_id = "{rule_id}"
severity = "low"
type = "query"
query = "event.action: AddUserToGroup"
"#
    )
}

/// Both instances of a two-instance test recorded succeeded executions.
fn both_ran(by_status: &BTreeMap<(String, String), u64>) {
    for instance in ["inst-a", "inst-b"] {
        let succeeded = by_status
            .get(&(instance.to_string(), "succeeded".to_string()))
            .copied()
            .unwrap_or(0);
        assert!(succeeded > 0, "{instance} ran executions: {by_status:?}");
    }
}

fn date(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.to_utc())
}

/// Writes one matching event every 200 ms (stamped now, searchable at once) until stopped;
/// returns their ids and the newest timestamp.
fn ingest(
    index: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<String>, DateTime<Utc>)> {
    tokio::spawn(async move {
        let server = TestServer::connect();
        let sample = integration_tests::ecs_samples()
            .into_iter()
            .find(|doc| doc["event"]["action"] == "AddUserToGroup")
            .expect("the fixtures hold an AddUserToGroup event");
        let mut ids = Vec::new();
        let mut newest = Utc::now();
        while !stop.load(Ordering::SeqCst) {
            let mut doc = sample.clone();
            newest = Utc::now();
            doc["@timestamp"] = json!(newest.to_rfc3339_opts(SecondsFormat::Millis, true));
            let id = format!("evt-{:05}", ids.len());
            let path = format!("/{index}/_create/{id}?refresh=true");
            server.ok(Method::Put, &path, Some(doc)).await;
            ids.push(id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (ids, newest)
    })
}

fn wait_exit(daemon: &mut Daemon) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = daemon.child.try_wait().expect("the child can be polled") {
            return status;
        }
        assert!(started.elapsed() < WAIT, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_rules_and_alert_every_event_once_through_kill_stop_and_join() {
    let setup = Setup::new("leases-share", 12).await;
    let url = setup.server.url.clone();
    let a = setup.daemon("inst-a", &url);
    let mut b = setup.daemon("inst-b", &url);
    let c = setup.daemon("inst-c", &url);
    let spread = setup
        .wait_for_holders(&[("inst-a", 4), ("inst-b", 4), ("inst-c", 4)])
        .await;
    println!("12 rules spread 4/4/4 over three instances {spread:?} after they started");
    let ingesting = setup.start_ingesting().await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut a = a;
    a.child.kill().expect("SIGKILL is delivered");
    a.child.wait().expect("the killed child is reaped");
    let moved = setup
        .wait_for_holders(&[("inst-b", 6), ("inst-c", 6)])
        .await;
    println!("SIGKILL: a's rules held by b and c {moved:?} later (lease period {LEASE_PERIOD:?})");
    tokio::time::sleep(Duration::from_secs(3)).await;

    signal(b.child.id(), "-TERM");
    let status = wait_exit(&mut b);
    assert!(status.success(), "b exits 0 after SIGTERM: {}", b.log());
    let moved = setup.wait_for_holders(&[("inst-c", 12)]).await;
    println!("SIGTERM: b's rules held by c {moved:?} after b exited");
    assert!(
        b.log().contains("leases given back"),
        "b gives its leases back: {}",
        b.log()
    );

    let d = setup.daemon("inst-d", &url);
    let joined = setup
        .wait_for_holders(&[("inst-c", 6), ("inst-d", 6)])
        .await;
    println!("a fourth instance took its share {joined:?} after it started");
    tokio::time::sleep(Duration::from_secs(4)).await;

    let by_status = setup.finish(ingesting, None).await;
    for instance in ["inst-a", "inst-b", "inst-c", "inst-d"] {
        let ran: u64 = (by_status.iter())
            .filter(|((name, _), _)| name == instance)
            .map(|(_, n)| n)
            .sum();
        assert!(ran > 0, "{instance} ran executions: {by_status:?}");
    }
    if std::env::var_os("LOOKOUT_LEASES_TRACE").is_some() {
        for (name, daemon) in [("c", &c), ("d", &d)] {
            for line in daemon.log().lines() {
                if line.contains("lease") || line.contains("superseded") {
                    eprintln!("{name}: {line}");
                }
            }
        }
    }
    drop((c, d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_cannot_write_the_state_once_its_lease_moved() {
    // a's searches of the source index take 3 s: a is inside executions nearly all the time.
    let slow = |source: &str| {
        let slow = FaultRule::new(Fault::Delay(Duration::from_secs(3)))
            .method("POST")
            .path_prefix(&format!("/{source}"))
            .always();
        FaultPlan::pass().with(slow)
    };
    let (setup, _proxy, a, b) = Setup::pair("leases-stale", slow).await;
    let ingesting = setup.start_ingesting().await;
    // Let a's executions start (each takes at least 3 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    signal(a.child.id(), "-STOP");
    let moved = setup.wait_for_holders(&[("inst-b", 6)]).await;
    println!("a paused: its rules held by b {moved:?} later");
    // b runs the rules under its own leases for a while.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let taken = setup.leases().await;
    let mut before = setup.states().await;
    signal(a.child.id(), "-CONT");
    // For a while after a continues: coverage never moves backwards, and no state is written
    // under a's old leases (a fence of a with a generation at or below b's).
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(8) {
        let now = setup.states().await;
        for (rule_id, (covered, fence)) in &now {
            let (was, _) = before.get(rule_id).cloned().unwrap_or_default();
            assert!(
                *covered >= was,
                "{rule_id}: coverage moved backwards from {was:?} to {covered:?}"
            );
            if let Some((owner, generation)) = fence
                && owner == "inst-a"
            {
                let b_generation = taken.get(rule_id).map_or(0, |(_, g)| *g);
                assert!(
                    *generation > b_generation,
                    "{rule_id}: state written by the stale owner a under generation {generation} (b took it at {b_generation})"
                );
            }
        }
        before = now;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let by_status = setup.finish(ingesting, None).await;
    let superseded = by_status
        .get(&("inst-a".to_string(), "superseded".to_string()))
        .copied()
        .unwrap_or(0);
    assert!(
        superseded > 0,
        "a's executions that were running when it was paused end as superseded: {by_status:?}\n{}",
        a.log()
    );
    assert!(
        a.log().contains("lease lost") || a.log().contains("superseded"),
        "a says it lost its leases"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_the_server_loses_its_leases_and_the_other_carries_on() {
    let (setup, proxy, a, b) = Setup::pair("leases-cut", |_| FaultPlan::pass()).await;
    let ingesting = setup.start_ingesting().await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Refuse).always()));
    let cut_at = Utc::now();
    let moved = setup.wait_for_holders(&[("inst-b", 6)]).await;
    println!("a cut off: its rules held by b {moved:?} later (lease period {LEASE_PERIOD:?})");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let healed_at = Utc::now();
    proxy.set_plan(FaultPlan::pass());
    let back = setup
        .wait_for_holders(&[("inst-a", 3), ("inst-b", 3)])
        .await;
    println!("cut healed: the rules spread over a and b again {back:?} later");
    tokio::time::sleep(Duration::from_secs(4)).await;

    let by_status = setup.finish(ingesting, Some("inst-a")).await;
    both_ran(&by_status);
    // Once a's leases lapsed (at most a lease period after the cut), it started no execution
    // until the cut was healed: the executions it records (late) started before the lapse.
    let lapsed = cut_at + chrono::Duration::from_std(LEASE_PERIOD).expect("a lease period");
    let records = setup.docs(&setup.executions).await;
    let started_while_cut: Vec<String> = (records.iter())
        .map(|r| &r["_source"]["lookout"]["execution"])
        .filter(|e| e["instance"] == "inst-a")
        .filter(|e| date(&e["started_at"]).is_some_and(|at| at > lapsed && at < healed_at))
        .map(|e| e.to_string())
        .collect();
    assert!(
        started_while_cut.is_empty(),
        "a started executions after its leases lapsed ({lapsed}) and before the cut was healed ({healed_at}): {started_while_cut:?}"
    );
    assert!(
        a.log().contains("lease cycle failed"),
        "a's log says its leases could not be renewed:\n{}",
        a.log()
    );
    println!("proxy: {:?}", proxy.stats());
    drop(b);
}

/// Waits (at most [`WAIT`]) until the daemon's log holds a line containing `needle`.
async fn wait_for_log(daemon: &Daemon, needle: &str) {
    let started = Instant::now();
    while !daemon.log().contains(needle) {
        assert!(
            started.elapsed() < WAIT,
            "gave up waiting for {needle:?} in the log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_leases_of_the_rules_still_loaded() {
    let setup = Setup::new("leases-reload", 6).await;
    let url = setup.server.url.clone();
    let a = setup.daemon("inst-a", &url);
    let b = setup.daemon("inst-b", &url);
    setup
        .wait_for_holders(&[("inst-a", 3), ("inst-b", 3)])
        .await;
    let ingesting = setup.start_ingesting().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = setup.leases().await;

    signal(a.child.id(), "-HUP");
    // Through the reload (the drain, reading the rules again, connecting, a new round) and a
    // lease period after it, a holds its three leases and b does not take any over.
    let watch = Instant::now();
    let mut reloaded_at = None;
    loop {
        let holders = setup.holders().await;
        assert_eq!(
            (holders.get("inst-a"), holders.get("inst-b")),
            (Some(&3), Some(&3)),
            "the reload moved leases: {holders:?}\n{}",
            a.log()
        );
        if reloaded_at.is_none() && a.log().contains("reloaded the configuration and rules") {
            reloaded_at = Some(watch.elapsed());
        }
        if reloaded_at.is_some_and(|at| watch.elapsed() > at + LEASE_PERIOD) {
            break;
        }
        assert!(watch.elapsed() < WAIT, "a never reloaded:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("a reloaded {reloaded_at:?} after SIGHUP");
    let after = setup.leases().await;
    assert_eq!(
        after, before,
        "every lease keeps its owner and generation through the reload"
    );
    assert!(
        !a.log().contains("leases given back"),
        "a reload gives no lease back:\n{}",
        a.log()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    let by_status = setup.finish(ingesting, None).await;
    both_ran(&by_status);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_of_rules_no_instance_loads_any_more_are_removed() {
    let setup = Setup::new("leases-orphans", 6).await;
    let url = setup.server.url.clone();
    let a = setup.daemon("inst-a", &url);
    let b = setup.daemon("inst-b", &url);
    setup
        .wait_for_holders(&[("inst-a", 3), ("inst-b", 3)])
        .await;
    let all: BTreeSet<String> = setup.leases().await.into_keys().collect();
    assert_eq!(all.len(), 6, "one lease document per rule");

    let (kept, dropped) = setup.rule_ids.split_at(4);
    for rule_id in dropped {
        std::fs::remove_file(setup.dir.join("rules").join(format!("{rule_id}.toml")))
            .expect("the rule file is removed");
    }
    for daemon in [&a, &b] {
        signal(daemon.child.id(), "-HUP");
    }
    for daemon in [&a, &b] {
        wait_for_log(daemon, "reloaded the configuration and rules").await;
    }
    let started = Instant::now();
    loop {
        let left: BTreeSet<String> = setup.leases().await.into_keys().collect();
        if left.len() == kept.len() {
            assert_eq!(
                left,
                kept.iter().cloned().collect(),
                "the dropped rules' leases go"
            );
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "lease documents of dropped rules still there: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the leases of the 2 dropped rules were removed {:?} after both reloaded (lease period {LEASE_PERIOD:?})",
        started.elapsed()
    );
    setup
        .wait_for_holders(&[("inst-a", 2), ("inst-b", 2)])
        .await;
    assert!(
        a.log()
            .contains("lease of a rule no instance loads removed"),
        "the lowest-named instance removed them:\n{}",
        a.log()
    );
    assert!(
        !b.log()
            .contains("lease of a rule no instance loads removed"),
        "only the lowest-named instance removes lease documents"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_only_one_instance_loads_is_adopted_and_alerts_every_event_once() {
    let setup = Setup::new("leases-adopt", 4).await;
    let url = setup.server.url.clone();
    // Each instance reads a rules folder of its own, the same four rules at first.
    let folder = |name: &str| setup.dir.join(format!("rules-{name}"));
    for name in ["inst-a", "inst-b"] {
        std::fs::create_dir_all(folder(name)).expect("a rules folder");
        for rule_id in &setup.rule_ids {
            let file = format!("{rule_id}.toml");
            std::fs::copy(
                setup.dir.join("rules").join(&file),
                folder(name).join(&file),
            )
            .expect("a rule file");
        }
    }
    // a alone holds the four rules, then b joins: two each.
    let a = setup.daemon_reading("inst-a", &url, &folder("inst-a"));
    setup.wait_for_holders(&[("inst-a", 4)]).await;
    let b = setup.daemon_reading("inst-b", &url, &folder("inst-b"));
    setup
        .wait_for_holders(&[("inst-a", 2), ("inst-b", 2)])
        .await;
    let ingesting = setup.start_ingesting().await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The owner of one rule, x, reloads without it (a config change that reached it first): it
    // gives x back and holds one of its three rules (under its share of two, but every rule it
    // loads is held); the other still loads x and holds its share (two of four). Without
    // adoption, x stayed free for as long as the configurations differ.
    let x = setup.rule_ids[0].clone();
    let owner = (setup.leases().await.remove(&x))
        .and_then(|(owner, _)| owner)
        .expect("x has an owner");
    let (dropping, keeping, other) = if owner == "inst-a" {
        (&a, &b, "inst-b")
    } else {
        (&b, &a, "inst-a")
    };
    std::fs::remove_file(folder(&owner).join(format!("{x}.toml"))).expect("x is removed");
    signal(dropping.child.id(), "-HUP");
    wait_for_log(dropping, "reloaded the configuration and rules").await;
    let reloaded = Instant::now();
    let adopted = loop {
        let leases = setup.leases().await;
        if leases.get(&x).and_then(|(owner, _)| owner.as_deref()) == Some(other) {
            break reloaded.elapsed();
        }
        assert!(
            reloaded.elapsed() < WAIT,
            "{x} is still not held by {other}, which loads it: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "{other} adopted {x} {adopted:?} after {owner} reloaded without it (lease period {LEASE_PERIOD:?})"
    );
    // Adopted on top of its share, and nothing moves afterwards (no give-back and adopt loop).
    setup
        .wait_for_holders(&[(other, 3), (owner.as_str(), 1)])
        .await;
    let settled = setup.leases().await;
    tokio::time::sleep(LEASE_PERIOD * 3).await;
    assert_eq!(
        setup.leases().await,
        settled,
        "no lease changed hands for three lease periods after the adoption"
    );
    assert!(
        keeping.log().contains("lease adopted"),
        "{other} says it adopted {x}:\n{}",
        keeping.log()
    );
    let metrics = format!("{}/metrics", keeping.endpoint());
    let (status, text) = tokio::task::spawn_blocking(move || http_get(&metrics))
        .await
        .expect("/metrics was asked");
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        metric(&text, "lookout_leases_adopted_total"),
        Some(1.0),
        "{other} counts one adopted lease:\n{text}"
    );

    let by_status = setup.finish(ingesting, None).await;
    both_ran(&by_status);
}
