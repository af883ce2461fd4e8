//! The broken-rule suite: one file in `testdata/` per problem `lookout validate` must report, each
//! checked for its exact line, column and message. Files are compiled in, so no test does I/O.

use super::load::reject_duplicate_ids;
use super::parse::parse_rule_file;
use super::query_check::file_offset;
use super::*;
use chrono::TimeDelta;
use std::path::Path;

type Parsed = Result<(Rule, Vec<Diagnostic>), Vec<Diagnostic>>;

/// The runnable rule of a parse result (a test failure when the rule is not runnable).
fn runnable(parsed: Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>>) -> Parsed {
    parsed.map(|(loaded, warnings)| match loaded {
        Loaded::Runnable(rule) => (*rule, warnings),
        Loaded::NotRunnable(rule) => panic!("a runnable rule expected: {rule:?}"),
    })
}

/// Parses compiled-in bytes as if read from `testdata/<name>`.
fn parse(name: &str, bytes: &[u8]) -> Parsed {
    runnable(parse_rule_bytes(&Path::new("testdata").join(name), bytes))
}

/// The single error of a broken file, as `line:col: message`.
fn only_error(name: &str, bytes: &[u8]) -> String {
    let errors = parse(name, bytes).expect_err("the file is broken");
    assert_eq!(errors.len(), 1, "exactly one error expected: {errors:?}");
    let Diagnostic {
        line,
        column,
        message,
        path,
    } = &errors[0];
    assert_eq!(path, &Path::new("testdata").join(name));
    format!("{line}:{column}: {message}")
}

macro_rules! testdata {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("testdata/", $name)).as_slice(),
        )
    };
}

#[test]
fn the_valid_file_loads_with_defaults_applied() {
    let (name, bytes) = testdata!("valid.toml");
    let (rule, warnings) = parse(name, bytes).expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(rule.rule_id, "00000000-0000-4000-8000-000000000001");
    assert_eq!(rule.rule_type(), RuleType::Query);
    assert_eq!(rule.kind.query().language(), Language::Kuery);
    assert_eq!(rule.kind.query().text(), "event.action: test\n");
    assert_eq!(rule.schedule.interval, TimeDelta::minutes(5));
    assert_eq!(rule.schedule.to.as_str(), "now");
    assert_eq!(rule.max_signals, DEFAULT_MAX_SIGNALS);
    assert_eq!(rule.meta.maturity, Maturity::Production);
    assert!(rule.meta.enabled);
    assert_eq!(rule.raw["rule"]["risk_score"], 21);
    assert_eq!(rule.raw["metadata"]["creation_date"], "2024/01/01");
}

#[test]
fn toml_syntax_errors_point_where_parsing_failed() {
    let (name, bytes) = testdata!("syntax_error.toml");
    assert_eq!(
        only_error(name, bytes),
        "13:18: TOML syntax error: invalid basic string, expected `\"`"
    );
}

#[test]
fn a_missing_required_key_is_reported_at_its_table_header() {
    let (name, bytes) = testdata!("missing_key.toml");
    assert_eq!(
        only_error(name, bytes),
        "6:1: missing required key `rule.name`"
    );
}

#[test]
fn a_wrong_value_type_is_reported_at_the_value() {
    let (name, bytes) = testdata!("wrong_type.toml");
    assert_eq!(
        only_error(name, bytes),
        "14:14: `rule.risk_score` must be an integer, found string"
    );
}

#[test]
fn an_unknown_rule_type_is_an_error() {
    let (name, bytes) = testdata!("unknown_type.toml");
    assert_eq!(
        only_error(name, bytes),
        "17:8: unknown rule type \"sigma\" (use query, eql, esql, new_terms, threshold, \
         threat_match or machine_learning)"
    );
}

#[test]
fn a_bad_duration_is_an_error() {
    let (name, bytes) = testdata!("bad_duration.toml");
    assert_eq!(
        only_error(name, bytes),
        "11:12: bad `rule.interval`: duration \"5 minutes\" has unknown unit \" minutes\" \
         (use s, m, h or d)"
    );
}

#[test]
fn bad_date_math_is_an_error() {
    let (name, bytes) = testdata!("bad_date_math.toml");
    assert_eq!(
        only_error(name, bytes),
        "9:8: bad `rule.from`: date math \"now-6x\" has unknown unit 'x' \
         (use y, M, w, d, h, m or s)"
    );
}

#[test]
fn a_risk_score_above_100_is_an_error() {
    let (name, bytes) = testdata!("risk_out_of_range.toml");
    assert_eq!(
        only_error(name, bytes),
        "14:14: `rule.risk_score` must be between 0 and 100, found 150"
    );
}

#[test]
fn an_unknown_severity_is_an_error() {
    let (name, bytes) = testdata!("unknown_severity.toml");
    assert_eq!(
        only_error(name, bytes),
        "16:12: unknown severity \"urgent\" (use low, medium, high or critical)"
    );
}

#[test]
fn from_later_than_to_is_an_error() {
    let (name, bytes) = testdata!("from_after_to.toml");
    assert_eq!(
        only_error(name, bytes),
        "9:8: `rule.from` (now) is later than `rule.to` (now-1h)"
    );
}

#[test]
fn an_empty_index_list_is_an_error_for_a_query_rule() {
    let (name, bytes) = testdata!("empty_index.toml");
    assert_eq!(
        only_error(name, bytes),
        "10:9: `rule.index` is empty: give at least one index pattern"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_an_error_at_the_first_bad_byte() {
    let (name, bytes) = testdata!("not_utf8.toml");
    assert_eq!(
        only_error(name, bytes),
        "8:28: file is not UTF-8 (invalid byte 0xff)"
    );
}

#[test]
fn an_unknown_key_is_a_warning_and_the_rule_still_loads() {
    let (name, bytes) = testdata!("unknown_key.toml");
    let (rule, warnings) = parse(name, bytes).expect("loads");
    assert_eq!(rule.raw["rule"]["colour"], "blue");
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["testdata/unknown_key.toml:17:1: unknown key `rule.colour`"]
    );
}

#[test]
fn a_misspelled_key_is_a_warning_that_names_the_key_it_likely_misspells() {
    let (name, bytes) = testdata!("unknown_key.toml");
    let text = String::from_utf8_lossy(bytes).replace("colour", "timestamp_overide");
    let (rule, warnings) = parse(name, text.as_bytes()).expect("loads");
    assert_eq!(rule.search.timestamp.primary(), "@timestamp");
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "testdata/unknown_key.toml:17:1: unknown key `rule.timestamp_overide` \
          (did you mean `rule.timestamp_override`?)"
        ]
    );
}

#[test]
fn a_rule_naming_a_list_that_is_not_loaded_is_an_error_naming_the_rule_and_the_list() {
    let (name, bytes) = testdata!("exceptions_list.toml");
    assert_eq!(
        only_error(name, bytes),
        "23:1: rule \"00000000-0000-4000-8000-000000000001\" cannot run: exception list \
         `endpoint_list` is not loaded (no exception folder is configured); a rule never runs \
         without its exceptions (docs/exceptions.md)"
    );
}

#[test]
fn a_rule_naming_a_loaded_list_searches_without_its_excepted_events() {
    let (_, bytes) = testdata!("exceptions_list.toml");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let list = "{\"list_id\": \"endpoint_list\", \"type\": \"endpoint\", \"namespace_type\": \"agnostic\"}\n\
        {\"list_id\": \"endpoint_list\", \"type\": \"simple\", \"entries\": [{\"field\": \"host.name\", \"operator\": \"included\", \"type\": \"match\", \"value\": \"h1\"}]}\n";
    std::fs::write(folder.path().join("endpoint.ndjson"), list).expect("written");
    let catalog = crate::exceptions::Catalog::load(&[folder.path().to_path_buf()]);
    let path = Path::new("testdata/exceptions_list.toml");
    let (rule, warnings) = runnable(parse_rule_bytes_with(path, bytes, &catalog)).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(rule.meta.details.exceptions_list.len(), 1);
    let lists = rule.search.exceptions.lists();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].list_id, "endpoint_list");
    assert_eq!(lists[0].items.len(), 1);
}

#[test]
fn a_duplicate_rule_id_names_both_files_and_keeps_the_first() {
    let (first_name, first) = testdata!("valid.toml");
    let (second_name, second) = testdata!("duplicate_rule_id.toml");
    let mut loaded = Vec::new();
    for (name, bytes) in [(first_name, first), (second_name, second)] {
        loaded.push(Loaded::Runnable(Box::new(
            parse(name, bytes).expect("valid").0,
        )));
    }
    let mut errors = Vec::new();
    reject_duplicate_ids(&mut loaded, &mut errors);
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].path(), Path::new("testdata/valid.toml"));
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["testdata/duplicate_rule_id.toml:15:11: duplicate rule_id \
          \"00000000-0000-4000-8000-000000000001\", also in testdata/valid.toml:15:11"]
    );
}

#[test]
fn a_kql_error_position_maps_to_the_rule_file() {
    let (_, bytes) = testdata!("valid.toml");
    let text = std::str::from_utf8(bytes).expect("utf-8");
    let document = toml::de::DeTable::parse(text).expect("valid toml");
    let rule = document.get_ref()["rule"]
        .get_ref()
        .as_table()
        .expect("table");
    let query = &rule["query"];
    // Pretend the KQL parser failed at the query's line 1, column 15 (`test`).
    let offset = file_offset(text, query.span(), 1, 15);
    let position = diagnostic::line_column(text, offset);
    assert_eq!(position, (20, 15));
    assert_eq!(&text[offset..offset + 4], "test");
}

/// The valid test rule with one line replaced, parsed from text.
fn edited(old: &str, new: &str) -> Parsed {
    let text = include_str!("testdata/valid.toml");
    assert!(text.contains(old), "{old:?} is in valid.toml");
    runnable(parse_rule_file(
        Path::new("t.toml"),
        &text.replacen(old, new, 1),
    ))
}

fn messages(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().map(ToString::to_string).collect()
}

/// The valid test rule turned into another type, with `tables` appended at the end.
fn retyped(rule_type: &str, tables: &str) -> Parsed {
    let text = include_str!("testdata/valid.toml").replacen(
        "type = \"query\"",
        &format!("type = \"{rule_type}\""),
        1,
    );
    runnable(parse_rule_file(Path::new("t.toml"), &(text + tables)))
}

#[test]
fn threshold_rules_get_typed_parameters() {
    let tables = "[rule.threshold]\nfield = \"host.id\"\nvalue = 25\n\
                  [[rule.threshold.cardinality]]\nfield = \"user.name\"\nvalue = 3\n";
    let (rule, _) = retyped("threshold", tables).expect("valid");
    let Kind::Threshold(_, params) = rule.kind else {
        panic!("threshold parameters expected");
    };
    assert_eq!(params.field, ["host.id"]);
    assert_eq!(params.value, 25);
    assert_eq!(params.cardinality[0].field, "user.name");
}

#[test]
fn a_threshold_rule_without_its_table_names_the_missing_key() {
    let errors = edited("type = \"query\"", "type = \"threshold\"").expect_err("broken");
    assert_eq!(
        messages(&errors),
        ["t.toml:6:1: missing required key `rule.threshold`"]
    );
}

#[test]
fn a_bad_new_terms_history_window_is_reported_at_its_value() {
    let tables = "[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"host.id\"]\n\
                  [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\n\
                  value = \"now-14q\"\n";
    let errors = retyped("new_terms", tables).expect_err("broken");
    assert_eq!(
        messages(&errors),
        [
            "t.toml:27:9: bad `rule.new_terms.history_window_start.value`: date math \"now-14q\" \
          has unknown unit 'q' (use y, M, w, d, h, m or s)"
        ]
    );
    let fixed = tables.replace("14q", "14d");
    let (rule, _) = retyped("new_terms", &fixed).expect("valid");
    let Kind::NewTerms(_, params) = rule.kind else {
        panic!("new_terms parameters expected");
    };
    assert_eq!(params.fields, ["host.id"]);
    assert_eq!(params.history_window_start.as_str(), "now-14d");
}

#[test]
fn a_language_the_rule_type_cannot_use_is_an_error() {
    let errors = edited("type = \"query\"", "type = \"eql\"").expect_err("broken");
    assert_eq!(
        messages(&errors),
        ["t.toml:12:12: `rule.language` must be \"eql\" for a eql rule, found \"kuery\""]
    );
}

#[test]
fn machine_learning_rules_need_no_query_or_index_and_check_their_threshold() {
    let ml =
        "type = \"machine_learning\"\nanomaly_threshold = 101\nmachine_learning_job_id = \"job\"";
    let text = include_str!("testdata/valid.toml")
        .replace("language = \"kuery\"\n", "")
        .replace("index = [\"logs-*\"]\n", "")
        .replace("type = \"query\"", ml);
    let errors = parse_rule_file(Path::new("t.toml"), &text).expect_err("broken");
    assert_eq!(
        messages(&errors),
        ["t.toml:16:21: `rule.anomaly_threshold` must be between 0 and 100, found 101"]
    );
    let fixed = text.replace("= 101", "= 75");
    let (loaded, warnings) = parse_rule_file(Path::new("t.toml"), &fixed).expect("valid");
    let Loaded::NotRunnable(rule) = loaded else {
        panic!("machine-learning rules do not run: {loaded:?}");
    };
    assert_eq!(rule.language, Language::None);
    assert_eq!(rule.rule_type, RuleType::MachineLearning);
    assert_eq!(messages(&warnings), Vec::<String>::new());
}

#[test]
fn a_key_of_another_rule_type_is_a_warning() {
    let (_, warnings) = edited(
        "severity = \"low\"",
        "severity = \"low\"\nthreat_query = \"x: y\"",
    )
    .expect("loads");
    assert_eq!(
        messages(&warnings),
        [
            "t.toml:17:1: `rule.threat_query` applies to threat_match rules only; it is ignored for a query rule"
        ]
    );
}

#[test]
fn deprecated_rules_load_and_say_so() {
    let (rule, _) =
        edited("maturity = \"production\"", "maturity = \"deprecated\"").expect("loads");
    assert!(rule.is_deprecated());
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_pass() {
    let text = include_str!("testdata/valid.toml")
        .replace("name = \"Test rule\"\n", "")
        .replace("severity = \"low\"", "severity = \"urgent\"\nnote = 3");
    let errors = runnable(parse_rule_file(Path::new("t.toml"), &text)).expect_err("broken");
    assert_eq!(
        messages(&errors),
        [
            "t.toml:6:1: missing required key `rule.name`",
            "t.toml:15:12: unknown severity \"urgent\" (use low, medium, high or critical)",
            "t.toml:16:8: `rule.note` must be a string, found integer",
        ]
    );
}

#[test]
fn a_window_fixed_in_time_is_an_error() {
    let errors = edited("from = \"now-6m\"", "from = \"2024-01-01\"").expect_err("broken");
    assert_eq!(
        messages(&errors),
        ["t.toml:9:8: `rule.from` must be relative to now, as in \"now-6m\""]
    );
}

proptest::proptest! {
    #[test]
    fn broken_input_never_panics(cut in 0usize..400, insert in "[\\[\\]'\"=\\\\\na-z0-9 .,{}]{0,12}") {
        let text = include_str!("testdata/valid.toml");
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mutated = format!("{}{insert}{}", &text[..cut], &text[cut..]);
        let _ = parse_rule_file(Path::new("t.toml"), &mutated);
    }

    #[test]
    fn any_query_position_maps_inside_the_file(line in 0usize..6, column in 0usize..40) {
        let text = "query = \"\"\"\na \\u00e9\\\n  b\\\"c\n\"\"\"\n";
        let offset = file_offset(text, 8..text.len() - 1, line, column);
        proptest::prop_assert!(offset <= text.len() && text.is_char_boundary(offset));
    }
}

#[test]
fn bad_kql_is_reported_at_its_position_in_the_file() {
    let (name, bytes) = testdata!("bad_kql.toml");
    assert_eq!(
        only_error(name, bytes),
        "22:1: bad KQL in `rule.query`: unbalanced parenthesis opened at 21:17"
    );
}

#[test]
fn a_kuery_rule_keeps_its_parsed_query() {
    let (name, bytes) = testdata!("valid.toml");
    let text = std::str::from_utf8(bytes).expect("utf-8 test file");
    let (rule, _) = runnable(parse_rule_file(Path::new(name), text)).expect("valid rule");
    assert!(
        matches!(rule.kind.query(), Query::Kql { .. }),
        "the kuery query is parsed once, at load time"
    );
}

#[test]
fn rules_of_a_type_lookout_cannot_run_load_as_a_summary_with_the_reason() {
    let esql = include_str!("testdata/valid.toml")
        .replacen("type = \"query\"", "type = \"esql\"", 1)
        .replacen("language = \"kuery\"", "language = \"esql\"", 1)
        .replacen("event.action: test", "from logs-* | limit 1", 1);
    let (loaded, _) = parse_rule_file(Path::new("t.toml"), &esql).expect("valid");
    let Loaded::NotRunnable(rule) = loaded else {
        panic!("esql rules do not run: {loaded:?}");
    };
    assert_eq!(
        (rule.rule_type, rule.language),
        (RuleType::Esql, Language::Esql)
    );
    assert!(rule.reason.contains("esql"), "{}", rule.reason);
}

#[test]
fn an_eql_rule_is_runnable_with_its_parsed_query() {
    let eql = include_str!("testdata/valid.toml")
        .replacen("type = \"query\"", "type = \"eql\"", 1)
        .replacen("language = \"kuery\"", "language = \"eql\"", 1)
        .replacen(
            "event.action: test",
            "sequence by user.name [iam where true] [iam where true]",
            1,
        );
    let (loaded, _) = parse_rule_file(Path::new("t.toml"), &eql).expect("valid");
    let Loaded::Runnable(rule) = loaded else {
        panic!("eql rules run: {loaded:?}");
    };
    assert_eq!(rule.rule_type(), RuleType::Eql);
    let Kind::Eql(Query::Eql { tree, .. }) = &rule.kind else {
        panic!("an eql kind with its tree: {:?}", rule.kind);
    };
    assert!(matches!(tree.body, crate::eql::Body::Sequence(_)));
}

#[test]
fn an_indicator_match_rule_keeps_its_parsed_threat_query() {
    let tables = "threat_index = [\"ti-*\"]\nthreat_query = \"threat.indicator.type: ipv4-addr\"\n\
                  [[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\n\
                  field = \"source.ip\"\ntype = \"mapping\"\nvalue = \"threat.indicator.ip\"\n";
    let (rule, _) = retyped("threat_match", tables).expect("valid");
    let Kind::ThreatMatch(_, params) = rule.kind else {
        panic!("indicator match parameters expected");
    };
    assert!(matches!(params.threat_query, Query::Kql { .. }));
    assert_eq!(
        params.threat_query.text(),
        "threat.indicator.type: ipv4-addr"
    );
}

#[test]
fn a_rule_id_that_cannot_be_a_document_id_is_an_error_at_its_value() {
    let line = include_str!("testdata/valid.toml")
        .lines()
        .find(|l| l.starts_with("rule_id = "))
        .expect("valid.toml has a rule_id");
    for (bad, reason) in [
        ("", "it is empty"),
        (
            "..",
            "`.` and `..` cannot be a document id or a path segment",
        ),
        (
            ".",
            "`.` and `..` cannot be a document id or a path segment",
        ),
        ("a/b", "it holds a control character, `/` or `\\`"),
    ] {
        let errors = edited(line, &format!("rule_id = {bad:?}")).expect_err("refused");
        let found = messages(&errors);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("t.toml:")
                && found[0].contains(":15:11: bad `rule.rule_id`")
                && found[0].ends_with(reason),
            "{found:?}"
        );
    }
}

#[test]
fn empty_and_dot_index_patterns_are_errors_at_each_entry() {
    let line = include_str!("testdata/valid.toml")
        .lines()
        .find(|l| l.starts_with("index = "))
        .expect("valid.toml has an index");
    let errors = edited(line, r#"index = ["", ".", "..", "logs-*"]"#).expect_err("refused");
    let found = messages(&errors);
    let at = |column: usize, entry: &str| {
        found.iter().any(|m| {
            m.contains(&format!(
                ":10:{column}: bad entry {entry:?} in `rule.index`"
            ))
        })
    };
    assert!(at(10, "") && at(14, ".") && at(19, ".."), "{found:?}");
    assert_eq!(found.len(), 3, "{found:?}");
}
