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

const TWO_FILTERS: &str =
    "sample by host.id [any where event.action == \"open\"] [any where process.name == \"x\"]";

#[test]
fn one_document_matching_two_filters_is_the_event_of_one_of_them_only() {
    let both =
        || json!({"host": {"id": "h1"}, "event": {"action": "open"}, "process": {"name": "x"}});
    // Alone it cannot be both events of the sample.
    assert!(samples(TWO_FILTERS, vec![doc("d1", both())]).is_empty());
    // With another event for the second filter, it is the first filter's.
    let found = samples(
        TWO_FILTERS,
        vec![
            doc("d1", both()),
            doc(
                "d2",
                json!({"host": {"id": "h1"}, "process": {"name": "x"}}),
            ),
        ],
    );
    assert_eq!(found, [["d1", "d2"]]);
}

#[test]
fn the_first_filter_takes_a_later_event_when_its_first_is_the_only_event_of_the_second() {
    let found = samples(
        TWO_FILTERS,
        vec![
            doc(
                "d1",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}, "process": {"name": "x"}}),
            ),
            doc(
                "d2",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}}),
            ),
        ],
    );
    assert_eq!(found, [["d2", "d1"]]);
}

#[test]
fn samples_come_in_join_value_order_not_in_the_order_read() {
    let event = |id: &str, host: &str, action: &str| {
        doc(
            id,
            json!({"host": {"id": host}, "event": {"action": action}}),
        )
    };
    let found = samples(
        QUERY,
        vec![
            event("o3", "h3", "open"),
            event("c3", "h3", "connect"),
            event("o10", "h10", "open"),
            event("c10", "h10", "connect"),
            event("o1", "h1", "open"),
            event("c1", "h1", "connect"),
        ],
    );
    // Keyword order: by bytes, so "h10" sorts before "h3".
    assert_eq!(found, [["o1", "c1"], ["o10", "c10"], ["o3", "c3"]]);
}

#[test]
fn an_absent_optional_join_value_is_a_sample_of_its_own_ordered_first() {
    let query = "sample by ?host.id [any where event.action == \"open\"] [any where event.action == \"connect\"]";
    let found = samples(
        query,
        vec![
            doc(
                "o1",
                json!({"host": {"id": "h1"}, "event": {"action": "open"}}),
            ),
            doc(
                "c1",
                json!({"host": {"id": "h1"}, "event": {"action": "connect"}}),
            ),
            doc("o0", json!({"event": {"action": "open"}})),
            doc("c0", json!({"event": {"action": "connect"}})),
        ],
    );
    assert_eq!(found, [["o0", "c0"], ["o1", "c1"]]);
}
