//! Property tests: on small random sequence queries and events, the matcher finds exactly the
//! sequences of a slow reference written the way Elasticsearch's code works (all hits of one
//! stage, then the next; per join key a list of sequences per stage, where a hit takes the latest
//! sequence strictly before it and discards it and every older one; `until`, maxspan and the
//! missing-event checks as the queries of `TumblingWindow`), whatever the page sizes and when
//! overlapping windows feed events again.
//!
//! `PROPTEST_CASES=100000 cargo test --release -p lookout --lib eql::sequence::prop_tests` runs it
//! long.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const KEYS: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
struct Case {
    stages: Vec<Stage>,
    maxspan: Option<i64>,
    events: Vec<GeneratedEvent>,
    /// Where pages end, as positions in the sorted events.
    cuts: Vec<usize>,
    /// How many events of the previous page each page feeds again.
    overlap: usize,
    /// Sort keys of the pages, to feed them in a random order.
    page_order: Vec<u32>,
}

#[derive(Debug, Clone)]
struct GeneratedEvent {
    timestamp: i64,
    /// (query stage, join values of its one join field)
    matches: Vec<(usize, Vec<&'static str>)>,
    until: Option<Vec<&'static str>>,
}

fn key_values() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(KEYS.to_vec(), 1..=2)
}

fn generated_event(stage_count: usize) -> impl Strategy<Value = GeneratedEvent> {
    let matches = prop::collection::vec((prop::bool::weighted(0.35), key_values()), stage_count);
    (
        0i64..=12,
        matches,
        prop::option::weighted(0.15, key_values()),
    )
        .prop_map(|(timestamp, matches, until)| GeneratedEvent {
            timestamp,
            matches: (matches.into_iter().enumerate())
                .filter(|(_, (matched, _))| *matched)
                .map(|(stage, (_, values))| (stage, values))
                .collect(),
            until,
        })
}

fn case() -> impl Strategy<Value = Case> {
    let stage =
        (prop::bool::weighted(0.25), 1u32..=2).prop_map(|(missing, runs)| Stage { missing, runs });
    prop::collection::vec(stage, 2..=4).prop_flat_map(|stages| {
        let count = stages.len();
        (
            Just(stages),
            prop::option::of(1i64..=8),
            prop::collection::vec(generated_event(count), 0..=24),
            prop::collection::vec(0usize..=24, 0..=3),
            0usize..=3,
            prop::collection::vec(any::<u32>(), 4),
        )
            .prop_map(|(stages, maxspan, events, cuts, overlap, page_order)| {
                let maxspan = match maxspan {
                    None if stages.iter().any(|stage| stage.missing) => Some(4),
                    other => other,
                };
                let mut events = events;
                events.sort_by_key(|event| event.timestamp);
                Case {
                    stages,
                    maxspan,
                    events,
                    cuts,
                    overlap,
                    page_order,
                }
            })
    })
}

/// The id of the `n`th sorted event: ids sort like positions, so the ordinal order (timestamp,
/// then index and id) is the generated order.
fn event_id(n: usize) -> String {
    format!("{n:03}")
}

fn to_event(n: usize, generated: &GeneratedEvent) -> Event {
    let values = |keys: &[&str]| {
        vec![
            keys.iter()
                .map(|key| KeyValue::Text(key.to_string()))
                .collect(),
        ]
    };
    Event {
        document: Arc::new(Document {
            index: "logs".to_string(),
            id: event_id(n),
            source: serde_json::Value::Null,
        }),
        timestamp: generated.timestamp,
        tiebreaker: None,
        stages: (generated.matches.iter())
            .map(|(stage, keys)| StageMatch {
                stage: *stage,
                join: values(keys),
            })
            .collect(),
        until: generated.until.as_deref().map(values),
    }
}

/// How the pages of a case are fed.
#[derive(Clone, Copy)]
enum Feeding {
    InOrder,
    /// Each page feeds again the last `overlap` events of the one before.
    Overlapping,
    /// The pages come in a random order.
    Shuffled,
}

/// The matcher's sequences, as lists of event positions, fed in the pages of `case.cuts`.
fn matched(case: &Case, spec: SequenceSpec, feeding: Feeding) -> BTreeSet<Vec<usize>> {
    let events: Vec<Event> = case
        .events
        .iter()
        .enumerate()
        .map(|(n, e)| to_event(n, e))
        .collect();
    let mut cuts: Vec<usize> = case
        .cuts
        .iter()
        .map(|cut| (*cut).min(events.len()))
        .collect();
    cuts.push(events.len());
    cuts.sort_unstable();
    let overlap = match feeding {
        Feeding::Overlapping => case.overlap,
        Feeding::InOrder | Feeding::Shuffled => 0,
    };
    let mut pages = Vec::new();
    let mut from: usize = 0;
    for cut in cuts {
        pages.push(events[from.saturating_sub(overlap)..cut].to_vec());
        from = cut;
    }
    if let Feeding::Shuffled = feeding {
        let mut keyed: Vec<(u32, Vec<Event>)> =
            case.page_order.iter().copied().zip(pages).collect();
        keyed.sort_by_key(|(key, _)| *key);
        pages = keyed.into_iter().map(|(_, page)| page).collect();
    }
    let mut matcher = SequenceMatcher::new(spec, "default", "rule");
    let mut found = Vec::new();
    for page in pages {
        found.extend(matcher.feed(page));
    }
    found.extend(matcher.finish());
    found
        .iter()
        .map(|sequence| {
            (sequence.events.iter())
                .map(|event| event.id.parse().expect("test ids are numbers"))
                .collect()
        })
        .collect()
}

/// A sequence of the reference: the positions of its events so far.
type Partial = Vec<usize>;

/// Elasticsearch's algorithm over the whole input, one join key at a time.
fn reference(case: &Case) -> BTreeSet<Vec<usize>> {
    let missing: Vec<bool> = (case.stages.iter())
        .flat_map(|stage| std::iter::repeat_n(stage.missing, usize::try_from(stage.runs).unwrap()))
        .collect();
    // Query stage of each expanded stage.
    let query_stage: Vec<usize> = (case.stages.iter().enumerate())
        .flat_map(|(n, stage)| std::iter::repeat_n(n, usize::try_from(stage.runs).unwrap()))
        .collect();
    let mut found = BTreeSet::new();
    for key in KEYS {
        let matches = |n: usize, stage: usize| {
            (case.events[n].matches.iter())
                .any(|(matched, keys)| *matched == query_stage[stage] && keys.contains(&key))
        };
        for sequence in positive_sequences(case, &missing, key, &matches) {
            if passes_missing_checks(case, &missing, &sequence, &matches) {
                found.insert(sequence);
            }
        }
    }
    found
}

/// Stage by stage over all hits, as `TumblingWindow` and `SequenceMatcher` do in one window.
fn positive_sequences(
    case: &Case,
    missing: &[bool],
    key: &str,
    matches: &dyn Fn(usize, usize) -> bool,
) -> Vec<Partial> {
    let positive: Vec<usize> = (0..missing.len())
        .filter(|stage| !missing[*stage])
        .collect();
    let timestamp = |n: usize| case.events[n].timestamp;
    let untils: Vec<usize> = (0..case.events.len())
        .filter(|n| {
            case.events[*n]
                .until
                .as_ref()
                .is_some_and(|keys| keys.contains(&key))
        })
        .collect();
    let mut groups: HashMap<usize, Vec<Partial>> = HashMap::new();
    let mut completed = Vec::new();
    for (place, stage) in positive.iter().enumerate() {
        for hit in (0..case.events.len()).filter(|n| matches(*n, *stage)) {
            let extended = if place == 0 {
                vec![hit]
            } else {
                let group = groups.entry(positive[place - 1]).or_default();
                let Some(latest) = group
                    .iter()
                    .rposition(|partial| *partial.last().unwrap() < hit)
                else {
                    continue;
                };
                let mut partial = group[latest].clone();
                group.drain(..=latest);
                if case
                    .maxspan
                    .is_some_and(|span| timestamp(hit) - timestamp(partial[0]) > span)
                {
                    continue;
                }
                let until = untils.iter().rev().find(|until| **until < hit);
                if until.is_some_and(|until| until >= partial.last().unwrap()) {
                    continue;
                }
                partial.push(hit);
                partial
            };
            if place + 1 == positive.len() {
                completed.push(extended);
            } else {
                groups.entry(*stage).or_default().push(extended);
            }
        }
    }
    completed
}

/// `doCheckMissingEvents` over the whole input, for one positive sequence.
fn passes_missing_checks(
    case: &Case,
    missing: &[bool],
    sequence: &[usize],
    matches: &dyn Fn(usize, usize) -> bool,
) -> bool {
    let timestamp = |n: usize| case.events[n].timestamp;
    let positive: Vec<usize> = (0..missing.len())
        .filter(|stage| !missing[*stage])
        .collect();
    let (first, last) = (positive[0], *positive.last().unwrap());
    let event_at = |stage: usize| sequence[positive.iter().position(|p| *p == stage).unwrap()];
    let with = |stage: usize| (0..case.events.len()).filter(move |n| matches(*n, stage));
    let start = timestamp(sequence[0]);
    let end = timestamp(*sequence.last().unwrap());
    let mut last_leading: Option<i64> = None;
    let mut first_trailing: Option<i64> = None;
    for stage in (0..missing.len()).filter(|stage| missing[*stage]) {
        if stage < first {
            let latest = with(stage).map(timestamp).filter(|t| *t < start).max();
            last_leading = last_leading.max(latest);
        } else if stage > last {
            let earliest = with(stage).map(timestamp).filter(|t| *t > end).min();
            first_trailing = match (first_trailing, earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        } else {
            let before = timestamp(event_at(
                *positive.iter().rev().find(|p| **p < stage).unwrap(),
            ));
            let after = timestamp(event_at(*positive.iter().find(|p| **p > stage).unwrap()));
            if with(stage).any(|n| before < timestamp(n) && timestamp(n) < after) {
                return false;
            }
        }
    }
    let span = case.maxspan.unwrap_or(i64::MAX);
    let beyond = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(from), Some(to)) => to - from > span,
        _ => true,
    };
    let (leading, trailing) = (missing[0], missing[missing.len() - 1]);
    (first_trailing.is_none() && last_leading.is_none())
        || (last_leading.is_none() && leading)
        || (first_trailing.is_none() && trailing)
        || (leading && trailing && beyond(last_leading, first_trailing))
        || (leading && !trailing && beyond(last_leading, Some(end)))
        || (!leading && trailing && beyond(Some(start), first_trailing))
}

fn spec_of(case: &Case) -> Option<SequenceSpec> {
    let maxspan = case
        .maxspan
        .map(|span| Duration::from_millis(u64::try_from(span).unwrap()));
    SequenceSpec::new(&case.stages, maxspan).ok()
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_matcher_finds_the_sequences_of_the_reference_whatever_the_pages(case in case()) {
        let Some(spec) = spec_of(&case) else {
            return Ok(());
        };
        prop_assert_eq!(matched(&case, spec, Feeding::InOrder), reference(&case));
    }

    #[test]
    fn overlapping_windows_fed_again_find_the_same_sequences_as_one_pass(case in case()) {
        let Some(spec) = spec_of(&case) else {
            return Ok(());
        };
        prop_assert_eq!(matched(&case, spec, Feeding::Overlapping), reference(&case));
    }

    #[test]
    fn pages_in_any_order_find_every_sequence_of_the_in_order_pass(case in case()) {
        let Some(spec) = spec_of(&case) else {
            return Ok(());
        };
        let found = matched(&case, spec, Feeding::Shuffled);
        let expected = reference(&case);
        prop_assert!(expected.is_subset(&found), "missing {:?}", expected.difference(&found).collect::<Vec<_>>());
    }
}
