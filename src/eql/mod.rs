//! EQL (Elastic's Event Query Language): parse a query into a closed syntax tree, evaluate a
//! stage's condition on a JSON document with Elasticsearch's semantics, and turn a stage into a
//! query DSL filter plus the residual condition the DSL cannot express. Pure: no I/O, no clock;
//! from this crate the language layer imports only `kql::FieldMap` (the mapped field types).
//!
//! - [`parse`]: text -> [`Query`] or a [`ParseError`] with line, column and reason.
//! - [`unsupported`]: what of a parsed query lookout's own evaluation cannot run, and why.
//! - [`Condition`] / [`evaluate`]: a condition on one document (`serde_json::Value`).
//! - [`translate_stage`]: a stage -> [`StageFilter`] (a typed [`Dsl`] that serializes to the
//!   query JSON, + a residual [`Condition`]).
//! - [`LocalQuery`]: a whole query run by lookout on fetched documents (the DSL that selects its
//!   candidates, an event query's check, a sequence's events for the matcher).
//! - [`Picker`]: which matches of a window the `head`/`tail` pipes and `size` select.
//! - [`sequence`] and [`native`]: sequence matching on evaluated events, and the native
//!   `_eql/search` request and answer (imports `ids` for stable ids).

pub mod native;
pub mod sequence;

mod ast;
mod dsl;
mod error;
mod eval;
mod functions;
mod lexer;
mod local;
mod parser;
mod pattern;
mod pipes;
mod print;
mod translate;
mod unsupported;
mod value;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod translate_tests;

pub use ast::{
    ArithmeticOp, Body, Category, CompareOp, EventFilter, Expr, Field, Function, Literal,
    MatchKind, Pipe, Query, Sample, SampleStage, Sequence, SequenceStage, TimeSpan, TimeUnit,
};
pub use dsl::{Dsl, Scalar, TextQuery};
pub use error::ParseError;
pub use eval::{Condition, evaluate};
pub use local::{
    DEFAULT_TIMESTAMP_FIELD, Fields, LocalError, LocalQuery, SamplePlan, Samples, SequencePlan,
    Skipped,
};
pub use pipes::Picker;
pub use translate::{DEFAULT_CATEGORY_FIELD, StageFilter, stage_condition, translate_stage};
pub use unsupported::unsupported;
pub use value::Value;

/// The longest query accepted, in characters (the longest EQL query of Elastic's corpus has
/// under 6,000).
pub const MAX_QUERY_LENGTH: usize = 100_000;

/// The deepest nesting accepted: parentheses, function calls, `in` lists, `not` and unary
/// minus each count one level (the corpus needs under 10). It bounds the recursion of the
/// parser, the evaluator, the translation and the printer.
pub const MAX_NESTING_DEPTH: usize = 64;

/// The largest `with runs=N` accepted (Elasticsearch's limit).
pub const MAX_RUNS: u32 = 100;

/// Parses EQL text as Elasticsearch's grammar does.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    if query.len() > MAX_QUERY_LENGTH && query.chars().nth(MAX_QUERY_LENGTH).is_some() {
        let at = query
            .char_indices()
            .nth(MAX_QUERY_LENGTH)
            .map_or(query.len(), |(at, _)| at);
        let message = format!(
            "the query is {} characters long; at most {MAX_QUERY_LENGTH} are accepted",
            query.chars().count()
        );
        return Err(error::Failure::new(at, message).into_error(query));
    }
    parser::Parser::new(query)
        .parse()
        .map_err(|failure| failure.into_error(query))
}
