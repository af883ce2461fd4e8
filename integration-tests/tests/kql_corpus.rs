//! Same documents as the reference: for every KQL query of Elastic's rule corpus
//! (`corpus/kql-reference.jsonl`), builds documents from the query's own field names and values
//! (some satisfy it, some miss it), indexes them into a fresh index with the CloudTrail mapping,
//! and checks that lookout's DSL (typed with the index's field caps, as the engine translates)
//! selects exactly the documents the reference DSL selects. Where Kibana and the reference
//! library are known to differ, the test names the difference and checks lookout against
//! Kibana's selection computed here instead (`kql_support/evaluate.rs`). The form lookout sends
//! (`lookout::simplify_filter` of its DSL) must select exactly what its DSL selects, for every
//! query.

#[path = "kql_support/docs.rs"]
mod docs;
#[path = "kql_support/evaluate.rs"]
mod evaluate;
#[path = "kql_support/index.rs"]
mod index;

use chrono::{SecondsFormat, Utc};
use docs::Typing;
use elasticsearch::http::Method;
use index::{bulk_index, create_index, search_ids};
use integration_tests::server::{Capability, require_all};
use integration_tests::{TestServer, read_ndjson, shared_file, unique_name};
use lookout::kql::{self, Field, FieldMap, Query, Value};
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Queries checked at once (each uses its own index).
const CONCURRENCY: usize = 4;
/// The share of queries whose documents must be split (some selected, some not).
const MIN_NON_TRIVIAL_SHARE: f64 = 0.90;
/// Set to list every query's selections; set to part of a rule path to print that rule's
/// documents too.
const VERBOSE_VAR: &str = "LOOKOUT_KQL_CORPUS_VERBOSE";
/// The number of KQL queries in the reference file.
const CORPUS_QUERIES: usize = 801;

/// Differences between Kibana and the reference library, by name.
const FIELD_WILDCARD: &str = "field-name wildcard (Kibana expands it to the mapped fields; the reference sends the pattern as one field name)";
const WILDCARD_WITH_SPACE: &str = "wildcard value with whitespace on a keyword field (one literal pattern in Kibana; split into terms by the reference's query_string)";
const QUOTED_ON_TEXT: &str =
    "quoted multi-word value on a text field (match_phrase in Kibana, match in the reference)";
const NUMBER: &str = "number-like value (text in Kibana, a JSON number in the reference)";
const UNICODE_ESCAPE: &str = "\\uXXXX escape (decoded by Kibana, kept as text by the reference)";
const NOT_SEARCHABLE: &str = "condition on a field the mapping does not index (Kibana's query on it is refused by the server; this server accepts the reference's query_string there and selects nothing)";

/// What happened to one corpus query.
struct Outcome {
    path: String,
    docs: usize,
    reference: Result<BTreeSet<String>, String>,
    lookout: Result<BTreeSet<String>, String>,
    /// What the simplified form lookout sends selects.
    sent: Result<BTreeSet<String>, String>,
    untyped: Result<BTreeSet<String>, String>,
    /// Kibana's selection computed without a server, when every document could be decided.
    kibana: Option<BTreeSet<String>>,
    known: Vec<&'static str>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookout_selects_the_same_documents_as_the_reference_for_every_corpus_query() {
    let needs = [Capability::WildcardEscapes, Capability::ZuluTimeZone];
    if !require_all(&needs).await {
        return;
    }
    let server = TestServer::connect();
    let template = server.cloudtrail_template().await;
    let mappings = Arc::new(template["template"]["mappings"].clone());
    let rows = read_ndjson(&shared_file("corpus/kql-reference.jsonl"));
    assert_eq!(rows.len(), CORPUS_QUERIES);
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);

    let mut running = JoinSet::new();
    let mut outcomes = Vec::new();
    for row in rows {
        if running.len() >= CONCURRENCY {
            outcomes.push(
                running
                    .join_next()
                    .await
                    .expect("a task")
                    .expect("task ran"),
            );
        }
        let (server, mappings, now) = (server.clone(), mappings.clone(), now.clone());
        running.spawn(async move { check_query(&server, &row, &mappings, &now).await });
    }
    while let Some(done) = running.join_next().await {
        outcomes.push(done.expect("task ran"));
    }
    report_and_assert(&outcomes);
}

async fn check_query(server: &TestServer, row: &Json, mappings: &Json, now: &str) -> Outcome {
    let path = row["path"].as_str().expect("path").to_string();
    let text = row["query"].as_str().expect("query");
    let query = kql::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let typing = Typing::new(mappings, &query);
    let documents = docs::documents(&query, &typing, now);
    if std::env::var(VERBOSE_VAR).is_ok_and(|only| !only.is_empty() && path.contains(&only)) {
        for doc in &documents {
            eprintln!("  {path}: {}", docs::to_json(doc));
        }
    }

    let index = unique_name("kql-corpus");
    create_index(server, &index, mappings, &query, &typing, &documents).await;
    let indexed = bulk_index(server, &index, &documents).await;
    let caps = server
        .ok(Method::Get, &format!("/{index}/_field_caps?fields=*"), None)
        .await;
    let fields = FieldMap::from_field_caps(&caps);

    let reference = search_ids(server, &index, &row["dsl"]).await;
    let dsl = kql::to_dsl(&query, Some(&fields));
    let lookout = search_ids(server, &index, &dsl).await;
    let sent = search_ids(server, &index, &lookout::simplify_filter(dsl)).await;
    let untyped = search_ids(server, &index, &kql::to_dsl(&query, None)).await;
    let kibana = indexed
        .iter()
        .map(|(id, doc)| evaluate::selects(&query, doc, &fields, None).map(|hit| (id, hit)))
        .collect::<Option<Vec<_>>>()
        .map(|decided| {
            decided
                .into_iter()
                .filter(|(_, hit)| *hit)
                .map(|(id, _)| id.clone())
                .collect()
        });
    server.delete_index(&index).await;
    Outcome {
        path,
        docs: indexed.len(),
        reference,
        lookout,
        sent,
        untyped,
        kibana,
        known: known_differences(text, &query, &fields, &caps),
    }
}

/// The named differences this query's conditions may show.
fn known_differences(
    text: &str,
    query: &Query,
    fields: &FieldMap,
    caps: &Json,
) -> Vec<&'static str> {
    let mut found = BTreeSet::new();
    if text.contains("\\u") {
        found.insert(UNICODE_ESCAPE);
    }
    walk_differences(query, fields, caps, &mut found);
    found.into_iter().collect()
}

/// True when the field caps say the field cannot be searched.
fn not_searchable(caps: &Json, name: &str) -> bool {
    caps["fields"][name]
        .as_object()
        .is_some_and(|types| types.values().any(|t| t["searchable"] == json!(false)))
}

fn walk_differences(
    query: &Query,
    fields: &FieldMap,
    caps: &Json,
    found: &mut BTreeSet<&'static str>,
) {
    match query {
        Query::Or(children) | Query::And(children) => children
            .iter()
            .for_each(|c| walk_differences(c, fields, caps, found)),
        Query::Not(child) | Query::Nested { query: child, .. } => {
            walk_differences(child, fields, caps, found)
        }
        Query::Is {
            field: Some(field),
            value,
        } => {
            if matches!(field, Field::Pattern(_)) {
                found.insert(FIELD_WILDCARD);
            }
            if not_searchable(caps, &field.raw_name()) {
                found.insert(NOT_SEARCHABLE);
            }
            let info = fields.get(&field.raw_name());
            let text_like = info.is_some_and(|i| i.types.iter().any(|t| t.contains("text")));
            match value {
                Value::Wildcard(parts) if parts.iter().any(|p| p.contains(char::is_whitespace)) => {
                    found.insert(WILDCARD_WITH_SPACE);
                }
                Value::Phrase(t) if text_like && t.contains(char::is_whitespace) => {
                    found.insert(QUOTED_ON_TEXT);
                }
                Value::Text(t) | Value::Phrase(t) if t.parse::<f64>().is_ok() => {
                    found.insert(NUMBER);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn report_and_assert(outcomes: &[Outcome]) {
    let mut same = 0;
    let mut named = Vec::new();
    let mut failures = Vec::new();
    let mut non_trivial = 0;
    let mut untyped_same = 0;
    let mut both_refused = Vec::new();
    for outcome in outcomes {
        if outcome.sent != outcome.lookout {
            failures.push(format!(
                "{}: the sent form selects {:?}, Kibana's form {:?}",
                outcome.path, outcome.sent, outcome.lookout
            ));
        }
        if outcome.untyped == outcome.reference {
            untyped_same += 1;
        }
        if let Ok(selected) = &outcome.lookout
            && !selected.is_empty()
            && selected.len() < outcome.docs
        {
            non_trivial += 1;
        }
        match (&outcome.lookout, &outcome.reference) {
            (Ok(ours), Ok(theirs)) if ours == theirs => same += 1,
            (Err(e), Err(_)) => both_refused.push(format!("{}: {e}", outcome.path)),
            (Err(e), Ok(_)) if outcome.known.contains(&NOT_SEARCHABLE) => named.push(format!(
                "{}: lookout's query refused ({e}) [{NOT_SEARCHABLE}]",
                outcome.path
            )),
            (Err(e), Ok(_)) => {
                failures.push(format!("{}: lookout's DSL failed: {e}", outcome.path))
            }
            (Ok(ours), reference) => {
                let verdict = explain_difference(outcome, ours, reference);
                match verdict {
                    Ok(line) => named.push(line),
                    Err(line) => failures.push(line),
                }
            }
        }
    }
    let total = outcomes.len();
    let share = non_trivial as f64 / total as f64;
    eprintln!(
        "kql corpus: {total} queries, {same} select the same documents as the reference, \
         {} are refused by the server in both forms, {} differ by a named Kibana/reference \
         difference, {} unexplained (or sent differently); {non_trivial} non-trivial ({:.1}%); untyped lookout DSL \
         same as the reference for {untyped_same}",
        both_refused.len(),
        named.len(),
        failures.len(),
        share * 100.0
    );
    for line in &both_refused {
        eprintln!("  refused in both forms: {line}");
    }
    for line in &named {
        eprintln!("  named difference: {line}");
    }
    if std::env::var_os(VERBOSE_VAR).is_some() {
        for outcome in outcomes {
            eprintln!(
                "  {}: {} docs, lookout {:?}, reference {:?}",
                outcome.path, outcome.docs, outcome.lookout, outcome.reference
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} queries differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        share >= MIN_NON_TRIVIAL_SHARE,
        "only {non_trivial} of {total} queries got documents on both sides"
    );
}

/// A difference is accepted when the query has a named difference and lookout selects what
/// Kibana selects (computed here); anything else is a failure.
fn explain_difference(
    outcome: &Outcome,
    ours: &BTreeSet<String>,
    reference: &Result<BTreeSet<String>, String>,
) -> Result<String, String> {
    let detail = format!(
        "{}: lookout {:?}, reference {:?}, docs {}",
        outcome.path, ours, reference, outcome.docs
    );
    if outcome.known.is_empty() {
        return Err(format!("{detail}: no known difference explains it"));
    }
    match &outcome.kibana {
        Some(kibana) if kibana == ours => Ok(format!("{detail} [{}]", outcome.known.join("; "))),
        Some(kibana) => Err(format!(
            "{detail}: Kibana selects {kibana:?} [{}]",
            outcome.known.join("; ")
        )),
        None => Err(format!(
            "{detail}: [{}] but Kibana's selection cannot be computed here",
            outcome.known.join("; ")
        )),
    }
}
