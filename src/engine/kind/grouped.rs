//! Query rules with alert suppression (docs/rule-types.md, "Alert suppression"): as Kibana
//! does, one `composite` aggregation over the `group_by` fields of the window's events (a
//! missing field is a bucket of its own under `suppress`), each bucket with its first event and
//! its earliest and latest time, at most `max_signals` buckets; the events earlier alerts of a
//! group already count are left out of the aggregation. Each bucket is one group's candidate for
//! the sink's suppression. Under `doNotSuppress`, the events missing a group field are searched
//! and alerted one by one.

use super::{Chunk, PlannedSearch};
use crate::alert::{self, SharedFields, SourceEvent};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::sink::AlertSink;
use crate::engine::suppress::{Candidate, Policy, instance_id, time_of};
use crate::es::{Flow, Hit, Paging};
use crate::rule::Rule;
use crate::schedule::Window;
use serde_json::{Value, json};

/// The composite aggregation's name in requests and answers.
const GROUPS: &str = "groups";

/// The group history, then the window's groups.
pub(super) fn planned(
    rule: &Rule,
    policy: &Policy,
    query: &Value,
    window: Window,
) -> Vec<PlannedSearch> {
    let search = &rule.search;
    let timestamp = search.timestamp.primary();
    let query = plan::filter_query(search, query, &window);
    vec![
        PlannedSearch {
            purpose: "earlier suppressed alerts of this rule (the group history)",
            index: vec!["<alerts index pattern>".to_string()],
            body: json!({"query": {"exists": {"field": "kibana.alert.instance.id"}}}),
        },
        PlannedSearch {
            purpose: "the window's groups, each with its first event",
            index: search.index.clone(),
            body: request(policy, &query, timestamp, rule.max_signals),
        },
    ]
}

/// Aggregates the window's events into groups and offers them; returns the events counted.
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let rule = chunk.rule;
    let search = &rule.search;
    let suppressor = sink
        .suppressor()
        .expect("the grouped query kind runs when suppressing");
    let policy = suppressor.policy.clone();
    let counted = json!({"bool": {"filter": [chunk.query], "must_not": suppressor.exclusions()}});
    let query = plan::filter_query(search, &counted, &chunk.window);
    let body = request(
        &policy,
        &query,
        search.timestamp.primary(),
        rule.max_signals,
    );
    let answer = chunk.search.aggregate(&search.index, body).await?;
    let buckets = answer["aggregations"][GROUPS]["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let max = usize::try_from(rule.max_signals).unwrap_or(usize::MAX);
    if buckets.len() > max {
        sink.limit_reached();
    }
    let shared = SharedFields::new(chunk.alert);
    let mut hits = 0;
    let candidates = (buckets.iter().take(max))
        .filter_map(|bucket| {
            hits += bucket["doc_count"].as_u64().unwrap_or(0);
            candidate(chunk, &policy, &shared, bucket)
        })
        .collect();
    sink.offer_groups(candidates);
    if !policy.suppress_missing && buckets.len() < max {
        hits += alone(chunk, &policy, sink, &shared, max - buckets.len()).await?;
    }
    Ok(hits)
}

/// The aggregation: one `terms` source per `group_by` field (with a bucket for a missing value
/// under `suppress`), `max_signals + 1` buckets (one more tells that there were more).
pub fn request(policy: &Policy, query: &Value, timestamp: &str, max_signals: u32) -> Value {
    let sources: Vec<Value> = (policy.group_by.iter())
        .map(|field| {
            let mut terms = json!({"field": field});
            if policy.suppress_missing {
                terms["missing_bucket"] = json!(true);
                terms["missing_order"] = json!("last");
            }
            json!({ field: {"terms": terms} })
        })
        .collect();
    let first = json!({"top_hits": {"size": 1, "sort": [{timestamp: {"order": "asc", "unmapped_type": "date"}}]}});
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": query,
        "aggs": { GROUPS: {
            "composite": {"size": u64::from(max_signals) + 1, "sources": sources},
            "aggs": {
                "first": first,
                "max_time": {"max": {"field": timestamp}},
                "min_time": {"min": {"field": timestamp}},
            },
        }},
    })
}

/// A bucket's candidate: its first event's alert, the bucket's values, times and count.
fn candidate(
    chunk: &Chunk<'_>,
    policy: &Policy,
    shared: &SharedFields,
    bucket: &Value,
) -> Option<Candidate> {
    let hit = &bucket["first"]["hits"]["hits"][0];
    let event = SourceEvent {
        index: hit["_index"].as_str()?,
        id: hit["_id"].as_str()?,
        source: &hit["_source"],
    };
    let alert = alert::build_alert_with(event, chunk.alert, shared);
    let terms: Vec<(String, Value)> = (policy.group_by.iter())
        .map(|field| (field.clone(), bucket["key"][field].clone()))
        .collect();
    let count = bucket["doc_count"].as_u64()?;
    Some(Candidate {
        instance: instance_id(&chunk.rule.rule_id, chunk.alert.namespace, &terms),
        terms,
        start: time_of(&bucket["min_time"]["value"]).unwrap_or(chunk.window.from),
        end: time_of(&bucket["max_time"]["value"]).unwrap_or(chunk.window.to),
        docs_count: count.saturating_sub(1),
        alert,
    })
}

/// Under `doNotSuppress`: the window's events missing a group field, each its own alert, at
/// most `room` of them; returns how many were read.
async fn alone(
    chunk: &Chunk<'_>,
    policy: &Policy,
    sink: &mut AlertSink<'_>,
    shared: &SharedFields,
    room: usize,
) -> Result<u64, ExecutionError> {
    let search = &chunk.rule.search;
    let missing: Vec<Value> = (policy.group_by.iter())
        .map(|field| json!({"bool": {"must_not": {"exists": {"field": field}}}}))
        .collect();
    let query =
        json!({"bool": {"filter": [chunk.query], "should": missing, "minimum_should_match": 1}});
    let body = plan::events_body(search, &query, &chunk.window);
    let paging = Paging {
        index: &search.index,
        page_size: plan::page_size(chunk.rule.max_signals),
        point_in_time: true,
    };
    let mut read = 0;
    chunk
        .search
        .pages(paging, body, async |page: Vec<Hit>| {
            let page: Vec<Hit> = page
                .into_iter()
                .take(room.saturating_sub(read as usize))
                .collect();
            read += page.len() as u64;
            let alerts = page
                .iter()
                .map(|hit| {
                    let event = SourceEvent {
                        index: &hit.index,
                        id: &hit.id,
                        source: &hit.source,
                    };
                    alert::build_alert_with(event, chunk.alert, shared)
                })
                .collect();
            sink.offer(alerts).await?;
            Ok(
                match read as usize >= room || sink.written().limit_reached {
                    true => Flow::Stop,
                    false => Flow::More,
                },
            )
        })
        .await?;
    Ok(read)
}
