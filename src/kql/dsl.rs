//! The query DSL a KQL or Lucene query becomes: a closed tree of the Elasticsearch queries the
//! translation builds, and its JSON form. `Serialize` is written by hand so that every query is
//! written with exactly Kibana's keys, in Kibana's order; nothing is built in between (no
//! `serde_json::Value`, no map). No translation here (see the `translate` module).

use super::ast::RangeOp;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Cow;

/// The `time_zone` Kibana's detection engine sets on date ranges (its `dateFormatTZ`).
pub const DATE_TIME_ZONE: &str = "Zulu";

/// A query of the Elasticsearch query DSL, as the translation builds it. Strings are borrowed
/// from the parsed query or the field map where they can be (`'a`), owned where the
/// translation had to build them (escaped patterns, names inside a nested query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dsl<'a> {
    /// `{"match_all": {}}`.
    MatchAll,
    /// `{"bool": {"filter": [...]}}`: every query matches.
    Filter(Vec<Dsl<'a>>),
    /// `{"bool": {"should": [...], "minimum_should_match": 1}}`: at least one query matches.
    Should(Vec<Dsl<'a>>),
    /// `{"bool": {"must_not": query}}`.
    MustNot(Box<Dsl<'a>>),
    /// `{"nested": {"path": path, "query": query, "score_mode": "none"}}`.
    Nested {
        path: Cow<'a, str>,
        query: Box<Dsl<'a>>,
    },
    /// `{"exists": {"field": field}}`.
    Exists { field: Cow<'a, str> },
    /// `{"match": {field: query}}`.
    Match {
        field: Cow<'a, str>,
        query: Scalar<'a>,
    },
    /// `{"match_phrase": {field: query}}`.
    MatchPhrase {
        field: Cow<'a, str>,
        query: Scalar<'a>,
    },
    /// `{"term": {field: {"value": value}}}`.
    Term {
        field: Cow<'a, str>,
        value: Scalar<'a>,
    },
    /// `{"wildcard": {field: {"value": pattern}}}` (the pattern escaped as for `query_string`).
    Wildcard {
        field: Cow<'a, str>,
        value: Cow<'a, str>,
    },
    /// `{"range": {field: {"gt"|"gte": lower, "lt"|"lte": upper, "time_zone": zone}}}`, each
    /// key only when set.
    Range {
        field: Cow<'a, str>,
        lower: Option<Bound<'a>>,
        upper: Option<Bound<'a>>,
        time_zone: Option<&'static str>,
    },
    /// `{"multi_match": {"type": kind, "query": query, "lenient": lenient}}`: all fields.
    MultiMatch {
        kind: MultiMatchKind,
        query: Scalar<'a>,
        lenient: bool,
    },
    /// `{"query_string": {...}}`.
    QueryString(QueryString<'a>),
}

/// A value in `match`, `term` and `range` queries, with its JSON type (KQL keeps numbers as
/// text, so there are no numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar<'a> {
    String(Cow<'a, str>),
    Bool(bool),
    Null,
}

/// One end of a range: its value and whether the value itself is inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound<'a> {
    pub value: Scalar<'a>,
    pub inclusive: bool,
}

/// The `type` of a `multi_match` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiMatchKind {
    /// `best_fields`: the words of the value.
    BestFields,
    /// `phrase`: the value as a phrase.
    Phrase,
}

/// The body of a `query_string` query: `{"fields": [field], "query": query,
/// "analyze_wildcard": .., "time_zone": ..}`, each optional key only when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryString<'a> {
    /// The one field searched; all fields when `None`.
    pub field: Option<Cow<'a, str>>,
    pub query: Cow<'a, str>,
    pub analyze_wildcard: Option<bool>,
    pub time_zone: Option<&'static str>,
}

impl<'a> Bound<'a> {
    /// The bound a range operator sets on `value`.
    pub fn of(op: RangeOp, value: Scalar<'a>) -> (Option<Bound<'a>>, Option<Bound<'a>>) {
        let inclusive = matches!(op, RangeOp::Lte | RangeOp::Gte);
        let bound = Some(Bound { value, inclusive });
        match op {
            RangeOp::Gt | RangeOp::Gte => (bound, None),
            RangeOp::Lt | RangeOp::Lte => (None, bound),
        }
    }
}

impl MultiMatchKind {
    fn as_str(self) -> &'static str {
        match self {
            MultiMatchKind::BestFields => "best_fields",
            MultiMatchKind::Phrase => "phrase",
        }
    }
}

/// A JSON object of one entry.
struct Entry<'k, V: ?Sized>(&'k str, &'k V);

impl<V: Serialize + ?Sized> Serialize for Entry<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// `{}`.
struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

/// `{"should": [...], "minimum_should_match": 1}`.
struct ShouldBody<'q, 'a>(&'q [Dsl<'a>]);

impl Serialize for ShouldBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("should", self.0)?;
        map.serialize_entry("minimum_should_match", &1u32)?;
        map.end()
    }
}

/// `{"path": path, "query": query, "score_mode": "none"}`.
struct NestedBody<'q, 'a>(&'q str, &'q Dsl<'a>);

impl Serialize for NestedBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("path", self.0)?;
        map.serialize_entry("query", self.1)?;
        map.serialize_entry("score_mode", "none")?;
        map.end()
    }
}

/// The parameters of a `range` query: its bounds, then its time zone.
struct RangeBody<'q, 'a> {
    lower: &'q Option<Bound<'a>>,
    upper: &'q Option<Bound<'a>>,
    time_zone: Option<&'static str>,
}

impl Serialize for RangeBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = [
            self.lower.is_some(),
            self.upper.is_some(),
            self.time_zone.is_some(),
        ];
        let mut map = serializer.serialize_map(Some(len.iter().filter(|&&set| set).count()))?;
        if let Some(lower) = self.lower {
            let key = if lower.inclusive { "gte" } else { "gt" };
            map.serialize_entry(key, &lower.value)?;
        }
        if let Some(upper) = self.upper {
            let key = if upper.inclusive { "lte" } else { "lt" };
            map.serialize_entry(key, &upper.value)?;
        }
        if let Some(zone) = self.time_zone {
            map.serialize_entry("time_zone", zone)?;
        }
        map.end()
    }
}

/// `{"type": kind, "query": query, "lenient": lenient}`.
struct MultiMatchBody<'q, 'a>(MultiMatchKind, &'q Scalar<'a>, bool);

impl Serialize for MultiMatchBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("type", self.0.as_str())?;
        map.serialize_entry("query", self.1)?;
        map.serialize_entry("lenient", &self.2)?;
        map.end()
    }
}

impl Serialize for QueryString<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let optional = [
            self.field.is_some(),
            self.analyze_wildcard.is_some(),
            self.time_zone.is_some(),
        ];
        let len = 1 + optional.iter().filter(|&&set| set).count();
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(field) = &self.field {
            map.serialize_entry("fields", &[field])?;
        }
        map.serialize_entry("query", &self.query)?;
        if let Some(analyze) = self.analyze_wildcard {
            map.serialize_entry("analyze_wildcard", &analyze)?;
        }
        if let Some(zone) = self.time_zone {
            map.serialize_entry("time_zone", zone)?;
        }
        map.end()
    }
}

impl Serialize for Scalar<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::String(text) => serializer.serialize_str(text),
            Scalar::Bool(b) => serializer.serialize_bool(*b),
            Scalar::Null => serializer.serialize_unit(),
        }
    }
}

impl Serialize for Dsl<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Dsl::MatchAll => Entry("match_all", &Empty).serialize(serializer),
            Dsl::Filter(queries) => Entry("bool", &Entry("filter", queries)).serialize(serializer),
            Dsl::Should(queries) => Entry("bool", &ShouldBody(queries)).serialize(serializer),
            Dsl::MustNot(query) => Entry("bool", &Entry("must_not", query)).serialize(serializer),
            Dsl::Nested { path, query } => {
                Entry("nested", &NestedBody(path, query)).serialize(serializer)
            }
            Dsl::Exists { field } => Entry("exists", &Entry("field", field)).serialize(serializer),
            Dsl::Match { field, query } => {
                Entry("match", &Entry(field, query)).serialize(serializer)
            }
            Dsl::MatchPhrase { field, query } => {
                Entry("match_phrase", &Entry(field, query)).serialize(serializer)
            }
            Dsl::Term { field, value } => {
                Entry("term", &Entry(field, &Entry("value", value))).serialize(serializer)
            }
            Dsl::Wildcard { field, value } => {
                Entry("wildcard", &Entry(field, &Entry("value", value))).serialize(serializer)
            }
            Dsl::Range {
                field,
                lower,
                upper,
                time_zone,
            } => {
                let body = RangeBody {
                    lower,
                    upper,
                    time_zone: *time_zone,
                };
                Entry("range", &Entry(field, &body)).serialize(serializer)
            }
            Dsl::MultiMatch {
                kind,
                query,
                lenient,
            } => {
                Entry("multi_match", &MultiMatchBody(*kind, query, *lenient)).serialize(serializer)
            }
            Dsl::QueryString(body) => Entry("query_string", body).serialize(serializer),
        }
    }
}
