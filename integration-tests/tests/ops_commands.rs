//! `lookout test`, `lookout backfill` and `lookout rules` against the live server, in the order
//! an analyst uses them: a dry run writes nothing; a gap is filled; a backfill writes each alert
//! once, resumes instead of repeating, and never duplicates what the gap fill wrote; the dry run
//! then sees the alerts; after `run --once` the rules table shows the state.

mod ops;

use elasticsearch::http::Method;
use integration_tests::{TestServer, unique_name};
use lookout::StateStore;
use lookout::{ElasticsearchConfig, EngineConfig};
use ops::{add_user_events, at, block, ok, write_rule};

fn alerts(server: &TestServer, base: &str) -> u64 {
    let index = format!("{base}-alerts");
    block(server.request(Method::Post, &format!("/{index}/_refresh"), None));
    let (status, body) = block(server.request(Method::Get, &format!("/{index}/_count"), None));
    if status.as_u16() == 404 {
        return 0;
    }
    body["count"].as_u64().expect("a count")
}

#[test]
fn dry_run_gap_fill_backfill_resume_and_rules_table() {
    let server = TestServer::connect();
    let source = unique_name("ops-cmd-src");
    block(server.create_cloudtrail_index(&source));
    let mut events = add_user_events(5, at("2026-01-01T00:20:00Z"));
    let late = add_user_events(5, at("2026-01-01T00:50:00Z"));
    events.extend(late.into_iter().enumerate().map(|(i, mut doc)| {
        doc["event"]["id"] = serde_json::json!(format!("late-{i}"));
        doc
    }));
    block(server.bulk_create(&source, &events));
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let rule_id = unique_name("ops-cmd-rule");
    write_rule(dir, &rule_id, &source, "5m", "now-2h", 100);
    let rule_file = format!("rules/{rule_id}.toml");
    let base = unique_name("ops-cmd");
    let hour = [
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T01:00:00Z",
    ];

    let dry = ok(
        dir,
        &server,
        &base,
        &[&["test", &rule_file][..], &hour].concat(),
    );
    assert!(dry.contains("matching events: 10"), "{dry}");
    assert!(dry.contains("alerts that already exist: 0"), "{dry}");
    assert!(
        dry.contains("alerts an execution would create: 10"),
        "{dry}"
    );
    assert!(
        dry.contains("AddUserToGroup") && dry.contains("event.action"),
        "{dry}"
    );
    assert_eq!(alerts(&server, &base), 0, "a dry run writes nothing");

    let engine = EngineConfig {
        state_index: format!("{base}-state"),
        executions_index: format!("{base}-executions"),
        ..EngineConfig::default()
    };
    let client = lookout::Client::new(&ElasticsearchConfig {
        url: server.url.clone(),
        ..ElasticsearchConfig::default()
    })
    .expect("a client");
    // Gaps belong to a deployment: the one the commands below run as.
    let store = StateStore::scoped(client, &engine, "default", &format!("{base}-alerts"));
    block(store.install_templates()).expect("templates install");
    block(store.record_gap(
        &rule_id,
        at("2026-01-01T00:10:00Z"),
        at("2026-01-01T00:30:00Z"),
    ))
    .expect("the gap is recorded");
    let filled = ok(
        dir,
        &server,
        &base,
        &["backfill", "--gaps", "--rule", &rule_id],
    );
    assert!(
        filled.contains("4 chunks run (0 resumed as done), 5 alerts created"),
        "{filled}"
    );
    assert_eq!(alerts(&server, &base), 5);

    let backfill = [&["backfill", "--rule", &rule_id][..], &hour].concat();
    let first = ok(dir, &server, &base, &backfill);
    // Windows include both ends, so an event on a chunk boundary is found twice: a duplicate.
    assert!(
        first.contains(
            "12 chunks run (0 resumed as done), 5 alerts created, 7 duplicates, 0 failed"
        ),
        "{first}"
    );
    assert_eq!(
        alerts(&server, &base),
        10,
        "alerts of the gap fill are not written twice"
    );
    let again = ok(dir, &server, &base, &backfill);
    assert!(
        again.contains("0 chunks run (12 resumed as done), 0 alerts created"),
        "{again}"
    );
    assert_eq!(alerts(&server, &base), 10);

    let dry = ok(
        dir,
        &server,
        &base,
        &[&["test", &rule_file][..], &hour].concat(),
    );
    assert!(dry.contains("alerts that already exist: 10"), "{dry}");
    assert!(dry.contains("alerts an execution would create: 0"), "{dry}");

    ok(
        dir,
        &server,
        &base,
        &["run", "--once", "--now", "2026-01-01T01:00:00Z"],
    );
    assert_eq!(
        alerts(&server, &base),
        10,
        "run --once finds only duplicates"
    );
    let rules = ok(dir, &server, &base, &["rules"]);
    let row = rules
        .lines()
        .find(|line| line.starts_with(&rule_id))
        .unwrap_or_else(|| panic!("no row for {rule_id}: {rules}"));
    for expected in ["every 5m", "2026-01-01T01:00:00Z", "succeeded", " 10 "] {
        assert!(row.contains(expected), "{expected:?} not in {row:?}");
    }
}

/// Whether `text` holds a character that would drive a terminal or disguise text: a control
/// character other than the line ends of the output itself, or a bidirectional override.
fn drives_the_terminal(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn rule_and_event_text_reach_the_terminal_escaped() {
    let server = TestServer::connect();
    let source = unique_name("ops-esc-src");
    block(server.create_cloudtrail_index(&source));
    let mut events = add_user_events(1, at("2026-01-01T00:20:00Z"));
    events[0]["user"]["name"] = serde_json::json!("\u{1b}]0;owned\u{7}mallory\u{9b}2J\u{8}");
    block(server.bulk_create(&source, &events));
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let rule_id = unique_name("ops-esc-rule");
    write_rule(dir, &rule_id, &source, "5m", "now-2h", 100);
    let path = dir.join(format!("rules/{rule_id}.toml"));
    let text = std::fs::read_to_string(&path).expect("the rule file");
    let named = text.replace(
        &format!("name = \"Ops {rule_id}\""),
        "name = \"Evil \\u001b[31mred\\u0007 \\u202Egpj.exe\"",
    );
    std::fs::write(&path, named).expect("rewrite the rule");
    let base = unique_name("ops-esc");
    let window = [
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T01:00:00Z",
    ];
    let rule_file = format!("rules/{rule_id}.toml");

    let dry = ok(
        dir,
        &server,
        &base,
        &[&["test", &rule_file][..], &window].concat(),
    );
    assert!(!drives_the_terminal(&dry), "{dry:?}");
    assert!(
        dry.contains("\\u{1b}]0;owned\\u{7}mallory\\u{9b}2J\\u{8}"),
        "{dry}"
    );
    assert!(
        dry.contains("Evil \\u{1b}[31mred\\u{7} \\u{202e}gpj.exe"),
        "{dry}"
    );
    let rules = ok(dir, &server, &base, &["rules"]);
    assert!(!drives_the_terminal(&rules), "{rules:?}");
    assert!(rules.contains("Evil \\u{1b}[31mred"), "{rules}");
}
