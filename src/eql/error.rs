//! Parse errors: where the parse stopped (line and column, 1-based, in characters of the query
//! text) and a short reason. Positions inside the parser are byte offsets; they become lines and
//! columns here, once, when an error is built. The error is the type KQL reports
//! ([`crate::kql::ParseError`]), so that rule loading places both languages' errors alike.

pub use crate::kql::ParseError;

/// An error found by the lexer or parser, before positions become lines and columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Byte offset of the error.
    pub at: usize,
    pub message: String,
    /// Byte offset of what was left open, when that is the error.
    pub opened_at: Option<usize>,
}

impl Failure {
    pub fn new(at: usize, message: impl Into<String>) -> Failure {
        Failure {
            at,
            message: message.into(),
            opened_at: None,
        }
    }

    /// The error a person reads, with positions in lines and columns of `text`.
    pub fn into_error(self, text: &str) -> ParseError {
        let (line, column) = line_column(text, self.at);
        let opened_at = self.opened_at.map(|open| line_column(text, open));
        let message = match opened_at {
            Some((open_line, open_column)) => {
                format!("{} opened at {open_line}:{open_column}", self.message)
            }
            None => self.message,
        };
        ParseError {
            line,
            column,
            message,
            opened_at,
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset of `text` (`\n` ends a line).
/// An offset inside a character counts as that character.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (at, c) in text.char_indices() {
        if at >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
