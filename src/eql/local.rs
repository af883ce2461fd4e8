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

/// The samples of one window being gathered: per combination of join values (in the order first
/// seen), the first event of each stage in the order the events were read.
#[derive(Debug, Default)]
pub struct Samples {
    order: Vec<Vec<KeyValue>>,
    found: HashMap<Vec<KeyValue>, Vec<Option<Arc<Document>>>>,
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
    /// Adds a fetched document to `samples`: under each combination of its join values, as the
    /// event of every stage it matches that has none yet. Stages are independent: one document
    /// can be the event of two stages.
    pub fn add(&self, samples: &mut Samples, document: Document, types: Option<&FieldMap>) {
        let document = Arc::new(document);
        let doc = &document.source;
        for (stage, (condition, keys)) in self.stages.iter().enumerate() {
            if !condition.matches(doc, types) {
                continue;
            }
            for key in combinations(&join_values(doc, keys, types)) {
                let slots = samples.found.entry(key).or_insert_with_key(|key| {
                    samples.order.push(key.clone());
                    vec![None; self.stages.len()]
                });
                slots[stage].get_or_insert_with(|| Arc::clone(&document));
            }
        }
    }
}

impl Samples {
    /// The complete samples (an event for every stage), each with its join values and its
    /// events in stage order, in the order their join values were first seen.
    pub fn finish(mut self) -> Vec<(Vec<KeyValue>, Vec<Arc<Document>>)> {
        (self.order.into_iter())
            .filter_map(|key| {
                let slots = self.found.remove(&key)?;
                let events: Option<Vec<_>> = slots.into_iter().collect();
                events.map(|events| (key, events))
            })
            .collect()
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
