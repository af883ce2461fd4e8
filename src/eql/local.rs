//! lookout's own run of an EQL query, for servers without `_eql/search` (docs/eql.md, "Two
//! paths"): the query DSL that selects every candidate event of a window, the check of each
//! fetched event (an event query's residual), and for a sequence the reading of each fetched
//! event into what the sequence matcher takes (the stages it matches with their join values,
//! `until`, its timestamp and tiebreaker). Pure: documents in, decisions out; the engine searches.

use super::ast::{Body, Expr, Query, SequenceStage};
use super::dsl::Dsl;
use super::eval::Condition;
use super::sequence::{
    Document, Event, JoinValues, KeyValue, SequenceSpec, SpecError, Stage, StageMatch, Tiebreaker,
};
use super::translate::{stage_condition, translate_stage};
use super::value::{FieldType, Value, date_millis, json_values};
use crate::kql::FieldMap;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The field sequences are ordered by unless the rule sets `timestamp_field` (Elasticsearch's
/// default).
pub const DEFAULT_TIMESTAMP_FIELD: &str = "@timestamp";

/// How a rule's EQL query reads its events: the rule's `event_category_override`,
/// `timestamp_field` and `tiebreaker_field`, each `None` when the rule does not set it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub category: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub tiebreaker: Option<&'a str>,
}

/// Why lookout cannot run a query itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Sequence(#[from] SpecError),
}

/// A query ready to run on fetched documents, built for the field types of the searched indices.
#[derive(Debug, Clone)]
pub struct LocalQuery {
    /// Selects every document that can match: an event query's stage, or any stage (or `until`)
    /// of a sequence.
    pub dsl: Dsl,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    /// An event query: a selected document matches when the residual accepts it.
    Events {
        residual: Option<Condition>,
    },
    Sequence(SequencePlan),
    Sample(SamplePlan),
}

/// A sample query's stages as conditions on documents, with their join keys (the sample's, then
/// the stage's own).
#[derive(Debug, Clone)]
pub struct SamplePlan {
    stages: Vec<(Condition, Vec<Expr>)>,
}

/// The samples of one window being gathered: per combination of join values, the first events
/// of each stage in the order they were read, as many per stage as the sample has stages (what
/// Elasticsearch's sample search asks per filter and join value), so that a sample of distinct
/// events can be chosen at the end.
#[derive(Debug, Default)]
pub struct Samples {
    found: HashMap<Vec<KeyValue>, Vec<Vec<Arc<Document>>>>,
}

/// The most join-value combinations one document is sampled under (multi-valued join fields
/// multiply).
const MAX_KEY_COMBINATIONS: usize = 1_024;

/// A sequence query's stages as conditions on documents, with their join keys.
#[derive(Debug, Clone)]
pub struct SequencePlan {
    spec: SequenceSpec,
    maxspan: Option<Duration>,
    /// Per stage as written: its whole condition (category test included) and join keys (the
    /// sequence's, then the stage's own).
    stages: Vec<(Condition, Vec<Expr>)>,
    until: Option<(Condition, Vec<Expr>)>,
    timestamp_field: String,
    tiebreaker_field: Option<String>,
}

/// Why a fetched document does not take part in a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// It matches no stage and not `until` (the DSL selected it loosely).
    NoStage,
    /// Its `timestamp_field` has no date.
    NoTimestamp,
}

impl LocalQuery {
    /// Builds the run of `query` with the field types `types` (untyped when `None`).
    pub fn new(
        query: &Query,
        fields: Fields<'_>,
        types: Option<&FieldMap>,
    ) -> Result<Self, LocalError> {
        let category_field = fields.category.unwrap_or(super::DEFAULT_CATEGORY_FIELD);
        match &query.body {
            Body::Event(filter) => {
                let stage = translate_stage(filter, category_field, types);
                Ok(LocalQuery {
                    dsl: stage.dsl,
                    shape: Shape::Events {
                        residual: stage.residual,
                    },
                })
            }
            Body::Sample(sample) => {
                let dsl = Dsl::Should(
                    (sample.stages.iter())
                        .map(|stage| translate_stage(&stage.filter, category_field, types).dsl)
                        .collect(),
                );
                let stages = (sample.stages.iter())
                    .map(|stage| {
                        let keys = sample.by.iter().chain(&stage.by).cloned().collect();
                        let whole = stage_condition(&stage.filter, category_field);
                        (Condition::new(whole), keys)
                    })
                    .collect();
                Ok(LocalQuery {
                    dsl,
                    shape: Shape::Sample(SamplePlan { stages }),
                })
            }
            Body::Sequence(sequence) => {
                let stages: Vec<&SequenceStage> =
                    sequence.stages.iter().chain(&sequence.until).collect();
                let dsl = Dsl::Should(
                    (stages.iter())
                        .map(|stage| translate_stage(&stage.filter, category_field, types).dsl)
                        .collect(),
                );
                let condition = |stage: &SequenceStage| {
                    let keys = sequence.by.iter().chain(&stage.by).cloned().collect();
                    let whole = stage_condition(&stage.filter, category_field);
                    (Condition::new(whole), keys)
                };
                let spec_stages: Vec<Stage> = (sequence.stages.iter())
                    .map(|stage| Stage {
                        missing: stage.missing,
                        runs: stage.runs.unwrap_or(1),
                    })
                    .collect();
                let maxspan =
                    (sequence.maxspan).map(|span| Duration::from_millis(span.as_millis()));
                Ok(LocalQuery {
                    dsl,
                    shape: Shape::Sequence(SequencePlan {
                        spec: SequenceSpec::new(&spec_stages, maxspan)?,
                        maxspan,
                        stages: sequence.stages.iter().map(condition).collect(),
                        until: sequence.until.as_ref().map(condition),
                        timestamp_field: fields
                            .timestamp
                            .unwrap_or(DEFAULT_TIMESTAMP_FIELD)
                            .to_string(),
                        tiebreaker_field: fields.tiebreaker.map(str::to_string),
                    }),
                })
            }
        }
    }

    /// True when a document the DSL selected matches an event query (always false for a
    /// sequence: its documents go to [`SequencePlan::event`]).
    pub fn accepts(&self, doc: &Json, types: Option<&FieldMap>) -> bool {
        match &self.shape {
            Shape::Events { residual } => residual
                .as_ref()
                .is_none_or(|residual| residual.matches(doc, types)),
            Shape::Sequence(_) | Shape::Sample(_) => false,
        }
    }

    /// The sample's plan, for a sample query.
    pub fn sample(&self) -> Option<&SamplePlan> {
        match &self.shape {
            Shape::Sample(plan) => Some(plan),
            Shape::Events { .. } | Shape::Sequence(_) => None,
        }
    }

    /// The sequence's plan, for a sequence query.
    pub fn sequence(&self) -> Option<&SequencePlan> {
        match &self.shape {
            Shape::Sequence(plan) => Some(plan),
            Shape::Events { .. } | Shape::Sample(_) => None,
        }
    }
}

impl SamplePlan {
    /// Adds a fetched document to `samples`: under each combination of its join values, as a
    /// candidate event of every stage it matches (while that stage has fewer candidates than
    /// the sample has stages). A document may be a candidate of several stages; a sample takes
    /// it for one of them only.
    pub fn add(&self, samples: &mut Samples, document: Document, types: Option<&FieldMap>) {
        let document = Arc::new(document);
        let doc = &document.source;
        let wanted = self.stages.len();
        for (stage, (condition, keys)) in self.stages.iter().enumerate() {
            if !condition.matches(doc, types) {
                continue;
            }
            for key in combinations(&join_values(doc, keys, types)) {
                let candidates = samples
                    .found
                    .entry(key)
                    .or_insert_with(|| vec![Vec::new(); wanted]);
                if candidates[stage].len() < wanted {
                    candidates[stage].push(Arc::clone(&document));
                }
            }
        }
    }
}

impl Samples {
    /// The complete samples, each with its join values and one distinct event per stage in
    /// stage order (the first choice of candidates, in the order read, that gives every stage
    /// an event of its own), ordered by join values as Elasticsearch pages them (ascending per
    /// key, an absent optional value first).
    pub fn finish(self) -> Vec<(Vec<KeyValue>, Vec<Arc<Document>>)> {
        let mut complete: Vec<(Vec<KeyValue>, Vec<Arc<Document>>)> = (self.found.into_iter())
            .filter_map(|(key, candidates)| Some((key, distinct_events(&candidates)?)))
            .collect();
        complete.sort_by(|(a, _), (b, _)| compare_keys(a, b));
        complete
    }
}

/// One event per stage, no event twice, choosing each stage's earliest candidate that leaves
/// the later stages a choice (depth-first); `None` when no such choice exists.
fn distinct_events(candidates: &[Vec<Arc<Document>>]) -> Option<Vec<Arc<Document>>> {
    fn choose(candidates: &[Vec<Arc<Document>>], chosen: &mut Vec<Arc<Document>>) -> bool {
        let Some(stage) = candidates.get(chosen.len()) else {
            return true;
        };
        for candidate in stage {
            if chosen.iter().any(|taken| Arc::ptr_eq(taken, candidate)) {
                continue;
            }
            chosen.push(Arc::clone(candidate));
            if choose(candidates, chosen) {
                return true;
            }
            chosen.pop();
        }
        false
    }
    let mut chosen = Vec::with_capacity(candidates.len());
    choose(candidates, &mut chosen).then_some(chosen)
}

/// Orders join values key by key as a composite aggregation of terms does.
fn compare_keys(a: &[KeyValue], b: &[KeyValue]) -> std::cmp::Ordering {
    (a.iter().zip(b))
        .map(|(a, b)| compare_key_values(a, b))
        .find(|order| order.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// Absent (optional) first, then booleans, numbers and text; text by its UTF-8 bytes, as
/// keyword terms are ordered (a field has one type, so kinds mix only on bad data).
fn compare_key_values(a: &KeyValue, b: &KeyValue) -> std::cmp::Ordering {
    fn rank(value: &KeyValue) -> u8 {
        match value {
            KeyValue::Null => 0,
            KeyValue::Bool(_) => 1,
            KeyValue::Number(_) => 2,
            KeyValue::Text(_) => 3,
        }
    }
    match (a, b) {
        (KeyValue::Bool(a), KeyValue::Bool(b)) => a.cmp(b),
        (KeyValue::Number(a), KeyValue::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => (a.as_f64().unwrap_or(f64::NAN)).total_cmp(&b.as_f64().unwrap_or(f64::NAN)),
        },
        (KeyValue::Text(a), KeyValue::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Every combination of one value per join key (none when a key has no value).
fn combinations(values: &JoinValues) -> Vec<Vec<KeyValue>> {
    let mut combos = vec![Vec::new()];
    for options in values {
        combos = (combos.iter())
            .flat_map(|combo| {
                options.iter().map(move |value| {
                    let mut next = combo.clone();
                    next.push(value.clone());
                    next
                })
            })
            .take(MAX_KEY_COMBINATIONS)
            .collect();
    }
    combos
}

impl SequencePlan {
    /// The shape the matcher checks events against.
    pub fn spec(&self) -> SequenceSpec {
        self.spec.clone()
    }

    pub fn maxspan(&self) -> Option<Duration> {
        self.maxspan
    }

    /// The field that orders the sequence's events.
    pub fn timestamp_field(&self) -> &str {
        &self.timestamp_field
    }

    pub fn tiebreaker_field(&self) -> Option<&str> {
        self.tiebreaker_field.as_deref()
    }

    /// A fetched document as the matcher takes it: each stage it matches with its join values,
    /// `until`, its timestamp and tiebreaker; or why it takes no part.
    pub fn event(&self, document: Document, types: Option<&FieldMap>) -> Result<Event, Skipped> {
        let doc = &document.source;
        let stages: Vec<StageMatch> = (self.stages.iter().enumerate())
            .filter(|(_, (condition, _))| condition.matches(doc, types))
            .map(|(stage, (_, keys))| StageMatch {
                stage,
                join: join_values(doc, keys, types),
            })
            .collect();
        let until = (self.until.as_ref())
            .filter(|(condition, _)| condition.matches(doc, types))
            .map(|(_, keys)| join_values(doc, keys, types));
        if stages.is_empty() && until.is_none() {
            return Err(Skipped::NoStage);
        }
        let timestamp = (json_values(doc, &self.timestamp_field).into_iter())
            .find_map(|json| FieldType::Date.convert(json).as_ref().and_then(date_millis))
            .ok_or(Skipped::NoTimestamp)?;
        let tiebreaker = (self.tiebreaker_field.as_deref())
            .and_then(|field| json_values(doc, field).into_iter().find_map(tiebreaker));
        Ok(Event {
            document: Arc::new(document),
            timestamp,
            tiebreaker,
            stages,
            until,
        })
    }
}

fn tiebreaker(json: &Json) -> Option<Tiebreaker> {
    match json {
        Json::Number(n) => n.as_f64().map(Tiebreaker::Number),
        Json::String(text) => Some(Tiebreaker::Text(text.clone())),
        _ => None,
    }
}

/// Per join key, the document's values as the field's type indexes them (a keyword field's
/// number is its text, as Elasticsearch reads it); an absent optional field (`?f`) is one null
/// value, an absent field none. A key that is not a field reference gives no value (the corpus
/// joins on fields only).
fn join_values(doc: &Json, keys: &[Expr], types: Option<&FieldMap>) -> JoinValues {
    keys.iter()
        .map(|key| {
            let Expr::Field(field) = key else {
                return Vec::new();
            };
            let kind = FieldType::of(types, &field.name);
            let values: Vec<KeyValue> = (json_values(doc, &field.name).into_iter())
                .filter_map(|json| kind.convert(json))
                .filter_map(key_value)
                .collect();
            match values.is_empty() && field.optional {
                true => vec![KeyValue::Null],
                false => values,
            }
        })
        .collect()
}

fn key_value(value: Value) -> Option<KeyValue> {
    Some(match value {
        Value::Null => KeyValue::Null,
        Value::Bool(flag) => KeyValue::Bool(flag),
        Value::Int(number) => KeyValue::Number(number.into()),
        Value::Float(number) => KeyValue::Number(serde_json::Number::from_f64(number)?),
        Value::Str(text) => KeyValue::Text(text),
    })
}
