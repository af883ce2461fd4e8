//! KQL (Kibana Query Language): parse a query into a closed syntax tree and translate it into
//! Elasticsearch query DSL exactly as Kibana does. Pure: no I/O, no clock, and nothing else from
//! this crate is imported, so it can become a crate of its own.
//!
//! - [`parse`]: text -> [`Query`] or a [`ParseError`] with line, column and reason.
//! - [`translate`]: [`Query`] (+ the [`FieldMap`] of the searched indices, when known) ->
//!   [`Dsl`], a typed query-DSL tree that serializes (serde) to exactly Kibana's JSON.
//! - [`lucene`]: the `query_string` query of a Lucene rule, as a [`Dsl`].
//! - [`to_dsl`] and [`lucene_to_dsl`]: the same as `serde_json::Value`s.

mod ast;
mod dsl;
mod error;
mod fields;
mod lexer;
mod parser;
mod translate;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod dsl_tests;
#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typed_dsl_tests;

pub use ast::{Field, Query, RangeOp, Value};
pub use dsl::{Bound, DATE_TIME_ZONE, Dsl, MultiMatchKind, QueryString, Scalar};
pub use error::ParseError;
pub use fields::{FieldInfo, FieldMap};
pub use translate::{glob_matches, lucene, lucene_to_dsl, query_string_escape, to_dsl, translate};

/// The longest query accepted, in characters (the longest rule query of Elastic's corpus has
/// under 10,000).
pub const MAX_QUERY_LENGTH: usize = 100_000;

/// The deepest nesting of parentheses and braces accepted (the corpus needs 5). It bounds the
/// recursion of the parser and of the translation, and keeps the DSL of any accepted query
/// within the 128 levels a JSON reader such as serde_json accepts.
pub const MAX_NESTING_DEPTH: usize = 32;

/// Parses KQL text as Kibana's grammar does.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    // A character takes at least one byte: only a text of more bytes than the limit can have
    // too many characters.
    if query.len() > MAX_QUERY_LENGTH && query.chars().nth(MAX_QUERY_LENGTH).is_some() {
        // At most one character past the limit is kept for the error.
        let chars: Vec<char> = query.chars().take(MAX_QUERY_LENGTH + 1).collect();
        return Err(error::error_at(
            &chars,
            MAX_QUERY_LENGTH,
            format!(
                "the query is {} characters long; at most {MAX_QUERY_LENGTH} are accepted",
                query.chars().count()
            ),
        ));
    }
    parser::Parser::new(query)
        .parse()
        .map_err(|failure| failure.into_error(query))
}
