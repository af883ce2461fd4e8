//! Samples run by lookout (servers without `_eql/search`): Elasticsearch's documented sample
//! semantics on fetched documents (join keys, no ordering, one event per filter).

use super::sequence::Document;
use super::{Fields, LocalQuery, parse};
use serde_json::{Value, json};

fn doc(id: &str, source: Value) -> Document {
    Document {
        index: "logs".to_string(),
        id: id.to_string(),
        source,
    }
}

/// The ids of each sample the documents make, in the order given.
fn samples(query: &str, docs: Vec<Document>) -> Vec<Vec<String>> {
    let tree = parse(query).expect("a sample query");
    let local = LocalQuery::new(&tree, Fields::default(), None).expect("lookout runs samples");
    let plan = local.sample().expect("a sample plan");
    let mut found = super::Samples::default();
    for document in docs {
        plan.add(&mut found, document, None);
    }
    (found.finish().into_iter())
        .map(|(_, events)| events.iter().map(|event| event.id.clone()).collect())
        .collect()
}

const QUERY: &str = "sample by host.id [any where event.action == \"open\"] [any where event.action == \"connect\"]";

#[test]
fn a_sample_is_one_event_per_filter_sharing_the_join_key_in_any_order() {
    let found = samples(
        QUERY,
        vec![
            doc(
                "c1",
                json!({"host": {"id": "h1"}, "event": {"action": "connect"}}),
            ),
            doc(
                "o1",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}}),
            ),
            doc(
                "o2",
                json!({"host": {"id": "h2"}, "event": {"action": "open"}}),
            ),
            doc(
                "o3",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}}),
            ),
        ],
    );
    // h1: the connect came first, the first open is taken; h2 has no connect: no sample.
    assert_eq!(found, [["o1", "c1"]]);
}

#[test]
fn one_sample_per_join_key_and_none_without_a_key_value() {
    let found = samples(
        QUERY,
        vec![
            doc(
                "o1",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}}),
            ),
            doc(
                "o2",
                json!({"host": {"id": "h2"}, "event": {"action": "open"}}),
            ),
            doc(
                "c2",
                json!({"host": {"id": "h2"}, "event": {"action": "connect"}}),
            ),
            doc(
                "c1",
                json!({"host": {"id": "h1"}, "event": {"action": "connect"}}),
            ),
            doc("c0", json!({"event": {"action": "connect"}})),
            doc("o0", json!({"event": {"action": "open"}})),
        ],
    );
    assert_eq!(found, [["o1", "c1"], ["o2", "c2"]]);
}
