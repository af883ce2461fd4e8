//! Unit tests of the translation to query DSL (Kibana's shapes, per field type) and of the
//! field map readers.

use super::*;
use serde_json::{Value as Json, json};

fn untyped(text: &str) -> Json {
    to_dsl(&parse(text).expect("valid"), None)
}

fn typed(text: &str, fields: &FieldMap) -> Json {
    to_dsl(&parse(text).expect("valid"), Some(fields))
}

fn one(query: Json) -> Json {
    json!({"bool": {"should": [query], "minimum_should_match": 1}})
}

fn sample_fields() -> FieldMap {
    let mut fields = FieldMap::default();
    fields.insert("event.action", &["keyword"], None);
    fields.insert("event.dataset", &["constant_keyword"], None);
    fields.insert("message", &["match_only_text"], None);
    fields.insert("url.full", &["wildcard"], None);
    fields.insert("@timestamp", &["date"], None);
    fields.insert("event.ingested", &["date", "date_nanos"], None);
    fields.insert("host.name", &["keyword", "text"], None);
    fields.insert("process.name", &["keyword"], None);
    fields.insert("process.pid", &["long"], None);
    fields.insert("items.name", &["keyword"], Some("items"));
    fields
}

#[test]
fn untyped_field_values_become_match_match_phrase_and_query_string() {
    assert_eq!(untyped("f: a"), one(json!({"match": {"f": "a"}})));
    assert_eq!(
        untyped("f: \"a b\""),
        one(json!({"match_phrase": {"f": "a b"}}))
    );
    assert_eq!(
        untyped("f: *a-b/c*"),
        one(json!({"query_string": {"fields": ["f"], "query": "*a\\-b\\/c*"}}))
    );
    assert_eq!(untyped("f: *"), one(json!({"exists": {"field": "f"}})));
}

#[test]
fn numbers_and_literals_keep_their_kql_types() {
    assert_eq!(untyped("f: 4624"), one(json!({"match": {"f": "4624"}})));
    assert_eq!(untyped("f: true"), one(json!({"match": {"f": true}})));
    assert_eq!(untyped("f: null"), one(json!({"match": {"f": null}})));
}

#[test]
fn and_or_not_become_filter_should_and_must_not() {
    let a = one(json!({"match": {"a": "1"}}));
    let b = one(json!({"match": {"b": "2"}}));
    assert_eq!(untyped("a:1 and b:2"), json!({"bool": {"filter": [a, b]}}));
    assert_eq!(
        untyped("a:1 or b:2"),
        json!({"bool": {"should": [a, b], "minimum_should_match": 1}})
    );
    assert_eq!(untyped("not a:1"), json!({"bool": {"must_not": a}}));
}

#[test]
fn the_empty_query_and_star_colon_star_match_everything() {
    assert_eq!(untyped(""), json!({"match_all": {}}));
    assert_eq!(untyped("*:*"), json!({"match_all": {}}));
}

#[test]
fn free_text_searches_all_fields() {
    assert_eq!(
        untyped("hello"),
        json!({"multi_match": {"type": "best_fields", "query": "hello", "lenient": true}})
    );
    assert_eq!(
        untyped("\"hello world\""),
        json!({"multi_match": {"type": "phrase", "query": "hello world", "lenient": true}})
    );
    assert_eq!(
        untyped("hel*o"),
        json!({"query_string": {"query": "hel*o"}})
    );
}

#[test]
fn wildcard_values_escape_every_query_string_special_character() {
    let dsl = untyped(r#"f: *a+b-c=d&e|f!g[h]i^j~k?l/m\\n\:o\(p\)q\{r\}s\<t\>u\"v\**"#);
    let expected = r#"*a\+b\-c\=d\&e\|f\!g\[h\]i\^j\~k\?l\/m\\n\:o\(p\)q\{r\}s\<t\>u\"v\**"#;
    assert_eq!(
        dsl["bool"]["should"][0]["query_string"]["query"],
        json!(expected)
    );
}

#[test]
fn keyword_fields_get_term_and_wildcard_queries() {
    let fields = sample_fields();
    assert_eq!(
        typed("event.action: CreateGroup", &fields),
        one(json!({"term": {"event.action": {"value": "CreateGroup"}}}))
    );
    assert_eq!(
        typed("event.action: \"CreateGroup\"", &fields),
        one(json!({"term": {"event.action": {"value": "CreateGroup"}}}))
    );
    assert_eq!(
        typed("event.action: *S3 Browser*", &fields),
        one(json!({"wildcard": {"event.action": {"value": "*S3 Browser*"}}}))
    );
    assert_eq!(
        typed("event.action: *", &fields),
        one(json!({"exists": {"field": "event.action"}}))
    );
}

#[test]
fn keyword_like_types_and_multi_type_fields_are_not_keyword_only() {
    let fields = sample_fields();
    assert_eq!(
        typed("event.dataset: aws.cloudtrail", &fields),
        one(json!({"match": {"event.dataset": "aws.cloudtrail"}}))
    );
    assert_eq!(
        typed("url.full: *evil*", &fields),
        one(json!({"query_string": {"fields": ["url.full"], "query": "*evil*"}}))
    );
    assert_eq!(
        typed("host.name: h1", &fields),
        one(json!({"match": {"host.name": "h1"}}))
    );
    assert_eq!(
        typed("message: \"access denied\"", &fields),
        one(json!({"match_phrase": {"message": "access denied"}}))
    );
}

#[test]
fn date_fields_get_a_range_for_an_exact_value_with_the_engine_time_zone() {
    let fields = sample_fields();
    assert_eq!(
        typed("@timestamp: \"2024-01-02\"", &fields),
        one(
            json!({"range": {"@timestamp": {"gte": "2024-01-02", "lte": "2024-01-02", "time_zone": "Zulu"}}})
        )
    );
    assert_eq!(
        typed("event.ingested: 1700000000000", &fields),
        one(json!({"range": {"event.ingested": {"gte": "1700000000000", "lte": "1700000000000"}}}))
    );
    assert_eq!(
        typed("@timestamp: 2024*", &fields),
        one(json!({"query_string": {"fields": ["@timestamp"], "query": "2024*"}}))
    );
}

#[test]
fn ranges_use_the_operator_key_and_add_the_time_zone_on_dates() {
    let fields = sample_fields();
    assert_eq!(
        untyped("process.pid > 10"),
        one(json!({"range": {"process.pid": {"gt": "10"}}}))
    );
    assert_eq!(
        typed("@timestamp >= now-30d/d", &fields),
        one(json!({"range": {"@timestamp": {"gte": "now-30d/d", "time_zone": "Zulu"}}}))
    );
    assert_eq!(
        typed("@timestamp < 1700000000000", &fields),
        one(json!({"range": {"@timestamp": {"lt": "1700000000000"}}}))
    );
}

#[test]
fn unknown_fields_are_sent_as_written_even_with_types() {
    let fields = sample_fields();
    assert_eq!(typed("nope: x", &fields), untyped("nope: x"));
    assert_eq!(
        typed("nope.*: x", &fields),
        one(json!({"match": {"nope.*": "x"}}))
    );
}

#[test]
fn field_name_wildcards_expand_to_every_matching_mapped_field_in_name_order() {
    let fields = sample_fields();
    assert_eq!(
        typed("process.*: 1", &fields),
        json!({"bool": {"should": [
            {"term": {"process.name": {"value": "1"}}},
            {"match": {"process.pid": "1"}},
        ], "minimum_should_match": 1}})
    );
    assert_eq!(
        typed("*.action: *", &fields),
        one(json!({"exists": {"field": "event.action"}}))
    );
}

#[test]
fn wildcard_field_names_reaching_nested_fields_get_a_nested_query() {
    let fields = sample_fields();
    assert_eq!(
        typed("items.*: a", &fields),
        one(
            json!({"nested": {"path": "items", "query": {"term": {"items.name": {"value": "a"}}}, "score_mode": "none"}})
        )
    );
}

#[test]
fn nested_queries_prefix_inner_field_names_with_the_path() {
    let inner = one(json!({"match": {"items.name": "a"}}));
    assert_eq!(
        untyped("items:{ name: a }"),
        json!({"nested": {"path": "items", "query": inner, "score_mode": "none"}})
    );
    let fields = sample_fields();
    let typed_inner = one(json!({"term": {"items.name": {"value": "a"}}}));
    assert_eq!(
        typed("items:{ name: a }", &fields),
        json!({"nested": {"path": "items", "query": typed_inner, "score_mode": "none"}})
    );
    let deep = untyped("a:{ b:{ c: 1 } }");
    assert_eq!(deep["nested"]["query"]["nested"]["path"], json!("a.b"));
    assert_eq!(
        deep["nested"]["query"]["nested"]["query"],
        one(json!({"match": {"a.b.c": "1"}}))
    );
}

#[test]
fn lucene_rules_become_a_decorated_query_string() {
    assert_eq!(
        lucene_to_dsl("event.action:(a OR b)"),
        json!({"query_string": {"query": "event.action:(a OR b)", "analyze_wildcard": true, "time_zone": "Zulu"}})
    );
    assert_eq!(lucene_to_dsl("  "), json!({"match_all": {}}));
}

#[test]
fn field_caps_give_types_without_unmapped_and_nested_paths() {
    let caps = json!({"indices": ["a", "b"], "fields": {
        "event.action": {"keyword": {"type": "keyword"}},
        "host.name": {"keyword": {"type": "keyword"}, "unmapped": {"type": "unmapped"}},
        "user": {"object": {"type": "object"}},
        "items": {"nested": {"type": "nested"}},
        "items.name": {"keyword": {"type": "keyword"}},
        "code": {"keyword": {"type": "keyword"}, "long": {"type": "long"}},
        "_id": {"_id": {"type": "_id"}},
        "_seq_no": {"_seq_no": {"type": "_seq_no"}},
    }});
    let fields = FieldMap::from_field_caps(&caps);
    assert!(
        fields
            .get("event.action")
            .expect("mapped")
            .is_keyword_only()
    );
    assert!(fields.get("host.name").expect("mapped").is_keyword_only());
    assert!(!fields.get("code").expect("mapped").is_keyword_only());
    assert!(fields.get("user").is_none() && fields.get("items").is_none());
    assert!(fields.get("_id").is_some() && fields.get("_seq_no").is_none());
    assert_eq!(
        fields
            .get("items.name")
            .expect("mapped")
            .nested_path
            .as_deref(),
        Some("items")
    );
}

#[test]
fn mappings_give_multi_fields_aliases_and_nested_paths() {
    let mappings = json!({"template": {"mappings": {"properties": {
        "user_agent": {"properties": {"original": {"type": "keyword", "fields": {"text": {"type": "match_only_text"}}}}},
        "when": {"type": "date"},
        "at": {"type": "alias", "path": "when"},
        "items": {"type": "nested", "properties": {"name": {"type": "keyword"}}},
    }}}});
    let fields = FieldMap::from_mappings(&mappings);
    assert!(
        fields
            .get("user_agent.original")
            .expect("mapped")
            .is_keyword_only()
    );
    assert!(
        !fields
            .get("user_agent.original.text")
            .expect("mapped")
            .is_keyword_only()
    );
    assert!(fields.get("at").expect("alias").is_date());
    assert_eq!(
        fields
            .get("items.name")
            .expect("mapped")
            .nested_path
            .as_deref(),
        Some("items")
    );
    assert!(fields.get("user_agent").is_none());
}

#[test]
fn glob_matching_follows_kql_wildcards() {
    let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(glob_matches(&parts(&["a.", ""]), "a.b"));
    assert!(glob_matches(&parts(&["", ".b", ""]), "a.b.c"));
    assert!(!glob_matches(&parts(&["a", "a"]), "a"));
    assert!(glob_matches(&parts(&["a", "a"]), "aa"));
    assert!(glob_matches(&parts(&["é", ""]), "éa"));
    assert!(!glob_matches(&parts(&["x"]), "xy"));
}

#[test]
fn the_dsl_of_the_deepest_accepted_query_reads_back_as_json() {
    // Parentheses of sub-queries, then two of a value list: exactly the limit.
    let outer = MAX_NESTING_DEPTH - 2;
    let query = format!(
        "{}f: (a or (b)){}",
        "x:1 or (".repeat(outer),
        ")".repeat(outer)
    );
    let dsl = untyped(&query);
    let text = serde_json::to_string(&dsl).expect("serializes");
    let back: Json = serde_json::from_str(&text).expect("within serde_json's depth limit");
    assert_eq!(back, dsl);
}
