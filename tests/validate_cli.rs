//! `lookout validate` as a user runs it: the binary on rule files in a temporary folder, checking
//! its output lines, JSON summary and exit status. Needs no server.

use std::path::Path;
use std::process::{Command, Output};

const VALID: &str = include_str!("../src/rule/testdata/valid.toml");

fn validate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("validate")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("lookout runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn a_folder_of_good_rules_passes_with_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "rules/nested/a.toml", VALID);
    write(dir.path(), "rules/notes.md", "not a rule");
    let output = validate(&[], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "rules loaded: 1\nby type: query 1\nby language: kuery 1\ndeprecated: 0\n\
         exception lists: 0 (0 items)\n\
         runnable now (query, threshold, new_terms, threat_match and eql rules): 1\nproblems: 0 errors, 0 warnings\n"
    );
}

#[test]
fn problems_are_printed_as_path_line_column_and_fail_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "r/bad.toml",
        &VALID.replace("risk_score = 21", "risk_score = 101"),
    );
    write(
        dir.path(),
        "r/warn.toml",
        &VALID
            .replace("-000000000001", "-000000000002")
            .replace("[rule]\n", "[rule]\nextra = 1\n"),
    );
    let output = validate(&["r"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "r/bad.toml:14:14: `rule.risk_score` must be between 0 and 100, found 101"
    );
    assert_eq!(
        lines[1],
        "r/warn.toml:7:1: warning: unknown key `rule.extra`"
    );
    assert_eq!(lines[2], "rules loaded: 1");
    assert_eq!(lines.last(), Some(&"problems: 1 errors, 1 warnings"));
}

#[test]
fn json_output_holds_counts_errors_and_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.toml", VALID);
    write(dir.path(), "b.toml", VALID);
    let output = validate(&["--format", "json", "."], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(summary["rules"], 1);
    assert_eq!(summary["by_type"], serde_json::json!({"query": 1}));
    assert_eq!(summary["by_language"], serde_json::json!({"kuery": 1}));
    assert_eq!(summary["deprecated"], 0);
    assert_eq!(summary["warnings"], serde_json::json!([]));
    let error = &summary["errors"][0];
    assert_eq!(error["path"], "./b.toml");
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(15), Some(11))
    );
    assert!(
        error["message"]
            .as_str()
            .expect("text")
            .contains("also in ./a.toml:15:11")
    );
}

#[test]
fn a_missing_path_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = validate(&["nowhere.toml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("nowhere.toml:1:1: cannot read: "));
}

#[test]
fn a_huge_file_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let huge = format!("{VALID}# {}\n", "x".repeat(5 * 1024 * 1024));
    write(dir.path(), "huge.toml", &huge);
    let output = validate(&["huge.toml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("huge.toml:1:1: file is larger than 4194304 bytes"));
}

#[test]
fn without_paths_the_configured_rules_folders_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "team-rules/a.toml", VALID);
    write(
        dir.path(),
        "config/lookout.toml",
        "[rules]\nfolders = [\"team-rules\"]\n",
    );
    let output = validate(&[], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).starts_with("rules loaded: 1\n"),
        "{}",
        stdout(&output)
    );

    let output = validate(&["--rules", "missing-folder"], dir.path());
    assert_eq!(
        output.status.code(),
        Some(1),
        "the --rules flag replaces the file's folders"
    );
}
