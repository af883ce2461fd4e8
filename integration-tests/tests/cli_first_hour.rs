//! A new user's first hour (issue 19), as the user meets it: the `lookout` binary run against the
//! live server. Mistakes that used to pass silently (a mistyped rules folder, a misspelled key, a
//! field no index has, a closed pipe) are loud, and what scripts read (`--format json`, `lookout
//! alerts`) has a stable shape.

mod ops;

use integration_tests::proxy::Proxy;
use integration_tests::server::{Capability, require};
use integration_tests::{TestServer, unique_name};
use ops::{add_user_events, against, at, block, lookout, text, write_rule};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// A port nothing listens on (the discard port on loopback).
const CLOSED: &str = "http://127.0.0.1:9";

/// The hour `lookout test` looks at: the source index's events are in it.
const WINDOW: [&str; 4] = [
    "--from",
    "2026-01-01T00:00:00Z",
    "--to",
    "2026-01-01T01:00:00Z",
];

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("lookout runs");
    let (out, err) = text(&output);
    (output, out, err)
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}"))
}

/// A source index holding `count` AddUserToGroup events in the seconds before 00:20 on
/// 2026-01-01, and a folder with a rule over it.
struct Setup {
    work: tempfile::TempDir,
    source: String,
    rule_id: String,
    base: String,
}

impl Setup {
    fn new(server: &TestServer, prefix: &str, count: usize) -> Setup {
        let source = unique_name(&format!("{prefix}-src"));
        block(server.create_cloudtrail_index(&source));
        block(server.bulk_create(&source, &add_user_events(count, at("2026-01-01T00:20:00Z"))));
        let work = tempfile::tempdir().expect("a temporary folder");
        let rule_id = unique_name(&format!("{prefix}-rule"));
        write_rule(work.path(), &rule_id, &source, "5m", "now-1h", 100);
        Setup {
            work,
            source,
            rule_id,
            base: unique_name(prefix),
        }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    fn rule_file(&self) -> String {
        format!("rules/{}.toml", self.rule_id)
    }

    fn lookout(&self, server: &TestServer) -> Command {
        against(self.dir(), server, &self.base)
    }

    /// Rewrites the rule file with `edit`.
    fn edit_rule(&self, edit: impl FnOnce(&str) -> String) {
        let path = self.dir().join(self.rule_file());
        let rule = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, edit(&rule)).expect("write");
    }
}

#[test]
fn run_once_with_a_mistyped_rules_folder_exits_1_and_says_no_rule_ran() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let (output, out, err) =
        run(lookout(work.path()).args(["run", "--once", "--rules", "rulez", "--es-url", CLOSED]));
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("not run: rulez"), "{err}");
    assert!(err.contains("no rule ran"), "{err}");
    assert!(
        !err.contains("retrying"),
        "nothing to run, so no server is contacted: {err}"
    );

    let broken = work.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("a.toml"), "[rule\nname = 1\n").expect("write");
    let (output, _, err) = run(lookout(work.path()).args([
        "run", "--once", "--rules", "broken", "--es-url", CLOSED, "--format", "json",
    ]));
    assert_eq!(output.status.code(), Some(1), "{err}");
}

#[test]
fn run_once_prints_a_json_summary_and_exits_1_when_a_rule_file_is_broken() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-once", 3);
    std::fs::write(setup.dir().join("rules/broken.toml"), "[rule]\nname = \n").expect("write");
    let once = ["run", "--once", "--now", "2026-01-01T00:30:00Z"];
    let (output, out, err) = run(setup.lookout(&server).args(once).args(["--format", "json"]));
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    let summary = json(&out);
    assert_eq!(summary["rules_run"], 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["alerts_created"], 3, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
    assert_eq!(summary["executions"][0]["rule_id"], setup.rule_id.as_str());
    assert_eq!(summary["executions"][0]["status"], "succeeded");
    let errors = summary["rule_file_errors"].as_array().expect("a list");
    assert_eq!(errors.len(), 1, "{summary}");
    assert!(
        errors[0].as_str().unwrap().contains("broken.toml"),
        "{summary}"
    );

    std::fs::remove_file(setup.dir().join("rules/broken.toml")).expect("rm");
    let (output, out, err) = run(setup.lookout(&server).args(once));
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains(
            "ran 1 rules at 2026-01-01 00:30:00 UTC: 0 failed, 0 alerts created, 3 duplicates"
        ),
        "{err}"
    );
    let logged = err
        .lines()
        .find(|line| line.contains(&format!("rule_id={}", setup.rule_id)))
        .unwrap_or_else(|| panic!("no execution log line: {err}"));
    assert!(
        logged.contains(&format!("rule_name=Ops {}", setup.rule_id)),
        "the log line names the rule: {logged}"
    );
}

#[test]
fn run_once_against_a_server_that_is_down_exits_2_and_names_the_cause_once() {
    let work = tempfile::tempdir().expect("a temporary folder");
    write_rule(work.path(), "down", "logs-*", "5m", "now-6m", 100);
    let (output, out, err) =
        run(lookout(work.path()).args(["run", "--once", "--es-url", CLOSED, "--log-level", "off"]));
    assert_eq!(output.status.code(), Some(2), "{out}{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("lookout: "), "{err}");
    assert!(last.contains("127.0.0.1:9"), "{err}");
    assert_eq!(
        last.matches("Connection refused").count(),
        1,
        "the cause once: {last}"
    );
}

/// Runs `command` with stdout a pipe nobody reads any more (as `| head` leaves it).
fn with_closed_stdout(command: &mut Command) -> (Output, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = command.stdout(writer).output().expect("lookout runs");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, err)
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-pipe", 2);
    let rule_file = setup.rule_file();
    let commands: [Vec<&str>; 6] = [
        vec!["generate", "--count", "10"],
        vec!["alerts"],
        vec!["validate"],
        vec!["status"],
        vec!["rules"],
        [&["test", &rule_file][..], &WINDOW].concat(),
    ];
    for args in commands {
        let (output, err) = with_closed_stdout(setup.lookout(&server).args(&args));
        assert!(!err.contains("panicked"), "lookout {args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "lookout {args:?}: {err}");
        assert_eq!(output.status.code(), Some(0), "lookout {args:?}: {err}");
    }
}

#[test]
fn a_misspelled_key_is_named_with_its_likely_meaning_by_every_command_that_loads_the_rule() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-typo", 1);
    setup.edit_rule(|rule| {
        rule.replace(
            "max_signals",
            "timestamp_overide = \"event.ingested\"\nmax_signals",
        )
    });
    let hint = "unknown key `rule.timestamp_overide` (did you mean `rule.timestamp_override`?)";

    let (output, out, _) = run(setup.lookout(&server).arg("validate"));
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains(hint), "{out}");
    let (output, out, _) = run(setup.lookout(&server).args(["validate", "--strict"]));
    assert_eq!(
        output.status.code(),
        Some(1),
        "warnings fail under --strict: {out}"
    );

    let rule_file = setup.rule_file();
    let commands: [Vec<&str>; 4] = [
        [&["test", &rule_file][..], &WINDOW].concat(),
        vec!["translate", &rule_file],
        vec!["rules"],
        vec!["run", "--once", "--now", "2026-01-01T00:30:00Z"],
    ];
    for args in commands {
        let (output, out, err) = run(setup.lookout(&server).args(&args));
        assert!(output.status.success(), "lookout {args:?}: {out}{err}");
        assert!(err.contains(hint), "lookout {args:?} does not warn: {err}");
    }
}

#[test]
fn a_field_no_index_maps_is_named_by_every_command_with_a_server_at_hand() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-field", 1);
    let path = setup.dir().join(setup.rule_file());
    let rule = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, rule.replace("event.action:", "event.actoin:")).expect("write");
    let missing = format!(
        "not in the mapping of {}: event.actoin (the query cannot match on them)",
        setup.source
    );

    let (output, out, err) = run(lookout(setup.dir()).arg("validate"));
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert!(!out.contains("event.actoin"), "no server, no check: {out}");
    let (output, out, _) = run(setup.lookout(&server).args(["validate", "--server"]));
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains(&missing), "{out}");
    assert!(out.contains(": warning: rule "), "{out}");
    let (output, out, _) =
        run(setup
            .lookout(&server)
            .args(["validate", "--strict", "--es-url", &server.url]));
    assert_eq!(output.status.code(), Some(1), "{out}");

    let rule_file = setup.rule_file();
    let commands: [Vec<&str>; 3] = [
        [&["test", &rule_file][..], &WINDOW].concat(),
        vec!["translate", &rule_file],
        vec!["run", "--once", "--now", "2026-01-01T00:30:00Z"],
    ];
    for args in commands {
        let (output, out, err) = run(setup.lookout(&server).args(&args));
        assert!(output.status.success(), "lookout {args:?}: {out}{err}");
        assert!(
            err.contains(&missing),
            "lookout {args:?} does not say: {err}"
        );
    }

    let absent = unique_name("first-field-absent");
    std::fs::write(&path, rule.replace(&setup.source, &absent)).expect("write");
    let (_, out, _) = run(setup.lookout(&server).args(["validate", "--server"]));
    assert!(
        out.contains(&format!("its index patterns {absent} match no index")),
        "{out}"
    );
}

#[test]
fn test_rules_and_status_print_json_a_script_can_read() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-json", 3);
    let rule_file = setup.rule_file();
    let (output, out, err) = run(setup
        .lookout(&server)
        .args([&["test", &rule_file, "--format", "json"][..], &WINDOW].concat()));
    assert!(output.status.success(), "{out}{err}");
    let dry = json(&out);
    let events = dry["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{dry}");
    for event in events {
        assert_eq!(event["_index"], setup.source.as_str(), "{event}");
        assert!(event["_id"].is_string(), "{event}");
        assert_eq!(event["_source"]["event"]["action"], "AddUserToGroup");
    }
    assert_eq!(dry["alerts"]["new"], 3, "{dry}");

    let (output, out, err) =
        run(setup
            .lookout(&server)
            .args(["run", "--once", "--now", "2026-01-01T00:30:00Z"]));
    assert!(output.status.success(), "{out}{err}");

    let (output, out, err) = run(setup.lookout(&server).args(["rules", "--format", "json"]));
    assert!(output.status.success(), "{out}{err}");
    let rules = json(&out);
    assert_eq!(rules["state_available"], true);
    let rule = &rules["rules"][0];
    assert_eq!(rule["rule_id"], setup.rule_id.as_str(), "{rules}");
    assert_eq!(rule["schedule"], "every 5m");
    assert_eq!(rule["last_status"], "succeeded");
    assert_eq!(rule["last_execution_at"], "2026-01-01T00:30:00Z");
    assert_eq!(rule["alerts"], 3);
    // Its last execution is more than an interval ago: the daemon runs it within its start ramp.
    assert_eq!(rule["next_run"], "due: within 10s of start", "{rules}");

    let (output, out, err) = run(setup.lookout(&server).args(["status", "--format", "json"]));
    assert!(output.status.success(), "{out}{err}");
    let status = json(&out);
    assert_eq!(status["server"]["reachable"], true, "{status}");
    assert_eq!(status["indices"][0]["documents"], 3, "{status}");
    assert_eq!(status["rules"]["loaded"], 1, "{status}");
    assert_eq!(status["executions_last_hour"]["failed"], 0, "{status}");
}

#[test]
fn rules_lists_the_files_when_the_server_is_down_and_says_so_once() {
    let work = tempfile::tempdir().expect("a temporary folder");
    write_rule(work.path(), "offline", "logs-*", "5m", "now-6m", 100);
    let (output, out, err) = run(lookout(work.path()).args(["rules", "--es-url", CLOSED]));
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    let row = out
        .lines()
        .find(|line| line.starts_with("offline"))
        .unwrap_or_else(|| panic!("no row: {out}"));
    assert!(
        row.contains("every 5m") && row.contains("unavailable"),
        "{row}"
    );
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("lookout:")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains("state is unavailable") && said[0].contains("127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn alerts_lists_the_latest_alerts_with_filters_as_a_table_or_json() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-alerts", 3);
    let (output, out, err) =
        run(setup
            .lookout(&server)
            .args(["run", "--once", "--now", "2026-01-01T00:30:00Z"]));
    assert!(output.status.success(), "{out}{err}");
    block(server.refresh(&format!("{}-alerts", setup.base)));

    let (output, out, err) = run(setup.lookout(&server).arg("alerts"));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.starts_with("TIME"), "{out}");
    assert!(out.contains("Ops first-alerts-rule"), "{out}");
    assert!(
        out.contains("AddUserToGroup") && out.contains("event.action"),
        "{out}"
    );
    assert!(out.contains("3 alerts (newest first)"), "{out}");

    let filtered = |extra: &[&str]| -> Value {
        let (output, out, err) = run(setup
            .lookout(&server)
            .args([&["alerts", "--format", "json"][..], extra].concat()));
        assert!(output.status.success(), "{out}{err}");
        json(&out)
    };
    let all = filtered(&["--rule", &setup.rule_id, "--limit", "2"]);
    let alerts = all["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 2, "{all}");
    assert_eq!(alerts[0]["rule_id"], setup.rule_id.as_str());
    assert_eq!(alerts[0]["severity"], "low");
    assert_eq!(alerts[0]["fields"]["event.action"], "AddUserToGroup");
    assert!(alerts[0]["_id"].is_string() && alerts[0]["_index"].is_string());
    let none = |extra: &[&str]| filtered(extra)["alerts"].as_array().map_or(0, Vec::len);
    assert_eq!(none(&["--severity", "high"]), 0, "the rule is low");
    assert_eq!(none(&["--rule", "another-rule"]), 0);
    assert_eq!(
        none(&[
            "--from",
            "2026-01-01T01:00:00Z",
            "--to",
            "2026-01-02T00:00:00Z"
        ]),
        0
    );
    assert_eq!(none(&WINDOW), 3);
}

#[test]
fn test_explain_shows_the_request_and_the_clause_that_matches_nothing() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-explain", 4);
    setup.edit_rule(|rule| {
        let narrowed = rule.replace(
            "query = 'event.action: \"AddUserToGroup\"'",
            "query = 'event.action: \"AddUserToGroup\" and event.outcome: failure'",
        );
        assert_ne!(narrowed, rule, "the query is narrowed");
        narrowed
    });
    let rule_file = setup.rule_file();
    let (output, out, err) = run(setup
        .lookout(&server)
        .args([&["test", &rule_file][..], &WINDOW, &["--explain"]].concat()));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("request: "), "{out}");
    assert!(
        out.contains("\"2026-01-01T00:00:00.000Z\""),
        "the window is in the request: {out}"
    );
    let counts: Vec<(u64, &str)> = out
        .lines()
        .skip_while(|line| !line.starts_with("events of the window each clause"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(|line| {
            let (n, label) = line
                .trim_start()
                .split_once("  ")
                .expect("count and clause");
            (n.parse().expect("a count"), label)
        })
        .collect();
    assert_eq!(counts.len(), 4, "{out}");
    assert_eq!(counts[0].0, 4, "events of the window: {out}");
    assert_eq!(counts[1].0, 4, "the action clause: {out}");
    assert!(
        counts[2].1.contains("failure") && counts[2].1.ends_with("<- matches nothing"),
        "{out}"
    );
    assert_eq!(counts[2].0, 0);
    assert_eq!(counts[3].0, 0, "the whole query: {out}");
    assert!(out.contains("matching events: 0"), "{out}");
}

#[test]
fn a_configuration_file_with_mistakes_names_each_one_on_its_own_line() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let path = work.path().join("lookout.toml");
    std::fs::write(
        &path,
        "[elasticsearch]\nurll = \"http://x\"\nrequest_timout = \"30s\"\n",
    )
    .expect("write");
    let (output, _, err) = run(lookout(work.path()).args(["status", "--config"]).arg(&path));
    assert_eq!(output.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("lookout: ") && lines[0].contains("lookout.toml:2:1: unknown key `elasticsearch.urll` (did you mean `elasticsearch.url`?)"), "{err}");
    assert!(
        lines[1].contains("lookout.toml:3:1: unknown key `elasticsearch.request_timout`"),
        "{err}"
    );
}

#[test]
fn an_https_url_to_a_plain_http_server_says_the_server_does_not_speak_tls() {
    let server = TestServer::connect();
    let (plain, _) = ops::split_userinfo(&server.url);
    let Some(rest) = plain.strip_prefix("http://") else {
        integration_tests::server::skip("the test server already speaks TLS");
        return;
    };
    let work = tempfile::tempdir().expect("a temporary folder");
    let (output, out, err) =
        run(lookout(work.path()).args(["status", "--es-url", &format!("https://{rest}")]));
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    // A server answers a TLS hello in plain HTTP (Elasticsearch) or closes the connection.
    assert!(out.contains("does not speak TLS"), "{out}");
    assert!(out.contains("http:// URL"), "{out}");
    assert!(!out.contains("InvalidContentType"), "{out}");
}

#[test]
fn backfill_reports_progress_and_a_summary_without_a_log_line_per_chunk() {
    let server = TestServer::connect();
    let setup = Setup::new(&server, "first-backfill", 2);
    let backfill = ["backfill", "--rule", &setup.rule_id];
    let (output, out, err) = run(setup
        .lookout(&server)
        .args([&backfill[..], &WINDOW].concat()));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("12 chunks run"), "{out}");
    assert!(out.contains("2 alerts created"), "{out}");
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("backfill: "))
        .collect();
    // The first chunk, each new tenth (the 12 chunks cross 9 of them after the first), the last.
    assert_eq!(progress.len(), 11, "not a progress line per chunk: {err}");
    assert!(progress[0].starts_with("backfill: 1/12 "), "{err}");
    assert!(progress[10].starts_with("backfill: 12/12 (100%)"), "{err}");
    assert!(
        !err.contains("rule execution"),
        "no log line per chunk: {err}"
    );
}

#[test]
fn test_on_a_threshold_rule_shows_the_groups_that_would_alert() {
    let server = TestServer::connect();
    if !block(require(&server, Capability::CompositeAggregation)) {
        return;
    }
    let setup = Setup::new(&server, "first-threshold", 3);
    setup.edit_rule(|rule| {
        rule.replace("type = \"query\"", "type = \"threshold\"")
            + "\n[rule.threshold]\nfield = [\"user.name\"]\nvalue = 2\n"
    });
    let rule_file = setup.rule_file();
    let (output, out, err) = run(setup
        .lookout(&server)
        .args([&["test", &rule_file][..], &WINDOW].concat()));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("groups that reach the threshold: 1"), "{out}");
    let user = add_user_events(1, at("2026-01-01T00:20:00Z"))[0]["user"]["name"]
        .as_str()
        .expect("the sample names a user")
        .to_string();
    assert!(
        out.contains(&format!("       3 events  user.name={user}")),
        "{out}"
    );
    assert!(!out.contains("not estimated"), "{out}");
}

#[test]
fn test_on_a_new_terms_rule_shows_the_new_terms_with_their_counts_as_text_and_json() {
    let server = TestServer::connect();
    // Three events of the sample's user in the window (00:20), one of them also in the history
    // (the day before): not new. Two events of a newcomer in the window: one new term.
    let setup = Setup::new(&server, "first-new-terms", 3);
    let known = add_user_events(1, at("2025-12-31T12:00:00Z"));
    let mut newcomer = add_user_events(2, at("2026-01-01T00:30:00Z"));
    for event in &mut newcomer {
        event["user"]["name"] = "newcomer".into();
    }
    block(server.bulk_create(&setup.source, &[known, newcomer].concat()));
    setup.edit_rule(|rule| {
        rule.replace("type = \"query\"", "type = \"new_terms\"")
            + "\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\"]\n\
               [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\n\
               value = \"now-1d\"\n"
    });
    let rule_file = setup.rule_file();
    let test = [&["test", &rule_file][..], &WINDOW].concat();
    let (output, out, err) = run(setup.lookout(&server).args(&test));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("matching events: 5"), "{out}");
    if !block(server.has(Capability::CompositeAggregation)) {
        // New terms are found with a composite aggregation: without it the events are still
        // listed, and the reason the new terms are not is given.
        assert!(out.contains("alerts: new terms not estimated: "), "{out}");
        let (output, out, err) = run(setup
            .lookout(&server)
            .args([&test[..], &["--format", "json"]].concat()));
        assert!(output.status.success(), "{out}{err}");
        assert!(json(&out)["new_terms_error"].is_string(), "{out}");
        integration_tests::server::skip(
            "the rest of the new-terms preview: the server lacks the composite aggregation",
        );
        return;
    }
    assert!(
        out.contains("that the history window does not hold): 1\n"),
        "{out}"
    );
    assert!(
        out.contains("       2 events  user.name=newcomer  (first: "),
        "{out}"
    );
    assert!(
        out.contains("alerts an execution would create: 1\n"),
        "{out}"
    );
    assert!(!out.contains("not estimated"), "{out}");

    let (output, out, err) = run(setup
        .lookout(&server)
        .args([&test[..], &["--format", "json"]].concat()));
    assert!(output.status.success(), "{out}{err}");
    let answer = json(&out);
    let terms = answer["new_terms"].as_array().expect("new_terms is a list");
    assert_eq!(terms.len(), 1, "{out}");
    assert_eq!(
        terms[0]["values"],
        serde_json::json!({"user.name": "newcomer"})
    );
    assert_eq!(terms[0]["events"], 2);
    assert_eq!(terms[0]["first"]["_index"], setup.source.as_str());
    assert_eq!(answer["new_terms_more"], false);
    assert_eq!(answer["alerts"]["new"], 1, "{out}");

    // After a run, the alert exists and the preview says so.
    let (output, out, err) = run(setup.lookout(&server).args([
        "backfill",
        "--rule",
        &setup.rule_id,
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T01:00:00Z",
    ]));
    assert!(output.status.success(), "{out}{err}");
    let (output, out, err) = run(setup.lookout(&server).args(&test));
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("alerts that already exist: 1\n"), "{out}");
    assert!(
        out.contains("alerts an execution would create: 0\n"),
        "{out}"
    );
}

#[test]
fn test_and_translate_on_a_rule_whose_indices_match_nothing_ask_for_field_types_once() {
    let server = TestServer::connect();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the proxy");
    let proxy = runtime.block_on(Proxy::start(&server.url));
    let work = tempfile::tempdir().expect("a temporary folder");
    let rule_id = unique_name("first-no-index-rule");
    let nothing = unique_name("first-no-index-src");
    write_rule(work.path(), &rule_id, &nothing, "5m", "now-1h", 100);
    let rule_file = format!("rules/{rule_id}.toml");
    let field_caps = || {
        (proxy.requests().iter())
            .filter(|request| request.contains("_field_caps"))
            .count()
    };
    let base = unique_name("first-no-index");
    let (output, out, err) = run(against(work.path(), &server, &base)
        .env("LOOKOUT_ES_URL", proxy.url())
        .args([&["test", &rule_file][..], &WINDOW].concat()));
    assert!(output.status.success(), "{out}{err}");
    assert!(err.contains("matches no index"), "{err}");
    assert_eq!(field_caps(), 1, "{:?}", proxy.requests());

    let (output, out, err) = run(against(work.path(), &server, &base)
        .env("LOOKOUT_ES_URL", proxy.url())
        .args(["translate", &rule_file]));
    assert!(output.status.success(), "{out}{err}");
    assert!(err.contains("no index matches"), "{err}");
    assert_eq!(field_caps(), 2, "{:?}", proxy.requests());
}
