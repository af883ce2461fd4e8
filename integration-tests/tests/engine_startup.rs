//! Start-up on the live server (done-means 7): a server that is down at start gives a clear
//! error and retries with back-off on the engine's clock until it answers, then work resumes;
//! a broken rule file is reported and every other rule still runs; `run --once` end to end from
//! a configuration file.

mod engine_support;

use chrono::TimeDelta;
use engine_support::*;
use integration_tests::server::{Capability, require};
use integration_tests::{TestServer, shared_file, unique_name};
use lookout::Backoff;
use lookout::Client;
use lookout::Config;
use lookout::{Engine, ManualClock, Settings};
use lookout::{ExecutionStatus, StateStore};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("a bound address").port()
}

/// `host:port` of the live server.
fn server_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// Starts forwarding TCP connections from `port` to `upstream`: the server "comes back" on the
/// port lookout was given. Bytes are relayed unchanged; nothing is answered by the test.
fn relay(port: u16, upstream: String) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the closed port can be bound");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

#[tokio::test]
async fn server_down_at_start_is_retried_with_backoff_until_it_answers() {
    let server = TestServer::connect();
    let port = closed_port();
    let mut config = test_config(&server);
    config.elasticsearch.url = format!("http://127.0.0.1:{port}");
    let client = Client::new(&config.elasticsearch).unwrap();
    let templates = lookout::index_templates(&config);
    let clock = ManualClock::new(t0());
    let mut errors = Vec::new();

    let connecting =
        lookout::prepare_server(&client, &templates, &clock, Backoff::default(), |failed| {
            errors.push((failed.error.to_string(), failed.retry_in));
        });
    let driver = async {
        let mut waits = Vec::new();
        for attempt in 1..=4 {
            let deadline = clock.next_sleeper().await;
            waits.push(deadline - lookout::Clock::now(&clock));
            if attempt == 4 {
                relay(port, server_address(&server.url));
            }
            clock.set(deadline);
        }
        waits
    };
    let (connected, waits) = tokio::join!(connecting, driver);

    connected.expect("the server answers once it is back");
    let seconds: Vec<i64> = waits.iter().map(TimeDelta::num_seconds).collect();
    assert_eq!(seconds, vec![1, 2, 4, 8], "exponential back-off");
    assert_eq!(errors.len(), 4);
    for (error, retry_in) in &errors {
        assert!(error.contains("unreachable"), "{error}");
        assert!(retry_in.is_some());
    }
    // Work resumes: an execution through the recovered server writes its alert.
    let store = StateStore::for_config(client.clone(), &config);
    let engine = Engine::new(client, store, Settings::from_config(&config));
    let source = unique_name("logs-aws.cloudtrail-eng");
    server.create_cloudtrail_index(&source).await;
    server
        .bulk_create(&source, &[add_user(t0() - minutes(1), "back")])
        .await;
    let rule = seed_rule(ADD_USER_TO_GROUP, &source, &[]);
    let report = engine.execute(&rule, t0()).await;
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
}

#[tokio::test]
async fn server_down_gives_up_after_the_attempt_limit_with_a_clear_error() {
    let server = TestServer::connect();
    let mut config = test_config(&server);
    config.elasticsearch.url = format!("http://127.0.0.1:{}", closed_port());
    let clock = ManualClock::new(t0());
    let backoff = Backoff {
        max_attempts: Some(2),
        ..Backoff::default()
    };
    let connecting = lookout::connect(&config, &clock, backoff);
    let driver = async {
        let deadline = clock.next_sleeper().await;
        clock.set(deadline);
    };
    let (result, ()) = tokio::join!(connecting, driver);
    let error = result
        .err()
        .expect("a server that never answers is an error")
        .to_string();
    assert!(
        error.contains("unreachable") && error.contains("127.0.0.1"),
        "{error}"
    );
}

/// Writes a configuration file and a rule folder for `run --once` into a fresh folder.
fn write_setup(server: &TestServer, source: &str) -> (PathBuf, Config) {
    let dir = std::env::temp_dir().join(unique_name("lookout-engine-run"));
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for (name, seed) in [
        ("add_user.toml", ADD_USER_TO_GROUP),
        ("create_group.toml", CREATE_GROUP),
    ] {
        std::fs::write(rules.join(name), seed_rule_text(seed, source, &[])).unwrap();
    }
    std::fs::write(
        rules.join("broken.toml"),
        "[metadata]\nmaturity = \"production\"\n[rule\nname = 1\n",
    )
    .unwrap();
    let esql = "corpus/detection-rules/rules/integrations/aws/discovery_multiple_discovery_api_calls_via_cli.toml";
    std::fs::copy(shared_file(esql), rules.join("esql.toml")).unwrap();
    let names = test_config(server);
    let text = format!(
        "[elasticsearch]\nurl = \"{}\"\n\n[rules]\nfolders = [\"{}\"]\n\n[alerts]\nindex = \"{}\"\n\n\
         [engine]\nstate_index = \"{}\"\nexecutions_index = \"{}\"\n",
        server.url,
        rules.display(),
        names.alerts.index,
        names.engine.state_index,
        names.engine.executions_index
    );
    let path = dir.join("lookout.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load_with_env(Some(&path), |_| None).expect("the written config is valid");
    (path, config)
}

fn file_name(line: &str) -> &str {
    Path::new(line.split(':').next().unwrap_or(line))
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
}

#[tokio::test]
async fn a_broken_rule_file_is_reported_and_every_other_rule_runs_once() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-eng");
    server.create_cloudtrail_index(&source).await;
    let at = t0();
    server
        .bulk_create(
            &source,
            &[
                add_user(at - minutes(2), "add"),
                event(
                    "CreateGroup",
                    "success",
                    at - minutes(2),
                    Some(at - minutes(2)),
                ),
            ],
        )
        .await;
    let (_path, config) = write_setup(&server, &source);

    let rules = lookout::load_rules(&config.rules);
    assert_eq!(rules.errors.len(), 1, "{:?}", rules.errors);
    assert_eq!(
        file_name(&rules.errors[0]),
        "broken.toml",
        "{}",
        rules.errors[0]
    );
    assert!(
        rules.errors[0].contains("broken.toml:3:"),
        "{}",
        rules.errors[0]
    );
    assert_eq!(rules.skipped.len(), 1, "{:?}", rules.skipped);
    assert!(
        rules.skipped[0].contains("esql.toml") && rules.skipped[0].contains("esql"),
        "{}",
        rules.skipped[0]
    );
    assert_eq!(rules.runnable.len(), 2);

    let clock = ManualClock::new(at);
    let reports = lookout::run_once(&config, &rules.runnable, &clock, at)
        .await
        .unwrap();

    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|report| !report.failed()));
    let alerts = search_all(&server, &format!("{}*", config.alerts.index)).await;
    let mut rule_ids: Vec<&str> = alerts
        .iter()
        .map(|a| a["kibana.alert.rule.rule_id"].as_str().unwrap())
        .collect();
    rule_ids.sort();
    let mut expected = vec![ADD_USER_RULE_ID, CREATE_GROUP_RULE_ID];
    expected.sort();
    assert_eq!(rule_ids, expected);
    let store = StateStore::for_config(Client::new(&config.elasticsearch).unwrap(), &config);
    let state = store.load(ADD_USER_RULE_ID).await.unwrap().unwrap();
    assert_eq!(state.covered_to, Some(at));
    assert_eq!(state.last_status, Some(ExecutionStatus::Succeeded));
}

#[tokio::test]
async fn run_once_counts_failed_executions() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-eng");
    server.create_cloudtrail_index(&source).await;
    let (_path, config) = write_setup(&server, &source);
    let mut rules = lookout::load_rules(&config.rules).runnable;
    // A query the server refuses (a Lucene syntax error) makes that rule's execution fail.
    rules[0].kind = lookout::Kind::Query(lookout::Query::Lucene {
        text: "event.action:(".to_string(),
    });

    let clock = ManualClock::new(t0());
    let reports = lookout::run_once(&config, &rules, &clock, t0())
        .await
        .unwrap();

    let failed: Vec<&str> = reports
        .iter()
        .filter(|report| report.failed())
        .map(|report| report.record.rule_id.as_str())
        .collect();
    assert_eq!(failed, [rules[0].rule_id.as_str()]);
}

#[tokio::test]
async fn a_refused_template_ends_start_up_at_once_without_retrying() {
    let server = TestServer::connect();
    if !require(&server, Capability::TemplateMappingValidation).await {
        return;
    }
    let config = test_config(&server);
    let client = Client::new(&config.elasticsearch).unwrap();
    let name = unique_name("lookout-bad");
    let bad = serde_json::json!({"index_patterns": [format!("{name}-*")], "template": {
        "mappings": {"properties": {"a": {"type": "no_such_type"}}}
    }});
    let templates = vec![(name, bad)];
    let clock = ManualClock::new(t0());
    let mut attempts = 0;

    let preparing =
        lookout::prepare_server(&client, &templates, &clock, Backoff::default(), |_| {
            attempts += 1;
        });
    let result = tokio::select! {
        result = preparing => result,
        deadline = clock.next_sleeper() => panic!("a refused template was retried (wait until {deadline})"),
    };

    let error = result
        .expect_err("the server refuses the template")
        .to_string();
    assert!(
        error.contains("HTTP 400") && error.contains("no_such_type"),
        "{error}"
    );
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn templates_install_idempotently() {
    let server = TestServer::connect();
    let config = test_config(&server);
    let client = Client::new(&config.elasticsearch).unwrap();
    let templates = lookout::index_templates(&config);
    let clock = ManualClock::new(t0());
    for _ in 0..2 {
        lookout::prepare_server(&client, &templates, &clock, Backoff::default(), |_| {})
            .await
            .expect("installing twice succeeds");
    }
    let name = lookout::template_name(&config.alerts.index);
    let answer = server
        .ok(
            elasticsearch::http::Method::Get,
            &format!("/_index_template/{name}"),
            None,
        )
        .await;
    let mappings = &answer["index_templates"][0]["index_template"]["template"]["mappings"];
    assert_eq!(
        mappings["properties"]["kibana"]["properties"]["alert"]["properties"]["rule"]["properties"]
            ["rule_id"]["type"],
        "keyword"
    );
}

#[tokio::test]
async fn start_up_checks_existing_templates_and_never_rewrites_them() {
    let server = TestServer::connect();
    let config = test_config(&server);
    let client = Client::new(&config.elasticsearch).unwrap();
    let templates = lookout::index_templates(&config);
    let (name, body) = templates[0].clone();
    // What `lookout setup` (or an operator) installed, marked so that a rewrite shows.
    let mut installed = body.clone();
    installed["_meta"] = serde_json::json!({"installed_by": "the operator"});
    client.put_index_template(&name, &installed).await.unwrap();
    let clock = ManualClock::new(t0());

    lookout::prepare_server(&client, &templates, &clock, Backoff::default(), |_| {})
        .await
        .expect("the templates are there");

    let answer = server
        .ok(
            elasticsearch::http::Method::Get,
            &format!("/_index_template/{name}"),
            None,
        )
        .await;
    assert_eq!(
        answer["index_templates"][0]["index_template"]["_meta"]["installed_by"], "the operator",
        "the daemon rewrote a template that existed"
    );
    for (other, _) in &templates[1..] {
        let (status, _) = server
            .request(
                elasticsearch::http::Method::Get,
                &format!("/_index_template/{other}"),
                None,
            )
            .await;
        assert!(
            status.is_success(),
            "the missing template {other} is installed"
        );
    }
}
