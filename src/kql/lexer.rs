//! The character level of KQL: whitespace, keywords, escapes, quoted strings and unquoted
//! literals, read at a position of the query's characters. The parser decides what the literals
//! mean (field or value); this module only says where each one ends and what it decodes to.

use super::ast::Value;

/// Characters that end an unquoted literal unless escaped with a backslash.
pub const SPECIAL_CHARACTERS: &[char] = &['\\', '(', ')', ':', '<', '>', '"', '*', '{', '}'];

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
    let spaced = |word: &str| {
        space_at(pos) && word_at(chars, pos + 1, word) && space_at(pos + 1 + word.len())
    };
    spaced("or") || spaced("and") || (word_at(chars, pos, "not") && space_at(pos + 3))
}

/// One decoded piece of an unquoted literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Wildcard,
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
fn unquoted_piece(chars: &[char], pos: &mut usize, pieces: &mut Vec<Piece>) -> bool {
    let Some(&c) = chars.get(*pos) else {
        return false;
    };
    if let Some((decoded, next)) = escaped_whitespace(chars, *pos) {
        pieces.push(Piece::Char(decoded));
        *pos = next;
        return true;
    }
    if c == '\\' {
        return escaped_piece(chars, pos, pieces);
    }
    if c == '*' {
        pieces.push(Piece::Wildcard);
        *pos += 1;
        return true;
    }
    if SPECIAL_CHARACTERS.contains(&c) || keyword_at(chars, *pos) {
        return false;
    }
    pieces.push(Piece::Char(c));
    *pos += 1;
    true
}

/// Reads an escape other than whitespace at `pos` (a backslash): a special character, a
/// `\uXXXX` sequence or a keyword. A backslash before anything else ends the literal.
fn escaped_piece(chars: &[char], pos: &mut usize, pieces: &mut Vec<Piece>) -> bool {
    let Some(&next) = chars.get(*pos + 1) else {
        return false;
    };
    if SPECIAL_CHARACTERS.contains(&next) {
        pieces.push(Piece::Char(next));
        *pos += 2;
        return true;
    }
    if let Some((decoded, end)) = escaped_unicode(chars, *pos) {
        pieces.push(Piece::Char(decoded));
        *pos = end;
        return true;
    }
    let Some(keyword) = KEYWORDS.iter().find(|k| word_at(chars, *pos + 1, k)) else {
        return false;
    };
    let end = *pos + 1 + keyword.len();
    pieces.extend(chars[*pos + 1..end].iter().map(|&k| Piece::Char(k)));
    *pos = end;
    true
}

/// Reads an unquoted literal at `pos`: its value and the index after it, or `None` when no
/// unquoted character is there.
pub fn unquoted_literal(chars: &[char], pos: usize) -> Option<(Value, usize)> {
    let mut pieces = Vec::new();
    let mut end = pos;
    while unquoted_piece(chars, &mut end, &mut pieces) {}
    if end == pos {
        return None;
    }
    Some((unquoted_value(&pieces), end))
}

/// Trims the pieces (Kibana trims the decoded text) and classifies them.
fn unquoted_value(pieces: &[Piece]) -> Value {
    let is_trimmed_piece = |p: &Piece| matches!(p, Piece::Char(c) if is_trimmed(*c));
    let start = pieces
        .iter()
        .position(|p| !is_trimmed_piece(p))
        .unwrap_or(pieces.len());
    let end = pieces
        .iter()
        .rposition(|p| !is_trimmed_piece(p))
        .map_or(start, |i| i + 1);
    let trimmed = &pieces[start..end];
    let mut parts = vec![String::new()];
    for piece in trimmed {
        match piece {
            Piece::Char(c) => parts.last_mut().expect("parts starts non-empty").push(*c),
            Piece::Wildcard => parts.push(String::new()),
        }
    }
    if parts.len() > 1 {
        return Value::Wildcard(parts);
    }
    let text = parts.pop().expect("parts starts non-empty");
    match text.as_str() {
        "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::Text(text),
    }
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
