//! The character level of KQL: whitespace, keywords, escapes, quoted strings and unquoted
//! literals, read at a position of the query's characters. The parser decides what the literals
//! mean (field or value); this module only says where each one ends and what it decodes to.

use super::ast::Value;

/// True for the characters that end an unquoted literal unless escaped with a backslash:
/// `\ ( ) : < > " * { }`.
pub fn is_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}'
    )
}

/// The keywords, lowercase (they match in any case).
const KEYWORDS: [&str; 3] = ["or", "and", "not"];

/// Whitespace in the grammar (Kibana's `Space`).
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{a0}')
}

/// Whitespace that JavaScript's `String.prototype.trim` removes (Kibana trims unquoted literals
/// with it): Unicode `White_Space` without U+0085, plus U+FEFF.
pub fn is_trimmed(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// The index after a run of whitespace starting at `pos` (`pos` itself when there is none).
pub fn skip_spaces(chars: &[char], mut pos: usize) -> usize {
    while chars.get(pos).copied().is_some_and(is_space) {
        pos += 1;
    }
    pos
}

/// True when `word` (lowercase ASCII) is at `pos`, in any case.
pub fn word_at(chars: &[char], pos: usize, word: &str) -> bool {
    let len = word.len();
    chars.get(pos..pos + len).is_some_and(|found| {
        found
            .iter()
            .zip(word.chars())
            .all(|(c, w)| c.to_ascii_lowercase() == w)
    })
}

/// The end of a binary operator `Space+ word Space+` (word `or` or `and`) starting at `pos`.
pub fn binary_operator(chars: &[char], pos: usize, word: &str) -> Option<usize> {
    let word_start = skip_spaces(chars, pos);
    if word_start == pos || !word_at(chars, word_start, word) {
        return None;
    }
    let word_end = word_start + word.len();
    let end = skip_spaces(chars, word_end);
    (end > word_end).then_some(end)
}

/// The end of `not Space+` starting at `pos`.
pub fn not_operator(chars: &[char], pos: usize) -> Option<usize> {
    if !word_at(chars, pos, "not") {
        return None;
    }
    let end = skip_spaces(chars, pos + 3);
    (end > pos + 3).then_some(end)
}

/// True when a keyword that ends an unquoted literal starts at `pos`: ` or `, ` and ` (with one
/// whitespace on each side) or `not ` (Kibana's `Keyword` rule).
fn keyword_at(chars: &[char], pos: usize) -> bool {
    let space_at = |i: usize| chars.get(i).copied().is_some_and(is_space);
    match chars.get(pos) {
        Some(&c) if is_space(c) => {
            let spaced =
                |word: &str| word_at(chars, pos + 1, word) && space_at(pos + 1 + word.len());
            spaced("or") || spaced("and")
        }
        Some('n' | 'N') => word_at(chars, pos, "not") && space_at(pos + 3),
        _ => false,
    }
}

/// The decoded pieces of an unquoted literal: the literal text between unescaped wildcards
/// (`done`), and the piece being read (`current`). Most literals have no wildcard, so the list
/// is only allocated when one appears.
#[derive(Default)]
struct Pieces {
    done: Vec<String>,
    current: String,
}

impl Pieces {
    fn push(&mut self, c: char) {
        self.current.push(c);
    }

    fn extend(&mut self, chars: &[char]) {
        self.current.extend(chars);
    }

    fn wildcard(&mut self) {
        self.done.push(std::mem::take(&mut self.current));
    }

    fn into_parts(mut self) -> Vec<String> {
        self.done.push(self.current);
        self.done
    }
}

/// Reads `\t`, `\r` or `\n` at `pos`.
fn escaped_whitespace(chars: &[char], pos: usize) -> Option<(char, usize)> {
    if chars.get(pos) != Some(&'\\') {
        return None;
    }
    let c = match chars.get(pos + 1)? {
        't' => '\t',
        'r' => '\r',
        'n' => '\n',
        _ => return None,
    };
    Some((c, pos + 2))
}

/// Reads four hex digits after `\u` at `pos` as one UTF-16 code unit.
fn unicode_unit(chars: &[char], pos: usize) -> Option<u32> {
    if chars.get(pos) != Some(&'\\') || chars.get(pos + 1) != Some(&'u') {
        return None;
    }
    let digits = chars.get(pos + 2..pos + 6)?;
    digits
        .iter()
        .try_fold(0u32, |acc, c| c.to_digit(16).map(|d| acc * 16 + d))
}

/// Reads `\uXXXX` at `pos`; a surrogate pair written as two escapes becomes one character, and a
/// lone surrogate (which a Rust string cannot hold) becomes U+FFFD.
fn escaped_unicode(chars: &[char], pos: usize) -> Option<(char, usize)> {
    let unit = unicode_unit(chars, pos)?;
    if (0xD800..0xDC00).contains(&unit)
        && let Some(low) = unicode_unit(chars, pos + 6).filter(|low| (0xDC00..0xE000).contains(low))
    {
        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        let c = char::from_u32(code).expect("a valid surrogate pair is a valid scalar value");
        return Some((c, pos + 12));
    }
    Some((char::from_u32(unit).unwrap_or('\u{fffd}'), pos + 6))
}

/// Reads one unquoted character (or escaped keyword) at `pos` into `pieces`; false when the
/// literal ends at `pos`.
fn unquoted_piece(chars: &[char], pos: &mut usize, pieces: &mut Pieces) -> bool {
    let Some(&c) = chars.get(*pos) else {
        return false;
    };
    if let Some((decoded, next)) = escaped_whitespace(chars, *pos) {
        pieces.push(decoded);
        *pos = next;
        return true;
    }
    if c == '\\' {
        return escaped_piece(chars, pos, pieces);
    }
    if c == '*' {
        pieces.wildcard();
        *pos += 1;
        return true;
    }
    // A run of plain characters at once: the common case, and one copy.
    let start = *pos;
    let mut end = start;
    while let Some(&plain) = chars.get(end) {
        if is_special(plain) || keyword_at(chars, end) {
            break;
        }
        end += 1;
    }
    pieces.extend(&chars[start..end]);
    *pos = end;
    end > start
}

/// Reads an escape other than whitespace at `pos` (a backslash): a special character, a
/// `\uXXXX` sequence or a keyword. A backslash before anything else ends the literal.
fn escaped_piece(chars: &[char], pos: &mut usize, pieces: &mut Pieces) -> bool {
    let Some(&next) = chars.get(*pos + 1) else {
        return false;
    };
    if is_special(next) {
        pieces.push(next);
        *pos += 2;
        return true;
    }
    if let Some((decoded, end)) = escaped_unicode(chars, *pos) {
        pieces.push(decoded);
        *pos = end;
        return true;
    }
    let Some(keyword) = KEYWORDS.iter().find(|k| word_at(chars, *pos + 1, k)) else {
        return false;
    };
    let end = *pos + 1 + keyword.len();
    chars[*pos + 1..end].iter().for_each(|&k| pieces.push(k));
    *pos = end;
    true
}

/// Reads an unquoted literal at `pos`: its value and the index after it, or `None` when no
/// unquoted character is there.
pub fn unquoted_literal(chars: &[char], pos: usize) -> Option<(Value, usize)> {
    let mut pieces = Pieces::default();
    let mut end = pos;
    while unquoted_piece(chars, &mut end, &mut pieces) {}
    if end == pos {
        return None;
    }
    Some((unquoted_value(pieces), end))
}

/// Trims the text (Kibana trims the decoded literal; wildcards are not whitespace, so only the
/// first and last pieces can lose characters) and classifies it.
fn unquoted_value(pieces: Pieces) -> Value {
    if pieces.done.is_empty() {
        let text = trim_owned(pieces.current);
        return match text.as_str() {
            "null" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Text(text),
        };
    }
    let mut parts = pieces.into_parts();
    let last = parts.len() - 1;
    let trimmed_end = parts[last].trim_end_matches(is_trimmed).len();
    parts[last].truncate(trimmed_end);
    let leading = parts[0].len() - parts[0].trim_start_matches(is_trimmed).len();
    parts[0].drain(..leading);
    Value::Wildcard(parts)
}

/// The text without the whitespace JavaScript's `trim` removes, reusing its buffer.
fn trim_owned(mut text: String) -> String {
    let end = text.trim_end_matches(is_trimmed).len();
    text.truncate(end);
    let leading = text.len() - text.trim_start_matches(is_trimmed).len();
    text.drain(..leading);
    text
}

/// A quoted string that reached the end of the query without its closing quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unterminated;

/// Reads a quoted string at `pos`: `Ok(None)` when no `"` is there, `Err` when it never closes.
pub fn quoted_string(chars: &[char], pos: usize) -> Result<Option<(String, usize)>, Unterminated> {
    if chars.get(pos) != Some(&'"') {
        return Ok(None);
    }
    let mut text = String::new();
    let mut i = pos + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(Unterminated);
        };
        if c == '"' {
            return Ok(Some((text, i + 1)));
        }
        let (decoded, next) = quoted_character(chars, i);
        text.push(decoded);
        i = next;
    }
}

/// Reads one character inside quotes at `pos` (not the closing quote): `\t` `\r` `\n`,
/// `\uXXXX`, `\\` and `\"` are decoded; any other backslash is itself.
fn quoted_character(chars: &[char], pos: usize) -> (char, usize) {
    if let Some(decoded) = escaped_whitespace(chars, pos).or_else(|| escaped_unicode(chars, pos)) {
        return decoded;
    }
    let c = chars[pos];
    match chars.get(pos + 1) {
        Some(&next @ ('\\' | '"')) if c == '\\' => (next, pos + 2),
        _ => (c, pos + 1),
    }
}

/// Reads a literal (quoted or unquoted) at `pos`.
pub fn literal(chars: &[char], pos: usize) -> Result<Option<(Value, usize)>, Unterminated> {
    if let Some((text, end)) = quoted_string(chars, pos)? {
        return Ok(Some((Value::Phrase(text), end)));
    }
    Ok(unquoted_literal(chars, pos))
}

/// Reads a range operator at `pos`.
pub fn range_operator(chars: &[char], pos: usize) -> Option<(super::ast::RangeOp, usize)> {
    use super::ast::RangeOp;
    let first = *chars.get(pos)?;
    let equals = chars.get(pos + 1) == Some(&'=');
    match (first, equals) {
        ('<', true) => Some((RangeOp::Lte, pos + 2)),
        ('>', true) => Some((RangeOp::Gte, pos + 2)),
        ('<', false) => Some((RangeOp::Lt, pos + 1)),
        ('>', false) => Some((RangeOp::Gt, pos + 1)),
        _ => None,
    }
}
