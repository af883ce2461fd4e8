//! TEMPORARY (test-only): the Value-building translation as it was before the typed DSL, kept
//! only to compare the new translation against it during the rewrite.

use super::ast::{Field, Query, RangeOp, Value};
use super::fields::{FieldInfo, FieldMap};
use serde_json::{Map, Value as Json, json};
use std::borrow::Cow;

/// The `time_zone` Kibana's detection engine sets on date ranges (its `dateFormatTZ`).
pub const DATE_TIME_ZONE: &str = "Zulu";

/// Characters that `query_string` treats as syntax; Kibana escapes them in wildcard values
/// (`*` is escaped too, between the wildcards).
const QUERY_STRING_RESERVED: &[char] = &[
    '+', '-', '=', '&', '|', '>', '<', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?',
    ':', '\\', '/',
];

/// Translates a query into query DSL. With `fields` (the mapped fields of the indices searched),
/// keyword fields get `term` / `wildcard`, date fields a `range`, field-name wildcards expand to
/// the matching fields; without, every field is treated as unknown (`match`, `match_phrase`,
/// `query_string`, `exists`).
pub fn to_dsl(query: &Query, fields: Option<&FieldMap>) -> Json {
    Translator { fields }.query(query, None)
}

/// The query of a Lucene rule, decorated as Kibana decorates it (`analyze_wildcard`, the
/// detection engine's time zone); empty text matches everything.
pub fn lucene_to_dsl(text: &str) -> Json {
    if text.trim().is_empty() {
        return json!({"match_all": {}});
    }
    json!({"query_string": {"query": text, "analyze_wildcard": true, "time_zone": DATE_TIME_ZONE}})
}

/// Escapes a wildcard value for `query_string` and `wildcard` queries: each literal piece gets
/// backslashes before reserved characters, and the pieces are joined by `*`.
pub fn query_string_escape(parts: &[String]) -> String {
    let mut out = String::new();
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

/// The JSON a value stands for in `match`, `term` and `range` queries.
fn value_json(value: &Value) -> Json {
    match value {
        Value::Phrase(text) | Value::Text(text) => Json::String(text.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Wildcard(parts) => Json::String(parts.join("*")),
    }
}

/// An object of the given entries, in order. The values are moved in: `json!` would copy
/// every interpolated value (through serde), which made translation quadratic in depth.
fn object<const N: usize>(entries: [(&str, Json); N]) -> Json {
    let mut map = Map::with_capacity(N);
    for (key, value) in entries {
        map.insert(key.to_string(), value);
    }
    Json::Object(map)
}

/// `{"match_all": {}}`.
fn match_all() -> Json {
    object([("match_all", Json::Object(Map::new()))])
}

/// `{"bool": {"should": [...], "minimum_should_match": 1}}`.
fn should(queries: Vec<Json>) -> Json {
    let clauses = [
        ("should", Json::Array(queries)),
        ("minimum_should_match", Json::from(1)),
    ];
    object([("bool", object(clauses))])
}

/// `{key: {name: inner}}` with the field name as a key.
fn keyed(key: &str, name: &str, inner: Json) -> Json {
    object([(key, object([(name, inner)]))])
}

/// `{"nested": {"path": path, "query": query, "score_mode": "none"}}`.
fn nested_query(path: &str, query: Json) -> Json {
    let body = [
        ("path", Json::from(path)),
        ("query", query),
        ("score_mode", Json::from("none")),
    ];
    object([("nested", object(body))])
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

struct Translator<'a> {
    fields: Option<&'a FieldMap>,
}

impl<'a> Translator<'a> {
    fn query(&self, query: &Query, nested: Option<&str>) -> Json {
        match query {
            Query::MatchAll => match_all(),
            Query::Or(children) => should(self.children(children, nested)),
            Query::And(children) => {
                let filter = Json::Array(self.children(children, nested));
                object([("bool", object([("filter", filter)]))])
            }
            Query::Not(child) => {
                let must_not = self.query(child, nested);
                object([("bool", object([("must_not", must_not)]))])
            }
            Query::Nested { path, query } => self.nested(path, query, nested),
            Query::Is { field, value } => self.is(field.as_ref(), value, nested),
            Query::Range { field, op, value } => self.range(field, *op, value, nested),
        }
    }

    fn children(&self, children: &[Query], nested: Option<&str>) -> Vec<Json> {
        children.iter().map(|c| self.query(c, nested)).collect()
    }

    fn nested(&self, path: &Field, query: &Query, nested: Option<&str>) -> Json {
        let path = prefixed(path, nested).raw_name();
        let inner = self.query(query, Some(&path));
        nested_query(&path, inner)
    }

    fn is(&self, field: Option<&Field>, value: &Value, nested: Option<&str>) -> Json {
        let Some(field) = field else {
            return free_text(value);
        };
        if field.is_lone_wildcard() && value.is_lone_wildcard() {
            return match_all();
        }
        let full = prefixed(field, nested);
        let queries = self
            .targets(&full)
            .as_slice()
            .iter()
            .map(|target| wrap_nested(is_leaf(target, value), target, &full, nested))
            .collect();
        should(queries)
    }

    fn range(&self, field: &Field, op: RangeOp, value: &Value, nested: Option<&str>) -> Json {
        let full = prefixed(field, nested);
        let queries = self
            .targets(&full)
            .as_slice()
            .iter()
            .map(|target| wrap_nested(range_leaf(target, op, value), target, &full, nested))
            .collect();
        should(queries)
    }

    /// The mapped fields a field name or pattern stands for; when none is known, the name as
    /// written (Kibana keeps it, so the query selects nothing where the field is absent).
    fn targets<'f>(&self, field: &'f Field) -> Targets<'f>
    where
        'a: 'f,
    {
        let unknown = || {
            let name = match field {
                Field::Name(name) => Cow::Borrowed(name.as_str()),
                Field::Pattern(_) => Cow::Owned(field.raw_name()),
            };
            Targets::One(Target { name, info: None })
        };
        match (self.fields, field) {
            (None, _) => unknown(),
            (Some(map), Field::Name(name)) => match map.get(name) {
                Some(info) => Targets::One(Target {
                    name: Cow::Borrowed(name.as_str()),
                    info: Some(info),
                }),
                None => unknown(),
            },
            (Some(map), Field::Pattern(parts)) => {
                let found: Vec<Target<'f>> = map
                    .iter_prefixed(parts.first().map_or("", String::as_str))
                    .filter(|(name, _)| glob_matches(parts, name))
                    .map(|(name, info)| Target {
                        name: Cow::Borrowed(name),
                        info: Some(info),
                    })
                    .collect();
                if found.is_empty() {
                    unknown()
                } else {
                    Targets::Many(found)
                }
            }
        }
    }
}

/// The fields one condition applies to: usually one, so without a list.
enum Targets<'a> {
    One(Target<'a>),
    Many(Vec<Target<'a>>),
}

impl<'a> Targets<'a> {
    fn as_slice(&self) -> &[Target<'a>] {
        match self {
            Targets::One(target) => std::slice::from_ref(target),
            Targets::Many(targets) => targets,
        }
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

/// A query on no field: `query_string` for wildcards, else `multi_match` over all fields.
fn free_text(value: &Value) -> Json {
    if let Value::Wildcard(parts) = value {
        let pattern = Json::String(query_string_escape(parts));
        return object([("query_string", object([("query", pattern)]))]);
    }
    let kind = if value.is_quoted() {
        "phrase"
    } else {
        "best_fields"
    };
    let body = [
        ("type", Json::from(kind)),
        ("query", value_json(value)),
        ("lenient", Json::Bool(true)),
    ];
    object([("multi_match", object(body))])
}

/// One field's condition of `field: value`.
fn is_leaf(target: &Target, value: &Value) -> Json {
    let name = target.name.as_ref();
    if value.is_lone_wildcard() {
        return object([("exists", object([("field", Json::from(name))]))]);
    }
    if let Value::Wildcard(parts) = value {
        let pattern = Json::String(query_string_escape(parts));
        if target.is_keyword_only() {
            return keyed("wildcard", name, object([("value", pattern)]));
        }
        let fields = Json::Array(vec![Json::from(name)]);
        return object([(
            "query_string",
            object([("fields", fields), ("query", pattern)]),
        )]);
    }
    let exact = value_json(value);
    if target.is_date() {
        let mut bounds = Map::with_capacity(3);
        let zone = time_zone_of(&exact);
        bounds.insert("gte".into(), exact.clone());
        bounds.insert("lte".into(), exact);
        if let Some(zone) = zone {
            bounds.insert("time_zone".into(), zone);
        }
        return keyed("range", name, Json::Object(bounds));
    }
    if target.is_keyword_only() {
        return keyed("term", name, object([("value", exact)]));
    }
    let kind = if value.is_quoted() {
        "match_phrase"
    } else {
        "match"
    };
    keyed(kind, name, exact)
}

/// One field's condition of `field < value` (and the other operators).
fn range_leaf(target: &Target, op: RangeOp, value: &Value) -> Json {
    let bound = value_json(value);
    let zone = if target.is_date() {
        time_zone_of(&bound)
    } else {
        None
    };
    let mut params = Map::with_capacity(2);
    params.insert(op.dsl_key().into(), bound);
    if let Some(zone) = zone {
        params.insert("time_zone".into(), zone);
    }
    keyed("range", &target.name, Json::Object(params))
}

/// The time zone a date range on `value` gets: none for epoch values (digits only), which are
/// absolute.
fn time_zone_of(value: &Json) -> Option<Json> {
    let is_epoch = value.is_number()
        || value
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    (!is_epoch).then(|| Json::from(DATE_TIME_ZONE))
}

/// Fields reached through a field-name wildcard inside a nested object get their own nested
/// query (Kibana does this only outside an explicit nested group).
fn wrap_nested(query: Json, target: &Target, field: &Field, nested: Option<&str>) -> Json {
    let path = target.info.and_then(|info| info.nested_path.as_deref());
    match (field, path, nested) {
        (Field::Pattern(_), Some(path), None) => nested_query(path, query),
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
