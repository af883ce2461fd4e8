//! `lookout translate` as a user runs it: DSL on stdout, "translated without field types" on
//! stderr when untyped, typed output with `--mapping`, and `path:line:col: reason` with exit 2 for
//! a rule whose KQL is broken. Needs no server.

use std::process::{Command, Output};

const VALID: &str = include_str!("../src/rule/testdata/valid.toml");
const BAD_KQL: &str = include_str!("../src/rule/testdata/bad_kql.toml");

fn translate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("translate")
        .args(args)
        .output()
        .expect("lookout runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

#[test]
fn a_kql_query_prints_untyped_dsl_and_says_so() {
    let output = translate(&[
        "--kql",
        "event.action: CreateGroup and not event.outcome: failure",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let err = text(&output.stderr);
    assert!(err.starts_with("translated without field types: "), "{err}");
    assert!(
        err.contains("--es-url URL") && err.contains("--mapping FILE"),
        "says how to get the typed form: {err}"
    );
    let dsl: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(
        dsl["bool"]["filter"][0]["bool"]["should"][0]["match"]["event.action"],
        "CreateGroup"
    );
    assert!(dsl["bool"]["filter"][1]["bool"]["must_not"].is_object());
}

#[test]
fn a_mapping_file_gives_keyword_fields_term_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = dir.path().join("mapping.json");
    let body = r#"{"mappings": {"properties": {"event": {"properties": {"action": {"type": "keyword"}}}}}}"#;
    std::fs::write(&mapping, body).expect("write mapping");
    let mapping = mapping.to_str().expect("utf-8 path");
    let output = translate(&["--kql", "event.action: CreateGroup", "--mapping", mapping]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "");
    let dsl: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(
        dsl["bool"]["should"][0]["term"]["event.action"]["value"],
        "CreateGroup"
    );
}

#[test]
fn a_rule_file_is_translated_from_its_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rule.toml");
    std::fs::write(&path, VALID).expect("write rule");
    let output = translate(&[path.to_str().expect("utf-8 path"), "--pretty"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stdout).contains("\n  \"bool\": {"),
        "indented JSON"
    );
    assert!(text(&output.stdout).contains("\"event.action\": \"test\""));
}

#[test]
fn broken_kql_in_a_rule_file_names_the_file_position_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, BAD_KQL).expect("write rule");
    let output = translate(&[path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(output.stdout, b"");
    assert_eq!(
        text(&output.stderr),
        format!(
            "{}:22:1: bad KQL in `rule.query`: unbalanced parenthesis opened at 21:17\n",
            path.display()
        )
    );
}

#[test]
fn a_broken_kql_query_prints_line_and_column_and_exits_2() {
    let output = translate(&["--kql", "event.action: (a or b"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "1:22: unbalanced parenthesis opened at 1:15\n"
    );
}
