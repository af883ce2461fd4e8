//! What a rule finds over a window without writing anything (`lookout test`): the events its
//! query matches, searched exactly as an execution searches them (the same translation with the
//! same field types, the same request, the same paging), up to a limit, and which of them
//! already have an alert. EQL rules run on the path an execution takes (native `_eql/search` or
//! lookout's own run); a sequence rule's preview lists its sequences.

use super::kind::{
    EqlRunPath, Found, Start, eql_path, find_local, find_new_terms, native_eql_search, new_term_id,
};
use super::query::FieldCapsCache;
use super::search::Searcher;
use super::{ExecutionError, Settings, plan};
use crate::alert;
use crate::eql::native::EqlHits;
use crate::eql::sequence::CompletedSequence;
use crate::es::{Client, Flow, Hit, Paging};
use crate::kql::FieldMap;
use crate::rule::{Kind, Rule};
use crate::schedule::Window;
use std::collections::HashSet;

/// The events a rule's query matches in a window, and what an execution would make of them.
#[derive(Debug)]
pub struct Preview {
    /// The matching events, oldest first, at most the limit asked for. For a sequence rule, the
    /// events of its sequences, each once, in the order the sequences list them.
    pub events: Vec<Hit>,
    /// For a sequence rule, each sequence as the positions of its events in `events`, in
    /// sequence order; empty for other rules.
    pub sequences: Vec<Vec<usize>>,
    /// The limit was reached: more events may match.
    pub more: bool,
    /// The id of each alert an execution would count: one per event, or for a sequence rule
    /// one per sequence (its shell alert), in the same order.
    pub alert_ids: Vec<String>,
    /// The ids among `alert_ids` already written.
    pub existing: HashSet<String>,
    /// What the translation said (field types unavailable, no index behind the patterns).
    pub warnings: Vec<String>,
    /// For an EQL rule, where it ran: `native` (`_eql/search`) or `local`.
    pub eql_path: Option<&'static str>,
    /// The field types of the rule's indices the search was built with (`None` when they were
    /// unavailable: see `warnings`), for showing the same requests without asking again.
    pub fields: Option<FieldMap>,
    /// For a new-terms rule, the new terms of the window (at most the limit asked for), found as
    /// an execution finds them; `alert_ids` then holds one id per new term, in the same order.
    /// The error when the server could not answer (the events are still listed).
    pub new_terms: Option<Result<NewTermsFound, String>>,
}

/// The new terms a new-terms rule's execution would alert on.
#[derive(Debug, Default)]
pub struct NewTermsFound {
    pub terms: Vec<NewTerm>,
    /// The limit was reached: more new terms may exist.
    pub more: bool,
}

/// A value (or combination of values) of the window that the history window does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTerm {
    /// One value per new-terms field, in the rule's field order.
    pub values: Vec<serde_json::Value>,
    /// The window's events that hold these values.
    pub events: u64,
    /// The first of those events (`_index`, `_id`): the one its alert is built on.
    pub first: (String, String),
}

impl Preview {
    /// How many of the events (sequences) would become new alerts (before the `max_signals`
    /// budget).
    pub fn new_alerts(&self) -> usize {
        let mut seen = HashSet::new();
        (self.alert_ids.iter())
            .filter(|id| !self.existing.contains(*id) && seen.insert(*id))
            .count()
    }
}

/// What a search found, before the alert ids are looked up.
#[derive(Default)]
struct Matches {
    events: Vec<Hit>,
    sequences: Vec<Vec<usize>>,
    sequence_ids: Vec<String>,
    more: bool,
}

impl Matches {
    /// Adds events until `limit`; false once it is reached.
    fn add_events(&mut self, events: Vec<Hit>, limit: usize) -> bool {
        self.events.extend(events);
        if self.events.len() < limit {
            return true;
        }
        self.more = true;
        self.events.truncate(limit);
        false
    }

    fn with_more(mut self, more: bool) -> Self {
        self.more = more;
        self
    }

    /// Adds a sequence of `(index, id, source)` events, each event kept once.
    fn add_sequence(&mut self, id: String, events: Vec<Hit>) {
        let mut positions = Vec::with_capacity(events.len());
        for event in events {
            let known = (self.events.iter())
                .position(|seen| seen.index == event.index && seen.id == event.id);
            positions.push(known.unwrap_or_else(|| {
                self.events.push(event);
                self.events.len() - 1
            }));
        }
        self.sequences.push(positions);
        self.sequence_ids.push(id);
    }
}

/// Searches `window` for the events `rule`'s query matches, at most `limit` of them; field
/// types come through `field_caps`.
pub async fn preview(
    client: &Client,
    field_caps: &FieldCapsCache,
    settings: &Settings,
    rule: &Rule,
    window: Window,
    limit: usize,
) -> Result<Preview, ExecutionError> {
    let translated = field_caps.translate(client, rule).await;
    let mut warnings = translated.warnings;
    if translated.no_index_matches {
        let patterns = rule.search.index.join(",");
        warnings.push(format!("index pattern {patterns} matches no index"));
    }
    let (matches, path) = match &rule.kind {
        Kind::Eql(_) => {
            let searcher = Searcher::new(client, rule, field_caps);
            let path = eql_path(&searcher, settings.eql).await?;
            let matches = match path {
                EqlRunPath::Native => {
                    native_matches(&searcher, settings, rule, window, limit).await?
                }
                EqlRunPath::Local => {
                    local_matches(&searcher, settings, rule, window, limit).await?
                }
            };
            (matches, Some(path.as_str()))
        }
        _ => (
            query_matches(client, rule, &translated.dsl, window, limit).await?,
            None,
        ),
    };
    let new_terms = match &rule.kind {
        Kind::NewTerms(_, params) => {
            let searcher = Searcher::new(client, rule, field_caps);
            let found =
                find_new_terms(&searcher, rule, params, &translated.dsl, window, limit).await;
            Some(found.map_err(|error| error.to_string()))
        }
        _ => None,
    };
    let alert_ids: Vec<String> = match (&rule.kind, &new_terms) {
        (_, Some(Ok((found, _)))) => (found.iter())
            .map(|term| new_term_id(term, &settings.namespace, &rule.rule_id))
            .collect(),
        (_, Some(Err(_))) => Vec::new(),
        (Kind::Eql(_), _) if !matches.sequence_ids.is_empty() => matches.sequence_ids.clone(),
        _ => (matches.events.iter())
            .map(|hit| alert::alert_id(&hit.index, &hit.id, &settings.namespace, &rule.rule_id))
            .collect(),
    };
    let existing = client
        .existing_ids(&settings.alerts_pattern(), &alert_ids)
        .await
        .map_err(|error| ExecutionError::es(rule, error))?;
    Ok(Preview {
        events: matches.events,
        sequences: matches.sequences,
        more: matches.more,
        alert_ids,
        existing,
        warnings,
        eql_path: path,
        fields: translated.fields.map(|info| info.fields.clone()),
        new_terms: new_terms.map(|found| {
            found.map(|(found, more)| NewTermsFound {
                terms: (found.into_iter())
                    .map(|term| NewTerm {
                        values: term.values,
                        events: term.events,
                        first: (term.first.index, term.first.id),
                    })
                    .collect(),
                more,
            })
        }),
    })
}

/// The events of a query (or any other non-EQL) rule's query, paged as an execution pages them.
async fn query_matches(
    client: &Client,
    rule: &Rule,
    dsl: &serde_json::Value,
    window: Window,
    limit: usize,
) -> Result<Matches, ExecutionError> {
    let paging = Paging {
        index: &rule.search.index,
        page_size: plan::page_size(rule.max_signals),
        point_in_time: true,
    };
    let body = plan::events_body(&rule.search, dsl, &window);
    let mut matches = Matches::default();
    let paged = client
        .for_each_page(paging, body, async |page: Vec<Hit>| {
            Ok::<_, ExecutionError>(match matches.add_events(page, limit) {
                true => Flow::More,
                false => Flow::Stop,
            })
        })
        .await;
    paged.map_err(|error| match error {
        crate::es::PagingError::Es(error) => ExecutionError::es(rule, error),
        crate::es::PagingError::Visit(error) => error,
    })?;
    Ok(matches)
}

/// An EQL rule run by `_eql/search`.
async fn native_matches(
    searcher: &Searcher<'_>,
    settings: &Settings,
    rule: &Rule,
    window: Window,
    limit: usize,
) -> Result<Matches, ExecutionError> {
    let answer = native_eql_search(searcher, rule, &window).await?;
    let hit = |event: &crate::eql::native::EqlEvent| hit(&event.index, &event.id, &event.source);
    let mut matches = Matches::default();
    match &answer.hits {
        EqlHits::Events(events) => {
            matches.add_events(events.iter().map(hit).collect(), limit);
        }
        EqlHits::Sequences(sequences) => {
            for sequence in sequences {
                let id = sequence.id(&settings.namespace, &rule.rule_id);
                matches.add_sequence(id, sequence.present_events().map(hit).collect());
            }
        }
    }
    Ok(matches)
}

/// An EQL rule run by lookout: a new matcher over the window only, its waiting sequences
/// decided at the window's end as Elasticsearch decides them over a fixed range.
async fn local_matches(
    searcher: &Searcher<'_>,
    settings: &Settings,
    rule: &Rule,
    window: Window,
    limit: usize,
) -> Result<Matches, ExecutionError> {
    let mut matches = Matches::default();
    // Sequences are listed once the search is over, in the order Elasticsearch answers them in.
    let mut completed: Vec<CompletedSequence> = Vec::new();
    let namespace = settings.namespace.as_str();
    let mut stopped = false;
    let (_, matcher) = find_local(
        searcher,
        (rule, namespace),
        window,
        Start::Fresh,
        async |found| {
            let more = match found {
                Found::Events(events) => matches.add_events(events, limit),
                Found::Sequences(done) => {
                    completed.extend(done);
                    completed.len() < limit
                }
            };
            stopped = !more;
            Ok(if more { Flow::More } else { Flow::Stop })
        },
    )
    .await?;
    // The waiting sequences are decided only when the matcher saw the whole window: stopped
    // early, a later event of the window could still rule one out (a trailing missing event).
    if let Some(mut matcher) = matcher.filter(|_| !stopped) {
        completed.extend(matcher.finish());
    }
    let pipes = &super::kind::eql_tree(rule).pipes;
    crate::eql::sequence::in_answer_order(&mut completed, pipes);
    for sequence in completed {
        let events = (sequence.events.iter())
            .map(|document| hit(&document.index, &document.id, &document.source))
            .collect();
        matches.add_sequence(sequence.id, events);
    }
    matches.more |= stopped || matches.sequences.len() >= limit;
    Ok(picked(matches, pipes))
}

/// The matches a query's `| head N` / `| tail N` pipes keep, as an execution keeps them
/// ([`crate::eql::Picker`]; the rule's `max_signals` is left to the preview's alert budget, as
/// for every kind): events for an event query, sequences (and their events) for a sequence
/// query.
fn picked(matches: Matches, pipes: &[crate::eql::Pipe]) -> Matches {
    if pipes.is_empty() {
        return matches;
    }
    let every = u64::MAX;
    if matches.sequences.is_empty() {
        let mut picker = crate::eql::Picker::new(pipes, every);
        matches.events.into_iter().for_each(|hit| picker.push(hit));
        return Matches {
            events: picker.finish(),
            ..Matches::default()
        }
        .with_more(matches.more);
    }
    let mut picker = crate::eql::Picker::new(pipes, every);
    (0..matches.sequences.len()).for_each(|at| picker.push(at));
    let mut kept = Matches::default().with_more(matches.more);
    for at in picker.finish() {
        let events = (matches.sequences[at].iter())
            .map(|&position| matches.events[position].clone())
            .collect();
        kept.add_sequence(matches.sequence_ids[at].clone(), events);
    }
    kept
}

/// An event found by an EQL search, as a hit of the preview (no sort values: it is not paged).
fn hit(index: &str, id: &str, source: &serde_json::Value) -> Hit {
    Hit {
        index: index.to_string(),
        id: id.to_string(),
        source: source.clone(),
        sort: Vec::new(),
    }
}
