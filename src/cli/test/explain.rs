//! `lookout test --explain`: why a rule finds nothing. Prints the exact first request an
//! execution sends (the rule's query typed with the field types of its indices, the window, the
//! time-field fallback), then how many events of the window each top-level clause of a KQL
//! query matches on its own, next to the events of the window at all and the whole query: the
//! clause that excludes everything stands out. Each count is the rule's own search (same
//! indices, window, filters and exceptions) with only that clause as its query, so the counts
//! mean what an execution would see.

use lookout::kql::{self, FieldMap};
use lookout::{Client, Query, Rule, Window, printable, printable_json};
use serde_json::{Value, json};

/// Prints the request, then the counts per clause, built with the field types the preview used.
pub async fn explain(
    client: &Client,
    rule: &Rule,
    window: Window,
    fields: Option<&FieldMap>,
) -> anyhow::Result<()> {
    let planned = lookout::planned_searches(rule, fields, window);
    for search in &planned {
        println!(
            "request: {} on {}",
            search.purpose,
            printable(&search.index.join(","))
        );
        println!(
            "{}",
            printable_json(&serde_json::to_string_pretty(&search.body)?)
        );
    }
    if let Some(field) = &rule.search.timestamp.field {
        println!(
            "time field: {} (events without it are searched on @timestamp)",
            printable(field)
        );
    }
    let mut rows = vec![(
        "(the window alone, no query)".to_string(),
        count(client, rule, kql::Query::MatchAll, fields, window).await?,
    )];
    for clause in clauses(rule) {
        let label = clause.to_string();
        rows.push((label, count(client, rule, clause, fields, window).await?));
    }
    if let Query::Kql { tree, .. } = rule.kind.query()
        && matches!(tree, kql::Query::And(_))
    {
        let total = count(client, rule, tree.clone(), fields, window).await?;
        rows.push(("(the whole query)".to_string(), total));
    }
    println!("events of the window each clause matches on its own:");
    for (label, matched) in rows {
        let flag = if matched == 0 {
            "  <- matches nothing"
        } else {
            ""
        };
        println!("  {matched:>8}  {}{flag}", printable(&label));
    }
    Ok(())
}

/// The top-level clauses of a KQL query (`a and b and c`: each; otherwise the query itself).
/// Lucene and EQL queries are not split.
pub fn clauses(rule: &Rule) -> Vec<kql::Query> {
    match rule.kind.query() {
        Query::Kql {
            tree: kql::Query::And(children),
            ..
        } => children.clone(),
        Query::Kql { tree, .. } => vec![tree.clone()],
        Query::Lucene { .. } | Query::Eql { .. } => Vec::new(),
    }
}

/// The rule with `clause` as its query (same kind, indices, window, filters, exceptions).
pub fn with_query(rule: &Rule, clause: kql::Query) -> Rule {
    let query = Query::Kql {
        text: clause.to_string(),
        tree: clause,
    };
    let mut narrowed = rule.clone();
    narrowed.kind = match &rule.kind {
        lookout::Kind::Query(_) => lookout::Kind::Query(query),
        lookout::Kind::Threshold(_, t) => lookout::Kind::Threshold(query, t.clone()),
        lookout::Kind::NewTerms(_, n) => lookout::Kind::NewTerms(query, n.clone()),
        lookout::Kind::ThreatMatch(_, m) => lookout::Kind::ThreatMatch(query, m.clone()),
        // Not split ([`clauses`] gives none): the rule stays as it is.
        lookout::Kind::Eql(_) => return narrowed,
    };
    narrowed
}

/// How many events of the window the rule's first search matches with `clause` as its query.
async fn count(
    client: &Client,
    rule: &Rule,
    clause: kql::Query,
    fields: Option<&FieldMap>,
    window: Window,
) -> anyhow::Result<u64> {
    let narrowed = with_query(rule, clause);
    // The first search of the rule's own indices (a threshold rule first reads its history).
    let Some(search) = lookout::planned_searches(&narrowed, fields, window)
        .into_iter()
        .find(|search| search.index == narrowed.search.index)
    else {
        return Ok(0);
    };
    let answer = client
        .search_raw(&search.index.join(","), counting(search.body))
        .await?;
    Ok(lookout::total_hits(&answer).unwrap_or(0))
}

/// A search body made into an exact count: no hits, no paging, no aggregations.
pub fn counting(mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        for key in [
            "sort",
            "search_after",
            "pit",
            "aggs",
            "aggregations",
            "_source",
            "fields",
        ] {
            object.remove(key);
        }
        object.insert("size".to_string(), json!(0));
        object.insert("track_total_hits".to_string(), json!(true));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conjunction_is_split_into_its_clauses() {
        let rule = crate::cli::test_rule("r");
        let tree = kql::parse("event.dataset: aws.cloudtrail and event.action: CreateGroup")
            .expect("parses");
        let rule = with_query(&rule, tree);
        let clauses: Vec<String> = clauses(&rule).iter().map(ToString::to_string).collect();
        assert_eq!(
            clauses,
            [
                "\"event.dataset\": aws.cloudtrail",
                "\"event.action\": CreateGroup"
            ]
        );
    }

    #[test]
    fn a_counting_body_asks_for_the_exact_total_only() {
        let body = json!({"size": 100, "sort": [{"@timestamp": "asc"}], "aggs": {}, "query": {"match_all": {}}});
        let counted = counting(body);
        assert_eq!(
            counted,
            json!({"size": 0, "track_total_hits": true, "query": {"match_all": {}}})
        );
    }
}
