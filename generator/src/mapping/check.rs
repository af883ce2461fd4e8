//! Checks a document against a mapping: walks the mapping's `properties` (and its
//! `dynamic_templates` for fields it does not name) alongside the document and reports every leaf
//! whose value Elasticsearch would refuse or misread for its mapped type. Pure.

use chrono::DateTime;
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;

/// One leaf of a document that does not fit its mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Every leaf of `doc` whose value does not fit the type `mappings` (an index's `mappings`
/// object: `properties` and optional `dynamic_templates`) gives it. A leaf neither mapped nor
/// matched by a dynamic template is reported as unmapped.
pub fn check_document(doc: &Value, mappings: &Value) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let templates = mappings["dynamic_templates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let checker = Checker { templates };
    if let Some(object) = doc.as_object() {
        checker.walk_object(object, "", mappings["properties"].as_object(), &mut found);
    }
    found
}

struct Checker<'a> {
    templates: &'a [Value],
}

impl Checker<'_> {
    fn walk_object(
        &self,
        object: &Map<String, Value>,
        prefix: &str,
        properties: Option<&Map<String, Value>>,
        found: &mut Vec<Mismatch>,
    ) {
        for (key, value) in object {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let mapping = properties.and_then(|p| p.get(key));
            self.walk_field(value, &path, key, mapping, found);
        }
    }

    fn walk_field(
        &self,
        value: &Value,
        path: &str,
        name: &str,
        mapping: Option<&Value>,
        found: &mut Vec<Mismatch>,
    ) {
        if let Value::Array(items) = value {
            for item in items {
                self.walk_field(item, path, name, mapping, found);
            }
            return;
        }
        let mapped_type = mapping.and_then(|m| m["type"].as_str());
        let is_object_mapping = mapping.is_some_and(|m| m.get("properties").is_some())
            || matches!(mapped_type, Some("object" | "nested"));
        match (value, mapping) {
            (Value::Object(inner), Some(m)) if is_object_mapping => {
                self.walk_object(inner, path, m["properties"].as_object(), found);
            }
            (_, Some(_)) if is_object_mapping => found.push(Mismatch {
                path: path.to_string(),
                problem: format!("mapped as an object but holds {}", json_kind(value)),
            }),
            (_, Some(m)) => check_leaf(value, m, path, found),
            (Value::Object(inner), None) => self.walk_object(inner, path, None, found),
            (_, None) => match self.dynamic_mapping(value, path, name) {
                Some(m) => check_leaf(value, m, path, found),
                None => found.push(Mismatch {
                    path: path.to_string(),
                    problem: "not mapped".to_string(),
                }),
            },
        }
    }

    /// The mapping of the first dynamic template that matches a new field.
    fn dynamic_mapping(&self, value: &Value, path: &str, name: &str) -> Option<&Value> {
        self.templates
            .iter()
            .filter_map(|entry| entry.as_object()?.values().next())
            .find(|template| template_matches(template, value, path, name))
            .map(|template| &template["mapping"])
    }
}

fn template_matches(template: &Value, value: &Value, path: &str, name: &str) -> bool {
    let any = |key: &str, text: &str| match &template[key] {
        Value::String(pattern) => glob(pattern, text),
        Value::Array(patterns) => patterns
            .iter()
            .filter_map(Value::as_str)
            .any(|p| glob(p, text)),
        _ => true,
    };
    let none = |key: &str, text: &str| template.get(key).is_none() || !any(key, text);
    let type_ok = match template["match_mapping_type"].as_str() {
        None | Some("*") => true,
        Some(kind) => kind == dynamic_kind(value),
    };
    type_ok
        && any("match", name)
        && any("path_match", path)
        && none("unmatch", name)
        && none("path_unmatch", path)
}

/// `*`-only wildcard matching, as dynamic templates use it.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

fn dynamic_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "long",
        Value::Object(_) => "object",
        Value::Array(_) | Value::Null => "null",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::Null => "null",
    }
}

fn check_leaf(value: &Value, mapping: &Value, path: &str, found: &mut Vec<Mismatch>) {
    let mapped = mapping["type"].as_str().unwrap_or("object");
    if let Some(problem) = leaf_problem(value, mapped, mapping) {
        found.push(Mismatch {
            path: path.to_string(),
            problem: format!("mapped as {mapped} but {problem}"),
        });
    }
}

/// Why `value` cannot be indexed as `mapped`, if it cannot (Elasticsearch's coercion rules:
/// keywords take strings, numbers and booleans; numbers and booleans must be what they say).
fn leaf_problem(value: &Value, mapped: &str, mapping: &Value) -> Option<String> {
    let scalar = matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let ok = match mapped {
        "keyword" | "wildcard" | "text" | "match_only_text" | "version" => scalar,
        "constant_keyword" => {
            return match (mapping["value"].as_str(), value.as_str()) {
                (Some(expected), Some(actual)) if expected != actual => {
                    Some(format!("holds {actual:?} instead of {expected:?}"))
                }
                (_, None) => Some(format!("holds {}", json_kind(value))),
                _ => None,
            };
        }
        "date" | "date_nanos" => value.as_str().is_some_and(is_date) || value.is_i64(),
        "ip" => value.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => value.is_i64() || value.is_u64(),
        "float" | "double" | "half_float" | "scaled_float" => value.is_number(),
        "boolean" => value.is_boolean() || matches!(value.as_str(), Some("true" | "false")),
        "geo_point" => value["lat"].is_number() && value["lon"].is_number(),
        "flattened" | "flat_object" => value.is_object(),
        _ => true,
    };
    (!ok).then(|| format!("holds {} ({value})", json_kind(value)))
}

fn is_date(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Flavor, mappings};
    use serde_json::json;

    #[test]
    fn checker_reports_a_wrong_type_with_its_path() {
        let mappings = mappings(Flavor::OpenSearch);
        let doc =
            json!({"source": {"ip": "not an ip"}, "aws": {"cloudtrail": {"read_only": "maybe"}}});
        let found = check_document(&doc, &mappings);
        let paths: Vec<_> = found.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["source.ip", "aws.cloudtrail.read_only"]);
    }

    #[test]
    fn checker_reports_an_object_where_a_leaf_is_mapped() {
        let found = check_document(
            &json!({"event": {"action": {"x": 1}}}),
            &mappings(Flavor::OpenSearch),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].problem.contains("keyword"), "{}", found[0]);
    }

    #[test]
    fn checker_rejects_a_wrong_constant_keyword_value() {
        let found = check_document(
            &json!({"event": {"dataset": "aws.s3access"}}),
            &mappings(Flavor::OpenSearch),
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn dynamic_templates_map_new_string_fields() {
        let found = check_document(
            &json!({"custom": {"field": "x"}}),
            &mappings(Flavor::OpenSearch),
        );
        assert!(found.is_empty(), "{found:?}");
        let without = json!({"properties": {}});
        assert_eq!(check_document(&json!({"custom": "x"}), &without).len(), 1);
    }

    #[test]
    fn glob_matches_like_dynamic_templates() {
        assert!(glob("*.ip", "source.ip"));
        assert!(glob("*", "anything"));
        assert!(!glob("*.ip", "source.ips"));
        assert!(glob("*file.path", "log.file.path"));
    }
}
