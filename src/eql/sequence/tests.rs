//! Unit tests of the sequence matcher: each behaviour of docs/eql.md "Sequences", stated in the
//! test's name, and the sequence id.

use super::*;
use serde_json::json;
use std::time::Duration;

/// Builds test events: `event("4", 4).on(1, "root")` matches stage 1 with join key `root`.
trait EventExt: Sized {
    fn on(self, stage: usize, key: &str) -> Self;
    fn on_values(self, stage: usize, join: &[&[&str]]) -> Self;
    fn until_key(self, key: &str) -> Self;
    fn tiebreak(self, value: f64) -> Self;
}

impl EventExt for Event {
    fn on(self, stage: usize, key: &str) -> Self {
        self.on_values(stage, &[&[key]])
    }

    fn on_values(mut self, stage: usize, join: &[&[&str]]) -> Self {
        self.stages.push(StageMatch {
            stage,
            join: join_values(join),
        });
        self
    }

    fn until_key(mut self, key: &str) -> Self {
        self.until = Some(join_values(&[&[key]]));
        self
    }

    fn tiebreak(mut self, value: f64) -> Self {
        self.tiebreaker = Some(Tiebreaker::Number(value));
        self
    }
}

fn join_values(join: &[&[&str]]) -> JoinValues {
    join.iter()
        .map(|values| {
            values
                .iter()
                .map(|value| KeyValue::Text(value.to_string()))
                .collect()
        })
        .collect()
}

/// An event `id` at `millis` ms after the epoch, matching nothing yet.
fn event(id: &str, millis: i64) -> Event {
    Event {
        document: Arc::new(Document {
            index: "logs-test".to_string(),
            id: id.to_string(),
            source: json!({ "event": { "id": id } }),
        }),
        timestamp: millis,
        tiebreaker: None,
        stages: Vec::new(),
        until: None,
    }
}

fn spec(stages: &[Stage], maxspan_ms: Option<u64>) -> SequenceSpec {
    SequenceSpec::new(stages, maxspan_ms.map(Duration::from_millis)).expect("valid test sequence")
}

fn positive(count: usize) -> Vec<Stage> {
    vec![Stage::positive(); count]
}

fn matcher(stages: &[Stage], maxspan_ms: Option<u64>) -> SequenceMatcher {
    SequenceMatcher::new(spec(stages, maxspan_ms), "default", "rule-1")
}

/// A positive stage that must match `runs` events.
fn repeated(runs: u32) -> Stage {
    Stage {
        missing: false,
        runs,
    }
}

/// The event ids of each sequence.
fn ids(sequences: &[CompletedSequence]) -> Vec<Vec<String>> {
    sequences
        .iter()
        .map(|sequence| {
            sequence
                .events
                .iter()
                .map(|event| event.id.clone())
                .collect()
        })
        .collect()
}

fn expect_ids(sequences: &[CompletedSequence], expected: &[&[&str]]) {
    let expected: Vec<Vec<String>> = expected
        .iter()
        .map(|ids| ids.iter().map(|id| id.to_string()).collect())
        .collect();
    assert_eq!(ids(sequences), expected);
}

#[test]
fn sequence_completes_when_every_stage_matches_in_order() {
    let mut matcher = matcher(&positive(3), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "k"),
        event("b", 2).on(1, "k"),
        event("c", 3).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b", "c"]]);
    assert_eq!(found[0].key, vec![KeyValue::Text("k".into())]);
    assert_eq!(matcher.open_sequences(), 0);
}

#[test]
fn stages_out_of_order_do_not_complete() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![event("b", 1).on(1, "k"), event("a", 2).on(0, "k")]);
    assert!(found.is_empty());
}

#[test]
fn events_of_a_page_are_consumed_in_timestamp_order_whatever_order_they_come_in() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![event("b", 2).on(1, "k"), event("a", 1).on(0, "k")]);
    expect_ids(&found, &[&["a", "b"]]);
}

/// The example of Elasticsearch's EQL syntax reference, "How sequence queries handle matches".
#[test]
fn the_documented_state_machine_example_gives_its_two_sequences() {
    let (attrib, bash, cat) = (0, 1, 2);
    let mut matcher = matcher(&positive(3), None);
    let found = matcher.feed(vec![
        event("1", 1).on(attrib, "root"),
        event("2", 2).on(attrib, "root"),
        event("3", 3).on(bash, "elkbee"),
        event("4", 4).on(bash, "root"),
        event("5", 5).on(bash, "root"),
        event("6", 6).on(attrib, "elkbee"),
        event("7", 7).on(attrib, "root"),
        event("8", 8).on(bash, "elkbee"),
        event("9", 9).on(cat, "root"),
        event("10", 10).on(cat, "elkbee"),
        event("11", 11).on(cat, "root"),
    ]);
    expect_ids(&found, &[&["2", "4", "9"], &["6", "8", "10"]]);
    // Sequence [7] still waits in the first state of "root".
    assert_eq!(matcher.open_sequences(), 1);
}

#[test]
fn a_newer_pending_sequence_replaces_the_older_one_in_the_same_state() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a1", 1).on(0, "k"),
        event("a2", 2).on(0, "k"),
        event("b1", 3).on(1, "k"),
        event("b2", 4).on(1, "k"),
    ]);
    expect_ids(&found, &[&["a2", "b1"]]);
}

#[test]
fn one_event_can_end_one_sequence_and_start_the_next() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("e1", 1).on(0, "k").on(1, "k"),
        event("e2", 2).on(0, "k").on(1, "k"),
        event("e3", 3).on(0, "k").on(1, "k"),
    ]);
    expect_ids(&found, &[&["e1", "e2"], &["e2", "e3"]]);
}

#[test]
fn an_event_never_follows_itself_in_a_sequence() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![event("e", 1).on(0, "k").on(1, "k")]);
    assert!(found.is_empty());
}

#[test]
fn events_of_different_join_keys_never_join() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "alice"),
        event("b", 2).on(1, "bob"),
        event("c", 3).on(1, "alice"),
    ]);
    expect_ids(&found, &[&["a", "c"]]);
}

#[test]
fn join_values_of_different_types_never_join() {
    let mut matcher = matcher(&positive(2), None);
    let mut first = event("a", 1);
    first.stages.push(StageMatch {
        stage: 0,
        join: vec![vec![KeyValue::Number(1.into())]],
    });
    let found = matcher.feed(vec![first, event("b", 2).on(1, "1")]);
    assert!(found.is_empty());
}

#[test]
fn a_multi_valued_join_key_joins_on_any_of_its_values() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on_values(0, &[&["x", "y"]]),
        event("b", 2).on(1, "y"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
    assert_eq!(found[0].key, vec![KeyValue::Text("y".into())]);
}

#[test]
fn an_event_with_a_multi_valued_key_completes_one_sequence_per_shared_value() {
    let mut matcher = matcher(&positive(2), None);
    let mut found = matcher.feed(vec![
        event("a1", 1).on(0, "x"),
        event("a2", 2).on(0, "y"),
        event("b", 3).on_values(1, &[&["x", "y"]]),
    ]);
    found.sort_by(|left, right| left.events[0].id.cmp(&right.events[0].id));
    expect_ids(&found, &[&["a1", "b"], &["a2", "b"]]);
    assert_ne!(found[0].id, found[1].id);
}

#[test]
fn the_same_events_joined_under_two_key_values_are_one_sequence_with_one_id() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on_values(0, &[&["x", "y"]]),
        event("b", 2).on_values(1, &[&["x", "y"]]),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
    assert_eq!(matcher.stats().repeated, 1);
}

#[test]
fn several_multi_valued_join_fields_join_on_their_cartesian_product() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on_values(0, &[&["h1", "h2"], &["u1", "u2"]]),
        event("b", 2).on_values(1, &[&["h2"], &["u2"]]),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
    let expected_key: Vec<KeyValue> =
        vec![KeyValue::Text("h2".into()), KeyValue::Text("u2".into())];
    assert_eq!(found[0].key, expected_key);
}

#[test]
fn an_absent_join_field_keeps_the_event_out_of_that_stage() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on_values(0, &[&[]]),
        event("b", 2).on(1, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn join_key_combinations_past_the_bound_are_ignored_and_counted() {
    let values: Vec<String> = (0..=MAX_KEYS_PER_EVENT).map(|i| format!("v{i}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on_values(0, &[&values]),
        event("b", 2).on(1, values[MAX_KEYS_PER_EVENT]),
        event("c", 3).on(1, values[0]),
    ]);
    expect_ids(&found, &[&["a", "c"]]);
    assert_eq!(matcher.stats().truncated_keys, 1);
}

#[test]
fn key_values_are_json_scalars_and_read_back_as_themselves() {
    for value in [
        json!(null),
        json!(true),
        json!(4624),
        json!(1.5),
        json!("alice"),
    ] {
        let key = KeyValue::from_json(&value).expect("a scalar");
        assert_eq!(key.to_json(), value);
    }
    assert_eq!(KeyValue::from_json(&json!(["a"])), None);
    assert_eq!(KeyValue::from_json(&json!({ "a": 1 })), None);
}

#[test]
fn maxspan_accepts_a_sequence_exactly_maxspan_long() {
    let mut matcher = matcher(&positive(2), Some(1_000));
    let found = matcher.feed(vec![
        event("a", 5_000).on(0, "k"),
        event("b", 6_000).on(1, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn maxspan_rejects_a_sequence_one_millisecond_longer() {
    let mut matcher = matcher(&positive(2), Some(1_000));
    let found = matcher.feed(vec![
        event("a", 5_000).on(0, "k"),
        event("b", 6_001).on(1, "k"),
    ]);
    assert!(found.is_empty());
    assert_eq!(matcher.stats().rejected_maxspan, 1);
}

#[test]
fn maxspan_runs_from_the_first_event_not_the_previous_one() {
    let mut matcher = matcher(&positive(3), Some(1_000));
    let found = matcher.feed(vec![
        event("a", 0).on(0, "k"),
        event("b", 600).on(1, "k"),
        event("c", 1_200).on(2, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn a_partial_sequence_past_maxspan_is_dropped_after_the_page() {
    let mut matcher = matcher(&positive(2), Some(1_000));
    matcher.feed(vec![event("a", 0).on(0, "k")]);
    assert_eq!(matcher.open_sequences(), 1);
    matcher.feed(vec![event("x", 1_001).on(0, "other")]);
    assert_eq!(
        matcher.open_sequences(),
        1,
        "only the newer sequence of `other` stays"
    );
    assert_eq!(matcher.stats().expired, 1);
}

/// The example of Elasticsearch's EQL syntax reference, "until keyword": A, B and A, B, C match;
/// A, C, B does not.
#[test]
fn until_between_two_events_drops_the_sequence_and_until_after_them_does_not() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("1a", 1).on(0, "1"),
        event("1b", 2).on(1, "1"),
        event("2a", 1).on(0, "2"),
        event("2b", 2).on(1, "2"),
        event("2c", 3).until_key("2"),
        event("3a", 1).on(0, "3"),
        event("3c", 2).until_key("3"),
        event("3b", 3).on(1, "3"),
    ]);
    let mut found = ids(&found);
    found.sort();
    assert_eq!(found, vec![vec!["1a", "1b"], vec!["2a", "2b"]]);
    assert_eq!(matcher.stats().rejected_until, 1);
}

#[test]
fn until_of_another_key_does_not_drop_the_sequence() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "k"),
        event("u", 2).until_key("other"),
        event("b", 3).on(1, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn an_event_matching_a_stage_and_until_ends_the_sequence_it_moved() {
    let mut matcher = matcher(&positive(3), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "k"),
        event("b", 2).on(1, "k").until_key("k"),
        event("c", 3).on(2, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn an_event_completing_a_sequence_and_matching_until_keeps_it() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "k"),
        event("b", 2).on(1, "k").until_key("k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

fn with_missing(pattern: &str) -> Vec<Stage> {
    pattern
        .chars()
        .map(|stage| match stage {
            '!' => Stage::missing(),
            _ => Stage::positive(),
        })
        .collect()
}

#[test]
fn a_missing_event_between_two_events_drops_the_sequence() {
    let mut matcher = matcher(&with_missing("p!p"), Some(10_000));
    let found = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("m", 2_000).on(1, "k"),
        event("b", 3_000).on(2, "k"),
    ]);
    assert!(found.is_empty());
    assert_eq!(matcher.stats().rejected_missing, 1);
}

#[test]
fn a_missing_event_at_the_timestamp_of_either_neighbour_does_not_count() {
    let mut matcher = matcher(&with_missing("p!p"), Some(10_000));
    let found = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("m1", 1_000).on(1, "k"),
        event("m2", 3_000).on(1, "k"),
        event("b", 3_000).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn a_missing_event_of_another_key_does_not_drop_the_sequence() {
    let mut matcher = matcher(&with_missing("p!p"), Some(10_000));
    let found = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("m", 2_000).on(1, "other"),
        event("b", 3_000).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn a_sequence_dropped_by_a_missing_event_still_holds_its_state_until_it_completes() {
    // Elasticsearch checks missing events once the positive stages are complete, so the doomed
    // [a1, b1] replaces [a0, b0] in the second state and c completes nothing.
    let mut matcher = matcher(&with_missing("p!pp"), Some(10_000));
    let found = matcher.feed(vec![
        event("a0", 1_000).on(0, "k"),
        event("b0", 1_500).on(2, "k"),
        event("a1", 2_000).on(0, "k"),
        event("m", 2_500).on(1, "k"),
        event("b1", 3_000).on(2, "k"),
        event("c", 4_000).on(3, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn a_trailing_missing_event_within_maxspan_drops_the_sequence() {
    let mut matcher = matcher(&with_missing("pp!"), Some(5_000));
    let mut found = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("b", 2_000).on(1, "k"),
        event("logoff", 6_000).on(2, "k"),
    ]);
    found.extend(matcher.finish());
    assert!(found.is_empty());
    assert_eq!(matcher.stats().rejected_missing, 1);
}

#[test]
fn a_trailing_missing_event_past_maxspan_keeps_the_sequence() {
    let mut matcher = matcher(&with_missing("pp!"), Some(5_000));
    let found = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("b", 2_000).on(1, "k"),
        event("logoff", 6_001).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn a_sequence_with_a_trailing_missing_stage_waits_until_maxspan_has_passed() {
    let mut matcher = matcher(&with_missing("pp!"), Some(5_000));
    let first_window = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("b", 2_000).on(1, "k"),
    ]);
    assert!(first_window.is_empty(), "a trailing event may still come");
    let at_the_edge = matcher.feed(vec![event("noise", 6_000).on(0, "other")]);
    assert!(
        at_the_edge.is_empty(),
        "an event exactly maxspan after the first would still count"
    );
    let past_it = matcher.feed(vec![event("noise2", 6_001).on(0, "other")]);
    expect_ids(&past_it, &[&["a", "b"]]);
}

#[test]
fn finish_decides_waiting_sequences_as_if_no_event_follows() {
    let mut matcher = matcher(&with_missing("p!"), Some(5_000));
    assert!(
        matcher
            .feed(vec![event("logon", 1_000).on(0, "k")])
            .is_empty()
    );
    expect_ids(&matcher.finish(), &[&["logon"]]);
    assert_eq!(matcher.open_sequences(), 0);
}

#[test]
fn a_leading_missing_event_within_maxspan_of_the_last_event_drops_the_sequence() {
    let mut matcher = matcher(&with_missing("!pp"), Some(5_000));
    let found = matcher.feed(vec![
        event("m", 1_000).on(0, "k"),
        event("a", 3_000).on(1, "k"),
        event("b", 6_000).on(2, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn a_leading_missing_event_more_than_maxspan_before_the_last_event_keeps_the_sequence() {
    let mut matcher = matcher(&with_missing("!pp"), Some(5_000));
    let found = matcher.feed(vec![
        event("m", 1_000).on(0, "k"),
        event("a", 3_000).on(1, "k"),
        event("b", 6_001).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn a_leading_missing_event_at_the_first_events_timestamp_does_not_count() {
    let mut matcher = matcher(&with_missing("!pp"), Some(5_000));
    let found = matcher.feed(vec![
        event("m", 3_000).on(0, "k"),
        event("a", 3_000).on(1, "k"),
        event("b", 4_000).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
}

#[test]
fn leading_and_trailing_missing_events_drop_the_sequence_only_within_maxspan_of_each_other() {
    let stages = with_missing("!p!");
    let mut close = matcher(&stages, Some(5_000));
    let mut found = close.feed(vec![
        event("before", 1_000).on(0, "k"),
        event("a", 3_000).on(1, "k"),
        event("after", 6_000).on(2, "k"),
    ]);
    found.extend(close.finish());
    assert!(found.is_empty());

    let mut apart = matcher(&stages, Some(5_000));
    let found = apart.feed(vec![
        event("before", 1_000).on(0, "k"),
        event("a", 3_000).on(1, "k"),
        event("after", 6_001).on(2, "k"),
    ]);
    expect_ids(&found, &[&["a"]]);
}

#[test]
fn runs_repeat_a_stage_that_many_times() {
    let stages = [Stage::positive(), repeated(3), Stage::positive()];
    let mut matcher = matcher(&stages, None);
    let found = matcher.feed(vec![
        event("create", 1).on(0, "k"),
        event("load1", 2).on(1, "k"),
        event("load2", 3).on(1, "k"),
        event("load3", 4).on(1, "k"),
        event("registry", 5).on(2, "k"),
    ]);
    expect_ids(
        &found,
        &[&["create", "load1", "load2", "load3", "registry"]],
    );
}

#[test]
fn runs_with_too_few_events_do_not_complete() {
    let stages = [Stage::positive(), repeated(3), Stage::positive()];
    let mut matcher = matcher(&stages, None);
    let found = matcher.feed(vec![
        event("create", 1).on(0, "k"),
        event("load1", 2).on(1, "k"),
        event("load2", 3).on(1, "k"),
        event("registry", 5).on(2, "k"),
    ]);
    assert!(found.is_empty());
}

#[test]
fn a_tiebreaker_orders_events_with_the_same_timestamp() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(1, "k").tiebreak(1.0),
        event("b", 1).on(0, "k").tiebreak(0.0),
    ]);
    expect_ids(&found, &[&["b", "a"]]);
}

#[test]
fn events_without_a_tiebreaker_come_after_those_with_one_at_the_same_timestamp() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(1, "k"),
        event("b", 1).on(0, "k").tiebreak(9.0),
    ]);
    expect_ids(&found, &[&["b", "a"]]);
}

#[test]
fn events_with_the_same_timestamp_and_tiebreaker_are_ordered_by_index_then_id() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![event("2", 1).on(1, "k"), event("1", 1).on(0, "k")]);
    expect_ids(&found, &[&["1", "2"]]);
}

#[test]
fn overlapping_windows_fed_twice_produce_each_sequence_once() {
    let mut matcher = matcher(&positive(2), Some(60_000));
    // Windows [0 s, 6 s] and [5 s, 11 s]: the sequence lies in the overlap.
    let first = matcher.feed(vec![
        event("a", 5_100).on(0, "k"),
        event("b", 5_900).on(1, "k"),
    ]);
    let second_window = vec![
        event("a", 5_100).on(0, "k"),
        event("b", 5_900).on(1, "k"),
        event("c", 7_000).on(0, "j"),
        event("d", 9_000).on(1, "j"),
    ];
    let second = matcher.feed(second_window.clone());
    let again = matcher.feed(second_window);
    expect_ids(&first, &[&["a", "b"]]);
    expect_ids(&second, &[&["c", "d"]]);
    assert!(again.is_empty());
    assert_eq!(matcher.stats().refed, 6);
}

#[test]
fn a_window_fed_again_still_sees_the_leading_missing_events_before_it() {
    // Found by the property test: consuming the overlap again once later leading events had been
    // seen forgot the one before the sequence.
    let mut matcher = matcher(&with_missing("!pp"), Some(5_000));
    let overlap = vec![
        event("a", 3_000).on(1, "k"),
        event("m2", 3_000).on(0, "k"),
        event("b", 3_500).on(2, "k"),
        event("m3", 4_000).on(0, "k"),
    ];
    let mut window = overlap.clone();
    window.push(event("m1", 1_000).on(0, "k"));
    assert!(matcher.feed(window).is_empty());
    assert!(matcher.feed(overlap).is_empty());
    assert!(matcher.finish().is_empty());
}

#[test]
fn a_sequence_split_across_two_windows_completes() {
    let mut matcher = matcher(&positive(3), Some(60_000));
    let first = matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("b", 5_500).on(1, "k"),
    ]);
    assert!(first.is_empty());
    let second = matcher.feed(vec![
        event("b", 5_500).on(1, "k"),
        event("c", 8_000).on(2, "k"),
    ]);
    expect_ids(&second, &[&["a", "b", "c"]]);
}

#[test]
fn a_sequence_found_again_after_a_restart_keeps_its_id() {
    let window = || vec![event("a", 1).on(0, "k"), event("b", 2).on(1, "k")];
    let before = matcher(&positive(2), None).feed(window());
    let after = matcher(&positive(2), None).feed(window());
    assert_eq!(before, after);
}

#[test]
fn the_oldest_open_sequences_are_evicted_past_the_bound() {
    let mut matcher = matcher(&positive(2), None);
    let count = MAX_OPEN_SEQUENCES + 1;
    let starts: Vec<Event> = (0..count)
        .map(|i| event(&format!("a{i}"), i64::try_from(i).unwrap()).on(0, &format!("k{i}")))
        .collect();
    matcher.feed(starts);
    assert!(matcher.open_sequences() <= MAX_OPEN_SEQUENCES);
    assert!(matcher.stats().evicted > 0);
    let late = i64::try_from(count).unwrap();
    let found = matcher.feed(vec![
        event("b-oldest", late).on(1, "k0"),
        event("b-newest", late).on(1, &format!("k{}", count - 1)),
    ]);
    expect_ids(&found, &[&[&format!("a{}", count - 1), "b-newest"]]);
}

#[test]
fn an_event_fed_after_a_later_one_is_matched_as_if_it_had_come_in_order() {
    let mut matcher = matcher(&positive(2), Some(60_000));
    assert!(matcher.feed(vec![event("b", 2_000).on(1, "k")]).is_empty());
    let found = matcher.feed(vec![event("a", 1_000).on(0, "k")]);
    expect_ids(&found, &[&["a", "b"]]);
    assert_eq!(matcher.stats().replays, 1);
}

#[test]
fn a_late_event_adds_the_sequences_of_the_in_order_pass_and_withdraws_none() {
    let mut matcher = matcher(&positive(2), Some(60_000));
    let first = matcher.feed(vec![
        event("a1", 1_000).on(0, "k"),
        event("b", 3_000).on(1, "k"),
    ]);
    expect_ids(&first, &[&["a1", "b"]]);
    // In timestamp order a2 would have replaced a1 before b came.
    let late = matcher.feed(vec![event("a2", 2_000).on(0, "k")]);
    expect_ids(&late, &[&["a2", "b"]]);
}

#[test]
fn events_leave_the_buffer_once_they_are_more_than_the_allowance_old() {
    let allowance = i64::try_from(LATE_EVENT_ALLOWANCE.as_millis()).unwrap();
    let mut matcher = matcher(&positive(2), None);
    matcher.feed(vec![
        event("old", 0).on(0, "k"),
        event("recent", allowance).on(0, "j"),
    ]);
    assert_eq!(
        matcher.buffered_events(),
        2,
        "exactly the allowance old stays"
    );
    matcher.feed(vec![event("newest", allowance + 1).on(0, "i")]);
    assert_eq!(matcher.buffered_events(), 2);
    // The partial sequence of the event that left the buffer is still open.
    let found = matcher.feed(vec![event("end", allowance + 2).on(1, "k")]);
    expect_ids(&found, &[&["old", "end"]]);
}

#[test]
fn an_event_older_than_the_buffer_is_too_late_and_counted() {
    let allowance = i64::try_from(LATE_EVENT_ALLOWANCE.as_millis()).unwrap();
    let mut matcher = matcher(&positive(2), None);
    matcher.feed(vec![
        event("a", 1_000).on(0, "k"),
        event("x", 1_000 + allowance + 1).on(0, "j"),
    ]);
    let found = matcher.feed(vec![
        event("early", 500).on(0, "k"),
        event("b", 2_000).on(1, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
    assert_eq!(matcher.stats().too_late, 1);
}

#[test]
fn stage_numbers_past_the_query_are_ignored_and_counted() {
    let mut matcher = matcher(&positive(2), None);
    let found = matcher.feed(vec![
        event("a", 1).on(0, "k").on(7, "k"),
        event("b", 2).on(1, "k"),
    ]);
    expect_ids(&found, &[&["a", "b"]]);
    assert_eq!(matcher.stats().unknown_stages, 1);
}

#[test]
fn a_sequence_needs_two_stages_once_runs_are_expanded() {
    assert_eq!(
        SequenceSpec::new(&[Stage::positive()], None),
        Err(SpecError::TooFewStages(1))
    );
    assert_eq!(
        SequenceSpec::new(&[repeated(2)], None).map(|spec| spec.stage_count()),
        Ok(2)
    );
}

#[test]
fn runs_must_be_between_one_and_a_hundred() {
    for runs in [0, MAX_RUNS + 1] {
        assert_eq!(
            SequenceSpec::new(&[Stage::positive(), repeated(runs)], None),
            Err(SpecError::Runs { stage: 1, runs })
        );
    }
}

#[test]
fn missing_events_need_maxspan_and_a_positive_stage() {
    let stages = with_missing("p!");
    assert_eq!(
        SequenceSpec::new(&stages, None),
        Err(SpecError::MissingWithoutMaxspan)
    );
    let only_missing = with_missing("!!");
    assert_eq!(
        SequenceSpec::new(&only_missing, Some(Duration::from_secs(1))),
        Err(SpecError::NoPositiveStage)
    );
    assert_eq!(
        SequenceSpec::new(&positive(2), Some(Duration::ZERO)),
        Err(SpecError::ZeroMaxspan)
    );
}

#[test]
fn sequence_id_changes_with_every_event_the_rule_and_the_namespace() {
    let base = sequence_id([("i", "1"), ("i", "2")], "default", "rule");
    assert_eq!(base.len(), 64);
    assert_eq!(
        base,
        sequence_id([("i", "1"), ("i", "2")], "default", "rule")
    );
    assert_ne!(
        base,
        sequence_id([("i", "2"), ("i", "1")], "default", "rule")
    );
    assert_ne!(
        base,
        sequence_id([("j", "1"), ("i", "2")], "default", "rule")
    );
    assert_ne!(base, sequence_id([("i", "1"), ("i", "2")], "other", "rule"));
    assert_ne!(
        base,
        sequence_id([("i", "1"), ("i", "2")], "default", "rule2")
    );
}

#[test]
fn sequence_id_parts_cannot_run_into_each_other() {
    assert_ne!(
        sequence_id([("ab", "c")], "d", "e"),
        sequence_id([("a", "bc")], "d", "e")
    );
    assert_ne!(
        sequence_id([("a", ""), ("", "b")], "d", "e"),
        sequence_id([("a", "b")], "d", "e")
    );
}

#[test]
fn sequence_id_is_pinned() {
    // Changing the scheme would alert every stored sequence again. (Python: sha256 over
    // b"".join(struct.pack(">Q", len(p)) + p for p in parts), parts = tag, namespace, rule id,
    // then index and id of each event.)
    assert_eq!(
        sequence_id([("logs", "1"), ("logs", "2")], "default", "rule-1"),
        "0a571e7397b19456b4a0ce52666964a6651eeef669b26bb24aa4f24c95564830"
    );
}

#[test]
fn elasticsearch_answers_sequences_by_their_first_event_unless_a_head_stops_at_completion() {
    let mut matcher = matcher(&positive(2), None);
    // u1 starts first but completes last.
    let mut found = matcher.feed(vec![
        event("u1-a", 1).on(0, "u1"),
        event("u2-a", 2).on(0, "u2"),
        event("u2-b", 3).on(1, "u2"),
        event("u1-b", 4).on(1, "u1"),
    ]);
    expect_ids(&found, &[&["u2-a", "u2-b"], &["u1-a", "u1-b"]]);
    let completion_order = found.clone();
    // A leading head keeps the completion order (Elasticsearch stops at the head's count).
    in_answer_order(&mut found, &[crate::eql::Pipe::Head(1)]);
    assert_eq!(found, completion_order);
    // Without pipes (a tail of `size`) or with a tail: by first event.
    in_answer_order(&mut found, &[]);
    expect_ids(&found, &[&["u1-a", "u1-b"], &["u2-a", "u2-b"]]);
    let mut tail = completion_order.clone();
    in_answer_order(&mut tail, &[crate::eql::Pipe::Tail(1)]);
    assert_eq!(tail, found);
    // So `| tail 1` keeps the sequence that starts last, not the one that completed last.
    let mut picker = crate::eql::Picker::new(&[crate::eql::Pipe::Tail(1)], 100);
    tail.into_iter().for_each(|sequence| picker.push(sequence));
    expect_ids(&picker.finish(), &[&["u2-a", "u2-b"]]);
}
