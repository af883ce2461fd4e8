//! The generator against the real thing: the AWS integration's own test documents (shared
//! fixtures) and their mapping. The raw sample records must become the same ECS fields the real
//! pipeline produced; generated documents must fit the real mapping; the template lookout ships
//! must agree with the real mapping on every field it declares; and generated documents must load
//! into a live server under lookout's own template.

use chrono::{DateTime, Utc};
use elasticsearch::http::Method;
use integration_tests::server::Api;
use integration_tests::{TestServer, read_json, read_ndjson, shared_file, unique_name};
use lookout_generator::mapping::{Flavor, check_document, index_template, mappings};
use lookout_generator::{Generator, GeneratorConfig, record_to_document};
use serde_json::{Value, json};

/// ECS fields the emulated pipeline must reproduce exactly for the shared samples.
const COMPARED_FIELDS: &[&str] = &[
    "@timestamp",
    "event.action",
    "event.provider",
    "event.outcome",
    "event.category",
    "event.type",
    "event.kind",
    "event.id",
    "cloud.account.id",
    "cloud.region",
    "user.id",
    "user.target.name",
    "user.target.id",
    "user.changes.name",
    "group.name",
    "group.id",
    "source.address",
    "source.ip",
    "aws.cloudtrail.request_parameters",
    "aws.cloudtrail.response_elements",
    "aws.cloudtrail.additional_eventdata",
    "aws.cloudtrail.flattened",
    "aws.cloudtrail.error_code",
    "aws.cloudtrail.error_message",
    "aws.cloudtrail.user_identity",
    "aws.cloudtrail.resources",
    "aws.cloudtrail.console_login",
    "aws.cloudtrail.event_type",
    "aws.cloudtrail.recipient_account_id",
    "aws.cloudtrail.request_id",
];

fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |node, key| node.get(key))
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid test time")
        .to_utc()
}

fn fixture_mappings() -> Value {
    read_json(&shared_file(
        "fixtures/cloudtrail/index-template.opensearch.json",
    ))["template"]["mappings"]
        .clone()
}

fn generated(count: u64) -> Vec<Value> {
    let mut config = GeneratorConfig::new(
        21,
        time("2024-05-01T10:00:00Z"),
        time("2024-05-01T11:00:00Z"),
        count,
    );
    config.seed_actions_rate = 0.1;
    config.failure_rate = 0.2;
    config.preserve_original = true;
    Generator::new(config)
        .expect("valid config")
        .documents()
        .collect()
}

#[test]
fn raw_fixture_records_become_the_documents_the_real_pipeline_made() {
    let raw = read_ndjson(&shared_file("fixtures/cloudtrail/raw-samples.ndjson"));
    let expected = read_ndjson(&shared_file("fixtures/cloudtrail/ecs-samples.ndjson"));
    let mut differences = Vec::new();
    for (line, (record, want)) in raw.iter().zip(&expected).enumerate() {
        let got = record_to_document(record, None, false);
        for field in COMPARED_FIELDS {
            if at(&got, field) != at(want, field) {
                differences.push(format!(
                    "sample {}: {field}: got {:?}, the pipeline made {:?}",
                    line + 1,
                    at(&got, field),
                    at(want, field)
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn generated_documents_fit_the_real_cloudtrail_mapping() {
    let mapping = fixture_mappings();
    for doc in generated(3000) {
        let found = check_document(&doc, &mapping);
        assert!(found.is_empty(), "{}: {doc}", found[0]);
    }
}

#[test]
fn the_real_samples_fit_the_real_mapping_so_the_checker_is_not_too_strict() {
    let mapping = fixture_mappings();
    for doc in read_ndjson(&shared_file("fixtures/cloudtrail/ecs-samples.ndjson")) {
        let found = check_document(&doc, &mapping);
        assert!(found.is_empty(), "{}", found[0]);
    }
}

/// Every leaf field of a mapping with its type, as `path -> mapping`.
fn leaf_fields(properties: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    let Some(object) = properties.as_object() else {
        return;
    };
    for (name, mapping) in object {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match mapping.get("properties") {
            Some(inner) => leaf_fields(inner, &path, out),
            None => out.push((path, mapping.clone())),
        }
    }
}

#[test]
fn the_shipped_template_agrees_with_the_real_mapping_on_every_field() {
    let real = fixture_mappings();
    let mut ours = Vec::new();
    leaf_fields(&mappings(Flavor::OpenSearch)["properties"], "", &mut ours);
    for (path, mapping) in ours {
        let theirs = at(&real["properties"], &path.replace('.', ".properties."))
            .unwrap_or_else(|| panic!("{path} is not in the real mapping"));
        assert_eq!(theirs["type"], mapping["type"], "{path}");
        assert_eq!(theirs.get("fields"), mapping.get("fields"), "{path}");
        assert_eq!(theirs.get("format"), mapping.get("format"), "{path}");
    }
}

#[tokio::test]
async fn generated_documents_load_under_the_shipped_template_and_count_back() {
    let server = TestServer::connect();
    let index = unique_name("logs-aws.cloudtrail-gen");
    let template = index_template(match server.info().await.api {
        Api::Elasticsearch => Flavor::Elasticsearch,
        Api::OpenSearch => Flavor::OpenSearch,
    });
    server
        .ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"mappings": template["template"]["mappings"]})),
        )
        .await;
    let docs = generated(500);
    server.bulk_create(&index, &docs).await;
    assert_eq!(server.count(&index).await, 500);
    let search = server
        .ok(
            Method::Post,
            &format!("/{index}/_search"),
            Some(json!({"size": 0, "query": {"bool": {"filter": [
                {"term": {"event.action": "AddUserToGroup"}},
                {"term": {"event.provider": "iam.amazonaws.com"}},
                {"range": {"event.ingested": {"gte": "2024-05-01T10:00:00Z"}}}
            ]}}})),
        )
        .await;
    let expected = docs
        .iter()
        .filter(|d| d["event"]["action"] == "AddUserToGroup")
        .count();
    assert!(expected > 0, "the mix holds AddUserToGroup events");
    assert_eq!(
        search["hits"]["total"]["value"].as_u64(),
        Some(expected as u64)
    );
    server.delete_index(&index).await;
}

#[test]
fn the_aws_eql_activity_fits_the_real_cloudtrail_mapping() {
    let mapping = fixture_mappings();
    let start = time("2024-05-01T10:00:00Z");
    let mut count = 0;
    for scenario in lookout_generator::aws_eql_scenarios() {
        for event in scenario.events(start) {
            let doc = event.to_document();
            let found = check_document(&doc, &mapping);
            assert!(found.is_empty(), "{}: {}: {doc}", scenario.rule, found[0]);
            count += 1;
        }
    }
    assert!(count > 28, "{count} events");
}
