//! The index template for the generated CloudTrail documents, built from the generator's own list
//! of fields and their types (the types the AWS integration and ECS give them), in two flavours:
//! Elasticsearch (a data stream, `flattened`) and OpenSearch (a plain index, `flat_object`).
//! Also a checker that walks any mapping (properties plus dynamic templates) and reports every
//! leaf of a document whose value does not fit its mapped type. Pure.

use chrono::DateTime;
use serde_json::{Map, Value, json};
use std::fmt;
use std::net::IpAddr;

/// The index pattern the template applies to (the AWS integration's data stream).
pub const INDEX_PATTERN: &str = "logs-aws.cloudtrail-*";
/// The template's name.
pub const TEMPLATE_NAME: &str = "logs-aws.cloudtrail";
/// The index (data stream) generated documents go to by default.
pub const DEFAULT_INDEX: &str = "logs-aws.cloudtrail-default";
/// Template priority: above Elasticsearch's built-in `logs` template (100).
pub const TEMPLATE_PRIORITY: u64 = 200;
/// Fleet's `ignore_above` for keyword fields.
const KEYWORD_IGNORE_ABOVE: u64 = 1024;
/// The package's `ignore_above` for the request and response text forms.
const LONG_KEYWORD_IGNORE_ABOVE: u64 = 8191;
/// `event.ingested`'s date formats (Fleet's).
const INGESTED_FORMAT: &str = "strict_date_time_no_millis||strict_date_optional_time||epoch_millis";

/// Which server the template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A data stream with `flattened` fields.
    Elasticsearch,
    /// A plain index with `flat_object` fields (OpenSearch has no `flattened`).
    OpenSearch,
}

/// The type of one generated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keyword,
    /// keyword plus a `.text` `match_only_text` multi-field (ECS `*.name` style).
    KeywordMatchText,
    /// keyword (ignore_above given) plus a `.text` `text` multi-field.
    KeywordText(u64),
    /// Stored only (`event.original`).
    KeywordUnindexed,
    ConstantKeyword(&'static str),
    Date,
    DateIngested,
    Ip,
    Long,
    Boolean,
    GeoPoint,
    Flattened,
}

/// Every field the generator writes, with its type.
const FIELDS: &[(&str, Kind)] = &[
    ("@timestamp", Kind::Date),
    ("data_stream.type", Kind::ConstantKeyword("logs")),
    (
        "data_stream.dataset",
        Kind::ConstantKeyword("aws.cloudtrail"),
    ),
    ("data_stream.namespace", Kind::ConstantKeyword("default")),
    ("ecs.version", Kind::Keyword),
    ("tags", Kind::Keyword),
    ("input.type", Kind::Keyword),
    ("event.action", Kind::Keyword),
    ("event.category", Kind::Keyword),
    ("event.created", Kind::Date),
    ("event.dataset", Kind::ConstantKeyword("aws.cloudtrail")),
    ("event.id", Kind::Keyword),
    ("event.ingested", Kind::DateIngested),
    ("event.kind", Kind::Keyword),
    ("event.module", Kind::ConstantKeyword("aws")),
    ("event.original", Kind::KeywordUnindexed),
    ("event.outcome", Kind::Keyword),
    ("event.provider", Kind::Keyword),
    ("event.type", Kind::Keyword),
    ("cloud.account.id", Kind::Keyword),
    ("cloud.region", Kind::Keyword),
    ("log.file.path", Kind::Keyword),
    ("user.id", Kind::Keyword),
    ("user.name", Kind::KeywordMatchText),
    ("user.changes.name", Kind::KeywordMatchText),
    ("user.target.id", Kind::Keyword),
    ("user.target.name", Kind::KeywordMatchText),
    ("group.id", Kind::Keyword),
    ("group.name", Kind::Keyword),
    ("user_agent.original", Kind::KeywordMatchText),
    ("user_agent.name", Kind::Keyword),
    ("user_agent.version", Kind::Keyword),
    ("user_agent.device.name", Kind::Keyword),
    ("user_agent.os.name", Kind::KeywordMatchText),
    ("user_agent.os.full", Kind::KeywordMatchText),
    ("user_agent.os.version", Kind::Keyword),
    ("source.address", Kind::Keyword),
    ("source.ip", Kind::Ip),
    ("source.as.number", Kind::Long),
    ("source.as.organization.name", Kind::KeywordMatchText),
    ("source.geo.city_name", Kind::Keyword),
    ("source.geo.continent_name", Kind::Keyword),
    ("source.geo.country_iso_code", Kind::Keyword),
    ("source.geo.country_name", Kind::Keyword),
    ("source.geo.region_iso_code", Kind::Keyword),
    ("source.geo.region_name", Kind::Keyword),
    ("source.geo.location", Kind::GeoPoint),
    ("related.user", Kind::Keyword),
    ("related.entity", Kind::Keyword),
    ("aws.s3.bucket.name", Kind::Keyword),
    ("aws.s3.bucket.arn", Kind::Keyword),
    ("aws.s3.object.key", Kind::Keyword),
    ("aws.cloudtrail.event_version", Kind::Keyword),
    ("aws.cloudtrail.event_category", Kind::Keyword),
    ("aws.cloudtrail.event_type", Kind::Keyword),
    ("aws.cloudtrail.user_identity.type", Kind::Keyword),
    ("aws.cloudtrail.user_identity.arn", Kind::Keyword),
    ("aws.cloudtrail.user_identity.access_key_id", Kind::Keyword),
    ("aws.cloudtrail.user_identity.invoked_by", Kind::Keyword),
    (
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
        Kind::Keyword,
    ),
    (
        "aws.cloudtrail.user_identity.session_context.creation_date",
        Kind::Date,
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.type",
        Kind::Keyword,
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
        Kind::Keyword,
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
        Kind::Keyword,
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
        Kind::Keyword,
    ),
    ("aws.cloudtrail.error_code", Kind::Keyword),
    ("aws.cloudtrail.error_message", Kind::Keyword),
    (
        "aws.cloudtrail.request_parameters",
        Kind::KeywordText(LONG_KEYWORD_IGNORE_ABOVE),
    ),
    (
        "aws.cloudtrail.response_elements",
        Kind::KeywordText(LONG_KEYWORD_IGNORE_ABOVE),
    ),
    (
        "aws.cloudtrail.additional_eventdata",
        Kind::KeywordText(KEYWORD_IGNORE_ABOVE),
    ),
    (
        "aws.cloudtrail.service_event_details",
        Kind::KeywordText(KEYWORD_IGNORE_ABOVE),
    ),
    ("aws.cloudtrail.request_id", Kind::Keyword),
    ("aws.cloudtrail.api_version", Kind::Keyword),
    ("aws.cloudtrail.management_event", Kind::Keyword),
    ("aws.cloudtrail.read_only", Kind::Boolean),
    ("aws.cloudtrail.resources.arn", Kind::Keyword),
    ("aws.cloudtrail.resources.account_id", Kind::Keyword),
    ("aws.cloudtrail.resources.type", Kind::Keyword),
    ("aws.cloudtrail.recipient_account_id", Kind::Keyword),
    ("aws.cloudtrail.shared_event_id", Kind::Keyword),
    ("aws.cloudtrail.vpc_endpoint_id", Kind::Keyword),
    (
        "aws.cloudtrail.console_login.additional_eventdata.mobile_version",
        Kind::Boolean,
    ),
    (
        "aws.cloudtrail.console_login.additional_eventdata.login_to",
        Kind::Keyword,
    ),
    (
        "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
        Kind::Boolean,
    ),
    (
        "aws.cloudtrail.flattened.request_parameters",
        Kind::Flattened,
    ),
    (
        "aws.cloudtrail.flattened.response_elements",
        Kind::Flattened,
    ),
    (
        "aws.cloudtrail.flattened.additional_eventdata",
        Kind::Flattened,
    ),
    (
        "aws.cloudtrail.flattened.service_event_details",
        Kind::Flattened,
    ),
];

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE})
}

fn field_mapping(kind: Kind, flavor: Flavor) -> Value {
    match kind {
        Kind::Keyword => keyword(),
        Kind::KeywordMatchText => json!({"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE,
            "fields": {"text": {"type": "match_only_text"}}}),
        Kind::KeywordText(limit) => {
            json!({"type": "keyword", "ignore_above": limit, "fields": {"text": {"type": "text"}}})
        }
        Kind::KeywordUnindexed => json!({"type": "keyword", "index": false, "doc_values": false}),
        Kind::ConstantKeyword(value) => json!({"type": "constant_keyword", "value": value}),
        Kind::Date => json!({"type": "date"}),
        Kind::DateIngested => json!({"type": "date", "format": INGESTED_FORMAT}),
        Kind::Ip => json!({"type": "ip"}),
        Kind::Long => json!({"type": "long"}),
        Kind::Boolean => json!({"type": "boolean"}),
        Kind::GeoPoint => json!({"type": "geo_point"}),
        Kind::Flattened => match flavor {
            Flavor::Elasticsearch => json!({"type": "flattened"}),
            Flavor::OpenSearch => json!({"type": "flat_object"}),
        },
    }
}

/// The `mappings` object for the generated documents.
pub fn mappings(flavor: Flavor) -> Value {
    let mut properties = Map::new();
    for (path, kind) in FIELDS {
        insert_path(&mut properties, path, field_mapping(*kind, flavor));
    }
    json!({
        "date_detection": false,
        "dynamic_templates": [
            {"strings_as_keyword": {"match_mapping_type": "string", "mapping": keyword()}}
        ],
        "properties": properties,
    })
}

fn insert_path(properties: &mut Map<String, Value>, path: &str, mapping: Value) {
    match path.split_once('.') {
        None => {
            properties.insert(path.to_string(), mapping);
        }
        Some((head, rest)) => {
            let entry = properties
                .entry(head.to_string())
                .or_insert_with(|| json!({"properties": {}}));
            let inner = entry["properties"]
                .as_object_mut()
                .expect("intermediate fields are objects with properties");
            insert_path(inner, rest, mapping);
        }
    }
}

/// The composable index template (`PUT _index_template/logs-aws.cloudtrail`).
pub fn index_template(flavor: Flavor) -> Value {
    let mut template = json!({
        "index_patterns": [INDEX_PATTERN],
        "priority": TEMPLATE_PRIORITY,
        "_meta": {
            "description": "CloudTrail documents as Elastic's AWS integration indexes them; written by lookout from its generator's field list (lookout generate --template)",
            "managed_by": "lookout",
        },
        "template": {"mappings": mappings(flavor)},
    });
    if flavor == Flavor::Elasticsearch {
        template["data_stream"] = json!({});
    }
    template
}

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

    #[test]
    fn elasticsearch_template_is_a_data_stream_with_flattened_fields() {
        let template = index_template(Flavor::Elasticsearch);
        assert_eq!(template["data_stream"], json!({}));
        let flattened = &template["template"]["mappings"]["properties"]["aws"]["properties"]["cloudtrail"]
            ["properties"]["flattened"]["properties"]["request_parameters"];
        assert_eq!(flattened["type"], "flattened");
    }

    #[test]
    fn opensearch_template_has_no_data_stream_and_uses_flat_object() {
        let template = index_template(Flavor::OpenSearch);
        assert!(template.get("data_stream").is_none());
        let flattened = &template["template"]["mappings"]["properties"]["aws"]["properties"]["cloudtrail"]
            ["properties"]["flattened"]["properties"]["request_parameters"];
        assert_eq!(flattened["type"], "flat_object");
    }

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
