//! Alert suppression (docs/rule-types.md, "Alert suppression"), the same for every rule kind:
//! candidate alerts of one group (the same `group_by` values, or threshold terms) become one
//! alert with `kibana.alert.suppression.*` (terms, start, end, docs_count) and
//! `kibana.alert.instance.id`. Within a chunk, candidates are merged in memory; with a
//! `duration`, a group's open alert started within it is updated (docs_count and end move)
//! rather than a new one written, each update conditional on the version read
//! (`if_seq_no`), so a retry or a second writer never counts twice.
//!
//! The events an earlier alert of a group already counts (at or before its `suppression.end`)
//! are not counted again: per-event kinds drop such candidates here, the query kind leaves them
//! out of its aggregation ([`Suppressor::exclusions`]). That history is read from the alerts
//! index at the start of each chunk ([`history_request`]), after a refresh, so a chunk repeated
//! after a crash finds what the first attempt wrote.

use super::plan::timestamp;
use crate::alert::{Alert, field, framed_id};
use crate::es::DocUpdate;
use crate::rule::{DEFAULT_TIMESTAMP, Kind, MissingFieldsStrategy, Rule};
use crate::schedule::Window;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Alerts of the history read per page.
pub const HISTORY_PAGE_SIZE: usize = 1000;

/// How many groups one chunk may hold, as a multiple of `max_signals` (Kibana lets suppressed
/// and created alerts together reach five times `max_signals`).
pub const MAX_GROUPS_PER_MAX_SIGNALS: usize = 5;

/// Keeps instance ids apart from every other id lookout derives with the same framing.
const INSTANCE_ID_TAG: &str = "lookout:suppression-instance";

/// Keeps the ids of suppressed alerts apart from the plain alert of their first event.
const SUPPRESSED_ID_TAG: &str = "lookout:suppressed-alert";

/// How a rule suppresses: by which fields, for how long, and what a missing field does.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Policy {
    /// The fields groups are made of; empty for threshold rules (their own fields).
    pub group_by: Vec<String>,
    /// How long a group's alert takes further candidates; `None`: one chunk (execution).
    pub duration: Option<TimeDelta>,
    /// Whether events missing a `group_by` field form a group (`suppress`) or alert alone.
    pub suppress_missing: bool,
}

impl Policy {
    /// The rule's suppression, if any: threshold rules suppress only with a duration.
    pub fn of(rule: &Rule) -> Option<Policy> {
        let suppression = rule.meta.details.alert_suppression.as_ref()?;
        let suppress_missing =
            suppression.missing_fields_strategy == MissingFieldsStrategy::Suppress;
        match &rule.kind {
            Kind::Threshold(..) => suppression.duration.map(|duration| Policy {
                group_by: Vec::new(),
                duration: Some(duration),
                suppress_missing: true,
            }),
            _ if suppression.group_by.is_empty() => None,
            _ => Some(Policy {
                group_by: suppression.group_by.clone(),
                duration: suppression.duration,
                suppress_missing,
            }),
        }
    }
}

/// One group's alert as a kind offers it (before merging with others of the group).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Candidate {
    /// The alert of the group's first event (or a threshold group's alert).
    pub alert: Alert,
    pub instance: String,
    /// The group fields and their values, in `group_by` order.
    pub terms: Vec<(String, Value)>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Further events (or alerts) this candidate stands for.
    pub docs_count: u64,
}

/// The instance id of a group: the rule, the namespace and the group's fields and values.
pub(super) fn instance_id(rule_id: &str, namespace: &str, terms: &[(String, Value)]) -> String {
    let values: Vec<String> = terms
        .iter()
        .flat_map(|(field, value)| [field.clone(), value.to_string()])
        .collect();
    let mut parts = vec![INSTANCE_ID_TAG, rule_id, namespace];
    parts.extend(values.iter().map(String::as_str));
    framed_id(&parts)
}

/// What the history says about one group: the end of its latest alert (events at or before
/// it are counted) and, with a duration, the alert further candidates update.
#[derive(Debug, Clone, PartialEq)]
struct Known {
    end: DateTime<Utc>,
    terms: Vec<(String, Value)>,
    target: Option<Target>,
}

/// An open alert of a group, as read (with its version).
#[derive(Debug, Clone, PartialEq)]
struct Target {
    index: String,
    id: String,
    seq_no: u64,
    primary_term: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    docs_count: u64,
}

/// What a chunk's suppression writes at its end.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Flush {
    /// New alerts: id and document.
    pub creates: Vec<(String, Value)>,
    /// Groups whose open alert takes the chunk's candidates.
    pub updates: Vec<DocUpdate>,
    /// Groups left out: more new groups than the budget allowed.
    pub limit_reached: bool,
    /// The candidates (events, or threshold alerts) the written alerts take in beyond the
    /// first of each new group: Kibana's count of suppressed alerts.
    pub suppressed: u64,
}

/// The suppression state of one chunk: the history, and the groups offered so far.
#[derive(Debug)]
pub(super) struct Suppressor {
    pub policy: Policy,
    rule_id: String,
    namespace: String,
    /// The execution's time: alerts start then, and a duration reaches back from it.
    at: DateTime<Utc>,
    window: Window,
    primary: String,
    falls_back: bool,
    history: HashMap<String, Known>,
    groups: Vec<Candidate>,
    group_index: HashMap<String, usize>,
    max_groups: usize,
    /// Candidates dropped because an earlier alert already counts them.
    pub counted_before: u64,
    /// Groups dropped because the chunk held the most groups it may.
    pub groups_dropped: bool,
}

impl Suppressor {
    pub fn new(
        rule: &Rule,
        policy: Policy,
        namespace: &str,
        at: DateTime<Utc>,
        window: Window,
    ) -> Self {
        let max_signals = usize::try_from(rule.max_signals).unwrap_or(usize::MAX);
        Suppressor {
            policy,
            rule_id: rule.rule_id.clone(),
            namespace: namespace.to_string(),
            at,
            window,
            primary: rule.search.timestamp.primary().to_string(),
            falls_back: rule.search.timestamp.falls_back(),
            history: HashMap::new(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            max_groups: max_signals.saturating_mul(MAX_GROUPS_PER_MAX_SIGNALS),
            counted_before: 0,
            groups_dropped: false,
        }
    }

    /// The search of the history: this rule's suppressed alerts whose end lies in or after the
    /// window (they may count its events) or, with a duration, that started within it (they
    /// take further candidates). One page after `after` (sort values), with versions.
    pub fn history_request(&self, after: Option<&Value>) -> Value {
        let mut reaches = vec![
            json!({"range": {"kibana.alert.suppression.end": {"gte": timestamp(self.window.from)}}}),
        ];
        if let Some(duration) = self.policy.duration {
            let since = self.at - duration;
            reaches.push(json!({"range": {"kibana.alert.start": {"gte": timestamp(since)}}}));
        }
        let mut body = json!({
            "size": HISTORY_PAGE_SIZE,
            "seq_no_primary_term": true,
            "track_total_hits": false,
            "query": {"bool": {"filter": [
                {"term": {"kibana.alert.rule.rule_id": self.rule_id}},
                {"term": {"kibana.space_ids": self.namespace}},
                {"exists": {"field": "kibana.alert.instance.id"}},
                {"bool": {"should": reaches, "minimum_should_match": 1}},
            ]}},
            "sort": [{"kibana.alert.uuid": "asc"}],
        });
        if let Some(after) = after {
            body["search_after"] = after.clone();
        }
        body
    }

    /// Reads one page of the history answer; returns the `search_after` of the next page
    /// (`None`: this was the last).
    pub fn read_history(&mut self, answer: &Value) -> Option<Value> {
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for hit in &hits {
            self.read_alert(hit);
        }
        let full = hits.len() >= HISTORY_PAGE_SIZE;
        hits.last().filter(|_| full).map(|hit| hit["sort"].clone())
    }

    fn read_alert(&mut self, hit: &Value) -> Option<()> {
        let source = &hit["_source"];
        let instance = field(source, "kibana.alert.instance.id")?
            .as_str()?
            .to_string();
        let end = time_of(field(source, "kibana.alert.suppression.end")?)?;
        let start = field(source, "kibana.alert.start")
            .and_then(time_of)
            .unwrap_or(end);
        let terms = read_terms(field(source, "kibana.alert.suppression.terms"));
        let docs_count = field(source, "kibana.alert.suppression.docs_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let closed =
            field(source, "kibana.alert.workflow_status").and_then(Value::as_str) == Some("closed");
        let takes_more = self.policy.duration.is_some_and(|d| start >= self.at - d) && !closed;
        let target = takes_more.then(|| Target {
            index: hit["_index"].as_str().unwrap_or_default().to_string(),
            id: hit["_id"].as_str().unwrap_or_default().to_string(),
            seq_no: hit["_seq_no"].as_u64().unwrap_or(0),
            primary_term: hit["_primary_term"].as_u64().unwrap_or(0),
            start,
            end,
            docs_count,
        });
        let known = self.history.entry(instance).or_insert_with(|| Known {
            end,
            terms: terms.clone(),
            target: None,
        });
        if end > known.end {
            known.end = end;
            known.terms = terms;
        }
        if let Some(target) = target
            && known
                .target
                .as_ref()
                .is_none_or(|t| (target.start, target.end) > (t.start, t.end))
        {
            known.target = Some(target);
        }
        Some(())
    }

    /// The `must_not` clauses that leave out, per group of the history, the events at or before
    /// its latest alert's end (for kinds that aggregate before offering).
    pub fn exclusions(&self) -> Vec<Value> {
        let mut instances: Vec<&String> = self.history.keys().collect();
        instances.sort();
        instances
            .into_iter()
            .map(|instance| {
                let known = &self.history[instance];
                let mut filter = Vec::new();
                let mut must_not = Vec::new();
                for (field, value) in &known.terms {
                    match value {
                        Value::Null => must_not.push(json!({"exists": {"field": field}})),
                        value => filter.push(json!({"term": {field: value}})),
                    }
                }
                filter.push(json!({"range": {&self.primary: {"lte": timestamp(known.end)}}}));
                let mut clause = json!({"bool": {"filter": filter}});
                if !must_not.is_empty() {
                    clause["bool"]["must_not"] = json!(must_not);
                }
                clause
            })
            .collect()
    }

    /// The candidate of one event's alert, its group read from the alert's own fields (which
    /// are the event's); `Err(alert)` when a group field is missing and such events are not
    /// suppressed (they alert alone).
    pub fn event_candidate(&self, alert: Alert) -> Result<Candidate, Alert> {
        let mut terms = Vec::with_capacity(self.policy.group_by.len());
        let mut missing = false;
        for name in &self.policy.group_by {
            let value = match field(&alert.document, name) {
                None | Some(Value::Null) => {
                    missing = true;
                    Value::Null
                }
                Some(Value::Array(items)) => {
                    let mut items = items.clone();
                    items.sort_by_key(|item| item.to_string());
                    Value::Array(items)
                }
                Some(value) => value.clone(),
            };
            terms.push((name.clone(), value));
        }
        if missing && !self.policy.suppress_missing {
            return Err(alert);
        }
        let time = self.event_time(&alert.document);
        Ok(Candidate {
            instance: instance_id(&self.rule_id, &self.namespace, &terms),
            terms,
            start: time,
            end: time,
            docs_count: 0,
            alert,
        })
    }

    /// When an alert's event happened: its primary timestamp (the event's `@timestamp` is the
    /// alert's `original_time`), else, when falling back, `@timestamp`; else the window's end.
    fn event_time(&self, document: &Value) -> DateTime<Utc> {
        let original = || field(document, "kibana.alert.original_time").and_then(time_of);
        let primary = match self.primary == DEFAULT_TIMESTAMP {
            true => original(),
            false => field(document, &self.primary).and_then(time_of),
        };
        let fallback = || self.falls_back.then(original).flatten();
        primary.or_else(fallback).unwrap_or(self.window.to)
    }

    /// Adds a candidate: dropped when an earlier alert of its group counts it already, merged
    /// into the chunk's candidate of its group, or a new group (while there is room).
    pub fn add(&mut self, candidate: Candidate) {
        if let Some(known) = self.history.get(&candidate.instance)
            && candidate.end <= known.end
        {
            self.counted_before += 1;
            return;
        }
        let Some(&at) = self.group_index.get(&candidate.instance) else {
            if self.groups.len() >= self.max_groups {
                self.groups_dropped = true;
                return;
            }
            self.group_index
                .insert(candidate.instance.clone(), self.groups.len());
            self.groups.push(candidate);
            return;
        };
        let group = &mut self.groups[at];
        group.docs_count += candidate.docs_count + 1;
        group.end = group.end.max(candidate.end);
        if candidate.start < group.start {
            // The group's alert is its earliest candidate's, as Kibana sorts by start.
            group.start = candidate.start;
            group.alert = candidate.alert;
        }
    }

    /// What the chunk writes: an update of each group's open alert (with a duration), else a
    /// new alert, at most `room` of them.
    pub fn flush(self, room: usize) -> Flush {
        let mut flush = Flush::default();
        let at = timestamp(self.at);
        for group in self.groups {
            let target = self
                .history
                .get(&group.instance)
                .and_then(|k| k.target.as_ref());
            if let Some(target) = target {
                flush.suppressed += group.docs_count + 1;
                flush.updates.push(DocUpdate {
                    index: target.index.clone(),
                    id: target.id.clone(),
                    seq_no: target.seq_no,
                    primary_term: target.primary_term,
                    doc: json!({
                        "kibana.alert.suppression.end": timestamp(target.end.max(group.end)),
                        "kibana.alert.suppression.docs_count": target.docs_count + group.docs_count + 1,
                        "kibana.alert.last_detected": at,
                    }),
                });
            } else if flush.creates.len() < room {
                flush.suppressed += group.docs_count;
                flush.creates.push(new_alert(group));
            } else {
                flush.limit_reached = true;
            }
        }
        flush.limit_reached |= self.groups_dropped;
        flush
    }
}

/// A group's new alert: its candidate's document with the suppression fields, under an id of
/// its own (the first event's alert id and the instance, so a repeat gives the same id).
fn new_alert(group: Candidate) -> (String, Value) {
    let id = framed_id(&[SUPPRESSED_ID_TAG, &group.alert.id, &group.instance]);
    let mut document = match group.alert.document {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let terms: Vec<Value> = (group.terms.iter())
        .map(|(field, value)| json!({"field": field, "value": value}))
        .collect();
    document.insert("kibana.alert.uuid".into(), json!(id));
    document.insert("kibana.alert.suppression.terms".into(), Value::Array(terms));
    document.insert(
        "kibana.alert.suppression.start".into(),
        json!(timestamp(group.start)),
    );
    document.insert(
        "kibana.alert.suppression.end".into(),
        json!(timestamp(group.end)),
    );
    document.insert(
        "kibana.alert.suppression.docs_count".into(),
        json!(group.docs_count),
    );
    document.insert("kibana.alert.instance.id".into(), json!(group.instance));
    (id, Value::Object(document))
}

/// `kibana.alert.suppression.terms` as written: `[{field, value}]`.
fn read_terms(terms: Option<&Value>) -> Vec<(String, Value)> {
    let Some(Value::Array(terms)) = terms else {
        return Vec::new();
    };
    terms
        .iter()
        .filter_map(|term| Some((term["field"].as_str()?.to_string(), term["value"].clone())))
        .collect()
}

/// A time written as RFC 3339 text or as epoch milliseconds.
pub(super) fn time_of(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(number) => DateTime::from_timestamp_millis(number.as_f64()? as i64),
        Value::Array(items) => items.first().and_then(time_of),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
