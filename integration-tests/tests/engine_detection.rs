//! The engine against the live server with the seed rules: which CloudTrail events become alerts
//! (done-means 1), which timestamp a window applies to (2), and what an alert document carries (6).

mod engine_support;

use engine_support::*;
use lookout::ExecutionStatus;
use lookout::{alert_id, rule_uuid};
use serde_json::json;

#[tokio::test]
async fn seed_rules_alert_once_on_successful_group_changes_and_never_on_the_rest() {
    let env = Env::new().await;
    let at = t0();
    let ingested = at - minutes(2);
    let mut docs = vec![
        event("AddUserToGroup", "success", ingested, Some(ingested)),
        event("AddUserToGroup", "failure", ingested, Some(ingested)),
        event("CreateGroup", "success", ingested, Some(ingested)),
    ];
    for action in [
        "CreateUser",
        "ConsoleLogin",
        "DeleteGroup",
        "AttachUserPolicy",
    ] {
        docs.push(event(action, "success", ingested, Some(ingested)));
    }
    env.index(&docs).await;
    let add_user = env.rule(ADD_USER_TO_GROUP, &[]);
    let create_group = env.rule(CREATE_GROUP, &[]);

    let first = env.execute(&add_user, at).await;
    let second = env.execute(&create_group, at).await;

    assert_eq!(
        first.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        first.record
    );
    assert_eq!(
        second.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        second.record
    );
    assert_eq!((first.record.hits, first.record.alerts_created), (1, 1));
    assert_eq!((second.record.hits, second.record.alerts_created), (1, 1));
    let alerts = env.alerts().await;
    let mut found: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["kibana.alert.rule.rule_id"].as_str().unwrap().to_string(),
                a["event"]["action"].as_str().unwrap().to_string(),
                a["event"]["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (
            ADD_USER_RULE_ID.to_string(),
            "AddUserToGroup".to_string(),
            "success".to_string(),
        ),
        (
            CREATE_GROUP_RULE_ID.to_string(),
            "CreateGroup".to_string(),
            "success".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn events_outside_the_window_give_no_alert() {
    let env = Env::new().await;
    let at = t0();
    let old = at - minutes(7);
    let future = at + minutes(1);
    env.index(&[
        event("AddUserToGroup", "success", old, Some(old)),
        event("AddUserToGroup", "success", future, Some(future)),
    ])
    .await;
    let report = env.execute(&env.rule(ADD_USER_TO_GROUP, &[]), at).await;
    assert_eq!(report.record.hits, 0);
    assert!(env.alerts().await.is_empty());
}

#[tokio::test]
async fn window_applies_to_event_ingested_with_timestamp_fallback() {
    let env = Env::new().await;
    let at = t0();
    let mut late = event(
        "AddUserToGroup",
        "success",
        at - minutes(120),
        Some(at - minutes(1)),
    );
    late["labels"] = json!({"mark": "late-arrival"});
    let mut no_ingested = event("AddUserToGroup", "success", at - minutes(2), None);
    no_ingested["labels"] = json!({"mark": "no-ingested"});
    let mut old_ingested = event(
        "AddUserToGroup",
        "success",
        at - minutes(1),
        Some(at - minutes(90)),
    );
    old_ingested["labels"] = json!({"mark": "ingested-long-ago"});
    env.index(&[late, no_ingested, old_ingested]).await;

    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    let report = env.execute(&rule, at).await;

    assert_eq!(report.record.alerts_created, 2, "{:?}", report.record);
    assert_eq!(
        marks(&env.alerts().await),
        vec!["late-arrival", "no-ingested"]
    );
}

#[tokio::test]
async fn without_fallback_an_event_lacking_event_ingested_is_not_alerted() {
    let env = Env::new().await;
    let at = t0();
    let mut no_ingested = event("AddUserToGroup", "success", at - minutes(2), None);
    no_ingested["labels"] = json!({"mark": "no-ingested"});
    let mut with_ingested = event(
        "AddUserToGroup",
        "success",
        at - minutes(2),
        Some(at - minutes(2)),
    );
    with_ingested["labels"] = json!({"mark": "ingested"});
    env.index(&[no_ingested, with_ingested]).await;

    let rule = env.rule(
        ADD_USER_TO_GROUP,
        &[("timestamp_override_fallback_disabled", "true")],
    );
    let report = env.execute(&rule, at).await;

    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    assert_eq!(marks(&env.alerts().await), vec!["ingested"]);
}

#[tokio::test]
async fn alert_document_carries_the_kibana_alert_fields() {
    let env = Env::new().await;
    let at = t0();
    let ingested = at - minutes(3);
    let source = event("AddUserToGroup", "success", at - minutes(4), Some(ingested));
    env.index(std::slice::from_ref(&source)).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);

    let report = env.execute(&rule, at).await;
    assert_eq!(report.record.alerts_created, 1, "{:?}", report.record);
    let alerts = env.alerts().await;
    let alert = &alerts[0];
    let stored = integration_tests::TestServer::connect()
        .all_docs(&env.source)
        .await;
    let source_id = stored[0]["_id"].as_str().unwrap();
    let expected_id = alert_id(&env.source, source_id, "default", ADD_USER_RULE_ID);

    assert_eq!(alert["_id"], json!(expected_id));
    assert_eq!(alert["kibana.alert.uuid"], json!(expected_id));
    assert_eq!(alert["@timestamp"], json!(iso(at)));
    assert_eq!(alert["event"]["kind"], "signal");
    assert_eq!(
        alert["kibana.alert.original_time"],
        json!(iso(at - minutes(4)))
    );
    assert_eq!(
        alert["kibana.alert.original_event.action"],
        "AddUserToGroup"
    );
    assert_eq!(alert["kibana.alert.original_event.kind"], "event");
    assert_eq!(alert["kibana.alert.original_event.outcome"], "success");
    assert_eq!(
        alert["kibana.alert.original_event.provider"],
        "iam.amazonaws.com"
    );
    assert_eq!(
        alert["kibana.alert.original_event.ingested"],
        json!(iso(ingested))
    );
    assert_eq!(
        alert["kibana.alert.ancestors"],
        json!([{"id": source_id, "index": env.source, "type": "event", "depth": 0}])
    );
    assert_eq!(alert["kibana.alert.depth"], 1);
    assert_eq!(
        alert["kibana.alert.reason"],
        "iam event with source 127.0.0.1 by Alice created low alert AWS IAM User Addition to Group."
    );
    assert_eq!(alert["kibana.alert.status"], "active");
    assert_eq!(alert["kibana.alert.workflow_status"], "open");
    assert_eq!(alert["kibana.alert.severity"], "low");
    assert_eq!(alert["kibana.alert.risk_score"], 21);
    assert_eq!(
        alert["kibana.alert.rule.name"],
        "AWS IAM User Addition to Group"
    );
    assert_eq!(alert["kibana.alert.rule.rule_id"], ADD_USER_RULE_ID);
    assert_eq!(
        alert["kibana.alert.rule.uuid"],
        json!(rule_uuid("default", ADD_USER_RULE_ID).to_string())
    );
    assert_eq!(alert["kibana.alert.rule.type"], "query");
    assert_eq!(alert["kibana.alert.rule.severity"], "low");
    assert_eq!(alert["kibana.alert.rule.risk_score"], 21);
    assert_eq!(alert["kibana.alert.rule.from"], "now-6m");
    assert_eq!(alert["kibana.alert.rule.to"], "now");
    assert_eq!(alert["kibana.alert.rule.interval"], "5m");
    assert_eq!(alert["kibana.alert.rule.max_signals"], 100);
    assert_eq!(
        alert["kibana.alert.rule.timestamp_override"],
        "event.ingested"
    );
    let parameters = &alert["kibana.alert.rule.parameters"];
    assert_eq!(parameters["language"], "kuery");
    assert_eq!(parameters["type"], "query");
    assert_eq!(alert["kibana.alert.rule.indices"], json!([env.source]));
    assert_eq!(alert["kibana.alert.rule.license"], "Elastic License v2");
    assert_eq!(alert["kibana.alert.rule.author"], json!(["Elastic"]));
    assert!(
        parameters["query"]
            .as_str()
            .unwrap()
            .contains("event.action: AddUserToGroup")
    );
    assert!(
        alert["kibana.alert.rule.description"]
            .as_str()
            .unwrap()
            .starts_with("Identifies")
    );
    assert!(
        alert["kibana.alert.rule.tags"]
            .as_array()
            .unwrap()
            .contains(&json!("Domain: Cloud"))
    );
    assert_eq!(
        alert["kibana.alert.rule.version"], 1,
        "the corpus file has no version"
    );
    let tactics: Vec<&str> = alert["kibana.alert.rule.threat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tactic"]["name"].as_str().unwrap())
        .collect();
    assert!(tactics.contains(&"Credential Access"), "{tactics:?}");
    assert_eq!(
        alert["kibana.alert.rule.execution.uuid"],
        json!(report.record.execution_uuid)
    );
    assert_eq!(alert["kibana.space_ids"], json!(["default"]));
    // The source event's own fields are kept.
    assert_eq!(alert["user"]["name"], source["user"]["name"]);
    assert_eq!(alert["group"]["name"], "admin");
    assert_eq!(alert["cloud"]["region"], source["cloud"]["region"]);
    assert_eq!(alert["event"]["original"], source["event"]["original"]);
}

#[tokio::test]
async fn an_index_pattern_matching_nothing_is_a_warning_not_an_error() {
    let env = Env::new().await;
    let missing = integration_tests::unique_name("logs-nothing-here");
    let rule = seed_rule(ADD_USER_TO_GROUP, &format!("{missing}-*"), &[]);

    let report = env.execute(&rule, t0()).await;

    assert_eq!(
        report.record.status,
        ExecutionStatus::PartialFailure,
        "{:?}",
        report.record
    );
    assert_eq!(report.record.error, None);
    assert_eq!(
        report.record.warnings.len(),
        1,
        "{:?}",
        report.record.warnings
    );
    assert!(report.record.warnings[0].contains("matches no index"));
    assert!(report.record.warnings[0].contains(&missing));
}
