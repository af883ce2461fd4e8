//! Indicator match rules (docs/rule-types.md section 3), pure: the indicator search (one page of
//! `threat_query` matches), the event query built from a page of indicators and the rule's
//! `threat_mapping`, which indicators an event matched (`threat.enrichments`), and the alert.
//! No I/O.

use super::{object_at, same_term, term_text, values_of};
use crate::alert::{self, Alert, AlertContext, SourceEvent};
use crate::es::Hit;
use crate::kql::FieldMap;
use crate::rule::params::{ThreatMapping, ThreatMatch};
use serde_json::{Value, json};
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

/// One page of indicators: `indicator_query` (threat query and filters), sorted by `tiebreaker`
/// (`_shard_doc` with a point-in-time, else `_doc`), after `after`.
pub fn indicator_request(
    indicator_query: &Value,
    tiebreaker: &str,
    after: Option<&[Value]>,
) -> Value {
    let mut body = json!({
        "size": THREAT_INDICATOR_PAGE_SIZE,
        "track_total_hits": false,
        "query": indicator_query,
        "sort": [{ tiebreaker: "asc" }],
    });
    if let Some(after) = after {
        body["search_after"] = json!(after);
    }
    body
}

/// The query that selects indicators: the threat query and the positive and negated filters.
pub fn indicator_query(threat_query: Value, filters: Vec<Value>, negated: Vec<Value>) -> Value {
    let mut filter = vec![threat_query];
    filter.extend(filters);
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
    if let Some(first) = enrichments.first() {
        let matched = &first["matched"];
        let base = alert.document["kibana.alert.reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let field = matched["field"].as_str().unwrap_or("?");
        let atomic = term_text(&matched["atomic"]);
        alert.document["kibana.alert.reason"] =
            json!(format!("Indicator match on {field} {atomic}: {base}"));
    }
    alert
}
