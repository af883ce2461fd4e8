//! Unit tests of alert ids, alert documents and the alerts index template.

use super::*;
use crate::rule::{Severity, test_rule};
use chrono::TimeZone;

fn sample_source() -> Value {
    json!({
        "@timestamp": "2026-01-10T11:58:00.000Z",
        "event": {
            "action": "AddUserToGroup",
            "kind": "event",
            "outcome": "success",
            "provider": "iam.amazonaws.com",
            "category": ["iam"],
            "ingested": "2026-01-10T11:59:00.000Z"
        },
        "user": { "name": "Alice" },
        "source": { "ip": "192.0.2.1" },
        "cloud": { "region": "us-east-2" }
    })
}

/// The context of an execution `execution_uuid` of `rule` at 2026-01-10 12:00 UTC.
fn test_context<'a>(rule: &'a Rule, execution_uuid: &'a str) -> AlertContext<'a> {
    AlertContext {
        rule,
        namespace: "default",
        execution_uuid,
        created_at: Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
        notify: &[],
        intended_at: None,
    }
}

fn sample_alert(source: &Value) -> Alert {
    let rule = test_rule("rule-1");
    let context = test_context(&rule, "exec-1");
    let event = SourceEvent {
        index: "logs-aws.cloudtrail-default",
        id: "doc-1",
        source,
    };
    build_alert(event, context)
}

#[test]
fn alert_id_is_lowercase_hex_sha256_and_stable() {
    let first = alert_id("idx", "id", "default", "rule");
    assert_eq!(first.len(), 64);
    assert!(
        first
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(first, alert_id("idx", "id", "default", "rule"));
}

#[test]
fn alert_id_changes_with_every_part() {
    let base = alert_id("idx", "id", "default", "rule");
    assert_ne!(base, alert_id("idx2", "id", "default", "rule"));
    assert_ne!(base, alert_id("idx", "id2", "default", "rule"));
    assert_ne!(base, alert_id("idx", "id", "other", "rule"));
    assert_ne!(base, alert_id("idx", "id", "default", "rule2"));
}

#[test]
fn alert_id_parts_cannot_run_into_each_other() {
    assert_ne!(alert_id("ab", "c", "d", "e"), alert_id("a", "bc", "d", "e"));
    assert_ne!(
        alert_id("a\0b", "c", "d", "e"),
        alert_id("a", "b\0c", "d", "e")
    );
    assert_ne!(alert_id("a", "", "d", "e"), alert_id("", "a", "d", "e"));
}

#[test]
fn alert_id_is_pinned() {
    // Changing the id scheme would make every stored alert look new: this value must not move.
    // (Python: sha256(b"".join(struct.pack(">Q", len(p)) + p for p in parts)).hexdigest())
    assert_eq!(
        alert_id("idx", "id", "default", "rule"),
        "fc016ac156501f566e56f4afa4a44a288385b3ace27191711aa3b3d8b755e24d"
    );
}

#[test]
fn rule_uuid_is_a_stable_v5_uuid_per_namespace() {
    let uuid = rule_uuid("default", "rule-1");
    assert_eq!(uuid.get_version_num(), 5);
    assert_eq!(uuid, rule_uuid("default", "rule-1"));
    assert_ne!(uuid, rule_uuid("other", "rule-1"));
}

#[test]
fn alert_document_replaces_event_kind_with_signal() {
    let alert = sample_alert(&sample_source());
    assert_eq!(alert.document["event"]["kind"], "signal");
    assert_eq!(alert.document["event"]["action"], "AddUserToGroup");
    assert_eq!(alert.document["kibana.alert.original_event.kind"], "event");
}

#[test]
fn alert_document_carries_the_kibana_fields() {
    let source = sample_source();
    let alert = sample_alert(&source);
    let doc = &alert.document;
    assert_eq!(doc["kibana.alert.uuid"], json!(alert.id));
    assert_eq!(doc["@timestamp"], "2026-01-10T12:00:00.000Z");
    assert_eq!(
        doc["kibana.alert.original_time"],
        "2026-01-10T11:58:00.000Z"
    );
    assert_eq!(doc["kibana.alert.original_event.action"], "AddUserToGroup");
    assert_eq!(doc["kibana.alert.original_event.category"], json!(["iam"]));
    assert_eq!(
        doc["kibana.alert.ancestors"],
        json!([{"id": "doc-1", "index": "logs-aws.cloudtrail-default", "type": "event", "depth": 0}])
    );
    assert_eq!(doc["kibana.alert.depth"], 1);
    assert_eq!(doc["kibana.alert.status"], "active");
    assert_eq!(doc["kibana.alert.workflow_status"], "open");
    assert_eq!(doc["kibana.alert.severity"], "medium");
    assert_eq!(doc["kibana.alert.risk_score"], 47);
    assert_eq!(doc["kibana.alert.rule.rule_id"], "rule-1");
    assert_eq!(doc["kibana.alert.rule.name"], "Test rule rule-1");
    assert_eq!(
        doc["kibana.alert.rule.uuid"],
        json!(rule_uuid("default", "rule-1").to_string())
    );
    assert_eq!(doc["kibana.alert.rule.interval"], "5m");
    assert_eq!(doc["kibana.alert.rule.from"], "now-6m");
    assert_eq!(doc["kibana.alert.rule.execution.uuid"], "exec-1");
    assert_eq!(doc["kibana.space_ids"], json!(["default"]));
    assert_eq!(doc["user"]["name"], "Alice");
}

#[test]
fn building_block_rules_mark_their_alerts() {
    let source = sample_source();
    assert!(
        sample_alert(&source)
            .document
            .get("kibana.alert.building_block_type")
            .is_none()
    );
    let mut rule = test_rule("bb");
    rule.meta.details.building_block_type = Some("default".into());
    let context = test_context(&rule, "e");
    let event = SourceEvent {
        index: "i",
        id: "d",
        source: &source,
    };
    let alert = build_alert(event, context);
    assert_eq!(
        alert.document["kibana.alert.building_block_type"],
        "default"
    );
}

#[test]
fn reason_follows_kibanas_template_category_source_user_severity_and_rule() {
    let alert = sample_alert(&sample_source());
    assert_eq!(
        alert.document["kibana.alert.reason"],
        "iam event with source 192.0.2.1 by Alice created medium alert Test rule rule-1."
    );
}

#[test]
fn reason_of_an_empty_event_still_names_the_rule() {
    let rule = test_rule("r");
    assert_eq!(
        reason(&json!({}), &rule),
        "event created medium alert Test rule r."
    );
}

#[test]
fn field_finds_nested_and_dotted_keys() {
    let doc = json!({"a": {"b.c": 1, "b": {"d": 2}}, "x.y": 3});
    assert_eq!(field(&doc, "a.b.c"), Some(&json!(1)));
    assert_eq!(field(&doc, "a.b.d"), Some(&json!(2)));
    assert_eq!(field(&doc, "x.y"), Some(&json!(3)));
    assert_eq!(field(&doc, "a.z"), None);
}

#[test]
fn a_non_object_source_gives_a_valid_alert() {
    let alert = sample_alert(&json!("not an object"));
    assert_eq!(alert.document["event"]["kind"], "signal");
}

/// Every `kibana.*` key an alert carries must be mapped by the template.
#[test]
fn template_maps_every_kibana_field_of_an_alert() {
    let template = index_template("lookout-alerts-default");
    let mappings = &template["template"]["mappings"];
    let alert = sample_alert(&sample_source());
    for key in alert.document.as_object().unwrap().keys() {
        if !key.starts_with("kibana.") {
            continue;
        }
        let mut node = mappings;
        for part in key.split('.') {
            node = &node["properties"][part];
        }
        assert!(node.is_object(), "{key} has no mapping");
    }
    assert_eq!(
        template["index_patterns"],
        json!(["lookout-alerts-default", "lookout-alerts-default-*"])
    );
}

#[test]
fn shared_fields_built_once_give_the_same_alert_as_building_each_alone() {
    let rule = test_rule("rule-1");
    let context = test_context(&rule, "exec-1");
    let shared = SharedFields::new(context);
    for n in 0..3 {
        let source = sample_source();
        let id = format!("doc-{n}");
        let event = SourceEvent {
            index: "logs-aws.cloudtrail-default",
            id: &id,
            source: &source,
        };
        assert_eq!(
            build_alert_with(event, context, &shared),
            build_alert(event, context)
        );
    }
}

/// The alert written as text from the source's text ([`alert_json`]) and the alert built as a
/// JSON tree ([`build_alert`]) for the same source: same id, same document.
fn assert_text_alert_equals_tree_alert(source: &Value) {
    assert_text_alert_equals_tree_alert_of(&test_rule("rule-1"), source);
}

fn assert_text_alert_equals_tree_alert_of(rule: &Rule, source: &Value) {
    let context = test_context(rule, "exec-1");
    let event = SourceEvent {
        index: "logs-aws.cloudtrail-default",
        id: "doc-1",
        source,
    };
    let tree = build_alert(event, context);
    let raw = serde_json::value::to_raw_value(source).unwrap();
    let (id, text) = alert_json(
        event.index,
        event.id,
        &raw,
        context,
        &SharedFields::new(context),
    );
    assert!(!text.contains('\n'), "one line of JSON for _bulk");
    serde_json::from_str::<NoDuplicateKeys>(&text)
        .unwrap_or_else(|e| panic!("{e} in {text}: Elasticsearch refuses such a document"));
    let document: Value = serde_json::from_str(&text).expect("the text is JSON");
    assert_eq!(id, tree.id);
    assert_eq!(document, tree.document, "source: {source}");
}

#[test]
fn alerts_written_as_text_equal_alerts_built_as_trees_for_generated_cloudtrail_events() {
    use lookout_generator::{Generator, GeneratorConfig};
    let start = Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
    let mut config = GeneratorConfig::new(7, start, end, 300);
    config.preserve_original = true;
    let generator = Generator::new(config).expect("a valid generator configuration");
    let mut count = 0;
    for source in generator.documents() {
        assert_text_alert_equals_tree_alert(&source);
        count += 1;
    }
    assert_eq!(count, 300);
}

#[test]
fn alerts_written_as_text_equal_alerts_built_as_trees_for_unusual_sources() {
    let sources = [
        sample_source(),
        // event.kind as a dotted key, and dotted event fields beside the object
        json!({"event.kind": "event", "event.action": "CreateUser", "event": {"outcome": "success"}}),
        // no event at all, and a reason read from dotted keys
        json!({"user.name": "bob", "host.name": "h1", "source.ip": "192.0.2.9", "message": "x"}),
        // event that is not an object
        json!({"event": "odd", "@timestamp": "2026-01-10T11:00:00Z"}),
        // fields the alert sets itself, in the source (an alert searched again)
        json!({
            "@timestamp": "2026-01-10T11:00:00Z",
            "kibana.alert.uuid": "old",
            "kibana.alert.rule.name": "old rule",
            "kibana.alert.reason": "old reason",
            "kibana.other": 1,
            "event": {"kind": "signal", "action": "x"}
        }),
        // keys that need escaping, unicode, numbers, nulls and deep nesting
        json!({"we\"ird\\key\n": {"ü": [1, 2.5, -3e10, null, true]}, "a": {"b": {"c": {"d": []}}}}),
        // a nested object inside event, a dotted event key naming the same field as the object,
        // and a source key the alert's original_event also sets
        json!({
            "event": {"action": "A", "risk": {"score": 5, "level": {"name": "x"}}, "kind": "event"},
            "event.action": "B",
            "kibana.alert.original_event.action": "stale",
            "user": {"name": "carol"}
        }),
        // numbers kept as written, big integers, floats
        json!({"event": {"sequence": 18446744073709551615_u64, "duration": 1.5e9, "severity": 0}}),
        // arrays in reason fields
        json!({"event": {"category": ["iam", "configuration"]}, "user": {"name": ["a", "b"]}}),
        // the event's own alert-like objects, nested and dotted, which never reach the alert
        json!({
            "kibana": {"alert": {"rule": {"name": "forged"}}},
            "signal": {"rule": {"id": "x"}},
            "signal.status": "open",
            "threshold_result": {"count": 5},
            "threshold_result.terms": [],
            "kibanaish": 1,
            "user": {"name": "eve"}
        }),
        // data_stream copied to original_data_stream, object and dotted keys
        json!({"data_stream": {"dataset": "aws.cloudtrail", "type": "logs"}, "data_stream.namespace": "prod"}),
        // not an object
        json!(null),
        json!([1, 2]),
        json!("text"),
        json!({}),
    ];
    for source in &sources {
        assert_text_alert_equals_tree_alert(source);
    }
}

/// Any JSON in which no object repeats a key (serde_json itself keeps the last of duplicates;
/// Elasticsearch refuses the document).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

/// A rule that takes its severity, risk score and name from the event.
fn mapping_rule() -> Rule {
    use crate::rule::{RiskScoreMapping, SeverityMapping};
    let mut rule = test_rule("mapped");
    rule.meta.details.severity_mapping = vec![
        SeverityMapping {
            field: "event.severity".into(),
            operator: "equals".into(),
            value: "73".into(),
            severity: Severity::High,
        },
        SeverityMapping {
            field: "cloud.region".into(),
            operator: "equals".into(),
            value: "us-east-2".into(),
            severity: Severity::Low,
        },
    ];
    rule.meta.details.risk_score_mapping = vec![RiskScoreMapping {
        field: "event.risk_score".into(),
        operator: "equals".into(),
        value: String::new(),
        risk_score: None,
    }];
    rule.meta.details.rule_name_override = Some("rule.name".into());
    rule
}

#[test]
fn mappings_and_the_name_override_change_the_alert_not_the_rules_own_fields() {
    let rule = mapping_rule();
    let source = json!({
        "event": {"severity": 73, "risk_score": "88", "category": ["iam"]},
        "rule": {"name": "Suspicious thing"},
        "cloud": {"region": "us-east-2"}
    });
    let context = test_context(&rule, "e");
    let event = SourceEvent {
        index: "i",
        id: "d",
        source: &source,
    };
    let doc = build_alert(event, context).document;
    assert_eq!(doc["kibana.alert.severity"], "high");
    assert_eq!(doc["kibana.alert.risk_score"], 88);
    assert_eq!(doc["kibana.alert.rule.name"], "Suspicious thing");
    assert_eq!(doc["kibana.alert.rule.severity"], "medium");
    assert_eq!(doc["kibana.alert.rule.risk_score"], 47);
    assert_eq!(
        doc["kibana.alert.reason"],
        "iam event created high alert Suspicious thing."
    );
    assert_eq!(doc["kibana.alert.rule.rule_name_override"], "rule.name");
}

#[test]
fn alerts_with_mappings_written_as_text_equal_alerts_built_as_trees() {
    use lookout_generator::{Generator, GeneratorConfig};
    let rule = mapping_rule();
    let start = Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
    let generator = Generator::new(GeneratorConfig::new(11, start, end, 100)).unwrap();
    for source in generator.documents() {
        assert_text_alert_equals_tree_alert_of(&rule, &source);
    }
    let mapped =
        json!({"event.severity": 73, "event": {"risk_score": [5, "70"]}, "rule.name": "n"});
    assert_text_alert_equals_tree_alert_of(&rule, &mapped);
}

#[test]
fn the_events_own_kibana_signal_and_threshold_result_objects_do_not_reach_the_alert() {
    let source = json!({
        "kibana": {"alert": {"severity": "critical"}},
        "kibana.alert.risk_score": 99,
        "signal": {"status": "closed"},
        "threshold_result": {"count": 1},
        "user": {"name": "eve"}
    });
    let doc = sample_alert(&source).document;
    assert!(doc.get("kibana").is_none());
    assert!(doc.get("signal").is_none());
    assert!(doc.get("threshold_result").is_none());
    assert_eq!(doc["kibana.alert.risk_score"], 47);
    assert_eq!(doc["user"]["name"], "eve");
}

#[test]
fn alerts_carry_kibanas_rule_parameters_indices_and_lifecycle_fields() {
    let source = sample_source();
    let doc = sample_alert(&source).document;
    let parameters = &doc["kibana.alert.rule.parameters"];
    assert_eq!(parameters["query"], "event.action: AddUserToGroup");
    assert_eq!(parameters["language"], "kuery");
    assert_eq!(parameters["index"], json!(["logs-aws.cloudtrail-*"]));
    assert_eq!(parameters["rule_id"], "rule-1");
    assert_eq!(parameters["max_signals"], 100);
    assert_eq!(parameters["exceptions_list"], json!([]));
    assert!(parameters.get("name").is_none() && parameters.get("interval").is_none());
    assert_eq!(
        doc["kibana.alert.rule.indices"],
        json!(["logs-aws.cloudtrail-*"])
    );
    assert_eq!(doc["kibana.alert.rule.rule_type_id"], "siem.queryRule");
    assert_eq!(doc["kibana.alert.rule.category"], "Custom Query Rule");
    assert_eq!(doc["kibana.alert.rule.consumer"], "siem");
    assert_eq!(doc["kibana.alert.start"], "2026-01-10T12:00:00.000Z");
    assert_eq!(
        doc["kibana.alert.last_detected"],
        "2026-01-10T12:00:00.000Z"
    );
    assert_eq!(
        doc["kibana.alert.intended_timestamp"],
        "2026-01-10T12:00:00.000Z"
    );
    assert_eq!(doc["kibana.alert.rule.execution.type"], "scheduled");
    assert_eq!(doc["kibana.alert.workflow_tags"], json!([]));
    assert_eq!(doc["kibana.alert.workflow_assignee_ids"], json!([]));
    for gone in [
        "kibana.alert.rule.query",
        "kibana.alert.rule.language",
        "kibana.alert.rule.index",
    ] {
        assert!(doc.get(gone).is_none(), "{gone} is Kibana's parameters now");
    }
    assert!(doc.get("kibana.alert.rule.license").is_some());
    assert!(
        doc.get("kibana.alert.rule.timestamp_override").is_none(),
        "absent, not null"
    );
}

#[test]
fn a_backfill_alert_is_manual_and_intended_for_its_windows_end() {
    let rule = test_rule("r");
    let mut context = test_context(&rule, "e");
    context.intended_at = Some(Utc.with_ymd_and_hms(2026, 1, 3, 0, 5, 0).unwrap());
    let source = sample_source();
    let event = SourceEvent {
        index: "i",
        id: "d",
        source: &source,
    };
    let doc = build_alert(event, context).document;
    assert_eq!(doc["kibana.alert.rule.execution.type"], "manual");
    assert_eq!(
        doc["kibana.alert.intended_timestamp"],
        "2026-01-03T00:05:00.000Z"
    );
    assert_eq!(doc["@timestamp"], "2026-01-10T12:00:00.000Z");
}

#[test]
fn data_stream_fields_are_copied_to_original_data_stream() {
    let source = json!({"data_stream": {"dataset": "aws.cloudtrail", "namespace": "default", "type": "logs"}});
    let doc = sample_alert(&source).document;
    assert_eq!(
        doc["kibana.alert.original_data_stream.dataset"],
        "aws.cloudtrail"
    );
    assert_eq!(doc["kibana.alert.original_data_stream.type"], "logs");
    assert_eq!(doc["data_stream"]["namespace"], "default");
}
