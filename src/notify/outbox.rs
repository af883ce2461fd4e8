//! The outbox is state on the alert documents: `lookout.notify.pending` lists the connectors an
//! alert must still reach (set when the alert is written), `lookout.notify.sent` and
//! `lookout.notify.failed` those it reached or gave up on, and
//! `lookout.notify.state.<connector>.*` the attempts, next attempt time, last error and times.
//! This module builds the query for one connector's due alerts, reads the answer, and builds
//! each alert's conditional update. Pure.

use crate::es::DocUpdate;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// The connectors an alert still has to reach.
pub const PENDING: &str = "lookout.notify.pending";
/// The connectors that have received the alert.
pub const SENT: &str = "lookout.notify.sent";
/// The connectors that gave up on the alert (too old, or refused for good).
pub const FAILED: &str = "lookout.notify.failed";

/// `lookout.notify.state.<connector>.<name>`.
pub fn state_field(connector: &str, name: &str) -> String {
    format!("lookout.notify.state.{connector}.{name}")
}

/// An alert waiting for one connector, as read with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAlert {
    pub index: String,
    pub id: String,
    pub seq_no: u64,
    pub primary_term: u64,
    /// The whole alert document.
    pub doc: Value,
    /// The alert's `@timestamp` (its creation).
    pub created_at: DateTime<Utc>,
    /// Failed attempts so far for this connector.
    pub attempts: u32,
}

/// What happened to an alert for one connector in a delivery batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Failed; tried again at `next_at`.
    Retry {
        next_at: DateTime<Utc>,
        error: String,
    },
    /// Given up: recorded as failed.
    Failed {
        error: String,
    },
    /// Not tried (throttle period, summary not settled): looked at again at `next_at`.
    Deferred {
        next_at: DateTime<Utc>,
    },
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The alerts pending for `connector` whose next attempt is due at `now`, oldest first.
pub fn due_query(connector: &str, now: DateTime<Utc>, size: usize) -> Value {
    let next_at = state_field(connector, "next_at");
    json!({
        "size": size,
        "seq_no_primary_term": true,
        "query": {"bool": {
            "filter": [{"term": {PENDING: connector}}],
            "should": [
                {"bool": {"must_not": {"exists": {"field": next_at}}}},
                {"range": {next_at: {"lte": iso(now)}}},
            ],
            "minimum_should_match": 1,
        }},
        // Oldest first; an execution's alerts together, so that a batch holds whole summaries.
        "sort": [
            {"@timestamp": {"order": "asc"}},
            {"kibana.alert.rule.rule_id": {"order": "asc"}},
            {"kibana.alert.rule.execution.uuid": {"order": "asc"}},
            {"kibana.alert.uuid": {"order": "asc"}},
        ],
    })
}

/// How many alerts wait for `connector` (due or not).
pub fn pending_query(connector: &str) -> Value {
    json!({"size": 0, "track_total_hits": true, "query": {"term": {PENDING: connector}}})
}

/// The hits of a [`due_query`] answer that still list `connector` as pending.
pub fn read_due(answer: &Value, connector: &str) -> Vec<PendingAlert> {
    let hits = answer["hits"]["hits"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    hits.iter()
        .filter_map(|hit| {
            let doc = hit["_source"].clone();
            let created_at = doc["@timestamp"].as_str()?.parse().ok()?;
            let attempts = doc[state_field(connector, "attempts").as_str()]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0);
            pending_of(&doc)
                .iter()
                .any(|c| c == connector)
                .then(|| PendingAlert {
                    index: hit["_index"].as_str().unwrap_or_default().to_string(),
                    id: hit["_id"].as_str().unwrap_or_default().to_string(),
                    seq_no: hit["_seq_no"].as_u64().unwrap_or(0),
                    primary_term: hit["_primary_term"].as_u64().unwrap_or(1),
                    doc,
                    created_at,
                    attempts,
                })
        })
        .collect()
}

/// The connector ids of a list field (`pending`, `sent`, `failed`).
fn list(doc: &Value, field: &str) -> Vec<String> {
    match &doc[field] {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn pending_of(doc: &Value) -> Vec<String> {
    list(doc, PENDING)
}

/// Whether the alert still waits for `connector`.
pub fn is_pending(doc: &Value, connector: &str) -> bool {
    pending_of(doc).iter().any(|c| c == connector)
}

/// The conditional update recording `outcome` for `connector` on `alert`.
pub fn update(
    alert: &PendingAlert,
    connector: &str,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> DocUpdate {
    let mut doc = Map::new();
    let field = |name: &str| state_field(connector, name);
    let moved = |to: &str, doc: &mut Map<String, Value>| {
        let pending: Vec<String> = (pending_of(&alert.doc).into_iter())
            .filter(|c| c != connector)
            .collect();
        let mut target = list(&alert.doc, to);
        if !target.iter().any(|c| c == connector) {
            target.push(connector.to_string());
        }
        doc.insert(PENDING.into(), json!(pending));
        doc.insert(to.into(), json!(target));
        doc.insert(field("next_at"), Value::Null);
    };
    match outcome {
        Outcome::Sent => {
            moved(SENT, &mut doc);
            doc.insert(field("sent_at"), json!(iso(now)));
        }
        Outcome::Failed { error } => {
            moved(FAILED, &mut doc);
            doc.insert(field("failed_at"), json!(iso(now)));
            doc.insert(field("last_error"), json!(error));
        }
        Outcome::Retry { next_at, error } => {
            doc.insert(field("attempts"), json!(alert.attempts + 1));
            doc.insert(field("next_at"), json!(iso(*next_at)));
            doc.insert(field("last_error"), json!(error));
        }
        Outcome::Deferred { next_at } => {
            doc.insert(field("next_at"), json!(iso(*next_at)));
        }
    }
    DocUpdate {
        index: alert.index.clone(),
        id: alert.id.clone(),
        seq_no: alert.seq_no,
        primary_term: alert.primary_term,
        doc: Value::Object(doc),
    }
}

/// Per connector: alerts pending, sent and failed, for `lookout status` (terms aggregations
/// over the alerts).
pub fn status_query() -> Value {
    let terms = |field: &str| json!({"terms": {"field": field, "size": 1000}});
    json!({
        "size": 0,
        "aggs": {"pending": terms(PENDING), "sent": terms(SENT), "failed": terms(FAILED)},
    })
}

/// The counts of a [`status_query`] answer: (connector, pending, sent, failed), by connector.
pub fn read_status(answer: &Value) -> Vec<(String, u64, u64, u64)> {
    let mut rows: Vec<(String, u64, u64, u64)> = Vec::new();
    for (column, agg) in ["pending", "sent", "failed"].iter().enumerate() {
        let buckets = answer["aggregations"][agg]["buckets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for bucket in buckets {
            let (Some(key), Some(count)) = (bucket["key"].as_str(), bucket["doc_count"].as_u64())
            else {
                continue;
            };
            let at = match rows.iter().position(|r| r.0 == key) {
                Some(at) => at,
                None => {
                    rows.push((key.to_string(), 0, 0, 0));
                    rows.len() - 1
                }
            };
            match column {
                0 => rows[at].1 = count,
                1 => rows[at].2 = count,
                _ => rows[at].3 = count,
            }
        }
    }
    rows.sort();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pending: &[&str], sent: &[&str]) -> PendingAlert {
        PendingAlert {
            index: "alerts".into(),
            id: "a1".into(),
            seq_no: 3,
            primary_term: 1,
            doc: json!({"@timestamp": "2026-01-01T00:00:00Z", PENDING: pending, SENT: sent}),
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            attempts: 2,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:10:00Z".parse().unwrap()
    }

    #[test]
    fn a_sent_alert_moves_the_connector_from_pending_to_sent() {
        let update = update(
            &alert(&["soc", "pd"], &["mail"]),
            "soc",
            &Outcome::Sent,
            now(),
        );
        assert_eq!(update.doc[PENDING], json!(["pd"]));
        assert_eq!(update.doc[SENT], json!(["mail", "soc"]));
        assert_eq!(
            update.doc["lookout.notify.state.soc.sent_at"],
            "2026-01-01T00:10:00.000Z"
        );
        assert_eq!((update.seq_no, update.primary_term), (3, 1));
    }

    #[test]
    fn a_retry_counts_the_attempt_and_keeps_the_alert_pending() {
        let next_at = now() + chrono::TimeDelta::seconds(20);
        let outcome = Outcome::Retry {
            next_at,
            error: "HTTP 503".into(),
        };
        let update = update(&alert(&["soc"], &[]), "soc", &outcome, now());
        assert!(update.doc.get(PENDING).is_none());
        assert_eq!(update.doc["lookout.notify.state.soc.attempts"], 3);
        assert_eq!(
            update.doc["lookout.notify.state.soc.last_error"],
            "HTTP 503"
        );
    }

    #[test]
    fn a_failed_alert_is_recorded_as_failed_never_dropped() {
        let outcome = Outcome::Failed {
            error: "older than 24h".into(),
        };
        let update = update(&alert(&["soc"], &[]), "soc", &outcome, now());
        assert_eq!(update.doc[PENDING], json!([]));
        assert_eq!(update.doc[FAILED], json!(["soc"]));
    }

    #[test]
    fn due_hits_are_read_with_their_sequence_numbers_and_attempts() {
        let answer = json!({"hits": {"hits": [
            {"_index": "i", "_id": "x", "_seq_no": 9, "_primary_term": 2, "_source": {
                "@timestamp": "2026-01-01T00:00:00Z", PENDING: ["soc"], "lookout.notify.state.soc.attempts": 4}},
            {"_index": "i", "_id": "y", "_seq_no": 1, "_primary_term": 1, "_source": {
                "@timestamp": "2026-01-01T00:00:00Z", PENDING: ["pd"]}},
        ]}});
        let due = read_due(&answer, "soc");
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].seq_no, due[0].primary_term, due[0].attempts),
            (9, 2, 4)
        );
    }

    #[test]
    fn status_counts_are_gathered_per_connector() {
        let answer = json!({"aggregations": {
            "pending": {"buckets": [{"key": "soc", "doc_count": 2}]},
            "sent": {"buckets": [{"key": "soc", "doc_count": 5}, {"key": "pd", "doc_count": 1}]},
            "failed": {"buckets": []},
        }});
        assert_eq!(
            read_status(&answer),
            [("pd".into(), 0, 1, 0), ("soc".into(), 2, 5, 0)]
        );
    }
}
