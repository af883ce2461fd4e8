//! Property tests: random and mutated KQL (mutations of the corpus queries) never make the
//! parser or the translation panic, errors point inside the text, and every tree the parser
//! builds prints back to text that parses to the same tree.
//!
//! The default case count is small so CI stays fast. For a long fuzzing run (10 minutes or
//! more), raise it with `PROPTEST_CASES`, single-threaded, in release mode:
//!
//! ```sh
//! LOOKOUT_SHARED_DIR=../shared PROPTEST_CASES=3000000 \
//!   cargo test --release -p lookout --lib kql::prop_tests -- --test-threads=1 --nocapture
//! ```

use super::corpus_tests::{cloudtrail_fields, corpus};
use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::OnceLock;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 256;

/// The longest random query, in fragments.
const MAX_FRAGMENTS: usize = 48;

/// The most mutations applied to one corpus query.
const MAX_MUTATIONS: usize = 6;

/// Fragments random queries are built from: the grammar's tokens, escapes, and any character.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    ":",
    " : ",
    "{",
    "}",
    "<",
    "<=",
    ">",
    ">=",
    "\"",
    "\\",
    "*",
    " ",
    "\n",
    "\t",
    "\u{a0}",
    " and ",
    " or ",
    "not ",
    " AND ",
    " Or ",
    "NOT ",
    "and",
    "or",
    "not",
    "\\u0041",
    "\\ud83d\\ude00",
    "\\ud83d",
    "\\u00",
    "\\t",
    "\\n",
    "\\r",
    "\\\\",
    "\\\"",
    "\\*",
    "\\(",
    "\\or",
    "\\NOT",
    "true",
    "false",
    "null",
    "event.action",
    "process.*",
    "*.name",
    "1.0",
    "4624",
    "now-30d/d",
    "a b",
    "é",
    "😀",
    "\u{feff}",
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
    QUERIES.get_or_init(|| {
        corpus()
            .iter()
            .map(|row| row["query"].as_str().expect("query").to_string())
            .collect()
    })
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

/// One edit of a query: where (a fraction of its length), what, and which fragment.
fn mutation() -> impl Strategy<Value = (f64, u8, String)> {
    (0.0..1.0f64, 0u8..4, fragment())
}

fn mutated_query() -> impl Strategy<Value = String> {
    let count = corpus_queries().len();
    (
        0..count,
        proptest::collection::vec(mutation(), 1..MAX_MUTATIONS),
    )
        .prop_map(|(index, edits)| mutate(&corpus_queries()[index], &edits))
}

/// Applies edits to the query's characters: insert a fragment, delete a run, duplicate a run,
/// or cut the rest.
fn mutate(query: &str, edits: &[(f64, u8, String)]) -> String {
    let mut chars: Vec<char> = query.chars().collect();
    for (at, kind, fragment) in edits {
        let pos = ((chars.len() as f64) * at) as usize;
        let pos = pos.min(chars.len());
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

/// What must hold for any text: no panic; a tree translates and round-trips through the
/// printer; an error points at a position inside the text.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse(text) {
        Ok(tree) => {
            let _ = to_dsl(&tree, None);
            let _ = to_dsl(&tree, Some(fields()));
            let printed = tree.to_string();
            let again = parse(&printed).map_err(|e| {
                TestCaseError::fail(format!("{text:?} printed as {printed:?}: {e}"))
            })?;
            prop_assert_eq!(again, tree, "{:?} printed as {:?}", text, printed);
        }
        Err(error) => {
            let lines = text.split('\n').count();
            prop_assert!(
                error.line >= 1 && error.line <= lines,
                "{:?}: {}",
                text,
                error
            );
            let line_len = text
                .split('\n')
                .nth(error.line - 1)
                .map_or(0, |l| l.chars().count());
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
