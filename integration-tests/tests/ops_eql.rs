//! EQL rules through the `lookout` binary against the live server (lookout's own EQL path: no
//! test server has `_eql/search`): `lookout test --format json` lists an event rule's events and
//! a sequence rule's sequences; `lookout run --once` alerts the planted events and sequence
//! exactly; run again (a new process: a restart), it alerts nothing twice.

mod ops;

use chrono::TimeDelta;
use integration_tests::{TestServer, unique_name};
use lookout_generator::EventSpec;
use ops::{at, block, ok};
use serde_json::{Value, json};
use std::path::Path;

/// The instant `run --once` runs at.
const NOW: &str = "2026-01-01T01:00:00Z";

fn event(action: &str, user: &str, seconds_before_now: i64, mark: &str) -> Value {
    let time = at(NOW) - TimeDelta::seconds(seconds_before_now);
    let mut doc = EventSpec::new(action)
        .with_user(user)
        .to_document(time, Some(time));
    doc["labels"] = json!({ "mark": mark });
    doc
}

fn write_eql_rule(dir: &Path, rule_id: &str, index: &str, query: &str) {
    write_eql_rule_with(dir, rule_id, index, query, "");
}

/// A rule with more lines of its `[rule]` table (`extra`, each ending in a newline).
fn write_eql_rule_with(dir: &Path, rule_id: &str, index: &str, query: &str, extra: &str) {
    let text = format!(
        "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\nupdated_date = \"2026/01/01\"\n\n\
         [rule]\nauthor = [\"lookout\"]\ndescription = \"EQL operator test rule.\"\nfrom = \"now-6m\"\n\
         index = [\"{index}\"]\ninterval = \"5m\"\nlanguage = \"eql\"\nname = \"EQL {rule_id}\"\n\
         risk_score = 21\nrule_id = \"{rule_id}\"\nseverity = \"low\"\ntype = \"eql\"\n\
         {extra}query = '''{query}'''\n"
    );
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir rules");
    std::fs::write(rules.join(format!("{rule_id}.toml")), text).expect("write the rule");
}

/// Every alert of the test: (rule id, kind of alert, mark), sorted; the kind is `shell`,
/// `block` or `event`.
fn alerts(server: &TestServer, base: &str) -> Vec<(String, String, String)> {
    let docs = block(server.all_docs(&format!("{base}-alerts")));
    let mut found: Vec<(String, String, String)> = (docs.iter())
        .map(|hit| {
            let alert = &hit["_source"];
            let kind = ops::eql_alert_kind(alert);
            let mark = alert["labels"]["mark"].as_str().unwrap_or("-");
            (
                alert["kibana.alert.rule.rule_id"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                kind.to_string(),
                mark.to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn ids(events: &Value) -> Vec<String> {
    (events.as_array().expect("a list").iter())
        .map(|event| event["_id"].as_str().expect("an _id").to_string())
        .collect()
}

#[test]
fn eql_rules_run_once_alert_exactly_their_events_and_sequences_and_never_twice() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-ops-eql");
    block(server.create_cloudtrail_index(&source));
    let planted = [
        event("CreateUser", "mallory", 200, "create"),
        event("AttachUserPolicy", "mallory", 100, "attach"),
        event("AttachUserPolicy", "bob", 50, "bob-attach"),
        event("DeleteUser", "carol", 30, "delete"),
    ];
    block(server.bulk_create(&source, &planted));
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let events_rule = unique_name("ops-eql-events");
    let sequence_rule = unique_name("ops-eql-seq");
    write_eql_rule(
        dir,
        &events_rule,
        &source,
        "any where event.action : \"*user\"",
    );
    write_eql_rule(
        dir,
        &sequence_rule,
        &source,
        "sequence by user.name with maxspan=5m [any where event.action == \"CreateUser\"] \
         [any where event.action == \"AttachUserPolicy\"]",
    );
    let base = unique_name("ops-eql");
    let window = [
        "--from",
        "2026-01-01T00:50:00Z",
        "--to",
        NOW,
        "--format",
        "json",
    ];

    let test = |rule: &str| -> Value {
        let file = format!("rules/{rule}.toml");
        let out = ok(
            dir,
            &server,
            &base,
            &[&["test", file.as_str()][..], &window].concat(),
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let events = test(&events_rule);
    assert_eq!(events["eql_path"], "local");
    let hits = ids(&events["events"]);
    assert_eq!(hits.len(), 2, "CreateUser and DeleteUser: {events}");
    assert!(hits.iter().all(|id| !id.is_empty()), "{events}");
    assert!(events.get("sequences").is_none());
    let sequences = test(&sequence_rule);
    let listed = sequences["sequences"].as_array().expect("sequences");
    assert_eq!(listed.len(), 1, "{sequences}");
    assert_eq!(ids(&listed[0]).len(), 2);
    assert_eq!(listed[0][0]["_index"], source.as_str());
    assert_eq!(sequences["alerts"]["new"], 1);

    ok(dir, &server, &base, &["run", "--once", "--now", NOW]);
    let mut want: Vec<(String, String, String)> = vec![
        (events_rule.clone(), "event".into(), "create".into()),
        (events_rule.clone(), "event".into(), "delete".into()),
        (sequence_rule.clone(), "block".into(), "attach".into()),
        (sequence_rule.clone(), "block".into(), "create".into()),
        (sequence_rule.clone(), "shell".into(), "-".into()),
    ];
    want.sort();
    assert_eq!(alerts(&server, &base), want);

    // A new process (a restart) over the same and the next window: nothing twice.
    ok(dir, &server, &base, &["run", "--once", "--now", NOW]);
    ok(
        dir,
        &server,
        &base,
        &["run", "--once", "--now", "2026-01-01T01:05:00Z"],
    );
    assert_eq!(alerts(&server, &base), want);
    let again = test(&sequence_rule);
    assert_eq!(again["alerts"]["existing"], 1);
    assert_eq!(again["alerts"]["new"], 0);
}

/// `_eql/search` picks a window's matches with the query's `| head N` / `| tail N` and its
/// `size` (max_signals), the most recent ones when nothing says otherwise; lookout's own path
/// picks the same ones: the last event for `| tail 1`, the first sequence for `| head 1`, the
/// last two events for max_signals 2; `lookout test` lists what the pipes keep.
#[test]
fn eql_pipes_and_max_signals_pick_the_matches_elasticsearch_returns_on_the_local_path() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-ops-eql-pipes");
    block(server.create_cloudtrail_index(&source));
    let planted = [
        event("CreateUser", "mallory", 240, "create-1"),
        event("AttachUserPolicy", "mallory", 200, "attach-1"),
        event("CreateUser", "bob", 150, "create-2"),
        event("AttachUserPolicy", "bob", 100, "attach-2"),
        event("CreateUser", "carol", 50, "create-3"),
    ];
    block(server.bulk_create(&source, &planted));
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let (tail, head, size) = (
        unique_name("ops-eql-tail"),
        unique_name("ops-eql-head"),
        unique_name("ops-eql-size"),
    );
    let creations = "any where event.action == \"CreateUser\"";
    write_eql_rule(dir, &tail, &source, &format!("{creations} | tail 1"));
    write_eql_rule(
        dir,
        &head,
        &source,
        "sequence by user.name with maxspan=5m [any where event.action == \"CreateUser\"] \
         [any where event.action == \"AttachUserPolicy\"] | head 1",
    );
    write_eql_rule_with(dir, &size, &source, creations, "max_signals = 2\n");
    let base = unique_name("ops-eql-pipes");
    ok(dir, &server, &base, &["run", "--once", "--now", NOW]);
    let mut want: Vec<(String, String, String)> = vec![
        (tail.clone(), "event".into(), "create-3".into()),
        (head.clone(), "block".into(), "create-1".into()),
        (head.clone(), "block".into(), "attach-1".into()),
        (head.clone(), "shell".into(), "-".into()),
        (size.clone(), "event".into(), "create-2".into()),
        (size.clone(), "event".into(), "create-3".into()),
    ];
    want.sort();
    assert_eq!(alerts(&server, &base), want);

    // `lookout test` lists what the pipes keep, as a run alerts it.
    let preview = |rule: &str| -> Value {
        let file = dir.join("rules").join(format!("{rule}.toml"));
        let file = file.to_str().expect("a UTF-8 path");
        let from = "2026-01-01T00:54:00Z";
        let args = [
            "test", file, "--from", from, "--to", NOW, "--format", "json",
        ];
        serde_json::from_str(&ok(dir, &server, &base, &args)).expect("JSON")
    };
    let mark = |event: &Value| event["_source"]["labels"]["mark"].clone();
    let tail_events = preview(&tail)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tail_marks: Vec<Value> = tail_events.iter().map(mark).collect();
    assert_eq!(tail_marks, vec![json!("create-3")], "{tail_events:?}");
    let head_preview = preview(&head);
    let sequences = head_preview["sequences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(sequences.len(), 1, "{head_preview}");
    let events = head_preview["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let head_marks: Vec<Value> = events.iter().map(mark).collect();
    assert_eq!(
        head_marks,
        vec![json!("create-1"), json!("attach-1")],
        "{head_preview}"
    );
}

/// A sample (`sample by`) runs on the local path as Elasticsearch documents it: per join key,
/// one event for each filter, in any order; Kibana alerts `_eql/search`'s samples (answered in
/// `hits.sequences`) as sequences: a shell alert plus one building block per event.
#[test]
fn a_sample_rule_alerts_each_join_keys_sample_as_a_shell_and_building_blocks_on_the_local_path() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-ops-eql-sample");
    block(server.create_cloudtrail_index(&source));
    let planted = [
        event("AttachUserPolicy", "mallory", 240, "attach-m"),
        event("CreateUser", "mallory", 200, "create-m"),
        event("CreateUser", "mallory", 150, "create-m2"),
        event("CreateUser", "bob", 100, "create-b"),
    ];
    block(server.bulk_create(&source, &planted));
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let rule = unique_name("ops-eql-sample");
    write_eql_rule(
        dir,
        &rule,
        &source,
        "sample by user.name [any where event.action == \"CreateUser\"] \
         [any where event.action == \"AttachUserPolicy\"]",
    );
    let base = unique_name("ops-eql-sample");
    ok(dir, &server, &base, &["run", "--once", "--now", NOW]);
    let mut want: Vec<(String, String, String)> = vec![
        (rule.clone(), "block".into(), "create-m".into()),
        (rule.clone(), "block".into(), "attach-m".into()),
        (rule.clone(), "shell".into(), "-".into()),
    ];
    want.sort();
    assert_eq!(alerts(&server, &base), want);
    ok(dir, &server, &base, &["run", "--once", "--now", NOW]);
    assert_eq!(
        alerts(&server, &base),
        want,
        "a restart alerts no sample twice"
    );
}

#[test]
fn the_shipped_eql_rule_finds_the_generators_mfa_registration_and_not_its_near_miss() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-ops-eql-mfa");
    block(server.create_cloudtrail_index(&source));
    // The generator's MFA activity: a role creates and enables a device (the sequence), then a
    // long-term key creates one and enables none (no sequence).
    let scenario =
        lookout_generator::scenario("persistence_aws_attempt_to_register_virtual_mfa_device")
            .expect("the generator has the MFA scenario");
    let events: Vec<Value> = (scenario.events(at(NOW) - TimeDelta::minutes(10)).iter())
        .enumerate()
        .map(|(n, event)| {
            let mut doc = event.to_document();
            doc["labels"] = json!({ "mark": format!("step-{n}") });
            doc
        })
        .collect();
    assert_eq!(events.len(), 3);
    block(server.bulk_create(&source, &events));
    // The project's rule file, reading the test's index.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rules/aws_iam_virtual_mfa_device_created_and_enabled.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped EQL rule");
    let text = text.replace(
        "index = [\"filebeat-*\", \"logs-aws.cloudtrail-*\"]",
        &format!("index = [\"{source}\"]"),
    );
    let work = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(work.path().join("mfa.toml"), text).expect("write the rule");
    let base = unique_name("ops-eql-mfa");
    let out = ok(
        work.path(),
        &server,
        &base,
        &[
            "test",
            "mfa.toml",
            "--from",
            "2026-01-01T00:40:00Z",
            "--to",
            NOW,
            "--format",
            "json",
        ],
    );
    let answer: Value = serde_json::from_str(&out).expect("one JSON object");
    let marks: Vec<Vec<&str>> = (answer["sequences"].as_array().expect("sequences").iter())
        .map(|sequence| {
            (sequence.as_array().expect("a sequence").iter())
                .map(|member| {
                    let event = (answer["events"].as_array().expect("events").iter())
                        .find(|event| event["_id"] == member["_id"])
                        .expect("each member is among the events");
                    event["_source"]["labels"]["mark"].as_str().expect("a mark")
                })
                .collect()
        })
        .collect();
    assert_eq!(marks, [["step-0", "step-1"]], "{out}");
}
