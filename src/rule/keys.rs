//! The key names a rule file may use: every key of Elastic's detection-rules corpus plus the
//! Kibana rule parameters the corpus happens not to use, and the keys that belong to one rule
//! type only. Unknown keys and keys of another type are warnings, never errors.

use super::RuleType;
use super::diagnostic::FileProblems;
use super::fields::Table;

/// The top-level tables of a rule file.
pub const TOP_LEVEL_KEYS: &[&str] = &["metadata", "rule", "transform", LOOKOUT_TABLE];

/// lookout's own table in a rule file (Elastic's format has no schedule other than `interval`).
pub const LOOKOUT_TABLE: &str = "lookout";

/// The keys `[lookout]` may hold: `cron`, a standard 5-field schedule (UTC), and `notify`, the
/// ids of the connectors the rule's alerts go to (besides the configured routes).
pub const LOOKOUT_KEYS: &[&str] = &["cron", "notify"];

/// The keys `[metadata]` may hold.
pub const METADATA_KEYS: &[&str] = &[
    "bypass_bbr_timing",
    "creation_date",
    "deprecated_reason",
    "deprecation_date",
    "integration",
    "maturity",
    "min_stack_comments",
    "min_stack_version",
    "promotion",
    "query_schema_validation",
    "updated_date",
];

/// The keys `[rule]` may hold: every key of the corpus plus Kibana rule parameters it lacks.
pub const RULE_KEYS: &[&str] = &[
    "alert_suppression",
    "anomaly_threshold",
    "author",
    "building_block_type",
    "data_view_id",
    "description",
    "enabled",
    "event_category_override",
    "exceptions_list",
    "false_positives",
    "filters",
    "from",
    "index",
    "interval",
    "investigation_fields",
    "language",
    "license",
    "machine_learning_job_id",
    "max_signals",
    "name",
    "namespace",
    "new_terms",
    "note",
    "query",
    "references",
    "related_integrations",
    "required_fields",
    "risk_score",
    "risk_score_mapping",
    "rule_id",
    "rule_name_override",
    "setup",
    "severity",
    "severity_mapping",
    "tags",
    "threat",
    "threat_filters",
    "threat_index",
    "threat_indicator_path",
    "threat_language",
    "threat_mapping",
    "threat_query",
    "threshold",
    "tiebreaker_field",
    "timeline_id",
    "timeline_title",
    "timestamp_field",
    "timestamp_override",
    "timestamp_override_fallback_disabled",
    "to",
    "type",
    "version",
];

/// The keys of `[[transform.*]]` entries (investigation-guide plugins, kept as JSON).
pub const TRANSFORM_KEYS: &[&str] = &["investigate", "osquery"];

/// Keys that only one rule type reads; on other types they are kept in `raw` but ignored.
const TYPE_ONLY_KEYS: &[(&str, RuleType)] = &[
    ("anomaly_threshold", RuleType::MachineLearning),
    ("event_category_override", RuleType::Eql),
    ("machine_learning_job_id", RuleType::MachineLearning),
    ("new_terms", RuleType::NewTerms),
    ("threat_filters", RuleType::ThreatMatch),
    ("threat_index", RuleType::ThreatMatch),
    ("threat_indicator_path", RuleType::ThreatMatch),
    ("threat_language", RuleType::ThreatMatch),
    ("threat_mapping", RuleType::ThreatMatch),
    ("threat_query", RuleType::ThreatMatch),
    ("threshold", RuleType::Threshold),
    ("tiebreaker_field", RuleType::Eql),
    ("timestamp_field", RuleType::Eql),
];

/// Warns about keys of another rule type, at the key.
pub fn warn_foreign_keys(rule: &Table<'_, '_>, p: &mut FileProblems<'_>, rule_type: RuleType) {
    for (key, owner) in TYPE_ONLY_KEYS {
        if *owner == rule_type {
            continue;
        }
        if let Some((written, _)) = rule.entries.get_key_value(*key) {
            let message = format!(
                "`rule.{key}` applies to {} rules only; it is ignored for a {} rule",
                owner.as_str(),
                rule_type.as_str()
            );
            p.warning(&written.span(), message);
        }
    }
}
