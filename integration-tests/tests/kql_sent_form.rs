//! The form lookout sends selects the same documents as Kibana's, on the live server, for random
//! queries (the corpus queries are checked in kql_corpus.rs):
//!
//! - random KQL: two or three corpus queries joined with `and`, `or` and `not`, translated with
//!   the field types of an index holding documents built from the joined query (some satisfy
//!   it, some miss it);
//! - random query DSL of the shapes rule filters may take beyond what KQL builds (`must`,
//!   `must_not` alone, `should` beside `filter`, `minimum_should_match` from 0 to above the
//!   number of clauses, clause lists written as one object), over every document of three
//!   keyword fields.
//!
//! `LOOKOUT_SENT_FORM_SEED` picks another sequence of random queries (the seed is printed).

#[path = "kql_support/docs.rs"]
mod docs;
#[path = "kql_support/index.rs"]
mod index;

use chrono::{SecondsFormat, Utc};
use docs::Typing;
use elasticsearch::http::Method;
use index::{bulk_index, create_index, search_ids};
use integration_tests::server::{Capability, require};
use integration_tests::{TestServer, read_ndjson, shared_file, unique_name};
use lookout::kql::{self, FieldMap};
use serde_json::{Map, Value as Json, json};

/// Random KQL queries checked per run.
const KQL_QUERIES: usize = 40;
/// Random DSL queries checked per run.
const DSL_QUERIES: usize = 400;
/// The deepest random DSL tree, in `bool` levels.
const DSL_DEPTH: u32 = 4;
const SEED_VAR: &str = "LOOKOUT_SENT_FORM_SEED";
const DEFAULT_SEED: u64 = 20_260_110;

/// A small deterministic random sequence (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed() -> u64 {
    let seed = std::env::var(SEED_VAR)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("{SEED_VAR}={seed}");
    seed.max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sent_form_of_random_kql_selects_what_kibanas_form_selects() {
    let server = TestServer::connect();
    let template = server.cloudtrail_template().await;
    let mappings = &template["template"]["mappings"];
    let corpus: Vec<String> = read_ndjson(&shared_file("corpus/kql-reference.jsonl"))
        .iter()
        .map(|row| row["query"].as_str().expect("query").to_string())
        .collect();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut random = Random(seed());
    let mut failures = Vec::new();
    let mut split = 0;
    for _ in 0..KQL_QUERIES {
        let text = joined_query(&corpus, &mut random);
        let query = kql::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let typing = Typing::new(mappings, &query);
        let documents = docs::documents(&query, &typing, &now);
        let index = unique_name("kql-sent");
        create_index(&server, &index, mappings, &query, &typing, &documents).await;
        let indexed = bulk_index(&server, &index, &documents).await;
        let caps = server
            .ok(Method::Get, &format!("/{index}/_field_caps?fields=*"), None)
            .await;
        let dsl = kql::to_dsl(&query, Some(&FieldMap::from_field_caps(&caps)));
        let kibana = search_ids(&server, &index, &dsl).await;
        let sent = search_ids(&server, &index, &lookout::simplify_filter(dsl)).await;
        server.delete_index(&index).await;
        if let Ok(selected) = &kibana
            && !selected.is_empty()
            && selected.len() < indexed.len()
        {
            split += 1;
        }
        if sent != kibana {
            failures.push(format!("{text}: Kibana's form {kibana:?}, sent {sent:?}"));
        }
    }
    eprintln!("random KQL: {KQL_QUERIES} queries, {split} split their documents");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        split * 2 >= KQL_QUERIES,
        "only {split} queries selected some documents and missed others"
    );
}

/// Two or three corpus queries joined with `and`/`or`, each possibly negated.
fn joined_query(corpus: &[String], random: &mut Random) -> String {
    let parts = 2 + random.below(2);
    let mut text = String::new();
    for n in 0..parts {
        if n > 0 {
            text.push_str([" and ", " or "][random.below(2)]);
        }
        if random.below(3) == 0 {
            text.push_str("not ");
        }
        text.push('(');
        text.push_str(corpus[random.below(corpus.len())].trim());
        text.push(')');
    }
    text
}

const FIELDS: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 2] = ["x", "y"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sent_form_of_random_query_dsl_selects_what_the_original_selects() {
    let server = TestServer::connect();
    // The random queries hold `minimum_should_match` above their `should` count, whose meaning
    // the simplifier keeps as Elasticsearch defines it.
    if !require(&server, Capability::UncappedMinimumShouldMatch).await {
        return;
    }
    let index = unique_name("dsl-sent");
    let properties: Map<String, Json> = FIELDS
        .iter()
        .map(|field| (field.to_string(), json!({"type": "keyword"})))
        .collect();
    server
        .ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"mappings": {"properties": properties}})),
        )
        .await;
    let documents = every_document();
    let with_ids: Vec<(Option<String>, &Json)> = documents
        .iter()
        .enumerate()
        .map(|(n, doc)| (Some(format!("d{n}")), doc))
        .collect();
    server.bulk_answer(&index, &with_ids).await;
    server.refresh(&index).await;

    let mut random = Random(seed());
    let mut failures = Vec::new();
    let mut shrunk = 0;
    for _ in 0..DSL_QUERIES {
        let query = random_query(&mut random, DSL_DEPTH);
        let sent = lookout::simplify_filter(query.clone());
        if sent.to_string().len() < query.to_string().len() {
            shrunk += 1;
        }
        let original = search_ids(&server, &index, &query).await;
        let simplified = search_ids(&server, &index, &sent).await;
        if original != simplified {
            failures.push(format!(
                "{query}\n  selects {original:?}\n  sent {sent}\n  selects {simplified:?}"
            ));
        }
    }
    server.delete_index(&index).await;
    eprintln!("random DSL: {DSL_QUERIES} queries, {shrunk} sent shorter");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The 27 documents of three fields, each absent or one of two values.
fn every_document() -> Vec<Json> {
    let mut documents = vec![Map::new()];
    for field in FIELDS {
        let mut longer = Vec::new();
        for doc in &documents {
            longer.push(doc.clone());
            for value in VALUES {
                let mut with = doc.clone();
                with.insert(field.to_string(), json!(value));
                longer.push(with);
            }
        }
        documents = longer;
    }
    documents.into_iter().map(Json::Object).collect()
}

fn random_leaf(random: &mut Random) -> Json {
    let field = FIELDS[random.below(FIELDS.len())];
    match random.below(6) {
        0 => json!({"exists": {"field": field}}),
        1 => json!({"match_all": {}}),
        _ => json!({"term": {field: {"value": VALUES[random.below(VALUES.len())]}}}),
    }
}

/// A random query: a leaf, or a `bool` of random clause lists and `minimum_should_match`.
fn random_query(random: &mut Random, depth: u32) -> Json {
    if depth == 0 || random.below(3) == 0 {
        return random_leaf(random);
    }
    let mut body = Map::new();
    for key in ["filter", "must", "must_not", "should"] {
        match random.below(6) {
            0..=2 => {}
            3 => {
                body.insert(key.into(), random_query(random, depth - 1));
            }
            _ => {
                let clauses = (0..random.below(4))
                    .map(|_| random_query(random, depth - 1))
                    .collect();
                body.insert(key.into(), Json::Array(clauses));
            }
        }
    }
    match random.below(6) {
        0 => {
            body.insert("minimum_should_match".into(), json!(1));
        }
        1 => {
            body.insert("minimum_should_match".into(), json!(random.below(4)));
        }
        2 => {
            body.insert("minimum_should_match".into(), json!("1"));
        }
        _ => {}
    }
    json!({ "bool": body })
}
