//! Unit tests of the pure parts of the rule types: requests, answers, history, ids, alerts.

use super::values::values_of;
use super::{new_terms, threat_match, threshold};
use crate::alert::{AlertContext, framed_id};
use crate::es::Hit;
use crate::rule::{Kind, Loaded, Rule};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

const HEADER: &str = r#"[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["Elastic"]
description = "A rule for tests"
index = ["logs-aws.cloudtrail-*"]
language = "kuery"
license = "Elastic License v2"
name = "Typed rule"
risk_score = 47
rule_id = "typed-rule"
severity = "medium"
query = "event.dataset: aws.cloudtrail"
"#;

fn rule(type_part: &str) -> Rule {
    let text = format!("{HEADER}{type_part}");
    let path = std::path::PathBuf::from("rules/typed.toml");
    match crate::rule::parse_rule_bytes(&path, text.as_bytes()) {
        Ok((Loaded::Runnable(rule), _)) => *rule,
        other => panic!("test rule does not load as a runnable rule: {other:?}"),
    }
}

fn threshold_rule(fields: &str, value: u64, cardinality: &str) -> Rule {
    rule(&format!(
        "type = \"threshold\"\n[rule.threshold]\nfield = [{fields}]\nvalue = {value}\n{cardinality}"
    ))
}

fn new_terms_rule(fields: &str) -> Rule {
    rule(&format!(
        "type = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [{fields}]\n\
         [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-7d\"\n"
    ))
}

fn threat_rule(mappings: &str) -> Rule {
    rule(&format!(
        "type = \"threat_match\"\nthreat_index = [\"ti\"]\nthreat_query = \"threat.indicator.type: ipv4-addr\"\n\
         threat_indicator_path = \"threat.indicator\"\n{mappings}"
    ))
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 12, minute, 0).unwrap()
}

fn context(rule: &Rule) -> AlertContext<'_> {
    AlertContext {
        rule,
        namespace: "default",
        execution_uuid: "exec",
        created_at: at(30),
        notify: &[],
        intended_at: None,
    }
}

fn hit(index: &str, id: &str, source: Value) -> Hit {
    Hit {
        index: index.into(),
        id: id.into(),
        source,
        sort: Vec::new(),
    }
}

fn threshold_params(rule: &Rule) -> &crate::rule::Threshold {
    match &rule.kind {
        Kind::Threshold(_, params) => params,
        other => panic!("not threshold: {other:?}"),
    }
}

#[test]
fn values_are_found_nested_dotted_and_inside_arrays() {
    let doc = json!({"a": {"b": [1, 2]}, "a.b": 3, "c": [{"d": "x"}, {"d": ["y", null]}]});
    let found: Vec<Value> = values_of(&doc, "a.b").into_iter().cloned().collect();
    assert_eq!(found, vec![json!(3), json!(1), json!(2)]);
    let found: Vec<Value> = values_of(&doc, "c.d").into_iter().cloned().collect();
    assert_eq!(found, vec![json!("x"), json!("y")]);
    assert!(values_of(&doc, "missing").is_empty());
}

#[test]
fn framed_ids_differ_when_parts_shift() {
    assert_ne!(framed_id(&["ab", "c"]), framed_id(&["a", "bc"]));
    assert_eq!(framed_id(&["a"]).len(), 64);
}

#[test]
fn threshold_request_groups_by_every_field_with_stats() {
    let rule = threshold_rule("\"source.ip\", \"user.name\"", 5, "");
    let body = threshold::request(
        threshold_params(&rule),
        &json!({"match_all": {}}),
        "@timestamp",
        None,
    );
    let composite = &body["aggs"]["groups"]["composite"];
    assert_eq!(
        composite["sources"][0]["source.ip"]["terms"]["field"],
        "source.ip"
    );
    assert_eq!(
        composite["sources"][1]["user.name"]["terms"]["field"],
        "user.name"
    );
    assert_eq!(composite["size"], threshold::THRESHOLD_PAGE_SIZE);
    assert_eq!(
        body["aggs"]["groups"]["aggs"]["max_time"]["max"]["field"],
        "@timestamp"
    );
    assert!(body["aggs"]["groups"]["aggs"].get("distinct").is_none());
    assert_eq!(body["size"], 0);
}

#[test]
fn threshold_groups_below_count_or_cardinality_are_dropped() {
    let rule = threshold_rule(
        "\"source.ip\"",
        3,
        "[[rule.threshold.cardinality]]\nfield = \"user.name\"\nvalue = 2\n",
    );
    let params = threshold_params(&rule);
    let bucket = |ip: &str, count: u64, distinct: u64| {
        json!({"key": {"source.ip": ip}, "doc_count": count, "distinct": {"value": distinct},
               "min_time": {"value": 1.7680464e12}, "max_time": {"value": 1.7680467e12}})
    };
    let answer = json!({"aggregations": {"groups": {"after_key": {"source.ip": "c"}, "buckets": [
        bucket("a", 3, 2), bucket("b", 2, 2), bucket("c", 9, 1)]}}});
    let (groups, after) = threshold::read_answer(params, &answer);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].terms, vec![("source.ip".to_string(), json!("a"))]);
    assert_eq!(groups[0].count, 3);
    assert_eq!(groups[0].cardinality, Some(("user.name".to_string(), 2)));
    assert_eq!(
        groups[0].from,
        DateTime::from_timestamp_millis(1_768_046_400_000)
    );
    assert_eq!(after, None, "a page shorter than the page size is the last");
}

#[test]
fn threshold_without_fields_counts_the_whole_result() {
    let rule = threshold_rule("", 10, "");
    let params = threshold_params(&rule);
    let body = threshold::request(params, &json!({"match_all": {}}), "@timestamp", None);
    assert!(body["aggs"].get("groups").is_none());
    assert_eq!(body["track_total_hits"], true);
    let answer = json!({"hits": {"total": {"value": 12}}, "aggregations": {
        "min_time": {"value": 1.7680464e12}, "max_time": {"value": 1.7680467e12}}});
    let (groups, _) = threshold::read_answer(params, &answer);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].count, 12);
    let short = json!({"hits": {"total": {"value": 9}}, "aggregations": {}});
    assert!(threshold::read_answer(params, &short).0.is_empty());
}

#[test]
fn threshold_history_keeps_the_latest_time_per_term_set_and_excludes_counted_events() {
    let alert = |ip: &str, time: &str| {
        json!({"kibana.alert.original_time": time, "kibana.alert.threshold_result": {
            "terms": [{"field": "source.ip", "value": ip}], "count": 5}})
    };
    let history = threshold::read_history(&[
        alert("a", "2026-01-10T12:01:00.000Z"),
        alert("a", "2026-01-10T12:03:00.000Z"),
        alert("b", "2026-01-10T12:02:00.000Z"),
        json!({"unrelated": true}),
    ]);
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].last, at(3));
    let exclusions = threshold::history_exclusions(&history, "@timestamp");
    assert_eq!(
        exclusions[0],
        json!({"bool": {"filter": [
            {"range": {"@timestamp": {"lte": "2026-01-10T12:03:00.000Z"}}},
            {"term": {"source.ip": "a"}}]}})
    );
}

#[test]
fn threshold_alert_has_threshold_result_and_a_stable_id() {
    let rule = threshold_rule("\"source.ip\"", 2, "");
    let group = threshold::ThresholdGroup {
        terms: vec![("source.ip".into(), json!("198.51.100.7"))],
        count: 4,
        cardinality: None,
        from: Some(at(1)),
        to: Some(at(4)),
    };
    let alert = threshold::build(&group, context(&rule), at(0));
    let again = threshold::build(&group, context(&rule), at(0));
    assert_eq!(alert.id, again.id);
    let result = &alert.document["kibana.alert.threshold_result"];
    assert_eq!(result["count"], 4);
    assert_eq!(result["from"], "2026-01-10T12:01:00.000Z");
    assert_eq!(
        result["terms"],
        json!([{"field": "source.ip", "value": "198.51.100.7"}])
    );
    assert_eq!(
        alert.document["kibana.alert.original_time"],
        "2026-01-10T12:04:00.000Z"
    );
    assert_eq!(alert.document["kibana.alert.rule.type"], "threshold");
    assert_eq!(
        alert.document["kibana.alert.reason"],
        "event with source 198.51.100.7 created medium alert Typed rule.",
        "Kibana's template over the group's synthetic event"
    );
    let later = threshold::ThresholdGroup {
        to: Some(at(9)),
        ..group
    };
    assert_ne!(threshold::build(&later, context(&rule), at(0)).id, alert.id);
}

#[test]
fn new_terms_window_request_pages_with_first_events() {
    let fields = vec!["user.name".to_string(), "source.ip".to_string()];
    let after = json!({"user.name": "a", "source.ip": "b"});
    let body = new_terms::window_request(
        &fields,
        &json!({"match_all": {}}),
        "@timestamp",
        Some(&after),
    );
    let aggregation = &body["aggs"]["terms"];
    assert_eq!(aggregation["composite"]["after"], after);
    assert_eq!(
        aggregation["composite"]["size"],
        new_terms::NEW_TERMS_PAGE_SIZE
    );
    assert_eq!(aggregation["aggs"]["first"]["top_hits"]["size"], 1);
}

fn candidate(values: Vec<Value>, id: &str) -> new_terms::Candidate {
    new_terms::Candidate {
        values,
        first: hit("logs", id, json!({"@timestamp": "2026-01-10T12:01:00Z"})),
        events: 1,
    }
}

#[test]
fn new_terms_history_filter_keeps_only_candidate_combinations() {
    let one = vec!["user.name".to_string()];
    let body = new_terms::history_request(
        &one,
        &json!({"match_all": {}}),
        &[candidate(vec![json!("alice")], "1")],
        None,
    );
    assert_eq!(
        body["query"]["bool"]["filter"][1],
        json!({"terms": {"user.name": ["alice"]}})
    );
    let two = vec!["user.name".to_string(), "source.ip".to_string()];
    let pair = candidate(vec![json!("alice"), json!("10.0.0.1")], "1");
    let body = new_terms::history_request(&two, &json!({"match_all": {}}), &[pair], None);
    assert_eq!(
        body["query"]["bool"]["filter"][1]["bool"]["should"][0],
        json!({"bool": {"filter": [{"term": {"user.name": "alice"}}, {"term": {"source.ip": "10.0.0.1"}}]}})
    );
}

#[test]
fn only_combinations_absent_from_history_are_new() {
    let fields = vec!["user.name".to_string(), "source.ip".to_string()];
    let answer = json!({"aggregations": {"terms": {"buckets": [
        {"key": {"user.name": "alice", "source.ip": "10.0.0.1"}, "doc_count": 3},
        {"key": {"user.name": "bob", "source.ip": "10.0.0.9"}, "doc_count": 1}]}}});
    let (seen, after) = new_terms::read_history(&fields, &answer);
    assert_eq!(after, None);
    let candidates = vec![
        candidate(vec![json!("alice"), json!("10.0.0.1")], "1"),
        candidate(vec![json!("alice"), json!("10.0.0.9")], "2"),
        candidate(vec![json!("bob"), json!("10.0.0.9")], "3"),
    ];
    let fresh = new_terms::new_terms(candidates, &seen);
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].first.id, "2");
}

#[test]
fn new_terms_alert_carries_the_values_and_its_id_depends_on_them() {
    let rule = new_terms_rule("\"user.name\"");
    let alice = candidate(vec![json!("alice")], "1");
    let bob = candidate(vec![json!("bob")], "1");
    let alert = new_terms::build(&alice, context(&rule));
    assert_eq!(alert.document["kibana.alert.new_terms"], json!(["alice"]));
    // Kibana's common template over the first event (which has no reason fields here).
    assert_eq!(
        alert.document["kibana.alert.reason"],
        "event created medium alert Typed rule."
    );
    assert_eq!(alert.document["kibana.alert.uuid"], json!(alert.id));
    assert_eq!(alert.id, new_terms::build(&alice, context(&rule)).id);
    assert_ne!(
        alert.id,
        new_terms::build(&bob, context(&rule)).id,
        "one event, two new values"
    );
}

#[test]
fn window_answer_becomes_candidates_with_their_first_event() {
    let fields = vec!["user.name".to_string()];
    let answer = json!({"aggregations": {"terms": {"after_key": {"user.name": "alice"}, "buckets": [
        {"key": {"user.name": "alice"}, "doc_count": 2, "first": {"hits": {"hits": [
            {"_index": "logs", "_id": "e1", "_source": {"user": {"name": ["alice", "bob"]}}}]}}}]}}});
    let (candidates, after) = new_terms::read_window(&fields, &answer);
    assert_eq!(after, None);
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].values, vec![json!("alice")]);
    assert_eq!(candidates[0].first.id, "e1");
}

const IP_MAPPING: &str = "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"source.ip\"\n\
    type = \"mapping\"\nvalue = \"threat.indicator.ip\"\n";
const PAIR_MAPPING: &str = "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"user.name\"\n\
    type = \"mapping\"\nvalue = \"threat.indicator.user\"\n[[rule.threat_mapping.entries]]\n\
    field = \"cloud.region\"\ntype = \"mapping\"\nvalue = \"threat.indicator.region\"\n";

fn threat_params(rule: &Rule) -> &crate::rule::ThreatMatch {
    match &rule.kind {
        Kind::ThreatMatch(_, params) => params,
        other => panic!("not threat match: {other:?}"),
    }
}

fn indicator(id: &str, indicator: Value) -> Hit {
    hit(
        "ti",
        id,
        json!({"threat": {"indicator": indicator, "feed": {"name": "feed-1"}}}),
    )
}

#[test]
fn event_clause_groups_single_entry_mappings_into_one_terms_query() {
    let rule = threat_rule(&format!("{IP_MAPPING}{PAIR_MAPPING}"));
    let indicators = vec![
        indicator(
            "i1",
            json!({"ip": "198.51.100.7", "user": "mallory", "region": "eu-west-1"}),
        ),
        indicator("i2", json!({"ip": ["203.0.113.5", "198.51.100.7"]})),
    ];
    let clause = threat_match::event_clause(threat_params(&rule), &indicators, None).unwrap();
    let should = clause["bool"]["should"].as_array().unwrap();
    assert_eq!(
        should[0],
        json!({"terms": {"source.ip": ["198.51.100.7", "203.0.113.5"]}})
    );
    assert_eq!(should.len(), 2, "i2 lacks the fields of the pair mapping");
    assert_eq!(
        should[1],
        json!({"bool": {"filter": [{"terms": {"user.name": ["mallory"]}}, {"terms": {"cloud.region": ["eu-west-1"]}}]}})
    );
    assert!(threat_match::event_clause(threat_params(&rule), &[], None).is_none());
}

#[test]
fn enrichments_name_the_indicator_the_field_and_the_matched_value() {
    let rule = threat_rule(&format!("{IP_MAPPING}{PAIR_MAPPING}"));
    let params = threat_params(&rule);
    let indicators = vec![
        indicator(
            "i1",
            json!({"ip": "198.51.100.7", "user": "mallory", "region": "us-east-1"}),
        ),
        indicator("i2", json!({"ip": "203.0.113.5"})),
    ];
    let event = json!({"source": {"ip": "198.51.100.7"}, "user": {"name": "mallory"}, "cloud": {"region": "eu-west-1"}});
    let found = threat_match::enrichments(params, &event, &indicators);
    assert_eq!(
        found.len(),
        1,
        "the pair mapping needs both entries: {found:?}"
    );
    assert_eq!(
        found[0]["matched"],
        json!({"atomic": "198.51.100.7", "field": "source.ip", "id": "i1", "index": "ti", "type": "indicator_match_rule"})
    );
    assert_eq!(found[0]["indicator"]["ip"], "198.51.100.7");
    assert_eq!(found[0]["feed"]["name"], "feed-1");
    let both = json!({"source": {"ip": "10.0.0.1"}, "user": {"name": "mallory"}, "cloud": {"region": "us-east-1"}});
    let found = threat_match::enrichments(params, &both, &indicators);
    let fields: Vec<&Value> = found.iter().map(|e| &e["matched"]["field"]).collect();
    assert_eq!(fields, vec!["user.name", "cloud.region"]);
}

#[test]
fn enrichments_merge_without_repeats_and_stop_at_the_limit() {
    let mut list = vec![json!({"n": 0})];
    threat_match::merge_enrichments(&mut list, vec![json!({"n": 0}), json!({"n": 1})]);
    assert_eq!(list.len(), 2);
    let many = (2..500).map(|n| json!({"n": n})).collect();
    threat_match::merge_enrichments(&mut list, many);
    assert_eq!(list.len(), threat_match::THREAT_MAX_ENRICHMENTS);
}

#[test]
fn threat_alert_keeps_the_query_rule_id_and_adds_enrichments() {
    let rule = threat_rule(IP_MAPPING);
    let event = hit(
        "logs",
        "e1",
        json!({"source": {"ip": "198.51.100.7"}, "threat": {"framework": "x"}}),
    );
    let enrichments = vec![json!({"matched": {"atomic": "198.51.100.7", "field": "source.ip"}})];
    let alert = threat_match::build(&event, &enrichments, context(&rule));
    assert_eq!(
        alert.id,
        crate::alert::alert_id("logs", "e1", "default", "typed-rule")
    );
    assert_eq!(alert.document["threat"]["enrichments"], json!(enrichments));
    assert_eq!(alert.document["threat"]["framework"], "x");
    assert_eq!(
        alert.document["kibana.alert.reason"],
        "event with source 198.51.100.7 created medium alert Typed rule."
    );
}

#[test]
fn threat_alert_adds_its_enrichments_after_those_the_event_already_has() {
    let rule = threat_rule(IP_MAPPING);
    let enrichments = vec![json!({"matched": {"atomic": "198.51.100.7", "field": "source.ip"}})];
    let earlier = json!({"matched": {"atomic": "x", "field": "host.name"}});
    for (existing, expected) in [
        (json!([earlier]), json!([earlier, enrichments[0]])),
        (earlier.clone(), json!([earlier, enrichments[0]])),
    ] {
        let source = json!({"source": {"ip": "198.51.100.7"}, "threat": {"enrichments": existing}});
        let alert = threat_match::build(&hit("logs", "e1", source), &enrichments, context(&rule));
        assert_eq!(alert.document["threat"]["enrichments"], expected);
    }
}

#[test]
fn a_threat_query_syntax_error_is_a_load_error_at_its_position() {
    let text = format!(
        "{HEADER}type = \"threat_match\"\nthreat_index = [\"ti\"]\n\
         threat_query = \"threat.indicator.ip: (\"\n{IP_MAPPING}"
    );
    let path = std::path::PathBuf::from("rules/typed.toml");
    let errors = crate::rule::parse_rule_bytes(&path, text.as_bytes()).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.starts_with("rules/typed.toml:") && text.contains("bad KQL in `rule.threat_query`"),
        "{text}"
    );
}

#[test]
fn the_three_types_load_as_their_kinds() {
    let kinds: Vec<&str> = [
        threshold_rule("\"source.ip\"", 2, ""),
        new_terms_rule("\"user.name\""),
        threat_rule(IP_MAPPING),
        rule("type = \"query\"\n"),
    ]
    .iter()
    .map(|rule| rule.rule_type().as_str())
    .collect();
    assert_eq!(kinds, ["threshold", "new_terms", "threat_match", "query"]);
}

#[test]
fn indicator_values_an_event_field_cannot_hold_are_left_out() {
    let rule = threat_rule(IP_MAPPING);
    let mut fields = crate::kql::FieldMap::default();
    fields.insert("source.ip", &["ip"], None);
    let indicators = vec![
        indicator(
            "i1",
            json!({"ip": ["evil.example", "198.51.100.7", "10.0.0.0/8"]}),
        ),
        indicator("i2", json!({"ip": "not an address"})),
    ];
    let clause =
        threat_match::event_clause(threat_params(&rule), &indicators, Some(&fields)).unwrap();
    assert_eq!(
        clause["bool"]["should"][0],
        json!({"terms": {"source.ip": ["10.0.0.0/8", "198.51.100.7"]}})
    );
    let bad = vec![indicator("i2", json!({"ip": "not an address"}))];
    assert!(threat_match::event_clause(threat_params(&rule), &bad, Some(&fields)).is_none());
    assert!(threat_match::fits(["long"].into_iter(), "443"));
    assert!(!threat_match::fits(["long"].into_iter(), "https"));
    assert!(threat_match::fits(["keyword"].into_iter(), "anything"));
}

#[test]
fn a_threshold_history_over_the_clause_budget_keeps_the_latest_entries_and_counts_the_rest() {
    let entry = |n: u32| threshold::HistoryEntry {
        terms: vec![("source.ip".to_string(), json!(format!("10.0.0.{n}")))],
        last: at(n),
    };
    let history: Vec<_> = (0..10).map(entry).collect();
    // Three clauses each: all ten need 30.
    let (kept, dropped) = threshold::within_clauses(history.clone(), 30);
    assert_eq!((kept.len(), dropped), (10, 0));
    let (kept, dropped) = threshold::within_clauses(history, 10);
    assert_eq!((kept.len(), dropped), (3, 7));
    let lasts: Vec<_> = kept.iter().map(|entry| entry.last).collect();
    assert_eq!(lasts, vec![at(9), at(8), at(7)]);
    let clauses: usize = (threshold::history_exclusions(&kept, "@timestamp").iter())
        .map(|clause| 1 + clause["bool"]["filter"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(clauses <= 10, "{clauses}");
}
