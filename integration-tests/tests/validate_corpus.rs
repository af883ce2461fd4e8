//! Loads the whole public detection-rules corpus (shared test data) and the project's own rules,
//! checking that every file loads and the counts per type, language and maturity. Needs no server.

use integration_tests::shared_file;
use lookout::{Kind, Language, RuleType};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The corpus with the exception list its Elastic Defend rules name (`endpoint_list`).
fn corpus_with_its_lists() -> lookout::LoadReport {
    let catalog = lookout::ExceptionCatalog::load(&[integration_tests::exception_fixtures()]);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
    lookout::load_paths_with(&[shared_file("corpus/detection-rules")], &catalog)
}

#[test]
fn without_its_exception_list_each_rule_naming_it_is_an_error_and_does_not_load() {
    let report = lookout::load_path(&shared_file("corpus/detection-rules"));
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors.len(),
        9,
        "one per [[rule.exceptions_list]] entry: {errors:?}"
    );
    for error in &errors {
        assert!(error.contains("rules/integrations/endpoint/"), "{error}");
        assert!(
            error.contains("cannot run: exception list `endpoint_list` is not loaded"),
            "{error}"
        );
    }
    assert_only_local_eql_notes(&report.warnings);
    assert_eq!(report.rules.len() + report.not_runnable.len(), 2192 - 9);
}

#[test]
fn every_corpus_rule_loads_without_problems_and_keeps_its_parameters() {
    let report = corpus_with_its_lists();
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, Vec::<String>::new());
    assert_only_local_eql_notes(&report.warnings);
    let with_lists = report
        .rules
        .iter()
        .filter(|r| !r.search.exceptions.is_empty());
    assert_eq!(with_lists.count(), 9);
    assert_eq!(report.rules.len() + report.not_runnable.len(), 2192);
    assert_eq!(
        report.rules.len(),
        793 + 1081,
        "query, threshold, new terms and indicator match rules in kuery or lucene, and EQL rules"
    );
    let eql = report
        .rules
        .iter()
        .filter(|r| r.rule_type() == RuleType::Eql);
    assert_eq!(eql.count(), 1081, "every EQL rule runs");

    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_language: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in report.summaries() {
        *by_type.entry(rule.rule_type.as_str()).or_default() += 1;
        *by_language.entry(rule.language.as_str()).or_default() += 1;
    }
    let expected_types = [
        ("eql", 1081),
        ("esql", 212),
        ("machine_learning", 106),
        ("new_terms", 245),
        ("query", 508),
        ("threat_match", 9),
        ("threshold", 31),
    ];
    assert_eq!(by_type, BTreeMap::from(expected_types));
    assert_eq!(by_language["lucene"], 1);
    let deprecated = report.summaries().iter().filter(|r| r.deprecated).count();
    assert_eq!(deprecated, 124);

    // Type-specific parameters are typed, not just kept as JSON.
    let threat_match = report
        .rules
        .iter()
        .find(|r| r.rule_type() == RuleType::ThreatMatch)
        .expect("the corpus has indicator-match rules");
    let Kind::ThreatMatch(_, params) = &threat_match.kind else {
        panic!(
            "threat_match rule without its parameters: {}",
            threat_match.path.display()
        );
    };
    assert!(!params.threat_mapping.is_empty());
    assert_eq!(params.threat_query.language(), Language::Kuery);
    // 23 rules of the corpus have alert suppression: 6 query rules, which lookout runs, and 17
    // ES|QL rules, which load as not runnable (a summary without their parameters).
    let with_suppression = report
        .rules
        .iter()
        .filter(|r| r.meta.details.alert_suppression.is_some());
    assert_eq!(with_suppression.count(), 6);
    let esql = report
        .not_runnable
        .iter()
        .filter(|r| r.rule_type == RuleType::Esql);
    assert_eq!(esql.count(), 212);
}

#[test]
fn the_project_rules_are_the_two_seed_rules_and_our_eql_sequence_on_their_current_schedule() {
    let rules_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let report = lookout::load_path(&rules_dir);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let mut ids: Vec<(&str, &str, Option<u64>)> = report
        .rules
        .iter()
        .map(|r| (r.rule_id.as_str(), r.name.as_str(), r.meta.version))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            (
                "169f3a93-efc7-4df2-94d6-0d9438c310d1",
                "AWS IAM Group Creation",
                Some(210)
            ),
            (
                "2c5d0897-0f93-4726-bdd7-962409a8e20b",
                "AWS IAM Virtual MFA Device Created and Enabled by One Identity",
                Some(1)
            ),
            (
                "333de828-8190-4cf5-8d7c-7575846f6fe0",
                "AWS IAM User Addition to Group",
                Some(212)
            ),
        ]
    );
    for rule in &report.rules {
        assert_eq!(rule.schedule.interval, chrono::TimeDelta::minutes(5));
        assert_eq!(rule.schedule.from.as_str(), "now-6m");
        assert_eq!(rule.max_signals, 100);
        assert_eq!(
            rule.search.timestamp.field.as_deref(),
            Some("event.ingested")
        );
        assert_eq!(rule.search.index, ["filebeat-*", "logs-aws.cloudtrail-*"]);
        assert!(matches!(rule.kind, Kind::Query(_) | Kind::Eql(_)));
        assert!(!rule.meta.threat.is_empty());
    }
}

/// The corpus loads without warnings: lookout's own EQL evaluation (servers without
/// `_eql/search`) runs its 3 sample queries and applies its 2 `| tail` pipes.
fn assert_only_local_eql_notes<T: ToString>(warnings: &[T]) {
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
