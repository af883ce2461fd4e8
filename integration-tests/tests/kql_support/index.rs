//! The index of one query's documents, shared by the KQL tests on the live server: created with
//! the CloudTrail mapping adapted to the documents, filled with ids `d0`, `d1`, ..., and searched
//! for the ids a query selects.

use super::docs::{self, Doc, Typing};
use elasticsearch::http::{Method, StatusCode};
use integration_tests::TestServer;
use lookout::kql::Query;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;

/// Set to list the documents that did not index.
const VERBOSE_VAR: &str = "LOOKOUT_KQL_CORPUS_VERBOSE";

/// Creates the index: the CloudTrail mapping with `constant_keyword` fields made `keyword` (a
/// constant holds one value per index; the documents need several), `nested` for the query's
/// nested paths, and an explicit mapping for every other field of the documents (`double` for
/// numeric ones, else what the CloudTrail dynamic templates give).
pub async fn create_index(
    server: &TestServer,
    index: &str,
    mappings: &Json,
    query: &Query,
    typing: &Typing,
    documents: &[Doc],
) {
    let mut mappings = mappings.clone();
    docs::replace_type(&mut mappings["properties"], "constant_keyword", "keyword");
    let mut nested = Vec::new();
    docs::nested_paths(query, None, &mut nested);
    for path in nested {
        docs::add_mapping(
            &mut mappings["properties"],
            &path,
            json!({"type": "nested"}),
        );
    }
    let fields: BTreeSet<&String> = documents.iter().flat_map(|doc| doc.keys()).collect();
    for field in fields {
        if let Some(mapping) = typing.mapping_for(field) {
            docs::add_mapping(&mut mappings["properties"], field, mapping);
        }
    }
    let body = json!({"settings": {"number_of_shards": 1}, "mappings": mappings});
    server
        .ok(Method::Put, &format!("/{index}"), Some(body))
        .await;
}

/// Indexes the documents with ids `d0`, `d1`, ...; returns those that indexed.
pub async fn bulk_index(server: &TestServer, index: &str, documents: &[Doc]) -> Vec<(String, Doc)> {
    let json: Vec<Json> = documents.iter().map(docs::to_json).collect();
    let with_ids: Vec<(Option<String>, &Json)> = json
        .iter()
        .enumerate()
        .map(|(i, doc)| (Some(format!("d{i}")), doc))
        .collect();
    let value = server.bulk_answer(index, &with_ids).await;
    let items = value["items"].as_array().cloned().unwrap_or_default();
    if std::env::var_os(VERBOSE_VAR).is_some() {
        for item in items
            .iter()
            .filter(|i| i["create"]["status"].as_u64().is_none_or(|s| s >= 300))
        {
            eprintln!(
                "  not indexed into {index}: {}",
                item["create"]["error"]["reason"]
            );
        }
    }
    items
        .iter()
        .zip(documents)
        .filter(|(item, _)| item["create"]["status"].as_u64().is_some_and(|s| s < 300))
        .map(|(item, doc)| {
            (
                item["create"]["_id"].as_str().expect("id").to_string(),
                doc.clone(),
            )
        })
        .collect()
}

pub async fn search_ids(
    server: &TestServer,
    index: &str,
    dsl: &Json,
) -> Result<BTreeSet<String>, String> {
    let body = json!({"size": 1000, "_source": false, "query": dsl});
    let (status, value) = server
        .request(Method::Post, &format!("/{index}/_search"), Some(body))
        .await;
    if status != StatusCode::OK {
        let cause = &value["error"]["root_cause"][0]["reason"];
        return Err(format!(
            "{status}: {}",
            if cause.is_null() {
                &value["error"]["reason"]
            } else {
                cause
            }
        ));
    }
    Ok(value["hits"]["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| hit["_id"].as_str().map(str::to_string))
        .collect())
}
