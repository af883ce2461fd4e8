//! Exception lists as files through the engine against the live server: a rule naming a list
//! in the detection-rules format and one in Kibana's export format never alerts on an event an
//! item covers (match, match_any, wildcard, exists with `excluded`, a value list, nested,
//! os_types), alerts on the others (an expired item no longer applies; a nested item needs one
//! object to match all its entries), and without its lists the rule does not load:
//! `lookout validate` names the rule and the list.

mod engine_support;
mod types_support;

use chrono::TimeDelta;
use engine_support::*;
use integration_tests::lookout_binary;
use integration_tests::server::{Capability, partly};
use lookout::ExecutionStatus;
use lookout_generator::EventSpec;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use types_support::*;

const RULE_ID: &str = "exceptions-rule";

/// The detection-rules exceptions-as-code file.
fn as_code(expired: &str) -> String {
    format!(
        r#"[metadata]
creation_date = "2026/01/01"
list_name = "Fidelity list"
rule_ids = ["{RULE_ID}"]
rule_names = ["Failed logins"]
updated_date = "2026/01/01"

[[exceptions]]
[exceptions.container]
description = "Test list"
list_id = "fidelity-list"
name = "Fidelity list"
namespace_type = "single"
type = "detection"

[[exceptions.items]]
description = "match"
list_id = "fidelity-list"
name = "deployer"
type = "simple"
[[exceptions.items.entries]]
field = "user.name"
operator = "included"
type = "match"
value = "ci-deployer"

[[exceptions.items]]
description = "match_any"
name = "lab accounts"
type = "simple"
[[exceptions.items.entries]]
field = "cloud.account.id"
operator = "included"
type = "match_any"
value = ["111111111111", "222222222222"]

[[exceptions.items]]
description = "wildcard"
name = "scanners"
type = "simple"
[[exceptions.items.entries]]
field = "user_agent.original"
operator = "included"
type = "wildcard"
value = "*scanner*"

[[exceptions.items]]
description = "excluded exists: backups without a ticket"
name = "backups"
type = "simple"
[[exceptions.items.entries]]
field = "user.name"
operator = "included"
type = "match"
value = "svc-backup"
[[exceptions.items.entries]]
field = "labels.ticket"
operator = "excluded"
type = "exists"

[[exceptions.items]]
description = "value list"
name = "internal addresses"
type = "simple"
[[exceptions.items.entries]]
field = "source.ip"
operator = "included"
type = "list"
[exceptions.items.entries.list]
id = "fidelity_ips"
type = "ip"

[[exceptions.items]]
description = "expired"
expire_time = "{expired}"
name = "contractor"
type = "simple"
[[exceptions.items.entries]]
field = "user.name"
operator = "included"
type = "match"
value = "temp-contractor"
"#
    )
}

/// Kibana's export of a second list: a nested item and an item limited to Linux.
fn kibana_export() -> String {
    let lines = [
        json!({"list_id": "fidelity-export", "name": "Exported", "namespace_type": "single", "type": "detection", "description": "", "tags": [], "os_types": []}),
        json!({"list_id": "fidelity-export", "type": "simple", "name": "signed", "item_id": "signed", "namespace_type": "single",
               "entries": [{"field": "lookout_test.signatures", "type": "nested", "entries": [
                   {"field": "signer", "operator": "included", "type": "match", "value": "Elastic"},
                   {"field": "status", "operator": "included", "type": "match", "value": "trusted"}]}]}),
        json!({"list_id": "fidelity-export", "type": "simple", "name": "linux automation", "item_id": "linux", "namespace_type": "single",
               "os_types": ["linux"], "entries": [{"field": "user.name", "operator": "included", "type": "match", "value": "root-auto"}]}),
        json!({"exported_exception_list_count": 1, "exported_exception_list_item_count": 2}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn rule_text(index: &str) -> String {
    format!(
        r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout tests"]
description = "Failed console logins"
index = ["{index}"]
language = "kuery"
license = "Elastic License v2"
name = "Failed logins"
risk_score = 21
rule_id = "{RULE_ID}"
severity = "low"
type = "query"
query = "event.action: ConsoleLogin and event.outcome: failure"

[[rule.exceptions_list]]
id = "fidelity-list"
list_id = "fidelity-list"
namespace_type = "single"
type = "detection"

[[rule.exceptions_list]]
id = "fidelity-export"
list_id = "fidelity-export"
namespace_type = "single"
type = "detection"
"#
    )
}

/// A failed login marked `mark`, with fields set.
fn login(mark: &str, fields: &[(&str, Value)]) -> Value {
    let spec = EventSpec::new("ConsoleLogin").failed().with_user("someone");
    let mut doc = generated(&spec, t0() - minutes(2), mark);
    for (name, value) in fields {
        set_path(&mut doc, name, value.clone());
    }
    doc
}

/// Each event, and whether an item excepts it.
fn events() -> Vec<(Value, bool)> {
    let signed = |objects: Value| ("lookout_test.signatures", objects);
    vec![
        (login("plain", &[]), false),
        (login("match", &[("user.name", json!("ci-deployer"))]), true),
        (
            login("match-any", &[("cloud.account.id", json!("222222222222"))]),
            true,
        ),
        (
            login(
                "other-account",
                &[("cloud.account.id", json!("333333333333"))],
            ),
            false,
        ),
        (
            login(
                "wildcard",
                &[("user_agent.original", json!("nightly-scanner/1.0"))],
            ),
            true,
        ),
        (
            login(
                "wildcard-case",
                &[("user_agent.original", json!("Nightly-SCANNER"))],
            ),
            false,
        ),
        (
            login("backup-no-ticket", &[("user.name", json!("svc-backup"))]),
            true,
        ),
        (
            login(
                "backup-ticket",
                &[
                    ("user.name", json!("svc-backup")),
                    ("labels.ticket", json!("CHG-1")),
                ],
            ),
            false,
        ),
        (
            login("list-cidr", &[("source.ip", json!("10.9.9.7"))]),
            true,
        ),
        (
            login("list-address", &[("source.ip", json!("192.0.2.200"))]),
            true,
        ),
        (
            login("list-miss", &[("source.ip", json!("10.9.10.1"))]),
            false,
        ),
        (
            login("expired", &[("user.name", json!("temp-contractor"))]),
            false,
        ),
        (
            login(
                "nested",
                &[signed(json!([{"signer": "Elastic", "status": "trusted"}]))],
            ),
            true,
        ),
        (
            login(
                "nested-split",
                &[signed(
                    json!([{"signer": "Elastic", "status": "revoked"}, {"signer": "Other", "status": "trusted"}]),
                )],
            ),
            false,
        ),
        (
            login(
                "linux",
                &[
                    ("user.name", json!("root-auto")),
                    ("host.os.type", json!("linux")),
                ],
            ),
            true,
        ),
        (
            login(
                "windows",
                &[
                    ("user.name", json!("root-auto")),
                    ("host.os.type", json!("windows")),
                ],
            ),
            false,
        ),
    ]
}

/// The exception folder: both list files and the value list.
fn write_lists(folder: &Path) {
    let expired = iso(t0() - TimeDelta::days(1));
    std::fs::write(folder.join("fidelity_exceptions.toml"), as_code(&expired)).unwrap();
    std::fs::write(folder.join("exported.ndjson"), kibana_export()).unwrap();
    std::fs::write(
        folder.join("fidelity_ips.txt"),
        "10.9.9.0/24\n192.0.2.200\n",
    )
    .unwrap();
}

#[tokio::test]
async fn events_an_item_covers_never_alert_and_the_others_do() {
    let env = Env::new().await;
    let nested = json!({"properties": {"lookout_test": {"properties": {"signatures": {
        "type": "nested",
        "properties": {"signer": {"type": "keyword"}, "status": {"type": "keyword"}},
    }}}}});
    env.server
        .ok(
            elasticsearch::http::Method::Put,
            &format!("/{}/_mapping", env.source),
            Some(nested),
        )
        .await;
    let folder = tempfile::tempdir().unwrap();
    write_lists(folder.path());
    let catalog = lookout::ExceptionCatalog::load(&[folder.path().to_path_buf()]);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
    let path = folder.path().join("rule.toml");
    let (loaded, warnings) =
        lookout::parse_rule_bytes_with(&path, rule_text(&env.source).as_bytes(), &catalog)
            .expect("the rule loads with its lists");
    assert!(warnings.is_empty(), "{warnings:?}");
    let lookout::Loaded::Runnable(rule) = loaded else {
        panic!("a runnable rule");
    };
    let events = events();
    let docs: Vec<Value> = events.iter().map(|(doc, _)| doc.clone()).collect();
    env.index(&docs).await;

    let record = env.execute(&rule, t0()).await.record;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let alerts = env.alerts().await;
    let mut alerted: BTreeSet<String> = (alerts.iter())
        .map(|alert| alert["labels"]["mark"].as_str().unwrap().to_string())
        .collect();
    let mut expected: BTreeSet<String> = (events.iter())
        .filter(|(_, excepted)| !excepted)
        .map(|(doc, _)| doc["labels"]["mark"].as_str().unwrap().to_string())
        .collect();
    // The ip value list holds a CIDR prefix, which a server without them cannot search.
    let cidr = "the event the list's CIDR prefix covers is not checked";
    if !partly(&env.server, Capability::IpPrefixes, cidr).await {
        alerted.remove("list-cidr");
        expected.remove("list-cidr");
    }
    assert_eq!(alerted, expected);
    assert_eq!(
        alerts[0]["kibana.alert.rule.exceptions_list"],
        json!([
            {"id": "fidelity-list", "list_id": "fidelity-list", "namespace_type": "single", "type": "detection"},
            {"id": "fidelity-export", "list_id": "fidelity-export", "namespace_type": "single", "type": "detection"},
        ])
    );
}

#[test]
fn validate_refuses_a_rule_whose_list_is_missing_and_names_both() {
    let folder = tempfile::tempdir().unwrap();
    let rules = folder.path().join("rules");
    let lists = folder.path().join("lists");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(rules.join("rule.toml"), rule_text("logs-*")).unwrap();
    let validate = |exceptions: &Path| {
        std::process::Command::new(lookout_binary())
            .args(["validate", "--exceptions"])
            .arg(exceptions)
            .arg(&rules)
            .env_remove("LOOKOUT_CONFIG")
            .current_dir(folder.path())
            .output()
            .expect("lookout runs")
    };
    let without = validate(&lists);
    let stdout = String::from_utf8_lossy(&without.stdout);
    assert_eq!(without.status.code(), Some(1), "{stdout}");
    let rule_file = rules.join("rule.toml");
    assert!(
        stdout.contains(&format!(
            "{}:19:1: rule \"{RULE_ID}\" cannot run: exception list `fidelity-list`",
            rule_file.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("exception list `fidelity-export`"),
        "{stdout}"
    );
    write_lists(&lists);
    let with = validate(&lists);
    let stdout = String::from_utf8_lossy(&with.stdout);
    assert_eq!(with.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("exception lists: 2 (8 items)"), "{stdout}");
}
