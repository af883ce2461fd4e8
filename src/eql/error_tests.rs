//! Unit tests of parse errors: invalid queries with the line, column and reason each reports,
//! and the length and nesting limits.

use super::*;

#[test]
fn errors_report_line_column_and_reason() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("", 1, 1, "expected an event category"),
        ("process", 1, 8, "expected 'where' after the event category"),
        ("process where", 1, 14, "expected a value, a field"),
        ("process where a ==", 1, 19, "expected a value, a field"),
        ("process where a == 1 b", 1, 22, "expected 'and', 'or', '|'"),
        ("process where\n  a = 1", 2, 5, "expected 'and', 'or', '|'"),
        (
            "process where a == 'x'",
            1,
            20,
            "single-quoted strings are not supported",
        ),
        (
            "process where a == \"x",
            1,
            22,
            "unterminated string opened at 1:20",
        ),
        (
            "process where (a == 1",
            1,
            22,
            "expected ')' before the end of the query, to close the parenthesis opened at 1:15",
        ),
        (
            "process where a < b < c",
            1,
            21,
            "comparisons cannot be chained",
        ),
        ("process where a : 1", 1, 19, "expected a string after ':'"),
        ("process where foo(a)", 1, 15, "unknown function 'foo'"),
        (
            "process where length~(a)",
            1,
            15,
            "'length' has no case-insensitive '~' form",
        ),
        (
            "process where substring(a)",
            1,
            15,
            "'substring' takes 2 to 3 arguments, found 1",
        ),
        (
            "process where a[0] == 1",
            1,
            16,
            "array indexes are not supported",
        ),
        (
            "process where a == \"\\q\"",
            1,
            21,
            "unknown escape sequence",
        ),
        (
            "process where a regex \"[a\"",
            1,
            27,
            "not a valid regular expression",
        ),
        (
            "sequence [a where true]",
            1,
            24,
            "a sequence needs at least two stages",
        ),
        (
            "sequence with maxspan=5 [a where true] [b where true]",
            1,
            25,
            "expected a time unit",
        ),
        (
            "sequence with maxspan=5m by h [a where true] [b where true]",
            1,
            26,
            "'by' must come before 'with maxspan'",
        ),
        (
            "sequence [a where true] [b where true] with runs=101",
            1,
            50,
            "runs must be between 1 and 100",
        ),
        (
            "sequence [a where true] [b where true] until ![c where true]",
            1,
            46,
            "the 'until' stage cannot be a missing event",
        ),
        (
            "sequence [a where true\n[b where true]",
            2,
            1,
            "opened at 1:10",
        ),
        (
            "sample by h ![a where true]",
            1,
            13,
            "only allowed in sequences",
        ),
        (
            "join [a where true] [b where true]",
            1,
            1,
            "joins are not supported",
        ),
        ("process where true | sort a", 1, 22, "unknown pipe 'sort'"),
        (
            "process where true | head",
            1,
            26,
            "expected the number of results after 'head'",
        ),
        (
            "process where a == 99999999999999999999",
            1,
            20,
            "the number 99999999999999999999 is too large",
        ),
        (
            "process where /* open",
            1,
            22,
            "unterminated comment opened at 1:15",
        ),
        (
            "process where a == \"é\" and\n  é",
            2,
            3,
            "unexpected character 'é'",
        ),
    ];
    for &(text, line, column, reason) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(
            (error.line, error.column),
            (line, column),
            "{text}: {error}"
        );
        assert!(error.message.contains(reason), "{text}: {error}");
    }
}

#[test]
fn an_unclosed_bracket_names_where_it_opened() {
    let error = parse("sequence\n  [a where true]\n  [b where true").expect_err("open");
    assert_eq!(error.opened_at, Some((3, 3)));
    assert_eq!(
        error.message_with_opened_at(10, 4),
        "expected ']' before the end of the query, to close the bracket opened at 10:4"
    );
}

#[test]
fn a_query_longer_than_the_limit_is_refused() {
    let text = format!("any where f == \"{}\"", "x".repeat(MAX_QUERY_LENGTH));
    let error = parse(&text).expect_err("too long");
    assert!(error.message.contains("at most 100000"), "{error}");
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_without_overflowing_the_stack() {
    let deep = |n: usize| format!("any where {}a == 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&deep(MAX_NESTING_DEPTH)).is_ok());
    let error = parse(&deep(MAX_NESTING_DEPTH + 1)).expect_err("too deep");
    assert!(error.message.contains("nesting deeper than"), "{error}");
    let nots = format!("any where {} a", "not ".repeat(100_000));
    assert!(parse(&nots).is_err());
    let minus = format!("any where {}1 == 1", "-".repeat(100_000));
    assert!(parse(&minus).is_err());
}
