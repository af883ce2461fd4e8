//! The local path, for servers without `_eql/search`: the query's candidate events searched with
//! the DSL of its stages (typed with the indices' field types) and the shared paging; an event
//! query's residual checked on each fetched event; a sequence's events fed, page by page, to the
//! rule's matcher, which keeps partial sequences from one window to the next. A matcher that
//! starts afresh (first window after a start, or after a failed one) is first fed the events of
//! the span before the window that a sequence can reach back over (its maxspan, else the rule's
//! window length, at most [`MAX_SEQUENCE_LOOKBACK`]); the sequences that completes are dropped
//! there, since their window was searched before.

use super::{Chunk, PlannedSearch, event_alerts, sequence_alerts};
use crate::alert::{SharedFields, SourceEvent};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::search::Searcher;
use crate::engine::sink::AlertSink;
use crate::eql::sequence::{
    CompletedSequence, Document, SequenceMatcher, in_answer_order, sequence_id,
};
use crate::eql::{DEFAULT_TIMESTAMP_FIELD, LocalQuery, Picker, Samples, SequencePlan};
use crate::es::{Flow, Hit, Paging};
use crate::kql::FieldMap;
use crate::rule::Rule;
use crate::schedule::Window;
use chrono::TimeDelta;
use serde_json::{Value, json};

/// The longest span before a window that a fresh sequence matcher is fed, so that a sequence
/// whose first events came before a restart still completes.
pub const MAX_SEQUENCE_LOOKBACK: TimeDelta = TimeDelta::hours(24);

/// The sequence matcher a local search feeds.
pub(in crate::engine) enum Start {
    /// The rule's matcher, kept from its earlier windows.
    Kept(Box<SequenceMatcher>),
    /// A new matcher, first fed the span before the window (the daemon after a start).
    Primed,
    /// A new matcher that sees only the window (`lookout test`).
    Fresh,
}

/// What one page of the local path found.
pub(in crate::engine) enum Found {
    /// The page's events that match an event query.
    Events(Vec<Hit>),
    /// The sequences the page's events completed.
    Sequences(Vec<CompletedSequence>),
}

/// Runs one window the local way and writes its alerts; returns the matched events (for a
/// sequence, the events that took part in a stage).
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let rule = chunk.rule;
    let key = (rule.rule_id.clone(), chunk.alert.intended_at.is_some());
    let text = rule.kind.query().text();
    let matcher = match chunk.eql.take(&key, text) {
        Some(matcher) => Start::Kept(Box::new(matcher)),
        None => Start::Primed,
    };
    let shared = SharedFields::new(chunk.alert);
    // The window's matches are picked as `_eql/search` picks them (its pipes and `size`), then
    // offered: events when the window is read, sequences when the matcher is fed all of it.
    let pipes = &super::tree(rule).pipes;
    let size = u64::from(rule.max_signals);
    let mut events = Picker::new(pipes, size);
    let mut completed = Vec::new();
    let (hits, matcher) = find_local(
        chunk.search,
        (rule, chunk.alert.namespace),
        chunk.window,
        matcher,
        async |found| {
            Ok(match found {
                Found::Events(hits) => {
                    hits.into_iter().for_each(|hit| events.push(hit));
                    match events.wants_more() {
                        true => Flow::More,
                        false => Flow::Stop,
                    }
                }
                Found::Sequences(done) => {
                    completed.extend(done);
                    // The matcher is fed every page, also past the picked ones, so that its
                    // state is the same as if the window had fewer sequences.
                    Flow::More
                }
            })
        },
    )
    .await?;
    // More matches than `size`: Kibana's "maximum alerts reached" (its answer's total).
    let cut = |taken: u64, picked: usize| picked as u64 >= size && taken > picked as u64;
    let (taken, events) = (events.taken(), events.finish());
    // The window's sequences are picked in the order Elasticsearch answers them in.
    in_answer_order(&mut completed, pipes);
    let mut sequences = Picker::new(pipes, size);
    completed
        .into_iter()
        .for_each(|sequence| sequences.push(sequence));
    let limited = cut(taken, events.len());
    let (taken, sequences) = (sequences.taken(), sequences.finish());
    if limited || cut(taken, sequences.len()) {
        sink.limit_reached();
    }
    if !events.is_empty() {
        let sources = events.iter().map(|hit| SourceEvent {
            index: &hit.index,
            id: &hit.id,
            source: &hit.source,
        });
        sink.offer(event_alerts(chunk, &shared, sources)).await?;
    }
    if !sequences.is_empty() {
        let alerts = (sequences.iter())
            .filter_map(|sequence| {
                let events: Vec<SourceEvent<'_>> = (sequence.events.iter())
                    .map(|document| SourceEvent {
                        index: &document.index,
                        id: &document.id,
                        source: &document.source,
                    })
                    .collect();
                sequence_alerts(chunk, &shared, &events)
            })
            .collect();
        sink.offer_sequences(alerts).await?;
    }
    if let Some(matcher) = matcher {
        chunk.eql.put(key, text, matcher);
    }
    Ok(hits)
}

/// Searches `window` the local way and hands each page's findings to `visit`. A sequence query
/// feeds the matcher `start` says (a new one makes sequence ids for `namespace`), which is
/// returned to keep. Returns the matched events and the matcher.
pub(in crate::engine) async fn find_local(
    search: &Searcher<'_>,
    (rule, namespace): (&Rule, &str),
    window: Window,
    start: Start,
    mut visit: impl AsyncFnMut(Found) -> Result<Flow, ExecutionError>,
) -> Result<(u64, Option<SequenceMatcher>), ExecutionError> {
    let info = search.field_info(&rule.search.index).await;
    let types = info.as_deref().map(|info| &info.fields);
    let query = LocalQuery::new(super::tree(rule), super::fields(rule), types)
        .map_err(|error| search.failure(format!("cannot run its EQL here: {error}")))?;
    let dsl = query.dsl.to_json();
    if let Some(sample) = query.sample() {
        // Samples have no order and no span: the window's candidates are gathered, then its
        // complete samples are handed over as sequences (Elasticsearch answers them in
        // `hits.sequences`, which Kibana alerts as sequences).
        let mut body = plan::events_body(&rule.search, &dsl, &window);
        body["sort"] = timestamp_sort(event_timestamp(rule));
        let mut samples = Samples::default();
        let mut read = 0;
        search_pages(search, rule, body, async |page: Vec<Hit>| {
            read += page.len() as u64;
            for hit in page {
                let document = Document {
                    index: hit.index,
                    id: hit.id,
                    source: hit.source,
                };
                sample.add(&mut samples, document, types);
            }
            Ok(Flow::More)
        })
        .await?;
        let done: Vec<CompletedSequence> = (samples.finish().into_iter())
            .map(|(key, events)| CompletedSequence {
                id: sequence_id(
                    events
                        .iter()
                        .map(|event| (event.index.as_str(), event.id.as_str())),
                    namespace,
                    &rule.rule_id,
                ),
                key,
                events,
                start: None,
            })
            .collect();
        if !done.is_empty() {
            visit(Found::Sequences(done)).await?;
        }
        return Ok((read, None));
    }
    let Some(sequence) = query.sequence() else {
        let mut matched = 0;
        let mut body = plan::events_body(&rule.search, &dsl, &window);
        body["sort"] = timestamp_sort(event_timestamp(rule));
        search_pages(search, rule, body, async |page: Vec<Hit>| {
            let accepted: Vec<Hit> = (page.into_iter())
                .filter(|hit| query.accepts(&hit.source, types))
                .collect();
            matched += accepted.len() as u64;
            visit(Found::Events(accepted)).await
        })
        .await?;
        return Ok((matched, None));
    };
    let mut matcher = match start {
        Start::Kept(matcher) => *matcher,
        Start::Fresh => SequenceMatcher::new(sequence.spec(), namespace, &rule.rule_id),
        Start::Primed => {
            let mut fresh = SequenceMatcher::new(sequence.spec(), namespace, &rule.rule_id);
            let before = Window {
                from: window.from - lookback(rule, sequence, &window),
                to: window.from,
            };
            feed(
                search,
                rule,
                sequence,
                &dsl,
                before,
                types,
                &mut fresh,
                async |_| Ok(Flow::More),
            )
            .await?;
            fresh
        }
    };
    let matched = feed(
        search,
        rule,
        sequence,
        &dsl,
        window,
        types,
        &mut matcher,
        async |done| visit(Found::Sequences(done)).await,
    )
    .await?;
    Ok((matched, Some(matcher)))
}

/// Feeds the events of `window` that take part in a stage (or `until`) to `matcher`, page by
/// page in the order of the sequence's timestamp; `visit` gets the sequences each page
/// completed. Returns the events fed.
#[allow(clippy::too_many_arguments)]
async fn feed(
    search: &Searcher<'_>,
    rule: &Rule,
    sequence: &SequencePlan,
    dsl: &Value,
    window: Window,
    types: Option<&FieldMap>,
    matcher: &mut SequenceMatcher,
    mut visit: impl AsyncFnMut(Vec<CompletedSequence>) -> Result<Flow, ExecutionError>,
) -> Result<u64, ExecutionError> {
    let mut body = plan::events_body(&rule.search, dsl, &window);
    body["sort"] = sequence_sort(sequence);
    let mut fed = 0;
    search_pages(search, rule, body, async |page: Vec<Hit>| {
        let events: Vec<_> = (page.into_iter())
            .filter_map(|hit| {
                let document = Document {
                    index: hit.index,
                    id: hit.id,
                    source: hit.source,
                };
                sequence.event(document, types).ok()
            })
            .collect();
        fed += events.len() as u64;
        let done = matcher.feed(events);
        if done.is_empty() {
            return Ok(Flow::More);
        }
        visit(done).await
    })
    .await?;
    Ok(fed)
}

/// Every page of a search, as the query kind reads them: one search without a point-in-time
/// first, asking for one hit more than a page; when the window fits in a page (most windows of
/// most rules), that answer is all of it and the point-in-time's two round trips are saved.
/// Otherwise the answer is dropped unvisited and the window is paged inside a point-in-time.
async fn search_pages(
    search: &Searcher<'_>,
    rule: &Rule,
    body: Value,
    mut visit: impl AsyncFnMut(Vec<Hit>) -> Result<Flow, ExecutionError>,
) -> Result<(), ExecutionError> {
    let page_size = plan::page_size(rule.max_signals);
    let mut first = body.clone();
    first["size"] = (page_size + 1).into();
    let page = search.page::<Value>(&rule.search.index, first).await?;
    if page.hits.len() > page_size {
        return search.pages(paging(rule), body, visit).await;
    }
    if !page.hits.is_empty() {
        visit(page.hits).await?;
    }
    search.fail_on_shard_failures(&rule.search.index, page.shard_failures)
}

/// How far before a window a fresh matcher looks: the sequence's maxspan, else the length of
/// the rule's own window, at most [`MAX_SEQUENCE_LOOKBACK`].
fn lookback(rule: &Rule, sequence: &SequencePlan, window: &Window) -> TimeDelta {
    let span = match sequence.maxspan() {
        Some(maxspan) => TimeDelta::from_std(maxspan).unwrap_or(MAX_SEQUENCE_LOOKBACK),
        None => (rule.schedule.window_at(window.to))
            .map_or(MAX_SEQUENCE_LOOKBACK, |nominal| nominal.to - nominal.from),
    };
    span.min(MAX_SEQUENCE_LOOKBACK)
}

/// The sequence's timestamp ascending: pages come in the order the matcher matches in.
fn sequence_sort(sequence: &SequencePlan) -> Value {
    timestamp_sort(sequence.timestamp_field())
}

/// The field `_eql/search` orders an event query's matches by (the rule's `timestamp_field`,
/// not its timestamp override), so that `head`, `tail` and `size` pick the same events.
fn event_timestamp(rule: &Rule) -> &str {
    super::fields(rule)
        .timestamp
        .unwrap_or(DEFAULT_TIMESTAMP_FIELD)
}

fn timestamp_sort(field: &str) -> Value {
    json!([{ field: { "order": "asc", "unmapped_type": "date" } }])
}

fn paging(rule: &Rule) -> Paging<'_> {
    Paging {
        index: &rule.search.index,
        page_size: plan::page_size(rule.max_signals),
        point_in_time: true,
    }
}

/// The search of the query's candidate events (the window's, without a prime).
pub(super) fn planned(
    rule: &Rule,
    fields: Option<&FieldMap>,
    window: Window,
) -> Vec<PlannedSearch> {
    let Ok(query) = LocalQuery::new(super::tree(rule), super::fields(rule), fields) else {
        return Vec::new();
    };
    let mut body = plan::events_body(&rule.search, &query.dsl.to_json(), &window);
    body["sort"] = match query.sequence() {
        Some(sequence) => sequence_sort(sequence),
        None => timestamp_sort(event_timestamp(rule)),
    };
    body["size"] = plan::page_size(rule.max_signals).into();
    vec![PlannedSearch {
        purpose: "the window's candidate events (on servers without EQL)",
        index: rule.search.index.clone(),
        body,
    }]
}
