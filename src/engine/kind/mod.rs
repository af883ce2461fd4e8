//! The rule kinds (docs/rule-types.md). Each kind is one module with a `run` that says, for one
//! window, what to search (through the shared [`Searcher`]) and which alerts follow from the
//! hits or buckets (offered to the shared [`AlertSink`]); each keeps its request building and
//! answer reading pure, next to its `run`. Windows, catch-up, paging, the alert sink, state and
//! execution records are the engine's and the same for every kind.
//!
//! A new kind is a variant of [`crate::rule::Kind`], one module here with its arms in [`run`] and
//! [`planned_searches`], and its section in docs/rule-types.md.

mod eql;
mod grouped;
mod new_terms;
mod query;
mod threat_match;
mod threshold;
mod values;

#[cfg(test)]
mod tests;

pub use eql::MAX_SEQUENCE_LOOKBACK;
pub(super) use eql::{
    Found, Memory as EqlMemory, Path as EqlRunPath, Start, find_local,
    native_search as native_eql_search, path as eql_path, tree as eql_tree,
};
pub use new_terms::NEW_TERMS_PAGE_SIZE;
pub(super) use new_terms::{find as find_new_terms, term_id as new_term_id};
pub use threat_match::THREAT_INDICATOR_PAGE_SIZE;

use super::ExecutionError;
use super::query::query_dsl;
use super::search::Searcher;
use super::sink::AlertSink;
use super::suppress::Policy;
use crate::alert::AlertContext;
use crate::kql::FieldMap;
use crate::rule::{Kind, Rule};
use crate::schedule::Window;
use serde_json::Value;

/// What every kind gets for one window of one execution.
pub(super) struct Chunk<'a> {
    pub rule: &'a Rule,
    /// The rule's query as DSL (KQL typed with the field types of its indices).
    pub query: &'a Value,
    pub window: Window,
    pub search: &'a Searcher<'a>,
    pub alert: AlertContext<'a>,
    /// What EQL rules keep between windows (their path, their sequence matchers).
    pub eql: &'a EqlMemory,
}

/// Runs one window of the rule with the code of its kind; the alerts go to `sink`. Returns the
/// hits the execution record counts: matched events (query, indicator match), events in
/// alerted groups (threshold), candidate terms (new terms).
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    match &chunk.rule.kind {
        Kind::Query(_) if sink.suppressor().is_some() => grouped::run(chunk, sink).await,
        Kind::Query(_) => query::run(chunk, sink).await,
        Kind::Eql(_) => eql::run(chunk, sink).await,
        Kind::Threshold(_, params) => threshold::run(chunk, params, sink).await,
        Kind::NewTerms(_, params) => new_terms::run(chunk, params, sink).await,
        Kind::ThreatMatch(_, params) => threat_match::run(chunk, params, sink).await,
    }
}

/// A search an execution sends, as people read it (`lookout translate --requests`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedSearch {
    /// What the search is for, in a few words.
    pub purpose: &'static str,
    pub index: Vec<String>,
    /// The first page's body (later pages add a cursor; paging adds the tiebreaker).
    pub body: Value,
}

/// The searches one execution of `rule` over `window` sends, its query typed with `fields`.
/// Searches that depend on earlier answers are shown for a placeholder: the new-terms history
/// for one candidate, the indicator-match event search for one indicator, each holding
/// [`PLACEHOLDER`] in every field.
pub fn planned_searches(
    rule: &Rule,
    fields: Option<&FieldMap>,
    window: Window,
) -> Vec<PlannedSearch> {
    if let Kind::Eql(_) = rule.kind {
        return eql::planned(rule, fields, window);
    }
    let query = query_dsl(rule.kind.query(), fields);
    match (&rule.kind, Policy::of(rule)) {
        (Kind::Query(_), Some(policy)) => grouped::planned(rule, &policy, &query, window),
        _ => planned_by_kind(rule, &query, window),
    }
}

fn planned_by_kind(rule: &Rule, query: &Value, window: Window) -> Vec<PlannedSearch> {
    let query = query.clone();
    match &rule.kind {
        Kind::Query(_) => query::planned(rule, &query, window),
        Kind::Eql(_) => eql::planned(rule, None, window),
        Kind::Threshold(_, params) => threshold::planned(rule, params, &query, window),
        Kind::NewTerms(_, params) => new_terms::planned(rule, params, &query, window),
        Kind::ThreatMatch(_, params) => threat_match::planned(rule, params, &query, window),
    }
}

/// The value placeholders hold in [`planned_searches`].
pub const PLACEHOLDER: &str = "<value from an earlier answer>";
