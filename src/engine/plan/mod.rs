//! The search request of a rule's window, pure (docs/architecture.md, "The search request"): the
//! time range on the primary timestamp (with the `@timestamp` fallback), the rule's translated
//! query, the rule's filters, all in their smallest equivalent form (`simplify`), and the sort on
//! the primary timestamp. Paging (size, tiebreaker, cursor) is added by
//! `es::Client::for_each_page`.

mod simplify;

pub use simplify::simplify_filter;

use crate::rule::{DEFAULT_TIMESTAMP, Search};
use crate::schedule::Window;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The largest page asked for; pages are `min(max_signals, MAX_PAGE_SIZE)` hits.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The date format of the range bounds lookout sends (RFC 3339 with milliseconds).
const RANGE_FORMAT: &str = "strict_date_optional_time";

/// The number of hits asked for per page: `min(max_signals, MAX_PAGE_SIZE)`, at least 1.
pub fn page_size(max_signals: u32) -> usize {
    max_signals.clamp(1, MAX_PAGE_SIZE) as usize
}

/// The events of a window: the filter query and the sort on the primary timestamp.
pub fn events_body(search: &Search, query: &Value, window: &Window) -> Value {
    json!({
        "query": filter_query(search, query, window),
        "sort": sort(search),
        "track_total_hits": false,
    })
}

/// `bool.filter = [time range, query, positive filters]`, `must_not = [negated filters, the
/// exception items that apply to the window]`, in its smallest equivalent form (nested filter
/// lists spliced in place, so the time range stays first; the base of every kind's searches).
pub fn filter_query(search: &Search, query: &Value, window: &Window) -> Value {
    let (filter, must_not) = clauses(
        search,
        vec![time_range(search, window), query.clone()],
        window,
    );
    let mut bool_query = json!({ "filter": filter });
    if !must_not.is_empty() {
        bool_query["must_not"] = json!(must_not);
    }
    simplify_filter(json!({ "bool": bool_query }))
}

/// What `_eql/search` takes as its `filter`, in two parts (docs/eql.md, "The request"): the
/// window's time range (with the `@timestamp` fallback), and the rule's filters and exception
/// clause as one query in its smallest form, `None` when the rule has neither.
pub fn eql_filters(search: &Search, window: &Window) -> (Value, Option<Value>) {
    let (filter, must_not) = clauses(search, Vec::new(), window);
    if filter.is_empty() && must_not.is_empty() {
        return (time_range(search, window), None);
    }
    let mut bool_query = json!({ "filter": filter });
    if !must_not.is_empty() {
        bool_query["must_not"] = json!(must_not);
    }
    let rest = simplify_filter(json!({ "bool": bool_query }));
    (time_range(search, window), Some(rest))
}

/// `filter` (starting with `first`) and `must_not` of a search: the rule's positive and negated
/// Kibana filters, and the exception items that apply to the window.
fn clauses(search: &Search, first: Vec<Value>, window: &Window) -> (Vec<Value>, Vec<Value>) {
    let mut filter = first;
    let mut must_not = Vec::new();
    for kibana_filter in &search.filters {
        let Some((clause, negate)) = filter_clause(kibana_filter) else {
            continue;
        };
        if negate {
            must_not.push(clause);
        } else {
            filter.push(clause);
        }
    }
    // An item with an `expire_time` applies to the windows that end before it.
    must_not.extend(search.exceptions.clause(window.to));
    (filter, must_not)
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
fn time_range(search: &Search, window: &Window) -> Value {
    let primary = range(search.timestamp.primary(), window);
    if !search.timestamp.falls_back() {
        return primary;
    }
    json!({
        "bool": {
            "should": [
                primary,
                {
                    "bool": {
                        "filter": [range(DEFAULT_TIMESTAMP, window)],
                        "must_not": [{ "exists": { "field": search.timestamp.primary() } }],
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

/// Primary timestamp ascending, then `@timestamp` when falling back.
fn sort(search: &Search) -> Value {
    let mut keys = vec![ascending_date(search.timestamp.primary())];
    if search.timestamp.falls_back() {
        keys.push(ascending_date(DEFAULT_TIMESTAMP));
    }
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
mod simplify_tests;
#[cfg(test)]
mod tests;
