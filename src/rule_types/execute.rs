//! One chunk (window) of a threshold, new terms or indicator match rule against the server:
//! the type's searches in order, then its alerts written through `write`. The requests and
//! answers are the pure modules' job; this file only sequences them.

use super::write::{es_error, existing_ids, refresh_alerts, search_raw, write_alerts};
use super::{new_terms, threat_match, threshold};
use crate::alert::AlertContext;
use crate::engine::ExecutionError;
use crate::engine::plan::{self, Tiebreaker};
use crate::es::{Client, Hit, PitId};
use crate::kql::{self, FieldMap};
use crate::rule::datemath::Rounding;
use crate::rule::params::{NewTerms, ThreatMatch, Threshold};
use crate::rule::{Language, Rule, TypeParams};
use crate::schedule::Window;
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the server keeps a point-in-time open between two pages.
const PIT_KEEP_ALIVE: &str = "1m";

/// Everything a chunk needs that does not change between chunks of one execution.
pub struct TypeContext<'a> {
    pub client: &'a Client,
    pub rule: &'a Rule,
    /// The rule's query as DSL (KQL translated with the index's field types).
    pub query: &'a Value,
    pub alerts_index: &'a str,
    /// The pattern behind which every alerts index lies.
    pub alerts_pattern: &'a str,
    pub alert: AlertContext<'a>,
}

/// What one chunk did (the engine adds it to the execution's totals).
#[derive(Debug, Default, Clone, Copy)]
pub struct TypeOutcome {
    /// Threshold: events in alerted groups; new terms: candidate terms; indicator match:
    /// matched events.
    pub hits: u64,
    pub created: u64,
    pub duplicates: u64,
    pub limit_reached: bool,
    pub search: Duration,
    pub write: Duration,
}

/// Runs one window of a threshold, new terms or indicator match rule and writes its alerts.
pub async fn run_chunk(
    context: &TypeContext<'_>,
    window: &Window,
) -> Result<TypeOutcome, ExecutionError> {
    let mut outcome = TypeOutcome::default();
    match &context.rule.params {
        TypeParams::Threshold(params) => {
            run_threshold(context, params, window, &mut outcome).await?
        }
        TypeParams::NewTerms(params) => {
            run_new_terms(context, params, window, &mut outcome).await?
        }
        TypeParams::ThreatMatch(params) => {
            run_threat(context, params, window, &mut outcome).await?
        }
        _ => {
            return Err(ExecutionError::Search {
                rule_id: context.rule.rule_id.clone(),
                message: format!(
                    "rule type {} is not run here",
                    context.rule.rule_type.as_str()
                ),
            });
        }
    }
    if outcome.created > 0 {
        let started = Instant::now();
        refresh_alerts(context).await?;
        outcome.write += started.elapsed();
    }
    Ok(outcome)
}

/// Threshold: history, then the grouped counts page by page, one alert per group.
async fn run_threshold(
    context: &TypeContext<'_>,
    params: &Threshold,
    window: &Window,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let rule = context.rule;
    let timestamp = plan::primary_timestamp(rule);
    let started = Instant::now();
    refresh_alerts(context).await?;
    let history_body =
        threshold::history_request(&rule.rule_id, context.alert.namespace, window.from);
    let history = context
        .client
        .search_docs(context.alerts_pattern, history_body)
        .await
        .map_err(|source| es_error(context, source))?;
    let sources: Vec<Value> = history.into_iter().map(|hit| hit.source).collect();
    let exclusions = threshold::history_exclusions(&threshold::read_history(&sources), timestamp);
    let query = json!({"bool": {"filter": [context.query], "must_not": exclusions}});
    let query = plan::filter_query(rule, &query, window);
    outcome.search += started.elapsed();
    let mut after: Option<Value> = None;
    loop {
        let started = Instant::now();
        let body = threshold::request(params, &query, timestamp, after.as_ref());
        let answer = search_raw(context, &rule.index, body).await?;
        outcome.search += started.elapsed();
        let (groups, next) = threshold::read_answer(params, &answer);
        outcome.hits += groups.iter().map(|group| group.count).sum::<u64>();
        let alerts = groups
            .iter()
            .map(|group| threshold::build(group, context.alert, window.from))
            .collect();
        write_alerts(context, alerts, outcome).await?;
        match next {
            Some(key) if !outcome.limit_reached => after = Some(key),
            _ => return Ok(()),
        }
    }
}

/// New terms: candidate pages in the window, each checked against the history.
async fn run_new_terms(
    context: &TypeContext<'_>,
    params: &NewTerms,
    window: &Window,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let rule = context.rule;
    let timestamp = plan::primary_timestamp(rule);
    let window_query = plan::filter_query(rule, context.query, window);
    let history_query = history_window(params, window)
        .map(|history| plan::filter_query(rule, context.query, &history));
    let mut after: Option<Value> = None;
    loop {
        let started = Instant::now();
        let body =
            new_terms::window_request(&params.fields, &window_query, timestamp, after.as_ref());
        let answer = search_raw(context, &rule.index, body).await?;
        let (candidates, next) = new_terms::read_window(&params.fields, &answer);
        outcome.hits += candidates.len() as u64;
        let seen = match &history_query {
            Some(query) => seen_before(context, &params.fields, query, &candidates).await?,
            None => Vec::new(),
        };
        outcome.search += started.elapsed();
        let alerts = new_terms::new_terms(candidates, &seen)
            .iter()
            .map(|candidate| new_terms::build(candidate, context.alert))
            .collect();
        write_alerts(context, alerts, outcome).await?;
        match next {
            Some(key) if !outcome.limit_reached => after = Some(key),
            _ => return Ok(()),
        }
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
    context: &TypeContext<'_>,
    fields: &[String],
    query: &Value,
    candidates: &[new_terms::Candidate],
) -> Result<Vec<Vec<Value>>, ExecutionError> {
    let mut seen = Vec::new();
    if candidates.is_empty() {
        return Ok(seen);
    }
    let mut after: Option<Value> = None;
    loop {
        let body = new_terms::history_request(fields, query, candidates, after.as_ref());
        let answer = search_raw(context, &context.rule.index, body).await?;
        let (keys, next) = new_terms::read_history(fields, &answer);
        // Multi-valued fields bring combinations beyond the candidates: keep only candidates,
        // so memory stays bounded by the page.
        seen.extend(keys.into_iter().filter(|key| {
            candidates
                .iter()
                .any(|candidate| new_terms::same_key(key, &candidate.values))
        }));
        match next {
            Some(key) => after = Some(key),
            None => return Ok(seen),
        }
    }
}

/// What every search of one indicator-match chunk shares.
struct ThreatScope<'a> {
    params: &'a ThreatMatch,
    window: &'a Window,
    /// Field types of the rule's (event) indices, to leave out indicator values they cannot hold.
    event_fields: Option<&'a FieldMap>,
}

/// Events kept for alerts: their order and, per alert id, the event and its enrichments.
#[derive(Default)]
struct Matched {
    order: Vec<String>,
    events: HashMap<String, (Hit, Vec<Value>)>,
}

/// Indicator match: indicator pages, each turned into an event search.
async fn run_threat(
    context: &TypeContext<'_>,
    params: &ThreatMatch,
    window: &Window,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let indicator_query = indicator_query(context, params).await?;
    let event_fields = field_map(context, &context.rule.index).await;
    let pit = open_pit(context, &params.threat_index).await?;
    let mut cursor = pit;
    let scope = ThreatScope {
        params,
        window,
        event_fields: event_fields.as_ref(),
    };
    let result = threat_pages(context, &scope, &indicator_query, &mut cursor, outcome).await;
    if let Some(pit) = cursor
        && let Err(error) = context.client.close_pit(pit).await
    {
        tracing::debug!(rule_id = %context.rule.rule_id, %error, "closing a point-in-time failed");
    }
    let matched = result?;
    let alerts = matched
        .order
        .iter()
        .filter_map(|id| matched.events.get(id))
        .map(|(hit, enrichments)| threat_match::build(hit, enrichments, context.alert))
        .collect();
    write_alerts(context, alerts, outcome).await
}

async fn threat_pages(
    context: &TypeContext<'_>,
    scope: &ThreatScope<'_>,
    indicator_query: &Value,
    pit: &mut Option<PitId>,
    outcome: &mut TypeOutcome,
) -> Result<Matched, ExecutionError> {
    let tiebreaker = if pit.is_some() { "_shard_doc" } else { "_doc" };
    let mut matched = Matched::default();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let started = Instant::now();
        let body = threat_match::indicator_request(indicator_query, tiebreaker, after.as_deref());
        let page = context
            .client
            .search(&scope.params.threat_index, pit.as_ref(), body)
            .await
            .map_err(|source| es_error(context, source))?;
        outcome.search += started.elapsed();
        if let (Some(current), Some(renewed)) = (pit.as_mut(), page.pit_id.clone()) {
            current.id = renewed;
        }
        let Some(last) = page.hits.last() else {
            return Ok(matched);
        };
        after = Some(last.sort.clone());
        match_events(context, scope, &page.hits, &mut matched, outcome).await?;
        if page.hits.len() < threat_match::THREAT_INDICATOR_PAGE_SIZE {
            return Ok(matched);
        }
    }
}

/// The events of the window that match a page of indicators, kept with their enrichments.
async fn match_events(
    context: &TypeContext<'_>,
    scope: &ThreatScope<'_>,
    indicators: &[Hit],
    matched: &mut Matched,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let Some(clause) = threat_match::event_clause(scope.params, indicators, scope.event_fields)
    else {
        return Ok(());
    };
    let rule = context.rule;
    let query = json!({"bool": {"filter": [context.query, clause]}});
    let mut after: Option<Vec<Value>> = None;
    loop {
        let started = Instant::now();
        let mut body = plan::search_body(
            rule,
            &query,
            scope.window,
            Tiebreaker::Doc,
            after.as_deref(),
        );
        body["size"] = json!(threat_match::THREAT_EVENT_PAGE_SIZE);
        let page = context
            .client
            .search(&rule.index, None, body)
            .await
            .map_err(|source| es_error(context, source))?;
        outcome.search += started.elapsed();
        let Some(last) = page.hits.last() else {
            return Ok(());
        };
        after = Some(last.sort.clone());
        outcome.hits += page.hits.len() as u64;
        keep_events(
            context,
            scope.params,
            &page.hits,
            indicators,
            matched,
            outcome,
        )
        .await?;
        if page.hits.len() < threat_match::THREAT_EVENT_PAGE_SIZE {
            return Ok(());
        }
    }
}

/// Adds the page's enrichments to kept events, and keeps new events (not alerted yet) while the
/// `max_signals` budget allows.
async fn keep_events(
    context: &TypeContext<'_>,
    params: &ThreatMatch,
    hits: &[Hit],
    indicators: &[Hit],
    matched: &mut Matched,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let namespace = context.alert.namespace;
    let rule_id = &context.rule.rule_id;
    let ids: Vec<String> = hits
        .iter()
        .map(|hit| crate::alert::alert_id(&hit.index, &hit.id, namespace, rule_id))
        .collect();
    let existing = existing_ids(context, &ids).await?;
    let budget = usize::try_from(context.rule.max_signals).unwrap_or(usize::MAX);
    for (hit, id) in hits.iter().zip(ids) {
        let found = threat_match::enrichments(params, &hit.source, indicators);
        if found.is_empty() {
            continue;
        }
        if existing.contains(&id) {
            outcome.duplicates += 1;
            continue;
        }
        if let Some((_, enrichments)) = matched.events.get_mut(&id) {
            threat_match::merge_enrichments(enrichments, found);
            continue;
        }
        if matched.order.len() >= budget {
            outcome.limit_reached = true;
            continue;
        }
        let mut enrichments = Vec::new();
        threat_match::merge_enrichments(&mut enrichments, found);
        matched.order.push(id.clone());
        matched.events.insert(id, (hit.clone(), enrichments));
    }
    Ok(())
}

/// The indicator query: `threat_query` in its language (KQL typed with the indicator indices'
/// fields when available) and `threat_filters`.
async fn indicator_query(
    context: &TypeContext<'_>,
    params: &ThreatMatch,
) -> Result<Value, ExecutionError> {
    let fields = field_map(context, &params.threat_index).await;
    let threat_query = threat_query_dsl(context.rule, params, fields.as_ref())?;
    let (mut filters, mut negated) = (Vec::new(), Vec::new());
    for (clause, negate) in params.threat_filters.iter().filter_map(plan::filter_clause) {
        if negate {
            negated.push(clause);
        } else {
            filters.push(clause);
        }
    }
    Ok(threat_match::indicator_query(
        threat_query,
        filters,
        negated,
    ))
}

/// `threat_query` as DSL; a KQL syntax error names the rule and the position.
pub fn threat_query_dsl(
    rule: &Rule,
    params: &ThreatMatch,
    fields: Option<&FieldMap>,
) -> Result<Value, ExecutionError> {
    let text = params.threat_query.trim();
    if text.is_empty() {
        return Ok(json!({"match_all": {}}));
    }
    match params.threat_language {
        Language::Lucene => Ok(kql::lucene_to_dsl(text)),
        _ => match kql::parse(text) {
            Ok(query) => Ok(kql::to_dsl(&query, fields)),
            Err(error) => Err(ExecutionError::Search {
                rule_id: rule.rule_id.clone(),
                message: format!("{}: threat_query {error}", rule.path.display()),
            }),
        },
    }
}

/// The field types of some indices; `None` when `_field_caps` fails (the caller then works
/// untyped, as the engine does).
async fn field_map(context: &TypeContext<'_>, index: &[String]) -> Option<FieldMap> {
    let caps = context.client.field_caps(index).await.ok()?;
    Some(FieldMap::from_field_caps(&caps))
}

async fn open_pit(
    context: &TypeContext<'_>,
    index: &[String],
) -> Result<Option<PitId>, ExecutionError> {
    context
        .client
        .open_pit(index, PIT_KEEP_ALIVE)
        .await
        .map_err(|source| es_error(context, source))
}
