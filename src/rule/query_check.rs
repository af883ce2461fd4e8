//! Checks kuery queries when a rule loads and maps a position inside the query text (as the KQL
//! parser reports it) back to the position inside the rule file, through the TOML string's
//! quotes, the newline trimmed after an opening `'''`/`"""`, escapes and line-ending backslashes.

use std::ops::Range;

/// Parses a kuery query, giving its syntax tree or its first syntax error (positions within
/// the query text).
pub fn check_kuery(query: &str) -> Result<crate::kql::Query, crate::kql::ParseError> {
    crate::kql::parse(query)
}

/// Parses an EQL query, giving its syntax tree or its first syntax error (positions within
/// the query text).
pub fn check_eql(query: &str) -> Result<crate::eql::Query, crate::eql::ParseError> {
    crate::eql::parse(query)
}

/// The byte offset in `file` of the query character at (`line`, `column`) (1-based, columns in
/// characters), given the span of the TOML string literal holding the query. A position past the
/// end of the query maps to the closing quotes.
pub fn file_offset(file: &str, literal: Range<usize>, line: usize, column: usize) -> usize {
    let source = &file[literal.clone()];
    let (delimiter, basic) = delimiter(source);
    let mut body_start = delimiter.len();
    if delimiter.len() == 3 {
        body_start += trimmed_newline(&source[body_start..]);
    }
    let body_end = source.len().saturating_sub(delimiter.len()).max(body_start);
    let body = &source[body_start..body_end];
    let offset = if basic {
        find_in_basic(body, line, column)
    } else {
        find_in_literal(body, line, column)
    };
    literal.start + body_start + offset.unwrap_or(body.len())
}

/// The opening quotes of a string literal and whether it is a basic (escaping) string.
fn delimiter(source: &str) -> (&'static str, bool) {
    for (quotes, basic) in [("\"\"\"", true), ("'''", false), ("\"", true), ("'", false)] {
        if source.starts_with(quotes) {
            return (quotes, basic);
        }
    }
    ("", false)
}

fn trimmed_newline(after_quotes: &str) -> usize {
    if after_quotes.starts_with("\r\n") {
        2
    } else if after_quotes.starts_with('\n') {
        1
    } else {
        0
    }
}

/// Walks decoded characters: the query position advances one character per decoded character.
struct Cursor {
    line: usize,
    column: usize,
}

impl Cursor {
    fn at(&self, line: usize, column: usize) -> bool {
        self.line == line && self.column == column
    }

    fn advance(&mut self, decoded: char) {
        if decoded == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
    }
}

fn find_in_literal(body: &str, line: usize, column: usize) -> Option<usize> {
    let mut cursor = Cursor { line: 1, column: 1 };
    for (at, c) in body.char_indices() {
        if cursor.at(line, column) {
            return Some(at);
        }
        cursor.advance(c);
    }
    None
}

fn find_in_basic(body: &str, line: usize, column: usize) -> Option<usize> {
    let mut cursor = Cursor { line: 1, column: 1 };
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let (decoded, consumed) = decode_one(rest);
        if decoded.is_some() && cursor.at(line, column) {
            return Some(at);
        }
        if let Some(c) = decoded {
            cursor.advance(c);
        }
        at += consumed.max(1);
    }
    None
}

/// The character one source step decodes to (none for a line-ending backslash) and its length.
fn decode_one(rest: &str) -> (Option<char>, usize) {
    let Some(after) = rest.strip_prefix('\\') else {
        let c = rest.chars().next().expect("rest is not empty");
        return (Some(c), c.len_utf8());
    };
    let Some(kind) = after.chars().next() else {
        return (None, 1);
    };
    match kind {
        'u' => (unicode_escape(&after[1..], 4), 6),
        'U' => (unicode_escape(&after[1..], 8), 10),
        'x' => (unicode_escape(&after[1..], 2), 4),
        ' ' | '\t' | '\r' | '\n' => (None, 1 + line_ending_backslash(after)),
        other => (Some(other), 1 + other.len_utf8()),
    }
}

fn unicode_escape(hex: &str, digits: usize) -> Option<char> {
    let code = u32::from_str_radix(hex.get(..digits)?, 16).ok()?;
    char::from_u32(code).or(Some(char::REPLACEMENT_CHARACTER))
}

/// A backslash at the end of a line swallows the whitespace and newlines after it.
fn line_ending_backslash(after: &str) -> usize {
    after
        .find(|c: char| !c.is_whitespace())
        .unwrap_or(after.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::diagnostic::line_column;

    /// Maps a query position for the single string value in `file` and returns file line:col.
    fn map(file: &str, line: usize, column: usize) -> (usize, usize) {
        let start = file.find(['\'', '"']).expect("a string");
        let offset = file_offset(file, start..file.trim_end().len(), line, column);
        line_column(file, offset)
    }

    #[test]
    fn multiline_literal_skips_the_newline_after_the_opening_quotes() {
        let file = "x = 1\nquery = '''\nevent.action: a and\n  b:c\n'''\n";
        assert_eq!(map(file, 1, 1), (3, 1));
        assert_eq!(map(file, 2, 3), (4, 3));
    }

    #[test]
    fn single_line_strings_start_after_the_quote() {
        assert_eq!(map("query = 'a: b'\n", 1, 4), (1, 13));
        assert_eq!(map("query = \"a: b\"\n", 1, 4), (1, 13));
    }

    #[test]
    fn escapes_in_basic_strings_count_as_one_query_character() {
        // decoded: `a: "x y" and`; the query's column 10 is the `a` of `and`.
        let file = "query = \"a: \\\"x\\u0020y\\\" and\"\n";
        assert_eq!(map(file, 1, 10), (1, 26));
    }

    #[test]
    fn line_ending_backslashes_produce_no_query_characters() {
        let file = "query = \"\"\"\nab \\\n    cd\"\"\"\n";
        // decoded: `ab cd`; column 4 is `c` on the file's third line, column 5.
        assert_eq!(map(file, 1, 4), (3, 5));
    }

    #[test]
    fn a_position_past_the_end_maps_to_the_closing_quotes() {
        let file = "query = '''\nab\n'''\n";
        assert_eq!(map(file, 9, 9), (3, 1));
    }

    #[test]
    fn the_eql_hook_reports_a_position_inside_the_query() {
        let error = check_eql("process where\n  a == ").expect_err("incomplete");
        assert_eq!((error.line, error.column), (2, 8));
        assert!(check_eql("process where a == 1").is_ok());
    }

    #[test]
    fn the_hook_accepts_queries_until_the_kql_parser_is_wired() {
        assert!(check_kuery("a: b").is_ok());
    }
}
