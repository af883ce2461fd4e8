//! Detection rules: one rule file of Elastic's `detection-rules` format becomes, once, at load
//! time, either a runnable [`Rule`] (defaults applied, query parsed into a closed tree, every
//! combination checked) or a [`NotRunnable`] summary saying why lookout cannot run it; everything
//! downstream works with these types and never re-validates (docs/architecture.md, "Rule files").
//! This module reads files; it does not search, schedule or write anything.
//!
//! [`load_paths`] finds the files (`load`), [`parse_rule_bytes_with`] turns one file into a [`Loaded`]
//! rule (`parse`, with `fields` for spanned reads, `keys` for the accepted key names, `params`,
//! `sections` and `threat` for the typed parts), and every problem is a [`Diagnostic`] at
//! `path:line:col`.

mod diagnostic;
mod fields;
mod keys;
mod load;
mod names;
mod params;
mod parse;
mod query_check;
mod references;
mod sections;
mod threat;

use crate::schedule::Schedule;
use serde_json::Value;
use std::path::PathBuf;

pub use diagnostic::{Diagnostic, LoadReport, Summary};
pub use load::{
    MAX_RULE_FILE_BYTES, load_path, load_paths, load_paths_with, parse_rule_bytes,
    parse_rule_bytes_with,
};
pub use params::{NewTerms, ThreatMapping, ThreatMatch, Threshold};
#[cfg(test)]
pub use sections::{AlertSuppression, RiskScoreMapping, SeverityMapping};
pub use sections::{Details, Metadata, MissingFieldsStrategy};

/// Default `interval` when a rule has none.
pub const DEFAULT_INTERVAL: &str = "5m";
/// Default `from` when a rule has none.
pub const DEFAULT_FROM: &str = "now-6m";
/// Default `to` when a rule has none.
pub const DEFAULT_TO: &str = "now";
/// Default `max_signals` when a rule has none.
pub const DEFAULT_MAX_SIGNALS: u32 = 100;
/// The timestamp every ECS document has, and the fallback when an override is missing.
pub const DEFAULT_TIMESTAMP: &str = "@timestamp";

/// What one rule file holds: a rule lookout runs, or one it loads but cannot run.
#[derive(Debug, Clone)]
pub enum Loaded {
    Runnable(Box<Rule>),
    NotRunnable(NotRunnable),
}

/// One rule lookout can run: who it is, when it runs, what it searches and what it detects there.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The file the rule came from.
    pub path: PathBuf,
    pub rule_id: String,
    /// Line and column of the `rule_id` value in the file, for messages about the rule.
    pub rule_id_position: (usize, usize),
    pub name: String,
    /// What the rule says about itself; alerts carry it.
    pub meta: Meta,
    /// When it runs and which window each execution searches.
    pub schedule: Schedule,
    /// Which documents it searches.
    pub search: Search,
    /// What it detects in them, with its query.
    pub kind: Kind,
    /// At most this many new alerts per execution (per chunk when catching up).
    pub max_signals: u32,
    /// The whole file as JSON (metadata and rule tables), so no key is ever lost.
    pub raw: Value,
}

impl Rule {
    /// Whether `[metadata] maturity = "deprecated"`.
    pub fn is_deprecated(&self) -> bool {
        self.meta.maturity == Maturity::Deprecated
    }

    /// The rule's type, as rule files and `kibana.alert.rule.type` name it.
    pub fn rule_type(&self) -> RuleType {
        self.kind.rule_type()
    }
}

/// What a rule says about itself besides its id and name.
#[derive(Debug, Clone)]
pub struct Meta {
    pub description: String,
    pub severity: Severity,
    /// 0 to 100.
    pub risk_score: u8,
    pub maturity: Maturity,
    pub version: Option<u64>,
    pub tags: Vec<String>,
    pub author: Vec<String>,
    pub license: Option<String>,
    pub references: Vec<String>,
    /// `[[rule.threat]]` entries (MITRE ATT&CK), kept as JSON in Kibana's shape.
    pub threat: Vec<Value>,
    /// `[rule]` `enabled`; rule files rarely set it, absent means enabled.
    pub enabled: bool,
    /// The `[metadata]` table besides `maturity`.
    pub metadata: Metadata,
    /// Everything else the file says about the rule (guides, mappings, suppression...).
    pub details: Details,
}

/// Which documents a rule searches: its indices, the time field its windows apply to, and the
/// Kibana filters it adds to its query.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Index patterns; never empty.
    pub index: Vec<String>,
    pub timestamp: Timestamp,
    /// Kibana filter objects (`[[rule.filters]]`), kept as JSON.
    pub filters: Vec<Value>,
    /// The exception lists its `[[rule.exceptions_list]]` names, resolved when it loaded:
    /// events an item matches are left out of every search (docs/exceptions.md).
    pub exceptions: crate::exceptions::Exceptions,
}

/// The field a rule's windows apply to: `timestamp_override` when set, else `@timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// `timestamp_override`.
    pub field: Option<String>,
    /// `timestamp_override_fallback_disabled`.
    pub fallback_disabled: bool,
}

impl Timestamp {
    /// The field the window applies to: the override when set, else `@timestamp`.
    pub fn primary(&self) -> &str {
        self.field.as_deref().unwrap_or(DEFAULT_TIMESTAMP)
    }

    /// True when a document without the override field is matched on `@timestamp` instead.
    pub fn falls_back(&self) -> bool {
        self.field
            .as_deref()
            .is_some_and(|field| field != DEFAULT_TIMESTAMP)
            && !self.fallback_disabled
    }
}

/// What a rule detects in the documents it searches, each kind with its query and parameters
/// (docs/rule-types.md). A kind lookout cannot run has no variant: such a rule loads as a
/// [`NotRunnable`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Every matching document is an alert.
    Query(Query),
    /// Groups of matching documents that reach a count.
    Threshold(Query, Threshold),
    /// Matching documents whose field values were not seen in a history window.
    NewTerms(Query, NewTerms),
    /// EQL: matching events, or sequences of events, each an alert (docs/eql.md). The query is
    /// always [`Query::Eql`]; `event_category_override`, `tiebreaker_field` and
    /// `timestamp_field` are in [`Details`].
    Eql(Query),
    /// Matching documents whose fields equal those of an indicator.
    ThreatMatch(Query, ThreatMatch),
}

impl Kind {
    pub fn rule_type(&self) -> RuleType {
        match self {
            Kind::Query(_) => RuleType::Query,
            Kind::Eql(_) => RuleType::Eql,
            Kind::Threshold(..) => RuleType::Threshold,
            Kind::NewTerms(..) => RuleType::NewTerms,
            Kind::ThreatMatch(..) => RuleType::ThreatMatch,
        }
    }

    /// The rule's own query (for indicator match, the event query, not the indicator query).
    pub fn query(&self) -> &Query {
        match self {
            Kind::Query(query)
            | Kind::Eql(query)
            | Kind::Threshold(query, _)
            | Kind::NewTerms(query, _)
            | Kind::ThreatMatch(query, _) => query,
        }
    }
}

/// A query in one of the languages of index searches, parsed when the rule loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// KQL, with its syntax tree.
    Kql {
        text: String,
        tree: crate::kql::Query,
    },
    /// Lucene query-string syntax, sent as a `query_string` query.
    Lucene { text: String },
    /// EQL, with its syntax tree (an event query, a sequence or a sample).
    Eql {
        text: String,
        tree: Box<crate::eql::Query>,
    },
}

impl Query {
    /// The query as written.
    pub fn text(&self) -> &str {
        match self {
            Query::Kql { text, .. } | Query::Lucene { text } | Query::Eql { text, .. } => text,
        }
    }

    pub fn language(&self) -> Language {
        match self {
            Query::Kql { .. } => Language::Kuery,
            Query::Lucene { .. } => Language::Lucene,
            Query::Eql { .. } => Language::Eql,
        }
    }
}

/// A rule that loaded (its file is valid) but that lookout cannot run, and why.
#[derive(Debug, Clone)]
pub struct NotRunnable {
    pub path: PathBuf,
    pub rule_id: String,
    pub rule_id_position: (usize, usize),
    pub name: String,
    pub rule_type: RuleType,
    pub language: Language,
    pub maturity: Maturity,
    /// Why it cannot run, as a sentence fragment ("esql rules (esql) cannot run yet").
    pub reason: String,
}

impl Loaded {
    pub fn rule_id(&self) -> &str {
        match self {
            Loaded::Runnable(rule) => &rule.rule_id,
            Loaded::NotRunnable(rule) => &rule.rule_id,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        match self {
            Loaded::Runnable(rule) => &rule.path,
            Loaded::NotRunnable(rule) => &rule.path,
        }
    }

    pub fn rule_id_position(&self) -> (usize, usize) {
        match self {
            Loaded::Runnable(rule) => rule.rule_id_position,
            Loaded::NotRunnable(rule) => rule.rule_id_position,
        }
    }

    pub fn rule_type(&self) -> RuleType {
        match self {
            Loaded::Runnable(rule) => rule.rule_type(),
            Loaded::NotRunnable(rule) => rule.rule_type,
        }
    }

    pub fn language(&self) -> Language {
        match self {
            Loaded::Runnable(rule) => rule.kind.query().language(),
            Loaded::NotRunnable(rule) => rule.language,
        }
    }

    pub fn is_deprecated(&self) -> bool {
        match self {
            Loaded::Runnable(rule) => rule.is_deprecated(),
            Loaded::NotRunnable(rule) => rule.maturity == Maturity::Deprecated,
        }
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

/// A query rule for unit tests (`testdata/test_rule.toml` with its id), parsed like every rule.
#[cfg(test)]
pub(crate) fn test_rule(rule_id: &str) -> Rule {
    let text = include_str!("testdata/test_rule.toml").replace("RULE_ID", rule_id);
    let path = std::path::PathBuf::from(format!("rules/{rule_id}.toml"));
    match parse_rule_bytes(&path, text.as_bytes()) {
        Ok((Loaded::Runnable(rule), _warnings)) => *rule,
        other => panic!("test rule does not load as a runnable rule: {other:?}"),
    }
}

#[cfg(test)]
mod tests;
