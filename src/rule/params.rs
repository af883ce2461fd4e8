//! The parameters only some rule types have: `[rule.threshold]`, `[rule.new_terms]`, the
//! `threat_*` keys of indicator-match rules and the job settings of machine-learning rules, read
//! into types once, at load time.

use super::diagnostic::FileProblems;
use super::fields::{Need, Table};
use super::parse::check_query;
use super::{Language, Query, RuleType};
use crate::schedule::datemath::DateMath;

/// The type-specific part of a rule file, as read; the variant always matches its `type`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TypeParams {
    /// query, eql and esql rules have nothing beyond their query.
    None,
    Threshold(Threshold),
    NewTerms(NewTerms),
    ThreatMatch(ThreatMatch),
    MachineLearning(MachineLearning),
}

/// `[rule.threshold]`: alert when `value` events share the `field` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// Fields to group by (empty: all events form one group).
    pub field: Vec<String>,
    /// How many events a group needs; at least 1.
    pub value: u64,
    /// `[[rule.threshold.cardinality]]`: distinct values a group also needs.
    pub cardinality: Vec<ThresholdCardinality>,
}

/// One `[[rule.threshold.cardinality]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdCardinality {
    pub field: String,
    pub value: u64,
}

/// `[rule.new_terms]`: alert on field values not seen since `history_window_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTerms {
    pub fields: Vec<String>,
    pub history_window_start: DateMath,
}

/// Indicator-match (`threat_match`) parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreatMatch {
    pub threat_index: Vec<String>,
    /// `threat_query` in `threat_language`, parsed when the rule loaded.
    pub threat_query: Query,
    pub threat_mapping: Vec<ThreatMapping>,
    pub threat_indicator_path: Option<String>,
    /// Kibana filter objects applied to the indicator search, kept as JSON.
    pub threat_filters: Vec<serde_json::Value>,
}

/// One `[[rule.threat_mapping]]`: all its entries must match (an AND); mappings are ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatMapping {
    pub entries: Vec<ThreatMappingEntry>,
}

/// Event field `field` must equal indicator field `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatMappingEntry {
    pub field: String,
    pub value: String,
    /// Always "mapping" in the corpus; kept as written.
    pub kind: String,
}

/// Machine-learning parameters (checked when the rule loads; lookout cannot run such rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MachineLearning {
    /// 0 to 100.
    pub anomaly_threshold: u8,
    pub job_ids: Vec<String>,
}

/// The `field` value that names new-terms fields in `[rule.new_terms]`.
const NEW_TERMS_FIELDS: &str = "new_terms_fields";
/// The `field` value of `[[rule.new_terms.history_window_start]]`.
const HISTORY_WINDOW_START: &str = "history_window_start";

impl TypeParams {
    /// Reads the parameters `rule_type` needs from `[rule]`.
    pub(super) fn read(
        rule_type: RuleType,
        rule: &Table<'_, '_>,
        p: &mut FileProblems<'_>,
    ) -> Option<Self> {
        Some(match rule_type {
            RuleType::Query | RuleType::Eql | RuleType::Esql => TypeParams::None,
            RuleType::Threshold => TypeParams::Threshold(read_threshold(rule, p)?),
            RuleType::NewTerms => TypeParams::NewTerms(read_new_terms(rule, p)?),
            RuleType::ThreatMatch => TypeParams::ThreatMatch(read_threat_match(rule, p)?),
            RuleType::MachineLearning => TypeParams::MachineLearning(read_ml(rule, p)?),
        })
    }
}

fn read_threshold(rule: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<Threshold> {
    let table = rule.table(p, "rule.threshold", "threshold", Need::Required)?;
    table.warn_unknown_keys(p, &["field", "value", "cardinality"]);
    let field = table.string_or_strings(p, "field", Need::Required);
    let value = positive(&table, p, "value");
    let mut cardinality = Vec::new();
    for entry in table
        .tables(
            p,
            "rule.threshold.cardinality",
            "cardinality",
            Need::Optional,
        )
        .unwrap_or_default()
    {
        entry.warn_unknown_keys(p, &["field", "value"]);
        let field = entry.owned_string(p, "field", Need::Required);
        let value = positive(&entry, p, "value");
        cardinality.push(ThresholdCardinality {
            field: field?,
            value: value?,
        });
    }
    Some(Threshold {
        field: field?,
        value: value?,
        cardinality,
    })
}

/// A whole number of at least 1.
fn positive(table: &Table<'_, '_>, p: &mut FileProblems<'_>, key: &str) -> Option<u64> {
    let value = table.integer(p, key, Need::Required)?;
    match u64::try_from(*value.get_ref()) {
        Ok(number) if number >= 1 => Some(number),
        _ => {
            let message = format!("`{}` must be at least 1", table.key_name(key));
            p.error(&value.span(), message);
            None
        }
    }
}

fn read_new_terms(rule: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<NewTerms> {
    let table = rule.table(p, "rule.new_terms", "new_terms", Need::Required)?;
    table.warn_unknown_keys(p, &["field", "value", "history_window_start"]);
    expect_field_name(&table, p, NEW_TERMS_FIELDS);
    let fields = table.strings(p, "value", Need::Required);
    let windows = table.tables(
        p,
        "rule.new_terms.history_window_start",
        "history_window_start",
        Need::Required,
    )?;
    let Some(window) = windows.first() else {
        let message = "`rule.new_terms.history_window_start` needs one entry";
        p.error(&table.span(), message);
        return None;
    };
    window.warn_unknown_keys(p, &["field", "value"]);
    expect_field_name(window, p, HISTORY_WINDOW_START);
    let start = window.string(p, "value", Need::Required)?;
    let history_window_start = match DateMath::parse(start.get_ref()) {
        Ok(date_math) => date_math,
        Err(reason) => {
            let message = format!("bad `{}`: {reason}", window.key_name("value"));
            p.error(&start.span(), message);
            return None;
        }
    };
    Some(NewTerms {
        fields: fields?.into_inner(),
        history_window_start,
    })
}

/// The detection-rules format names each new-terms parameter in a `field` key.
fn expect_field_name(table: &Table<'_, '_>, p: &mut FileProblems<'_>, expected: &str) {
    let Some(name) = table.string(p, "field", Need::Required) else {
        return;
    };
    if *name.get_ref() != expected {
        let key = table.key_name("field");
        let message = format!("`{key}` must be \"{expected}\", found {:?}", name.get_ref());
        p.error(&name.span(), message);
    }
}

fn read_threat_match(rule: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<ThreatMatch> {
    let threat_index = non_empty_strings(rule, p, "threat_index");
    let threat_language = match rule.string(p, "threat_language", Need::Optional) {
        None => Some(Language::Kuery),
        Some(text) => query_language(rule, p, "threat_language", &text),
    };
    let threat_query = match threat_language {
        Some(Language::Kuery) => check_query(rule, p, "threat_query")
            .zip(rule.owned_string(p, "threat_query", Need::Required))
            .map(|(tree, text)| Query::Kql { text, tree }),
        Some(_) => rule
            .owned_string(p, "threat_query", Need::Required)
            .map(|text| Query::Lucene { text }),
        None => None,
    };
    let threat_indicator_path = rule.owned_string(p, "threat_indicator_path", Need::Optional);
    let threat_filters = rule
        .tables(p, "rule.threat_filters", "threat_filters", Need::Optional)
        .map(|tables| {
            tables
                .iter()
                .map(|t| super::fields::table_to_json(t.entries))
                .collect()
        })
        .unwrap_or_default();
    let mut threat_mapping = Vec::new();
    let mappings = rule.tables(p, "rule.threat_mapping", "threat_mapping", Need::Required)?;
    for mapping in mappings {
        mapping.warn_unknown_keys(p, &["entries"]);
        threat_mapping.push(read_threat_mapping(&mapping, p)?);
    }
    Some(ThreatMatch {
        threat_index: threat_index?,
        threat_query: threat_query?,
        threat_mapping,
        threat_indicator_path,
        threat_filters,
    })
}

fn read_threat_mapping(mapping: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<ThreatMapping> {
    let name = "rule.threat_mapping.entries";
    let mut entries = Vec::new();
    for entry in mapping.tables(p, name, "entries", Need::Required)? {
        entry.warn_unknown_keys(p, &["field", "type", "value"]);
        let field = entry.owned_string(p, "field", Need::Required);
        let kind = entry.owned_string(p, "type", Need::Required);
        let value = entry.owned_string(p, "value", Need::Required);
        entries.push(ThreatMappingEntry {
            field: field?,
            value: value?,
            kind: kind?,
        });
    }
    Some(ThreatMapping { entries })
}

/// `kuery` or `lucene`, the languages of index searches.
pub(super) fn query_language(
    table: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    key: &str,
    text: &toml::Spanned<&str>,
) -> Option<Language> {
    match Language::parse(text.get_ref()) {
        Some(language @ (Language::Kuery | Language::Lucene)) => Some(language),
        _ => {
            let key = table.key_name(key);
            let message = format!(
                "`{key}` must be \"kuery\" or \"lucene\", found {:?}",
                text.get_ref()
            );
            p.error(&text.span(), message);
            None
        }
    }
}

/// A required array of strings with at least one element.
pub(super) fn non_empty_strings(
    table: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    key: &str,
) -> Option<Vec<String>> {
    let strings = table.strings(p, key, Need::Required)?;
    if strings.get_ref().is_empty() {
        let message = format!(
            "`{}` is empty: give at least one index pattern",
            table.key_name(key)
        );
        p.error(&strings.span(), message);
        return None;
    }
    Some(strings.into_inner())
}

fn read_ml(rule: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<MachineLearning> {
    let job_ids = rule.string_or_strings(p, "machine_learning_job_id", Need::Required);
    let threshold = rule.integer(p, "anomaly_threshold", Need::Required)?;
    let Some(anomaly_threshold) = u8::try_from(*threshold.get_ref())
        .ok()
        .filter(|t| *t <= 100)
    else {
        let message = format!(
            "`rule.anomaly_threshold` must be between 0 and 100, found {}",
            threshold.get_ref()
        );
        p.error(&threshold.span(), message);
        return None;
    };
    Some(MachineLearning {
        anomaly_threshold,
        job_ids: job_ids?,
    })
}
