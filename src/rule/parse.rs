//! One rule file's text -> a [`Loaded`] rule (defaults of docs/architecture.md, "Rule files",
//! applied: a runnable [`Rule`] or a [`NotRunnable`] summary) or the
//! list of everything wrong with it, each problem at `path:line:col`.

use super::diagnostic::{Diagnostic, FileProblems};
use super::fields::{Need, Table, table_to_json};
use super::keys::{
    LOOKOUT_KEYS, LOOKOUT_TABLE, RULE_KEYS, TOP_LEVEL_KEYS, TRANSFORM_KEYS, warn_foreign_keys,
};
use super::names;
use super::params::{TypeParams, non_empty_strings, query_language};
use super::query_check::{check_eql, check_kuery, file_offset};
use super::references;
use super::sections::{self, Metadata};
use super::{
    DEFAULT_FROM, DEFAULT_INTERVAL, DEFAULT_MAX_SIGNALS, DEFAULT_TO, Kind, Language, Loaded,
    Maturity, Meta, NotRunnable, Query, Rule, RuleType, Search, Severity, Timestamp, threat,
};
use crate::exceptions::{Catalog, Exceptions};
use crate::kql::Query as KqlTree;
use crate::schedule::datemath::{DateMath, Rounding, parse_date};
use crate::schedule::duration;
use crate::schedule::{Cron, Schedule};
use chrono::TimeDelta;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::DeTable;

/// The instant `from` and `to` are compared at; any instant works for relative expressions.
const COMPARISON_INSTANT: &str = "2024-01-01T00:00:00Z";

/// Parses one rule file without exception lists (a rule naming one is an error).
#[cfg(test)]
pub fn parse_rule_file(
    path: &Path,
    text: &str,
) -> Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>> {
    parse_rule_file_with(path, text, &Catalog::empty())
}

/// Parses one rule file, resolving its exception lists in `catalog`. On success, returns the
/// rule and its warnings; otherwise every error.
pub fn parse_rule_file_with(
    path: &Path,
    text: &str,
    catalog: &Catalog,
) -> Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut problems = FileProblems::new(path, text);
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = format!("TOML syntax error: {}", error.message().trim_end());
            return Err(vec![problems.at(&span, message)]);
        }
    };
    let rule = read_document(path, &document, &mut problems, catalog);
    match rule {
        Some(rule) if problems.errors.is_empty() => Ok((rule, problems.warnings)),
        _ => Err(problems.errors),
    }
}

fn read_document(
    path: &Path,
    document: &Spanned<DeTable<'_>>,
    p: &mut FileProblems<'_>,
    catalog: &Catalog,
) -> Option<Loaded> {
    let root = Table {
        name: "",
        span: (0, 0),
        entries: document.get_ref(),
    };
    root.warn_unknown_keys(p, TOP_LEVEL_KEYS);
    let (metadata, maturity) = match root.table(p, "metadata", "metadata", Need::Optional) {
        Some(table) => sections::read_metadata(&table, p),
        None => (Metadata::default(), Some(Maturity::Production)),
    };
    if let Some(transform) = root.table(p, "transform", "transform", Need::Optional) {
        transform.warn_unknown_keys(p, TRANSFORM_KEYS);
    }
    let cron = read_lookout_table(&root, p);
    let table = root.table(p, "rule", "rule", Need::Required)?;
    let read = read_rule(path, &table, p, catalog)?;
    let file = FileParts {
        maturity: maturity?,
        cron: cron?,
        metadata,
        raw: table_to_json(document.get_ref()),
    };
    Some(read.into_loaded(file))
}

/// What a rule file says outside `[rule]`.
struct FileParts {
    maturity: Maturity,
    cron: Option<Cron>,
    metadata: Metadata,
    raw: serde_json::Value,
}

/// Everything `[rule]` holds, read and checked, before it becomes a [`Loaded`] rule.
struct ReadRule {
    path: PathBuf,
    rule_id: String,
    rule_id_position: (usize, usize),
    name: String,
    rule_type: RuleType,
    language: Language,
    /// The query text and, for kuery and EQL, its tree (`None` for machine-learning rules).
    query: Option<(String, Tree)>,
    index: Vec<String>,
    interval: TimeDelta,
    from: DateMath,
    to: DateMath,
    max_signals: u32,
    timestamp: Timestamp,
    filters: Vec<serde_json::Value>,
    exceptions: Exceptions,
    params: TypeParams,
    meta: Meta,
}

impl ReadRule {
    /// A runnable rule when lookout runs its type and language, else its summary.
    fn into_loaded(self, file: FileParts) -> Loaded {
        let mut meta = self.meta;
        meta.maturity = file.maturity;
        meta.metadata = file.metadata;
        let query = match (self.language, self.query) {
            (Language::Kuery, Some((text, Tree::Kql(tree)))) => Some(Query::Kql { text, tree }),
            (Language::Lucene, Some((text, _))) => Some(Query::Lucene { text }),
            (Language::Eql, Some((text, Tree::Eql(tree)))) => Some(Query::Eql { text, tree }),
            _ => None,
        };
        let kind = query.and_then(|query| match self.params {
            TypeParams::None if self.rule_type == RuleType::Query => Some(Kind::Query(query)),
            TypeParams::None if self.rule_type == RuleType::Eql => Some(Kind::Eql(query)),
            TypeParams::Threshold(params) => Some(Kind::Threshold(query, params)),
            TypeParams::NewTerms(params) => Some(Kind::NewTerms(query, params)),
            TypeParams::ThreatMatch(params) => Some(Kind::ThreatMatch(query, params)),
            _ => None,
        });
        let Some(kind) = kind else {
            return Loaded::NotRunnable(NotRunnable {
                reason: format!(
                    "{} rules ({}) cannot run yet",
                    self.rule_type.as_str(),
                    self.language.as_str()
                ),
                path: self.path,
                rule_id: self.rule_id,
                rule_id_position: self.rule_id_position,
                name: self.name,
                rule_type: self.rule_type,
                language: self.language,
                maturity: meta.maturity,
            });
        };
        Loaded::Runnable(Box::new(Rule {
            path: self.path,
            rule_id: self.rule_id,
            rule_id_position: self.rule_id_position,
            name: self.name,
            meta,
            schedule: Schedule {
                interval: self.interval,
                cron: file.cron,
                from: self.from,
                to: self.to,
            },
            search: Search {
                index: self.index,
                timestamp: self.timestamp,
                filters: self.filters,
                exceptions: self.exceptions,
            },
            kind,
            max_signals: self.max_signals,
            raw: file.raw,
        }))
    }
}

/// Reads lookout's own `[lookout]` table (not part of Elastic's format): an optional
/// `cron = "*/10 * * * *"` schedule, parsed here so that a bad one is a load-time error.
fn read_lookout_table(root: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<Option<Cron>> {
    let Some(table) = root.table(p, LOOKOUT_TABLE, LOOKOUT_TABLE, Need::Optional) else {
        return Some(None);
    };
    table.warn_unknown_keys(p, LOOKOUT_KEYS);
    // `notify` is read from the rule's raw table when alerts are routed; here it is checked.
    let _ = table.strings(p, "notify", Need::Optional);
    let Some(text) = table.string(p, "cron", Need::Optional) else {
        return Some(None);
    };
    match Cron::parse(text.get_ref()) {
        Ok(cron) => Some(Some(cron)),
        Err(error) => {
            let name = table.key_name("cron");
            p.error(&text.span(), format!("bad `{name}`: {error}"));
            None
        }
    }
}

/// Reads `[rule]`. Every check runs, so that one pass reports every problem of the file.
fn read_rule(
    path: &Path,
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    catalog: &Catalog,
) -> Option<ReadRule> {
    t.warn_unknown_keys(p, RULE_KEYS);
    let rule_id = t
        .string(p, "rule_id", Need::Required)
        .filter(|id| usable_rule_id(id, p));
    let name = t.owned_string(p, "name", Need::Required);
    let description = t.owned_string(p, "description", Need::Required);
    let rule_type = read_type(t, p);
    if let Some(rule_type) = rule_type {
        warn_foreign_keys(t, p, rule_type);
    }
    let language = rule_type.and_then(|rule_type| read_language(t, p, rule_type));
    let query = read_query(t, p, rule_type, language);
    let index = rule_type.and_then(|rule_type| read_index(t, p, rule_type));
    let interval = read_interval(t, p);
    let (from, to) = read_window(t, p);
    let max_signals = read_max_signals(t, p);
    let severity = severity(t, p);
    let risk_score = risk_score(t, p);
    let version = read_version(t, p);
    let params = rule_type.and_then(|rule_type| TypeParams::read(rule_type, t, p));
    let timestamp_override = t.owned_string(p, "timestamp_override", Need::Optional);
    let fallback_disabled = t.boolean(p, "timestamp_override_fallback_disabled");
    let filters = read_filters(t, p);
    let (tags, author) = (strings(t, p, "tags"), strings(t, p, "author"));
    let license = t.owned_string(p, "license", Need::Optional);
    let references = strings(t, p, "references");
    let threat = threat::read_threats(t, p).unwrap_or_default();
    let enabled = t.boolean(p, "enabled").unwrap_or(true);
    let details = sections::read_details(t, p);
    if let Some(rule_type) = rule_type {
        sections::check_suppression(&details, rule_type, t, p);
    }
    let exceptions = rule_id
        .as_ref()
        .and_then(|id| references::resolve(t, p, catalog, id.get_ref(), &details.exceptions_list));
    // Every key has been read (and every problem recorded); now the rule exists or it does not.
    let rule_id = rule_id?;
    Some(ReadRule {
        path: path.to_path_buf(),
        rule_id_position: p.position(rule_id.span().start),
        rule_id: rule_id.into_inner().to_string(),
        name: name?,
        rule_type: rule_type?,
        language: language?,
        query: query?,
        index: index?,
        interval: interval?,
        from: from?,
        to: to?,
        max_signals: max_signals?,
        timestamp: Timestamp {
            field: timestamp_override,
            fallback_disabled: fallback_disabled.unwrap_or(false),
        },
        filters,
        exceptions: exceptions?,
        params: params?,
        meta: Meta {
            description: description?,
            severity: severity?,
            risk_score: risk_score?,
            maturity: Maturity::Production,
            version,
            tags,
            author,
            license,
            references,
            threat,
            enabled,
            metadata: Metadata::default(),
            details,
        },
    })
}

/// An optional array of strings (empty when absent).
pub(super) fn strings(t: &Table<'_, '_>, p: &mut FileProblems<'_>, key: &str) -> Vec<String> {
    t.strings(p, key, Need::Optional)
        .map(Spanned::into_inner)
        .unwrap_or_default()
}

fn read_type(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<RuleType> {
    let text = t.string(p, "type", Need::Required)?;
    let rule_type = RuleType::parse(text.get_ref());
    if rule_type.is_none() {
        let message = format!(
            "unknown rule type {:?} (use query, eql, esql, new_terms, threshold, threat_match or machine_learning)",
            text.get_ref()
        );
        p.error(&text.span(), message);
    }
    rule_type
}

/// The query language: the type's default when absent, else one the type accepts.
fn read_language(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    rule_type: RuleType,
) -> Option<Language> {
    let fixed = match rule_type {
        RuleType::Eql => Some(Language::Eql),
        RuleType::Esql => Some(Language::Esql),
        RuleType::MachineLearning => Some(Language::None),
        _ => None,
    };
    let Some(text) = t.string(p, "language", Need::Optional) else {
        return Some(fixed.unwrap_or(Language::Kuery));
    };
    let Some(expected) = fixed else {
        return query_language(t, p, "language", &text);
    };
    if Language::parse(text.get_ref()) == Some(expected) {
        return Some(expected);
    }
    let message = format!(
        "`rule.language` must be {:?} for a {} rule, found {:?}",
        expected.as_str(),
        rule_type.as_str(),
        text.get_ref()
    );
    p.error(&text.span(), message);
    None
}

/// A query's syntax tree, for the languages lookout parses.
enum Tree {
    Kql(KqlTree),
    Eql(Box<crate::eql::Query>),
    /// Lucene and ES|QL are kept as text.
    None,
}

/// The query (required by every type but machine_learning) and, for kuery and EQL, its syntax
/// tree; `Some(None)` for a machine-learning rule without one.
fn read_query(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    rule_type: Option<RuleType>,
    language: Option<Language>,
) -> Option<Option<(String, Tree)>> {
    let need = match rule_type? {
        RuleType::MachineLearning => Need::Optional,
        _ => Need::Required,
    };
    let tree = match language {
        Some(Language::Kuery) => check_query(t, p, "query").map_or(Tree::None, Tree::Kql),
        Some(Language::Eql) => check_eql_query(t, p, "query").map_or(Tree::None, Tree::Eql),
        _ => Tree::None,
    };
    match t.owned_string(p, "query", need) {
        Some(query) => Some(Some((query, tree))),
        None if need == Need::Optional => Some(None),
        None => None,
    }
}

/// Parses a kuery query, reporting its error at the matching position in the file.
pub(super) fn check_query(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    key: &str,
) -> Option<KqlTree> {
    let query = t.string(p, key, Need::Optional)?;
    match check_kuery(query.get_ref()) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            report_query_error(t, p, (key, query.span()), "KQL", &error);
            None
        }
    }
}

/// Whether the `rule_id` can be a document id and a path segment; records why not.
fn usable_rule_id(id: &Spanned<&str>, p: &mut FileProblems<'_>) -> bool {
    let Some(why) = names::rule_id_problem(id.get_ref()) else {
        return true;
    };
    p.error(
        &id.span(),
        format!("bad `rule.rule_id` {:?}: {why}", id.get_ref()),
    );
    false
}

/// Parses an EQL query, reporting its error at the matching position in the file, and what of
/// it lookout's own evaluation cannot run as warnings at the query (such a part matches nothing
/// on a server without EQL; native EQL runs it).
fn check_eql_query(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    key: &str,
) -> Option<Box<crate::eql::Query>> {
    let query = t.string(p, key, Need::Optional)?;
    match check_eql(query.get_ref()) {
        Ok(tree) => {
            for reason in crate::eql::unsupported(&tree) {
                let message =
                    format!("on servers without EQL, {reason}; that part matches nothing there");
                p.warning(&query.span(), message);
            }
            Some(Box::new(tree))
        }
        Err(error) => {
            report_query_error(t, p, (key, query.span()), "EQL", &error);
            None
        }
    }
}

/// Records a query's syntax error (positions within the query text) at its position in the
/// file, the position of what it left open, if any, named in file coordinates too.
fn report_query_error(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    (key, span): (&str, std::ops::Range<usize>),
    language: &str,
    error: &crate::kql::ParseError,
) {
    let offset = file_offset(p.text(), span.clone(), error.line, error.column);
    let message = match error.opened_at {
        Some((open_line, open_column)) => {
            let (line, column) = p.position(file_offset(p.text(), span, open_line, open_column));
            error.message_with_opened_at(line, column)
        }
        None => error.message.clone(),
    };
    let name = t.key_name(key);
    p.error(
        &(offset..offset),
        format!("bad {language} in `{name}`: {message}"),
    );
}

fn read_index(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    rule_type: RuleType,
) -> Option<Vec<String>> {
    if !names::check_index_patterns(t, p, "index") {
        return None;
    }
    if !sections::needs_index(rule_type) || t.entries.contains_key("data_view_id") {
        let index = t.strings(p, "index", Need::Optional);
        return Some(index.map(Spanned::into_inner).unwrap_or_default());
    }
    non_empty_strings(t, p, "index")
}

fn read_interval(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<TimeDelta> {
    let Some(text) = t.string(p, "interval", Need::Optional) else {
        return Some(
            duration::parse_duration(DEFAULT_INTERVAL).expect("the default interval is valid"),
        );
    };
    duration::parse_duration(text.get_ref())
        .map_err(|reason| p.error(&text.span(), format!("bad `rule.interval`: {reason}")))
        .ok()
}

/// `from` and `to`, each defaulted, and `from` no later than `to`.
fn read_window(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> (Option<DateMath>, Option<DateMath>) {
    let from = read_date_math(t, p, "from", DEFAULT_FROM);
    let to = read_date_math(t, p, "to", DEFAULT_TO);
    let (Some((from, from_span)), Some((to, _))) = (from, to) else {
        return (None, None);
    };
    let instant = parse_date(COMPARISON_INSTANT).expect("the comparison instant is a valid date");
    let start = from.resolve(instant, Rounding::Down);
    let end = to.resolve(instant, Rounding::Up);
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        let message = format!("`rule.from` ({from}) is later than `rule.to` ({to})");
        p.error(&from_span, message);
        return (None, None);
    }
    (Some(from), Some(to))
}

fn read_date_math(
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    key: &str,
    default: &str,
) -> Option<(DateMath, std::ops::Range<usize>)> {
    let Some(text) = t.string(p, key, Need::Optional) else {
        let date_math = DateMath::parse(default).expect("defaults are valid date math");
        return Some((date_math, t.span()));
    };
    let name = t.key_name(key);
    match DateMath::parse(text.get_ref()) {
        Ok(date_math) if date_math.is_relative() => Some((date_math, text.span())),
        Ok(_) => {
            let message = format!("`{name}` must be relative to now, as in \"now-6m\"");
            p.error(&text.span(), message);
            None
        }
        Err(reason) => {
            p.error(&text.span(), format!("bad `{name}`: {reason}"));
            None
        }
    }
}

fn read_max_signals(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<u32> {
    let Some(value) = t.integer(p, "max_signals", Need::Optional) else {
        return Some(DEFAULT_MAX_SIGNALS);
    };
    match u32::try_from(*value.get_ref()) {
        Ok(max) if max >= 1 => Some(max),
        _ => {
            let message = format!("`rule.max_signals` must be between 1 and {}", u32::MAX);
            p.error(&value.span(), message);
            None
        }
    }
}

fn read_version(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<u64> {
    let value = t.integer(p, "version", Need::Optional)?;
    let version = u64::try_from(*value.get_ref()).ok().filter(|v| *v >= 1);
    if version.is_none() {
        p.error(&value.span(), "`rule.version` must be at least 1");
    }
    version
}

/// `severity` of a rule or a severity mapping.
pub(super) fn severity(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<Severity> {
    let text = t.string(p, "severity", Need::Required)?;
    let severity = Severity::parse(text.get_ref());
    if severity.is_none() {
        let message = format!(
            "unknown severity {:?} (use low, medium, high or critical)",
            text.get_ref()
        );
        p.error(&text.span(), message);
    }
    severity
}

/// `risk_score` of a rule or a risk-score mapping: 0 to 100.
pub(super) fn risk_score(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<u8> {
    let value = t.integer(p, "risk_score", Need::Required)?;
    let score = u8::try_from(*value.get_ref()).ok().filter(|s| *s <= 100);
    if score.is_none() {
        let message = format!(
            "`{}` must be between 0 and 100, found {}",
            t.key_name("risk_score"),
            value.get_ref()
        );
        p.error(&value.span(), message);
    }
    score
}

/// Kibana filter objects (`[[rule.filters]]`), kept as JSON.
fn read_filters(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Vec<serde_json::Value> {
    let tables = t.tables(p, "rule.filters", "filters", Need::Optional);
    let tables = tables.unwrap_or_default();
    tables
        .iter()
        .map(|table| table_to_json(table.entries))
        .collect()
}
