//! Builds a small set of documents for one KQL query from its own field names and values: some
//! that satisfy it, some that miss it (every condition flipped in turn), and single-condition
//! documents, each value shaped for the type the field gets in the CloudTrail mapping (or from
//! its dynamic templates), so that every document indexes.

use lookout::kql::{Field, Query, RangeOp, Value};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};

/// Assignments tried per polarity (different choices in `or` / `and`).
const SEEDS: u64 = 6;
/// The most single-condition documents per query.
const MAX_SINGLE_LEAF_DOCS: usize = 12;
/// The most documents per query.
pub const MAX_DOCS: usize = 32;
/// Multi-field suffixes: a condition on `x.caseless` is about the value of `x`.
const MULTI_FIELD_SUFFIXES: [&str; 3] = [".caseless", ".text", ".keyword"];
/// A value no corpus condition asks for.
const MISS_TEXT: &str = "zz-unmatched";
/// An IP address outside every range of the corpus (TEST-NET-2).
const MISS_IP: &str = "198.51.100.77";

/// A document: dotted field name -> values (an array when several).
pub type Doc = BTreeMap<String, Vec<Json>>;

/// What a field holds in the test index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Ip,
    Date,
    /// A type these tests do not fill (geo_point, flat_object, ...).
    Other,
}

/// Decides each field's kind: explicit mapping first, then the dynamic templates; fields used in
/// a numeric range are numbers (the test maps them as `double`).
pub struct Typing {
    explicit: BTreeMap<String, String>,
    /// Dynamic templates in order: patterns, whether they match the full path, the JSON type
    /// they take, and the mapping they give.
    dynamic: Vec<(Vec<String>, bool, Option<String>, Json)>,
    pub numeric: BTreeSet<String>,
}

impl Typing {
    /// `mappings`: the CloudTrail `template.mappings`; `query`: whose range fields are numeric.
    pub fn new(mappings: &Json, query: &Query) -> Typing {
        let fields = lookout::kql::FieldMap::from_mappings(mappings);
        let explicit = fields
            .iter()
            .filter_map(|(name, info)| {
                info.types
                    .iter()
                    .next()
                    .map(|t| (name.to_string(), t.clone()))
            })
            .collect();
        let mut dynamic = Vec::new();
        for entry in mappings["dynamic_templates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some((_, template)) = entry.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let by_path = template.get("path_match").is_some();
            let patterns = template.get("path_match").or_else(|| template.get("match"));
            let patterns: Vec<String> = match patterns {
                Some(Json::String(p)) => vec![p.clone()],
                Some(Json::Array(ps)) => ps
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect(),
                _ => vec!["*".to_string()],
            };
            let mapping_type = template["match_mapping_type"].as_str().map(str::to_string);
            dynamic.push((patterns, by_path, mapping_type, template["mapping"].clone()));
        }
        let mut numeric = BTreeSet::new();
        collect_numeric_ranges(query, None, &mut numeric);
        Typing {
            explicit,
            dynamic,
            numeric,
        }
    }

    pub fn kind(&self, field: &str) -> Kind {
        if self.numeric.contains(field) {
            return Kind::Number;
        }
        let es_type = self
            .explicit
            .get(field)
            .cloned()
            .or_else(|| self.dynamic_type(field));
        match es_type.as_deref() {
            None
            | Some("keyword" | "wildcard" | "match_only_text" | "text" | "constant_keyword") => {
                Kind::Text
            }
            Some("long" | "integer" | "float" | "double" | "scaled_float" | "short") => {
                Kind::Number
            }
            Some("ip") => Kind::Ip,
            Some("date" | "date_nanos") => Kind::Date,
            Some(_) => Kind::Other,
        }
    }

    /// The type the first dynamic template that takes a string at `field` gives it.
    fn dynamic_type(&self, field: &str) -> Option<String> {
        self.dynamic_mapping(field)
            .and_then(|m| m["type"].as_str().map(str::to_string))
    }

    /// The mapping the first dynamic template that takes a string at `field` gives it.
    fn dynamic_mapping(&self, field: &str) -> Option<Json> {
        let last = field.rsplit('.').next().unwrap_or(field);
        self.dynamic
            .iter()
            .find_map(|(patterns, by_path, mapping_type, mapping)| {
                let subject = if *by_path { field } else { last };
                let takes_strings = mapping_type.as_deref().is_none_or(|t| t == "string");
                let matches = patterns.iter().any(|p| simple_glob(p, subject));
                (takes_strings && matches).then(|| mapping.clone())
            })
    }

    /// The explicit mapping a document field needs in the test index (servers differ in the
    /// dynamic templates they apply, so the test does not rely on them): `double` for numeric
    /// fields, else what the dynamic templates would give; `None` when the mapping has it.
    pub fn mapping_for(&self, field: &str) -> Option<Json> {
        if self.numeric.contains(field) {
            return Some(json!({"type": "double"}));
        }
        if self.explicit.contains_key(field) {
            return None;
        }
        self.dynamic_mapping(field)
    }
}

/// `*` matches any run of characters.
fn simple_glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<String> = pattern.split('*').map(str::to_string).collect();
    lookout::kql::glob_matches(&parts, text)
}

fn collect_numeric_ranges(query: &Query, nested: Option<&str>, out: &mut BTreeSet<String>) {
    match query {
        Query::Or(children) | Query::And(children) => children
            .iter()
            .for_each(|c| collect_numeric_ranges(c, nested, out)),
        Query::Not(child) => collect_numeric_ranges(child, nested, out),
        Query::Nested { path, query } => {
            let full = doc_field(path, nested);
            collect_numeric_ranges(query, Some(&full), out)
        }
        Query::Range { field, value, .. } if number(value).is_some() => {
            out.insert(doc_field(field, nested));
        }
        _ => {}
    }
}

/// The document field a query field stands for: inside its nested path, patterns instantiated
/// with `x`, multi-field suffixes dropped.
pub fn doc_field(field: &Field, nested: Option<&str>) -> String {
    let name = match field {
        Field::Name(name) => name.clone(),
        Field::Pattern(parts) => parts.join("x"),
    };
    let name = MULTI_FIELD_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).map(str::to_string))
        .unwrap_or(name);
    match nested {
        Some(path) => format!("{path}.{name}"),
        None => name,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Text(t) | Value::Phrase(t) => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// A small deterministic random sequence (xorshift), so runs are repeatable.
struct Choices(u64);

impl Choices {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

struct Builder<'a> {
    typing: &'a Typing,
    choices: Choices,
    now: String,
}

impl Builder<'_> {
    /// Adds to `doc` what makes `query` come out `want`.
    fn assign(&mut self, query: &Query, want: bool, nested: Option<&str>, doc: &mut Doc) {
        match query {
            Query::MatchAll => {}
            Query::And(children) | Query::Or(children) => {
                let is_and = matches!(query, Query::And(_));
                if is_and == want {
                    // and -> true, or -> false: every child the same way.
                    children
                        .iter()
                        .for_each(|c| self.assign(c, want, nested, doc));
                    return;
                }
                // and -> false: one child false, the others true; or -> true: one child true.
                let chosen = self.choices.pick(children.len());
                for (i, child) in children.iter().enumerate() {
                    if i == chosen {
                        self.assign(child, want, nested, doc);
                    } else if is_and {
                        self.assign(child, true, nested, doc);
                    }
                }
            }
            Query::Not(child) => self.assign(child, !want, nested, doc),
            Query::Nested { path, query } => {
                let full = doc_field(path, nested);
                self.assign(query, want, Some(&full), doc)
            }
            Query::Is { field: None, .. } => {}
            Query::Is {
                field: Some(field),
                value,
            } => {
                let name = doc_field(field, nested);
                if let Some(v) = self.is_value(&name, value, want) {
                    doc.entry(name).or_default().push(v);
                }
            }
            Query::Range { field, op, value } => {
                let name = doc_field(field, nested);
                if let Some(v) = self.range_value(&name, *op, value, want) {
                    doc.entry(name).or_default().push(v);
                }
            }
        }
    }

    fn is_value(&self, field: &str, value: &Value, want: bool) -> Option<Json> {
        let kind = self.typing.kind(field);
        if value.is_lone_wildcard() {
            return want.then(|| present(kind)).flatten();
        }
        if !want {
            return miss(kind);
        }
        match (kind, value) {
            (_, Value::Null) | (Kind::Other, _) => None,
            (Kind::Number, _) => number(value).map(|n| json!(n)),
            (Kind::Ip, Value::Text(t) | Value::Phrase(t)) => ip_inside(t),
            (Kind::Date | Kind::Text, Value::Text(t) | Value::Phrase(t)) => Some(json!(t)),
            (Kind::Text, Value::Bool(b)) => Some(json!(b.to_string())),
            (Kind::Text, Value::Wildcard(parts)) => Some(json!(parts.concat())),
            _ => None,
        }
    }

    fn range_value(&self, field: &str, op: RangeOp, value: &Value, want: bool) -> Option<Json> {
        let inclusive = matches!(op, RangeOp::Gte | RangeOp::Lte);
        let upward = matches!(op, RangeOp::Gt | RangeOp::Gte) == want;
        match self.typing.kind(field) {
            Kind::Number => {
                let bound = number(value)?;
                let on_bound = inclusive == want;
                let step = if on_bound {
                    0.0
                } else if upward {
                    1.0
                } else {
                    -1.0
                };
                Some(json!(bound + step))
            }
            Kind::Date => Some(json!(if upward {
                self.now.as_str()
            } else {
                "2000-01-01T00:00:00Z"
            })),
            _ => None,
        }
    }
}

/// A value that makes `field: *` true.
fn present(kind: Kind) -> Option<Json> {
    match kind {
        Kind::Text => Some(json!("present")),
        Kind::Number => Some(json!(7)),
        Kind::Ip => Some(json!("192.0.2.1")),
        Kind::Date => Some(json!("2001-02-03T04:05:06Z")),
        Kind::Other => None,
    }
}

/// A value that no condition of the corpus asks for.
fn miss(kind: Kind) -> Option<Json> {
    match kind {
        Kind::Text => Some(json!(MISS_TEXT)),
        Kind::Number => Some(json!(-987654)),
        Kind::Ip => Some(json!(MISS_IP)),
        Kind::Date | Kind::Other => None,
    }
}

/// An address inside an IP or CIDR value (its network address).
fn ip_inside(text: &str) -> Option<Json> {
    let address = text.split('/').next().unwrap_or(text);
    address
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| json!(ip.to_string()))
}

/// Every condition of the query (for single-condition documents).
fn leaves<'q>(
    query: &'q Query,
    nested: Option<String>,
    out: &mut Vec<(&'q Query, Option<String>)>,
) {
    match query {
        Query::Or(children) | Query::And(children) => {
            children.iter().for_each(|c| leaves(c, nested.clone(), out))
        }
        Query::Not(child) => leaves(child, nested, out),
        Query::Nested { path, query } => {
            leaves(query, Some(doc_field(path, nested.as_deref())), out)
        }
        Query::MatchAll => {}
        leaf => out.push((leaf, nested)),
    }
}

/// The documents for one query: satisfying and missing assignments under several choices,
/// single-condition documents, and an empty one; duplicates removed.
pub fn documents(query: &Query, typing: &Typing, now: &str) -> Vec<Doc> {
    let mut docs: Vec<Doc> = vec![Doc::new()];
    for seed in 0..SEEDS {
        for want in [true, false] {
            let mut builder = Builder {
                typing,
                choices: Choices(0x9E37_79B9_7F4A_7C15 ^ (seed * 2 + want as u64 + 1)),
                now: now.to_string(),
            };
            let mut doc = Doc::new();
            builder.assign(query, want, None, &mut doc);
            docs.push(doc);
        }
    }
    let mut all = Vec::new();
    leaves(query, None, &mut all);
    for (leaf, nested) in all.into_iter().take(MAX_SINGLE_LEAF_DOCS) {
        let mut builder = Builder {
            typing,
            choices: Choices(7),
            now: now.to_string(),
        };
        let mut doc = Doc::new();
        builder.assign(leaf, true, nested.as_deref(), &mut doc);
        docs.push(doc);
    }
    let mut unique = Vec::new();
    for doc in docs {
        if !unique.contains(&doc) {
            unique.push(doc);
        }
    }
    unique.truncate(MAX_DOCS);
    unique
}

/// The document as JSON objects (dotted names split), one value unwrapped from its array.
pub fn to_json(doc: &Doc) -> Json {
    let mut root = Map::new();
    for (name, values) in doc {
        let value = if values.len() == 1 {
            values[0].clone()
        } else {
            Json::Array(values.clone())
        };
        insert_path(&mut root, name, value);
    }
    Json::Object(root)
}

fn insert_path(root: &mut Map<String, Json>, name: &str, value: Json) {
    match name.split_once('.') {
        None => {
            root.insert(name.to_string(), value);
        }
        Some((head, rest)) => {
            let child = root.entry(head.to_string()).or_insert_with(|| json!({}));
            if !child.is_object() {
                // A value and an object at the same name: keep the value (the object's field is
                // then absent from this document).
                return;
            }
            insert_path(child.as_object_mut().expect("checked object"), rest, value);
        }
    }
}

/// Adds `{"type": es_type}` at a dotted path of a `properties` tree unless something is there.
pub fn add_mapping(properties: &mut Json, path: &str, mapping: Json) {
    let mut node = properties;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.entry(part.to_string()).or_insert(mapping);
            return;
        }
        let child = map
            .entry(part.to_string())
            .or_insert_with(|| json!({"properties": {}}));
        if child
            .get("type")
            .is_some_and(|t| t != "object" && t != "nested")
        {
            return;
        }
        node = child
            .as_object_mut()
            .expect("a mapping is an object")
            .entry("properties")
            .or_insert_with(|| json!({}));
    }
}

/// The nested paths of a query (each gets a `nested` mapping in the test index).
pub fn nested_paths(query: &Query, nested: Option<&str>, out: &mut Vec<String>) {
    match query {
        Query::Or(children) | Query::And(children) => {
            children.iter().for_each(|c| nested_paths(c, nested, out))
        }
        Query::Not(child) => nested_paths(child, nested, out),
        Query::Nested { path, query } => {
            let full = doc_field(path, nested);
            out.push(full.clone());
            nested_paths(query, Some(&full), out);
        }
        _ => {}
    }
}

/// Changes every field of type `from` in a `properties` tree to `to`.
pub fn replace_type(properties: &mut Json, from: &str, to: &str) {
    let Some(map) = properties.as_object_mut() else {
        return;
    };
    for mapping in map.values_mut() {
        if mapping.get("type").and_then(Json::as_str) == Some(from) {
            *mapping = json!({"type": to});
        }
        if let Some(children) = mapping.get_mut("properties") {
            replace_type(children, from, to);
        }
    }
}
