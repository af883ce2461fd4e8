//! Detection rules: the validated, typed form of one rule file of Elastic's `detection-rules`
//! format. Raw TOML becomes a [`Rule`] once, at load time, with the defaults of ENGINE.md
//! section 1 applied; everything downstream works with these types and never re-validates.
//! This module reads files; it does not search, schedule or write anything.
//!
//! [`load_paths`] finds the files (`load`), [`parse_rule_file`] turns one file into a [`Rule`]
//! (`parse`, with `fields` for spanned reads, `keys` for the accepted key names, `params`,
//! `sections` and `threat` for the typed parts), and every problem is a [`Diagnostic`] at
//! `path:line:col`.

pub mod datemath;
pub mod diagnostic;
pub mod duration;
mod fields;
mod keys;
mod load;
mod names;
pub mod params;
mod parse;
pub mod query_check;
pub mod sections;
pub mod threat;

use chrono::TimeDelta;
use datemath::DateMath;
use std::path::PathBuf;

pub use diagnostic::{Diagnostic, LoadReport, printable};
pub use load::{MAX_FOLDER_DEPTH, MAX_RULE_FILE_BYTES, load_path, load_paths, parse_rule_bytes};
pub use params::TypeParams;
pub use parse::parse_rule_file;
pub use query_check::check_kuery;
pub use sections::{
    AlertSuppression, Details, ExceptionListRef, Metadata, MissingFieldsStrategy,
    RelatedIntegration, RequiredField, RiskScoreMapping, SeverityMapping,
};

/// Default `interval` when a rule has none.
pub const DEFAULT_INTERVAL: &str = "5m";
/// Default `from` when a rule has none.
pub const DEFAULT_FROM: &str = "now-6m";
/// Default `to` when a rule has none.
pub const DEFAULT_TO: &str = "now";
/// Default `max_signals` when a rule has none.
pub const DEFAULT_MAX_SIGNALS: u32 = 100;

/// One loaded, validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The file the rule came from.
    pub path: PathBuf,
    pub rule_id: String,
    pub name: String,
    pub description: String,
    pub rule_type: RuleType,
    pub language: Language,
    /// The query text as written (kuery, lucene, eql or esql), if the type has one.
    pub query: Option<String>,
    /// The query's syntax tree, parsed once at load time (kuery rules only).
    pub kql: Option<crate::kql::Query>,
    /// Index patterns to search (empty for types that take none, such as esql).
    pub index: Vec<String>,
    pub interval: TimeDelta,
    /// lookout's `[lookout] cron` schedule, which replaces `interval` as the cadence when set.
    pub cron: Option<crate::schedule::Cron>,
    pub from: DateMath,
    pub to: DateMath,
    pub max_signals: u32,
    pub severity: Severity,
    /// 0 to 100.
    pub risk_score: u8,
    pub timestamp_override: Option<String>,
    pub timestamp_override_fallback_disabled: bool,
    /// Kibana filter objects (`[[rule.filters]]`), kept as JSON.
    pub filters: Vec<serde_json::Value>,
    pub maturity: Maturity,
    pub version: Option<u64>,
    pub tags: Vec<String>,
    pub author: Vec<String>,
    pub license: Option<String>,
    pub references: Vec<String>,
    /// `[[rule.threat]]` entries (MITRE ATT&CK), kept as JSON in Kibana's shape.
    pub threat: Vec<serde_json::Value>,
    /// `[rule]` `enabled`; rule files rarely set it, absent means enabled.
    pub enabled: bool,
    /// The whole file as JSON (metadata and rule tables), so no key is ever lost.
    pub raw: serde_json::Value,
    /// Line and column of the `rule_id` value in the file, for messages about the rule.
    pub rule_id_position: (usize, usize),
    /// The parameters of the rule's type (threshold, new terms, indicator match, ML job).
    pub params: TypeParams,
    /// The `[metadata]` table besides `maturity`.
    pub metadata: Metadata,
    /// Everything else the file says about the rule (descriptions, mappings, suppression...).
    pub details: Details,
}

impl Rule {
    /// Whether lookout can run the rule today: query, threshold, new terms and indicator match
    /// rules in kuery or lucene (docs/rule-types.md).
    pub fn is_runnable(&self) -> bool {
        matches!(
            self.rule_type,
            RuleType::Query | RuleType::Threshold | RuleType::NewTerms | RuleType::ThreatMatch
        ) && matches!(self.language, Language::Kuery | Language::Lucene)
    }

    /// Whether `[metadata] maturity = "deprecated"`.
    pub fn is_deprecated(&self) -> bool {
        self.maturity == Maturity::Deprecated
    }
}

/// The rule types of Elastic's detection engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleType {
    Query,
    Eql,
    Esql,
    NewTerms,
    Threshold,
    ThreatMatch,
    MachineLearning,
}

impl RuleType {
    /// The name used in rule files and in `kibana.alert.rule.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Query => "query",
            RuleType::Eql => "eql",
            RuleType::Esql => "esql",
            RuleType::NewTerms => "new_terms",
            RuleType::Threshold => "threshold",
            RuleType::ThreatMatch => "threat_match",
            RuleType::MachineLearning => "machine_learning",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "query" => RuleType::Query,
            "eql" => RuleType::Eql,
            "esql" => RuleType::Esql,
            "new_terms" => RuleType::NewTerms,
            "threshold" => RuleType::Threshold,
            "threat_match" => RuleType::ThreatMatch,
            "machine_learning" => RuleType::MachineLearning,
            _ => return None,
        })
    }
}

/// Query languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Kuery,
    Lucene,
    Eql,
    Esql,
    /// Machine-learning rules have no query.
    None,
}

impl Language {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "kuery" => Language::Kuery,
            "lucene" => Language::Lucene,
            "eql" => Language::Eql,
            "esql" => Language::Esql,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Kuery => "kuery",
            Language::Lucene => "lucene",
            Language::Eql => "eql",
            Language::Esql => "esql",
            Language::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Maturity {
    Production,
    Development,
    Experimental,
    Deprecated,
}

impl Maturity {
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Production => "production",
            Maturity::Development => "development",
            Maturity::Experimental => "experimental",
            Maturity::Deprecated => "deprecated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "production" => Maturity::Production,
            "development" => Maturity::Development,
            "experimental" => Maturity::Experimental,
            "deprecated" => Maturity::Deprecated,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests;
