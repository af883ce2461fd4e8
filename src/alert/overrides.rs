//! What an alert may take from its source event instead of the rule (docs/rule-types.md,
//! "Severity and risk score mappings, name override"), with the rules of Kibana's detection
//! engine (`build_severity_from_mapping`, `build_risk_score_from_mapping`,
//! `build_rule_name_from_mapping`): the severity of the highest-severity mapping entry whose
//! value the event holds, the largest valid risk score in the first risk mapping's field, and
//! the name in the override field when it holds a string. Pure.

use crate::rule::{Rule, Severity};
use serde_json::Value;

/// The field whose mapping values are compared as numbers (ECS `event.severity` is a long).
const ECS_SEVERITY_FIELD: &str = "event.severity";

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The values one alert shows in place of the rule's.
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides {
    pub name: String,
    pub severity: Severity,
    /// A JSON number: an integer when whole, as Kibana's JavaScript writes it.
    pub risk_score: Value,
}

/// The alert's name, severity and risk score for one source event.
pub fn overrides(source: &Value, rule: &Rule) -> Overrides {
    let details = &rule.meta.details;
    let name = details
        .rule_name_override
        .as_deref()
        .and_then(|field| lodash_get(source, field))
        .and_then(Value::as_str)
        .map_or_else(|| rule.name.clone(), str::to_string);
    Overrides {
        name,
        severity: mapped_severity(source, rule),
        risk_score: mapped_risk_score(source, rule),
    }
}

/// The severity of the last matching entry once the entries are sorted low to critical (a
/// stable sort, so equal severities keep their order), else the rule's.
fn mapped_severity(source: &Value, rule: &Rule) -> Severity {
    let mut mappings: Vec<_> = rule.meta.details.severity_mapping.iter().collect();
    mappings.sort_by_key(|mapping| mapping.severity);
    let mut severity = rule.meta.severity;
    for mapping in mappings {
        let values = event_values(lodash_get(source, &mapping.field));
        let wanted = mapping_value(&mapping.field, &mapping.value);
        if values
            .iter()
            .any(|value| matches(value, &mapping.field, &wanted))
        {
            severity = mapping.severity;
        }
    }
    severity
}

/// The largest number in 0..=100 held by the first mapping's field (a number, or a string that
/// reads as one), else the rule's risk score. The entries' `value` and `risk_score` play no part.
fn mapped_risk_score(source: &Value, rule: &Rule) -> Value {
    let default = Value::from(rule.meta.risk_score);
    let Some(first) = rule.meta.details.risk_score_mapping.first() else {
        return default;
    };
    let valid = event_values(lodash_get(source, &first.field))
        .into_iter()
        .filter_map(|value| match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => js_number(text),
            _ => None,
        })
        .filter(|score| score.is_finite() && (0.0..=100.0).contains(score))
        .reduce(f64::max);
    valid.map_or(default, number)
}

/// A score as a JSON number: whole numbers as integers (`73`, not `73.0`).
fn number(score: f64) -> Value {
    if score.fract() == 0.0 {
        Value::from(score as u64)
    } else {
        serde_json::Number::from_f64(score).map_or(Value::Null, Value::Number)
    }
}

/// One value or each value of an array (one level, as Kibana reads them).
fn event_values(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    }
}

/// A mapping entry's value, normalized: a whole number for `event.severity`, else its text.
enum Wanted<'a> {
    Number(Option<f64>),
    Text(&'a str),
}

fn mapping_value<'a>(field: &str, value: &'a str) -> Wanted<'a> {
    match field == ECS_SEVERITY_FIELD {
        true => Wanted::Number(js_number(value).map(f64::floor)),
        false => Wanted::Text(value),
    }
}

/// `event.severity` compares safe integers numerically; other fields compare strings and safe
/// integers as text. Floats, booleans, objects and nulls never match.
fn matches(value: &Value, field: &str, wanted: &Wanted<'_>) -> bool {
    let integer = safe_integer(value);
    match wanted {
        Wanted::Number(number) => {
            field == ECS_SEVERITY_FIELD && integer.is_some() && integer == *number
        }
        Wanted::Text(text) => match value {
            Value::String(value) => value == text,
            _ => integer.is_some_and(|n| format!("{n}") == *text),
        },
    }
}

/// A JSON number that is a whole number JavaScript holds exactly.
fn safe_integer(value: &Value) -> Option<f64> {
    let number = value.as_f64()?;
    (number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER).then_some(number)
}

/// Text read as JavaScript's `Number()` does for decimal text: surrounding blanks ignored, an
/// empty string is 0, anything else that is not a number is `None` (NaN).
fn js_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0.0);
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !looks_numeric {
        return None;
    }
    text.parse::<f64>().ok()
}

/// A field of a document as lodash's `get` (which Kibana uses) finds it: the whole dotted name
/// as a key of the top-level object, else the path through nested objects (an array is entered
/// only by a numeric step).
pub fn lodash_get<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    let object = document.as_object()?;
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    let mut at = document;
    for step in path.split('.') {
        at = match at {
            Value::Object(object) => object.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::test_rule;
    use crate::rule::{RiskScoreMapping, SeverityMapping};
    use serde_json::json;

    fn severity_entry(field: &str, value: &str, severity: Severity) -> SeverityMapping {
        SeverityMapping {
            field: field.into(),
            operator: "equals".into(),
            value: value.into(),
            severity,
        }
    }

    /// A rule (medium, 47) mapping `event.severity` 21/47/73/99 as the Endpoint rules do.
    fn endpoint_rule() -> Rule {
        let mut rule = test_rule("r");
        rule.meta.details.severity_mapping = vec![
            severity_entry("event.severity", "99", Severity::Critical),
            severity_entry("event.severity", "21", Severity::Low),
            severity_entry("event.severity", "73", Severity::High),
            severity_entry("event.severity", "47", Severity::Medium),
        ];
        rule
    }

    #[test]
    fn an_event_matching_no_entry_keeps_the_rules_severity_score_and_name() {
        let rule = endpoint_rule();
        let result = overrides(&json!({"event": {"severity": 5}}), &rule);
        assert_eq!(result.severity, Severity::Medium);
        assert_eq!(result.risk_score, json!(47));
        assert_eq!(result.name, rule.name);
    }

    #[test]
    fn event_severity_compares_whole_numbers() {
        let rule = endpoint_rule();
        let severity = |source: Value| overrides(&source, &rule).severity;
        assert_eq!(severity(json!({"event": {"severity": 73}})), Severity::High);
        assert_eq!(severity(json!({"event.severity": 99})), Severity::Critical);
        // The text "73" is not a number: event.severity values must be numbers.
        assert_eq!(
            severity(json!({"event": {"severity": "73"}})),
            Severity::Medium
        );
        // 73.5 is not a safe integer; the entry "73.9" floors to 73.
        assert_eq!(
            severity(json!({"event": {"severity": 73.5}})),
            Severity::Medium
        );
        let mut floored = endpoint_rule();
        floored.meta.details.severity_mapping =
            vec![severity_entry("event.severity", "73.9", Severity::High)];
        assert_eq!(
            overrides(&json!({"event": {"severity": 73}}), &floored).severity,
            Severity::High
        );
    }

    #[test]
    fn when_several_entries_match_the_highest_severity_wins_whatever_their_order() {
        let mut rule = test_rule("r");
        rule.meta.details.severity_mapping = vec![
            severity_entry("labels.level", "x", Severity::Critical),
            severity_entry("labels.tier", "gold", Severity::Low),
            severity_entry("labels.level", "x", Severity::High),
        ];
        let both = json!({"labels": {"level": "x", "tier": "gold"}});
        assert_eq!(overrides(&both, &rule).severity, Severity::Critical);
        let tier = json!({"labels": {"tier": ["silver", "gold"]}});
        assert_eq!(overrides(&tier, &rule).severity, Severity::Low);
    }

    #[test]
    fn other_fields_compare_text_and_whole_numbers_as_text() {
        let mut rule = test_rule("r");
        rule.meta.details.severity_mapping =
            vec![severity_entry("risk.level", "3", Severity::High)];
        let severity = |source: Value| overrides(&source, &rule).severity;
        assert_eq!(severity(json!({"risk": {"level": 3}})), Severity::High);
        assert_eq!(severity(json!({"risk": {"level": "3"}})), Severity::High);
        assert_eq!(severity(json!({"risk": {"level": 3.0}})), Severity::High);
        assert_eq!(severity(json!({"risk": {"level": "03"}})), Severity::Medium);
        assert_eq!(severity(json!({"risk": {"level": true}})), Severity::Medium);
    }

    #[test]
    fn the_risk_score_is_the_largest_valid_number_of_the_first_mappings_field() {
        let mut rule = test_rule("r");
        rule.meta.details.risk_score_mapping = vec![
            RiskScoreMapping {
                field: "event.risk_score".into(),
                operator: "equals".into(),
                value: String::new(),
                risk_score: None,
            },
            RiskScoreMapping {
                field: "other".into(),
                operator: "equals".into(),
                value: String::new(),
                risk_score: Some(90),
            },
        ];
        let score = |source: Value| overrides(&source, &rule).risk_score;
        assert_eq!(score(json!({"event": {"risk_score": 73}})), json!(73));
        assert_eq!(
            score(json!({"event": {"risk_score": [12, "88.5", 120, -1, "x"]}})),
            json!(88.5)
        );
        assert_eq!(score(json!({"event": {"risk_score": " 64 "}})), json!(64));
        // Out of range or not a number: the rule's score; the second mapping is never read.
        assert_eq!(
            score(json!({"event": {"risk_score": 101}, "other": 5})),
            json!(47)
        );
        assert_eq!(score(json!({})), json!(47));
    }

    #[test]
    fn the_name_override_takes_a_string_field_only() {
        let mut rule = test_rule("r");
        rule.meta.details.rule_name_override = Some("message".into());
        let name = |source: Value| overrides(&source, &rule).name;
        assert_eq!(
            name(json!({"message": "Malware on host-1"})),
            "Malware on host-1"
        );
        assert_eq!(name(json!({"message": ["a", "b"]})), rule.name);
        assert_eq!(name(json!({"message": 5})), rule.name);
        assert_eq!(name(json!({})), rule.name);
    }

    #[test]
    fn lodash_get_takes_the_whole_key_first_then_the_nested_path() {
        let doc = json!({"a.b": 1, "a": {"b": 2, "c": [{"d": 3}], "e.f": 4}});
        assert_eq!(lodash_get(&doc, "a.b"), Some(&json!(1)));
        assert_eq!(lodash_get(&doc, "a.c.0.d"), Some(&json!(3)));
        assert_eq!(lodash_get(&doc, "a.c.d"), None);
        // A dotted key below the top level is not found, as in lodash.
        assert_eq!(lodash_get(&doc, "a.e.f"), None);
    }
}
