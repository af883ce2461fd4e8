//! Unit tests of the evaluator: Elasticsearch's EQL semantics on documents (case rules,
//! wildcards, regular expressions, null and missing fields, multi-valued fields, types,
//! functions, arithmetic), with and without field types.

use super::eval::fold;
use super::*;
use crate::kql::FieldMap;
use serde_json::{Value as Json, json};

fn holds(condition: &str, doc: &Json) -> bool {
    holds_typed(condition, doc, None)
}

fn holds_typed(condition: &str, doc: &Json, fields: Option<&FieldMap>) -> bool {
    let query =
        parse(&format!("any where {condition}")).unwrap_or_else(|e| panic!("{condition}: {e}"));
    evaluate(&query.filters()[0].condition, doc, fields)
}

fn value(expression: &str) -> Value {
    let query =
        parse(&format!("any where {expression}")).unwrap_or_else(|e| panic!("{expression}: {e}"));
    fold(&query.filters()[0].condition, None)
}

fn fields(pairs: &[(&str, &str)]) -> FieldMap {
    let mut map = FieldMap::default();
    for (name, es_type) in pairs {
        map.insert(name, &[es_type], None);
    }
    map
}

#[test]
fn double_equals_is_case_sensitive_and_colon_is_not() {
    let doc = json!({"process": {"name": "CMD.exe"}});
    assert!(holds("process.name == \"CMD.exe\"", &doc));
    assert!(!holds("process.name == \"cmd.exe\"", &doc));
    assert!(holds("process.name : \"cmd.exe\"", &doc));
    assert!(holds("process.name : (\"x\", \"cmd.EXE\")", &doc));
}

#[test]
fn wildcards_match_in_colon_and_like_but_not_in_double_equals() {
    let doc = json!({"f": "C:\\Windows\\cmd.exe"});
    assert!(holds(r#"f : "c:\\windows\\*.EXE""#, &doc));
    assert!(holds(r#"f like "C:\\Windows\\???.exe""#, &doc));
    assert!(!holds(r#"f like "c:\\windows\\*""#, &doc));
    assert!(holds(r#"f like~ "c:\\windows\\*""#, &doc));
    assert!(!holds(r#"f == "C:\\Windows\\*""#, &doc));
}

#[test]
fn regex_matches_the_whole_value_in_lucene_syntax() {
    let doc = json!({"f": "abc123"});
    assert!(holds(r#"f regex "[a-z]+[0-9]{3}""#, &doc));
    assert!(!holds(r#"f regex "[a-z]+""#, &doc));
    assert!(!holds(r#"f regex "ABC.*""#, &doc));
    assert!(holds(r#"f regex~ "ABC.*""#, &doc));
    assert!(holds(r#"f regex """\w+\d\d\d""""#, &doc));
}

#[test]
fn in_is_case_sensitive_and_in_tilde_is_not() {
    let doc = json!({"f": "Admin"});
    assert!(holds("f in (\"Admin\", \"root\")", &doc));
    assert!(!holds("f in (\"admin\", \"root\")", &doc));
    assert!(holds("f in~ (\"admin\", \"root\")", &doc));
    assert!(holds("f not in (\"admin\")", &doc));
}

#[test]
fn a_missing_field_is_null_and_not_equal_matches_it_as_elasticsearch_does() {
    let doc = json!({"other": 1});
    assert!(holds("f == null", &doc));
    assert!(!holds("f != null", &doc));
    assert!(!holds("f == \"a\"", &doc));
    // `!=` on a field is `not` of a term query: documents without the field match.
    assert!(holds("f != \"a\"", &doc));
    assert!(holds("not f == \"a\"", &doc));
    // A script part gets `null` for the field, and a `null` result never matches.
    assert!(!holds("length(f) != 3", &doc));
    assert!(!holds("not length(f) == 3", &doc));
}

#[test]
fn multi_valued_fields_match_when_any_value_does() {
    let doc = json!({"f": ["a", "B"], "n": [1, 10]});
    assert!(holds("f == \"a\"", &doc));
    assert!(holds("f : \"b\"", &doc));
    assert!(!holds("f != \"a\"", &doc));
    assert!(holds("n > 5 and n < 5", &doc));
    // A script tries every value of every reference.
    assert!(holds("length(f) == 1 and add(n, 1) == 11", &doc));
    assert!(holds("concat(f, f) == \"aB\"", &doc));
}

#[test]
fn fields_are_found_nested_dotted_or_mixed_and_through_arrays_of_objects() {
    let docs = [
        json!({"a": {"b": {"c": "x"}}}),
        json!({"a.b.c": "x"}),
        json!({"a": {"b.c": "x"}}),
        json!({"a.b": {"c": "x"}}),
        json!({"a": [{"b": {"c": "y"}}, {"b": {"c": "x"}}]}),
    ];
    for doc in &docs {
        assert!(holds("a.b.c == \"x\"", doc), "{doc}");
    }
    assert!(holds("a.b.c == null", &json!({"a": {"b": {"c": null}}})));
}

#[test]
fn types_decide_how_values_compare() {
    let doc = json!({"k": 5, "n": "10", "ip": "10.1.2.3", "b": "true"});
    let map = fields(&[
        ("k", "keyword"),
        ("n", "long"),
        ("ip", "ip"),
        ("b", "boolean"),
    ]);
    let map = Some(&map);
    assert!(holds_typed("k == \"5\"", &doc, map));
    assert!(holds_typed("k == 5", &doc, map));
    assert!(holds_typed("n == 10", &doc, map));
    assert!(holds_typed("n > 9.5", &doc, map));
    assert!(holds_typed("ip == \"10.1.2.3\"", &doc, map));
    assert!(holds_typed("ip < \"10.1.2.4\"", &doc, map));
    assert!(holds_typed("b == true", &doc, map));
    assert!(holds_typed("cidrMatch(ip, \"10.0.0.0/8\")", &doc, map));
    // Without types the JSON type decides: the text "10" sorts before the text "9".
    assert!(!holds("n > 9", &doc));
}

#[test]
fn keyword_ranges_compare_text_in_byte_order() {
    let doc = json!({"f": "b"});
    assert!(holds("f > \"a\"", &doc));
    assert!(holds("f < \"c\"", &doc));
    assert!(!holds("f > \"B\" and f < \"C\"", &doc));
}

#[test]
fn string_functions_on_fields_act_as_elasticsearch_queries() {
    let doc = json!({"f": "masterUserPassword=secret"});
    assert!(holds("startsWith(f, \"master\")", &doc));
    assert!(!holds("startsWith(f, \"Master\")", &doc));
    assert!(holds("startsWith~(f, \"Master\")", &doc));
    assert!(holds("endsWith~(f, \"SECRET\")", &doc));
    // The substring goes into a wildcard query unescaped: its `*` is a wildcard there.
    assert!(holds("stringContains(f, \"Password=*t\")", &doc));
    assert!(holds("stringContains(f, \"\")", &doc));
}

#[test]
fn functions_follow_the_reference() {
    assert_eq!(
        value("between(\"C:\\\\a\\\\b.exe\", \"a\\\\\", \".exe\")"),
        Value::Str("b".into())
    );
    assert_eq!(
        value("between~(\"AxB\", \"a\", \"b\")"),
        Value::Str("x".into())
    );
    assert_eq!(
        value("cidrMatch(\"192.168.152.12\", \"10.0.0.0/8\", \"192.168.0.0/16\")"),
        Value::Bool(true)
    );
    assert_eq!(value("cidrMatch(null, \"10.0.0.0/8\")"), Value::Null);
    assert_eq!(
        value("concat(\"a\", 1, 2.5, true)"),
        Value::Str("a12.5true".into())
    );
    assert_eq!(value("concat(\"a\", null)"), Value::Null);
    assert_eq!(
        value("indexOf(\"subdomain.example.com\", \".\", 10)"),
        Value::Int(17)
    );
    assert_eq!(
        value("indexOf(\"subdomain.example.com\", \"z\")"),
        Value::Null
    );
    assert_eq!(
        value("indexOf~(\"subdomain.example.com\", \"D\")"),
        Value::Int(3)
    );
    assert_eq!(value("indexOf(\"abc\", \"\", -6)"), Value::Int(0));
    assert_eq!(value("length(\"explorer.exe\")"), Value::Int(12));
    assert_eq!(value("number(\"0xdeadbeef\")"), Value::Int(3_735_928_559));
    assert_eq!(value("number(\" -1337 \")"), Value::Int(-1337));
    assert_eq!(value("number(\"42.5\")"), Value::Float(42.5));
    assert_eq!(value("number(\"ff\", 16)"), Value::Int(255));
    assert_eq!(value("number(\"abc\")"), Value::Null);
    assert_eq!(value("string(42.5)"), Value::Str("42.5".into()));
    assert_eq!(
        value("substring(\"start regsvr32.exe\", -4, -1)"),
        Value::Str(".ex".into())
    );
    assert_eq!(
        value("substring(\"start regsvr32.exe\", 6, 14)"),
        Value::Str("regsvr32".into())
    );
    assert_eq!(value("stringContains(\"\", \"\")"), Value::Bool(false));
    assert_eq!(value("startsWith(\"\", \"\")"), Value::Bool(true));
}

#[test]
fn greedy_between_ends_at_the_last_right_text() {
    assert_eq!(
        value("between(\"xaybyc\", \"a\", \"y\")"),
        Value::Str(String::new())
    );
    assert_eq!(
        value("between(\"xaybyc\", \"a\", \"c\")"),
        Value::Str("yby".into())
    );
    assert_eq!(
        value("between(\"xaZbZc\", \"a\", \"Z\", true)"),
        Value::Str("Zb".into())
    );
}

#[test]
fn arithmetic_keeps_integers_whole_and_gives_null_for_what_elasticsearch_refuses() {
    assert_eq!(value("4 / 3"), Value::Int(1));
    assert_eq!(value("4 / 3.0"), Value::Float(4.0 / 3.0));
    assert_eq!(value("-10 % 6"), Value::Int(-4));
    assert_eq!(value("modulo(10, 0.5)"), Value::Float(0.0));
    assert_eq!(value("1 / 0"), Value::Null);
    assert_eq!(value("9223372036854775807 + 1"), Value::Null);
    assert_eq!(value("\"a\" + 1"), Value::Null);
    assert_eq!(value("add(null, 4)"), Value::Null);
    assert!(holds("(4 / n) == 1", &json!({"n": 3})));
}

#[test]
fn comparisons_across_types_are_null_in_scripts() {
    assert_eq!(value("\"5\" == 5"), Value::Null);
    assert_eq!(value("1 == 1.0"), Value::Bool(true));
    assert!(!holds("length(f) == \"3\"", &json!({"f": "abc"})));
}

#[test]
fn an_optional_field_no_index_maps_is_null() {
    let map = fields(&[("f", "keyword")]);
    let doc = json!({"g": "a"});
    assert!(holds_typed("?g == null", &doc, Some(&map)));
    // `?g != "a"` folds to `null != "a"`, which is null: no match even though `g` is there.
    assert!(!holds_typed("?g != \"a\"", &doc, Some(&map)));
    assert!(holds("?g == \"a\"", &doc));
}

#[test]
fn a_bare_field_is_compared_with_true() {
    assert!(holds("f", &json!({"f": true})));
    assert!(!holds("f", &json!({"f": false})));
}

#[test]
fn constant_conditions_match_everything_or_nothing() {
    let doc = json!({});
    assert!(holds("true", &doc));
    assert!(!holds("false", &doc));
    assert!(holds("1 + 1 == 2", &doc));
    // `x == null` is a null check, so `null == null` holds.
    assert!(holds("null == null", &doc));
    assert!(!holds("length(\"ab\") == null", &doc));
    assert!(holds("length(f) == null", &doc));
    assert!(!holds("null != null", &doc));
}
