//! Unit tests of sequence alerts: the documents compared with the fields Kibana's sequence alert
//! builder writes (`build_alert_group_from_sequence.ts` and its tests, `build_alert.ts`,
//! `generate_building_block_ids.ts` in elastic/kibana), and the stability of their ids.

use super::sequence::*;
use super::{AlertContext, SharedFields, SourceEvent, rule_uuid};
use crate::eql::sequence::sequence_id;
use crate::rule::Rule;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

const NAMESPACE: &str = "default";

/// The rule of the alert tests. The rule model has no EQL kind yet, so it is the crate's query
/// test rule: sequence alerts take nothing from the rule's kind but `kibana.alert.rule.type`.
pub(crate) fn sequence_rule() -> Rule {
    crate::rule::test_rule("seq-rule-1")
}

/// The same rule marked as a building-block rule.
fn building_block_rule() -> Rule {
    let mut rule = sequence_rule();
    rule.meta.details.building_block_type = Some("default".to_string());
    rule
}

fn context<'a>(rule: &'a Rule, execution_uuid: &'a str, minute: u32) -> AlertContext<'a> {
    AlertContext {
        rule,
        namespace: NAMESPACE,
        execution_uuid,
        created_at: Utc.with_ymd_and_hms(2026, 1, 10, 12, minute, 0).unwrap(),
        notify: &[],
        intended_at: None,
    }
}

fn create_user() -> Value {
    json!({
        "@timestamp": "2026-01-10T11:58:00.000Z",
        "event": { "action": "CreateUser", "category": ["iam"], "kind": "event", "outcome": "success" },
        "user": { "name": "mallory", "roles": ["dev", "ops"] },
        "source": { "ip": "192.0.2.1" },
        "cloud": { "region": "us-east-1", "account": { "id": "111" } },
        "tags": ["cloudtrail", "first"],
        "count": 1,
        "label": "1",
        "note": null
    })
}

fn attach_policy() -> Value {
    json!({
        "@timestamp": "2026-01-10T11:59:30.000Z",
        "event": { "action": "AttachUserPolicy", "category": ["iam"], "kind": "event", "outcome": "success" },
        "user": { "name": "mallory", "roles": ["ops", "admin"] },
        "source": { "ip": "198.51.100.7" },
        "cloud": { "region": "eu-west-1", "account": { "id": "222" } },
        "tags": "cloudtrail",
        "count": 1.0,
        "label": 1,
        "note": null
    })
}

/// The alerts of a two-event sequence built by `rule` in execution `execution` at 12:`minute`.
fn alerts_of(rule: &Rule, sources: &[Value], execution: &str, minute: u32) -> SequenceAlerts {
    let context = context(rule, execution, minute);
    let events: Vec<SourceEvent<'_>> = (sources.iter().enumerate())
        .map(|(n, source)| SourceEvent {
            index: "logs-aws.cloudtrail-default",
            id: ["doc-1", "doc-2", "doc-3"][n],
            source,
        })
        .collect();
    build_sequence_alerts(&events, context, &SharedFields::new(context)).expect("events given")
}

fn two_event_alerts(rule: &Rule) -> SequenceAlerts {
    alerts_of(rule, &[create_user(), attach_policy()], "exec-1", 0)
}

#[test]
fn a_sequence_gives_one_shell_and_one_building_block_per_event() {
    let rule = sequence_rule();
    let alerts = two_event_alerts(&rule);
    assert_eq!(alerts.building_blocks.len(), 2);
    let mut ids: Vec<&str> = alerts
        .building_blocks
        .iter()
        .map(|alert| alert.id.as_str())
        .collect();
    ids.push(&alerts.shell.id);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct ids");
}

#[test]
fn no_events_give_no_alerts() {
    let rule = sequence_rule();
    let context = context(&rule, "exec-1", 0);
    assert_eq!(
        build_sequence_alerts(&[], context, &SharedFields::new(context)),
        None
    );
}

#[test]
fn building_blocks_carry_the_group_their_position_and_the_default_building_block_type() {
    let rule = sequence_rule();
    let alerts = two_event_alerts(&rule);
    for (position, block) in alerts.building_blocks.iter().enumerate() {
        let document = &block.document;
        assert_eq!(document["kibana.alert.uuid"], json!(block.id));
        assert_eq!(document["kibana.alert.group.id"], json!(alerts.shell.id));
        assert_eq!(document["kibana.alert.group.index"], json!(position));
        assert_eq!(
            document["kibana.alert.building_block_type"],
            json!("default")
        );
        assert_eq!(document["kibana.alert.depth"], json!(1));
        assert_eq!(document["event"]["kind"], json!("signal"));
    }
    let first = &alerts.building_blocks[0].document;
    assert_eq!(
        first["kibana.alert.ancestors"],
        json!([{ "id": "doc-1", "index": "logs-aws.cloudtrail-default", "type": "event", "depth": 0 }])
    );
    assert_eq!(
        first["kibana.alert.original_time"],
        json!("2026-01-10T11:58:00.000Z")
    );
    assert_eq!(
        first["source"]["ip"],
        json!("192.0.2.1"),
        "a building block keeps its event's fields"
    );
}

#[test]
fn the_shell_has_depth_two_and_every_event_and_building_block_as_ancestors_in_kibanas_order() {
    let rule = sequence_rule();
    let alerts = two_event_alerts(&rule);
    let shell = &alerts.shell.document;
    let rule_uuid = rule_uuid(NAMESPACE, "seq-rule-1").to_string();
    let block = |n: usize| {
        json!({
            "id": alerts.building_blocks[n].id,
            "index": "",
            "type": "signal",
            "depth": 1,
            "rule": rule_uuid,
        })
    };
    let event = |id: &str| json!({ "id": id, "index": "logs-aws.cloudtrail-default", "type": "event", "depth": 0 });
    assert_eq!(
        shell["kibana.alert.ancestors"],
        json!([event("doc-1"), block(0), event("doc-2"), block(1)])
    );
    assert_eq!(shell["kibana.alert.depth"], json!(2));
    assert_eq!(shell["kibana.alert.uuid"], json!(alerts.shell.id));
    assert_eq!(shell["kibana.alert.group.id"], json!(alerts.shell.id));
    assert!(
        shell.get("kibana.alert.group.index").is_none(),
        "only building blocks have a position"
    );
}

#[test]
fn the_shell_copies_the_fields_common_to_every_event_and_drops_the_others() {
    let rule = sequence_rule();
    let shell = two_event_alerts(&rule).shell.document;
    assert_eq!(
        shell["user"],
        json!({ "name": "mallory", "roles": ["ops"] })
    );
    assert_eq!(shell["event"]["action"], Value::Null, "the actions differ");
    assert_eq!(shell["event"]["category"], json!(["iam"]));
    assert_eq!(shell["event"]["kind"], json!("signal"));
    assert_eq!(
        shell["tags"],
        json!(["cloudtrail"]),
        "an array and a scalar keep what they share"
    );
    assert_eq!(
        shell["count"],
        json!(1),
        "1 and 1.0 are one number, as in JavaScript"
    );
    assert!(
        shell.get("label").is_none(),
        "a number and a string are not equal"
    );
    assert!(
        shell.get("source").is_none(),
        "an object with nothing in common disappears"
    );
    assert_eq!(shell["cloud"], Value::Null);
    assert_eq!(shell["note"], Value::Null);
    assert!(
        shell.as_object().unwrap().contains_key("note"),
        "equal nulls are kept"
    );
    assert_eq!(
        shell["kibana.alert.original_event.outcome"],
        json!("success")
    );
    assert!(shell.get("kibana.alert.original_event.action").is_none());
}

#[test]
fn arrays_with_nothing_in_common_stay_as_empty_arrays() {
    let rule = sequence_rule();
    let mut second = attach_policy();
    second["user"]["roles"] = json!(["admin"]);
    let shell = alerts_of(&rule, &[create_user(), second], "exec-1", 0)
        .shell
        .document;
    assert_eq!(shell["user"], json!({ "name": "mallory", "roles": [] }));
}

#[test]
fn the_shell_carries_the_rule_and_alert_fields_of_its_events() {
    let rule = sequence_rule();
    let alerts = two_event_alerts(&rule);
    let shell = &alerts.shell.document;
    let block = &alerts.building_blocks[0].document;
    for field in [
        "@timestamp",
        "kibana.alert.rule.name",
        "kibana.alert.rule.rule_id",
        "kibana.alert.rule.uuid",
        "kibana.alert.rule.threat",
        "kibana.alert.rule.tags",
        "kibana.alert.rule.execution.uuid",
        "kibana.alert.severity",
        "kibana.alert.risk_score",
        "kibana.alert.status",
        "kibana.alert.workflow_status",
        "kibana.space_ids",
    ] {
        assert_eq!(shell[field], block[field], "{field}");
        assert!(!shell[field].is_null(), "{field}");
    }
}

#[test]
fn the_shell_has_no_building_block_type_unless_the_rule_is_a_building_block_rule() {
    let rule = sequence_rule();
    let shell = two_event_alerts(&rule).shell.document;
    assert!(shell.get("kibana.alert.building_block_type").is_none());

    let shell = two_event_alerts(&building_block_rule()).shell.document;
    assert_eq!(shell["kibana.alert.building_block_type"], json!("default"));
}

#[test]
fn the_shell_original_time_is_its_first_events_timestamp() {
    let rule = sequence_rule();
    let shell = two_event_alerts(&rule).shell.document;
    assert_eq!(
        shell["kibana.alert.original_time"],
        json!("2026-01-10T11:58:00.000Z")
    );
}

#[test]
fn the_shell_reason_names_what_the_events_share() {
    let rule = sequence_rule();
    let shell = two_event_alerts(&rule).shell.document;
    assert_eq!(
        shell["kibana.alert.reason"],
        json!("iam event by mallory created medium alert Test rule seq-rule-1.")
    );
}

#[test]
fn sequence_alert_ids_do_not_change_across_executions_or_restarts() {
    let rule = sequence_rule();
    let first = alerts_of(&rule, &[create_user(), attach_policy()], "exec-1", 0);
    let later = alerts_of(&rule, &[create_user(), attach_policy()], "exec-2", 5);
    assert_eq!(first.shell.id, later.shell.id);
    let ids = |alerts: &SequenceAlerts| -> Vec<String> {
        alerts
            .building_blocks
            .iter()
            .map(|block| block.id.clone())
            .collect()
    };
    assert_eq!(ids(&first), ids(&later));
    assert_ne!(
        first.shell.document["@timestamp"],
        later.shell.document["@timestamp"]
    );
}

#[test]
fn the_shell_id_is_the_sequence_id_the_matcher_gives_the_same_events() {
    let rule = sequence_rule();
    let alerts = two_event_alerts(&rule);
    let expected = sequence_id(
        [
            ("logs-aws.cloudtrail-default", "doc-1"),
            ("logs-aws.cloudtrail-default", "doc-2"),
        ],
        NAMESPACE,
        "seq-rule-1",
    );
    assert_eq!(alerts.shell.id, expected);
    assert_eq!(
        alerts.building_blocks[1].id,
        building_block_id(&expected, 1)
    );
}

#[test]
fn an_event_in_two_sequences_gets_a_building_block_in_each() {
    let rule = sequence_rule();
    let first = alerts_of(&rule, &[create_user(), attach_policy()], "exec-1", 0);
    let third = json!({ "@timestamp": "2026-01-10T12:00:00.000Z", "user": { "name": "mallory" } });
    let events = [attach_policy(), third];
    let context = context(&rule, "exec-1", 0);
    let sources: Vec<SourceEvent<'_>> = vec![
        SourceEvent {
            index: "logs-aws.cloudtrail-default",
            id: "doc-2",
            source: &events[0],
        },
        SourceEvent {
            index: "logs-aws.cloudtrail-default",
            id: "doc-3",
            source: &events[1],
        },
    ];
    let second = build_sequence_alerts(&sources, context, &SharedFields::new(context)).unwrap();
    assert_ne!(first.building_blocks[1].id, second.building_blocks[0].id);
    assert_ne!(first.shell.id, second.shell.id);
}

#[test]
fn building_block_id_is_pinned() {
    // (Python: sha256 over b"".join(struct.pack(">Q", len(p)) + p for p in parts), parts = tag,
    // sequence id, position.)
    assert_eq!(
        building_block_id("abc", 0),
        "11ef75f9e686251024bf77a86ef2eb38264ec3f4b550aad359e80353170b1652"
    );
}
