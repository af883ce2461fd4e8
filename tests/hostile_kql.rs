//! KQL that tries to break out of its value into the query DSL: quotes, backslashes, braces,
//! colons and JSON-looking text in values and field names must stay data (one string in the
//! place a value goes), whatever the field's type. The generated DSL's whole structure is
//! asserted, so an injected clause would show.

use lookout::kql::{self, FieldMap, Query, Value};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

/// A JSON fragment that would add a clause if it were pasted into the DSL text.
const JSON_BREAKOUT: &str = r#""}}]}, {"match_all": {}}, {"x": [{"y": "\u0000"#;

fn dsl(query: &str, fields: Option<&FieldMap>) -> Json {
    let parsed = kql::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    kql::to_dsl(&parsed, fields)
}

fn should(inner: Json) -> Json {
    json!({"bool": {"should": [inner], "minimum_should_match": 1}})
}

/// A quoted KQL string holding `text` exactly.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn keyword_map() -> FieldMap {
    let mut map = FieldMap::default();
    map.insert("user.name", &["keyword"], None);
    map.insert("@timestamp", &["date"], None);
    map
}

#[test]
fn a_quoted_value_of_json_text_stays_one_phrase() {
    let query = format!("user.name: {}", quoted(JSON_BREAKOUT));
    assert_eq!(
        dsl(&query, None),
        should(json!({"match_phrase": {"user.name": JSON_BREAKOUT}}))
    );
    assert_eq!(
        dsl(&query, Some(&keyword_map())),
        should(json!({"term": {"user.name": {"value": JSON_BREAKOUT}}}))
    );
}

#[test]
fn escaped_specials_in_an_unquoted_value_stay_in_the_value() {
    let query = r#"user.name: a\"b\{c\}\:d\\e\(f\)"#;
    let value = r#"a"b{c}:d\e(f)"#;
    assert_eq!(
        dsl(query, None),
        should(json!({"match": {"user.name": value}}))
    );
}

#[test]
fn a_quoted_field_name_of_json_text_stays_one_key() {
    let query = format!("{}: x", quoted(JSON_BREAKOUT));
    let mut inner = serde_json::Map::new();
    inner.insert(JSON_BREAKOUT.to_string(), json!("x"));
    assert_eq!(
        dsl(&query, None),
        should(json!({"match": Json::Object(inner)}))
    );
}

#[test]
fn wildcard_values_escape_query_string_syntax() {
    let query = r#"user.name: *\(a\:b\)\"c\\d/e\{f\}[g]~h^i!j&&k||l?m*"#;
    let escaped = r#"*\(a\:b\)\"c\\d\/e\{f\}\[g\]\~h\^i\!j\&\&k\|\|l\?m*"#;
    assert_eq!(
        dsl(query, None),
        should(json!({"query_string": {"fields": ["user.name"], "query": escaped}}))
    );
    assert_eq!(
        dsl(query, Some(&keyword_map())),
        should(json!({"wildcard": {"user.name": {"value": escaped}}}))
    );
}

#[test]
fn an_escaped_star_is_a_literal_star_for_query_string() {
    let query = r"user.name: a\**";
    assert_eq!(
        dsl(query, None),
        should(json!({"query_string": {"fields": ["user.name"], "query": r"a\**"}}))
    );
}

#[test]
fn free_text_of_json_text_stays_one_multi_match_value() {
    let query = quoted(JSON_BREAKOUT);
    assert_eq!(
        dsl(&query, None),
        json!({"multi_match": {"type": "phrase", "query": JSON_BREAKOUT, "lenient": true}})
    );
}

#[test]
fn range_and_date_values_of_json_text_stay_bounds() {
    let query = format!("@timestamp < {}", quoted(JSON_BREAKOUT));
    assert_eq!(
        dsl(&query, Some(&keyword_map())),
        should(
            json!({"range": {"@timestamp": {"lt": JSON_BREAKOUT, "time_zone": kql::DATE_TIME_ZONE}}})
        )
    );
    let exact = format!("@timestamp: {}", quoted(JSON_BREAKOUT));
    assert_eq!(
        dsl(&exact, Some(&keyword_map())),
        should(json!({"range": {"@timestamp": {
            "gte": JSON_BREAKOUT, "lte": JSON_BREAKOUT, "time_zone": kql::DATE_TIME_ZONE
        }}}))
    );
}

/// The number of cases of the property tests: small by default (CI), more with
/// `LOOKOUT_FUZZ_CASES`.
fn cases() -> u32 {
    std::env::var("LOOKOUT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_text_quoted_is_exactly_one_phrase_value(text in any::<String>()) {
        let query = format!("user.name: {}", quoted(&text));
        let parsed = kql::parse(&query).expect("a quoted string always parses");
        let expected = Query::Is {
            field: Some(kql::Field::Name("user.name".to_string())),
            value: Value::Phrase(text.clone()),
        };
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(
            kql::to_dsl(&parsed, Some(&keyword_map())),
            should(json!({"term": {"user.name": {"value": text}}}))
        );
    }
}
