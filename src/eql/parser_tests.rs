//! Unit tests of the grammar: categories, operators and their precedence, predicates, strings,
//! names, functions, sequences, samples and pipes. Errors are tested in `error_tests`.

use super::*;

fn parsed(text: &str) -> Query {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn condition(text: &str) -> Expr {
    match parsed(&format!("any where {text}")).body {
        Body::Event(filter) => filter.condition,
        other => panic!("not an event query: {other:?}"),
    }
}

fn field(name: &str) -> Expr {
    Expr::Field(Field {
        name: name.to_string(),
        optional: false,
    })
}

fn string(text: &str) -> Expr {
    Expr::Literal(Literal::String(text.to_string()))
}

fn int(n: i64) -> Expr {
    Expr::Literal(Literal::Integer(n))
}

fn eq(left: Expr, right: Expr) -> Expr {
    Expr::Compare {
        op: CompareOp::Eq,
        left: Box::new(left),
        right: Box::new(right),
    }
}

#[test]
fn an_event_query_has_a_category_and_a_condition() {
    let query = parsed("process where process.name == \"cmd.exe\"");
    let expected = Body::Event(EventFilter {
        category: Category::Named("process".into()),
        condition: eq(field("process.name"), string("cmd.exe")),
    });
    assert_eq!(query.body, expected);
    assert!(query.pipes.is_empty());
}

#[test]
fn any_and_quoted_categories_are_accepted() {
    let categories = [
        ("any where true", Category::Any),
        (
            "\"my-category\" where true",
            Category::Named("my-category".into()),
        ),
        (
            "\"\"\"6event\"\"\" where true",
            Category::Named("6event".into()),
        ),
    ];
    for (text, category) in categories {
        assert_eq!(parsed(text).filters()[0].category, category, "{text}");
    }
}

#[test]
fn or_binds_looser_than_and_which_binds_looser_than_not() {
    let expected = Expr::Or(vec![
        eq(field("a"), int(1)),
        Expr::And(vec![
            eq(field("b"), int(2)),
            Expr::Not(Box::new(eq(field("c"), int(3)))),
        ]),
    ]);
    assert_eq!(condition("a == 1 or b == 2 and not c == 3"), expected);
}

#[test]
fn multiplication_binds_tighter_than_addition_and_comparison_is_loosest() {
    let expected = Expr::Compare {
        op: CompareOp::Gt,
        left: Box::new(Expr::Arithmetic {
            op: ArithmeticOp::Add,
            left: Box::new(field("a")),
            right: Box::new(Expr::Arithmetic {
                op: ArithmeticOp::Multiply,
                left: Box::new(field("b")),
                right: Box::new(int(2)),
            }),
        }),
        right: Box::new(Expr::Negate(Box::new(int(1)))),
    };
    assert_eq!(condition("a + b * 2 > -1"), expected);
}

#[test]
fn every_comparison_operator_is_read() {
    let ops = [
        ("==", CompareOp::Eq),
        ("!=", CompareOp::NotEq),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Lte),
        (">", CompareOp::Gt),
        (">=", CompareOp::Gte),
    ];
    for (symbol, op) in ops {
        let Expr::Compare { op: found, .. } = condition(&format!("a {symbol} 1")) else {
            panic!("{symbol} is not a comparison");
        };
        assert_eq!(found, op);
    }
}

#[test]
fn pattern_operators_take_one_string_or_a_list() {
    let kinds = [
        (":", MatchKind::Colon),
        ("like", MatchKind::Like),
        ("like~", MatchKind::LikeInsensitive),
        ("regex", MatchKind::Regex),
        ("regex~", MatchKind::RegexInsensitive),
    ];
    for (symbol, kind) in kinds {
        let expected = Expr::Match {
            kind,
            value: Box::new(field("f")),
            patterns: vec!["a*".into(), "b".into()],
        };
        assert_eq!(condition(&format!("f {symbol} (\"a*\", \"b\")")), expected);
        let Expr::Match { patterns, .. } = condition(&format!("f {symbol} \"x\"")) else {
            panic!("{symbol}");
        };
        assert_eq!(patterns, vec!["x".to_string()]);
    }
}

#[test]
fn in_not_in_and_in_tilde_are_lookups() {
    let lookup = |insensitive, negated| Expr::In {
        value: Box::new(field("f")),
        list: vec![string("a"), int(1)],
        insensitive,
        negated,
    };
    assert_eq!(condition("f in (\"a\", 1)"), lookup(false, false));
    assert_eq!(condition("f in~ (\"a\", 1)"), lookup(true, false));
    assert_eq!(condition("f not in (\"a\", 1)"), lookup(false, true));
    assert_eq!(condition("f not in~ (\"a\", 1)"), lookup(true, true));
}

#[test]
fn strings_decode_escapes_unicode_and_raw_strings_keep_backslashes() {
    assert_eq!(
        condition(r#"f == "a\"b\\c\n\t\r\u{41}\u{0001F600}""#),
        eq(field("f"), string("a\"b\\c\n\t\rA\u{1F600}"))
    );
    assert_eq!(
        condition(r#"f == """C:\Windows\"quoted" """"#),
        eq(field("f"), string(r#"C:\Windows\"quoted" "#))
    );
}

#[test]
fn names_may_be_backquoted_optional_or_contain_keywords_after_a_dot() {
    let optional = Expr::Field(Field {
        name: "process.entity_id".into(),
        optional: true,
    });
    assert_eq!(condition("?process.entity_id == 1"), eq(optional, int(1)));
    assert_eq!(
        condition("`my field`.`a``b` == 1"),
        eq(field("my field.a`b"), int(1))
    );
    assert_eq!(
        condition("event.sequence == 1"),
        eq(field("event.sequence"), int(1))
    );
    assert_eq!(
        condition("@timestamp == 1"),
        eq(field("@timestamp"), int(1))
    );
}

#[test]
fn a_dotted_name_is_the_same_whether_written_as_one_run_with_blanks_or_with_backquotes() {
    for text in [
        "process.parent.name == 1",
        "process . parent .name == 1",
        "process.\nparent.name == 1",
        "process.`parent`.name == 1",
        "`process`.parent.name == 1",
        "process./* c */parent.name == 1",
    ] {
        assert_eq!(
            condition(text),
            eq(field("process.parent.name"), int(1)),
            "{text}"
        );
    }
    assert_eq!(
        condition("a.b.`c d` == 1 and x.y == 2"),
        Expr::And(vec![eq(field("a.b.c d"), int(1)), eq(field("x.y"), int(2))])
    );
    assert!(parse("a. == 1").is_err());
    assert!(parse("a.1 == 1").is_err());
}

#[test]
fn literals_are_null_booleans_integers_and_floats() {
    assert_eq!(
        condition("f == null"),
        eq(field("f"), Expr::Literal(Literal::Null))
    );
    assert_eq!(
        condition("f == true"),
        eq(field("f"), Expr::Literal(Literal::Bool(true)))
    );
    assert_eq!(
        condition("f == 1.5e3"),
        eq(field("f"), Expr::Literal(Literal::Float(1500.0)))
    );
    assert_eq!(
        condition("f == .5"),
        eq(field("f"), Expr::Literal(Literal::Float(0.5)))
    );
}

#[test]
fn function_names_are_case_insensitive_and_tilde_makes_them_case_insensitive() {
    let call = |insensitive| Expr::Call {
        function: Function::EndsWith,
        insensitive,
        args: vec![field("f"), string(".exe")],
    };
    assert_eq!(condition("endsWith(f, \".exe\")"), call(false));
    assert_eq!(condition("endswith~(f, \".exe\")"), call(true));
    for function in Function::ALL {
        let (least, _) = function.arity();
        let args = vec!["1"; least].join(", ");
        assert!(parse(&format!("any where {}({args})", function.name())).is_ok());
    }
}

#[test]
fn comments_are_ignored() {
    let query = parsed("any where /* a /* nested */ comment */ f == 1 // trailing\n");
    assert_eq!(query.filters()[0].condition, eq(field("f"), int(1)));
}

#[test]
fn sequences_read_keys_maxspan_stages_runs_missing_events_and_until() {
    let query = parsed(
        "sequence by host.id with maxspan=5m\n\
         [process where true] by process.pid with runs=2\n\
         ![file where true]\n\
         [network where true] by source.pid\n\
         until [process where event.type == \"end\"] by process.pid",
    );
    let Body::Sequence(sequence) = query.body else {
        panic!("not a sequence");
    };
    assert_eq!(sequence.by, vec![field("host.id")]);
    let span = sequence.maxspan.expect("maxspan");
    assert_eq!(
        (span.value, span.unit, span.as_millis()),
        (5, TimeUnit::Minutes, 300_000)
    );
    assert_eq!(sequence.stages.len(), 3);
    assert_eq!(sequence.stages[0].runs, Some(2));
    assert_eq!(sequence.stages[0].by, vec![field("process.pid")]);
    assert!(sequence.stages[1].missing);
    assert!(!sequence.stages[2].missing);
    let until = sequence.until.expect("until");
    assert_eq!(until.by, vec![field("process.pid")]);
}

#[test]
fn a_single_stage_with_runs_is_a_sequence() {
    assert!(parse("sequence [process where true] with runs=3").is_ok());
    assert!(parse("sequence [process where true]").is_err());
}

#[test]
fn samples_read_keys_and_stages() {
    let query = parsed("sample by host.id [process where true] by user.id [file where true]");
    let Body::Sample(sample) = query.body else {
        panic!("not a sample");
    };
    assert_eq!(sample.by, vec![field("host.id")]);
    assert_eq!(sample.stages.len(), 2);
    assert_eq!(sample.stages[0].by, vec![field("user.id")]);
}

#[test]
fn head_and_tail_pipes_are_accepted() {
    let query = parsed("process where true | head 5 | tail 2");
    assert_eq!(query.pipes, vec![Pipe::Head(5), Pipe::Tail(2)]);
}

#[test]
fn printing_a_query_gives_text_that_parses_to_the_same_tree() {
    let texts = [
        "process where a == 1 and (b : (\"x*\", \"y\") or not c in~ (\"q\", null))",
        "any where length(f) > 2 * -3 % 2 and startsWith~(`odd name`, \"\\\"\")",
        "sequence by h with maxspan=10s [a where ?x != 1.5] by y with runs=2 ![b where true] until [c where true] | tail 3",
        "sample by h [a where true] by k [\"b-c\" where f regex~ \"[a-z]+\"]",
    ];
    for text in texts {
        let query = parsed(text);
        let printed = query.to_string();
        assert_eq!(parsed(&printed), query, "{text} printed as {printed}");
    }
}
