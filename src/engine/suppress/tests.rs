//! Unit tests of suppression: groups, merging, the history and what a chunk writes.

use super::*;
use crate::rule::{AlertSuppression, test_rule};
use chrono::TimeZone;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 12, minute, 0).unwrap()
}

fn rule(duration: Option<TimeDelta>, strategy: MissingFieldsStrategy) -> Rule {
    let mut rule = test_rule("suppressing");
    rule.meta.details.alert_suppression = Some(AlertSuppression {
        group_by: vec!["source.ip".into(), "user.name".into()],
        duration,
        missing_fields_strategy: strategy,
    });
    rule
}

fn suppressor(rule: &Rule) -> Suppressor {
    let policy = Policy::of(rule).expect("the rule suppresses");
    let window = Window {
        from: at(0),
        to: at(6),
    };
    Suppressor::new(rule, policy, "default", at(6), window)
}

/// An event's alert as the sink sees it: the event's fields and its original time.
fn alert(id: &str, minute: u32, ip: Value, user: Option<&str>) -> Alert {
    let mut document = json!({
        "source": {"ip": ip},
        "kibana.alert.original_time": timestamp(at(minute)),
    });
    if let Some(user) = user {
        document["user"] = json!({"name": user});
    }
    Alert {
        id: id.into(),
        document,
    }
}

#[test]
fn only_threshold_rules_need_nothing_but_a_duration() {
    let plain = test_rule("r");
    assert_eq!(Policy::of(&plain), None);
    let suppressing = rule(None, MissingFieldsStrategy::Suppress);
    let policy = Policy::of(&suppressing).unwrap();
    assert_eq!(policy.group_by, ["source.ip", "user.name"]);
    assert!(policy.suppress_missing);
}

#[test]
fn instance_ids_are_stable_and_differ_with_each_value_and_the_namespace() {
    let terms = vec![("source.ip".to_string(), json!("192.0.2.1"))];
    let id = instance_id("r", "default", &terms);
    assert_eq!(id, instance_id("r", "default", &terms));
    assert_ne!(id, instance_id("r", "other", &terms));
    assert_ne!(
        id,
        instance_id(
            "r",
            "default",
            &[("source.ip".to_string(), json!("192.0.2.2"))]
        )
    );
    assert_ne!(
        id,
        instance_id("r", "default", &[("source.ip".to_string(), json!(null))])
    );
}

#[test]
fn an_events_group_comes_from_its_fields_with_arrays_sorted_and_missing_fields_null() {
    let rule = rule(None, MissingFieldsStrategy::Suppress);
    let suppressor = suppressor(&rule);
    let candidate = suppressor
        .event_candidate(alert("a", 1, json!(["b", "a"]), None))
        .expect("suppressed");
    assert_eq!(
        candidate.terms,
        vec![
            ("source.ip".to_string(), json!(["a", "b"])),
            ("user.name".to_string(), json!(null))
        ]
    );
    assert_eq!(
        (candidate.start, candidate.end, candidate.docs_count),
        (at(1), at(1), 0)
    );
}

#[test]
fn under_do_not_suppress_an_event_missing_a_field_alerts_alone() {
    let rule = rule(None, MissingFieldsStrategy::DoNotSuppress);
    let suppressor = suppressor(&rule);
    let alone = suppressor.event_candidate(alert("a", 1, json!("192.0.2.1"), None));
    assert_eq!(alone.expect_err("alone").id, "a");
    assert!(
        suppressor
            .event_candidate(alert("b", 1, json!("192.0.2.1"), Some("x")))
            .is_ok()
    );
}

#[test]
fn candidates_of_a_group_merge_into_the_earliest_with_the_count_and_latest_end() {
    let rule = rule(None, MissingFieldsStrategy::Suppress);
    let mut suppressor = suppressor(&rule);
    for (id, minute) in [("b", 3), ("a", 1), ("c", 5)] {
        let candidate =
            suppressor.event_candidate(alert(id, minute, json!("192.0.2.1"), Some("u")));
        suppressor.add(candidate.unwrap());
    }
    let other = suppressor.event_candidate(alert("d", 2, json!("192.0.2.9"), Some("u")));
    suppressor.add(other.unwrap());
    let flush = suppressor.flush(10);
    assert_eq!(flush.suppressed, 2);
    assert!(flush.updates.is_empty());
    assert_eq!(flush.creates.len(), 2);
    let (id, doc) = &flush.creates[0];
    assert_eq!(doc["kibana.alert.uuid"], json!(id));
    assert_eq!(doc["kibana.alert.suppression.docs_count"], 2);
    assert_eq!(doc["kibana.alert.suppression.start"], timestamp(at(1)));
    assert_eq!(doc["kibana.alert.suppression.end"], timestamp(at(5)));
    assert_eq!(
        doc["kibana.alert.suppression.terms"],
        json!([{"field": "source.ip", "value": "192.0.2.1"}, {"field": "user.name", "value": "u"}])
    );
    assert_eq!(
        doc["kibana.alert.original_time"],
        timestamp(at(1)),
        "the earliest event's alert"
    );
    assert!(doc["kibana.alert.instance.id"].is_string());
    assert_ne!(id, "a", "not the plain alert id of the event");
}

/// One alert of the history, as the search returns it.
fn history_hit(
    instance: &str,
    start: u32,
    end: u32,
    docs: u64,
    status: &str,
    seq_no: u64,
) -> Value {
    json!({
        "_index": "alerts", "_id": format!("{instance}-{start}"), "_seq_no": seq_no, "_primary_term": 1,
        "_source": {
            "kibana.alert.instance.id": instance,
            "kibana.alert.start": timestamp(at(start)),
            "kibana.alert.workflow_status": status,
            "kibana.alert.suppression.end": timestamp(at(end)),
            "kibana.alert.suppression.docs_count": docs,
            "kibana.alert.suppression.terms": [{"field": "source.ip", "value": "192.0.2.1"}, {"field": "user.name", "value": null}],
        },
    })
}

#[test]
fn events_an_earlier_alert_counts_are_dropped_and_the_open_alert_is_updated_at_its_version() {
    let rule = rule(
        Some(TimeDelta::minutes(30)),
        MissingFieldsStrategy::Suppress,
    );
    let mut suppressor = suppressor(&rule);
    let first = suppressor
        .event_candidate(alert("x", 1, json!("192.0.2.1"), Some("u")))
        .unwrap();
    let instance = first.instance.clone();
    let answer = json!({"hits": {"hits": [
        history_hit(&instance, 0, 2, 4, "open", 11),
        history_hit(&instance, 3, 1, 0, "closed", 12),
    ]}});
    assert_eq!(
        suppressor.read_history(&answer),
        None,
        "a short page is the last"
    );
    suppressor.add(first);
    assert_eq!(
        suppressor.counted_before, 1,
        "minute 1 is at or before the end, minute 2"
    );
    let later = suppressor
        .event_candidate(alert("y", 4, json!("192.0.2.1"), Some("u")))
        .unwrap();
    suppressor.add(later);
    let flush = suppressor.flush(0);
    assert!(flush.creates.is_empty());
    assert!(!flush.limit_reached, "updates need no budget");
    assert_eq!(
        flush.updates,
        vec![DocUpdate {
            index: "alerts".into(),
            id: format!("{instance}-0"),
            seq_no: 11,
            primary_term: 1,
            doc: json!({
                "kibana.alert.suppression.end": timestamp(at(4)),
                "kibana.alert.suppression.docs_count": 5,
                "kibana.alert.last_detected": timestamp(at(6)),
            }),
        }]
    );
}

#[test]
fn without_a_duration_or_past_it_a_group_gets_a_new_alert_within_the_budget() {
    let rule = rule(None, MissingFieldsStrategy::Suppress);
    let mut suppressor = suppressor(&rule);
    let candidate = suppressor
        .event_candidate(alert("x", 4, json!("192.0.2.1"), None))
        .unwrap();
    let instance = candidate.instance.clone();
    suppressor
        .read_history(&json!({"hits": {"hits": [history_hit(&instance, 0, 2, 0, "open", 1)]}}));
    suppressor.add(candidate);
    let other = suppressor
        .event_candidate(alert("z", 4, json!("192.0.2.7"), None))
        .unwrap();
    suppressor.add(other);
    let flush = suppressor.flush(1);
    assert!(flush.updates.is_empty());
    assert_eq!(flush.creates.len(), 1);
    assert!(flush.limit_reached);
}

#[test]
fn the_history_reaches_the_window_and_with_a_duration_the_alerts_started_within_it() {
    let rule = rule(Some(TimeDelta::hours(1)), MissingFieldsStrategy::Suppress);
    let suppressor = suppressor(&rule);
    let request = suppressor.history_request(Some(&json!(["after"])));
    assert_eq!(request["seq_no_primary_term"], true);
    assert_eq!(request["search_after"], json!(["after"]));
    let reaches = &request["query"]["bool"]["filter"][3]["bool"]["should"];
    assert_eq!(
        reaches,
        &json!([
            {"range": {"kibana.alert.suppression.end": {"gte": "2026-01-10T12:00:00.000Z"}}},
            {"range": {"kibana.alert.start": {"gte": "2026-01-10T11:06:00.000Z"}}},
        ])
    );
}

#[test]
fn exclusions_leave_out_each_groups_counted_events() {
    let rule = rule(None, MissingFieldsStrategy::Suppress);
    let mut suppressor = suppressor(&rule);
    suppressor.read_history(&json!({"hits": {"hits": [history_hit("i1", 0, 2, 0, "open", 1)]}}));
    assert_eq!(
        suppressor.exclusions(),
        vec![json!({"bool": {
            "filter": [
                {"term": {"source.ip": "192.0.2.1"}},
                {"range": {"@timestamp": {"lte": "2026-01-10T12:02:00.000Z"}}},
            ],
            "must_not": [{"exists": {"field": "user.name"}}],
        }})]
    );
}
