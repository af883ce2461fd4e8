//! Property tests: random and mutated EQL (mutations of the corpus queries) never make the
//! parser, the evaluator or the translation panic, errors point inside the text, and every tree
//! the parser builds prints back to text that parses to the same tree.
//!
//! The default case count is small so CI stays fast. For a long fuzzing run, raise it with
//! `PROPTEST_CASES`, in release mode:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release -p lookout --lib eql::prop_tests -- --nocapture
//! ```

use super::corpus_tests::{cloudtrail_fields, corpus};
use super::*;
use crate::kql::FieldMap;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use std::sync::OnceLock;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 256;

/// The longest random query, in fragments.
const MAX_FRAGMENTS: usize = 40;

/// The most mutations applied to one corpus query.
const MAX_MUTATIONS: usize = 6;

/// Fragments random queries are built from: the grammar's tokens, escapes, and any character.
const FRAGMENTS: &[&str] = &[
    "process where ",
    "any where ",
    "sequence ",
    "sample ",
    " by ",
    " with maxspan=5m ",
    " with runs=3",
    "[",
    "]",
    "![",
    " until ",
    "(",
    ")",
    ",",
    " and ",
    " or ",
    "not ",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    " : ",
    " like ",
    " like~ ",
    " regex ",
    " regex~ ",
    " in ",
    " in~ ",
    " not in ",
    "+",
    "-",
    "*",
    "/",
    "%",
    "|",
    " | head 3",
    " | tail 2",
    "?",
    "`",
    "\"",
    "\"\"\"",
    "\\",
    "\\u{41}",
    "\\n",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "null",
    "true",
    "false",
    "1",
    "0",
    "1.5e3",
    "99999999999999999999",
    "process.name",
    "user.name",
    "stringContains(",
    "startsWith~(",
    "endsWith(",
    "between(",
    "cidrMatch(",
    "length(",
    "substring(",
    "number(",
    "string(",
    "concat(",
    "indexOf~(",
    "add(",
    "divide(",
    "modulo(",
    "\"a*\"",
    "\"10.0.0.0/8\"",
    "\"[a-z]+\"",
    "é",
    "😀",
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn corpus_queries() -> &'static Vec<String> {
    static QUERIES: OnceLock<Vec<String>> = OnceLock::new();
    QUERIES.get_or_init(|| corpus().1.into_iter().map(|rule| rule.query).collect())
}

fn fields() -> &'static FieldMap {
    static FIELDS: OnceLock<FieldMap> = OnceLock::new();
    FIELDS.get_or_init(cloudtrail_fields)
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        2 => "[a-z0-9._-]{1,6}",
    ]
}

fn random_query() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..MAX_FRAGMENTS).prop_map(|parts| parts.concat())
}

fn mutated_query() -> impl Strategy<Value = String> {
    let count = corpus_queries().len();
    let edit = (0.0..1.0f64, 0u8..4, fragment());
    (0..count, proptest::collection::vec(edit, 1..MAX_MUTATIONS))
        .prop_map(|(index, edits)| mutate(&corpus_queries()[index], &edits))
}

/// Applies edits to the query's characters: insert a fragment, delete a run, duplicate a run,
/// or cut the rest.
fn mutate(query: &str, edits: &[(f64, u8, String)]) -> String {
    let mut chars: Vec<char> = query.chars().collect();
    for (at, kind, fragment) in edits {
        let pos = (((chars.len() as f64) * at) as usize).min(chars.len());
        let run = (chars.len() - pos).min(1 + fragment.len());
        match kind {
            0 => {
                chars.splice(pos..pos, fragment.chars());
            }
            1 => {
                chars.drain(pos..pos + run);
            }
            2 => {
                let copy: Vec<char> = chars[pos..pos + run].to_vec();
                chars.splice(pos..pos, copy);
            }
            _ => chars.truncate(pos),
        }
    }
    chars.into_iter().collect()
}

/// Documents every parsed condition is evaluated on.
fn documents() -> [serde_json::Value; 3] {
    [
        json!({}),
        json!({"process": {"name": ["CMD.exe", "a"], "pid": "7"}, "user.name": "root", "event": {"category": "process"}}),
        json!({"source": {"ip": "10.1.2.3"}, "user": {"name": null}, "process.name": 5}),
    ]
}

/// What must hold for any text: no panic; a tree evaluates, translates and round-trips
/// through the printer; an error points at a position inside the text.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse(text) {
        Ok(tree) => {
            let _ = unsupported(&tree);
            for filter in tree.filters() {
                for typed in [None, Some(fields())] {
                    let stage = translate_stage(filter, DEFAULT_CATEGORY_FIELD, typed);
                    for doc in &documents() {
                        let _ = evaluate(&filter.condition, doc, typed);
                        let _ = stage.accepts(doc, typed);
                    }
                }
            }
            let printed = tree.to_string();
            match parse(&printed) {
                Ok(again) => prop_assert_eq!(again, tree, "{:?} printed as {:?}", text, printed),
                // The printer's parentheses may add levels past the limit.
                Err(e) if e.message.contains("nesting deeper") => {}
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "{text:?} printed as {printed:?}: {e}"
                    )));
                }
            }
        }
        Err(error) => {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(
                error.line >= 1 && error.line <= lines.len(),
                "{:?}: {}",
                text,
                error
            );
            let line_len = lines[error.line - 1].chars().count();
            prop_assert!(
                error.column >= 1 && error.column <= line_len + 1,
                "{:?}: {}",
                text,
                error
            );
        }
    }
    Ok(())
}

#[test]
fn random_queries_never_panic_and_round_trip() {
    runner()
        .run(&random_query(), |text| check(&text))
        .expect("property holds");
}

#[test]
fn mutated_corpus_queries_never_panic_and_round_trip() {
    runner()
        .run(&mutated_query(), |text| check(&text))
        .expect("property holds");
}

#[test]
fn every_corpus_query_round_trips_through_the_printer() {
    for text in corpus_queries() {
        check(text).expect("corpus query round-trips");
    }
}
