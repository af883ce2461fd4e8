//! Threshold rules (docs/rule-types.md, "Threshold"): [`run`] reads the signal history from
//! earlier alerts (so counted events never count again), then pages through the grouped counts
//! of the window, one alert per group that reaches the threshold. The rest is pure: the
//! aggregation request (a `composite` over the group fields, or whole-result aggregations
//! without fields), reading its buckets into [`ThresholdGroup`]s, the history filter, and the
//! alert of a group.

use super::values::{object_at, term_text};
use super::{Chunk, PlannedSearch};
use crate::alert::{self, Alert, AlertContext, SourceEvent, framed_id};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::sink::AlertSink;
use crate::engine::suppress::{self, Candidate, instance_id};
use crate::rule::{Rule, Threshold};
use crate::schedule::Window;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// Buckets asked for per page of the composite aggregation; memory holds one page.
pub const THRESHOLD_PAGE_SIZE: usize = 1000;

/// The most earlier alerts read as signal history per chunk. Only alerts whose last counted
/// event lies inside the window matter, so this is far above `max_signals` times the number of
/// executions a window overlaps.
pub const THRESHOLD_HISTORY_LIMIT: usize = 10_000;

/// The most clauses the history's exclusions may add to the window's search: under the lowest
/// default limit of the servers lookout supports (1,024 clauses in a query, OpenSearch's
/// `indices.query.bool.max_clause_count`), with room for the rule's own query. A history
/// needing more keeps the entries with the latest counted events and warns.
pub const THRESHOLD_HISTORY_CLAUSES: usize = 900;

/// The composite aggregation's name in requests and answers.
const GROUPS: &str = "groups";

/// The signal history of earlier alerts, then the grouped counts of the window.
pub(super) fn planned(
    rule: &Rule,
    params: &Threshold,
    query: &Value,
    window: Window,
) -> Vec<PlannedSearch> {
    let timestamp = rule.search.timestamp.primary();
    let history = history_request(&rule.rule_id, "<namespace>", window.from);
    let query = plan::filter_query(&rule.search, query, &window);
    vec![
        PlannedSearch {
            purpose: "earlier alerts of this rule (the signal history)",
            index: vec!["<alerts index pattern>".to_string()],
            body: history,
        },
        PlannedSearch {
            purpose: "the window's groups and their counts",
            index: rule.search.index.clone(),
            body: request(params, &query, timestamp, None),
        },
    ]
}

/// Reads the history, then the groups of the window page by page, one alert per group.
pub(super) async fn run(
    chunk: &Chunk<'_>,
    params: &Threshold,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let rule = chunk.rule;
    let timestamp = rule.search.timestamp.primary();
    // Alerts of an earlier chunk, or of an execution that died before its refresh, must be in
    // the history.
    sink.refresh().await?;
    let history_body = history_request(&rule.rule_id, chunk.alert.namespace, chunk.window.from);
    let history = chunk
        .search
        .docs(sink.alerts_pattern(), history_body)
        .await?;
    if history.len() >= THRESHOLD_HISTORY_LIMIT {
        sink.warn(format!(
            "the signal history holds more than {THRESHOLD_HISTORY_LIMIT} alerts of this rule since {}: the events of those not read may be counted again",
            chunk.window.from.to_rfc3339()
        ));
    }
    let sources: Vec<Value> = history.into_iter().map(|hit| hit.source).collect();
    let (kept, dropped) = within_clauses(read_history(&sources), THRESHOLD_HISTORY_CLAUSES);
    if dropped > 0 {
        sink.warn(format!(
            "the signal history has {} alerted groups, more than one search may exclude ({THRESHOLD_HISTORY_CLAUSES} clauses): the events of the {dropped} groups with the earliest counted events may be counted again",
            kept.len() + dropped
        ));
    }
    let exclusions = history_exclusions(&kept, timestamp);
    let query = json!({"bool": {"filter": [chunk.query], "must_not": exclusions}});
    let query = plan::filter_query(&rule.search, &query, &chunk.window);
    let mut hits = 0;
    let mut after: Option<Value> = None;
    loop {
        let body = request(params, &query, timestamp, after.as_ref());
        let answer = chunk.search.aggregate(&rule.search.index, body).await?;
        let (groups, next) = read_answer(params, &answer);
        hits += groups.iter().map(|group| group.count).sum::<u64>();
        match sink.suppressor().is_some() {
            true => sink.offer_groups(candidates(&groups, chunk)),
            false => {
                let alerts = (groups.iter())
                    .map(|group| build(group, chunk.alert, chunk.window.from))
                    .collect();
                sink.offer(alerts).await?;
            }
        }
        match next {
            Some(key) if !sink.written().limit_reached => after = Some(key),
            _ => return Ok(hits),
        }
    }
}

/// With a suppression duration, each group is a candidate of the group of its threshold values
/// (Kibana counts suppressed threshold alerts, not events: `docs_count` grows by one each).
fn candidates(groups: &[ThresholdGroup], chunk: &Chunk<'_>) -> Vec<Candidate> {
    let namespace = chunk.alert.namespace;
    (groups.iter())
        .map(|group| Candidate {
            alert: build(group, chunk.alert, chunk.window.from),
            instance: instance_id(&chunk.rule.rule_id, namespace, &group.terms),
            terms: group.terms.clone(),
            start: group.from.unwrap_or(chunk.window.from),
            end: group.to.unwrap_or(chunk.window.to),
            docs_count: 0,
        })
        .collect()
}

/// One group of events that reached the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdGroup {
    /// The group fields and this group's values, in the rule's field order (empty without fields).
    pub terms: Vec<(String, Value)>,
    /// Events in the group.
    pub count: u64,
    /// The cardinality field and its distinct values in the group, when the rule asks.
    pub cardinality: Option<(String, u64)>,
    /// Earliest and latest event time of the group.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A term set already alerted on and the time of its last counted event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub terms: Vec<(String, Value)>,
    pub last: DateTime<Utc>,
}

/// The aggregation request: `query` (the rule query over the window, history filter included),
/// grouped by the threshold fields, one page after `after`.
pub fn request(params: &Threshold, query: &Value, timestamp: &str, after: Option<&Value>) -> Value {
    let mut stats = Map::new();
    stats.insert("min_time".into(), json!({"min": {"field": timestamp}}));
    stats.insert("max_time".into(), json!({"max": {"field": timestamp}}));
    if let Some(cardinality) = params.cardinality.first() {
        let field = &cardinality.field;
        stats.insert("distinct".into(), json!({"cardinality": {"field": field}}));
    }
    if params.field.is_empty() {
        return json!({"size": 0, "track_total_hits": true, "query": query, "aggs": stats});
    }
    let sources: Vec<Value> = params
        .field
        .iter()
        .map(|field| json!({ field: {"terms": {"field": field}} }))
        .collect();
    let mut composite = json!({"size": THRESHOLD_PAGE_SIZE, "sources": sources});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": query,
        "aggs": { GROUPS: {"composite": composite, "aggs": stats} },
    })
}

/// The groups of one answer that reach the threshold, and the `after` key of the next page
/// (`None` when this was the last page).
pub fn read_answer(params: &Threshold, answer: &Value) -> (Vec<ThresholdGroup>, Option<Value>) {
    if params.field.is_empty() {
        let count = crate::es::total_hits(answer).unwrap_or(0);
        let group = group(params, Vec::new(), count, &answer["aggregations"]);
        return (group.into_iter().collect(), None);
    }
    let aggregation = &answer["aggregations"][GROUPS];
    let buckets = aggregation["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let groups = buckets
        .iter()
        .filter_map(|bucket| {
            let terms = params
                .field
                .iter()
                .map(|field| (field.clone(), bucket["key"][field].clone()))
                .collect();
            group(params, terms, bucket["doc_count"].as_u64()?, bucket)
        })
        .collect();
    let full = buckets.len() >= THRESHOLD_PAGE_SIZE;
    let after = aggregation.get("after_key").filter(|_| full).cloned();
    (groups, after)
}

/// A group when it reaches the count and cardinality thresholds.
fn group(
    params: &Threshold,
    terms: Vec<(String, Value)>,
    count: u64,
    stats: &Value,
) -> Option<ThresholdGroup> {
    if count == 0 || count < params.value {
        return None;
    }
    let cardinality = match params.cardinality.first() {
        None => None,
        Some(wanted) => {
            let distinct = stats["distinct"]["value"].as_u64().unwrap_or(0);
            if distinct < wanted.value {
                return None;
            }
            Some((wanted.field.clone(), distinct))
        }
    };
    Some(ThresholdGroup {
        terms,
        count,
        cardinality,
        from: time_of(&stats["min_time"]),
        to: time_of(&stats["max_time"]),
    })
}

/// A `min`/`max` aggregation's value (epoch milliseconds) as a time.
fn time_of(aggregation: &Value) -> Option<DateTime<Utc>> {
    let millis = aggregation["value"].as_f64()?;
    DateTime::from_timestamp_millis(millis as i64)
}

/// The search of earlier threshold alerts of this rule whose last counted event (or suppression
/// end) is at or after `since` (the window start).
pub fn history_request(rule_id: &str, namespace: &str, since: DateTime<Utc>) -> Value {
    json!({
        "size": THRESHOLD_HISTORY_LIMIT,
        "track_total_hits": false,
        "_source": [
            "kibana.alert.threshold_result",
            "kibana.alert.original_time",
            "kibana.alert.suppression.end",
        ],
        "query": {"bool": {"filter": [
            {"term": {"kibana.alert.rule.rule_id": rule_id}},
            {"term": {"kibana.alert.rule.type": "threshold"}},
            {"term": {"kibana.space_ids": namespace}},
            {"bool": {"should": [
                {"range": {"kibana.alert.original_time": {"gte": millis(since)}}},
                {"range": {"kibana.alert.suppression.end": {"gte": millis(since)}}},
            ], "minimum_should_match": 1}},
        ]}},
    })
}

/// Reads the history entries from alert sources, keeping the latest time per term set.
pub fn read_history(sources: &[Value]) -> Vec<HistoryEntry> {
    let mut entries: Vec<HistoryEntry> = Vec::new();
    for source in sources {
        let Some(entry) = history_entry(source) else {
            continue;
        };
        match entries.iter_mut().find(|e| e.terms == entry.terms) {
            Some(known) => known.last = known.last.max(entry.last),
            None => entries.push(entry),
        }
    }
    entries
}

fn history_entry(source: &Value) -> Option<HistoryEntry> {
    let result = object_at(source, "kibana.alert.threshold_result")?;
    let terms = result["terms"]
        .as_array()?
        .iter()
        .map(|term| Some((term["field"].as_str()?.to_string(), term["value"].clone())))
        .collect::<Option<Vec<_>>>()?;
    let last = object_at(source, "kibana.alert.original_time")?.as_str()?;
    let last = DateTime::parse_from_rfc3339(last).ok()?.with_timezone(&Utc);
    // A suppressed alert that took later groups counts up to its suppression end.
    let end = object_at(source, "kibana.alert.suppression.end").and_then(suppress::time_of);
    Some(HistoryEntry {
        terms,
        last: end.map_or(last, |end| end.max(last)),
    })
}

/// How many query clauses the exclusion of one history entry takes: its `bool`, its time range
/// and one term per group field.
fn clauses_of(entry: &HistoryEntry) -> usize {
    2 + entry.terms.len()
}

/// The history entries whose exclusions fit in `budget` clauses, those with the latest counted
/// events first, and how many did not fit.
pub fn within_clauses(mut history: Vec<HistoryEntry>, budget: usize) -> (Vec<HistoryEntry>, usize) {
    let needed: usize = history.iter().map(clauses_of).sum();
    if needed <= budget {
        return (history, 0);
    }
    history.sort_by_key(|entry| std::cmp::Reverse(entry.last));
    let mut used = 0;
    let fit = history
        .iter()
        .take_while(|entry| {
            used += clauses_of(entry);
            used <= budget
        })
        .count();
    let dropped = history.len() - fit;
    history.truncate(fit);
    (history, dropped)
}

/// The `must_not` clauses that drop, per alerted term set, the events at or before its last
/// counted event; empty without history.
pub fn history_exclusions(history: &[HistoryEntry], timestamp: &str) -> Vec<Value> {
    history
        .iter()
        .map(|entry| {
            let mut filter = vec![json!({"range": {timestamp: {"lte": millis(entry.last)}}})];
            for (field, value) in &entry.terms {
                filter.push(json!({"term": {field: term_text(value)}}));
            }
            json!({"bool": {"filter": filter}})
        })
        .collect()
}

/// The alert id of a group: rule, namespace, fields and values, and the last counted event.
pub fn group_id(rule_id: &str, namespace: &str, group: &ThresholdGroup) -> String {
    let last = group.to.map(millis).unwrap_or_default();
    let mut parts: Vec<String> = vec!["threshold".into(), rule_id.into(), namespace.into()];
    for (field, value) in &group.terms {
        parts.push(field.clone());
        parts.push(value.to_string());
    }
    parts.push(last);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    framed_id(&parts)
}

/// The alert of a group: a synthetic event (latest event time, the group's field values) made
/// into an alert, with `kibana.alert.threshold_result`. `window_from` stands in for an unknown
/// earliest time.
pub fn build(
    group: &ThresholdGroup,
    context: AlertContext<'_>,
    window_from: DateTime<Utc>,
) -> Alert {
    let rule = context.rule;
    let group_key = group_id(&rule.rule_id, context.namespace, group);
    let to = group.to.unwrap_or(window_from);
    let mut source = Map::new();
    source.insert("@timestamp".into(), json!(millis(to)));
    for (field, value) in &group.terms {
        source.insert(field.clone(), value.clone());
    }
    let source = Value::Object(source);
    let index = rule.search.index.join(",");
    let event = SourceEvent {
        index: &index,
        id: &group_key,
        source: &source,
    };
    let mut alert = alert::build_alert(event, context);
    alert.document["kibana.alert.threshold_result"] = threshold_result(group, window_from);
    alert
}

/// `kibana.alert.threshold_result` in Kibana's shape.
fn threshold_result(group: &ThresholdGroup, window_from: DateTime<Utc>) -> Value {
    let terms: Vec<Value> = group
        .terms
        .iter()
        .map(|(field, value)| json!({"field": field, "value": value}))
        .collect();
    let mut result = json!({
        "terms": terms,
        "count": group.count,
        "from": millis(group.from.unwrap_or(window_from)),
    });
    if let Some((field, value)) = &group.cardinality {
        result["cardinality"] = json!([{"field": field, "value": value}]);
    }
    result
}

fn millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}
