//! The AWS CloudTrail EQL rules of the corpus (`../shared/corpus/detection-rules`: 27 in
//! `rules/integrations/aws/` and one building block in `rules_building_block/`) against the
//! generator's activity for them (`lookout_generator::aws_eql_scenarios`: the calls each rule looks
//! for, near misses, and ordinary read-only traffic around them), through the `lookout` binary
//! (`run --once`; lookout's own EQL path, as no test server has `_eql/search`): every rule alerts
//! on exactly the events planted for it and on nothing else, then a second process (a restart)
//! over the same and the next window adds nothing.

mod ops;

use chrono::TimeDelta;
use integration_tests::server::{Capability, partly};
use integration_tests::{TestServer, shared_dir, shared_file, unique_name};
use lookout_generator::{
    AWS_EQL_RULES, CATALOG, Generator, GeneratorConfig, LagModel, UNREACHABLE_AWS_EQL_RULES,
    aws_eql_scenarios,
};
use ops::{at, block, ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The instant the first `run --once` runs at.
const NOW: &str = "2026-01-01T01:00:00Z";
/// The sequence rule (its window reaches 30 minutes back; the others' 6 minutes).
const SEQUENCE_RULE: &str = "discovery_bedrock_model_recon_and_invocation_via_long_term_key";
const AWS_RULES_DIR: &str = "corpus/detection-rules/rules/integrations/aws";
const BUILDING_BLOCKS_DIR: &str = "corpus/detection-rules/rules_building_block";

fn rule_path(stem: &str) -> PathBuf {
    let aws = shared_dir().join(format!("{AWS_RULES_DIR}/{stem}.toml"));
    if aws.exists() {
        return aws;
    }
    shared_file(&format!("{BUILDING_BLOCKS_DIR}/{stem}.toml"))
}

fn table(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The EQL rules of a corpus folder that read CloudTrail, by file name without `.toml`.
fn cloudtrail_eql_rules(relative: &str) -> Vec<String> {
    let dir = shared_file(relative);
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .filter(|path| {
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // A text test first, so that only candidates are parsed (a candidate that does not
            // parse fails the test, naming the file).
            if !text.contains("language = \"eql\"") || !text.contains("logs-aws.cloudtrail") {
                return false;
            }
            let table = table(path);
            let rule = table.get("rule").and_then(|r| r.as_table());
            let index = rule.and_then(|r| r.get("index")).and_then(|i| i.as_array());
            let reads_cloudtrail = index.is_some_and(|i| {
                i.iter().any(|p| {
                    p.as_str()
                        .is_some_and(|p| p.starts_with("logs-aws.cloudtrail"))
                })
            });
            let language = rule
                .and_then(|r| r.get("language"))
                .and_then(|l| l.as_str());
            language == Some("eql") && reads_cloudtrail
        })
        .map(|path| {
            path.file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    found
}

/// Whether the rule's query holds a backslash (`"principal=\\*"`: a literal `*` in a wildcard).
fn escapes_wildcards(stem: &str) -> bool {
    let table = table(&rule_path(stem));
    table["rule"]["query"]
        .as_str()
        .is_some_and(|q| q.contains('\\'))
}

/// Copies the corpus rule into `dir/rules`, reading `index` only; returns its rule id.
fn install_rule(dir: &Path, stem: &str, index: &str) -> String {
    let mut table = table(&rule_path(stem));
    let rule = table
        .get_mut("rule")
        .and_then(|r| r.as_table_mut())
        .expect("a [rule] table");
    rule.insert("index".into(), toml::Value::Array(vec![index.into()]));
    let id = rule["rule_id"].as_str().expect("a rule_id").to_string();
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir rules");
    let text = toml::to_string(&table).expect("the rule serializes");
    std::fs::write(rules.join(format!("{stem}.toml")), text).expect("write the rule");
    id
}

/// `lookout run --once --now <now>` in `dir` with the test's indices, failing on a non-zero exit.
fn run_once(dir: &Path, server: &TestServer, base: &str, now: &str) {
    ok(dir, server, base, &["run", "--once", "--now", now]);
}

/// Every alert: (rule file, kind, event id), sorted; the kind is `shell`, `block` or `event`.
fn alerts(
    server: &TestServer,
    base: &str,
    stems: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let docs = block(server.all_docs(&format!("{base}-alerts")));
    let mut found: Vec<(String, String, String)> = (docs.iter())
        .map(|hit| {
            let alert = &hit["_source"];
            let kind = ops::eql_alert_kind(alert);
            let rule_id = alert["kibana.alert.rule.rule_id"].as_str().unwrap_or("?");
            let stem = stems.get(rule_id).map_or(rule_id, String::as_str);
            let event = alert["event"]["id"].as_str().unwrap_or("-");
            (stem.to_string(), kind.to_string(), event.to_string())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_corpus_has_the_28_aws_cloudtrail_eql_rules_the_generator_plants_activity_for() {
    let mut corpus = cloudtrail_eql_rules(AWS_RULES_DIR);
    assert_eq!(corpus.len(), 27, "{corpus:?}");
    let building_blocks = cloudtrail_eql_rules(BUILDING_BLOCKS_DIR);
    assert_eq!(building_blocks.len(), 1, "{building_blocks:?}");
    corpus.extend(building_blocks);
    corpus.sort();
    let mut planted: Vec<String> = AWS_EQL_RULES.iter().map(|r| r.to_string()).collect();
    planted.sort();
    assert_eq!(corpus, planted);
}

#[test]
fn each_aws_eql_rule_alerts_on_exactly_its_planted_events_and_never_twice_across_a_restart() {
    let server = TestServer::connect();
    let source = unique_name("logs-aws.cloudtrail-ops-eql-aws");
    block(server.create_cloudtrail_index(&source));
    let now = at(NOW);

    // Ordinary read-only traffic over the last half hour, none of which any rule looks for.
    let mut noise = GeneratorConfig::new(77, now - TimeDelta::minutes(30), now, 400);
    noise.actions = Some(
        CATALOG
            .iter()
            .filter(|def| def.read_only)
            .map(|def| def.name.to_string())
            .collect(),
    );
    noise.lag = LagModel::none();
    noise.ingested_not_after = Some(now);
    let mut docs: Vec<Value> = Generator::new(noise)
        .expect("a valid configuration")
        .documents()
        .collect();

    // The activity: the sequence's scenario 25 minutes back (its near miss waits 16 minutes),
    // every other one 5 minutes back, inside every rule's first window.
    let mut want: Vec<(String, String, String)> = Vec::new();
    for scenario in aws_eql_scenarios() {
        let start = if scenario.rule == SEQUENCE_RULE {
            now - TimeDelta::minutes(25)
        } else {
            now - TimeDelta::minutes(5)
        };
        for event in scenario.events(start) {
            let doc = event.to_document();
            let id = doc["event"]["id"]
                .as_str()
                .expect("an event id")
                .to_string();
            if let Some(rule) = event.planted_for {
                let kind = if rule == SEQUENCE_RULE {
                    "block"
                } else {
                    "event"
                };
                want.push((rule.to_string(), kind.to_string(), id));
            }
            docs.push(doc);
        }
    }
    want.push((SEQUENCE_RULE.to_string(), "shell".into(), "-".into()));
    want.sort();
    block(server.bulk_create(&source, &docs));

    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let stems: BTreeMap<String, String> = AWS_EQL_RULES
        .iter()
        .map(|stem| (install_rule(dir, stem, &source), stem.to_string()))
        .collect();
    let base = unique_name("ops-eql-aws");

    // A server whose wildcard queries take a backslash as itself cannot tell `principal=*`
    // from `principal=123`: the rules that escape a `*` are left out of the comparison there.
    let escaping: Vec<&str> = AWS_EQL_RULES
        .into_iter()
        .filter(|stem| escapes_wildcards(stem))
        .collect();
    assert_eq!(escaping.len(), 3, "{escaping:?}");
    let left_out = format!("not compared: {}", escaping.join(", "));
    if !block(partly(&server, Capability::WildcardEscapes, &left_out)) {
        want.retain(|a| !escaping.contains(&a.0.as_str()));
    }
    let compared = |found: Vec<(String, String, String)>| -> Vec<(String, String, String)> {
        (found.into_iter())
            .filter(|a| want.iter().any(|w| w.0 == a.0) || !escaping.contains(&a.0.as_str()))
            .collect()
    };

    run_once(dir, &server, &base, NOW);
    let got = compared(alerts(&server, &base, &stems));
    let alerting: std::collections::BTreeSet<&str> = got.iter().map(|a| a.0.as_str()).collect();
    eprintln!(
        "aws eql: {} rules, {} documents, {} alerts from {} rules; {} rules cannot alert ({})",
        AWS_EQL_RULES.len(),
        docs.len(),
        got.len(),
        alerting.len(),
        UNREACHABLE_AWS_EQL_RULES.len(),
        UNREACHABLE_AWS_EQL_RULES.map(|(rule, _)| rule).join(", ")
    );
    assert_eq!(got, want);
    let reachable = AWS_EQL_RULES.len() - UNREACHABLE_AWS_EQL_RULES.len();
    if want.iter().any(|w| escaping.contains(&w.0.as_str())) {
        assert_eq!(alerting.len(), reachable);
    }

    // A new process (a restart) over the same window, then the next one: nothing twice.
    run_once(dir, &server, &base, NOW);
    run_once(dir, &server, &base, "2026-01-01T01:05:00Z");
    assert_eq!(compared(alerts(&server, &base, &stems)), want);
}
