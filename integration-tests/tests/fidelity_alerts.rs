//! lookout's alert documents against Kibana's, through the engine and the live server.
//!
//! The alert of each rule type (query, threshold, new terms, indicator match) for one event is
//! compared field by field with the document Kibana's detection engine writes for the same
//! rule and event. That document is written here from Kibana's source (`build_alert.ts`'s
//! `buildAlertFields`, `transform_hit_to_alert.ts`, the persistence wrapper's augmentation and
//! common fields, `traverse_and_mutate_doc.ts`, `reason_formatters.ts`, the threshold, new terms
//! and indicator match builders), not from lookout's code. Both documents are flattened to the
//! dotted fields Elasticsearch sees; every field that differs (missing, extra or another value)
//! must be listed in docs/rule-types.md ("Differences from Kibana's alert document"), and every
//! listed one must differ. Also: severity and risk score mappings and the name override on
//! events that match no entry, one, and several.

#![recursion_limit = "256"]

mod engine_support;
mod types_support;

use elasticsearch::http::Method;
use engine_support::*;
use integration_tests::server::{Capability, require_all};
use integration_tests::unique_name;
use lookout::{ExecutionStatus, Rule};
use lookout_generator::EventSpec;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use types_support::*;

const FAILED_LOGINS: &str = "event.action: ConsoleLogin and event.outcome: failure";
const IP: &str = "198.51.100.7";
const USER: &str = "alice.nguyen";

/// The event every comparison uses: a failed console login.
fn event() -> Value {
    let spec = EventSpec::new("ConsoleLogin")
        .failed()
        .with_source_ip(IP)
        .with_user(USER);
    let mut doc = generated(&spec, t0() - minutes(2), "compared");
    // Fields an event may carry that never reach Kibana's alert.
    doc["kibana"] = json!({"alert": {"severity": "critical"}});
    doc["signal"] = json!({"status": "closed"});
    doc["data_stream"] =
        json!({"dataset": "aws.cloudtrail", "namespace": "default", "type": "logs"});
    doc
}

/// Kibana's parameters of a rule created from the test's rule file (`typed_rule`): the rule
/// API's fields with Kibana's defaults (`convertCreateAPIToInternalSchema`), back in snake case
/// (`commonParamsCamelToSnake`, `typeSpecificCamelToSnake`), `output_index` removed.
fn kibana_parameters(rule_id: &str, rule_type: &str, index: &str, specific: Value) -> Value {
    let mut parameters = json!({
        "author": ["lookout tests"],
        "description": "A rule for the rule-type tests",
        "rule_id": rule_id,
        "false_positives": [],
        "from": "now-6m",
        "immutable": false,
        "rule_source": {"type": "internal"},
        "license": "Elastic License v2",
        "max_signals": 100,
        "risk_score": 47,
        "risk_score_mapping": [],
        "severity": "medium",
        "severity_mapping": [],
        "threat": [],
        "to": "now",
        "references": [],
        "version": 1,
        "exceptions_list": [],
        "related_integrations": [],
        "required_fields": [],
        "setup": "",
        "type": rule_type,
        "language": "kuery",
        "index": [index],
        "query": FAILED_LOGINS,
    });
    for (key, value) in specific.as_object().cloned().unwrap_or_default() {
        parameters[key] = value;
    }
    parameters
}

/// What one alert stands for, as Kibana's builders see it.
struct Parent<'a> {
    index: &'a str,
    id: &'a str,
    source: Value,
}

/// Kibana's alert document for `parent` (whose `_source` Kibana merged with `fields`, the same
/// here), the way its detection engine writes it for a scheduled execution at `at`.
fn kibana_alert(rule: &Rule, parent: Parent<'_>, execution_uuid: &str, reason: &str) -> Value {
    let at = iso(t0());
    let mut document = Map::new();
    let mut originals = Map::new();
    for (key, value) in parent.source.as_object().cloned().unwrap_or_default() {
        // traverse_and_mutate_doc: `kibana`, `signal` and `threshold_result` are banned; `event`
        // and `data_stream` are copied to kibana.alert.original_event / original_data_stream.
        if ["kibana", "signal", "threshold_result"].contains(&key.as_str()) {
            continue;
        }
        if let Some(prefix) = match key.as_str() {
            "event" => Some("kibana.alert.original_event"),
            "data_stream" => Some("kibana.alert.original_data_stream"),
            _ => None,
        } {
            for (name, leaf) in flatten(&value) {
                originals.insert(format!("{prefix}.{name}"), leaf);
            }
        }
        document.insert(key, value);
    }
    // transform_hit_to_alert removes the source's event.kind before merging the alert fields.
    if let Some(event) = document.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("kind");
    }
    document.extend(originals);
    let name = rule.name.as_str();
    let fields = json!({
        // buildAlertFields
        "@timestamp": at,
        "kibana.space_ids": ["default"],
        "event.kind": "signal",
        "kibana.alert.original_time": parent.source["@timestamp"],
        "kibana.alert.rule.consumer": "siem",
        "kibana.alert.ancestors": [{"id": parent.id, "type": "event", "index": parent.index, "depth": 0}],
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": "open",
        "kibana.alert.depth": 1,
        "kibana.alert.reason": reason,
        "kibana.alert.severity": "medium",
        "kibana.alert.risk_score": 47,
        "kibana.alert.rule.actions": [],
        "kibana.alert.rule.author": ["lookout tests"],
        "kibana.alert.rule.created_at": "<when the rule was created in Kibana>",
        "kibana.alert.rule.created_by": "<who created it>",
        "kibana.alert.rule.description": "A rule for the rule-type tests",
        "kibana.alert.rule.enabled": true,
        "kibana.alert.rule.exceptions_list": [],
        "kibana.alert.rule.false_positives": [],
        "kibana.alert.rule.from": "now-6m",
        "kibana.alert.rule.immutable": false,
        "kibana.alert.rule.interval": "5m",
        "kibana.alert.rule.indices": rule.search.index,
        "kibana.alert.rule.license": "Elastic License v2",
        "kibana.alert.rule.max_signals": 100,
        "kibana.alert.rule.name": name,
        "kibana.alert.rule.references": [],
        "kibana.alert.rule.risk_score_mapping": [],
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.severity_mapping": [],
        "kibana.alert.rule.tags": [],
        "kibana.alert.rule.threat": [],
        "kibana.alert.rule.to": "now",
        "kibana.alert.rule.type": rule.rule_type().as_str(),
        "kibana.alert.rule.updated_at": "<when the rule was last changed in Kibana>",
        "kibana.alert.rule.updated_by": "<who changed it>",
        "kibana.alert.rule.uuid": "<the rule's saved object id>",
        "kibana.alert.rule.version": 1,
        "kibana.alert.url": "<Kibana's alert details path>",
        "kibana.alert.uuid": "<Kibana's alert id>",
        "kibana.alert.workflow_tags": [],
        "kibana.alert.workflow_assignee_ids": [],
        "kibana.alert.rule.risk_score": 47,
        "kibana.alert.rule.severity": "medium",
        "kibana.alert.intended_timestamp": at,
        "kibana.alert.rule.execution.type": "scheduled",
        // The persistence wrapper's augmentation and common fields.
        "kibana.alert.rule.execution.timestamp": at,
        "kibana.alert.start": at,
        "kibana.alert.last_detected": at,
        "kibana.version": "<Kibana's version>",
        "kibana.alert.rule.category": category(rule.rule_type().as_str()),
        "kibana.alert.rule.execution.uuid": execution_uuid,
        "kibana.alert.rule.producer": "siem",
        "kibana.alert.rule.rule_type_id": rule_type_id(rule.rule_type().as_str()),
    });
    for (key, value) in fields.as_object().cloned().unwrap_or_default() {
        document.insert(key, value);
    }
    Value::Object(document)
}

fn category(rule_type: &str) -> &'static str {
    match rule_type {
        "query" => "Custom Query Rule",
        "threshold" => "Threshold Rule",
        "new_terms" => "New Terms Rule",
        _ => "Indicator Match Rule",
    }
}

fn rule_type_id(rule_type: &str) -> &'static str {
    match rule_type {
        "query" => "siem.queryRule",
        "threshold" => "siem.thresholdRule",
        "new_terms" => "siem.newTermsRule",
        _ => "siem.indicatorRule",
    }
}

/// Every leaf of a document by its dotted name (arrays are leaves, as values of one field).
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten_into(&mut out, "", value);
    out
}

fn flatten_into(out: &mut BTreeMap<String, Value>, prefix: &str, value: &Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_into(out, &name, inner);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// The fields in which two documents differ: `missing` (Kibana's only), `extra` (lookout's
/// only) or `value`.
fn differences(kibana: &Value, lookout: &Value) -> BTreeMap<String, &'static str> {
    let (kibana, lookout) = (flatten(kibana), flatten(lookout));
    let names: BTreeSet<&String> = kibana.keys().chain(lookout.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| match (kibana.get(name), lookout.get(name)) {
            (Some(_), None) => Some((name.clone(), "missing")),
            (None, Some(_)) => Some((name.clone(), "extra")),
            (Some(a), Some(b)) if a != b => Some((name.clone(), "value")),
            _ => None,
        })
        .collect()
}

/// The differences docs/rule-types.md lists for a rule type (rows whose rule types column is
/// `all` or names it).
fn documented(rule_type: &str) -> BTreeMap<String, &'static str> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rule-types.md");
    let text = std::fs::read_to_string(&path).expect("docs/rule-types.md is readable");
    let table = text
        .split("<!-- alert-differences: start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- alert-differences: end -->").next())
        .expect("docs/rule-types.md has the differences table");
    let mut rows = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (field, kind, types) = (cells[1].trim_matches('`'), cells[2], cells[3]);
        let kind = match kind {
            "missing" => "missing",
            "extra" => "extra",
            "value" => "value",
            other => panic!("unknown difference {other:?} in docs/rule-types.md"),
        };
        if types == "all" || types.split(',').any(|t| t.trim() == rule_type) {
            rows.insert(field.to_string(), kind);
        }
    }
    rows
}

/// The one alert of a rule, after running it at t0.
async fn only_alert(env: &Env, rule: &Rule) -> (Value, String) {
    let record = env.execute(rule, t0()).await.record;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let mut alerts = alerts_of(env, &rule.rule_id).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let mut alert = alerts.remove(0);
    alert.as_object_mut().unwrap().remove("_id");
    (alert, record.execution_uuid)
}

/// Kibana's alert for the compared event as the source index holds it (its `_id` and
/// `_source`), with the reason of Kibana's template ([`reason_for`]).
async fn kibana_alert_of_the_event(env: &Env, rule: &Rule, execution_uuid: &str) -> Value {
    let docs = env.server.all_docs(&env.source).await;
    let doc = docs
        .iter()
        .find(|d| d["_source"]["labels"]["mark"] == "compared")
        .expect("indexed");
    let parent = Parent {
        index: &env.source,
        id: doc["_id"].as_str().unwrap(),
        source: doc["_source"].clone(),
    };
    kibana_alert(rule, parent, execution_uuid, &reason_for(rule))
}

/// Kibana's reason for the compared event (its template: category, source, user).
fn reason_for(rule: &Rule) -> String {
    format!(
        "authentication event with source {IP} by {USER} created medium alert {}.",
        rule.name
    )
}

fn assert_only_documented(rule_type: &str, kibana: &Value, lookout: &Value) {
    let found = differences(kibana, lookout);
    let listed = documented(rule_type);
    assert_eq!(
        found, listed,
        "{rule_type}: the fields that differ from Kibana's alert (left) must be exactly those \
         docs/rule-types.md lists (right)"
    );
}

#[tokio::test]
async fn a_query_alert_differs_from_kibanas_only_where_the_docs_say() {
    let env = Env::new().await;
    let rule = typed_rule(
        &env.source,
        "cmp-query",
        FAILED_LOGINS,
        "type = \"query\"\n",
    );
    env.index(&[event()]).await;
    let (lookout, execution) = only_alert(&env, &rule).await;
    let mut kibana = kibana_alert_of_the_event(&env, &rule, &execution).await;
    kibana["kibana.alert.rule.parameters"] =
        kibana_parameters("cmp-query", "query", &env.source, json!({}));
    assert_only_documented("query", &kibana, &lookout);
}

#[tokio::test]
async fn a_threshold_alert_differs_from_kibanas_only_where_the_docs_say() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let part = "type = \"threshold\"\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 1\n";
    let rule = typed_rule(&env.source, "cmp-threshold", FAILED_LOGINS, part);
    env.index(&[event()]).await;
    let (lookout, execution) = only_alert(&env, &rule).await;
    // transformBucketIntoHit: a synthetic event with the group's latest time and its values,
    // `_index` the rule's indices, `_id` Kibana's hash of the bucket.
    let time = iso(t0() - minutes(2));
    let source = json!({"@timestamp": time, "source": {"ip": IP}});
    let index = env.source.clone();
    let parent = Parent {
        index: &index,
        id: "<Kibana's hash of the bucket>",
        source,
    };
    let reason = format!("event with source {IP} created medium alert {}.", rule.name);
    let mut kibana = kibana_alert(&rule, parent, &execution, &reason);
    kibana["kibana.alert.threshold_result"] = json!({
        "terms": [{"field": "source.ip", "value": IP}],
        "count": 1,
        "from": time,
    });
    kibana["kibana.alert.rule.parameters"] = kibana_parameters(
        "cmp-threshold",
        "threshold",
        &env.source,
        json!({"threshold": {"field": ["source.ip"], "value": 1}}),
    );
    assert_only_documented("threshold", &kibana, &lookout);
}

#[tokio::test]
async fn a_new_terms_alert_differs_from_kibanas_only_where_the_docs_say() {
    if !require_all(&[Capability::CompositeAggregation]).await {
        return;
    }
    let env = Env::new().await;
    let part = "type = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\n\
                value = [\"source.ip\"]\n[[rule.new_terms.history_window_start]]\n\
                field = \"history_window_start\"\nvalue = \"now-1d\"\n";
    let rule = typed_rule(&env.source, "cmp-new-terms", FAILED_LOGINS, part);
    env.index(&[event()]).await;
    let (lookout, execution) = only_alert(&env, &rule).await;
    let mut kibana = kibana_alert_of_the_event(&env, &rule, &execution).await;
    kibana["kibana.alert.new_terms"] = json!([IP]);
    kibana["kibana.alert.rule.parameters"] = kibana_parameters(
        "cmp-new-terms",
        "new_terms",
        &env.source,
        json!({"new_terms_fields": ["source.ip"], "history_window_start": "now-1d"}),
    );
    assert_only_documented("new_terms", &kibana, &lookout);
}

#[tokio::test]
async fn an_indicator_match_alert_differs_from_kibanas_only_where_the_docs_say() {
    let env = Env::new().await;
    let indicators = unique_name("logs-ti-compare");
    let mappings = json!({"properties": {
        "event": {"properties": {"module": {"type": "keyword"}}},
        "threat": {"properties": {"feed": {"properties": {"name": {"type": "keyword"}}},
            "indicator": {"properties": {"ip": {"type": "ip"}, "type": {"type": "keyword"}}}}}}});
    env.server
        .ok(
            Method::Put,
            &format!("/{indicators}"),
            Some(json!({"mappings": mappings})),
        )
        .await;
    let indicator = json!({"event": {"module": "threatintel"}, "threat": {"feed": {"name": "test feed"},
        "indicator": {"ip": IP, "type": "ipv4-addr"}}});
    env.server.bulk_create(&indicators, &[indicator]).await;
    let indicator_id = env.server.all_docs(&indicators).await[0]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let part = format!(
        "type = \"threat_match\"\nthreat_index = [\"{indicators}\"]\n\
         threat_query = 'event.module: threatintel'\nthreat_indicator_path = \"threat.indicator\"\n\
         [[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"source.ip\"\n\
         type = \"mapping\"\nvalue = \"threat.indicator.ip\"\n"
    );
    let rule = typed_rule(&env.source, "cmp-threat", FAILED_LOGINS, &part);
    env.index(&[event()]).await;
    let (lookout, execution) = only_alert(&env, &rule).await;
    let mut kibana = kibana_alert_of_the_event(&env, &rule, &execution).await;
    kibana["threat"]["enrichments"] = json!([{
        "indicator": {"ip": IP, "type": "ipv4-addr"},
        "matched": {"atomic": IP, "field": "source.ip", "id": indicator_id, "index": indicators, "type": "indicator_match_rule"},
        "feed": {"name": "test feed"},
    }]);
    kibana["kibana.alert.rule.parameters"] = kibana_parameters(
        "cmp-threat",
        "threat_match",
        &env.source,
        json!({
            "threat_index": [indicators],
            "threat_query": "event.module: threatintel",
            "threat_indicator_path": "threat.indicator",
            "threat_mapping": [{"entries": [{"field": "source.ip", "type": "mapping", "value": "threat.indicator.ip"}]}],
        }),
    );
    assert_only_documented("threat_match", &kibana, &lookout);
}

#[tokio::test]
async fn severity_and_risk_mappings_and_the_name_override_follow_the_event() {
    let env = Env::new().await;
    let part = "type = \"query\"\nrule_name_override = \"labels.title\"\n\
        [[rule.severity_mapping]]\nfield = \"labels.level\"\noperator = \"equals\"\nvalue = \"2\"\nseverity = \"critical\"\n\
        [[rule.severity_mapping]]\nfield = \"labels.level\"\noperator = \"equals\"\nvalue = \"1\"\nseverity = \"high\"\n\
        [[rule.severity_mapping]]\nfield = \"labels.tier\"\noperator = \"equals\"\nvalue = \"gold\"\nseverity = \"low\"\n\
        [[rule.risk_score_mapping]]\nfield = \"labels.score\"\noperator = \"equals\"\nvalue = \"\"\n";
    let rule = typed_rule(&env.source, "mapped", FAILED_LOGINS, part);
    let login = |mark: &str, labels: Value| {
        let spec = EventSpec::new("ConsoleLogin")
            .failed()
            .with_source_ip(IP)
            .with_user(USER);
        let mut doc = generated(&spec, t0() - minutes(2), mark);
        for (key, value) in labels.as_object().cloned().unwrap_or_default() {
            doc["labels"][key] = value;
        }
        doc
    };
    env.index(&[
        login("none", json!({"level": "7", "score": "high"})),
        login(
            "one",
            json!({"tier": "gold", "score": "64", "title": "Gold tier login"}),
        ),
        login(
            "several",
            json!({"level": ["1", "2"], "tier": "gold", "score": ["12", "88.5", "300"]}),
        ),
    ])
    .await;
    let record = env.execute(&rule, t0()).await.record;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let alerts: BTreeMap<String, Value> = (alerts_of(&env, "mapped").await.into_iter())
        .map(|alert| (alert["labels"]["mark"].as_str().unwrap().to_string(), alert))
        .collect();
    let seen = |mark: &str| {
        let alert = &alerts[mark];
        (
            alert["kibana.alert.severity"].clone(),
            alert["kibana.alert.risk_score"].clone(),
            alert["kibana.alert.rule.name"].clone(),
        )
    };
    let name = json!(rule.name);
    assert_eq!(seen("none"), (json!("medium"), json!(47), name.clone()));
    assert_eq!(
        seen("one"),
        (json!("low"), json!(64), json!("Gold tier login"))
    );
    assert_eq!(seen("several"), (json!("critical"), json!(88.5), name));
    for alert in alerts.values() {
        assert_eq!(alert["kibana.alert.rule.severity"], "medium");
        assert_eq!(alert["kibana.alert.rule.risk_score"], 47);
    }
    assert!(
        alerts["one"]["kibana.alert.reason"]
            .as_str()
            .unwrap()
            .ends_with("created low alert Gold tier login."),
        "{}",
        alerts["one"]["kibana.alert.reason"]
    );
}
