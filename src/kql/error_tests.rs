//! Unit tests of parse errors: 30+ invalid queries with the line, column and reason each one
//! reports, and the length and nesting limits.

use super::*;

fn is(field: &str, value: Value) -> Query {
    Query::Is {
        field: Some(Field::Name(field.to_string())),
        value,
    }
}

#[test]
fn errors_report_line_column_and_reason() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("f:", 1, 3, "expected a value after ':'"),
        ("f: ", 1, 4, "expected a value after ':'"),
        ("f: )", 1, 4, "expected a value after ':'"),
        ("a:1 and\nf:", 2, 3, "expected a value after ':'"),
        ("f <", 1, 4, "expected a value after '<'"),
        ("f <= ", 1, 6, "expected a value after '<='"),
        ("f > (", 1, 5, "expected a value after '>'"),
        ("f >= )", 1, 6, "expected a value after '>='"),
        ("(a:1", 1, 5, "unbalanced parenthesis opened at 1:1"),
        (
            "a:1 and (b:2 or c:3",
            1,
            20,
            "unbalanced parenthesis opened at 1:9",
        ),
        (
            "x and\n  (a:1 or\n b:2",
            3,
            5,
            "unbalanced parenthesis opened at 2:3",
        ),
        ("f:(a or b", 1, 10, "unbalanced parenthesis opened at 1:3"),
        (
            "a:1)",
            1,
            4,
            "unbalanced parenthesis: ')' has no matching '('",
        ),
        (")", 1, 1, "unbalanced parenthesis: ')' has no matching '('"),
        ("a:{b:1", 1, 7, "unbalanced brace opened at 1:3"),
        ("a:1}", 1, 4, "unbalanced brace: '}' has no matching '{'"),
        ("f: \"abc", 1, 8, "unterminated quoted string opened at 1:4"),
        ("\"abc", 1, 5, "unterminated quoted string opened at 1:1"),
        (
            "f: \"a\\\"",
            1,
            8,
            "unterminated quoted string opened at 1:4",
        ),
        ("a:1 or ", 1, 8, "expected a query after 'or'"),
        ("a:1 and ", 1, 9, "expected a query after 'and'"),
        ("a:1 and )", 1, 9, "expected a query after 'and'"),
        ("not ", 1, 5, "expected a query after 'not'"),
        ("not not a", 1, 5, "expected a query after 'not'"),
        ("f:(a or )", 1, 9, "expected a value after 'or'"),
        ("f:(a and )", 1, 10, "expected a value after 'and'"),
        ("f:(not )", 1, 8, "expected a value after 'not'"),
        ("f:()", 1, 4, "expected a value after '('"),
        ("()", 1, 2, "expected a query after '(', found ')'"),
        (
            "a: \"x\" \"y\"",
            1,
            8,
            "expected 'and', 'or' or the end of the query, found '\"'",
        ),
        (":x", 1, 1, "expected a field name before ':'"),
        (
            "<5",
            1,
            1,
            "expected a field name before the range operator",
        ),
        (
            "a:b:c",
            1,
            4,
            "expected 'and', 'or' or the end of the query",
        ),
        (
            "a:1 b:2",
            1,
            6,
            "expected 'and', 'or' or the end of the query",
        ),
        ("(a:1 b:2)", 1, 7, "to close the parenthesis opened at 1:1"),
        ("a\\", 1, 2, "a backslash must escape"),
        ("f: a\\x", 1, 5, "a backslash must escape"),
        ("a:{}", 1, 4, "expected a query after '{', found '}'"),
        (
            "a:1 or(b:2)",
            1,
            7,
            "expected 'and', 'or' or the end of the query",
        ),
    ];
    assert!(cases.len() >= 30);
    let mut wrong = Vec::new();
    for (query, line, column, reason) in cases {
        match parse(query) {
            Ok(tree) => wrong.push(format!("{query:?} parsed as {tree:?}")),
            Err(e) if (e.line, e.column) != (*line, *column) || !e.message.contains(reason) => {
                wrong.push(format!(
                    "{query:?}: {e} (expected {line}:{column}: {reason})"
                ))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_error_displays_as_line_colon_column_colon_reason() {
    let error = parse("a:1 and\n  (b:2").expect_err("unbalanced");
    assert_eq!(
        error.to_string(),
        "2:7: unbalanced parenthesis opened at 2:3"
    );
}

#[test]
fn nesting_beyond_the_limit_is_an_error_not_a_crash() {
    let deep = format!(
        "{}a:1{}",
        "(".repeat(MAX_NESTING_DEPTH + 1),
        ")".repeat(MAX_NESTING_DEPTH + 1)
    );
    let error = parse(&deep).expect_err("too deep");
    assert!(error.message.contains("nesting deeper than"), "{error}");
    let ok = format!(
        "{}a:1{}",
        "(".repeat(MAX_NESTING_DEPTH),
        ")".repeat(MAX_NESTING_DEPTH)
    );
    assert_eq!(
        parse(&ok).expect("at the limit"),
        is("a", Value::Text("1".into()))
    );
    let braces = format!(
        "{}c:1{}",
        "a:{".repeat(MAX_NESTING_DEPTH + 1),
        "}".repeat(MAX_NESTING_DEPTH + 1)
    );
    assert!(parse(&braces).is_err());
}

#[test]
fn queries_beyond_the_length_limit_are_refused() {
    let long = "a".repeat(MAX_QUERY_LENGTH + 1);
    let error = parse(&long).expect_err("too long");
    assert!(error.message.contains("characters long"), "{error}");
    assert!(parse(&"a".repeat(MAX_QUERY_LENGTH)).is_ok());
}

#[test]
fn an_unclosed_opener_is_given_as_a_position_a_caller_can_move() {
    let error = parse("a:1 and\n  (b:2 or c:3").expect_err("unbalanced");
    assert_eq!(error.opened_at, Some((2, 3)));
    assert_eq!(error.message, "unbalanced parenthesis opened at 2:3");
    assert_eq!(
        error.message_with_opened_at(21, 5),
        "unbalanced parenthesis opened at 21:5"
    );
    let quote = parse("f: \"abc").expect_err("unterminated");
    assert_eq!(quote.opened_at, Some((1, 4)));
    let other = parse("a:").expect_err("no value");
    assert_eq!(other.opened_at, None);
    assert_eq!(other.message_with_opened_at(9, 9), other.message);
}
