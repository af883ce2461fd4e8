//! Hostile rule files and folders: oversized files and values, 10,000-deep nesting, binary junk,
//! NUL bytes, extreme numbers and date math, symlink loops, `..` paths, and file or key names
//! that carry newlines or terminal escape codes. Each must become a diagnostic (or load), never
//! a panic, a hang, a stack overflow, a repeated rule or an injected output line.

use chrono::{TimeZone, Utc};
use lookout::{DateMath, LoadReport, MAX_RULE_FILE_BYTES, Rounding};
use std::path::{Path, PathBuf};
use std::process::Command;

const VALID: &str = include_str!("../src/rule/testdata/valid.toml");

/// The stack a loader thread gets by default (`std::thread::spawn`); parsing must fit in it.
const LOADER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// The valid rule with another rule_id (`n` as its last digits).
fn rule_text(n: u32) -> String {
    VALID.replace("-000000000001", &format!("-{n:012}"))
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    path
}

fn load(paths: &[PathBuf]) -> LoadReport {
    lookout::load_paths(paths)
}

/// Parses one file's bytes on a thread with the stack a loader thread has.
fn parse_on_loader_stack(bytes: Vec<u8>) -> Result<usize, Vec<String>> {
    std::thread::Builder::new()
        .stack_size(LOADER_STACK_BYTES)
        .spawn(move || {
            lookout::parse_rule_bytes(Path::new("hostile.toml"), &bytes)
                .map(|(_, warnings)| warnings.len())
                .map_err(|errors| errors.iter().map(ToString::to_string).collect())
        })
        .expect("a thread starts")
        .join()
        .expect("parsing does not panic or overflow the stack")
}

#[test]
fn a_file_over_the_size_cap_is_refused_and_the_others_still_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let huge = "x".repeat(MAX_RULE_FILE_BYTES as usize);
    let big = rule_text(2).replace("A rule for tests.", &huge);
    write(dir.path(), "rules/big.toml", big);
    write(dir.path(), "rules/ok.toml", rule_text(1));
    let report = load(&[dir.path().join("rules")]);
    assert_eq!(report.rules.len(), 1);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let error = report.errors[0].to_string();
    assert!(
        error.contains("big.toml:1:1") && error.contains("larger than"),
        "{error}"
    );
}

#[test]
fn a_huge_value_under_the_cap_loads_without_harm() {
    let huge = "y".repeat(MAX_RULE_FILE_BYTES as usize - 2048);
    let text = rule_text(1).replace("A rule for tests.", &huge);
    assert_eq!(parse_on_loader_stack(text.into_bytes()), Ok(0));
}

fn assert_rejected_at_a_position(text: String, what: &str) {
    let errors = parse_on_loader_stack(text.into_bytes()).expect_err(what);
    assert!(
        errors.iter().all(|e| e.starts_with("hostile.toml:")),
        "{what}: {errors:?}"
    );
}

#[test]
fn nesting_ten_thousand_deep_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let tables = format!("{}1{}", "{a = ".repeat(depth), "}".repeat(depth));
    let dotted = vec!["a"; depth].join(".");
    let cases = [
        format!("{}\n[extra]\nx = {arrays}\n", rule_text(1)),
        format!("{}\n[extra]\nx = {tables}\n", rule_text(1)),
        format!("{}\n[extra]\n{dotted} = 1\n", rule_text(1)),
        format!("{}\n[{dotted}]\nx = 1\n", rule_text(1)),
        rule_text(1).replace("[rule]\n", &format!("[rule]\nthreat = {arrays}\n")),
    ];
    for (n, text) in cases.into_iter().enumerate() {
        assert_rejected_at_a_position(text, &format!("deep case {n}"));
    }
}

#[test]
fn a_kql_query_nested_ten_thousand_deep_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let queries = [
        format!("{}a:1{}", "(".repeat(depth), ")".repeat(depth)),
        format!("{}a:1", "not ".repeat(depth)),
        format!("{}b:1{}", "a:{".repeat(depth), "}".repeat(depth)),
        format!("a:{}1{}", "(".repeat(depth), ")".repeat(depth)),
    ];
    for (n, query) in queries.into_iter().enumerate() {
        let text = rule_text(1).replace("event.action: test", &query);
        assert_rejected_at_a_position(text, &format!("deep query {n}"));
    }
}

#[test]
fn binary_junk_and_nul_bytes_are_reported_with_a_position() {
    let mut junk = rule_text(1).into_bytes();
    junk.splice(40..40, [0xff, 0xfe, 0x00, 0x9c]);
    let errors = parse_on_loader_stack(junk).expect_err("not UTF-8");
    assert!(errors[0].contains("not UTF-8"), "{errors:?}");
    let nul = rule_text(1).replace("Test rule", "Test\0rule");
    assert_rejected_at_a_position(nul, "NUL inside a string");
    let nul_outside = rule_text(1).replace("[rule]\n", "[rule]\n\0\0\0\n");
    assert_rejected_at_a_position(nul_outside, "NUL between keys");
    let random: Vec<u8> = (0u32..5000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    parse_on_loader_stack(random).expect_err("random bytes are not a rule");
}

#[test]
fn extreme_numbers_durations_and_date_math_are_errors_or_resolve_to_nothing() {
    let cases = [
        ("risk_score = 21", "risk_score = 99999999999999999999999"),
        ("risk_score = 21", "risk_score = 1e308"),
        ("risk_score = 21", "risk_score = -9223372036854775808"),
        ("interval = \"5m\"", "interval = \"9223372036854775807d\""),
        (
            "interval = \"5m\"",
            "interval = \"99999999999999999999999s\"",
        ),
        ("from = \"now-6m\"", "from = \"now-99999999999999999999M\""),
    ];
    for (from, to) in cases {
        let text = rule_text(1).replace(from, to);
        let outcome = parse_on_loader_stack(text.into_bytes());
        if let Ok(warnings) = outcome {
            panic!("{to} loaded (with {warnings} warnings)");
        }
    }
    let now = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("valid");
    let far = [
        "now-300000y",
        "now+300000y/y",
        "now-4000000M",
        "now-99999999w/w",
        "now-9223372036854775807y",
        "now-9223372036854775807s",
    ];
    for text in far {
        if let Ok(math) = DateMath::parse(text) {
            assert_eq!(math.resolve(now, Rounding::Down), None, "{text}");
            assert_eq!(math.resolve(now, Rounding::Up), None, "{text}");
        }
    }
}

#[test]
fn date_math_with_a_multi_byte_character_where_an_operator_goes_is_an_error_not_a_panic() {
    // Found by `edited_rule_files_never_panic_the_loader`: the operator was cut off as one
    // byte, which panicked on `é` (two bytes) and took `lookout validate` and `run` down.
    for text in ["nowé", "now-6mé", "now/d€1d", "now+1h🙂"] {
        assert!(DateMath::parse(text).is_err(), "{text}");
    }
    let rule = rule_text(1).replace("from = \"now-6m\"", "from = \"nowé\"");
    assert_rejected_at_a_position(rule, "multi-byte operator");
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_loads_each_rule_once_and_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    write(&rules, "sub/r.toml", rule_text(1));
    // Each link doubles the number of paths per level: 2^33 without loop detection.
    std::os::unix::fs::symlink(".", rules.join("sub/self")).expect("symlink");
    std::os::unix::fs::symlink("..", rules.join("sub/parent")).expect("symlink");
    std::os::unix::fs::symlink("sub", rules.join("again")).expect("symlink");
    let report = load(&[rules.clone(), rules.join("sub/self/r.toml")]);
    assert_eq!(report.rules.len(), 1, "{:?}", report.errors);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn dot_dot_paths_and_a_file_named_twice_load_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "rules/a/r.toml", rule_text(1));
    let twisted = dir.path().join("rules/a/../a/./r.toml");
    let report = load(&[
        dir.path().join("rules"),
        dir.path().join("rules/a/../../rules"),
        twisted,
        file,
    ]);
    assert_eq!(report.rules.len(), 1, "{:?}", report.errors);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[cfg(unix)]
#[test]
fn names_with_newlines_or_escape_codes_cannot_inject_output_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    let evil_name = "evil\nrules loaded: 999\n\u{1b}[31mred.toml";
    write(&rules, evil_name, rule_text(1).replace("= 21", "= 500"));
    let evil_key = "[rule]\n\"k\\nproblems: 0 errors\\u001b[2J\" = 1\n";
    write(
        &rules,
        "key.toml",
        rule_text(2).replace("[rule]\n", evil_key),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["validate", "rules"])
        .current_dir(dir.path())
        .output()
        .expect("lookout runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "rules/evil\\nrules loaded: 999\\n\\u{1b}[31mred.toml:14:14: `rule.risk_score` must be between 0 and 100, found 500"
    );
    assert!(
        lines[1].starts_with("rules/key.toml:7:1: warning: unknown key"),
        "{stdout}"
    );
    assert_eq!(lines[2], "rules loaded: 1", "{stdout}");
    let summaries = lines
        .iter()
        .filter(|l| l.starts_with("rules loaded"))
        .count();
    assert_eq!(summaries, 1, "an injected summary line: {stdout}");
}
