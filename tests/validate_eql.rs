//! `lookout validate` on EQL rule files: the binary on rule files in a temporary folder. A bad
//! EQL query is reported at its file, line and column (inside the multi-line query string) and
//! that file is skipped, while a good EQL rule beside it still loads. Needs no server.

use std::path::Path;
use std::process::{Command, Output};

const VALID: &str = include_str!("../src/rule/testdata/valid.toml");

fn validate(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["validate", "r"])
        .current_dir(dir)
        .output()
        .expect("lookout runs")
}

/// The valid test rule turned into an EQL rule with this query and rule id suffix.
fn eql_rule(query: &str, id_suffix: &str) -> String {
    VALID
        .replace("language = \"kuery\"", "language = \"eql\"")
        .replace("type = \"query\"", "type = \"eql\"")
        .replace("event.action: test", query)
        .replace("-000000000001", id_suffix)
}

#[test]
fn bad_eql_is_reported_at_its_file_line_and_column_and_the_file_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("r")).expect("mkdir");
    let bad = eql_rule(
        "process where process.name == \"a\"\n  and process.pid >",
        "-000000000002",
    );
    std::fs::write(dir.path().join("r/bad.toml"), &bad).expect("write");
    let good = eql_rule(
        "sequence by host.id with maxspan=1m\n  [process where true] [file where true]",
        "-000000000003",
    );
    std::fs::write(dir.path().join("r/good.toml"), good).expect("write");

    let output = validate(dir.path());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(output.status.code(), Some(1), "{text}");
    // The query starts on the line after `query = '''`; its second line is `  and process.pid >`
    // and the error is at the end of the query, on the closing quotes' line.
    let query_line = bad
        .lines()
        .position(|l| l.starts_with("query = '''"))
        .expect("a query line")
        + 1;
    let expected = format!(
        "r/bad.toml:{}:1: bad EQL in `rule.query`: expected a value, a field, a function call or '(', found the end of the query",
        query_line + 3
    );
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, expected, "{text}");
    assert!(text.contains("rules loaded: 1"), "{text}");
}

#[test]
fn an_unclosed_stage_names_where_it_opened_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("r")).expect("mkdir");
    let bad = eql_rule(
        "sequence\n  [process where true]\n  [file where true",
        "-000000000004",
    );
    std::fs::write(dir.path().join("r/open.toml"), &bad).expect("write");
    let output = validate(dir.path());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let query_line = bad
        .lines()
        .position(|l| l.starts_with("query = '''"))
        .expect("a query line")
        + 1;
    let opened = format!("opened at {}:3", query_line + 3);
    assert!(
        text.lines().next().unwrap_or_default().contains(&opened),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1));
}
