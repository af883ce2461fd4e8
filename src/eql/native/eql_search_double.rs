//! A test double of Elasticsearch's `_eql/search`, which no server on this machine offers: it
//! refuses a request body the way Elasticsearch's strict parser would (a field the EQL search API
//! does not document, a query that is not a string, a negative size) and otherwise answers with
//! a recorded answer in the shape the Elasticsearch reference documents. Test code only.
//!
//! Sources of the shapes: the EQL search API reference and `elasticsearch-specification`
//! (`eql/search/EqlSearchRequest.ts`, `eql/_types/EqlHits.ts`, `EqlSearchResponseBase.ts`), the
//! missing-event placeholder quoted in elastic/kibana#168708 and the shard failures of
//! elastic/elasticsearch#116388. The documents in them are made up.

use serde_json::Value;

/// The request body fields the EQL search API documents.
const BODY_FIELDS: [&str; 17] = [
    "query",
    "case_sensitive",
    "event_category_field",
    "tiebreaker_field",
    "timestamp_field",
    "fetch_size",
    "filter",
    "keep_alive",
    "keep_on_completion",
    "wait_for_completion_timeout",
    "allow_partial_search_results",
    "allow_partial_sequence_results",
    "size",
    "fields",
    "result_position",
    "runtime_mappings",
    "max_samples_per_key",
];

/// Recorded answers, by the exact query text they answer.
#[derive(Debug, Default)]
pub(crate) struct EqlSearchDouble {
    answers: Vec<(String, &'static str)>,
}

impl EqlSearchDouble {
    pub(crate) fn answering(mut self, query: &str, answer: &'static str) -> Self {
        self.answers.push((query.to_string(), answer));
        self
    }

    /// The answer body to a request body, or the reason Elasticsearch would refuse it.
    pub(crate) fn search(&self, body: &Value) -> Result<&'static str, String> {
        let fields = body
            .as_object()
            .ok_or("the request body is not an object")?;
        if let Some(unknown) = fields
            .keys()
            .find(|key| !BODY_FIELDS.contains(&key.as_str()))
        {
            return Err(format!("[eql/search] unknown field [{unknown}]"));
        }
        let query = body["query"]
            .as_str()
            .ok_or("[query] is a required string")?;
        if body.get("size").is_some_and(|size| size.as_u64().is_none()) {
            return Err("[size] must be a non-negative integer".to_string());
        }
        if body
            .get("filter")
            .is_some_and(|filter| !filter.is_object() && !filter.is_array())
        {
            return Err("[filter] must be a query".to_string());
        }
        self.answers
            .iter()
            .find(|(recorded, _)| recorded == query)
            .map(|(_, answer)| *answer)
            .ok_or_else(|| format!("no answer recorded for the query {query:?}"))
    }
}

/// An event query's answer: two events, each with its `fields`.
pub(crate) const EVENTS: &str = r#"{
  "is_partial": false,
  "is_running": false,
  "took": 31,
  "timed_out": false,
  "hits": {
    "total": { "value": 2, "relation": "eq" },
    "events": [
      {
        "_index": ".ds-logs-aws.cloudtrail-default-2026.01.10-000001",
        "_id": "evt-1",
        "_source": {
          "@timestamp": "2026-01-10T11:58:00.000Z",
          "event": { "action": "CreateUser", "category": "iam", "ingested": "2026-01-10T11:58:04Z" },
          "user": { "name": "mallory" }
        },
        "fields": {
          "@timestamp": ["2026-01-10T11:58:00.000Z"],
          "event.ingested": ["2026-01-10T11:58:04.000Z"]
        }
      },
      {
        "_index": ".ds-logs-aws.cloudtrail-default-2026.01.10-000001",
        "_id": "evt-2",
        "_source": {
          "@timestamp": "2026-01-10T11:59:10.000Z",
          "event": { "action": "CreateUser", "category": "iam", "ingested": "2026-01-10T11:59:12Z" },
          "user": { "name": "trent" }
        }
      }
    ]
  }
}"#;

/// A sequence query's answer: one sequence of two events joined on `user.name`.
pub(crate) const SEQUENCES: &str = r#"{
  "is_partial": false,
  "is_running": false,
  "took": 12,
  "timed_out": false,
  "hits": {
    "total": { "value": 1, "relation": "eq" },
    "sequences": [
      {
        "join_keys": ["mallory"],
        "events": [
          {
            "_index": ".ds-logs-aws.cloudtrail-default-2026.01.10-000001",
            "_id": "evt-1",
            "_source": {
              "@timestamp": "2026-01-10T11:58:00.000Z",
              "event": { "action": "CreateUser", "category": "iam" },
              "user": { "name": "mallory" },
              "source": { "ip": "192.0.2.1" }
            }
          },
          {
            "_index": ".ds-logs-aws.cloudtrail-default-2026.01.10-000001",
            "_id": "evt-3",
            "_source": {
              "@timestamp": "2026-01-10T11:59:30.000Z",
              "event": { "action": "AttachUserPolicy", "category": "iam" },
              "user": { "name": "mallory" },
              "source": { "ip": "192.0.2.1" }
            }
          }
        ]
      }
    ]
  }
}"#;

/// A sequence with a missing-event stage (`[..] ![..]`): the placeholder has no document.
pub(crate) const SEQUENCE_WITH_MISSING_EVENT: &str = r#"{
  "is_partial": false,
  "is_running": false,
  "took": 8,
  "timed_out": false,
  "hits": {
    "total": { "value": 1, "relation": "eq" },
    "sequences": [
      {
        "join_keys": ["alice", "laptop-7"],
        "events": [
          {
            "_index": "logs-system.auth-default",
            "_id": "logon-1",
            "_source": {
              "@timestamp": "2026-01-10T11:50:00.000Z",
              "event": { "category": "authentication", "code": "4624" },
              "user": { "name": "alice" },
              "host": { "name": "laptop-7" }
            }
          },
          {
            "_index": "",
            "_id": "",
            "_source": {},
            "missing": true
          }
        ]
      }
    ]
  }
}"#;

/// An answer after a shard failure with partial results allowed.
pub(crate) const PARTIAL_WITH_SHARD_FAILURE: &str = r#"{
  "is_partial": false,
  "is_running": false,
  "took": 40,
  "timed_out": false,
  "hits": {
    "total": { "value": 0, "relation": "eq" },
    "sequences": []
  },
  "shard_failures": [
    {
      "shard": 0,
      "index": "logs-aws.cloudtrail-default",
      "node": "Xq3fK0p2R5y",
      "reason": { "type": "no_shard_available_action_exception", "reason": null }
    }
  ]
}"#;

/// A sequence query that matched nothing.
pub(crate) const NO_SEQUENCES: &str = r#"{
  "is_partial": false,
  "is_running": false,
  "took": 3,
  "timed_out": false,
  "hits": {
    "total": { "value": 0, "relation": "eq" },
    "sequences": []
  }
}"#;
