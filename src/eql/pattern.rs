//! String patterns of EQL: wildcards (`*` any run of characters, `?` one character; no escape
//! character, a backslash is itself) as `:` and `like` use them, the same pattern as a Lucene
//! `wildcard` query value, and regular expressions in Lucene's `regexp` syntax (what a `regex`
//! condition sends to Elasticsearch) turned into the `regex` crate's syntax. Pure functions.

/// Compares two characters as Lucene's case-insensitive term and wildcard automata do: equal,
/// or equal once either is mapped to lower or upper case (single-character mappings only).
pub fn chars_equal(a: char, b: char, insensitive: bool) -> bool {
    if a == b {
        return true;
    }
    insensitive && (lower(a) == lower(b) || upper(a) == upper(b))
}

fn lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// True when two strings are equal, case-insensitively when asked (character by character).
pub fn strings_equal(a: &str, b: &str, insensitive: bool) -> bool {
    if !insensitive {
        return a == b;
    }
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| chars_equal(x, y, true))
}

/// One element of a wildcard pattern.
#[derive(Clone, Copy, PartialEq)]
enum Piece {
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    One,
    Char(char),
}

/// True when `text` matches the Lucene wildcard `pattern` as a whole: `*` any run of
/// characters, `?` one character, a backslash makes the next character literal.
pub fn lucene_wildcard_matches(pattern: &str, text: &str, insensitive: bool) -> bool {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            '*' => Piece::Star,
            '?' => Piece::One,
            '\\' => Piece::Char(chars.next().unwrap_or('\\')),
            other => Piece::Char(other),
        });
    }
    let text: Vec<char> = text.chars().collect();
    glob(&pieces, &text, insensitive)
}

/// The classic two-pointer glob match, backtracking to the last `*` (linear memory).
fn glob(pattern: &[Piece], text: &[char], insensitive: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Piece::One) => {
                p += 1;
                t += 1;
            }
            Some(&Piece::Char(c)) if chars_equal(c, text[t], insensitive) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&piece| piece == Piece::Star)
}

/// True when `text` starts with `prefix` (a `prefix` query), case-insensitively when asked.
pub fn starts_with(text: &str, prefix: &str, insensitive: bool) -> bool {
    let mut chars = text.chars();
    prefix
        .chars()
        .all(|p| chars.next().is_some_and(|c| chars_equal(p, c, insensitive)))
}

/// True when `text` ends with `suffix`, case-insensitively when asked.
pub fn ends_with(text: &str, suffix: &str, insensitive: bool) -> bool {
    let mut chars = text.chars().rev();
    suffix
        .chars()
        .rev()
        .all(|s| chars.next().is_some_and(|c| chars_equal(s, c, insensitive)))
}

/// The character index of the first `needle` in `haystack` at or after character `from`.
pub fn find(haystack: &[char], needle: &[char], from: usize, insensitive: bool) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&at| {
        needle
            .iter()
            .zip(&haystack[at..])
            .all(|(&n, &h)| chars_equal(n, h, insensitive))
    })
}

/// The character index of the last `needle` in `haystack`.
pub fn rfind(haystack: &[char], needle: &[char], insensitive: bool) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len()).rev().find(|&at| {
        needle
            .iter()
            .zip(&haystack[at..])
            .all(|(&n, &h)| chars_equal(n, h, insensitive))
    })
}

/// True when `text` matches the EQL wildcard `pattern` (`*`, `?`; a backslash is itself).
pub fn wildcard_matches(pattern: &str, text: &str, insensitive: bool) -> bool {
    lucene_wildcard_matches(&lucene_wildcard(pattern), text, insensitive)
}

/// The pattern as a Lucene `wildcard` query value: `*` and `?` stay wildcards, a backslash (the
/// query's escape character) is escaped.
pub fn lucene_wildcard(pattern: &str) -> String {
    // Most patterns have no backslash: a byte scan is cheaper than `replace`'s searcher.
    if !pattern.as_bytes().contains(&b'\\') {
        return pattern.to_string();
    }
    pattern.replace('\\', "\\\\")
}

/// Checks that a Lucene regular expression is in the part of the syntax lookout evaluates.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    to_rust_regex(pattern, false).map(|_| ())
}

/// The Lucene regular expression (matching a whole value) in the `regex` crate's syntax,
/// anchored, `.` matching any character, case-insensitive when asked. Lucene's `@` (any string)
/// and `#` (the empty language) are translated; its other optional operators (`~` complement,
/// `&` intersection, `<n-m>` numeric ranges) are refused.
pub fn to_rust_regex(pattern: &str, insensitive: bool) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from(if insensitive { "(?si)^(?:" } else { "(?s)^(?:" });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\\' => {
                let Some(&next) = chars.get(i) else {
                    return Err("a trailing backslash escapes nothing".to_string());
                };
                i += 1;
                match shorthand(next) {
                    Some(class) => out.push_str(class),
                    None => push_literal(&mut out, next),
                }
            }
            '"' => {
                let Some(close) = chars[i..].iter().position(|&q| q == '"') else {
                    return Err("unterminated quoted literal".to_string());
                };
                chars[i..i + close]
                    .iter()
                    .for_each(|&q| push_literal(&mut out, q));
                i += close + 1;
            }
            '[' => i = class(&chars, i, &mut out)?,
            '.' => out.push_str("(?:.)"),
            '@' => out.push_str("(?:.*)"),
            '#' => out.push_str("[^\\x{0}-\\x{10FFFF}]"),
            '~' | '&' | '<' | '>' => {
                return Err(format!("the Lucene operator '{c}' is not supported"));
            }
            '(' | ')' | '|' | '*' | '+' | '?' => out.push(c),
            '{' => i = repetition(&chars, i, &mut out)?,
            _ => push_literal(&mut out, c),
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// Writes a character as a literal in the `regex` crate's syntax.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
}

/// `\d \D \s \S \w \W`, as Lucene defines them (ASCII).
fn shorthand(c: char) -> Option<&'static str> {
    let class = match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => "[ \\t\\n\\r\\x{B}\\x{C}]",
        'S' => "[^ \\t\\n\\r\\x{B}\\x{C}]",
        'w' => "[a-zA-Z0-9_]",
        'W' => "[^a-zA-Z0-9_]",
        _ => return None,
    };
    Some(class)
}

/// The members of a shorthand class inside a bracket expression.
fn shorthand_members(c: char) -> Option<&'static str> {
    match c {
        'd' => Some("0-9"),
        's' => Some(" \\t\\n\\r\\x{B}\\x{C}"),
        'w' => Some("a-zA-Z0-9_"),
        _ => None,
    }
}

/// A bracket expression starting after `[`; returns the index after its `]`.
fn class(chars: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut members = 0;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unterminated character class".to_string());
        };
        i += 1;
        if c == ']' && members > 0 {
            break;
        }
        let first = if c == '\\' {
            let Some(&next) = chars.get(i) else {
                return Err("unterminated character class".to_string());
            };
            i += 1;
            if let Some(set) = shorthand_members(next) {
                out.push_str(set);
                members += 1;
                continue;
            }
            next
        } else {
            c
        };
        push_literal(out, first);
        members += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&e| e != ']') {
            let mut end = chars[i + 1];
            i += 2;
            if end == '\\' {
                end = *chars.get(i).ok_or("unterminated character class")?;
                i += 1;
            }
            if end < first {
                return Err(format!("the range {first}-{end} is out of order"));
            }
            out.push('-');
            push_literal(out, end);
        }
    }
    out.push(']');
    Ok(i)
}

/// `{n}`, `{n,}` or `{n,m}` starting after `{`; returns the index after `}`.
fn repetition(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let close = chars[i..]
        .iter()
        .position(|&c| c == '}')
        .ok_or("unterminated repetition")?;
    let body: String = chars[i..i + close].iter().collect();
    let (low, high) = match body.split_once(',') {
        Some((low, high)) => (low, Some(high)),
        None => (body.as_str(), None),
    };
    let number = |text: &str| text.trim().parse::<u32>().ok().filter(|&n| n <= 1000);
    let low_n = number(low).ok_or_else(|| format!("bad repetition {{{body}}}"))?;
    match high {
        None => out.push_str(&format!("{{{low_n}}}")),
        Some(high) if high.trim().is_empty() => out.push_str(&format!("{{{low_n},}}")),
        Some(high) => {
            let high_n = number(high).ok_or_else(|| format!("bad repetition {{{body}}}"))?;
            if high_n < low_n {
                return Err(format!("bad repetition {{{body}}}"));
            }
            out.push_str(&format!("{{{low_n},{high_n}}}"));
        }
    }
    Ok(i + close + 1)
}
