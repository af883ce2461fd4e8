//! Native EQL on Elasticsearch: the `_eql/search` request Kibana's EQL executor sends for one
//! window, and the answer read into typed events and sequences (docs/eql.md, "Native EQL on
//! Elasticsearch"). Pure: JSON in, JSON out; the `es` module sends the request and the engine
//! turns the results into alerts.

#[cfg(test)]
pub(crate) mod eql_search_double;
#[cfg(test)]
mod tests;

use super::sequence::sequence_id;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The query parameters of every `_eql/search` request: an index pattern that matches nothing is
/// an empty answer, not an error (Kibana sends `allow_no_indices: true`).
pub const QUERY_PARAMETERS: [(&str, &str); 1] = [("allow_no_indices", "true")];

/// The date format Kibana asks the timestamp fields in.
pub const TIMESTAMP_FORMAT: &str = "strict_date_optional_time";

/// What one window's `_eql/search` is built from.
#[derive(Debug, Clone, Copy)]
pub struct RequestInput<'a> {
    /// The rule's EQL query, sent unchanged.
    pub query: &'a str,
    /// The rule's `max_signals`: the most events or sequences Elasticsearch returns.
    pub max_signals: u32,
    /// The window's range filter on the primary timestamp, with the `@timestamp` fallback when
    /// the rule has one (the same clause a query rule's search uses).
    pub time_range: &'a Value,
    /// The rule's filters and exceptions as one query clause, when it has any.
    pub filter: Option<&'a Value>,
    /// The window's timestamp field (`timestamp_override`, else `@timestamp`) and the fallback
    /// field when there is one: asked for in `fields`, formatted as dates.
    pub primary_timestamp: &'a str,
    pub secondary_timestamp: Option<&'a str>,
    /// The rule's `timestamp_field`, which orders events and sequences (Elasticsearch's default:
    /// `@timestamp`); not the timestamp override.
    pub timestamp_field: Option<&'a str>,
    /// The rule's `event_category_override`.
    pub event_category_field: Option<&'a str>,
    /// The rule's `tiebreaker_field`.
    pub tiebreaker_field: Option<&'a str>,
    /// Runtime fields of the searched data view, when the rule has any.
    pub runtime_mappings: Option<&'a Value>,
    /// Sends `allow_partial_search_results: true`, as Kibana does. Elasticsearch accepts the field
    /// from 8.18 on and rejects the request before; set it from the server's version.
    pub allow_partial_search_results: bool,
}

/// The request body of one window's `_eql/search`, as Kibana's executor builds it.
pub fn request_body(input: &RequestInput<'_>) -> Value {
    let mut filters = vec![input.time_range.clone()];
    filters.extend(input.filter.cloned());
    let mut body = json!({
        "size": input.max_signals,
        "query": input.query,
        "filter": { "bool": { "filter": filters } },
    });
    if input.allow_partial_search_results {
        body["allow_partial_search_results"] = json!(true);
    }
    if let Some(runtime_mappings) = input.runtime_mappings {
        body["runtime_mappings"] = runtime_mappings.clone();
    }
    let optional_fields = [
        ("timestamp_field", input.timestamp_field),
        ("event_category_field", input.event_category_field),
        ("tiebreaker_field", input.tiebreaker_field),
    ];
    for (name, field) in optional_fields {
        if let Some(field) = field.filter(|field| !field.is_empty()) {
            body[name] = json!(field);
        }
    }
    body["fields"] = fields(input.primary_timestamp, input.secondary_timestamp);
    body
}

/// Every field, mapped or not, plus the timestamp fields as formatted dates.
fn fields(primary: &str, secondary: Option<&str>) -> Value {
    let mut fields = vec![json!({ "field": "*", "include_unmapped": true })];
    for timestamp in std::iter::once(primary).chain(secondary) {
        fields.push(json!({ "field": timestamp, "format": TIMESTAMP_FORMAT }));
    }
    Value::Array(fields)
}

/// An `_eql/search` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct EqlAnswer {
    /// The async search id, when Elasticsearch kept the search.
    pub id: Option<String>,
    /// The answer is incomplete (shard failures with partial results allowed).
    pub is_partial: bool,
    /// The search had not finished when Elasticsearch answered; the results are not final.
    pub is_running: bool,
    pub timed_out: bool,
    pub took_ms: Option<u64>,
    /// `hits.total.value`: how many events or sequences matched.
    pub total: Option<u64>,
    pub hits: EqlHits,
    pub shard_failures: Vec<ShardFailure>,
}

/// The matches: events for an event query, sequences for a sequence query.
#[derive(Debug, Clone, PartialEq)]
pub enum EqlHits {
    Events(Vec<EqlEvent>),
    Sequences(Vec<EqlSequence>),
}

/// One event of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct EqlEvent {
    pub index: String,
    pub id: String,
    pub source: Value,
    /// The values of the requested `fields`.
    pub fields: Map<String, Value>,
    /// A placeholder for a missing-event stage of a sequence (no document: empty index and id).
    pub missing: bool,
}

/// One sequence of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct EqlSequence {
    pub join_keys: Vec<Value>,
    /// One per stage, missing-event placeholders included.
    pub events: Vec<EqlEvent>,
}

/// A shard that failed while partial results were allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardFailure {
    pub index: Option<String>,
    pub shard: Option<u64>,
    pub node: Option<String>,
    /// `type: reason` of the failure.
    pub reason: String,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("the _eql/search answer is not the documented JSON: {0}")]
    Malformed(String),
    #[error("the _eql/search answer has neither events nor sequences")]
    NoHits,
}

impl EqlSequence {
    /// The events that are documents, in sequence order (missing-event placeholders left out, as
    /// Kibana does since elastic/kibana#235133).
    pub fn present_events(&self) -> impl Iterator<Item = &EqlEvent> {
        self.events.iter().filter(|event| !event.missing)
    }

    /// The sequence's id: the same as lookout's own matcher gives the same events.
    pub fn id(&self, namespace: &str, rule_id: &str) -> String {
        sequence_id(
            self.present_events()
                .map(|event| (event.index.as_str(), event.id.as_str())),
            namespace,
            rule_id,
        )
    }
}

impl EqlAnswer {
    /// Kibana warns "maximum alerts reached" when this many matched or more.
    pub fn reached_max_signals(&self, max_signals: u32) -> bool {
        self.total
            .is_some_and(|total| total >= u64::from(max_signals))
    }
}

/// Reads an `_eql/search` answer body. Events win when an answer has both, as in Kibana.
pub fn read_answer(body: &[u8]) -> Result<EqlAnswer, AnswerError> {
    let raw: RawAnswer =
        serde_json::from_slice(body).map_err(|error| AnswerError::Malformed(error.to_string()))?;
    let hits = match (raw.hits.events, raw.hits.sequences) {
        (Some(events), _) => {
            EqlHits::Events(events.into_iter().map(RawEvent::into_event).collect())
        }
        (None, Some(sequences)) => EqlHits::Sequences(
            sequences
                .into_iter()
                .map(|sequence| EqlSequence {
                    join_keys: sequence.join_keys,
                    events: sequence
                        .events
                        .into_iter()
                        .map(RawEvent::into_event)
                        .collect(),
                })
                .collect(),
        ),
        (None, None) => return Err(AnswerError::NoHits),
    };
    Ok(EqlAnswer {
        id: raw.id,
        is_partial: raw.is_partial,
        is_running: raw.is_running,
        timed_out: raw.timed_out,
        took_ms: raw.took,
        total: raw.hits.total.map(|total| total.value),
        hits,
        shard_failures: raw
            .shard_failures
            .into_iter()
            .map(RawShardFailure::into_failure)
            .collect(),
    })
}

/// The answer as Elasticsearch's reference documents it.
#[derive(Deserialize)]
struct RawAnswer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    is_partial: bool,
    #[serde(default)]
    is_running: bool,
    #[serde(default)]
    timed_out: bool,
    #[serde(default)]
    took: Option<u64>,
    hits: RawHits,
    #[serde(default)]
    shard_failures: Vec<RawShardFailure>,
}

#[derive(Deserialize)]
struct RawHits {
    #[serde(default)]
    total: Option<RawTotal>,
    #[serde(default)]
    events: Option<Vec<RawEvent>>,
    #[serde(default)]
    sequences: Option<Vec<RawSequence>>,
}

#[derive(Deserialize)]
struct RawTotal {
    value: u64,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "_index", default)]
    index: String,
    #[serde(rename = "_id", default)]
    id: String,
    #[serde(rename = "_source", default)]
    source: Value,
    #[serde(default)]
    fields: Map<String, Value>,
    #[serde(default)]
    missing: bool,
}

impl RawEvent {
    fn into_event(self) -> EqlEvent {
        EqlEvent {
            index: self.index,
            id: self.id,
            source: self.source,
            fields: self.fields,
            missing: self.missing,
        }
    }
}

#[derive(Deserialize)]
struct RawSequence {
    #[serde(default)]
    join_keys: Vec<Value>,
    #[serde(default)]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawShardFailure {
    #[serde(default)]
    index: Option<String>,
    #[serde(default)]
    shard: Option<u64>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    reason: Value,
}

impl RawShardFailure {
    fn into_failure(self) -> ShardFailure {
        let kind = self.reason["type"].as_str().unwrap_or("unknown");
        let reason = match self.reason["reason"].as_str() {
            Some(text) => format!("{kind}: {text}"),
            None => kind.to_string(),
        };
        ShardFailure {
            index: self.index,
            shard: self.shard,
            node: self.node,
            reason,
        }
    }
}
