//! Unit tests of the typed query DSL: the tree the translation builds (what it borrows, what
//! it owns), the JSON text every variant serializes to (keys and their order, value types),
//! and the field map's lookups and name-ordered iteration behind it.

use super::*;
use std::borrow::Cow;

fn text(dsl: &Dsl) -> String {
    serde_json::to_string(dsl).expect("the DSL serializes")
}

fn borrowed(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

#[test]
fn and_or_not_become_filter_should_and_must_not_around_one_should_per_condition() {
    let query = parse("a: x and not (b: \"y z\" or c: true)").expect("valid");
    let condition = |dsl: Dsl<'static>| Dsl::Should(vec![dsl]);
    let expected = Dsl::Filter(vec![
        condition(Dsl::Match {
            field: borrowed("a"),
            query: Scalar::String(borrowed("x")),
        }),
        Dsl::MustNot(Box::new(Dsl::Should(vec![
            condition(Dsl::MatchPhrase {
                field: borrowed("b"),
                query: Scalar::String(borrowed("y z")),
            }),
            condition(Dsl::Match {
                field: borrowed("c"),
                query: Scalar::Bool(true),
            }),
        ]))),
    ]);
    assert_eq!(translate(&query, None), expected);
}

#[test]
fn names_and_values_are_borrowed_and_only_built_text_is_owned() {
    let mut fields = FieldMap::default();
    fields.insert("process.name", &["keyword"], None);
    let query = parse("process.name: cmd.exe and items: { name: a* }").expect("valid");
    let Dsl::Filter(conditions) = translate(&query, Some(&fields)) else {
        panic!("and is a filter");
    };
    let Dsl::Should(term) = &conditions[0] else {
        panic!("a condition is a should");
    };
    match &term[0] {
        Dsl::Term {
            field: Cow::Borrowed("process.name"),
            value: Scalar::String(Cow::Borrowed("cmd.exe")),
        } => {}
        other => panic!("a borrowed term query: {other:?}"),
    }
    let Dsl::Nested { path, query } = &conditions[1] else {
        panic!("a nested query");
    };
    assert!(matches!(path, Cow::Borrowed("items")));
    let Dsl::Should(inner) = query.as_ref() else {
        panic!("a condition is a should");
    };
    match &inner[0] {
        Dsl::QueryString(QueryString {
            field: Some(Cow::Owned(name)),
            query: Cow::Owned(pattern),
            analyze_wildcard: None,
            time_zone: None,
        }) => assert_eq!((name.as_str(), pattern.as_str()), ("items.name", "a*")),
        other => panic!("an owned prefixed name and escaped pattern: {other:?}"),
    }
}

#[test]
fn date_equality_is_a_range_with_both_inclusive_bounds_and_epochs_have_no_time_zone() {
    let mut fields = FieldMap::default();
    fields.insert("@timestamp", &["date"], None);
    let exact = |value: &'static str| {
        let bound = Bound {
            value: Scalar::String(borrowed(value)),
            inclusive: true,
        };
        (Some(bound.clone()), Some(bound))
    };
    let query = parse("@timestamp: 2024-01-01").expect("valid");
    let (lower, upper) = exact("2024-01-01");
    let range = Dsl::Range {
        field: borrowed("@timestamp"),
        lower,
        upper,
        time_zone: Some(DATE_TIME_ZONE),
    };
    assert_eq!(translate(&query, Some(&fields)), Dsl::Should(vec![range]));
    let query = parse("@timestamp > 1700000000000").expect("valid");
    let Dsl::Should(ranges) = translate(&query, Some(&fields)) else {
        panic!("a condition is a should");
    };
    assert!(matches!(
        &ranges[0],
        Dsl::Range {
            lower: Some(Bound {
                inclusive: false,
                ..
            }),
            upper: None,
            time_zone: None,
            ..
        }
    ));
}

#[test]
fn every_variant_serializes_with_kibanas_keys_in_kibanas_order() {
    let s = |v: &'static str| Scalar::String(borrowed(v));
    let cases: Vec<(Dsl, &str)> = vec![
        (Dsl::MatchAll, r#"{"match_all":{}}"#),
        (
            Dsl::Filter(vec![Dsl::MatchAll]),
            r#"{"bool":{"filter":[{"match_all":{}}]}}"#,
        ),
        (
            Dsl::Should(vec![]),
            r#"{"bool":{"should":[],"minimum_should_match":1}}"#,
        ),
        (
            Dsl::MustNot(Box::new(Dsl::MatchAll)),
            r#"{"bool":{"must_not":{"match_all":{}}}}"#,
        ),
        (
            Dsl::Nested {
                path: borrowed("p"),
                query: Box::new(Dsl::MatchAll),
            },
            r#"{"nested":{"path":"p","query":{"match_all":{}},"score_mode":"none"}}"#,
        ),
        (
            Dsl::Exists {
                field: borrowed("f"),
            },
            r#"{"exists":{"field":"f"}}"#,
        ),
        (
            Dsl::Match {
                field: borrowed("f"),
                query: Scalar::Null,
            },
            r#"{"match":{"f":null}}"#,
        ),
        (
            Dsl::MatchPhrase {
                field: borrowed("f"),
                query: s("a \"b\""),
            },
            r#"{"match_phrase":{"f":"a \"b\""}}"#,
        ),
        (
            Dsl::Term {
                field: borrowed("f"),
                value: Scalar::Bool(false),
            },
            r#"{"term":{"f":{"value":false}}}"#,
        ),
        (
            Dsl::Wildcard {
                field: borrowed("f"),
                value: borrowed("a*"),
            },
            r#"{"wildcard":{"f":{"value":"a*"}}}"#,
        ),
        (
            Dsl::Range {
                field: borrowed("f"),
                lower: Some(Bound {
                    value: s("1"),
                    inclusive: false,
                }),
                upper: Some(Bound {
                    value: s("9"),
                    inclusive: true,
                }),
                time_zone: Some(DATE_TIME_ZONE),
            },
            r#"{"range":{"f":{"gt":"1","lte":"9","time_zone":"Zulu"}}}"#,
        ),
        (
            Dsl::MultiMatch {
                kind: MultiMatchKind::Phrase,
                query: s("a b"),
                lenient: true,
            },
            r#"{"multi_match":{"type":"phrase","query":"a b","lenient":true}}"#,
        ),
        (
            Dsl::QueryString(QueryString {
                field: Some(borrowed("f")),
                query: borrowed("a\\-b*"),
                analyze_wildcard: Some(true),
                time_zone: Some(DATE_TIME_ZONE),
            }),
            r#"{"query_string":{"fields":["f"],"query":"a\\-b*","analyze_wildcard":true,"time_zone":"Zulu"}}"#,
        ),
    ];
    for (dsl, json) in cases {
        assert_eq!(text(&dsl), json);
        let value = serde_json::to_value(&dsl).expect("serializes");
        assert_eq!(value.to_string(), json, "the same as a serde_json::Value");
    }
}

#[test]
fn lucene_text_is_a_decorated_query_string_and_empty_text_matches_all() {
    assert_eq!(
        text(&lucene("event.action:Add*")),
        r#"{"query_string":{"query":"event.action:Add*","analyze_wildcard":true,"time_zone":"Zulu"}}"#
    );
    assert_eq!(lucene(" \n"), Dsl::MatchAll);
    assert_eq!(
        lucene_to_dsl("a:b").to_string(),
        text(&lucene("a:b")),
        "the JSON value is the serialized tree"
    );
}

#[test]
fn the_field_map_iterates_in_name_order_whatever_the_insertion_order() {
    let mut fields = FieldMap::default();
    for name in ["b.y", "a", "b.x", "c", "b.x"] {
        fields.insert(name, &["keyword"], None);
    }
    let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["a", "b.x", "b.y", "c"]);
    let prefixed: Vec<&str> = fields.iter_prefixed("b.").map(|(name, _)| name).collect();
    assert_eq!(prefixed, ["b.x", "b.y"]);
    assert_eq!(fields.iter_prefixed("d").count(), 0);
    assert_eq!(fields.len(), 4);
    assert_eq!(
        fields.get_key_value("b.y").map(|(name, _)| name),
        Some("b.y")
    );
}
