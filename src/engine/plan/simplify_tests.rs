//! Tests of the query simplifier: one per rewrite, then a property test that a random query of
//! the DSL subset lookout sends and its simplified form select the same random documents, by a
//! small reference evaluator of that subset written from Elasticsearch's reference.

use super::simplify::{simplify, simplify_filter};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn term(field: &str, value: &str) -> Value {
    json!({"term": {field: {"value": value}}})
}

fn a() -> Value {
    term("a", "x")
}

fn b() -> Value {
    term("b", "x")
}

fn c() -> Value {
    term("c", "x")
}

/// Kibana's form of one KQL value: a one-clause `should` with `minimum_should_match: 1`.
fn kibana_value(query: Value) -> Value {
    json!({"bool": {"should": [query], "minimum_should_match": 1}})
}

#[test]
fn a_one_clause_should_becomes_its_clause() {
    assert_eq!(simplify(kibana_value(a())), a());
    assert_eq!(simplify(json!({"bool": {"should": a()}})), a());
}

#[test]
fn a_one_clause_filter_becomes_its_clause() {
    assert_eq!(simplify(json!({"bool": {"filter": [a()]}})), a());
    assert_eq!(simplify(json!({"bool": {"must": a()}})), a());
}

#[test]
fn kibanas_conjunction_of_values_becomes_one_filter_list() {
    let kibana = json!({"bool": {"filter": [kibana_value(a()), kibana_value(b())]}});
    assert_eq!(simplify(kibana), json!({"bool": {"filter": [a(), b()]}}));
}

#[test]
fn nested_filter_lists_splice_into_their_parent_in_place() {
    let query = json!({"bool": {"filter": [
        a(),
        {"bool": {"filter": [b(), {"bool": {"filter": [c()]}}]}},
        term("d", "x"),
    ]}});
    assert_eq!(
        simplify(query),
        json!({"bool": {"filter": [a(), b(), c(), term("d", "x")]}})
    );
}

#[test]
fn a_spliced_conjunction_brings_its_exclusions() {
    let query = json!({"bool": {"filter": [a(), {"bool": {"filter": [b()], "must_not": [c()]}}]}});
    assert_eq!(
        simplify(query),
        json!({"bool": {"filter": [a(), b()], "must_not": [c()]}})
    );
}

#[test]
fn a_negation_in_a_filter_list_becomes_a_must_not_clause() {
    let query = json!({"bool": {"filter": [a(), {"bool": {"must_not": kibana_value(b())}}]}});
    assert_eq!(
        simplify(query),
        json!({"bool": {"filter": [a()], "must_not": [b()]}})
    );
}

#[test]
fn must_not_alone_stays_a_bool() {
    let query = json!({"bool": {"must_not": kibana_value(a())}});
    assert_eq!(simplify(query), json!({"bool": {"must_not": [a()]}}));
}

#[test]
fn not_not_x_is_x() {
    let query = json!({"bool": {"must_not": {"bool": {"must_not": a()}}}});
    assert_eq!(simplify(query), a());
}

#[test]
fn not_of_a_disjunction_excludes_each_clause() {
    let query =
        json!({"bool": {"must_not": {"bool": {"should": [a(), b()], "minimum_should_match": 1}}}});
    assert_eq!(simplify(query), json!({"bool": {"must_not": [a(), b()]}}));
}

#[test]
fn a_disjunction_of_disjunctions_is_one_should_list_without_minimum_should_match() {
    let query = json!({"bool": {"should": [
        kibana_value(a()),
        {"bool": {"should": [b(), c()], "minimum_should_match": 1}},
    ], "minimum_should_match": 1}});
    assert_eq!(
        simplify(query),
        json!({"bool": {"should": [a(), b(), c()]}})
    );
}

#[test]
fn should_beside_a_filter_keeps_minimum_should_match_when_it_requires_one() {
    let query = json!({"bool": {"filter": [a()], "should": [b(), c()], "minimum_should_match": 1}});
    assert_eq!(simplify(query.clone()), query);
}

#[test]
fn should_beside_a_filter_without_minimum_should_match_requires_nothing_and_goes() {
    let query = json!({"bool": {"filter": [a(), b()], "should": [c()]}});
    assert_eq!(simplify(query), json!({"bool": {"filter": [a(), b()]}}));
}

#[test]
fn should_beside_must_not_only_needs_no_minimum_should_match() {
    let query = json!({"bool": {
        "filter": [{"bool": {"must_not": [c()]}}],
        "should": [a(), b()],
        "minimum_should_match": 1,
    }});
    assert_eq!(
        simplify(query),
        json!({"bool": {"must_not": [c()], "should": [a(), b()]}})
    );
}

#[test]
fn should_needing_every_clause_becomes_required() {
    let query =
        json!({"bool": {"filter": [a()], "should": [b(), c()], "minimum_should_match": "2"}});
    assert_eq!(
        simplify(query),
        json!({"bool": {"filter": [a(), b(), c()]}})
    );
}

#[test]
fn minimum_should_match_above_the_should_clauses_is_kept_with_its_clauses_simplified() {
    let above = json!({"bool": {"should": [kibana_value(b()), c()], "minimum_should_match": 5}});
    assert_eq!(
        simplify(above),
        json!({"bool": {"should": [b(), c()], "minimum_should_match": 5}})
    );
    let without_should = json!({"bool": {"must": [a()], "minimum_should_match": 1}});
    assert_eq!(
        simplify(without_should),
        json!({"bool": {"filter": [a()], "minimum_should_match": 1}})
    );
}

#[test]
fn should_alone_needs_one_clause_even_with_minimum_should_match_zero() {
    let query = json!({"bool": {"should": [a(), b()], "minimum_should_match": 0}});
    assert_eq!(simplify(query), json!({"bool": {"should": [a(), b()]}}));
}

#[test]
fn two_of_three_keeps_its_minimum_should_match() {
    let query = json!({"bool": {"should": [a(), b(), c()], "minimum_should_match": 2}});
    assert_eq!(simplify(query.clone()), query);
}

#[test]
fn match_all_clauses_go_and_an_empty_bool_matches_all() {
    let query = json!({"bool": {"filter": [{"match_all": {}}, a()]}});
    assert_eq!(simplify(query), a());
    assert_eq!(simplify(json!({"bool": {}})), json!({"match_all": {}}));
    let satisfied = json!({"bool": {"filter": [a()], "should": [b(), {"match_all": {}}], "minimum_should_match": 1}});
    assert_eq!(simplify(satisfied), a());
}

#[test]
fn unknown_bool_keys_and_percentages_are_kept_with_their_clauses_simplified() {
    let named = json!({"bool": {"filter": [kibana_value(a())], "_name": "n"}});
    assert_eq!(
        simplify(named),
        json!({"bool": {"filter": [a()], "_name": "n"}})
    );
    let percent =
        json!({"bool": {"should": [kibana_value(a()), b()], "minimum_should_match": "50%"}});
    assert_eq!(
        simplify(percent),
        json!({"bool": {"should": [a(), b()], "minimum_should_match": "50%"}})
    );
}

#[test]
fn a_nested_query_is_simplified_inside() {
    let query = json!({"nested": {"path": "p", "query": kibana_value(a()), "score_mode": "none"}});
    assert_eq!(
        simplify(query),
        json!({"nested": {"path": "p", "query": a(), "score_mode": "none"}})
    );
}

#[test]
fn leaves_are_kept_as_they_are() {
    let leaf = json!({"query_string": {"query": "a:x AND b:y"}});
    assert_eq!(simplify(leaf.clone()), leaf);
}

#[test]
fn the_filter_form_keeps_a_bool_at_the_top() {
    assert_eq!(
        simplify_filter(kibana_value(a())),
        json!({"bool": {"filter": [a()]}})
    );
    let conjunction = json!({"bool": {"filter": [a(), b()]}});
    assert_eq!(simplify_filter(conjunction.clone()), conjunction);
}

// The property: the reference evaluator of the subset, random queries and documents.

/// The fields of random documents and queries, each absent or one of two values.
const FIELDS: &[&str] = &["a", "b", "c"];
const VALUES: &[&str] = &["x", "y"];

/// A document: per field of [`FIELDS`], its value or nothing.
type Doc = Vec<Option<&'static str>>;

/// Whether `query` selects `doc`, as Elasticsearch's reference describes the queries of the
/// subset: `bool` (its four clause lists, each an array or one object, and a whole-number
/// `minimum_should_match`), `term`, `exists` and `match_all`.
fn selects(query: &Value, doc: &Doc) -> bool {
    let (kind, body) = query
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a query is a one-key object");
    match kind.as_str() {
        "match_all" => true,
        "term" => {
            let (field, value) = body.as_object().unwrap().iter().next().unwrap();
            value_of(doc, field) == value["value"].as_str()
        }
        "exists" => value_of(doc, body["field"].as_str().unwrap()).is_some(),
        "bool" => bool_selects(body.as_object().unwrap(), doc),
        other => panic!("not in the subset: {other}"),
    }
}

fn value_of(doc: &Doc, field: &str) -> Option<&'static str> {
    let at = FIELDS.iter().position(|f| *f == field).unwrap();
    doc[at]
}

/// A `bool`: every `filter` and `must` clause, no `must_not` clause, and at least
/// `minimum_should_match` `should` clauses (default 1 with no `filter` or `must`, else 0; at
/// least one when there is no `filter` or `must`; not capped at the number of `should` clauses,
/// so a larger value matches nothing). No clauses at all: every document. `must_not` clauses
/// alone: every other document, whatever `minimum_should_match` says (Elasticsearch rebuilds
/// such a query with a `match_all` and without the value).
fn bool_selects(body: &Map<String, Value>, doc: &Doc) -> bool {
    let list = |key: &str| -> Vec<Value> {
        match body.get(key) {
            Some(Value::Array(list)) => list.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        }
    };
    let required: Vec<Value> = list("filter").into_iter().chain(list("must")).collect();
    let excluded = list("must_not");
    let optional = list("should");
    let default = usize::from(required.is_empty() && !optional.is_empty());
    let asked = body
        .get("minimum_should_match")
        .map(|m| match m {
            Value::String(s) => s.parse().unwrap(),
            other => other.as_u64().unwrap() as usize,
        })
        .unwrap_or(default);
    if required.is_empty() && excluded.is_empty() && optional.is_empty() {
        return true;
    }
    let mut needed = asked;
    if required.is_empty() && optional.is_empty() {
        needed = 0;
    }
    if required.is_empty() && !optional.is_empty() {
        needed = needed.max(1);
    }
    required.iter().all(|q| selects(q, doc))
        && !excluded.iter().any(|q| selects(q, doc))
        && optional.iter().filter(|q| selects(q, doc)).count() >= needed
}

/// The number of queries in a tree (each `bool` and each leaf).
fn size(query: &Value) -> usize {
    let Some(body) = query.get("bool").and_then(Value::as_object) else {
        return 1;
    };
    1 + ["filter", "must", "must_not", "should"]
        .iter()
        .filter_map(|key| body.get(*key))
        .map(|list| match list {
            Value::Array(list) => list.iter().map(size).sum(),
            one => size(one),
        })
        .sum::<usize>()
}

fn leaf() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(FIELDS);
    let value = prop::sample::select(VALUES);
    prop_oneof![
        4 => (field.clone(), value).prop_map(|(f, v)| term(f, v)),
        1 => field.prop_map(|f| json!({"exists": {"field": f}})),
        1 => Just(json!({"match_all": {}})),
    ]
}

/// A clause list: usually an array of 0 to 3 queries, sometimes one query as an object.
fn list(inner: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        4 => prop::collection::vec(inner.clone(), 0..4).prop_map(|l| Some(Value::Array(l))),
        1 => inner.prop_map(Some),
    ]
}

fn query() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let msm = prop_oneof![
            3 => Just(None),
            2 => Just(Some(json!(1))),
            1 => (0u64..4).prop_map(|n| Some(json!(n))),
            1 => Just(Some(json!("1"))),
        ];
        (
            list(inner.clone()),
            list(inner.clone()),
            list(inner.clone()),
            list(inner),
            msm,
        )
            .prop_map(|(filter, must, must_not, should, msm)| {
                let mut body = Map::new();
                for (key, value) in [
                    ("filter", filter),
                    ("must", must),
                    ("must_not", must_not),
                    ("should", should),
                    ("minimum_should_match", msm),
                ] {
                    if let Some(value) = value {
                        body.insert(key.into(), value);
                    }
                }
                json!({ "bool": body })
            })
    })
}

/// Every document of the three fields: each absent or one of the two values (27 documents).
fn every_doc() -> Vec<Doc> {
    let choices = [None, Some(VALUES[0]), Some(VALUES[1])];
    let mut docs = vec![Vec::new()];
    for _ in FIELDS {
        docs = docs
            .into_iter()
            .flat_map(|doc| {
                choices.iter().map(move |choice| {
                    let mut longer = doc.clone();
                    longer.push(*choice);
                    longer
                })
            })
            .collect();
    }
    docs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_simplified_query_selects_the_same_documents(query in query()) {
        let simplified = simplify(query.clone());
        for doc in every_doc() {
            prop_assert_eq!(
                selects(&query, &doc),
                selects(&simplified, &doc),
                "{} vs {} on {:?}", query, simplified, doc
            );
        }
        prop_assert!(size(&simplified) <= size(&query), "{} grew into {}", query, simplified);
        prop_assert_eq!(simplify(simplified.clone()), simplified);
    }
}

#[test]
fn deep_nesting_is_simplified_in_linear_time() {
    let mut query = a();
    for _ in 0..100 {
        query = json!({"bool": {"must": [query], "minimum_should_match": 1}});
    }
    let simplified = simplify(query);
    assert_eq!(simplified["bool"]["minimum_should_match"], 1);
}
