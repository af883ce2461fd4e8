//! Proves the harness itself: the live server is reachable, the real CloudTrail mapping installs,
//! and the shared ECS samples load and count back.

use chrono::Utc;
use integration_tests::{TestServer, ecs_samples, stamp_ingested, unique_name};

#[tokio::test]
async fn cloudtrail_samples_load_into_the_real_mapping_and_count_back() {
    let server = TestServer::connect();
    let index = unique_name("logs-aws.cloudtrail-harness");
    server.create_cloudtrail_index(&index).await;

    let now = Utc::now();
    let mut docs = ecs_samples();
    assert_eq!(docs.len(), 18, "the shared fixtures hold 18 ECS samples");
    for doc in &mut docs {
        stamp_ingested(doc, now);
    }
    server.bulk_create(&index, &docs).await;

    assert_eq!(server.count(&index).await, 18);
    let stored = server.all_docs(&index).await;
    assert!(
        stored
            .iter()
            .all(|hit| hit["_source"]["event"]["ingested"].is_string()),
        "every loaded document carries event.ingested"
    );
    let mapping = server
        .ok(
            elasticsearch::http::Method::Get,
            &format!("/{index}/_mapping"),
            None,
        )
        .await;
    let event_ingested =
        &mapping[&index]["mappings"]["properties"]["event"]["properties"]["ingested"];
    assert_eq!(
        event_ingested["type"], "date",
        "event.ingested is mapped as a date"
    );
    server.delete_index(&index).await;
}
