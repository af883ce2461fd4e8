//! What one execution that finds nothing costs lookout, for an EQL event rule and an EQL sequence
//! rule on lookout's own EQL path, beside a query rule: each rule runs `EXECUTIONS` consecutive
//! 5-minute windows over an index of events none of them matches, through `Engine::execute`
//! (state, field types, search, record), and the process's CPU time (user + system, all threads)
//! is divided by the executions. Needs a server: `LOOKOUT_BENCH_ES_URL` or
//! `LOOKOUT_TEST_ES_URL` (the bench prints that it skipped without one). Run with
//! `cargo bench --bench eql_execution`.

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use std::time::Instant;

/// Executions measured per rule (after `WARM_UP` unmeasured ones).
const EXECUTIONS: u32 = 400;
const WARM_UP: u32 = 10;
/// Events in the source index, one a minute from the first window on; none matches.
const EVENTS: i64 = 2_500;
/// Linux's USER_HZ: the unit of the CPU times in `/proc/self/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap()
}

/// This process's user + system CPU seconds (all threads).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    let after_name = &stat[stat.rfind(')').expect("the command in parentheses") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks = |n: usize| fields[n - 3].parse::<f64>().expect("a tick count");
    (ticks(14) + ticks(15)) / TICKS_PER_SECOND
}

fn rule_text(rule_id: &str, index: &str, kind: &str, language: &str, query: &str) -> String {
    format!(
        "[metadata]\nmaturity = \"production\"\n[rule]\nauthor = [\"bench\"]\n\
         description = \"bench\"\nindex = [\"{index}\"]\nlanguage = \"{language}\"\n\
         name = \"bench {rule_id}\"\nrisk_score = 21\nrule_id = \"{rule_id}\"\nseverity = \"low\"\n\
         type = \"{kind}\"\ninterval = \"5m\"\nfrom = \"now-6m\"\nquery = '''{query}'''\n"
    )
}

fn rule(text: &str) -> lookout::Rule {
    match lookout::parse_rule_bytes(std::path::Path::new("bench.toml"), text.as_bytes()) {
        Ok((lookout::Loaded::Runnable(rule), _)) => *rule,
        other => panic!("a runnable rule: {other:?}"),
    }
}

/// Creates the source index and fills it with events no rule matches.
async fn source_index(http: &reqwest::Client, url: &str, index: &str) {
    let mappings = json!({ "properties": {
        "@timestamp": { "type": "date" },
        "event": { "properties": {
            "action": { "type": "keyword" }, "category": { "type": "keyword" },
            "ingested": { "type": "date" } } },
        "user": { "properties": { "name": { "type": "keyword" } } },
    }});
    let body = json!({ "settings": { "number_of_shards": 1 }, "mappings": mappings });
    let answer = http.put(format!("{url}/{index}")).json(&body).send().await;
    assert!(answer.expect("the server answers").status().is_success());
    let mut lines = String::new();
    for minute in 0..EVENTS {
        let at =
            (start() + TimeDelta::minutes(minute)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let doc = json!({ "@timestamp": at, "event": { "action": "DescribeInstances",
            "category": ["configuration"] }, "user": { "name": format!("user-{}", minute % 7) } });
        lines.push_str("{\"create\":{}}\n");
        lines.push_str(&doc.to_string());
        lines.push('\n');
    }
    let answer = http
        .post(format!("{url}/{index}/_bulk?refresh=true"))
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .expect("the server answers");
    let answer: Value = answer.json().await.expect("a bulk answer");
    assert_eq!(answer["errors"], json!(false), "bulk: {answer}");
}

/// Runs `rule` over consecutive windows; returns CPU and wall milliseconds per execution.
async fn measure(engine: &lookout::Engine, rule: &lookout::Rule) -> (f64, f64) {
    let mut at = start() + TimeDelta::minutes(10);
    for _ in 0..WARM_UP {
        let report = engine.execute(rule, at).await;
        assert!(!report.failed(), "{:?}", report.record);
        at += TimeDelta::minutes(5);
    }
    let cpu = cpu_seconds();
    let wall = Instant::now();
    for _ in 0..EXECUTIONS {
        let report = engine.execute(rule, at).await;
        assert!(!report.failed(), "{:?}", report.record);
        assert_eq!(
            report.record.alerts_created, 0,
            "the bench's rules find nothing"
        );
        at += TimeDelta::minutes(5);
    }
    let per = f64::from(EXECUTIONS);
    (
        (cpu_seconds() - cpu) * 1000.0 / per,
        wall.elapsed().as_secs_f64() * 1000.0 / per,
    )
}

async fn run(url: String) {
    let base = format!("lookout-bench-eql-{}", std::process::id());
    let index = format!("{base}-source");
    let http = reqwest::Client::new();
    source_index(&http, &url, &index).await;
    let mut config = lookout::Config::default();
    config.elasticsearch.url = url.clone();
    config.alerts.index = format!("{base}-alerts");
    config.engine.state_index = format!("{base}-state");
    config.engine.executions_index = format!("{base}-executions");
    let backoff = lookout::Backoff {
        max_attempts: Some(1),
        ..lookout::Backoff::default()
    };
    let engine = lookout::connect(&config, &lookout::SystemClock, backoff)
        .await
        .expect("the server answers");
    let rules = [
        (
            "query rule",
            rule(&rule_text(
                "q",
                &index,
                "query",
                "kuery",
                "event.action: CreateUser",
            )),
        ),
        (
            "EQL event rule",
            rule(&rule_text(
                "e",
                &index,
                "eql",
                "eql",
                "any where event.action == \"CreateUser\"",
            )),
        ),
        (
            "EQL sequence rule",
            rule(&rule_text(
                "s",
                &index,
                "eql",
                "eql",
                "sequence by user.name with maxspan=10m [any where event.action == \"CreateUser\"] \
                 [any where event.action == \"AttachUserPolicy\"]",
            )),
        ),
    ];
    for (what, rule) in &rules {
        let (cpu_ms, wall_ms) = measure(&engine, rule).await;
        println!(
            "{what} finding nothing: {cpu_ms:.3} ms of lookout CPU per execution, {wall_ms:.2} ms \
             by the clock ({EXECUTIONS} executions)"
        );
    }
    for suffix in ["source", "alerts", "state", "executions"] {
        let _ = http.delete(format!("{url}/{base}-{suffix}*")).send().await;
    }
}

fn main() {
    let url =
        std::env::var("LOOKOUT_BENCH_ES_URL").or_else(|_| std::env::var("LOOKOUT_TEST_ES_URL"));
    let Ok(url) = url else {
        println!("eql_execution: skipped (set LOOKOUT_BENCH_ES_URL or LOOKOUT_TEST_ES_URL)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(url));
}
