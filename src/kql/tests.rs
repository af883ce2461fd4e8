//! Unit tests of the grammar (every construct, escape, keyword case, whitespace rule) and of the
//! printer. Errors are tested in `error_tests`, translation in `dsl_tests`.

use super::*;

fn parsed(text: &str) -> Query {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn name(n: &str) -> Option<Field> {
    Some(Field::Name(n.to_string()))
}

fn text(t: &str) -> Value {
    Value::Text(t.to_string())
}

fn phrase(t: &str) -> Value {
    Value::Phrase(t.to_string())
}

fn wild(parts: &[&str]) -> Value {
    Value::Wildcard(parts.iter().map(|p| p.to_string()).collect())
}

fn is(field: &str, value: Value) -> Query {
    Query::Is {
        field: name(field),
        value,
    }
}

fn free(value: Value) -> Query {
    Query::Is { field: None, value }
}

/// The value of `f: <value text>`.
fn value_of(value_text: &str) -> Value {
    match parsed(&format!("f: {value_text}")) {
        Query::Is { value, .. } => value,
        other => panic!("{value_text:?} is not one value: {other:?}"),
    }
}

#[test]
fn empty_and_blank_queries_match_everything() {
    assert_eq!(parsed(""), Query::MatchAll);
    assert_eq!(parsed(" \t\r\n\u{a0}"), Query::MatchAll);
}

#[test]
fn field_value_pairs_allow_whitespace_around_the_colon() {
    let expected = is("event.action", text("CreateGroup"));
    assert_eq!(parsed("event.action:CreateGroup"), expected);
    assert_eq!(parsed("event.action : CreateGroup"), expected);
    assert_eq!(parsed("\n event.action\t:\n CreateGroup \n"), expected);
}

#[test]
fn bare_values_are_free_text() {
    assert_eq!(parsed("CreateGroup"), free(text("CreateGroup")));
    assert_eq!(parsed("\"two words\""), free(phrase("two words")));
    assert_eq!(parsed("Create*"), free(wild(&["Create", ""])));
}

#[test]
fn or_binds_looser_than_and_which_binds_looser_than_not() {
    let query = parsed("a:1 or b:2 and not c:3");
    let expected = Query::Or(vec![
        is("a", text("1")),
        Query::And(vec![
            is("b", text("2")),
            Query::Not(Box::new(is("c", text("3")))),
        ]),
    ]);
    assert_eq!(query, expected);
}

#[test]
fn chains_of_the_same_operator_are_one_node() {
    let query = parsed("a:1 and b:2 and c:3");
    assert_eq!(
        query,
        Query::And(vec![
            is("a", text("1")),
            is("b", text("2")),
            is("c", text("3"))
        ])
    );
}

#[test]
fn parentheses_group() {
    let query = parsed("(a:1 or b:2) and c:3");
    let expected = Query::And(vec![
        Query::Or(vec![is("a", text("1")), is("b", text("2"))]),
        is("c", text("3")),
    ]);
    assert_eq!(query, expected);
    assert_eq!(parsed("( ( a:1 ) )"), is("a", text("1")));
}

#[test]
fn keywords_are_case_insensitive() {
    for (or, and, not) in [
        ("or", "and", "not"),
        ("OR", "AND", "NOT"),
        ("Or", "aNd", "nOt"),
    ] {
        let query = parsed(&format!("a:1 {or} b:2 {and} {not} c:3"));
        assert_eq!(query, parsed("a:1 or b:2 and not c:3"), "{or} {and} {not}");
    }
}

#[test]
fn value_lists_apply_the_field_to_every_value() {
    let query = parsed("f: (a or b and not c)");
    let expected = Query::Or(vec![
        is("f", text("a")),
        Query::And(vec![
            is("f", text("b")),
            Query::Not(Box::new(is("f", text("c")))),
        ]),
    ]);
    assert_eq!(query, expected);
}

#[test]
fn value_lists_nest() {
    let query = parsed("f:((a or b) and c)");
    let expected = Query::And(vec![
        Query::Or(vec![is("f", text("a")), is("f", text("b"))]),
        is("f", text("c")),
    ]);
    assert_eq!(query, expected);
}

#[test]
fn not_applies_to_a_value_list() {
    assert_eq!(
        parsed("not f:(a or b)"),
        Query::Not(Box::new(Query::Or(vec![
            is("f", text("a")),
            is("f", text("b"))
        ])))
    );
}

#[test]
fn a_lone_star_value_is_an_exists_query() {
    let query = parsed("f:*");
    assert_eq!(query, is("f", wild(&["", ""])));
    let Query::Is { value, .. } = query else {
        panic!("is")
    };
    assert!(value.is_lone_wildcard());
    assert!(!value_of("**").is_lone_wildcard());
}

#[test]
fn ranges_take_all_four_operators() {
    for (op, symbol) in [
        (RangeOp::Lt, "<"),
        (RangeOp::Lte, "<="),
        (RangeOp::Gt, ">"),
        (RangeOp::Gte, ">="),
    ] {
        let query = parsed(&format!("bytes {symbol} 100"));
        let expected = Query::Range {
            field: Field::Name("bytes".into()),
            op,
            value: text("100"),
        };
        assert_eq!(query, expected, "{symbol}");
        assert_eq!(parsed(&format!("bytes{symbol}100")), expected, "{symbol}");
    }
}

#[test]
fn range_values_may_be_quoted_and_keep_date_math() {
    assert_eq!(
        parsed("@timestamp >= \"now-30d/d\""),
        Query::Range {
            field: Field::Name("@timestamp".into()),
            op: RangeOp::Gte,
            value: phrase("now-30d/d"),
        }
    );
    assert_eq!(
        parsed("@timestamp >= now-30d/d"),
        Query::Range {
            field: Field::Name("@timestamp".into()),
            op: RangeOp::Gte,
            value: text("now-30d/d"),
        }
    );
}

#[test]
fn nested_queries_hold_a_whole_query() {
    let query = parsed("items:{ name: a and (price > 10 or sale: true) }");
    let expected = Query::Nested {
        path: Field::Name("items".into()),
        query: Box::new(Query::And(vec![
            is("name", text("a")),
            Query::Or(vec![
                Query::Range {
                    field: Field::Name("price".into()),
                    op: RangeOp::Gt,
                    value: text("10"),
                },
                is("sale", Value::Bool(true)),
            ]),
        ])),
    };
    assert_eq!(query, expected);
}

#[test]
fn nested_queries_nest() {
    let query = parsed("a:{ b:{ c:1 } }");
    let inner = Query::Nested {
        path: Field::Name("b".into()),
        query: Box::new(is("c", text("1"))),
    };
    assert_eq!(
        query,
        Query::Nested {
            path: Field::Name("a".into()),
            query: Box::new(inner)
        }
    );
}

#[test]
fn field_names_may_be_quoted_or_wildcards() {
    assert_eq!(parsed("\"my field\": x"), is("my field", text("x")));
    assert_eq!(parsed("\"a*\": x"), is("a*", text("x")));
    assert_eq!(
        parsed("process.*: x"),
        Query::Is {
            field: Some(Field::Pattern(vec!["process.".into(), "".into()])),
            value: text("x")
        }
    );
    assert_eq!(
        parsed("*: *"),
        Query::Is {
            field: Some(Field::Pattern(vec!["".into(), "".into()])),
            value: wild(&["", ""])
        }
    );
}

#[test]
fn unquoted_null_true_false_are_literals_and_quoted_ones_are_text() {
    assert_eq!(value_of("true"), Value::Bool(true));
    assert_eq!(value_of("false"), Value::Bool(false));
    assert_eq!(value_of("null"), Value::Null);
    assert_eq!(value_of("\"true\""), phrase("true"));
    assert_eq!(value_of("True"), text("True"));
}

#[test]
fn unquoted_numbers_stay_text() {
    assert_eq!(value_of("4624"), text("4624"));
    assert_eq!(value_of("1.0"), text("1.0"));
    assert_eq!(value_of("-5"), text("-5"));
}

#[test]
fn unquoted_values_keep_inner_whitespace_and_are_trimmed() {
    assert_eq!(value_of("S3 Browser"), text("S3 Browser"));
    assert_eq!(value_of("a  \t b   "), text("a  \t b"));
    assert_eq!(
        parsed("f: (a b or c d)"),
        Query::Or(vec![is("f", text("a b")), is("f", text("c d"))])
    );
}

#[test]
fn an_unquoted_value_ends_at_a_spaced_keyword_only() {
    assert_eq!(
        value_of("Windows organization"),
        text("Windows organization")
    );
    assert_eq!(value_of("brand new"), text("brand new"));
    assert_eq!(value_of("android"), text("android"));
    assert_eq!(value_of("nothing"), text("nothing"));
    // A keyword at the very end has no whitespace after it, so it stays part of the value.
    assert_eq!(value_of("a and"), text("a and"));
    assert_eq!(value_of("a or"), text("a or"));
}

#[test]
fn keyword_operators_need_whitespace_on_both_sides() {
    assert!(parse("a:1 or(b:2)").is_err());
    assert!(parse("(a:1)or b:2").is_err());
    assert!(parse("not(a:1)").is_err());
    assert_eq!(
        parsed("not (a:1)"),
        Query::Not(Box::new(is("a", text("1"))))
    );
}

#[test]
fn not_not_is_not_in_the_grammar() {
    assert!(parse("not not a:1").is_err());
    assert_eq!(
        parsed("not (not a:1)"),
        Query::Not(Box::new(Query::Not(Box::new(is("a", text("1"))))))
    );
}

#[test]
fn a_keyword_alone_is_a_value() {
    assert_eq!(parsed("or"), free(text("or")));
    assert_eq!(parsed("not"), free(text("not")));
    assert_eq!(parsed("f: and"), is("f", text("and")));
    assert_eq!(
        parsed("a:1 or or b"),
        Query::Or(vec![is("a", text("1")), free(text("or b"))])
    );
}

#[test]
fn unquoted_escapes_decode() {
    assert_eq!(value_of(r"C\:\\Windows\\"), text(r"C:\Windows\"));
    assert_eq!(value_of(r#"\(\)\:\<\>\"\*\{\}"#), text("():<>\"*{}"));
    assert_eq!(value_of(r"a\tb\rc\nd"), text("a\tb\rc\nd"));
    assert_eq!(value_of(r"\u0041\u00e9"), text("Aé"));
    assert_eq!(value_of(r"\ud83d\ude00"), text("😀"));
    assert_eq!(value_of(r"\ud83d"), text("\u{fffd}"));
}

#[test]
fn escaped_keywords_are_literal_text_in_their_own_case() {
    assert_eq!(value_of(r"a \or b"), text("a or b"));
    assert_eq!(value_of(r"a \AND b"), text("a AND b"));
    assert_eq!(value_of(r"x \NOT y"), text("x NOT y"));
    // `\n` is a newline first: `\not` is a newline and "ot".
    assert_eq!(value_of(r"x\not"), text("x\not"));
}

#[test]
fn an_escaped_star_is_literal_and_an_unescaped_one_is_a_wildcard() {
    assert_eq!(value_of(r"a\*b"), text("a*b"));
    assert_eq!(value_of(r"a\**"), wild(&["a*", ""]));
    assert_eq!(value_of("*a*b*"), wild(&["", "a", "b", ""]));
}

#[test]
fn wildcard_values_keep_inner_whitespace() {
    assert_eq!(value_of("*S3 Browser*"), wild(&["", "S3 Browser", ""]));
    assert_eq!(value_of("  *x  "), wild(&["", "x"]));
}

#[test]
fn quoted_escapes_decode_and_other_backslashes_stay() {
    assert_eq!(value_of(r#""a\"b""#), phrase("a\"b"));
    assert_eq!(value_of(r#""a\\b""#), phrase(r"a\b"));
    assert_eq!(value_of(r#""a\tb\rc\nd""#), phrase("a\tb\rc\nd"));
    assert_eq!(value_of(r#""\u0041""#), phrase("A"));
    assert_eq!(value_of(r#""C:\Windows\x""#), phrase(r"C:\Windows\x"));
    assert_eq!(
        value_of(r#""*()<>:{} or and not""#),
        phrase("*()<>:{} or and not")
    );
    assert_eq!(value_of(r#""  padded  ""#), phrase("  padded  "));
    assert_eq!(value_of("\"line\nbreak\""), phrase("line\nbreak"));
}

#[test]
fn non_breaking_space_is_whitespace_between_tokens() {
    assert_eq!(parsed("a:1\u{a0}or\u{a0}b:2"), parsed("a:1 or b:2"));
}

#[test]
fn printing_a_tree_and_parsing_it_gives_the_same_tree() {
    let queries = [
        "a:1 or b:2 and not c:3",
        "f: (a or b and not c)",
        "\"my field\": \"say \\\"hi\\\"\"",
        r"f: C\:\\Windows\\*",
        "f: *S3 Browser* and g: * and *: *",
        "items:{ name: a and price >= 10 } and x < \"now-1d\"",
        "f: true or f: null or \"null\": x or null: y",
        r"f: \u0020 or f: a\tb or f: é",
        "not (not a:1)",
        r"process.*\NOT<1 and a:{ b\not }",
        "",
    ];
    for text in queries {
        let tree = parsed(text);
        let printed = tree.to_string();
        assert_eq!(parsed(&printed), tree, "{text:?} printed as {printed:?}");
    }
}

#[test]
fn field_names_are_the_literal_names_with_nested_paths_in_front() {
    let query = parsed(
        "event.action: CreateGroup and not (user.name: x or event.action: y) and \
         items: { id > 3 } and host.*: z and free text and @timestamp >= now-1h",
    );
    assert_eq!(
        query.field_names(),
        [
            "event.action",
            "user.name",
            "items",
            "items.id",
            "@timestamp"
        ]
    );
}

#[test]
fn a_field_map_holds_fields_objects_and_keys_of_flattened_fields() {
    let mut map = FieldMap::default();
    map.insert("event.action", &["keyword"], None);
    map.insert("aws.cloudtrail.flattened", &["flattened"], None);
    assert!(map.can_hold("event.action"));
    assert!(map.can_hold("event"), "an object holding fields");
    assert!(map.can_hold("aws.cloudtrail.flattened.request_parameters.userName"));
    assert!(!map.can_hold("event.actoin"));
    assert!(!map.can_hold("event.action.keyword"));
}
