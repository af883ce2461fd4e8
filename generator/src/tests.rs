//! Behaviour of the generator as a whole: determinism, document shape against the mapping,
//! outcomes, timing, and the hand-made [`EventSpec`] events.

use super::mapping::{Flavor, check_document, index_template, mappings};
use super::*;
use serde_json::json;

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid test time")
        .to_utc()
}

fn config(seed: u64, count: u64) -> GeneratorConfig {
    GeneratorConfig::new(
        seed,
        time("2024-05-01T10:00:00Z"),
        time("2024-05-01T12:00:00Z"),
        count,
    )
}

fn documents(config: GeneratorConfig) -> Vec<Value> {
    Generator::new(config)
        .expect("valid config")
        .documents()
        .collect()
}

fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(doc, |node, key| node.get(key))
        .and_then(Value::as_str)
}

#[test]
fn the_same_seed_gives_the_same_documents() {
    assert_eq!(documents(config(7, 500)), documents(config(7, 500)));
}

#[test]
fn different_seeds_give_different_documents() {
    assert_ne!(documents(config(7, 50)), documents(config(8, 50)));
}

#[test]
fn every_document_fits_both_shipped_mappings() {
    let mut settings = config(11, 3000);
    settings.preserve_original = true;
    settings.seed_actions_rate = 0.1;
    settings.failure_rate = 0.2;
    let docs = documents(settings);
    for flavor in [Flavor::Elasticsearch, Flavor::OpenSearch] {
        let strict = json!({"properties": mappings(flavor)["properties"].clone()});
        for doc in &docs {
            let found = check_document(doc, &strict);
            assert!(found.is_empty(), "{flavor:?}: {}: {doc}", found[0]);
        }
    }
}

#[test]
fn every_document_has_the_fields_the_seed_rules_read() {
    for doc in documents(config(3, 2000)) {
        for path in [
            "@timestamp",
            "event.ingested",
            "event.dataset",
            "event.provider",
            "event.action",
            "event.outcome",
            "event.kind",
            "source.address",
            "user_agent.original",
            "cloud.region",
            "event.id",
        ] {
            assert!(text(&doc, path).is_some(), "{path} missing in {doc}");
        }
        assert_eq!(text(&doc, "event.dataset"), Some("aws.cloudtrail"));
        assert!(
            doc["event"]["type"].is_array(),
            "event.type is a list: {doc}"
        );
    }
}

#[test]
fn failed_calls_carry_an_error_and_outcome_failure() {
    let mut settings = config(5, 3000);
    settings.failure_rate = 0.3;
    let docs = documents(settings);
    let failures: Vec<_> = docs
        .iter()
        .filter(|d| text(d, "event.outcome") == Some("failure"))
        .collect();
    assert!(
        failures.len() > 500,
        "a 30% failure rate gives failures: {}",
        failures.len()
    );
    for doc in failures {
        let code = text(doc, "aws.cloudtrail.error_code");
        if text(doc, "event.action") == Some("ConsoleLogin") {
            assert_eq!(
                text(doc, "aws.cloudtrail.error_message"),
                Some("Failed authentication")
            );
        } else {
            assert!(code.is_some_and(|c| !c.is_empty()), "no error code: {doc}");
        }
    }
    for doc in docs
        .iter()
        .filter(|d| text(d, "event.outcome") == Some("success"))
    {
        assert!(
            text(doc, "aws.cloudtrail.error_code").is_none(),
            "success with an error: {doc}"
        );
    }
}

#[test]
fn ingested_never_precedes_the_event_and_times_stay_in_range_and_order() {
    let settings = config(9, 2000);
    let (start, end) = (settings.start, settings.end);
    let generator = Generator::new(settings).expect("valid");
    let mut previous = start;
    for event in generator.events() {
        assert!(event.ingested >= event.timestamp);
        assert!(event.timestamp >= previous && event.timestamp <= end);
        previous = event.timestamp;
    }
}

#[test]
fn lag_follows_the_model() {
    let generator = Generator::new(config(1, 10_000)).expect("valid");
    let mut lags: Vec<i64> = generator
        .events()
        .map(|e| (e.ingested - e.timestamp).num_seconds())
        .collect();
    lags.sort_unstable();
    let median = lags[lags.len() / 2];
    assert!(
        (270..=330).contains(&median),
        "median lag {median}s is about 5 minutes"
    );
    assert!(lags[0] >= 45 && lags[lags.len() - 1] <= 20 * 60);
    assert!(
        lags[lags.len() * 99 / 100] > 12 * 60,
        "a tail past 12 minutes"
    );
}

#[test]
fn ingested_not_after_holds_back_future_arrivals() {
    let mut settings = config(2, 500);
    let limit = settings.end;
    settings.ingested_not_after = Some(limit);
    for event in Generator::new(settings).expect("valid").events() {
        assert!(event.ingested <= limit.max(event.timestamp));
    }
}

#[test]
fn seed_actions_come_with_both_outcomes() {
    let mut counts = std::collections::BTreeMap::new();
    for doc in documents(config(42, 5000)) {
        let action = text(&doc, "event.action").unwrap_or_default().to_string();
        if SEED_ACTIONS.contains(&action.as_str()) {
            *counts
                .entry((
                    action,
                    text(&doc, "event.outcome").unwrap_or_default().to_string(),
                ))
                .or_insert(0) += 1;
        }
    }
    for action in SEED_ACTIONS {
        for outcome in ["success", "failure"] {
            let n = counts
                .get(&(action.to_string(), outcome.to_string()))
                .copied()
                .unwrap_or(0);
            assert!(n > 0, "{action} {outcome}: {counts:?}");
        }
    }
}

#[test]
fn noise_only_has_no_seed_actions() {
    let mut settings = config(4, 3000);
    settings.seed_actions_rate = 0.0;
    assert!(
        documents(settings)
            .iter()
            .all(|d| !SEED_ACTIONS.contains(&text(d, "event.action").unwrap_or_default()))
    );
}

#[test]
fn chosen_actions_are_the_only_ones() {
    let mut settings = config(4, 300);
    settings.actions = Some(vec!["CreateGroup".to_string(), "ListBuckets".to_string()]);
    let docs = documents(settings);
    assert!(
        docs.iter()
            .all(|d| matches!(text(d, "event.action"), Some("CreateGroup" | "ListBuckets")))
    );
    assert!(
        docs.iter()
            .any(|d| text(d, "event.action") == Some("CreateGroup"))
    );
}

#[test]
fn bad_configurations_are_refused() {
    let mut unknown = config(1, 1);
    unknown.actions = Some(vec!["MakeCoffee".to_string()]);
    assert_eq!(
        Generator::new(unknown).err(),
        Some(GeneratorError::UnknownAction("MakeCoffee".into()))
    );
    let mut rate = config(1, 1);
    rate.failure_rate = 1.5;
    assert!(matches!(
        Generator::new(rate),
        Err(GeneratorError::Rate { .. })
    ));
    let mut range = config(1, 1);
    std::mem::swap(&mut range.start, &mut range.end);
    assert!(matches!(
        Generator::new(range),
        Err(GeneratorError::EmptyRange { .. })
    ));
}

#[test]
fn documents_stream_without_building_the_whole_set() {
    let generator = Generator::new(config(1, MAX_COUNT)).expect("valid");
    assert_eq!(generator.documents().take(3).count(), 3);
}

#[test]
fn every_catalogued_action_yields_exactly_the_requested_action_and_outcome() {
    let at = time("2024-05-01T10:00:00Z");
    for def in CATALOG {
        let success = EventSpec::new(def.name).to_document(at, None);
        assert_eq!(text(&success, "event.action"), Some(def.name));
        assert_eq!(
            text(&success, "event.provider"),
            Some(def.service.provider())
        );
        assert_eq!(text(&success, "event.outcome"), Some("success"));
        let failure = EventSpec::new(def.name).failed().to_document(at, None);
        assert_eq!(
            text(&failure, "event.outcome"),
            Some("failure"),
            "{}",
            def.name
        );
    }
}

#[test]
fn add_user_to_group_spec_fills_the_fields_rules_match_on() {
    let at = time("2024-05-01T10:00:00Z");
    let doc = EventSpec::new("AddUserToGroup")
        .with_user("mallory")
        .with_param("groupName", "Admins")
        .with_source_ip("89.160.20.156")
        .to_document(at, Some(at + TimeDelta::minutes(6)));
    assert_eq!(text(&doc, "event.provider"), Some("iam.amazonaws.com"));
    assert_eq!(text(&doc, "group.name"), Some("Admins"));
    assert_eq!(text(&doc, "user.name"), Some("mallory"));
    assert_eq!(text(&doc, "user.target.name"), Some("bob.martin"));
    assert_eq!(doc["related"]["user"], json!(["mallory", "bob.martin"]));
    assert_eq!(
        text(&doc, "aws.cloudtrail.request_parameters"),
        Some("{groupName=Admins, userName=bob.martin}")
    );
    assert_eq!(
        doc["aws"]["cloudtrail"]["flattened"]["request_parameters"]["groupName"],
        "Admins"
    );
    assert_eq!(text(&doc, "event.ingested"), Some("2024-05-01T10:06:00Z"));
    assert_eq!(text(&doc, "@timestamp"), Some("2024-05-01T10:00:00.000Z"));
    assert_eq!(text(&doc, "source.geo.country_iso_code"), Some("SE"));
    assert_eq!(doc["event"]["category"], json!(["iam"]));
    assert_eq!(doc["event"]["type"], json!(["group", "change"]));
}

#[test]
fn create_group_failure_is_entity_already_exists_without_a_response() {
    let doc = EventSpec::new("CreateGroup")
        .failed()
        .to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(
        text(&doc, "aws.cloudtrail.error_code"),
        Some("EntityAlreadyExistsException")
    );
    assert_eq!(
        text(&doc, "aws.cloudtrail.error_message"),
        Some("Group with name Developers already exists.")
    );
    assert!(doc["aws"]["cloudtrail"].get("response_elements").is_none());
    assert!(doc.get("group").and_then(|g| g.get("id")).is_none());
}

#[test]
fn create_group_success_reports_the_new_group_id() {
    let doc = EventSpec::new("CreateGroup").to_document(time("2020-01-09T01:48:44Z"), None);
    assert!(text(&doc, "group.id").is_some_and(|id| id.starts_with("AGPA")));
    assert!(
        text(&doc, "aws.cloudtrail.response_elements")
            .is_some_and(|r| r.contains("createDate=Jan 9, 2020 1:48:44 AM"))
    );
}

#[test]
fn access_denied_names_the_caller_and_the_action() {
    let doc = EventSpec::new("AddUserToGroup")
        .with_user("mallory")
        .failed_with("AccessDenied")
        .to_document(time("2024-05-01T10:00:00Z"), None);
    let message = text(&doc, "aws.cloudtrail.error_message").expect("message");
    assert!(
        message.contains("arn:aws:iam::123456789012:user/mallory"),
        "{message}"
    );
    assert!(message.contains("iam:AddUserToGroup"), "{message}");
}

#[test]
fn an_unknown_error_code_is_kept_without_an_invented_message() {
    let doc = EventSpec::new("ListBuckets")
        .failed_with("SlowDown")
        .to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(text(&doc, "aws.cloudtrail.error_code"), Some("SlowDown"));
    assert!(text(&doc, "aws.cloudtrail.error_message").is_none());
    assert_eq!(text(&doc, "event.outcome"), Some("failure"));
}

#[test]
fn assumed_roles_put_the_role_name_in_user_name() {
    let identity = Identity::assumed_role(DEFAULT_ACCOUNT_ID, "Deployer", "ci-run-7");
    let doc = EventSpec::new("CreateGroup")
        .with_identity(identity)
        .to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(text(&doc, "user.name"), Some("Deployer"));
    assert_eq!(
        text(&doc, "aws.cloudtrail.user_identity.type"),
        Some("AssumedRole")
    );
    assert_eq!(
        text(
            &doc,
            "aws.cloudtrail.user_identity.session_context.session_issuer.type"
        ),
        Some("Role")
    );
}

#[test]
fn service_principals_have_an_address_but_no_ip() {
    let doc = EventSpec::new("AssumeRole")
        .with_identity(Identity::aws_service("lambda.amazonaws.com"))
        .with_source_ip("lambda.amazonaws.com")
        .to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(text(&doc, "source.address"), Some("lambda.amazonaws.com"));
    assert!(doc["source"].get("ip").is_none());
    assert!(doc.get("user").is_none_or(|u| u.get("name").is_none()));
}

#[test]
fn console_login_failure_has_a_message_and_no_code() {
    let doc = EventSpec::new("ConsoleLogin")
        .failed()
        .to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(text(&doc, "event.outcome"), Some("failure"));
    assert!(text(&doc, "aws.cloudtrail.error_code").is_none());
    assert_eq!(
        doc["aws"]["cloudtrail"]["console_login"]["additional_eventdata"]["mfa_used"],
        false
    );
}

#[test]
fn console_sign_in_uses_no_access_key() {
    let doc = EventSpec::new("ConsoleLogin").to_document(time("2024-05-01T10:00:00Z"), None);
    assert_eq!(
        text(&doc, "aws.cloudtrail.event_type"),
        Some("AwsConsoleSignIn")
    );
    assert!(
        doc["aws"]["cloudtrail"]["user_identity"]
            .get("access_key_id")
            .is_none()
    );
    assert_eq!(text(&doc, "event.outcome"), Some("success"));
}

#[test]
fn preserved_original_is_the_raw_record() {
    let at = time("2024-05-01T10:00:00Z");
    let spec = EventSpec::new("CreateGroup").with_original();
    let doc = spec.to_document(at, None);
    let original: Value =
        serde_json::from_str(text(&doc, "event.original").expect("kept")).expect("JSON");
    assert_eq!(original, spec.to_record(at));
    assert!(
        doc["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("preserve_original_event")))
    );
    assert!(
        EventSpec::new("CreateGroup").to_document(at, None)["event"]
            .get("original")
            .is_none()
    );
}

#[test]
fn hand_made_events_are_stable() {
    let at = time("2024-05-01T10:00:00Z");
    assert_eq!(
        EventSpec::new("CreateGroup").to_document(at, None),
        EventSpec::new("CreateGroup").to_document(at, None)
    );
}

#[test]
fn shipped_template_files_match_the_generator() {
    let elasticsearch: Value = serde_json::from_str(include_str!(
        "../../config/templates/logs-aws.cloudtrail.json"
    ))
    .expect("JSON");
    let opensearch: Value = serde_json::from_str(include_str!(
        "../../config/templates/logs-aws.cloudtrail.opensearch.json"
    ))
    .expect("JSON");
    assert_eq!(
        elasticsearch,
        index_template(Flavor::Elasticsearch),
        "regenerate with: lookout generate --template elasticsearch"
    );
    assert_eq!(
        opensearch,
        index_template(Flavor::OpenSearch),
        "regenerate with: lookout generate --template opensearch"
    );
}

#[test]
fn the_eql_activity_rate_plants_every_scenario_whole_in_a_stream_of_the_asked_count() {
    let mut config = config(11, 4000);
    config.end = time("2024-05-02T10:00:00Z");
    config.eql_activity_rate = 0.02;
    let generator = Generator::new(config).expect("valid config");
    let events: Vec<GeneratedEvent> = generator.events().collect();
    assert_eq!(events.len(), 4000);
    assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    let scenarios = aws_eql_scenarios();
    for scenario in &scenarios {
        let planted = events
            .iter()
            .filter(|e| e.planted_for == Some(scenario.rule))
            .count();
        let per_start = scenario
            .steps
            .iter()
            .filter(|s| s.planted_for.is_some())
            .count();
        if per_start == 0 {
            assert!(
                UNREACHABLE_AWS_EQL_RULES
                    .iter()
                    .any(|(rule, _)| *rule == scenario.rule)
            );
            continue;
        }
        assert!(planted >= per_start, "{}: {planted}", scenario.rule);
        assert_eq!(planted % per_start, 0, "{}: cut short", scenario.rule);
    }
    let mapping = mappings(Flavor::OpenSearch);
    for event in events.iter().filter(|e| e.planted_for.is_some()) {
        assert_eq!(event.ingested, event.timestamp);
        let doc = event.to_document();
        let found = check_document(&doc, &mapping);
        assert!(found.is_empty(), "{}: {doc}", found[0]);
    }
}

#[test]
fn without_eql_activity_the_stream_is_unchanged() {
    let mut with_zero = config(5, 300);
    with_zero.eql_activity_rate = 0.0;
    assert_eq!(documents(with_zero), documents(config(5, 300)));
}
