//! Translation of a parsed KQL query into the query DSL tree, shaped as Kibana's detection
//! engine builds it (`and` -> `bool.filter`, `or` -> `bool.should` + `minimum_should_match: 1`,
//! `not` -> `bool.must_not`, every field condition wrapped in its own `bool.should`), with the
//! field types of the searched indices when known. Also the `query_string` of Lucene rules.
//! [`to_dsl`] and [`lucene_to_dsl`] give the same as JSON values.

use super::ast::{Field, Query, RangeOp, Value};
use super::dsl::{Bound, DATE_TIME_ZONE, Dsl, MultiMatchKind, QueryString, Scalar};
use super::fields::{FieldInfo, FieldMap};
use serde_json::Value as Json;
use std::borrow::Cow;

/// Characters that `query_string` treats as syntax; Kibana escapes them in wildcard values
/// (`*` is escaped too, between the wildcards).
const QUERY_STRING_RESERVED: &[char] = &[
    '+', '-', '=', '&', '|', '>', '<', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?',
    ':', '\\', '/',
];

/// Translates a query into the query DSL. With `fields` (the mapped fields of the indices
/// searched), keyword fields get `term` / `wildcard`, date fields a `range`, field-name
/// wildcards expand to the matching fields; without, every field is treated as unknown
/// (`match`, `match_phrase`, `query_string`, `exists`).
pub fn translate<'a>(query: &'a Query, fields: Option<&'a FieldMap>) -> Dsl<'a> {
    Translator { fields }.query(query, None)
}

/// [`translate`], as a JSON value.
pub fn to_dsl(query: &Query, fields: Option<&FieldMap>) -> Json {
    to_json(&translate(query, fields))
}

/// The query of a Lucene rule, decorated as Kibana decorates it (`analyze_wildcard`, the
/// detection engine's time zone); empty text matches everything.
pub fn lucene(text: &str) -> Dsl<'_> {
    if text.trim().is_empty() {
        return Dsl::MatchAll;
    }
    Dsl::QueryString(QueryString {
        field: None,
        query: Cow::Borrowed(text),
        analyze_wildcard: Some(true),
        time_zone: Some(DATE_TIME_ZONE),
    })
}

/// [`lucene`], as a JSON value.
pub fn lucene_to_dsl(text: &str) -> Json {
    to_json(&lucene(text))
}

fn to_json(dsl: &Dsl) -> Json {
    serde_json::to_value(dsl).expect("the DSL serializes: its object keys are all strings")
}

/// Escapes a wildcard value for `query_string` and `wildcard` queries: each literal piece gets
/// backslashes before reserved characters, and the pieces are joined by `*`.
pub fn query_string_escape(parts: &[String]) -> String {
    let length = parts.iter().map(String::len).sum::<usize>() + parts.len();
    let mut out = String::with_capacity(length);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('*');
        }
        for c in part.chars() {
            if QUERY_STRING_RESERVED.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The scalar a value stands for in `match`, `term` and `range` queries.
fn scalar(value: &Value) -> Scalar<'_> {
    match value {
        Value::Phrase(text) | Value::Text(text) => Scalar::String(Cow::Borrowed(text)),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Null => Scalar::Null,
        Value::Wildcard(parts) => Scalar::String(Cow::Owned(parts.join("*"))),
    }
}

/// A field the condition applies to: its name and what the map knows about it.
struct Target<'a> {
    name: Cow<'a, str>,
    info: Option<&'a FieldInfo>,
}

impl Target<'_> {
    fn is_keyword_only(&self) -> bool {
        self.info.is_some_and(FieldInfo::is_keyword_only)
    }

    fn is_date(&self) -> bool {
        self.info.is_some_and(FieldInfo::is_date)
    }
}

/// The fields one condition applies to: usually one, so without a list.
enum Targets<'a> {
    One(Target<'a>),
    Many(Vec<Target<'a>>),
}

struct Translator<'a> {
    fields: Option<&'a FieldMap>,
}

impl<'a> Translator<'a> {
    fn query(&self, query: &'a Query, nested: Option<&str>) -> Dsl<'a> {
        match query {
            Query::MatchAll => Dsl::MatchAll,
            Query::Or(children) => Dsl::Should(self.children(children, nested)),
            Query::And(children) => Dsl::Filter(self.children(children, nested)),
            Query::Not(child) => Dsl::MustNot(Box::new(self.query(child, nested))),
            Query::Nested { path, query } => self.nested(path, query, nested),
            Query::Is { field, value } => self.is(field.as_ref(), value, nested),
            Query::Range { field, op, value } => {
                let leaf = |target: &Target<'a>| range_leaf(target, *op, value);
                self.conditions(field, nested, leaf)
            }
        }
    }

    fn children(&self, children: &'a [Query], nested: Option<&str>) -> Vec<Dsl<'a>> {
        children.iter().map(|c| self.query(c, nested)).collect()
    }

    fn nested(&self, path: &'a Field, query: &'a Query, nested: Option<&str>) -> Dsl<'a> {
        let path = raw_name(prefixed(path, nested));
        let inner = self.query(query, Some(path.as_ref()));
        Dsl::Nested {
            path,
            query: Box::new(inner),
        }
    }

    fn is(&self, field: Option<&'a Field>, value: &'a Value, nested: Option<&str>) -> Dsl<'a> {
        let Some(field) = field else {
            return free_text(value);
        };
        if field.is_lone_wildcard() && value.is_lone_wildcard() {
            return Dsl::MatchAll;
        }
        self.conditions(field, nested, |target| is_leaf(target, value))
    }

    /// One condition per field the name or pattern stands for, at least one of which must
    /// match.
    fn conditions(
        &self,
        field: &'a Field,
        nested: Option<&str>,
        leaf: impl Fn(&Target<'a>) -> Dsl<'a>,
    ) -> Dsl<'a> {
        let wrap = |target: &Target<'a>| wrap_nested(leaf(target), target, field, nested);
        let queries = match self.targets(field, nested) {
            Targets::One(target) => vec![wrap(&target)],
            Targets::Many(targets) => targets.iter().map(wrap).collect(),
        };
        Dsl::Should(queries)
    }

    /// The mapped fields a field name or pattern stands for; when none is known, the name as
    /// written (Kibana keeps it, so the query selects nothing where the field is absent).
    fn targets(&self, field: &'a Field, nested: Option<&str>) -> Targets<'a> {
        let full = prefixed(field, nested);
        match (self.fields, full.as_ref()) {
            (Some(map), Field::Name(name)) => {
                if let Some((name, info)) = map.get_key_value(name) {
                    return Targets::One(Target {
                        name: Cow::Borrowed(name),
                        info: Some(info),
                    });
                }
            }
            (Some(map), Field::Pattern(parts)) => {
                let found: Vec<Target<'a>> = map
                    .iter_prefixed(parts.first().map_or("", String::as_str))
                    .filter(|(name, _)| glob_matches(parts, name))
                    .map(|(name, info)| Target {
                        name: Cow::Borrowed(name),
                        info: Some(info),
                    })
                    .collect();
                if !found.is_empty() {
                    return Targets::Many(found);
                }
            }
            (None, _) => {}
        }
        Targets::One(Target {
            name: raw_name(full),
            info: None,
        })
    }
}

/// The field name inside a nested query: `path.name`.
fn prefixed<'f>(field: &'f Field, nested: Option<&str>) -> Cow<'f, Field> {
    let Some(path) = nested else {
        return Cow::Borrowed(field);
    };
    Cow::Owned(match field {
        Field::Name(name) => Field::Name(format!("{path}.{name}")),
        Field::Pattern(parts) => {
            let mut parts = parts.clone();
            parts[0] = format!("{path}.{}", parts[0]);
            Field::Pattern(parts)
        }
    })
}

/// The name with wildcards written as `*` (how Kibana sends an unmatched name), borrowed when
/// it can be.
fn raw_name(field: Cow<'_, Field>) -> Cow<'_, str> {
    match field {
        Cow::Borrowed(Field::Name(name)) => Cow::Borrowed(name),
        Cow::Owned(Field::Name(name)) => Cow::Owned(name),
        Cow::Borrowed(pattern) => Cow::Owned(pattern.raw_name()),
        Cow::Owned(pattern) => Cow::Owned(pattern.raw_name()),
    }
}

/// A query on no field: `query_string` for wildcards, else `multi_match` over all fields.
fn free_text(value: &Value) -> Dsl<'_> {
    if let Value::Wildcard(parts) = value {
        return Dsl::QueryString(QueryString {
            field: None,
            query: Cow::Owned(query_string_escape(parts)),
            analyze_wildcard: None,
            time_zone: None,
        });
    }
    let kind = if value.is_quoted() {
        MultiMatchKind::Phrase
    } else {
        MultiMatchKind::BestFields
    };
    Dsl::MultiMatch {
        kind,
        query: scalar(value),
        lenient: true,
    }
}

/// One field's condition of `field: value`.
fn is_leaf<'a>(target: &Target<'a>, value: &'a Value) -> Dsl<'a> {
    let field = target.name.clone();
    if value.is_lone_wildcard() {
        return Dsl::Exists { field };
    }
    if let Value::Wildcard(parts) = value {
        let pattern = Cow::Owned(query_string_escape(parts));
        if target.is_keyword_only() {
            return Dsl::Wildcard {
                field,
                value: pattern,
            };
        }
        return Dsl::QueryString(QueryString {
            field: Some(field),
            query: pattern,
            analyze_wildcard: None,
            time_zone: None,
        });
    }
    let exact = scalar(value);
    if target.is_date() {
        let time_zone = time_zone_of(&exact);
        let lower = Bound {
            value: exact.clone(),
            inclusive: true,
        };
        let upper = Bound {
            value: exact,
            inclusive: true,
        };
        return Dsl::Range {
            field,
            lower: Some(lower),
            upper: Some(upper),
            time_zone,
        };
    }
    if target.is_keyword_only() {
        return Dsl::Term {
            field,
            value: exact,
        };
    }
    if value.is_quoted() {
        Dsl::MatchPhrase {
            field,
            query: exact,
        }
    } else {
        Dsl::Match {
            field,
            query: exact,
        }
    }
}

/// One field's condition of `field < value` (and the other operators).
fn range_leaf<'a>(target: &Target<'a>, op: RangeOp, value: &'a Value) -> Dsl<'a> {
    let bound = scalar(value);
    let time_zone = if target.is_date() {
        time_zone_of(&bound)
    } else {
        None
    };
    let (lower, upper) = Bound::of(op, bound);
    Dsl::Range {
        field: target.name.clone(),
        lower,
        upper,
        time_zone,
    }
}

/// The time zone a date range on `value` gets: none for epoch values (digits only), which are
/// absolute.
fn time_zone_of(value: &Scalar) -> Option<&'static str> {
    let is_epoch = matches!(
        value,
        Scalar::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    );
    (!is_epoch).then_some(DATE_TIME_ZONE)
}

/// Fields reached through a field-name wildcard inside a nested object get their own nested
/// query (Kibana does this only outside an explicit nested group).
fn wrap_nested<'a>(
    query: Dsl<'a>,
    target: &Target<'a>,
    field: &Field,
    nested: Option<&str>,
) -> Dsl<'a> {
    let path = target.info.and_then(|info| info.nested_path.as_deref());
    match (field, path, nested) {
        (Field::Pattern(_), Some(path), None) => Dsl::Nested {
            path: Cow::Borrowed(path),
            query: Box::new(query),
        },
        _ => query,
    }
}

/// True when `name` matches the pattern whose literal pieces are `parts` (`*` between them
/// matches any run of characters, the empty one included).
pub fn glob_matches(parts: &[String], name: &str) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return name == first;
    }
    if !name.starts_with(first.as_str())
        || !name.ends_with(last.as_str())
        || name.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle.as_str()) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}
