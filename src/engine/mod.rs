//! engine: runs rules. Being written.

pub mod clock;
pub mod plan;

#[cfg(test)]
pub(crate) fn test_rule(rule_id: &str) -> crate::rule::Rule {
    use crate::rule::datemath::DateMath;
    use crate::rule::{Language, Maturity, Rule, RuleType, Severity};
    Rule {
        path: format!("rules/{rule_id}.toml").into(),
        rule_id: rule_id.to_string(),
        name: format!("Test rule {rule_id}"),
        description: "A rule for tests".to_string(),
        rule_type: RuleType::Query,
        language: Language::Kuery,
        query: Some("event.action: AddUserToGroup".to_string()),
        index: vec!["logs-aws.cloudtrail-*".to_string()],
        interval: chrono::TimeDelta::minutes(5),
        from: DateMath::parse("now-6m").expect("valid date math"),
        to: DateMath::now(),
        max_signals: 100,
        severity: Severity::Medium,
        risk_score: 47,
        timestamp_override: None,
        timestamp_override_fallback_disabled: false,
        filters: Vec::new(),
        maturity: Maturity::Production,
        version: Some(1),
        tags: vec!["Domain: Cloud".to_string()],
        author: vec!["Elastic".to_string()],
        license: Some("Elastic License v2".to_string()),
        references: Vec::new(),
        threat: Vec::new(),
        enabled: true,
        raw: serde_json::json!({}),
    }
}
