//! Every threshold, new terms and indicator match rule of Elastic's public corpus: each
//! non-deprecated one builds its requests (rule query typed with the real CloudTrail mapping,
//! type-specific aggregations, indicator query and event clause), and the ones whose type fields
//! exist in the CloudTrail mapping execute through the engine on the live server without error.
//! Prints the numbers for the AWS CloudTrail rules of these types.

mod engine_support;
mod types_support;

use elasticsearch::http::Method;
use engine_support::*;
use integration_tests::server::{Capability, require_all};
use integration_tests::{ecs_samples, read_json, shared_file, unique_name};
use lookout::Hit;
use lookout::kql::FieldMap;
use lookout::{Kind, Rule, RuleType};
use serde_json::{Value, json};

/// Non-deprecated rules of the three types in the corpus (new_terms 241, threshold 28,
/// threat_match 6).
const EXPECTED: [(RuleType, usize); 3] = [
    (RuleType::NewTerms, 241),
    (RuleType::Threshold, 28),
    (RuleType::ThreatMatch, 6),
];

/// Whether the rule is of one of the three types.
fn of_the_three_types(rule: &Rule) -> bool {
    matches!(
        rule.kind,
        Kind::Threshold(..) | Kind::NewTerms(..) | Kind::ThreatMatch(..)
    )
}

fn corpus_rules() -> Vec<Rule> {
    let report = lookout::load_paths(&[shared_file("corpus/detection-rules")]);
    report
        .rules
        .into_iter()
        .filter(|rule| of_the_three_types(rule) && !rule.is_deprecated())
        .collect()
}

fn cloudtrail_fields() -> FieldMap {
    let template = read_json(&shared_file(
        "fixtures/cloudtrail/index-template.opensearch.json",
    ));
    FieldMap::from_mappings(&template)
}

/// The event fields a rule's type needs (group, cardinality, new-terms and mapping fields).
fn type_fields(rule: &Rule) -> Vec<String> {
    match &rule.kind {
        Kind::Threshold(_, params) => {
            let mut fields = params.field.clone();
            fields.extend(params.cardinality.iter().map(|c| c.field.clone()));
            fields
        }
        Kind::NewTerms(_, params) => params.fields.clone(),
        Kind::ThreatMatch(_, params) => params
            .threat_mapping
            .iter()
            .flat_map(|m| m.entries.iter().map(|e| e.field.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// An indicator holding "x" in every indicator field the rule maps; address fields also hold
/// the address of the CloudTrail samples (127.0.0.1), next to the "x" they cannot hold.
fn synthetic_indicator(rule: &Rule) -> Hit {
    let mut source = json!({});
    if let Kind::ThreatMatch(_, params) = &rule.kind {
        for entry in params.threat_mapping.iter().flat_map(|m| &m.entries) {
            let value = if entry.value.ends_with(".ip") {
                json!(["x", "127.0.0.1"])
            } else {
                json!("x")
            };
            types_support::set_path(&mut source, &entry.value, value);
        }
    }
    Hit {
        index: "ti".into(),
        id: "1".into(),
        source,
        sort: Vec::new(),
    }
}

/// Every search the rule sends, typed with the CloudTrail fields; an error names the rule file.
fn build_requests(rule: &Rule, fields: &FieldMap) -> Result<Vec<Value>, String> {
    let name = rule.path.display();
    let window = lookout::Window {
        from: t0() - minutes(6),
        to: t0(),
    };
    let searches = lookout::planned_searches(rule, Some(fields), window);
    let expected = match rule.kind {
        // The signal history, then the groups.
        Kind::Threshold(..) => 2,
        // The window's terms, then the history of a candidate.
        Kind::NewTerms(..) => 2,
        // The indicators, then the events of an indicator.
        Kind::ThreatMatch(..) => 2,
        Kind::Query(_) => 1,
        Kind::Eql(_) => {
            return Err(format!(
                "{name}: EQL rules have their own tests (types_eql)"
            ));
        }
    };
    if searches.len() != expected {
        return Err(format!(
            "{name}: {} searches, {expected} expected",
            searches.len()
        ));
    }
    match searches
        .iter()
        .find(|search| !search.body["query"].is_object())
    {
        Some(search) => Err(format!("{name}: no query in {}", search.body)),
        None => Ok(searches.into_iter().map(|search| search.body).collect()),
    }
}

#[test]
fn every_corpus_rule_of_the_three_types_builds_its_requests() {
    let rules = corpus_rules();
    for (rule_type, expected) in EXPECTED {
        let found = rules.iter().filter(|r| r.rule_type() == rule_type).count();
        assert_eq!(found, expected, "{rule_type:?}");
    }
    let fields = cloudtrail_fields();
    let failures: Vec<String> = rules
        .iter()
        .filter_map(|rule| build_requests(rule, &fields).err())
        .collect();
    assert_eq!(failures, Vec::<String>::new());
}

#[test]
fn the_daemon_schedules_every_enabled_rule_of_the_three_types() {
    let config = lookout::RulesConfig {
        folders: vec![shared_file("corpus/detection-rules")],
        exception_folders: vec![integration_tests::exception_fixtures()],
        include_deprecated: false,
    };
    let set = lookout::load_rules(&config);
    let scheduled = set
        .runnable
        .iter()
        .filter(|r| of_the_three_types(r))
        .count();
    let enabled = corpus_rules().iter().filter(|r| r.meta.enabled).count();
    assert_eq!(scheduled, enabled);
    assert!(
        !set.skipped
            .iter()
            .any(|line| ["threshold", "new_terms", "threat_match"]
                .iter()
                .any(|t| line.contains(&format!(": {t} rules ")))),
        "{:?}",
        set.skipped
    );
}

fn is_aws_cloudtrail(rule: &Rule) -> bool {
    rule.search
        .index
        .iter()
        .any(|i| i.contains("aws.cloudtrail"))
        || rule.kind.query().text().contains("aws.cloudtrail")
}

/// An indicator index with one indicator per mapped indicator field of every corpus rule.
async fn indicators(env: &Env, rules: &[Rule]) -> String {
    let index = unique_name("logs-ti-corpus");
    let mut docs = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| r.rule_type() == RuleType::ThreatMatch)
    {
        let mut doc = synthetic_indicator(rule).source;
        // The corpus threat queries hold `@timestamp >= "now-30d/d"`, resolved by the server.
        doc["@timestamp"] = json!(iso(chrono::Utc::now() - minutes(60)));
        // Passes every corpus threat query and filter (`event.module: (threatintel or ti_*)`,
        // `event.module: ti_rapid7_threat_command`, category/kind/type filters).
        doc["event"] = json!({"module": "ti_rapid7_threat_command", "category": "threat",
            "kind": "enrichment", "type": "indicator"});
        doc["vulnerability"] = json!({"id": "CVE-2026-0001"});
        docs.push(doc);
    }
    env.server
        .ok(Method::Put, &format!("/{index}"), Some(json!({})))
        .await;
    env.server.bulk_create(&index, &docs).await;
    index
}

/// Corpus rules the CloudTrail index cannot serve, with the server's reason: their query has a
/// nested KQL clause (`field: { ... }`) on an object the CloudTrail mapping does not map as
/// `nested`. On their own indices they run.
const NOT_SERVABLE_HERE: [(&str, &str); 1] = [(
    "persistence_gcp_service_account_impersonation_role_grant.toml",
    "failed to find nested object under path",
)];

#[tokio::test]
async fn corpus_rules_execute_on_the_cloudtrail_mapping_without_error() {
    let needs = [Capability::CompositeAggregation, Capability::ZuluTimeZone];
    if !require_all(&needs).await {
        return;
    }
    let env = Env::new().await;
    let mut samples = ecs_samples();
    for (n, doc) in samples.iter_mut().enumerate() {
        let offset = if n % 2 == 0 {
            minutes(2)
        } else {
            minutes(3 * 24 * 60)
        };
        doc["@timestamp"] = json!(iso(t0() - offset));
        doc["event"]["ingested"] = json!(iso(t0() - offset));
    }
    env.index(&samples).await;
    let fields = cloudtrail_fields();
    let rules = corpus_rules();
    let threat_index = indicators(&env, &rules).await;
    let mut ran = Vec::new();
    let mut failures = Vec::new();
    for rule in &rules {
        let mut here = rule.clone();
        here.search.index = vec![env.source.clone()];
        if let Kind::ThreatMatch(_, params) = &mut here.kind {
            params.threat_index = vec![threat_index.clone()];
        }
        let report = env.execute(&here, t0()).await;
        match &report.record.error {
            Some(error) => failures.push(format!("{}: {error}", rule.path.display())),
            None => ran.push(rule.clone()),
        }
    }
    print_numbers(&rules, &ran, &fields);
    let threat_alerts = env
        .alerts()
        .await
        .iter()
        .filter(|a| a["kibana.alert.rule.type"] == "threat_match")
        .count();
    println!("indicator match alerts on the CloudTrail samples: {threat_alerts}");
    assert!(
        threat_alerts > 0,
        "the address rule matches the samples' 127.0.0.1"
    );
    let unexpected: Vec<&String> = failures
        .iter()
        .filter(|f| {
            !NOT_SERVABLE_HERE
                .iter()
                .any(|(file, why)| f.contains(file) && f.contains(why))
        })
        .collect();
    assert_eq!(unexpected, Vec::<&String>::new());
    assert_eq!(failures.len(), NOT_SERVABLE_HERE.len(), "{failures:?}");
    let aws_ran = ran.iter().filter(|r| is_aws_cloudtrail(r)).count();
    let aws_total = rules.iter().filter(|r| is_aws_cloudtrail(r)).count();
    assert_eq!(
        aws_ran, aws_total,
        "every AWS CloudTrail rule of these types runs"
    );
}

/// Fields of the rule's type that the CloudTrail mapping lacks. A key inside a `flattened`
/// (OpenSearch: `flat_object`) field is mapped: every leaf is indexed as a keyword.
fn unmapped(rule: &Rule, fields: &FieldMap) -> Vec<String> {
    type_fields(rule)
        .into_iter()
        .filter(|f| fields.get(f).is_none() && !inside_flattened(f, fields))
        .collect()
}

fn inside_flattened(field: &str, fields: &FieldMap) -> bool {
    field.match_indices('.').any(|(at, _)| {
        fields.get(&field[..at]).is_some_and(|info| {
            info.types
                .iter()
                .any(|t| t == "flattened" || t == "flat_object")
        })
    })
}

fn print_numbers(rules: &[Rule], ran: &[Rule], fields: &FieldMap) {
    for rule_type in [
        RuleType::Threshold,
        RuleType::NewTerms,
        RuleType::ThreatMatch,
    ] {
        let of_type = |list: &[Rule], aws: bool| {
            list.iter()
                .filter(|r| r.rule_type() == rule_type && (!aws || is_aws_cloudtrail(r)))
                .count()
        };
        let mapped = rules
            .iter()
            .filter(|r| r.rule_type() == rule_type && unmapped(r, fields).is_empty())
            .count();
        println!(
            "{}: {} rules, {} ran without error, {} with every type field in the CloudTrail mapping; \
             AWS CloudTrail: {} of {} ran",
            rule_type.as_str(),
            of_type(rules, false),
            of_type(ran, false),
            mapped,
            of_type(ran, true),
            of_type(rules, true),
        );
    }
    for rule in rules.iter().filter(|r| is_aws_cloudtrail(r)) {
        let missing = unmapped(rule, fields);
        if !missing.is_empty() {
            println!(
                "AWS rule with unmapped fields: {}: {missing:?}",
                rule.path.display()
            );
        }
    }
}
