//! TEMPORARY (test-only): the parser over a `Vec<char>` as it was before the byte-based lexer,
//! kept only to compare the new parser against it during the rewrite.

use super::MAX_NESTING_DEPTH;
use super::ast;
pub use error::ParseError;

mod error;
mod lexer;
mod parser;

pub fn parse(query: &str) -> Result<ast::Query, ParseError> {
    let chars: Vec<char> = query.chars().take(super::MAX_QUERY_LENGTH + 1).collect();
    if chars.len() > super::MAX_QUERY_LENGTH {
        return Err(error::error_at(
            &chars,
            super::MAX_QUERY_LENGTH,
            format!(
                "the query is {} characters long; at most {} are accepted",
                query.chars().count(),
                super::MAX_QUERY_LENGTH
            ),
        ));
    }
    parser::Parser::new(&chars)
        .parse()
        .map_err(|failure| failure.into_error(&chars))
}
