//! EQL sequences, pure: Elasticsearch's sequence semantics (docs/eql.md, "Sequences") applied to
//! events whose stage conditions and join keys the caller has already evaluated, fed page by page
//! and window by window with the open partial sequences carried over, in memory bounded by the
//! constants below; and the deterministic id of a sequence (the alerts Kibana writes for one are
//! `alert::sequence`'s). Knows no EQL syntax (stages are numbers) and does no I/O.
//!
//! - [`SequenceSpec`]: the shape of a sequence query (its stages, which are missing events, how
//!   many runs each, and `maxspan`), checked once.
//! - [`SequenceMatcher`]: fed [`Event`]s, returns each [`CompletedSequence`] once.
//! - [`sequence_id`]: the id of a sequence (its shell alert's id), from its events, the rule id
//!   and the namespace; the same for the native path and for lookout's own matcher.

mod machine;
mod matcher;
mod missing;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use matcher::{SequenceMatcher, Stats};

use crate::ids::framed_id;
use serde_json::Value;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The most repetitions of one stage (`with runs=N`): Elasticsearch accepts 1 to 100.
pub const MAX_RUNS: u32 = 100;

/// The most stages of one sequence once runs are expanded (each stage holds one slot per join
/// key, so this bounds the size of a partial sequence).
pub const MAX_STAGES: usize = 256;

/// The most partial sequences one matcher keeps open, over all join keys, counting the completed
/// ones that wait for a trailing missing-event check. Past it, the oldest (by first event) are
/// dropped until a tenth of the room is free again, and counted in [`Stats::evicted`]: a dropped
/// partial sequence never completes, so the bound can cost alerts, never invent them.
pub const MAX_OPEN_SEQUENCES: usize = 20_000;

/// The most join keys tracked only for leading missing events (`![..]` before the first stage).
/// Past it, the oldest records are dropped ([`Stats::evicted`]); a later sequence of a dropped key
/// then passes its leading check as if no such event had been seen.
pub const MAX_LEADING_KEYS: usize = 50_000;

/// The most join keys one event takes part with in one stage: a multi-valued join field gives one
/// key per value, several give their cartesian product. Further combinations are ignored and
/// counted in [`Stats::truncated_keys`].
pub const MAX_KEYS_PER_EVENT: usize = 64;

/// How many emitted sequence ids a matcher remembers, so that a replay emits each sequence once.
/// Past it, the oldest ids are forgotten; a sequence emitted again after that has the same id, so
/// its alerts are duplicates that the alert sink drops.
pub const MAX_REMEMBERED_SEQUENCES: usize = 10_000;

/// How far behind the newest event (in the sequence's timestamp field) an event may come and still
/// be matched as if it had come in order: the matcher keeps the events of this span to replay
/// them. Windows on `event.ingested` bring events out of `@timestamp` order routinely (a source
/// that delivers late); an event later than this is not matched ([`Stats::too_late`]).
pub const LATE_EVENT_ALLOWANCE: Duration = Duration::from_secs(60 * 60);

/// The most events the replay buffer holds. Past it, the oldest leave the buffer early, which
/// shortens the allowance for late events; partial sequences are kept (they are bounded apart).
pub const MAX_BUFFERED_EVENTS: usize = 10_000;

/// The shape of one sequence query, checked once: the stages after expanding `with runs`, which
/// of them are missing events (`![..]`), and `maxspan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSpec {
    /// Per expanded stage, its kind.
    kinds: Vec<StageKind>,
    query_stages: QueryStages,
    /// `maxspan` in milliseconds.
    maxspan: Option<i64>,
    first_positive: usize,
    last_positive: usize,
}

/// One stage of a sequence query as written: `[..]` or `![..]`, with its `runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub missing: bool,
    pub runs: u32,
}

impl Stage {
    /// A stage that must match an event, once.
    pub fn positive() -> Self {
        Self {
            missing: false,
            runs: 1,
        }
    }

    /// A missing-event stage (`![..]`).
    pub fn missing() -> Self {
        Self {
            missing: true,
            runs: 1,
        }
    }
}

/// What an expanded stage is, from where it sits among the positive stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageKind {
    /// A stage an event must match; `previous` is the positive stage before it.
    Positive { previous: Option<usize> },
    /// A missing event before the first positive stage.
    Leading,
    /// A missing event between the positive stages `previous` and the next one.
    Middle { previous: usize },
    /// A missing event after the last positive stage.
    Trailing,
}

/// Why a sequence query cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("a sequence needs at least 2 stages; this one has {0}")]
    TooFewStages(usize),
    #[error("a sequence has at most {MAX_STAGES} stages once runs are expanded; this one has {0}")]
    TooManyStages(usize),
    #[error("stage {stage} has runs={runs}; runs must be between 1 and {MAX_RUNS}")]
    Runs { stage: usize, runs: u32 },
    #[error("a sequence needs at least one stage that is not a missing event")]
    NoPositiveStage,
    #[error("a sequence with missing events needs maxspan")]
    MissingWithoutMaxspan,
    #[error("maxspan must be at least 1 ms")]
    ZeroMaxspan,
}

impl SequenceSpec {
    /// Checks a sequence query's stages and `maxspan` (Elasticsearch's own rules: runs 1 to 100,
    /// a positive maxspan, maxspan mandatory with missing events, one positive stage at least).
    pub fn new(stages: &[Stage], maxspan: Option<Duration>) -> Result<Self, SpecError> {
        let maxspan = match maxspan {
            None => None,
            Some(span) => match i64::try_from(span.as_millis()).unwrap_or(i64::MAX) {
                0 => return Err(SpecError::ZeroMaxspan),
                millis => Some(millis),
            },
        };
        let (missing, query_stages) = expand_runs(stages)?;
        if missing.len() < 2 {
            return Err(SpecError::TooFewStages(missing.len()));
        }
        let first_positive = missing
            .iter()
            .position(|missing| !missing)
            .ok_or(SpecError::NoPositiveStage)?;
        let last_positive = missing
            .iter()
            .rposition(|missing| !missing)
            .ok_or(SpecError::NoPositiveStage)?;
        if maxspan.is_none() && missing.iter().any(|missing| *missing) {
            return Err(SpecError::MissingWithoutMaxspan);
        }
        Ok(Self {
            kinds: stage_kinds(&missing, first_positive, last_positive),
            query_stages,
            maxspan,
            first_positive,
            last_positive,
        })
    }

    /// The number of stages once runs are expanded.
    pub fn stage_count(&self) -> usize {
        self.kinds.len()
    }

    /// True when the sequence has missing events after its last positive stage.
    fn has_trailing(&self) -> bool {
        self.last_positive + 1 < self.kinds.len()
    }

    /// True when the sequence has missing events before its first positive stage.
    fn has_leading(&self) -> bool {
        self.first_positive > 0
    }

    /// True when `to` is more than `maxspan` after `from` (Elasticsearch's `exceedsMaxSpan`).
    fn exceeds_maxspan(&self, from: i64, to: i64) -> bool {
        self.maxspan
            .is_some_and(|span| to.saturating_sub(from) > span)
    }
}

/// Per stage of the query, its first expanded stage and its number of runs.
type QueryStages = Vec<(usize, usize)>;

/// Each stage repeated `runs` times: per expanded stage whether it is missing, and per query
/// stage its first expanded stage and runs.
fn expand_runs(stages: &[Stage]) -> Result<(Vec<bool>, QueryStages), SpecError> {
    let mut missing = Vec::new();
    let mut query_stages = Vec::with_capacity(stages.len());
    for (index, stage) in stages.iter().enumerate() {
        if stage.runs == 0 || stage.runs > MAX_RUNS {
            return Err(SpecError::Runs {
                stage: index,
                runs: stage.runs,
            });
        }
        let runs = usize::try_from(stage.runs).expect("runs is at most 100");
        if missing.len() + runs > MAX_STAGES {
            return Err(SpecError::TooManyStages(missing.len() + runs));
        }
        query_stages.push((missing.len(), runs));
        missing.extend(std::iter::repeat_n(stage.missing, runs));
    }
    Ok((missing, query_stages))
}

fn stage_kinds(missing: &[bool], first_positive: usize, last_positive: usize) -> Vec<StageKind> {
    let mut previous_positive = None;
    let mut kinds = Vec::with_capacity(missing.len());
    for (stage, is_missing) in missing.iter().enumerate() {
        let kind = match (*is_missing, previous_positive) {
            (false, previous) => StageKind::Positive { previous },
            (true, _) if stage < first_positive => StageKind::Leading,
            (true, _) if stage > last_positive => StageKind::Trailing,
            (true, Some(previous)) => StageKind::Middle { previous },
            (true, None) => StageKind::Leading,
        };
        if !is_missing {
            previous_positive = Some(stage);
        }
        kinds.push(kind);
    }
    kinds
}

/// A source document as the search returned it, shared by every sequence it takes part in.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub index: String,
    pub id: String,
    pub source: Value,
}

/// One value of a join field. Values of different types never join (`1` and `"1"` differ, as
/// they do in Elasticsearch); numbers compare as JSON numbers (`1` and `1.0` differ).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// The value of an absent optional join field (`by ?field`).
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

impl KeyValue {
    /// A scalar JSON value as a key value; `None` for arrays and objects.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(Self::Null),
            Value::Bool(flag) => Some(Self::Bool(*flag)),
            Value::Number(number) => Some(Self::Number(number.clone())),
            Value::String(text) => Some(Self::Text(text.clone())),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The value as JSON (how Elasticsearch reports `join_keys`).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(flag) => Value::Bool(*flag),
            Self::Number(number) => Value::Number(number.clone()),
            Self::Text(text) => Value::String(text.clone()),
        }
    }
}

/// The join-field values of one event for one stage: per join field (the sequence's `by` fields,
/// then the stage's own), its values; several for a multi-valued field, none when the field is
/// absent (the event then takes part in no sequence through that stage).
pub type JoinValues = Vec<Vec<KeyValue>>;

/// The value of the `tiebreaker_field`, which orders events with the same timestamp.
#[derive(Debug, Clone, PartialEq)]
pub enum Tiebreaker {
    Number(f64),
    Text(String),
}

/// Orders tiebreakers as Elasticsearch does: by value, a missing one after every present one;
/// numbers before text (a field has one type, so mixing only happens on bad data).
fn compare_tiebreakers(left: Option<&Tiebreaker>, right: Option<&Tiebreaker>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Tiebreaker::Number(a)), Some(Tiebreaker::Number(b))) => a.total_cmp(b),
        (Some(Tiebreaker::Text(a)), Some(Tiebreaker::Text(b))) => a.cmp(b),
        (Some(Tiebreaker::Number(_)), Some(Tiebreaker::Text(_))) => Ordering::Less,
        (Some(Tiebreaker::Text(_)), Some(Tiebreaker::Number(_))) => Ordering::Greater,
    }
}

/// Where an event sits in the order sequences are matched in: timestamp, tiebreaker (missing
/// last), then index and id, lookout's stable stand-in for the implicit `_shard_doc` tiebreaker of
/// Elasticsearch, which differs from one search to the next.
#[derive(Debug, Clone)]
struct Ordinal {
    timestamp: i64,
    tiebreaker: Option<Tiebreaker>,
    document: Arc<Document>,
}

impl Ordinal {
    fn of(event: &Event) -> Self {
        Self {
            timestamp: event.timestamp,
            tiebreaker: event.tiebreaker.clone(),
            document: Arc::clone(&event.document),
        }
    }
}

impl Ord for Ordinal {
    fn cmp(&self, other: &Self) -> Ordering {
        self.timestamp
            .cmp(&other.timestamp)
            .then_with(|| compare_tiebreakers(self.tiebreaker.as_ref(), other.tiebreaker.as_ref()))
            .then_with(|| self.document.index.cmp(&other.document.index))
            .then_with(|| self.document.id.cmp(&other.document.id))
    }
}

impl PartialOrd for Ordinal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ordinal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ordinal {}

/// One event as the matcher takes it: the document, its place in time, and what the caller's
/// evaluation of the query found it matches.
#[derive(Debug, Clone)]
pub struct Event {
    pub document: Arc<Document>,
    /// The sequence's timestamp field (`timestamp_field`, default `@timestamp`), in milliseconds
    /// since the Unix epoch.
    pub timestamp: i64,
    pub tiebreaker: Option<Tiebreaker>,
    /// Each stage of the query (numbered as written, before runs are expanded) whose condition
    /// the event matches, with its join values for that stage. Missing-event stages included.
    pub stages: Vec<StageMatch>,
    /// The join values of the `until` condition when the event matches it.
    pub until: Option<JoinValues>,
}

/// A stage an event matches, with its join values for that stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMatch {
    pub stage: usize,
    pub join: JoinValues,
}

/// A sequence that matched: its events in stage order (missing-event stages have none), the join
/// key they share and the sequence's id.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedSequence {
    pub id: String,
    pub key: Vec<KeyValue>,
    pub events: Vec<Arc<Document>>,
    /// Where its first event stands in the order of events; `None` for a sample (samples come
    /// in join-value order).
    pub start: Option<SequenceStart>,
}

/// Where a sequence's first event stands (timestamp, tiebreaker, then index and id): the order
/// Elasticsearch keeps completed sequences in (x-pack's `SequenceMatcher` holds them in a set
/// sorted by their first event, and its `tail` limit takes the last of that order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SequenceStart(Ordinal);

/// Puts a window's completed sequences in the order Elasticsearch answers them in, for a query
/// whose pipes are `pipes`: by their first event, so that a `tail` (the default without pipes)
/// keeps the ones that start last; with a leading `head`, in completion order, as Elasticsearch
/// stops matching once the `head` has its count. The sort is stable and samples (no start) keep
/// their order.
pub fn in_answer_order(sequences: &mut [CompletedSequence], pipes: &[crate::eql::Pipe]) {
    if matches!(pipes.first(), Some(crate::eql::Pipe::Head(_))) {
        return;
    }
    sequences.sort_by(|a, b| a.start.cmp(&b.start));
}

/// Keeps a sequence id apart from every other id lookout derives with the same framing.
const SEQUENCE_ID_TAG: &str = "lookout:eql-sequence";

/// The id of a sequence, which its shell alert takes: [`crate::ids::framed_id`] (lowercase hex
/// SHA-256 over parts framed by their length, like every alert id) over a fixed tag, the
/// namespace, the rule id, then each event's index and id in sequence order. The join key is not
/// part of it: the same events joined under two values of a multi-valued key are one sequence,
/// alerted once.
pub fn sequence_id<'a>(
    events: impl IntoIterator<Item = (&'a str, &'a str)>,
    namespace: &str,
    rule_id: &str,
) -> String {
    let mut parts = vec![SEQUENCE_ID_TAG, namespace, rule_id];
    for (index, id) in events {
        parts.push(index);
        parts.push(id);
    }
    framed_id(&parts)
}
