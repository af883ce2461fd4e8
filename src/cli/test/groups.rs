//! `lookout test` on a threshold rule: the groups of the window that reach the threshold (and
//! its cardinality), with their counts, read from the very search an execution sends ("the
//! window's groups and their counts"). Only the first page of groups is read; alerts written
//! before are not subtracted.

use lookout::kql::FieldMap;
use lookout::{Client, Rule, Threshold, Window, printable};
use serde_json::Value;

/// The groups that would alert, as `(group key, events, distinct values)`, and whether the
/// server holds more groups than the first page; the search is built with the field types the
/// preview used.
pub async fn threshold_groups(
    client: &Client,
    rule: &Rule,
    params: &Threshold,
    window: Window,
    fields: Option<&FieldMap>,
) -> anyhow::Result<(Vec<(String, u64, Option<u64>)>, bool)> {
    let Some(search) = lookout::planned_searches(rule, fields, window)
        .into_iter()
        .find(|search| search.index == rule.search.index)
    else {
        return Ok((Vec::new(), false));
    };
    let answer = client
        .search_raw(&search.index.join(","), search.body)
        .await?;
    Ok(read_groups(params, &answer))
}

/// The groups of an answer that reach the threshold; a threshold without fields is one group
/// of every event.
pub fn read_groups(params: &Threshold, answer: &Value) -> (Vec<(String, u64, Option<u64>)>, bool) {
    let aggregations = &answer["aggregations"];
    let (buckets, more) = match aggregations
        .as_object()
        .and_then(|aggs| aggs.values().find(|agg| agg["buckets"].is_array()))
    {
        Some(groups) => (
            groups["buckets"].as_array().cloned().unwrap_or_default(),
            groups.get("after_key").is_some(),
        ),
        None => {
            let count = lookout::total_hits(answer);
            let mut all = aggregations.clone();
            all["key"] = Value::String("(all events)".to_string());
            all["doc_count"] = count.map_or(Value::Null, Value::from);
            (vec![all], false)
        }
    };
    let groups = buckets
        .iter()
        .filter_map(|bucket| {
            let events = bucket["doc_count"].as_u64()?;
            let distinct = bucket["distinct"]["value"].as_u64();
            let enough_distinct = params
                .cardinality
                .first()
                .is_none_or(|c| distinct.unwrap_or(0) >= c.value);
            (events >= params.value && enough_distinct)
                .then(|| (key(&bucket["key"]), events, distinct))
        })
        .collect();
    (groups, more)
}

/// A composite key `{"user.name": "a", "source.ip": "b"}` as `user.name=a, source.ip=b`.
fn key(value: &Value) -> String {
    match value {
        Value::Object(parts) => parts
            .iter()
            .map(|(field, v)| {
                format!(
                    "{field}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Prints the groups that would alert.
pub fn print(groups: &[(String, u64, Option<u64>)], more: bool) {
    println!("groups that reach the threshold: {}", groups.len());
    for (group, events, distinct) in groups {
        let distinct = distinct
            .map(|n| format!(", {n} distinct"))
            .unwrap_or_default();
        println!("  {events:>8} events{distinct}  {}", printable(group));
    }
    if more {
        println!("  (more groups than one page were found; an execution reads them all)");
    }
}

/// The groups as JSON: each `{"group": "user.name=alice", "events": n, "distinct": n|null}`.
pub fn json(groups: &[(String, u64, Option<u64>)]) -> Value {
    (groups.iter())
        .map(|(group, events, distinct)| {
            serde_json::json!({ "group": group, "events": events, "distinct": distinct })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn threshold(value: u64) -> Threshold {
        Threshold {
            field: vec!["user.name".to_string()],
            value,
            cardinality: Vec::new(),
        }
    }

    #[test]
    fn only_groups_that_reach_the_threshold_are_kept() {
        let answer = json!({"aggregations": {"groups": {"buckets": [
            {"key": {"user.name": "alice"}, "doc_count": 5},
            {"key": {"user.name": "bob"}, "doc_count": 2},
        ]}}});
        let (groups, more) = read_groups(&threshold(3), &answer);
        assert_eq!(groups, [("user.name=alice".to_string(), 5, None)]);
        assert!(!more);
    }

    #[test]
    fn a_threshold_without_fields_is_one_group_of_every_event() {
        let answer = json!({"hits": {"total": {"value": 4}}, "aggregations": {"min_time": {}}});
        let mut params = threshold(3);
        params.field.clear();
        let (groups, _) = read_groups(&params, &answer);
        assert_eq!(groups, [("(all events)".to_string(), 4, None)]);
    }
}
