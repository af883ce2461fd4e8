//! The search request of one page (ENGINE.md section 4): the rule's translated query, the time
//! range on the primary timestamp (with the `@timestamp` fallback), the rule's filters, a total
//! sort and `search_after` paging. Pure: builds JSON from the rule, a window and a cursor.

use crate::rule::Rule;
use crate::schedule::Window;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The largest page asked for; pages are `min(max_signals, MAX_PAGE_SIZE)` hits.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The timestamp every ECS document has, and the fallback when an override is missing.
pub const DEFAULT_TIMESTAMP: &str = "@timestamp";

/// The date format of the range bounds lookout sends (RFC 3339 with milliseconds).
const RANGE_FORMAT: &str = "strict_date_optional_time";

/// The last sort key, which makes the sort total so `search_after` never skips or repeats a hit.
///
/// With a point-in-time, `_shard_doc` (the documented PIT tiebreaker on Elasticsearch and
/// OpenSearch). Without one, `_doc`: Elasticsearch 8.x refuses to sort on `_id` by default
/// (`indices.id_field_data.enabled` is false), and `_doc` is total within a shard; the only
/// servers without a PIT are old ones, where a merge during paging could reorder hits. A hit
/// seen twice is harmless (the alert id dedupes it); that is the accepted cost of no PIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiebreaker {
    ShardDoc,
    Doc,
}

impl Tiebreaker {
    fn field(self) -> &'static str {
        match self {
            Tiebreaker::ShardDoc => "_shard_doc",
            Tiebreaker::Doc => "_doc",
        }
    }
}

/// The number of hits asked for per page.
pub fn page_size(rule: &Rule) -> u32 {
    rule.max_signals.clamp(1, MAX_PAGE_SIZE)
}

/// The field the window applies to: `timestamp_override` when set, else `@timestamp`.
pub fn primary_timestamp(rule: &Rule) -> &str {
    rule.timestamp_override
        .as_deref()
        .unwrap_or(DEFAULT_TIMESTAMP)
}

/// True when a document without the override field is matched on `@timestamp` instead.
pub fn falls_back(rule: &Rule) -> bool {
    rule.timestamp_override
        .as_deref()
        .is_some_and(|field| field != DEFAULT_TIMESTAMP)
        && !rule.timestamp_override_fallback_disabled
}

/// The body of one page's search.
pub fn search_body(
    rule: &Rule,
    query: &Value,
    window: &Window,
    tiebreaker: Tiebreaker,
    search_after: Option<&[Value]>,
) -> Value {
    let mut body = json!({
        "size": page_size(rule),
        "query": filter_query(rule, query, window),
        "sort": sort(rule, tiebreaker),
        "track_total_hits": false,
    });
    if let Some(after) = search_after {
        body["search_after"] = json!(after);
    }
    body
}

/// `bool.filter = [query, time range, positive filters]`, `must_not = [negated filters]`
/// (also the base of the threshold, new terms and indicator match searches).
pub fn filter_query(rule: &Rule, query: &Value, window: &Window) -> Value {
    let mut filter = vec![query.clone(), time_range(rule, window)];
    let mut must_not = Vec::new();
    for kibana_filter in &rule.filters {
        let Some((clause, negate)) = filter_clause(kibana_filter) else {
            continue;
        };
        if negate {
            must_not.push(clause);
        } else {
            filter.push(clause);
        }
    }
    let mut bool_query = json!({ "filter": filter });
    if !must_not.is_empty() {
        bool_query["must_not"] = json!(must_not);
    }
    json!({ "bool": bool_query })
}

/// A Kibana filter object as a query clause and whether it is negated; `None` when disabled.
/// The clause is the filter's `query` when it has one, else the object minus `meta` and
/// `$state` (the older shape, such as `{"meta": .., "exists": {"field": ..}}`).
pub fn filter_clause(kibana_filter: &Value) -> Option<(Value, bool)> {
    let meta = &kibana_filter["meta"];
    if meta["disabled"].as_bool() == Some(true) {
        return None;
    }
    let negate = meta["negate"].as_bool() == Some(true);
    if let Some(query) = kibana_filter.get("query") {
        return Some((query.clone(), negate));
    }
    let mut clause = kibana_filter.as_object()?.clone();
    clause.remove("meta");
    clause.remove("$state");
    if clause.is_empty() {
        return None;
    }
    Some((Value::Object(clause), negate))
}

/// The window on the primary timestamp, or on `@timestamp` for documents without the override.
fn time_range(rule: &Rule, window: &Window) -> Value {
    let primary = range(primary_timestamp(rule), window);
    if !falls_back(rule) {
        return primary;
    }
    let override_field = primary_timestamp(rule);
    json!({
        "bool": {
            "should": [
                primary,
                {
                    "bool": {
                        "filter": [range(DEFAULT_TIMESTAMP, window)],
                        "must_not": [{ "exists": { "field": override_field } }],
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    })
}

fn range(field: &str, window: &Window) -> Value {
    json!({
        "range": {
            field: {
                "gte": timestamp(window.from),
                "lte": timestamp(window.to),
                "format": RANGE_FORMAT,
            }
        }
    })
}

/// Primary timestamp ascending, then `@timestamp` when falling back, then the tiebreaker.
fn sort(rule: &Rule, tiebreaker: Tiebreaker) -> Value {
    let mut keys = vec![ascending_date(primary_timestamp(rule))];
    if falls_back(rule) {
        keys.push(ascending_date(DEFAULT_TIMESTAMP));
    }
    keys.push(json!({ tiebreaker.field(): { "order": "asc" } }));
    json!(keys)
}

fn ascending_date(field: &str) -> Value {
    json!({ field: { "order": "asc", "unmapped_type": "date" } })
}

/// RFC 3339 in UTC with milliseconds, the form `strict_date_optional_time` accepts.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
