//! Property-based fuzzing of the KQL parser and of rule loading: arbitrary and KQL-shaped text
//! never panics the parser; whatever parses also translates (with and without field types) and
//! prints back to the same tree; random edits of a valid rule file never panic the loader, and a
//! rule that still loads carries a query that translates.
//!
//! Small by default (CI); `LOOKOUT_FUZZ_CASES=200000 cargo test --release --test hostile_fuzz`
//! runs long. The cargo-fuzz targets under `fuzz/` do the same with coverage guidance.

use lookout::kql::{self, FieldMap};
use proptest::prelude::*;
use std::path::Path;

const VALID: &str = include_str!("../src/rule/testdata/valid.toml");

/// Cases per property: small by default, more with `LOOKOUT_FUZZ_CASES`.
fn cases() -> u32 {
    std::env::var("LOOKOUT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

fn field_map() -> FieldMap {
    let mut map = FieldMap::default();
    map.insert("a", &["keyword"], None);
    map.insert("b.c", &["text"], None);
    map.insert("@timestamp", &["date"], None);
    map.insert("items.name", &["keyword"], Some("items"));
    map
}

/// KQL-shaped text: the grammar's tokens, separators and escapes, in any order.
fn kql_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("a".to_string()),
        Just("b.c".to_string()),
        Just("@timestamp".to_string()),
        Just("items".to_string()),
        Just(" and ".to_string()),
        Just(" or ".to_string()),
        Just("not ".to_string()),
        Just(" AND NOT ".to_string()),
        "[:(){}<>=*\"\\\\ ]".prop_map(|s| s.to_string()),
        Just("\\u00e9".to_string()),
        Just("\\u12".to_string()),
        Just("now-1d".to_string()),
        "[a-z0-9é ]{1,6}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// Parses; if it parses, translates both ways and checks the printer round trip.
fn check_query(text: &str) -> Result<(), TestCaseError> {
    let Ok(query) = kql::parse(text) else {
        return Ok(());
    };
    let _ = kql::to_dsl(&query, None);
    let _ = kql::to_dsl(&query, Some(&field_map()));
    let printed = query.to_string();
    let again = kql::parse(&printed)
        .map_err(|e| TestCaseError::fail(format!("{text:?} printed as {printed:?}: {e}")))?;
    prop_assert_eq!(again, query, "{:?} printed as {:?}", text, printed);
    Ok(())
}

/// One edit of a file's bytes.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let bytes = prop_oneof![
        "[\\[\\]'\"=\\\\\n{}.,# a-z0-9]{1,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..4),
    ];
    prop_oneof![
        (any::<usize>(), bytes).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..20).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            Edit::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Replace(at, b) => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = *b;
                }
            }
        }
    }
    bytes
}

#[test]
fn wildcards_with_empty_pieces_print_back_to_the_same_tree() {
    // Found by `arbitrary_text_never_panics_the_kql_parser`: `**` printed as
    // `\u0020*\u0020*\u0020`, which reads back with a space between the stars.
    for text in ["**", "a**b", "f: **", "*: **x", "f: a*** or g: *b**"] {
        check_query(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

#[test]
fn literals_ending_in_a_keyword_print_back_to_the_same_tree() {
    // Found by the cargo-fuzz target kql_parse: a field ending in `not` was printed before
    // ` > `, which reads back as the keyword `not `.
    for text in [
        "event\0\0\0\u{1a}ot aitcoAdUj edt*onot>&n~er",
        "a*not>x",
        "n: { f: xNOT }",
        "n: { f: or }",
        "f: (xand)",
    ] {
        check_query(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn kql_shaped_text_never_panics_and_what_parses_round_trips(text in kql_like()) {
        check_query(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics_the_kql_parser(text in any::<String>()) {
        check_query(&text)?;
    }

    #[test]
    fn edited_rule_files_never_panic_the_loader(edits in proptest::collection::vec(edit(), 1..6)) {
        let bytes = apply(VALID.as_bytes().to_vec(), &edits);
        if let Ok((lookout::Loaded::Runnable(rule), _)) =
            lookout::parse_rule_bytes(Path::new("fuzz.toml"), &bytes)
            && let lookout::Query::Kql { tree, .. } = rule.kind.query()
        {
            let _ = kql::to_dsl(tree, Some(&field_map()));
        }
    }
}
