//! Values as EQL sees them: a document's field read as Elasticsearch indexes it (by the field's
//! mapped type when known, else by the JSON type), constants, and what functions return. Also the
//! reading of a field's values out of a JSON document (nested objects, dotted keys, or both;
//! arrays flattened; `null` entries ignored, as Elasticsearch ignores them).

use crate::kql::FieldMap;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::net::IpAddr;

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// How a field's values are indexed: the mapped type family, or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `keyword`, `constant_keyword`, `wildcard`, or `text` (EQL reads its keyword form).
    Keyword,
    /// Whole-number types (`long`, `integer`, `short`, `byte`, `unsigned_long`).
    Integer,
    /// Floating-point types (`double`, `float`, `half_float`, `scaled_float`).
    Float,
    Boolean,
    Ip,
    Date,
    /// No mapping known (or types that differ across indices): the JSON type decides.
    Unknown,
}

const KEYWORD_TYPES: [&str; 5] = [
    "keyword",
    "constant_keyword",
    "wildcard",
    "text",
    "match_only_text",
];
const INTEGER_TYPES: [&str; 5] = ["long", "integer", "short", "byte", "unsigned_long"];
const FLOAT_TYPES: [&str; 4] = ["double", "float", "half_float", "scaled_float"];

impl FieldType {
    /// The type of a field in the map (unknown when absent or when the indices disagree).
    pub fn of(fields: Option<&FieldMap>, name: &str) -> FieldType {
        let Some(info) = fields.and_then(|map| map.get(name)) else {
            return FieldType::Unknown;
        };
        let all = |set: &[&str]| {
            !info.types.is_empty() && info.types.iter().all(|t| set.contains(&t.as_str()))
        };
        if all(&KEYWORD_TYPES) {
            FieldType::Keyword
        } else if all(&INTEGER_TYPES) {
            FieldType::Integer
        } else if info
            .types
            .iter()
            .all(|t| INTEGER_TYPES.contains(&t.as_str()) || FLOAT_TYPES.contains(&t.as_str()))
        {
            FieldType::Float
        } else if all(&["boolean"]) {
            FieldType::Boolean
        } else if all(&["ip"]) {
            FieldType::Ip
        } else if all(&["date", "date_nanos"]) {
            FieldType::Date
        } else {
            FieldType::Unknown
        }
    }

    /// A JSON scalar as this type indexes it; `None` for what it cannot index.
    pub fn convert(self, json: &Json) -> Option<Value> {
        match self {
            FieldType::Keyword | FieldType::Ip | FieldType::Date => match json {
                Json::String(s) => Some(Value::Str(s.clone())),
                Json::Number(n) if self == FieldType::Date => number(n),
                Json::Number(n) => Some(Value::Str(n.to_string())),
                Json::Bool(b) => Some(Value::Str(b.to_string())),
                _ => None,
            },
            FieldType::Integer => {
                let x = as_f64(json)?;
                // Elasticsearch truncates a fraction when it indexes a whole-number field.
                (x.abs() < 9.2e18).then(|| Value::Int(x.trunc() as i64))
            }
            FieldType::Float => as_f64(json).map(Value::Float),
            FieldType::Boolean => match json {
                Json::Bool(b) => Some(Value::Bool(*b)),
                Json::String(s) if s == "true" => Some(Value::Bool(true)),
                Json::String(s) if s == "false" => Some(Value::Bool(false)),
                _ => None,
            },
            FieldType::Unknown => match json {
                Json::String(s) => Some(Value::Str(s.clone())),
                Json::Number(n) => number(n),
                Json::Bool(b) => Some(Value::Bool(*b)),
                _ => None,
            },
        }
    }
}

fn number(n: &serde_json::Number) -> Option<Value> {
    match n.as_i64() {
        Some(i) => Some(Value::Int(i)),
        None => n.as_f64().map(Value::Float),
    }
}

fn as_f64(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// The JSON scalars of a field in a document: `a.b` is found as `{"a": {"b": ..}}`,
/// `{"a.b": ..}` or any mix; arrays (of scalars or of objects) are flattened; nulls skipped.
pub fn json_values<'d>(doc: &'d Json, name: &str) -> Vec<&'d Json> {
    let mut found = Vec::new();
    collect(doc, name, &mut found);
    found
}

fn collect<'d>(node: &'d Json, path: &str, found: &mut Vec<&'d Json>) {
    match node {
        Json::Array(items) => items.iter().for_each(|item| collect(item, path, found)),
        Json::Object(map) => {
            // Every key that is the path or a dotted prefix of it.
            for (key, child) in map {
                if key == path {
                    leaves(child, found);
                } else if let Some(rest) = path.strip_prefix(key.as_str())
                    && let Some(rest) = rest.strip_prefix('.')
                {
                    collect(child, rest, found);
                }
            }
        }
        _ => {}
    }
}

fn leaves<'d>(node: &'d Json, found: &mut Vec<&'d Json>) {
    match node {
        Json::Array(items) => items.iter().for_each(|item| leaves(item, found)),
        Json::Null | Json::Object(_) => {}
        scalar => found.push(scalar),
    }
}

/// A field's values in a document, as its type indexes them.
pub fn field_values(doc: &Json, name: &str, kind: FieldType) -> Vec<Value> {
    json_values(doc, name)
        .into_iter()
        .filter_map(|json| kind.convert(json))
        .collect()
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The value as text, as `string()` and `concat()` write it (`null` has none).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(x) => Some(float_text(*x)),
            Value::Str(s) => Some(s.clone()),
        }
    }

    /// Compares two values of compatible types (numbers with numbers, strings with strings,
    /// booleans with booleans); `None` otherwise or when either is `null`.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => self.as_f64()?.partial_cmp(&other.as_f64()?),
        }
    }
}

/// A float as Java's `Double.toString` writes ordinary values (`42.5`, `1.0`).
pub fn float_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// An IP address from text (IPv4 or IPv6); IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// True when `ip` is in the CIDR block (`10.0.0.0/8`) or equals the address (no `/`); `None`
/// when the block is not valid.
pub fn in_cidr(ip: IpAddr, block: &str) -> Option<bool> {
    let (address, bits) = match block.split_once('/') {
        Some((address, bits)) => (address, Some(bits.trim().parse::<u32>().ok()?)),
        None => (block, None),
    };
    let base = parse_ip(address)?;
    let (ip_bits, base_bits, width) = match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return Some(false),
    };
    let prefix = bits.unwrap_or(width);
    if prefix > width {
        return None;
    }
    if prefix == 0 {
        return Some(true);
    }
    let shift = width - prefix;
    Some(ip_bits >> shift == base_bits >> shift)
}

/// A date as epoch milliseconds: RFC 3339, `YYYY-MM-DDTHH:MM:SS[.fff]` (UTC), `YYYY-MM-DD`, or
/// a number of milliseconds.
pub fn date_millis(value: &Value) -> Option<i64> {
    match value {
        Value::Int(ms) => Some(*ms),
        Value::Float(ms) => Some(*ms as i64),
        Value::Str(text) => parse_date(text),
        _ => None,
    }
}

fn parse_date(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(at.and_utc().timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
