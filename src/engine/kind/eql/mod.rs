//! EQL rules (docs/eql.md): each window runs on one of two paths, chosen from the server or
//! forced by `engine.eql`. Native (`native`): one `_eql/search` as Kibana's EQL executor sends
//! it. Local (`local`): lookout's own run, stage DSL searched with the shared paging, residuals
//! checked on the fetched events, sequences joined by a matcher that lives across windows
//! ([`Memory`]). Either way, matched events become alerts exactly like a query rule's, and each
//! sequence a shell alert plus a building block per event, offered to the shared alert sink.

mod local;
mod native;

use super::{Chunk, PlannedSearch};
use crate::alert::{self, SourceEvent};
use crate::config::EqlPath;
use crate::engine::ExecutionError;
use crate::engine::kept::Kept;
use crate::engine::sink::AlertSink;
use crate::eql::sequence::SequenceMatcher;
use crate::kql::FieldMap;
use crate::rule::{Query, Rule};
use crate::schedule::Window;

pub use local::MAX_SEQUENCE_LOOKBACK;
pub(in crate::engine) use local::{Found, Start, find_local};
pub(in crate::engine) use native::search as native_search;

/// What the EQL kind keeps between executions of one engine: the configured path, and per rule
/// the sequence matcher of its scheduled windows (and another for its manual ones), so that
/// partial sequences carry over from one window to the next.
#[derive(Debug, Default)]
pub(in crate::engine) struct Memory {
    path: EqlPath,
    /// Each matcher with the query text it was built for (a reloaded rule with another query
    /// starts afresh).
    matchers: Kept<MatcherKey, String, SequenceMatcher>,
}

/// A rule id and whether the windows are manual (`lookout backfill`).
type MatcherKey = (String, bool);

impl Memory {
    pub fn new(path: EqlPath) -> Self {
        Self {
            path,
            matchers: Kept::default(),
        }
    }

    /// Takes the rule's matcher out (`None` when there is none, or it was built for another
    /// query): an execution that fails does not put it back, so the next one starts afresh and
    /// finds again what the failed one lost.
    fn take(&self, key: &MatcherKey, query: &str) -> Option<SequenceMatcher> {
        self.matchers.take(key, query)
    }

    fn put(&self, key: MatcherKey, query: &str, matcher: SequenceMatcher) {
        self.matchers.put(key, query.to_string(), matcher);
    }
}

/// Where one window of an EQL rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::engine) enum Path {
    Native,
    Local,
}

impl Path {
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Native => "native",
            Path::Local => "local",
        }
    }
}

/// The path of `configured` on this server: forced, or native when it answers `_eql/search`.
pub(in crate::engine) async fn path(
    search: &crate::engine::search::Searcher<'_>,
    configured: EqlPath,
) -> Result<Path, ExecutionError> {
    Ok(match configured {
        EqlPath::Native => Path::Native,
        EqlPath::Local => Path::Local,
        EqlPath::Auto if search.has_eql().await? => Path::Native,
        EqlPath::Auto => Path::Local,
    })
}

/// Runs one window; returns the matched events (for a sequence rule, the events searched).
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    match path(chunk.search, chunk.eql.path).await? {
        Path::Native => native::run(chunk, sink).await,
        Path::Local => local::run(chunk, sink).await,
    }
}

/// The rule's EQL tree (an EQL rule's query is always EQL).
pub(in crate::engine) fn tree(rule: &Rule) -> &crate::eql::Query {
    match rule.kind.query() {
        Query::Eql { tree, .. } => tree,
        _ => unreachable!("an EQL rule's query is EQL (rule::parse)"),
    }
}

/// The fields the rule's EQL reads its events with.
pub(in crate::engine) fn fields(rule: &Rule) -> crate::eql::Fields<'_> {
    let details = &rule.meta.details;
    crate::eql::Fields {
        category: details.event_category_override.as_deref(),
        timestamp: details.timestamp_field.as_deref(),
        tiebreaker: details.tiebreaker_field.as_deref(),
    }
}

/// The alerts of events, as for a query rule.
fn event_alerts<'s>(
    chunk: &Chunk<'_>,
    shared: &alert::SharedFields,
    events: impl Iterator<Item = SourceEvent<'s>>,
) -> Vec<alert::Alert> {
    events
        .map(|event| alert::build_alert_with(event, chunk.alert, shared))
        .collect()
}

/// The alerts of one sequence of events (in order), `None` when it has none.
fn sequence_alerts(
    chunk: &Chunk<'_>,
    shared: &alert::SharedFields,
    events: &[SourceEvent<'_>],
) -> Option<alert::SequenceAlerts> {
    alert::build_sequence_alerts(events, chunk.alert, shared)
}

/// The searches of one window: on the local path, the search of the query's candidate events
/// (typed with `fields`); the native `_eql/search` body is shown too.
pub(super) fn planned(
    rule: &Rule,
    fields: Option<&FieldMap>,
    window: Window,
) -> Vec<PlannedSearch> {
    let mut planned = local::planned(rule, fields, window);
    planned.push(native::planned(rule, window));
    planned
}
