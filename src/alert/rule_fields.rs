//! The `kibana.alert.rule.*` fields of an alert: the rule as it was when the alert was made,
//! under the names of Kibana's alert schema (`build_alert`), `kibana.alert.rule.parameters`
//! included (the rule's parameters as Kibana's rule API names them). Pure.

use super::DEFAULT_RULE_VERSION;
use crate::ids::rule_uuid;
use crate::rule::{Rule, RuleType};
use crate::schedule::duration::format_duration;
use serde_json::{Map, Value, json};

/// The Kibana feature that owns security alerts (`kibana.alert.rule.consumer` and `.producer`).
const SERVER_APP_ID: &str = "siem";

/// Rule keys that Kibana keeps outside a rule's parameters (they are rule-level settings).
const NOT_PARAMETERS: [&str; 6] = ["name", "tags", "interval", "enabled", "actions", "throttle"];

/// The `kibana.alert.rule.*` fields, except the name (an alert may override it).
pub fn rule_fields(rule: &Rule, namespace: &str) -> Map<String, Value> {
    let meta = &rule.meta;
    let details = &meta.details;
    let parameters = parameters(rule);
    let rule_type = rule.rule_type();
    let mut fields = into_map(json!({
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.uuid": rule_uuid(namespace, &rule.rule_id).to_string(),
        "kibana.alert.rule.type": rule_type.as_str(),
        "kibana.alert.rule.rule_type_id": format!("siem.{}", type_id(rule_type)),
        "kibana.alert.rule.category": category(rule_type),
        "kibana.alert.rule.consumer": SERVER_APP_ID,
        "kibana.alert.rule.producer": SERVER_APP_ID,
        "kibana.alert.rule.enabled": meta.enabled,
        "kibana.alert.rule.description": meta.description,
        "kibana.alert.rule.severity": meta.severity.as_str(),
        "kibana.alert.rule.risk_score": meta.risk_score,
        "kibana.alert.rule.tags": meta.tags,
        "kibana.alert.rule.threat": meta.threat,
        "kibana.alert.rule.references": meta.references,
        "kibana.alert.rule.author": meta.author,
        "kibana.alert.rule.false_positives": details.false_positives,
        "kibana.alert.rule.from": rule.schedule.from.as_str(),
        "kibana.alert.rule.to": rule.schedule.to.as_str(),
        "kibana.alert.rule.interval": format_duration(rule.schedule.interval),
        "kibana.alert.rule.max_signals": rule.max_signals,
        "kibana.alert.rule.version": meta.version.unwrap_or(DEFAULT_RULE_VERSION),
        "kibana.alert.rule.indices": rule.search.index,
        "kibana.alert.rule.exceptions_list": parameters["exceptions_list"],
        "kibana.alert.rule.severity_mapping": parameters["severity_mapping"],
        "kibana.alert.rule.risk_score_mapping": parameters["risk_score_mapping"],
    }));
    let optional = [
        ("license", meta.license.as_deref()),
        ("timestamp_override", rule.search.timestamp.field.as_deref()),
        ("note", details.note.as_deref()),
        ("rule_name_override", details.rule_name_override.as_deref()),
        ("timeline_id", details.timeline_id.as_deref()),
        ("timeline_title", details.timeline_title.as_deref()),
        (
            "building_block_type",
            details.building_block_type.as_deref(),
        ),
        ("namespace", details.namespace.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.insert(format!("kibana.alert.rule.{name}"), json!(value));
        }
    }
    fields.insert("kibana.alert.rule.parameters".into(), parameters);
    fields
}

/// The rule's parameters as Kibana's rule API writes them (snake case, defaults filled in): the
/// `[rule]` table of the file, which uses the same names, without the rule-level settings,
/// with the new-terms and threshold parameters in the API's shape.
pub fn parameters(rule: &Rule) -> Value {
    let mut parameters = match &rule.raw["rule"] {
        Value::Object(table) => table.clone(),
        _ => Map::new(),
    };
    for key in NOT_PARAMETERS {
        parameters.shift_remove(key);
    }
    let defaults = json!({
        "from": rule.schedule.from.as_str(),
        "to": rule.schedule.to.as_str(),
        "max_signals": rule.max_signals,
        "version": rule.meta.version.unwrap_or(DEFAULT_RULE_VERSION),
        "language": rule.kind.query().language().as_str(),
        "author": [],
        "false_positives": [],
        "references": [],
        "threat": [],
        "exceptions_list": [],
        "severity_mapping": [],
        "risk_score_mapping": [],
        "related_integrations": [],
        "required_fields": [],
        "setup": "",
    });
    for (key, value) in into_map(defaults) {
        parameters.entry(key).or_insert(value);
    }
    if let Some(Value::Object(new_terms)) = parameters.shift_remove("new_terms") {
        parameters.insert("new_terms_fields".into(), new_terms["value"].clone());
        let start = &new_terms["history_window_start"][0]["value"];
        parameters.insert("history_window_start".into(), start.clone());
    }
    if let Some(Value::Object(threshold)) = parameters.get_mut("threshold")
        && let Some(Value::String(field)) = threshold.get("field").cloned()
    {
        threshold.insert("field".into(), json!([field]));
    }
    Value::Object(parameters)
}

/// The rule type's id in Kibana's alerting framework, after `siem.`.
fn type_id(rule_type: RuleType) -> &'static str {
    match rule_type {
        RuleType::Query => "queryRule",
        RuleType::Eql => "eqlRule",
        RuleType::Esql => "esqlRule",
        RuleType::NewTerms => "newTermsRule",
        RuleType::Threshold => "thresholdRule",
        RuleType::ThreatMatch => "indicatorRule",
        RuleType::MachineLearning => "mlRule",
    }
}

/// The rule type's name in Kibana (`kibana.alert.rule.category`).
fn category(rule_type: RuleType) -> &'static str {
    match rule_type {
        RuleType::Query => "Custom Query Rule",
        RuleType::Eql => "Event Correlation Rule",
        RuleType::Esql => "ES|QL Rule",
        RuleType::NewTerms => "New Terms Rule",
        RuleType::Threshold => "Threshold Rule",
        RuleType::ThreatMatch => "Indicator Match Rule",
        RuleType::MachineLearning => "Machine Learning Rule",
    }
}

pub(super) fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}
