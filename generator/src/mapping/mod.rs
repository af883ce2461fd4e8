//! The index template for the generated CloudTrail documents, built from the generator's own list
//! of fields and their types (the types the AWS integration and ECS give them), in two flavours:
//! Elasticsearch (a data stream, `flattened`) and OpenSearch (a plain index, `flat_object`).
//! [`check_document`] (in `check.rs`) walks any mapping and reports every leaf of a document whose
//! value does not fit its mapped type. Pure.

use serde_json::{Map, Value, json};

mod check;

pub use check::{Mismatch, check_document};

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
}
