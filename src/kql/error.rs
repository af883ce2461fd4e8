//! Parse errors: where the parse stopped (line and column, 1-based, in characters of the query
//! text) and a reason a person understands, chosen from what the grammar expected at the
//! furthest point it reached.

use super::ast::RangeOp;
use std::fmt;

/// A query that is not valid KQL (or EQL: `eql::ParseError` is this type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line within the query text.
    pub line: usize,
    /// 1-based column (in characters) within the line.
    pub column: usize,
    pub message: String,
    /// Line and column of the parenthesis, bracket, brace, quote or comment left open, when that
    /// is the error; the message names it as `opened at LINE:COLUMN`, so a caller that places
    /// the query inside a larger text (a rule file) can name it there instead.
    pub opened_at: Option<(usize, usize)>,
}

impl ParseError {
    /// The message with the `opened at` position given in other coordinates (for example the
    /// rule file's line and column), when the error names one.
    pub fn message_with_opened_at(&self, line: usize, column: usize) -> String {
        match self.opened_at {
            Some((query_line, query_column)) => self.message.replacen(
                &format!("opened at {query_line}:{query_column}"),
                &format!("opened at {line}:{column}"),
                1,
            ),
            None => self.message.clone(),
        }
    }
}

/// What the grammar expected at a position where nothing matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A query: a field, a value or `(`.
    Query,
    /// A value after `field:`.
    ValueAfterColon,
    /// A value after a range operator.
    ValueAfterRange(RangeOp),
    /// A value after `(` in a list of values.
    ValueAfterParen,
    /// A query after `and`, `or` or `not`.
    QueryAfter(&'static str),
    /// A value after `and`, `or` or `not` in a list of values.
    ValueAfter(&'static str),
    /// The closing `)` or `}` of the one opened at `open`.
    Close { close: char, open: usize },
    /// The closing quote of the string opened at `open`.
    CloseQuote { open: usize },
    /// `and`, `or` or the end of the query.
    End,
}

impl Expected {
    /// Which expectation explains an error best when several meet at the same position.
    fn rank(self) -> u8 {
        match self {
            Expected::CloseQuote { .. } => 0,
            Expected::ValueAfterColon | Expected::ValueAfterRange(_) => 1,
            Expected::ValueAfter(_) | Expected::QueryAfter(_) | Expected::ValueAfterParen => 2,
            Expected::Close { .. } => 3,
            Expected::Query => 4,
            Expected::End => 5,
        }
    }
}

/// The furthest position the parse reached, what was expected there, and a nesting depth
/// overflow (fatal: it stops the parse wherever it happens).
#[derive(Debug, Default)]
pub struct Failure {
    pub pos: usize,
    pub expected: Vec<Expected>,
    /// Where the parenthesis or brace that went past the depth limit opened.
    pub fatal: Option<usize>,
}

impl Failure {
    /// Keeps expectations at the furthest position only.
    pub fn record(&mut self, pos: usize, expected: Expected) {
        if pos > self.pos || self.expected.is_empty() {
            self.pos = pos;
            self.expected.clear();
        }
        if pos == self.pos && !self.expected.contains(&expected) {
            self.expected.push(expected);
        }
    }

    /// The error a person reads. The parser's positions are byte offsets into `text`; the
    /// error counts in characters.
    pub fn into_error(self, text: &str) -> ParseError {
        let chars: Vec<char> = text.chars().collect();
        let chars = chars.as_slice();
        let at = |offset: usize| char_index(text, offset);
        if let Some(open) = self.fatal.map(at) {
            return error_at(
                chars,
                open,
                format!(
                    "nesting deeper than {} levels of parentheses and braces",
                    super::MAX_NESTING_DEPTH
                ),
            );
        }
        let best = self.expected.iter().copied().min_by_key(|e| e.rank());
        let expected = match best.unwrap_or(Expected::Query) {
            Expected::Close { close, open } => Expected::Close {
                close,
                open: at(open),
            },
            Expected::CloseQuote { open } => Expected::CloseQuote { open: at(open) },
            other => other,
        };
        let pos = at(self.pos);
        let mut error = error_at(chars, pos, describe(expected, chars, pos));
        if let Expected::Close { open, .. } | Expected::CloseQuote { open } = expected {
            error.opened_at = Some(line_column(chars, open));
        }
        error
    }
}

/// The index of the character at byte `offset` of `text` (the number of characters before it).
fn char_index(text: &str, offset: usize) -> usize {
    text.char_indices().take_while(|&(i, _)| i < offset).count()
}

/// An error at a character index.
pub fn error_at(chars: &[char], pos: usize, message: String) -> ParseError {
    let (line, column) = line_column(chars, pos);
    ParseError {
        line,
        column,
        message,
        opened_at: None,
    }
}

/// The 1-based line and column of a character index (`\n` ends a line).
pub fn line_column(chars: &[char], pos: usize) -> (usize, usize) {
    let before = &chars[..pos.min(chars.len())];
    let line = 1 + before.iter().filter(|&&c| c == '\n').count();
    let line_start = before.iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
    (line, pos - line_start + 1)
}

/// What stands at `pos`, for a message: `'x'` or "the end of the query".
fn found(chars: &[char], pos: usize) -> String {
    match chars.get(pos) {
        None => "the end of the query".to_string(),
        Some(c) if c.is_whitespace() => format!("whitespace ({:?})", c),
        Some(c) => format!("'{c}'"),
    }
}

/// Writes `line:column` of a character index.
struct At<'a>(&'a [char], usize);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = line_column(self.0, self.1);
        write!(f, "{line}:{column}")
    }
}

fn describe(expected: Expected, chars: &[char], pos: usize) -> String {
    let found = found(chars, pos);
    match expected {
        Expected::CloseQuote { open } => {
            format!("unterminated quoted string opened at {}", At(chars, open))
        }
        Expected::ValueAfterColon => format!("expected a value after ':', found {found}"),
        Expected::ValueAfterRange(op) => {
            format!("expected a value after '{}', found {found}", op.symbol())
        }
        Expected::ValueAfterParen => format!("expected a value after '(', found {found}"),
        Expected::QueryAfter(word) => format!("expected a query after '{word}', found {found}"),
        Expected::ValueAfter(word) => format!("expected a value after '{word}', found {found}"),
        Expected::Close { close, open } => describe_close(close, open, chars, pos),
        Expected::Query => describe_missing_query(chars, pos),
        Expected::End => describe_end(chars, pos),
    }
}

fn describe_close(close: char, open: usize, chars: &[char], pos: usize) -> String {
    let kind = if close == ')' { "parenthesis" } else { "brace" };
    if pos >= chars.len() {
        return format!("unbalanced {kind} opened at {}", At(chars, open));
    }
    format!(
        "expected 'and', 'or' or '{close}' to close the {kind} opened at {}, found {}",
        At(chars, open),
        found(chars, pos)
    )
}

fn describe_missing_query(chars: &[char], pos: usize) -> String {
    match chars.get(pos) {
        Some(')') => "unbalanced parenthesis: ')' has no matching '('".to_string(),
        Some('}') => "unbalanced brace: '}' has no matching '{'".to_string(),
        Some(':') => "expected a field name before ':'".to_string(),
        Some('<' | '>') => "expected a field name before the range operator".to_string(),
        Some('\\') => "a backslash must escape a special character (\\ ( ) : < > \" * { }), \
                       a keyword, \\t \\r \\n or \\uXXXX"
            .to_string(),
        _ => format!(
            "expected a field, a value or '(', found {}",
            found(chars, pos)
        ),
    }
}

fn describe_end(chars: &[char], pos: usize) -> String {
    match chars.get(pos) {
        Some(')') => "unbalanced parenthesis: ')' has no matching '('".to_string(),
        Some('}') => "unbalanced brace: '}' has no matching '{'".to_string(),
        Some('\\') => describe_missing_query(chars, pos),
        _ => format!(
            "expected 'and', 'or' or the end of the query, found {}",
            found(chars, pos)
        ),
    }
}
