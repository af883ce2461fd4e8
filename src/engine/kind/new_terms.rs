//! New terms rules (docs/rule-types.md, "New terms"): [`run`] pages through the candidate terms
//! of the window (a `composite` over the new-terms fields, each bucket with its first event) and
//! checks each page against the history; a candidate not seen there is an alert. The rest is
//! pure: the window and history requests, reading their answers, and the alert of a new term.

use super::values::{same_term, term_text};
use super::{Chunk, PLACEHOLDER, PlannedSearch};
use crate::alert::{self, Alert, AlertContext, SourceEvent, framed_id};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::search::Searcher;
use crate::engine::sink::AlertSink;
use crate::es::Hit;
use crate::rule::{NewTerms, Rule};
use crate::schedule::Window;
use crate::schedule::datemath::Rounding;
use chrono::TimeDelta;
use serde_json::{Value, json};

/// Candidate terms per page of the window's composite aggregation (each bucket carries its first
/// event, so a page holds this many events at most).
pub const NEW_TERMS_PAGE_SIZE: usize = 500;

/// Buckets per page of the history aggregation.
pub const HISTORY_PAGE_SIZE: usize = 1000;

/// The composite aggregation's name in requests and answers.
const TERMS: &str = "terms";

/// The window's candidate terms, then the history of one candidate.
pub(super) fn planned(
    rule: &Rule,
    params: &NewTerms,
    query: &Value,
    window: Window,
) -> Vec<PlannedSearch> {
    let search = &rule.search;
    let timestamp = search.timestamp.primary();
    let window_query = plan::filter_query(search, query, &window);
    let mut planned = vec![PlannedSearch {
        purpose: "the window's terms, each with its first event",
        index: search.index.clone(),
        body: window_request(&params.fields, &window_query, timestamp, None),
    }];
    if let Some(history) = history_window(params, &window) {
        let candidate = Candidate {
            values: params.fields.iter().map(|_| json!(PLACEHOLDER)).collect(),
            first: Hit {
                index: PLACEHOLDER.to_string(),
                id: PLACEHOLDER.to_string(),
                source: json!({}),
                sort: Vec::new(),
            },
            events: 0,
        };
        let history_query = plan::filter_query(search, query, &history);
        planned.push(PlannedSearch {
            purpose: "which of the window's terms the history holds",
            index: search.index.clone(),
            body: history_request(&params.fields, &history_query, &[candidate], None),
        });
    }
    planned
}

/// Candidate pages in the window, each checked against the history.
pub(super) async fn run(
    chunk: &Chunk<'_>,
    params: &NewTerms,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let mut pages = Pages::new(chunk.search, chunk.rule, params, chunk.query, chunk.window);
    let mut hits = 0;
    while let Some(page) = pages.next().await? {
        hits += page.candidates as u64;
        let alerts = (page.new.iter())
            .map(|candidate| build(candidate, chunk.alert))
            .collect();
        sink.offer(alerts).await?;
        if sink.written().limit_reached {
            break;
        }
    }
    Ok(hits)
}

/// The new terms of `window` (each with its first event and its count of events in the window),
/// found with the requests and paging of an execution, at most `limit` of them; true when the
/// limit stopped the search (`lookout test`).
pub(in crate::engine) async fn find(
    search: &Searcher<'_>,
    rule: &Rule,
    params: &NewTerms,
    query: &Value,
    window: Window,
    limit: usize,
) -> Result<(Vec<Candidate>, bool), ExecutionError> {
    let mut pages = Pages::new(search, rule, params, query, window);
    let mut found = Vec::new();
    while let Some(page) = pages.next().await? {
        found.extend(page.new);
        if found.len() >= limit {
            let more = found.len() > limit || !pages.done();
            found.truncate(limit);
            return Ok((found, more));
        }
    }
    Ok((found, false))
}

/// One page of the window's candidate terms, checked against the history.
struct Page {
    /// How many candidates the page held.
    candidates: usize,
    /// The candidates the history does not hold.
    new: Vec<Candidate>,
}

/// The window's candidate terms page by page, each page checked against the history: the one
/// walk of an execution and of `lookout test`.
struct Pages<'a> {
    search: &'a Searcher<'a>,
    rule: &'a Rule,
    fields: &'a [String],
    window_query: Value,
    history_query: Option<Value>,
    /// `None` before the first page; then the next page's `after` key, `None` inside once the
    /// last page was read.
    after: Option<Option<Value>>,
}

impl<'a> Pages<'a> {
    fn new(
        search: &'a Searcher<'a>,
        rule: &'a Rule,
        params: &'a NewTerms,
        query: &Value,
        window: Window,
    ) -> Self {
        let history_query = history_window(params, &window)
            .map(|history| plan::filter_query(&rule.search, query, &history));
        Pages {
            search,
            rule,
            fields: &params.fields,
            window_query: plan::filter_query(&rule.search, query, &window),
            history_query,
            after: None,
        }
    }

    /// Whether the last page was read.
    fn done(&self) -> bool {
        matches!(self.after, Some(None))
    }

    async fn next(&mut self) -> Result<Option<Page>, ExecutionError> {
        let after = match &self.after {
            Some(None) => return Ok(None),
            Some(Some(key)) => Some(key),
            None => None,
        };
        let search = &self.rule.search;
        let timestamp = search.timestamp.primary();
        let body = window_request(self.fields, &self.window_query, timestamp, after);
        let answer = self.search.aggregate(&search.index, body).await?;
        let (candidates, next) = read_window(self.fields, &answer);
        self.after = Some(next);
        let seen = match &self.history_query {
            Some(query) => {
                seen_before(self.search, self.rule, self.fields, query, &candidates).await?
            }
            None => Vec::new(),
        };
        Ok(Some(Page {
            candidates: candidates.len(),
            new: new_terms(candidates, &seen),
        }))
    }
}

/// `[history_window_start, window.from)` (resolved at the window's end, so catch-up chunks keep
/// the same history length); `None` when it is empty.
fn history_window(params: &NewTerms, window: &Window) -> Option<Window> {
    let from = params
        .history_window_start
        .resolve(window.to, Rounding::Down)?;
    let to = window.from - TimeDelta::milliseconds(1);
    (from <= to).then_some(Window { from, to })
}

/// The candidate keys already present in the history, page by page.
async fn seen_before(
    search: &Searcher<'_>,
    rule: &Rule,
    fields: &[String],
    query: &Value,
    candidates: &[Candidate],
) -> Result<Vec<Vec<Value>>, ExecutionError> {
    let mut seen = Vec::new();
    if candidates.is_empty() {
        return Ok(seen);
    }
    let mut after: Option<Value> = None;
    loop {
        let body = history_request(fields, query, candidates, after.as_ref());
        let answer = search.aggregate(&rule.search.index, body).await?;
        let (keys, next) = read_history(fields, &answer);
        // Multi-valued fields bring combinations beyond the candidates: keep only candidates,
        // so memory stays bounded by the page.
        seen.extend(keys.into_iter().filter(|key| {
            candidates
                .iter()
                .any(|candidate| same_key(key, &candidate.values))
        }));
        match next {
            Some(key) => after = Some(key),
            None => return Ok(seen),
        }
    }
}
/// The `top_hits` sub-aggregation holding a bucket's first event.
const FIRST: &str = "first";

/// A value (or combination of values) seen in the window, with the first event that has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// One value per new-terms field, in the rule's field order.
    pub values: Vec<Value>,
    pub first: Hit,
    /// The window's events that hold these values.
    pub events: u64,
}

/// The window request: `query` (the rule query over the window), one page of terms after `after`.
pub fn window_request(
    fields: &[String],
    query: &Value,
    timestamp: &str,
    after: Option<&Value>,
) -> Value {
    let first = json!({"top_hits": {
        "size": 1,
        "sort": [{timestamp: {"order": "asc", "unmapped_type": "date"}}],
    }});
    let composite = composite(fields, NEW_TERMS_PAGE_SIZE, after);
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": query,
        "aggs": { TERMS: {"composite": composite, "aggs": { FIRST: first }} },
    })
}

fn composite(fields: &[String], size: usize, after: Option<&Value>) -> Value {
    let sources: Vec<Value> = fields
        .iter()
        .map(|field| json!({ field: {"terms": {"field": field}} }))
        .collect();
    let mut composite = json!({"size": size, "sources": sources});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    composite
}

/// The candidates of one window answer and the `after` key of the next page (`None`: last page).
pub fn read_window(fields: &[String], answer: &Value) -> (Vec<Candidate>, Option<Value>) {
    let aggregation = &answer["aggregations"][TERMS];
    let buckets = aggregation["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let candidates = buckets
        .iter()
        .filter_map(|bucket| {
            let first = first_hit(&bucket[FIRST]["hits"]["hits"][0])?;
            Some(Candidate {
                values: key_values(fields, &bucket["key"]),
                first,
                events: bucket["doc_count"].as_u64().unwrap_or(0),
            })
        })
        .collect();
    (
        candidates,
        next_after(aggregation, buckets.len(), NEW_TERMS_PAGE_SIZE),
    )
}

/// The `after_key` when the page was full (a shorter page is the last one).
fn next_after(aggregation: &Value, buckets: usize, size: usize) -> Option<Value> {
    aggregation
        .get("after_key")
        .filter(|_| buckets >= size)
        .cloned()
}

fn key_values(fields: &[String], key: &Value) -> Vec<Value> {
    fields.iter().map(|field| key[field].clone()).collect()
}

fn first_hit(hit: &Value) -> Option<Hit> {
    Some(Hit {
        index: hit["_index"].as_str()?.to_string(),
        id: hit["_id"].as_str()?.to_string(),
        source: hit["_source"].clone(),
        sort: Vec::new(),
    })
}

/// The history request: `query` (the rule query over the history), restricted to the
/// candidates, grouped by the same fields, one page after `after`.
pub fn history_request(
    fields: &[String],
    query: &Value,
    candidates: &[Candidate],
    after: Option<&Value>,
) -> Value {
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": {"bool": {"filter": [query, candidates_filter(fields, candidates)]}},
        "aggs": { TERMS: {"composite": composite(fields, HISTORY_PAGE_SIZE, after)} },
    })
}

/// Only events that hold one of the candidates: a `terms` query for one field, else one
/// `bool.filter` of `term`s per combination.
fn candidates_filter(fields: &[String], candidates: &[Candidate]) -> Value {
    if let [field] = fields {
        let values: Vec<String> = candidates.iter().map(|c| term_text(&c.values[0])).collect();
        return json!({"terms": { field: values }});
    }
    let combinations: Vec<Value> = candidates
        .iter()
        .map(|candidate| {
            let terms: Vec<Value> = fields
                .iter()
                .zip(&candidate.values)
                .map(|(field, value)| json!({"term": { field: term_text(value) }}))
                .collect();
            json!({"bool": {"filter": terms}})
        })
        .collect();
    json!({"bool": {"should": combinations, "minimum_should_match": 1}})
}

/// The keys (values in field order) of one history answer, and the next page's `after` key.
pub fn read_history(fields: &[String], answer: &Value) -> (Vec<Vec<Value>>, Option<Value>) {
    let aggregation = &answer["aggregations"][TERMS];
    let buckets = aggregation["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let keys = buckets
        .iter()
        .map(|bucket| key_values(fields, &bucket["key"]))
        .collect();
    (
        keys,
        next_after(aggregation, buckets.len(), HISTORY_PAGE_SIZE),
    )
}

/// The candidates whose values were not seen in the history.
pub fn new_terms(candidates: Vec<Candidate>, seen: &[Vec<Value>]) -> Vec<Candidate> {
    candidates
        .into_iter()
        .filter(|candidate| !seen.iter().any(|key| same_key(key, &candidate.values)))
        .collect()
}

/// Two keys hold the same terms in the same order.
pub fn same_key(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_term(x, y))
}

/// The alert id of a new term: its first event, the namespace, the rule and the values.
pub fn term_id(candidate: &Candidate, namespace: &str, rule_id: &str) -> String {
    let values = Value::Array(candidate.values.clone()).to_string();
    let first = &candidate.first;
    framed_id(&[
        "new_terms",
        &first.index,
        &first.id,
        namespace,
        rule_id,
        &values,
    ])
}

/// The alert of a new term: its first event's alert plus `kibana.alert.new_terms`.
pub fn build(candidate: &Candidate, context: AlertContext<'_>) -> Alert {
    let first = &candidate.first;
    let event = SourceEvent {
        index: &first.index,
        id: &first.id,
        source: &first.source,
    };
    let mut alert = alert::build_alert(event, context);
    let id = term_id(candidate, context.namespace, &context.rule.rule_id);
    alert.document["kibana.alert.uuid"] = json!(id);
    alert.document["kibana.alert.new_terms"] = Value::Array(candidate.values.clone());
    alert.id = id;
    alert
}
