//! Indicator match rules (docs/rule-types.md, "Indicator match"): [`run`] pages through the
//! indicators `threat_query` selects; each page becomes an event search of the window (the event
//! query built from the page and the rule's `threat_mapping`); the events it finds are kept,
//! with which indicators they matched (`threat.enrichments`), and written at the end. The rest is
//! pure: the requests, the enrichments and the alert.

use super::values::{object_at, same_term, term_text, values_of};
use super::{Chunk, PLACEHOLDER, PlannedSearch};
use crate::alert::{self, Alert, AlertContext, SourceEvent};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::query::query_dsl;
use crate::engine::sink::AlertSink;
use crate::es::{Flow, Hit, Paging};
use crate::kql::FieldMap;
use crate::rule::{Rule, ThreatMapping, ThreatMatch};
use crate::schedule::Window;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;

/// Numeric Elasticsearch field types: a `terms` query on them needs numbers.
const NUMERIC_TYPES: [&str; 9] = [
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
];

/// Indicators per page; only one page of indicators is in memory at a time.
pub const THREAT_INDICATOR_PAGE_SIZE: usize = 1000;

/// Source events per page of the event search.
pub const THREAT_EVENT_PAGE_SIZE: usize = 100;

/// The most enrichments one alert carries (an event matching thousands of indicators would
/// otherwise make an unbounded document).
pub const THREAT_MAX_ENRICHMENTS: usize = 100;

/// `threat_indicator_path` when the rule has none (Kibana's default).
pub const DEFAULT_INDICATOR_PATH: &str = "threat.indicator";

/// `matched.type` of every enrichment lookout makes.
pub const MATCH_TYPE: &str = "indicator_match_rule";

/// Events kept for alerts: their order and, per alert id, the event and its enrichments.
#[derive(Default)]
struct Matched {
    order: Vec<String>,
    events: HashMap<String, (Hit, Vec<Value>)>,
}

/// The indicator search, then the event search of one indicator.
pub(super) fn planned(
    rule: &Rule,
    params: &ThreatMatch,
    query: &Value,
    window: Window,
) -> Vec<PlannedSearch> {
    let threat_query = query_dsl(&params.threat_query, None);
    let mut indicator = json!({});
    for entry in params.threat_mapping.iter().flat_map(|m| &m.entries) {
        set_path(&mut indicator, &entry.value, json!(PLACEHOLDER));
    }
    let indicator = Hit {
        index: PLACEHOLDER.to_string(),
        id: PLACEHOLDER.to_string(),
        source: indicator,
        sort: Vec::new(),
    };
    let mut planned = vec![PlannedSearch {
        purpose: "the indicators (a page at a time)",
        index: params.threat_index.clone(),
        body: indicator_request(&indicator_query(threat_query, &params.threat_filters)),
    }];
    if let Some(clause) = event_clause(params, &[indicator], None) {
        let query = json!({"bool": {"filter": [query, clause]}});
        let mut body = plan::events_body(&rule.search, &query, &window);
        body["size"] = THREAT_EVENT_PAGE_SIZE.into();
        planned.push(PlannedSearch {
            purpose: "the window's events matching a page of indicators",
            index: rule.search.index.clone(),
            body,
        });
    }
    planned
}

/// Sets `value` at a dotted path of an object, creating the objects on the way.
fn set_path(document: &mut Value, path: &str, value: Value) {
    let mut at = document;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = json!({});
        }
        if parts.peek().is_none() {
            at[part] = value;
            return;
        }
        at = at
            .as_object_mut()
            .expect("made an object above")
            .entry(part)
            .or_insert_with(|| json!({}));
    }
}

/// Indicator pages (inside a point-in-time), each turned into an event search; the kept events
/// are written at the end, each with every enrichment found for it.
pub(super) async fn run(
    chunk: &Chunk<'_>,
    params: &ThreatMatch,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let indicators_info = chunk.search.field_info(&params.threat_index).await;
    let threat_query = query_dsl(
        &params.threat_query,
        indicators_info.as_deref().map(|info| &info.fields),
    );
    let event_info = chunk.search.field_info(&chunk.rule.search.index).await;
    let event_fields = event_info.as_deref().map(|info| &info.fields);
    let paging = Paging {
        index: &params.threat_index,
        page_size: THREAT_INDICATOR_PAGE_SIZE,
        point_in_time: true,
    };
    let body = indicator_request(&indicator_query(threat_query, &params.threat_filters));
    let mut matched = Matched::default();
    let mut hits = 0;
    chunk
        .search
        .pages(paging, body, async |indicators: Vec<Hit>| {
            let clause = event_clause(params, &indicators, event_fields);
            if let Some(clause) = clause {
                hits +=
                    match_events(chunk, &clause, params, &indicators, &mut matched, sink).await?;
            }
            Ok(Flow::More)
        })
        .await?;
    let alerts: Vec<Alert> = (matched.order.iter())
        .filter_map(|id| matched.events.remove(id))
        .map(|(hit, enrichments)| build(&hit, &enrichments, chunk.alert))
        .collect();
    match sink.suppressor().is_some() {
        // Suppression groups the selected events' alerts instead.
        true => sink.offer(alerts).await?,
        false => {
            let docs = alerts.into_iter().map(|a| (a.id, a.document)).collect();
            sink.create(docs).await?;
        }
    }
    Ok(hits)
}

/// The events of the window that match `clause` (a page of indicators), kept with their
/// enrichments; returns how many events the searches found.
async fn match_events(
    chunk: &Chunk<'_>,
    clause: &Value,
    params: &ThreatMatch,
    indicators: &[Hit],
    matched: &mut Matched,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let search = &chunk.rule.search;
    let query = json!({"bool": {"filter": [chunk.query, clause]}});
    let paging = Paging {
        index: &search.index,
        page_size: THREAT_EVENT_PAGE_SIZE,
        point_in_time: false,
    };
    let body = plan::events_body(search, &query, &chunk.window);
    let mut hits = 0;
    chunk
        .search
        .pages(paging, body, async |events: Vec<Hit>| {
            hits += events.len() as u64;
            keep_events(chunk, params, indicators, matched, &events, sink).await?;
            Ok(Flow::More)
        })
        .await?;
    Ok(hits)
}

/// Adds the page's enrichments to kept events, and keeps new events (not alerted yet) while the
/// `max_signals` budget allows.
async fn keep_events(
    chunk: &Chunk<'_>,
    params: &ThreatMatch,
    indicators: &[Hit],
    matched: &mut Matched,
    events: &[Hit],
    sink: &mut AlertSink<'_>,
) -> Result<(), ExecutionError> {
    let namespace = chunk.alert.namespace;
    let rule_id = &chunk.rule.rule_id;
    let mut candidates = Vec::new();
    for hit in events {
        let found = enrichments(params, &hit.source, indicators);
        if found.is_empty() {
            continue;
        }
        let id = alert::alert_id(&hit.index, &hit.id, namespace, rule_id);
        match matched.events.get_mut(&id) {
            Some((_, kept)) => merge_enrichments(kept, found),
            None => candidates.push((id, hit, found)),
        }
    }
    let ids: Vec<String> = candidates.iter().map(|(id, ..)| id.clone()).collect();
    let known = sink.known(&ids).await?;
    let selected = sink.select(&ids, &known);
    for ((id, hit, found), keep) in candidates.into_iter().zip(selected) {
        if keep {
            let mut enrichments = Vec::new();
            merge_enrichments(&mut enrichments, found);
            matched.order.push(id.clone());
            matched.events.insert(id, (hit.clone(), enrichments));
        }
    }
    Ok(())
}

/// The indicator search: `indicator_query`, no sort of its own (paging adds the tiebreaker).
pub fn indicator_request(indicator_query: &Value) -> Value {
    json!({
        "track_total_hits": false,
        "query": indicator_query,
        "sort": [],
    })
}

/// The query that selects indicators: the threat query and the rule's `threat_filters`
/// (positive ones filter, negated ones exclude, disabled ones are ignored).
pub fn indicator_query(threat_query: Value, threat_filters: &[Value]) -> Value {
    let (mut filter, mut negated) = (vec![threat_query], Vec::new());
    for (clause, negate) in threat_filters.iter().filter_map(plan::filter_clause) {
        match negate {
            true => negated.push(clause),
            false => filter.push(clause),
        }
    }
    json!({"bool": {"filter": filter, "must_not": negated}})
}

/// The clause an event must match for a page of indicators: per single-entry mapping one
/// `terms` query with every indicator value of the page, per multi-entry mapping one
/// `bool.filter` per indicator; all ORed. `None` when no indicator holds a mapped value.
/// With the events' field types, values the event field cannot hold (`"evil.com"` for an `ip`
/// field) are left out: one malformed indicator must not fail the whole search.
pub fn event_clause(
    params: &ThreatMatch,
    indicators: &[Hit],
    fields: Option<&FieldMap>,
) -> Option<Value> {
    let mut should = Vec::new();
    for mapping in &params.threat_mapping {
        if let [entry] = mapping.entries.as_slice() {
            let values: Vec<String> = indicators
                .iter()
                .flat_map(|indicator| usable_values(indicator, &entry.value, &entry.field, fields))
                .collect();
            if !values.is_empty() {
                should.push(json!({"terms": { &entry.field: dedup(values) }}));
            }
            continue;
        }
        should.extend(
            indicators
                .iter()
                .filter_map(|i| mapping_clause(mapping, i, fields)),
        );
    }
    if should.is_empty() {
        return None;
    }
    Some(json!({"bool": {"should": should, "minimum_should_match": 1}}))
}

/// The indicator's values of `indicator_field` that the event field `event_field` can hold.
fn usable_values(
    indicator: &Hit,
    indicator_field: &str,
    event_field: &str,
    fields: Option<&FieldMap>,
) -> Vec<String> {
    let types = fields
        .and_then(|map| map.get(event_field))
        .map(|info| &info.types);
    values_of(&indicator.source, indicator_field)
        .into_iter()
        .map(term_text)
        .filter(|value| types.is_none_or(|types| fits(types.iter().map(String::as_str), value)))
        .collect()
}

/// Whether a value suits a field of these types: an address or CIDR block for `ip`, a number
/// for numeric types, `true`/`false` for `boolean`; anything for the rest.
pub fn fits<'a>(mut types: impl Iterator<Item = &'a str>, value: &str) -> bool {
    types.all(|es_type| match es_type {
        "ip" => is_ip_or_cidr(value),
        "boolean" => value == "true" || value == "false",
        t if NUMERIC_TYPES.contains(&t) => value.parse::<f64>().is_ok(),
        _ => true,
    })
}

fn is_ip_or_cidr(value: &str) -> bool {
    match value.split_once('/') {
        Some((address, prefix)) => {
            address.parse::<IpAddr>().is_ok() && prefix.parse::<u8>().is_ok()
        }
        None => value.parse::<IpAddr>().is_ok(),
    }
}

fn dedup(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    values
}

/// All entries of a mapping against one indicator; `None` when the indicator lacks a field.
fn mapping_clause(
    mapping: &ThreatMapping,
    indicator: &Hit,
    fields: Option<&FieldMap>,
) -> Option<Value> {
    let mut filter = Vec::new();
    for entry in &mapping.entries {
        let values = usable_values(indicator, &entry.value, &entry.field, fields);
        if values.is_empty() {
            return None;
        }
        filter.push(json!({"terms": { &entry.field: dedup(values) }}));
    }
    Some(json!({"bool": {"filter": filter}}))
}

/// The enrichments of one event against a page of indicators: for every indicator and every
/// mapping whose entries all match, one enrichment per entry.
pub fn enrichments(params: &ThreatMatch, event: &Value, indicators: &[Hit]) -> Vec<Value> {
    let path = params
        .threat_indicator_path
        .as_deref()
        .unwrap_or(DEFAULT_INDICATOR_PATH);
    let mut out = Vec::new();
    for indicator in indicators {
        for mapping in &params.threat_mapping {
            let Some(atoms) = mapping_matches(mapping, event, &indicator.source) else {
                continue;
            };
            for (field, atomic) in atoms {
                out.push(enrichment(indicator, path, field, atomic));
            }
        }
    }
    out
}

/// The (event field, matched value) of every entry when all entries match, else `None`.
fn mapping_matches<'a>(
    mapping: &'a ThreatMapping,
    event: &'a Value,
    indicator: &Value,
) -> Option<Vec<(&'a str, &'a Value)>> {
    let mut atoms = Vec::new();
    for entry in &mapping.entries {
        let wanted = values_of(indicator, &entry.value);
        let atomic = values_of(event, &entry.field)
            .into_iter()
            .find(|value| wanted.iter().any(|w| same_term(value, w)))?;
        atoms.push((entry.field.as_str(), atomic));
    }
    (!atoms.is_empty()).then_some(atoms)
}

fn enrichment(indicator: &Hit, path: &str, field: &str, atomic: &Value) -> Value {
    let mut enrichment = json!({
        "indicator": object_at(&indicator.source, path).cloned().unwrap_or(json!({})),
        "matched": {
            "atomic": atomic,
            "field": field,
            "id": indicator.id,
            "index": indicator.index,
            "type": MATCH_TYPE,
        },
    });
    if let Some(name) = values_of(&indicator.source, "threat.feed.name").first() {
        enrichment["feed"] = json!({"name": name});
    }
    enrichment
}

/// Adds enrichments to a list, skipping ones already there, up to [`THREAT_MAX_ENRICHMENTS`].
pub fn merge_enrichments(into: &mut Vec<Value>, more: Vec<Value>) {
    for enrichment in more {
        if into.len() >= THREAT_MAX_ENRICHMENTS {
            return;
        }
        if !into.contains(&enrichment) {
            into.push(enrichment);
        }
    }
}

/// The alert of a matched event: the query-rule alert plus `threat.enrichments`.
pub fn build(event: &Hit, enrichments: &[Value], context: AlertContext<'_>) -> Alert {
    let source = SourceEvent {
        index: &event.index,
        id: &event.id,
        source: &event.source,
    };
    let mut alert = alert::build_alert(source, context);
    let threat = alert.document["threat"].take();
    let mut threat = match threat {
        Value::Object(map) => Value::Object(map),
        _ => json!({}),
    };
    // Kibana keeps the event's own enrichments first (one object counts as a list of one) and
    // adds the matches after them.
    let mut all = match threat["enrichments"].take() {
        Value::Array(existing) => existing,
        Value::Null => Vec::new(),
        single => vec![single],
    };
    all.extend(enrichments.iter().cloned());
    threat["enrichments"] = Value::Array(all);
    alert.document["threat"] = threat;
    alert
}
