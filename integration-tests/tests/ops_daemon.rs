//! `lookout run` as an operator sees it, against the live server: /healthz, /readyz and a
//! /metrics scrape after executions; SIGHUP with a broken rule file keeps the old rules running
//! and says why; SIGTERM during an execution lets its alerts be written and its window recorded,
//! and the process exits 0; its housekeeping prunes old execution records and rolls the alerts
//! alias over.

mod ops;

use chrono::{DateTime, TimeDelta, Utc};
use elasticsearch::http::Method;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::server::Capability;
use integration_tests::{TestServer, unique_name};
use lookout::EngineConfig;
use lookout::StateStore;
use ops::{
    Daemon, add_user_events, block, http_get, lookout, metric, signal, wait_until, write_rule,
};
use serde_json::json;
use std::process::Command;

/// Lookout's own indices for one test, as environment variables and as an engine config.
struct Indices {
    alerts: String,
    state: String,
    executions: String,
}

impl Indices {
    fn new(prefix: &str) -> Indices {
        let base = unique_name(prefix);
        Indices {
            alerts: format!("{base}-alerts"),
            state: format!("{base}-state"),
            executions: format!("{base}-executions"),
        }
    }

    fn apply(&self, command: &mut Command) {
        command
            .env("LOOKOUT_ALERTS_INDEX", &self.alerts)
            .env("LOOKOUT_STATE_INDEX", &self.state)
            .env("LOOKOUT_EXECUTIONS_INDEX", &self.executions);
    }
}

/// A source index holding `count` AddUserToGroup events, the newest at `newest`.
fn source_index(server: &TestServer, count: usize, newest: DateTime<Utc>) -> String {
    let index = unique_name("ops-src");
    block(server.create_cloudtrail_index(&index));
    for batch in add_user_events(count, newest).chunks(1000) {
        block(server.bulk_create(&index, batch));
    }
    index
}

fn daemon(dir: &std::path::Path, server: &TestServer, indices: &Indices) -> Daemon {
    let mut command = lookout(dir);
    command.env("LOOKOUT_ES_URL", &server.url);
    command.args(["run", "--http-listen", "127.0.0.1:0"]);
    indices.apply(&mut command);
    Daemon::start(command)
}

/// A rule id whose stagger for `interval` is under a second, so its first execution comes
/// right after start (the stagger is a pure function of the id).
fn prompt_rule_id(prefix: &str, interval: TimeDelta) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| lookout::stagger(id, interval) < TimeDelta::seconds(1))
        .expect("some id has a small stagger")
}

#[test]
fn metrics_count_executions_and_alerts_and_sighup_with_a_broken_rule_keeps_the_old_rules() {
    let server = TestServer::connect();
    let source = source_index(&server, 5, Utc::now() - TimeDelta::seconds(30));
    let work = tempfile::tempdir().expect("a temporary folder");
    let rule_id = unique_name("ops-metrics");
    write_rule(work.path(), &rule_id, &source, "1s", "now-10m", 100);
    let indices = Indices::new("ops-metrics");
    let run = daemon(work.path(), &server, &indices);
    let endpoint = run.endpoint();
    assert_eq!(http_get(&format!("{endpoint}/healthz")).0, 200);

    let succeeded =
        format!("lookout_executions_total{{rule_id=\"{rule_id}\",status=\"succeeded\"}}");
    let scrape = || http_get(&format!("{endpoint}/metrics")).1;
    let text = wait_until("two succeeded executions in /metrics", || {
        let text = scrape();
        (metric(&text, &succeeded)? >= 2.0).then_some(text)
    });
    let rule = format!("{{rule_id=\"{rule_id}\"}}");
    assert_eq!(
        metric(&text, &format!("lookout_alerts_created_total{rule}")),
        Some(5.0),
        "{text}"
    );
    assert!(
        metric(&text, &format!("lookout_duplicates_dropped_total{rule}")) >= Some(5.0),
        "{text}"
    );
    assert!(
        metric(&text, &format!("lookout_hits_searched_total{rule}")) >= Some(10.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "lookout_rules_loaded{type=\"query\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric(&text, "lookout_search_duration_seconds_count") >= Some(2.0),
        "{text}"
    );
    assert!(
        metric(&text, "lookout_schedule_delay_seconds_count") >= Some(2.0),
        "{text}"
    );
    assert_eq!(
        http_get(&format!("{endpoint}/readyz")),
        (200, "ready\n".to_string())
    );

    // What the daemon wrote without a refresh is searchable within a second on Elasticsearch; a
    // search-idle index on noida-db stays stale until an explicit refresh.
    block(server.refresh(&format!("{},{}", indices.state, indices.executions)));
    let mut status = lookout(work.path());
    status.arg("status").env("LOOKOUT_ES_URL", &server.url);
    indices.apply(&mut status);
    let (out, err) = ops::text(&status.output().expect("lookout status runs"));
    let recent = out
        .lines()
        .find_map(|line| line.strip_prefix("executions:  last hour: succeeded "))
        .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no executions line: {out}{err}"));
    assert!(recent >= 2, "{out}");
    assert!(out.contains("rules:       1 loaded"), "{out}");
    // The clocks: the server runs on this host, so they agree within the Date header's
    // resolution, or, on a server whose answers carry none, within the daemon's own reading of
    // the server's time (a search of the alerts index).
    let offset = metric(&text, "lookout_clock_offset_seconds").expect("the clock offset gauge");
    let width = if block(server.has(Capability::DateHeader)) {
        2.0
    } else {
        1.0
    };
    assert!(offset.abs() < width, "measured: {text}");
    assert!(
        out.contains("clock:       the host's clock agrees"),
        "{out}"
    );

    std::fs::write(work.path().join("rules/broken.toml"), "[rule\nname = ").expect("write");
    signal(run.child.id(), "-HUP");
    let refused = run.wait_for_line("reload refused");
    assert!(refused.contains("broken.toml"), "{refused}");
    let before = metric(&scrape(), &succeeded).unwrap_or(0.0);
    wait_until(
        "executions of the old rules after the refused reload",
        || (metric(&scrape(), &succeeded)? > before).then_some(()),
    );

    let mut run = run;
    signal(run.child.id(), "-TERM");
    let status = run.child.wait().expect("lookout run exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
}

#[test]
fn sigterm_during_an_execution_lets_its_alerts_be_written_and_its_window_recorded() {
    const EVENTS: usize = 1000;
    let server = TestServer::connect();
    let source = source_index(&server, EVENTS, Utc::now() - TimeDelta::seconds(30));
    let work = tempfile::tempdir().expect("a temporary folder");
    let rule_id = prompt_rule_id(&unique_name("ops-term"), TimeDelta::hours(1));
    write_rule(work.path(), &rule_id, &source, "1h", "now-2h", 10_000);
    let indices = Indices::new("ops-term");
    let mut command = lookout(work.path());
    command
        .env("LOOKOUT_ES_URL", &server.url)
        .args(["run", "--http-listen", "127.0.0.1:0"])
        .env("LOOKOUT_SHUTDOWN_GRACE", "5m");
    indices.apply(&mut command);
    let mut run = Daemon::start(command);
    wait_until("the first alerts of the execution", || {
        let (status, body) =
            block(server.request(Method::Get, &format!("/{}/_count", indices.alerts), None));
        (status.is_success() && body["count"].as_u64() > Some(0)).then_some(())
    });
    signal(run.child.id(), "-TERM");
    let status = run.child.wait().expect("lookout run exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    run.wait_for_line("stopped");
    let log = run.log();
    assert!(
        log.contains("waiting for running executions"),
        "SIGTERM came during the execution: {log}"
    );

    assert_eq!(
        block(server.count(&indices.alerts)),
        EVENTS as u64,
        "every alert of the execution is written"
    );
    let config = EngineConfig {
        state_index: indices.state.clone(),
        executions_index: indices.executions.clone(),
        ..EngineConfig::default()
    };
    let client = lookout::Client::new(&lookout::ElasticsearchConfig {
        url: server.url.clone(),
        ..Default::default()
    })
    .expect("a client");
    let store = StateStore::scoped(client, &config, "default", &indices.alerts);
    block(server.refresh(&indices.executions));
    let executions = block(store.executions(&rule_id, 10)).expect("executions load");
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0].alerts_created, EVENTS as u64);
    let state = block(store.load(&rule_id))
        .expect("state loads")
        .expect("the rule has state");
    assert_eq!(
        state.covered_to,
        Some(executions[0].window_to),
        "the window is recorded as covered"
    );
}

/// The server refuses the configuration a SIGHUP brings (here: its URL leads through the fault
/// proxy, which answers 401 to everything, as a server does to a wrong password): the reload is
/// refused and the previous configuration keeps running, as docs/operations.md says.
#[test]
fn a_reload_the_server_refuses_keeps_the_previous_configuration_running() {
    let server = TestServer::connect();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the proxy");
    let proxy = runtime.block_on(Proxy::start(&server.url));
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Status(401)).always()));
    let source = source_index(&server, 5, Utc::now() - TimeDelta::seconds(30));
    let work = tempfile::tempdir().expect("a temporary folder");
    let rule_id = unique_name("ops-refused");
    write_rule(work.path(), &rule_id, &source, "1s", "now-10m", 100);
    let config = work.path().join("lookout.toml");
    let url_line = |url: &str| format!("[elasticsearch]\nurl = {url:?}\n");
    std::fs::write(&config, url_line(&server.url)).expect("write the configuration");
    let indices = Indices::new("ops-refused");
    let mut command = lookout(work.path());
    command
        .args(["run", "--http-listen", "127.0.0.1:0", "--config"])
        .arg(&config);
    indices.apply(&mut command);
    let mut run = Daemon::start(command);
    let endpoint = run.endpoint();
    let succeeded =
        format!("lookout_executions_total{{rule_id=\"{rule_id}\",status=\"succeeded\"}}");
    let scrape = || http_get(&format!("{endpoint}/metrics")).1;
    wait_until("an execution with the first configuration", || {
        (metric(&scrape(), &succeeded)? >= 1.0).then_some(())
    });

    std::fs::write(&config, url_line(&proxy.url())).expect("rewrite the configuration");
    signal(run.child.id(), "-HUP");
    let refused = run.wait_for_line("reload refused");
    assert!(refused.contains("401"), "{refused}");
    let before = metric(&scrape(), &succeeded).unwrap_or(0.0);
    wait_until("executions with the previous configuration", || {
        (metric(&scrape(), &succeeded)? > before).then_some(())
    });
    assert!(
        proxy.stats().statuses >= 1,
        "the new configuration was tried"
    );

    signal(run.child.id(), "-TERM");
    let status = run.child.wait().expect("lookout run exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
}

/// A backdated execution record for the daemon's deployment (namespace `default`).
fn old_record(
    rule_id: &str,
    age: TimeDelta,
    status: lookout::ExecutionStatus,
) -> lookout::ExecutionRecord {
    let started_at = Utc::now() - age;
    lookout::ExecutionRecord {
        execution_uuid: unique_name("ops-old-exec"),
        rule_id: rule_id.to_string(),
        rule_name: rule_id.to_string(),
        started_at,
        window_from: started_at - TimeDelta::minutes(5),
        window_to: started_at,
        status,
        hits: 0,
        alerts_created: 0,
        duplicates: 0,
        alerts_suppressed: 0,
        search_ms: 0,
        write_ms: 0,
        total_ms: 0,
        dead_letters: 0,
        warnings: Vec::new(),
        error: None,
        gap: None,
        instance: None,
    }
}

/// The daemon's housekeeping, right after start: execution records past the retention go (but
/// the one state recovery reads stays), and the alerts alias rolls over when a configured
/// condition is met (here `rollover_max_docs = 1`, the write index holding one alert): with
/// `_rollover`, or by hand on a server without it.
#[test]
fn the_daemon_prunes_old_execution_records_and_rolls_the_alerts_over() {
    let server = TestServer::connect();
    let indices = Indices::new("ops-housekeeping");
    let config = EngineConfig {
        state_index: indices.state.clone(),
        executions_index: indices.executions.clone(),
        ..EngineConfig::default()
    };
    let client = lookout::Client::new(&lookout::ElasticsearchConfig {
        url: server.url.clone(),
        ..Default::default()
    })
    .expect("a client");
    let store = StateStore::scoped(client.clone(), &config, "default", &indices.alerts);
    block(store.install_templates()).expect("templates");
    let rule_id = unique_name("ops-housekeeping-rule");
    let kept = old_record(
        &rule_id,
        TimeDelta::days(40),
        lookout::ExecutionStatus::Succeeded,
    );
    let pruned = old_record(
        &rule_id,
        TimeDelta::days(39),
        lookout::ExecutionStatus::Failed,
    );
    for record in [&kept, &pruned] {
        block(store.record_execution(record)).expect("recorded");
    }
    // The alerts alias with one alert in its write index (as an earlier run left it).
    let first = lookout::first_generation(&indices.alerts);
    let alias = json!({"aliases": {indices.alerts.as_str(): {"is_write_index": true}}});
    block(server.ok(Method::Put, &format!("/{first}"), Some(alias)));
    block(server.bulk_create(
        &indices.alerts,
        &[json!({"@timestamp": "2026-01-01T00:00:00Z"})],
    ));
    block(server.refresh(&format!("{}*", indices.alerts)));
    block(server.refresh(&indices.executions));

    let work = tempfile::tempdir().expect("a temporary folder");
    let source = source_index(&server, 1, Utc::now() - TimeDelta::seconds(30));
    write_rule(work.path(), &rule_id, &source, "1m", "now-10m", 100);
    let config_file = work.path().join("lookout.toml");
    std::fs::write(&config_file, "[alerts]\nrollover_max_docs = 1\n").expect("config written");
    let mut command = lookout(work.path());
    command.env("LOOKOUT_ES_URL", &server.url);
    command.env("LOOKOUT_CONFIG", &config_file);
    command.args(["run", "--http-listen", "127.0.0.1:0"]);
    indices.apply(&mut command);
    let run = Daemon::start(command);

    let line = run.wait_for_line("the alerts index rolled over");
    let resolved = block(client.resolve_name(&indices.alerts)).expect("resolve");
    let lookout::IndexName::Alias { write_index, .. } = resolved else {
        panic!("{} is an alias: {resolved:?}", indices.alerts);
    };
    assert_eq!(
        write_index,
        Some(format!("{}-000002", indices.alerts)),
        "{line}"
    );
    let left = wait_until("the old failed record deleted", || {
        block(server.refresh(&indices.executions));
        let ids: Vec<String> = block(server.all_docs(&indices.executions))
            .iter()
            .filter_map(|hit| hit["_id"].as_str().map(str::to_string))
            .collect();
        (!ids.contains(&pruned.execution_uuid)).then_some(ids)
    });
    assert!(
        left.contains(&kept.execution_uuid),
        "the record state recovery reads stays: {left:?}\n{}",
        run.log()
    );
}
