//! The query DSL a stage becomes: a closed tree of the Elasticsearch queries the translation
//! builds, serialized (serde, written by hand) to the JSON Elasticsearch reads. Building the tree
//! costs a few small allocations; the JSON is written only when a request is sent.

use super::ast::CompareOp;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// A query of the Elasticsearch query DSL.
#[derive(Debug, Clone, PartialEq)]
pub enum Dsl {
    /// `{"match_all": {}}`.
    MatchAll,
    /// `{"bool": {"must_not": [{"match_all": {}}]}}`: nothing.
    MatchNone,
    /// `{"bool": {"filter": [...]}}`.
    Filter(Vec<Dsl>),
    /// `{"bool": {"should": [...], "minimum_should_match": 1}}`.
    Should(Vec<Dsl>),
    /// `{"bool": {"must_not": [query]}}`.
    MustNot(Box<Dsl>),
    /// `{"exists": {"field": field}}`.
    Exists(String),
    /// `{"term": {field: {"value": value[, "case_insensitive": true]}}}`.
    Term {
        field: String,
        value: Scalar,
        case_insensitive: bool,
    },
    /// `{"terms": {field: [values]}}`.
    Terms { field: String, values: Vec<Scalar> },
    /// `{"range": {field: {"gt"|"gte"|"lt"|"lte": value}}}`.
    Range {
        field: String,
        op: CompareOp,
        value: Scalar,
    },
    /// `{"wildcard"|"prefix"|"regexp": {field: {"value": value[, "case_insensitive": true]}}}`.
    Text {
        kind: TextQuery,
        field: String,
        value: String,
        case_insensitive: bool,
    },
}

/// The string queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextQuery {
    Wildcard,
    Prefix,
    Regexp,
}

/// A value in a `term`, `terms` or `range` query.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Dsl {
    /// The query as a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a DSL tree always serializes")
    }
}

impl fmt::Display for Dsl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl TextQuery {
    fn name(self) -> &'static str {
        match self {
            TextQuery::Wildcard => "wildcard",
            TextQuery::Prefix => "prefix",
            TextQuery::Regexp => "regexp",
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

/// `{"value": value[, "case_insensitive": true]}`.
struct ValueBody<'v, V: ?Sized>(&'v V, bool);

impl<V: Serialize + ?Sized> Serialize for ValueBody<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + usize::from(self.1)))?;
        map.serialize_entry("value", self.0)?;
        if self.1 {
            map.serialize_entry("case_insensitive", &true)?;
        }
        map.end()
    }
}

/// `[query]`: a list of one.
struct One<'q>(&'q Dsl);

impl Serialize for One<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(1))?;
        seq.serialize_element(self.0)?;
        seq.end()
    }
}

/// `{"should": [...], "minimum_should_match": 1}`.
struct ShouldBody<'q>(&'q [Dsl]);

impl Serialize for ShouldBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("should", self.0)?;
        map.serialize_entry("minimum_should_match", &1u32)?;
        map.end()
    }
}

struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

fn range_key(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Lt => "lt",
        CompareOp::Lte => "lte",
        CompareOp::Gt => "gt",
        _ => "gte",
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Str(s) => serializer.serialize_str(s),
            Scalar::Int(i) => serializer.serialize_i64(*i),
            Scalar::Float(x) => serializer.serialize_f64(*x),
            Scalar::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

impl Serialize for Dsl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Dsl::MatchAll => Entry("match_all", &Empty).serialize(serializer),
            Dsl::MatchNone => {
                let all = Dsl::MatchAll;
                Entry("bool", &Entry("must_not", &One(&all))).serialize(serializer)
            }
            Dsl::Filter(queries) => Entry("bool", &Entry("filter", queries)).serialize(serializer),
            Dsl::Should(queries) => Entry("bool", &ShouldBody(queries)).serialize(serializer),
            Dsl::MustNot(query) => {
                Entry("bool", &Entry("must_not", &One(query))).serialize(serializer)
            }
            Dsl::Exists(field) => Entry("exists", &Entry("field", field)).serialize(serializer),
            Dsl::Term {
                field,
                value,
                case_insensitive,
            } => Entry("term", &Entry(field, &ValueBody(value, *case_insensitive)))
                .serialize(serializer),
            Dsl::Terms { field, values } => {
                Entry("terms", &Entry(field, values)).serialize(serializer)
            }
            Dsl::Range { field, op, value } => {
                Entry("range", &Entry(field, &Entry(range_key(*op), value))).serialize(serializer)
            }
            Dsl::Text {
                kind,
                field,
                value,
                case_insensitive,
            } => Entry(
                kind.name(),
                &Entry(field, &ValueBody(value.as_str(), *case_insensitive)),
            )
            .serialize(serializer),
        }
    }
}
