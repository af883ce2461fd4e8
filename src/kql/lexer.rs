//! The character level of KQL: whitespace, keywords, escapes, quoted strings and unquoted
//! literals, read at a byte offset of the query text. The parser decides what the literals
//! mean (field or value); this module only says where each one ends and what it decodes to.
//!
//! Every character with a meaning in the grammar is ASCII except the no-break space (U+00A0,
//! two bytes), so the text is read as bytes and runs of plain characters are copied as whole
//! slices. Every token starts and ends at an ASCII character, a no-break space or the end, so
//! the offsets the parser sees are always on character boundaries.

use super::ast::{RangeOp, Value};

/// True for the characters that end an unquoted literal unless escaped with a backslash:
/// `\ ( ) : < > " * { }`.
pub fn is_special(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_special_byte)
}

/// [`is_special`] of an ASCII byte (no other byte is special).
const fn is_special_byte(b: u8) -> bool {
    matches!(
        b,
        b'\\' | b'(' | b')' | b':' | b'<' | b'>' | b'"' | b'*' | b'{' | b'}'
    )
}

/// What a byte can start inside an unquoted literal, for the scan of plain characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteClass {
    /// Nothing but itself (continuation bytes of multi-byte characters included).
    Plain,
    /// A special character: the run ends.
    Special,
    /// Whitespace or `n`/`N` (or the first byte of a no-break space): a keyword may start.
    MaybeKeyword,
}

/// [`ByteClass`] of every byte.
const BYTE_CLASSES: [ByteClass; 256] = {
    let mut classes = [ByteClass::Plain; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if is_special_byte(byte) {
            classes[b] = ByteClass::Special;
        } else if matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'n' | b'N')
            || byte == NO_BREAK_SPACE[0]
        {
            classes[b] = ByteClass::MaybeKeyword;
        }
        b += 1;
    }
    classes
};

/// The keywords, lowercase (they match in any case).
const KEYWORDS: [&str; 3] = ["or", "and", "not"];

/// The UTF-8 encoding of the no-break space, whitespace in the grammar.
const NO_BREAK_SPACE: [u8; 2] = [0xC2, 0xA0];

/// The length in bytes of the whitespace (Kibana's `Space`: space, tab, CR, LF, no-break space)
/// at `pos`, if there is one.
fn space_at(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    match bytes.get(pos)? {
        b' ' | b'\t' | b'\r' | b'\n' => Some(1),
        _ if bytes.get(pos..pos + 2) == Some(&NO_BREAK_SPACE[..]) => Some(2),
        _ => None,
    }
}

/// Whitespace that JavaScript's `String.prototype.trim` removes (Kibana trims unquoted literals
/// with it): Unicode `White_Space` without U+0085, plus U+FEFF.
pub fn is_trimmed(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// The offset after a run of whitespace starting at `pos` (`pos` itself when there is none).
pub fn skip_spaces(text: &str, mut pos: usize) -> usize {
    while let Some(len) = space_at(text, pos) {
        pos += len;
    }
    pos
}

/// True when `word` (lowercase ASCII) is at `pos`, in any case.
pub fn word_at(text: &str, pos: usize, word: &str) -> bool {
    text.as_bytes()
        .get(pos..pos + word.len())
        .is_some_and(|found| found.eq_ignore_ascii_case(word.as_bytes()))
}

/// The end of a binary operator `Space+ word Space+` (word `or` or `and`) starting at `pos`.
pub fn binary_operator(text: &str, pos: usize, word: &str) -> Option<usize> {
    let word_start = skip_spaces(text, pos);
    if word_start == pos || !word_at(text, word_start, word) {
        return None;
    }
    let word_end = word_start + word.len();
    let end = skip_spaces(text, word_end);
    (end > word_end).then_some(end)
}

/// The end of `not Space+` starting at `pos`.
pub fn not_operator(text: &str, pos: usize) -> Option<usize> {
    if !word_at(text, pos, "not") {
        return None;
    }
    let end = skip_spaces(text, pos + 3);
    (end > pos + 3).then_some(end)
}

/// True when a keyword that ends an unquoted literal starts at `pos`: ` or `, ` and ` (with one
/// whitespace on each side) or `not ` (Kibana's `Keyword` rule).
fn keyword_at(text: &str, pos: usize) -> bool {
    if let Some(space) = space_at(text, pos) {
        let word = pos + space;
        let spaced = |w: &str| word_at(text, word, w) && space_at(text, word + w.len()).is_some();
        return spaced("or") || spaced("and");
    }
    matches!(text.as_bytes().get(pos), Some(b'n' | b'N'))
        && word_at(text, pos, "not")
        && space_at(text, pos + 3).is_some()
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
    fn wildcard(&mut self) {
        self.done.push(std::mem::take(&mut self.current));
    }

    fn into_parts(mut self) -> Vec<String> {
        self.done.push(self.current);
        self.done
    }
}

/// Reads `\t`, `\r` or `\n` at `pos`.
fn escaped_whitespace(text: &str, pos: usize) -> Option<(char, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'\\') {
        return None;
    }
    let c = match bytes.get(pos + 1)? {
        b't' => '\t',
        b'r' => '\r',
        b'n' => '\n',
        _ => return None,
    };
    Some((c, pos + 2))
}

/// Reads four hex digits after `\u` at `pos` as one UTF-16 code unit.
fn unicode_unit(text: &str, pos: usize) -> Option<u32> {
    let bytes = text.as_bytes();
    if bytes.get(pos..pos + 2) != Some(&b"\\u"[..]) {
        return None;
    }
    let digits = bytes.get(pos + 2..pos + 6)?;
    digits.iter().try_fold(0u32, |acc, &b| {
        char::from(b).to_digit(16).map(|d| acc * 16 + d)
    })
}

/// Reads `\uXXXX` at `pos`; a surrogate pair written as two escapes becomes one character, and a
/// lone surrogate (which a Rust string cannot hold) becomes U+FFFD.
fn escaped_unicode(text: &str, pos: usize) -> Option<(char, usize)> {
    let unit = unicode_unit(text, pos)?;
    if (0xD800..0xDC00).contains(&unit)
        && let Some(low) = unicode_unit(text, pos + 6).filter(|low| (0xDC00..0xE000).contains(low))
    {
        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        let c = char::from_u32(code).expect("a valid surrogate pair is a valid scalar value");
        return Some((c, pos + 12));
    }
    Some((char::from_u32(unit).unwrap_or('\u{fffd}'), pos + 6))
}

/// Reads one unquoted character, escape or run of plain characters at `pos` into `pieces`;
/// false when the literal ends at `pos`.
fn unquoted_piece(text: &str, pos: &mut usize, pieces: &mut Pieces) -> bool {
    let bytes = text.as_bytes();
    let Some(&b) = bytes.get(*pos) else {
        return false;
    };
    if let Some((decoded, next)) = escaped_whitespace(text, *pos) {
        pieces.current.push(decoded);
        *pos = next;
        return true;
    }
    if b == b'\\' {
        return escaped_piece(text, pos, pieces);
    }
    if b == b'*' {
        pieces.wildcard();
        *pos += 1;
        return true;
    }
    // A run of plain characters at once: the common case, and one copy. The run only ends at
    // an ASCII character or a whitespace, so it is scanned byte by byte.
    let start = *pos;
    let mut end = start;
    while let Some(&plain) = bytes.get(end) {
        match BYTE_CLASSES[usize::from(plain)] {
            ByteClass::Plain => {}
            ByteClass::Special => break,
            ByteClass::MaybeKeyword if keyword_at(text, end) => break,
            ByteClass::MaybeKeyword => {}
        }
        end += 1;
    }
    pieces.current.push_str(&text[start..end]);
    *pos = end;
    end > start
}

/// Reads an escape other than whitespace at `pos` (a backslash): a special character, a
/// `\uXXXX` sequence or a keyword. A backslash before anything else ends the literal.
fn escaped_piece(text: &str, pos: &mut usize, pieces: &mut Pieces) -> bool {
    let Some(&next) = text.as_bytes().get(*pos + 1) else {
        return false;
    };
    if is_special_byte(next) {
        pieces.current.push(char::from(next));
        *pos += 2;
        return true;
    }
    if let Some((decoded, end)) = escaped_unicode(text, *pos) {
        pieces.current.push(decoded);
        *pos = end;
        return true;
    }
    let Some(keyword) = KEYWORDS.iter().find(|k| word_at(text, *pos + 1, k)) else {
        return false;
    };
    let end = *pos + 1 + keyword.len();
    pieces.current.push_str(&text[*pos + 1..end]);
    *pos = end;
    true
}

/// Reads an unquoted literal at `pos`: its value and the offset after it, or `None` when no
/// unquoted character is there.
pub fn unquoted_literal(text: &str, pos: usize) -> Option<(Value, usize)> {
    let mut pieces = Pieces::default();
    let mut end = pos;
    while unquoted_piece(text, &mut end, &mut pieces) {}
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
pub fn quoted_string(text: &str, pos: usize) -> Result<Option<(String, usize)>, Unterminated> {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'"') {
        return Ok(None);
    }
    let mut decoded = String::new();
    let mut i = pos + 1;
    loop {
        // Everything up to the next backslash or quote is itself.
        let run = bytes[i..]
            .iter()
            .position(|&b| b == b'\\' || b == b'"')
            .ok_or(Unterminated)?;
        decoded.push_str(&text[i..i + run]);
        i += run;
        if bytes[i] == b'"' {
            return Ok(Some((decoded, i + 1)));
        }
        let (c, next) = escaped_character(text, i);
        decoded.push(c);
        i = next;
    }
}

/// Reads a backslash inside quotes at `pos`: `\t` `\r` `\n`, `\uXXXX`, `\\` and `\"` are
/// decoded; any other backslash is itself.
fn escaped_character(text: &str, pos: usize) -> (char, usize) {
    if let Some(decoded) = escaped_whitespace(text, pos).or_else(|| escaped_unicode(text, pos)) {
        return decoded;
    }
    match text.as_bytes().get(pos + 1) {
        Some(&next @ (b'\\' | b'"')) => (char::from(next), pos + 2),
        _ => ('\\', pos + 1),
    }
}

/// Reads a literal (quoted or unquoted) at `pos`.
pub fn literal(text: &str, pos: usize) -> Result<Option<(Value, usize)>, Unterminated> {
    if let Some((decoded, end)) = quoted_string(text, pos)? {
        return Ok(Some((Value::Phrase(decoded), end)));
    }
    Ok(unquoted_literal(text, pos))
}

/// Reads a range operator at `pos`.
pub fn range_operator(text: &str, pos: usize) -> Option<(RangeOp, usize)> {
    let bytes = text.as_bytes();
    let first = *bytes.get(pos)?;
    let equals = bytes.get(pos + 1) == Some(&b'=');
    match (first, equals) {
        (b'<', true) => Some((RangeOp::Lte, pos + 2)),
        (b'>', true) => Some((RangeOp::Gte, pos + 2)),
        (b'<', false) => Some((RangeOp::Lt, pos + 1)),
        (b'>', false) => Some((RangeOp::Gt, pos + 1)),
        _ => None,
    }
}
