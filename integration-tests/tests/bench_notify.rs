//! The notification burst of scripts/bench (ignored unless asked for): 10,000 alerts from 100
//! rules written by one `lookout run --once` (the release binary, `LOOKOUT_BIN`), delivered to
//! a receiver on loopback. Summary mode: prints the requests per rule and execution (one is the
//! target). Per-alert mode with `max_per_second`: prints the achieved rate and how long the
//! drain took. Each run's peak RSS (GNU time) is printed beside a run without notifications.
//! Asserts only correctness (every alert delivered, the request counts); the numbers are read.

mod reliability_support;

use integration_tests::receiver::Receiver;
use integration_tests::{TestServer, ecs_samples, unique_name};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const RULES: usize = 100;
const PER_RULE: usize = 100;
/// The per-alert connector's configured rate.
const RATE: u32 = 500;
const NOW: &str = "2026-01-10T12:00:00Z";

fn write_rules(dir: &Path, source: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for n in 0..RULES {
        let text = format!(
            "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\nupdated_date = \"2026/01/01\"\n\n\
             [rule]\nauthor = [\"lookout\"]\ndescription = \"Notification burst rule.\"\nfrom = \"now-1h\"\n\
             index = [\"{source}\"]\ninterval = \"5m\"\nlanguage = \"kuery\"\nname = \"Burst {n}\"\n\
             risk_score = 47\nrule_id = \"burst-{n:03}\"\nseverity = \"medium\"\ntype = \"query\"\nmax_signals = {PER_RULE}\n\
             query = 'labels.burst: \"r{n:03}\"'\n"
        );
        std::fs::write(dir.join(format!("burst-{n:03}.toml")), text).unwrap();
    }
}

async fn load_events(server: &TestServer, source: &str) {
    server.create_cloudtrail_index(source).await;
    let sample = ecs_samples()
        .into_iter()
        .find(|d| d["event"]["action"] == "AddUserToGroup")
        .expect("an AddUserToGroup sample");
    let mut docs = Vec::new();
    for rule in 0..RULES {
        for n in 0..PER_RULE {
            let mut doc = sample.clone();
            doc["@timestamp"] = json!(format!(
                "2026-01-10T11:{:02}:{:02}.000Z",
                10 + n / 60,
                n % 60
            ));
            doc["labels"] = json!({"burst": format!("r{rule:03}")});
            docs.push(doc);
        }
    }
    for chunk in docs.chunks(2_000) {
        server.bulk_create(source, chunk).await;
    }
}

/// One `run --once` under GNU time: (wall seconds, peak RSS in KB, stderr).
fn run_once(dir: &Path, server: &TestServer, config: Option<&str>) -> (f64, u64, String) {
    let base = unique_name("bench-notify");
    let config_path = dir.join(format!("{base}.toml"));
    std::fs::write(&config_path, config.unwrap_or("")).unwrap();
    let timing = dir.join(format!("{base}.time"));
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("-o")
        .arg(&timing)
        .arg(reliability_support::lookout_binary())
        .args(["run", "--once", "--now", NOW, "--config"])
        .arg(&config_path)
        .env("LOOKOUT_ES_URL", &server.url)
        .env("LOOKOUT_RULES_FOLDERS", dir.join("rules"))
        .env("LOOKOUT_ALERTS_INDEX", format!("{base}-alerts"))
        .env("LOOKOUT_STATE_INDEX", format!("{base}-state"))
        .env("LOOKOUT_EXECUTIONS_INDEX", format!("{base}-executions"))
        .env("LOOKOUT_CONCURRENCY", "4")
        .env("RUST_LOG", "warn")
        .output()
        .expect("GNU time runs lookout (scripts/bench installs it)");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let time = std::fs::read_to_string(&timing).unwrap_or_default();
    let rss = time
        .lines()
        .find(|l| l.contains("Maximum resident set size"))
        .and_then(|l| l.rsplit(' ').next()?.trim().parse().ok())
        .unwrap_or(0);
    (wall, rss, stderr)
}

fn config(url: &str, mode: &str, rate: Option<u32>) -> String {
    let rate = rate
        .map(|r| format!("max_per_second = {r}\n"))
        .unwrap_or_default();
    format!(
        "[[notify.connectors]]\nid = \"soc\"\ntype = \"webhook\"\nurl = \"{url}\"\n{rate}\n\
         [[notify.routes]]\nconnectors = [\"soc\"]\nmode = \"{mode}\"\nsummary_alerts = 5\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench runs it with --ignored --nocapture"]
async fn notification_burst_of_ten_thousand_alerts_from_a_hundred_rules() {
    let server = TestServer::connect();
    let source = unique_name("bench-notify-src");
    load_events(&server, &source).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_rules(&dir.join("rules"), &source);
    let total = RULES * PER_RULE;

    let dir_owned = dir.to_path_buf();
    let server_owned = server.clone();
    let (wall, rss, _) =
        tokio::task::spawn_blocking(move || run_once(&dir_owned, &server_owned, None))
            .await
            .unwrap();
    println!("no notifications: {total} alerts written in {wall:.2} s, peak RSS {rss} KB");

    let receiver = Receiver::start().await;
    let summary = config(&receiver.url("summary"), "summary", None);
    let (dir_owned, server_owned) = (dir.to_path_buf(), server.clone());
    let (wall, rss, err) =
        tokio::task::spawn_blocking(move || run_once(&dir_owned, &server_owned, Some(&summary)))
            .await
            .unwrap();
    let requests = receiver.accepted("summary");
    let alerts: u64 = requests
        .iter()
        .map(|r| r.json["count"].as_u64().unwrap_or(0))
        .sum();
    println!(
        "summary mode: {total} alerts, {} requests for {RULES} rule executions ({:.2} per rule execution), {alerts} alerts counted, run {wall:.2} s, peak RSS {rss} KB",
        requests.len(),
        requests.len() as f64 / RULES as f64
    );
    assert_eq!(requests.len(), RULES, "{err}");
    assert_eq!(alerts as usize, total);

    let per_alert = config(&receiver.url("per-alert"), "per_alert", Some(RATE));
    let (dir_owned, server_owned) = (dir.to_path_buf(), server.clone());
    let (wall, rss, err) =
        tokio::task::spawn_blocking(move || run_once(&dir_owned, &server_owned, Some(&per_alert)))
            .await
            .unwrap();
    let requests = receiver.accepted("per-alert");
    assert_eq!(requests.len(), total, "{err}");
    let (first, last) = (requests.first().unwrap().at, requests.last().unwrap().at);
    let drain = (last - first).as_secs_f64();
    println!(
        "per-alert mode at max_per_second = {RATE}: {} requests, drained in {drain:.2} s ({:.0} per second), run {wall:.2} s, peak RSS {rss} KB",
        requests.len(),
        (requests.len() - 1) as f64 / drain.max(0.001)
    );
}
