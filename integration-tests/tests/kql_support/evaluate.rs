//! Kibana's selection computed without a server, for the conditions that can be decided
//! plainly: exists, exact and wildcard values on keyword-only fields, numbers, and words on text
//! fields when the tokenizer's split is unambiguous. Where Kibana and
//! the reference library are known to differ, the corpus test checks lookout against this.
//! `None` means "cannot tell" (text fields, dates, IP ranges, free text).

use super::docs::Doc;
use lookout::kql::{Field, FieldMap, Query, RangeOp, Value, glob_matches};
use serde_json::Value as Json;

/// Multi-field suffixes whose values are those of the parent field.
const MULTI_FIELD_SUFFIXES: [&str; 3] = [".caseless", ".text", ".keyword"];

/// Three-valued and: false wins, then unknown.
fn all(results: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for result in results {
        match result {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    (!unknown).then_some(true)
}

/// Three-valued or: true wins, then unknown.
fn any(results: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for result in results {
        match result {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    (!unknown).then_some(false)
}

/// Whether Kibana's query selects the document, when that can be told without an analyzer.
pub fn selects(query: &Query, doc: &Doc, fields: &FieldMap, nested: Option<&str>) -> Option<bool> {
    match query {
        Query::MatchAll => Some(true),
        Query::And(children) => all(children.iter().map(|c| selects(c, doc, fields, nested))),
        Query::Or(children) => any(children.iter().map(|c| selects(c, doc, fields, nested))),
        Query::Not(child) => selects(child, doc, fields, nested).map(|b| !b),
        Query::Nested { path, query } => {
            let full = full_name(path, nested).raw_name();
            selects(query, doc, fields, Some(&full))
        }
        Query::Is { field: None, .. } => None,
        Query::Is {
            field: Some(field),
            value,
        } => {
            let full = full_name(field, nested);
            any(targets(&full, fields)
                .into_iter()
                .map(|(name, compare)| is_true(values(doc, &name), value, compare)))
        }
        Query::Range { field, op, value } => {
            let full = full_name(field, nested);
            any(targets(&full, fields).into_iter().map(|(name, compare)| {
                (compare == Compare::Numeric)
                    .then(|| range_true(values(doc, &name), *op, value))
                    .flatten()
            }))
        }
    }
}

fn full_name(field: &Field, nested: Option<&str>) -> Field {
    match (field, nested) {
        (_, None) => field.clone(),
        (Field::Name(name), Some(path)) => Field::Name(format!("{path}.{name}")),
        (Field::Pattern(parts), Some(path)) => {
            let mut parts = parts.clone();
            parts[0] = format!("{path}.{}", parts[0]);
            Field::Pattern(parts)
        }
    }
}

/// How a field compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Whole values, exactly (`keyword` alone).
    Keyword,
    /// Numbers.
    Numeric,
    /// Analyzed words (`text`, `match_only_text`).
    Words,
    /// Anything else: not decided here.
    Unknown,
}

/// The mapped fields a name or pattern reaches, with how each compares.
fn targets(field: &Field, fields: &FieldMap) -> Vec<(String, Compare)> {
    let numeric_types = [
        "long",
        "integer",
        "short",
        "byte",
        "double",
        "float",
        "half_float",
        "scaled_float",
    ];
    fields
        .iter()
        .filter(|(name, _)| match field {
            Field::Name(n) => n == name,
            Field::Pattern(parts) => glob_matches(parts, name),
        })
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, info)| {
            let compare = if info.is_keyword_only() {
                Compare::Keyword
            } else if info
                .types
                .iter()
                .all(|t| numeric_types.contains(&t.as_str()))
            {
                Compare::Numeric
            } else if info
                .types
                .iter()
                .all(|t| t == "text" || t == "match_only_text")
            {
                Compare::Words
            } else {
                Compare::Unknown
            };
            (name.to_string(), compare)
        })
        .collect()
}

/// Characters the standard tokenizer always splits on (besides whitespace); text holding any
/// other punctuation (`.`, `:`, `_`, `'`, which it may keep inside words) is not decided here.
const CLEAR_BREAKS: &str = "-/,;()[]{}\"!?@#$%^&*+=<>|~`";

/// The lowercase words of a text, when the standard tokenizer's split is unambiguous.
fn words(text: &str) -> Option<Vec<String>> {
    let clear = |c: char| c.is_alphanumeric() || c.is_whitespace() || CLEAR_BREAKS.contains(c);
    if !text.chars().all(clear) {
        return None;
    }
    Some(
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect(),
    )
}

/// `match` (any word) or `match_phrase` (the words in a row) on an analyzed field.
fn words_match(values: &[Json], wanted: &str, phrase: bool) -> Option<bool> {
    let wanted = words(wanted)?;
    let mut found = false;
    for value in values {
        let have = words(&as_text(value))?;
        found |= if phrase {
            !wanted.is_empty() && have.windows(wanted.len()).any(|w| w == wanted.as_slice())
        } else {
            wanted.iter().any(|w| have.contains(w))
        };
    }
    Some(found)
}

/// The document's values of a field (a multi-field reads its parent's values).
fn values<'d>(doc: &'d Doc, name: &str) -> &'d [Json] {
    let parent = MULTI_FIELD_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    doc.get(name)
        .or_else(|| doc.get(parent))
        .map_or(&[], Vec::as_slice)
}

fn as_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_true(values: &[Json], value: &Value, compare: Compare) -> Option<bool> {
    if value.is_lone_wildcard() {
        return Some(!values.is_empty());
    }
    match (compare, value) {
        (Compare::Keyword, Value::Wildcard(parts)) => {
            Some(values.iter().any(|v| glob_matches(parts, &as_text(v))))
        }
        (Compare::Keyword, Value::Text(t) | Value::Phrase(t)) => {
            Some(values.iter().any(|v| as_text(v) == *t))
        }
        (Compare::Keyword, Value::Bool(b)) => {
            Some(values.iter().any(|v| as_text(v) == b.to_string()))
        }
        (Compare::Numeric, Value::Text(t) | Value::Phrase(t)) => {
            let wanted: f64 = t.trim().parse().ok()?;
            Some(values.iter().any(|v| v.as_f64() == Some(wanted)))
        }
        (Compare::Words, Value::Text(t)) => words_match(values, t, false),
        (Compare::Words, Value::Phrase(t)) => words_match(values, t, true),
        _ => None,
    }
}

fn range_true(values: &[Json], op: RangeOp, value: &Value) -> Option<bool> {
    let bound: f64 = match value {
        Value::Text(t) | Value::Phrase(t) => t.trim().parse().ok()?,
        _ => return None,
    };
    Some(values.iter().filter_map(Json::as_f64).any(|v| match op {
        RangeOp::Lt => v < bound,
        RangeOp::Lte => v <= bound,
        RangeOp::Gt => v > bound,
        RangeOp::Gte => v >= bound,
    }))
}
