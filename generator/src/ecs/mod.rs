//! Turns a raw CloudTrail record into the ECS document that Elastic's AWS integration indexes
//! (the ingest pipeline of the `aws` package, data stream `cloudtrail`, as described in the
//! project's notes on it), plus what the Elastic Agent adds (`data_stream.*`, `event.dataset`,
//! `input.type`, `tags`, the S3 object the record came from) and Fleet's `event.ingested`. Pure.

use super::catalog::categorize;
use super::enrichment::{geo_lookup, parse_agent};
use super::javamap::java_to_string;
use agent::{INPUT_TAGS, agent_fields, ingest_times};
use chrono::{DateTime, SecondsFormat, Utc};
use doc::{Doc, set_str};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// `ecs.version` the described pipeline version writes.
pub const ECS_VERSION: &str = "8.11.0";
/// The pipeline keeps the `flattened.*` copy only when the text form is shorter than this.
pub const FLATTENED_MAX_CHARS: usize = 32_766;
/// The tag that keeps `event.original`.
pub const PRESERVE_ORIGINAL_TAG: &str = "preserve_original_event";

mod agent;
mod doc;

/// The ECS document for a raw CloudTrail `record`; `ingested` stamps `event.ingested` (whole seconds, as Fleet's
/// final pipeline does) and `event.created`.
pub fn to_ecs(record: &Value, ingested: Option<DateTime<Utc>>, preserve_original: bool) -> Value {
    to_ecs_owned(record.clone(), ingested, preserve_original)
}

/// Top-level record keys copied as they are to an ECS or package field.
const RENAMES: &[(&str, &str)] = &[
    ("eventVersion", "aws.cloudtrail.event_version"),
    ("eventSource", "event.provider"),
    ("eventName", "event.action"),
    ("eventCategory", "aws.cloudtrail.event_category"),
    ("awsRegion", "cloud.region"),
    ("errorCode", "aws.cloudtrail.error_code"),
    ("errorMessage", "aws.cloudtrail.error_message"),
    ("requestID", "aws.cloudtrail.request_id"),
    ("eventID", "event.id"),
    ("eventType", "aws.cloudtrail.event_type"),
    ("apiVersion", "aws.cloudtrail.api_version"),
    ("managementEvent", "aws.cloudtrail.management_event"),
    ("readOnly", "aws.cloudtrail.read_only"),
    ("recipientAccountId", "aws.cloudtrail.recipient_account_id"),
    ("sharedEventID", "aws.cloudtrail.shared_event_id"),
    ("vpcEndpointId", "aws.cloudtrail.vpc_endpoint_id"),
];

/// Record keys kept twice: as Java map text and as a `flattened` object.
const PAYLOADS: &[(&str, &str)] = &[
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_eventdata"),
    ("serviceEventDetails", "service_event_details"),
];

/// [`to_ecs`] for a record the caller no longer needs (saves a copy).
pub(crate) fn to_ecs_owned(
    mut record: Value,
    ingested: Option<DateTime<Utc>>,
    preserve_original: bool,
) -> Value {
    let original = preserve_original.then(|| record.to_string());
    drop_empty(&mut record);
    let raw = match record {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let text = |key: &str| raw.get(key).and_then(Value::as_str);
    let timestamp = text("eventTime").and_then(parse_time);
    let mut doc = Doc::default();
    if let Some(time) = timestamp {
        doc.set("@timestamp", json!(format_millis(time)));
    }
    agent_fields(
        &mut doc,
        timestamp,
        text("recipientAccountId"),
        text("awsRegion"),
    );
    doc.set("ecs.version", json!(ECS_VERSION));
    doc.set("event.kind", json!("event"));
    for (key, path) in RENAMES {
        if let Some(value) = raw.get(*key) {
            doc.set(path, value.clone());
        }
    }
    identity_fields(&mut doc, raw.get("userIdentity"));
    source_fields(&mut doc, text("sourceIPAddress"));
    agent_string(&mut doc, text("userAgent"));
    for (key, field) in PAYLOADS {
        text_and_flattened(&mut doc, raw.get(*key), field);
    }
    resources(&mut doc, raw.get("resources"));
    derived_fields(&mut doc, &raw);
    if let Some(ingested) = ingested {
        ingest_times(&mut doc, ingested, timestamp);
    }
    let mut tags: Vec<&str> = INPUT_TAGS.to_vec();
    if let Some(original) = original {
        tags.push(PRESERVE_ORIGINAL_TAG);
        doc.set("event.original", json!(original));
    }
    doc.set("tags", json!(tags));
    doc.into_value()
}

/// What the pipeline derives after the renames: related users, ConsoleLogin details, the
/// categorisation, the group and target user fields, and `related.entity`.
fn derived_fields(doc: &mut Doc, raw: &Map<String, Value>) {
    let nested = |outer: &str, inner: &str| {
        raw.get(outer)
            .and_then(|o| o.get(inner))
            .and_then(Value::as_str)
    };
    let param = |key: &str| nested("requestParameters", key);
    doc.append_unique("related.user", param("userName"));
    doc.append_unique("related.user", param("newUserName"));
    let action = raw.get("eventName").and_then(Value::as_str);
    console_login(doc, action, raw.get("additionalEventData"));
    categorization(doc, raw);
    let response = raw.get("responseElements");
    let response_str = |outer: &str, key: &str| {
        response
            .and_then(|r| r.get(outer))
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
    };
    set_str(doc, "group.id", response_str("group", "groupId"));
    set_str(doc, "user.target.id", response_str("user", "userId"));
    set_str(doc, "user.changes.name", param("newUserName"));
    set_str(doc, "group.name", param("groupName"));
    set_str(doc, "user.target.name", param("userName"));
    related_entities(doc, raw);
}

/// The pipeline removes null and empty values recursively before mapping.
fn drop_empty(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Object(map) => {
            map.retain(|_, inner| !drop_empty(inner));
            map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|inner| !drop_empty(inner));
            items.is_empty()
        }
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

fn format_millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn identity_fields(doc: &mut Doc, identity: Option<&Value>) {
    let Some(identity) = identity else { return };
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(identity, |node, key| node.get(key))
            .and_then(Value::as_str)
    };
    let prefix = "aws.cloudtrail.user_identity";
    set_str(doc, &format!("{prefix}.type"), text(&["type"]));
    doc.append_unique("related.user", text(&["userName"]));
    set_str(doc, "user.name", text(&["userName"]));
    set_str(doc, "user.id", text(&["principalId"]));
    set_str(doc, &format!("{prefix}.arn"), text(&["arn"]));
    set_str(doc, "cloud.account.id", text(&["accountId"]));
    set_str(
        doc,
        &format!("{prefix}.access_key_id"),
        text(&["accessKeyId"]),
    );
    let context = format!("{prefix}.session_context");
    set_str(
        doc,
        &format!("{context}.mfa_authenticated"),
        text(&["sessionContext", "attributes", "mfaAuthenticated"]),
    );
    if let Some(created) =
        text(&["sessionContext", "attributes", "creationDate"]).and_then(parse_time)
    {
        doc.set(
            &format!("{context}.creation_date"),
            json!(format_millis(created)),
        );
    }
    // Newer pipeline versions keep how EC2 delivered an instance role's credentials.
    set_str(
        doc,
        &format!("{context}.ec2_role_delivery"),
        text(&["sessionContext", "ec2RoleDelivery"]),
    );
    let issuer = |key: &str| text(&["sessionContext", "sessionIssuer", key]);
    set_str(
        doc,
        &format!("{context}.session_issuer.type"),
        issuer("type"),
    );
    set_str(doc, "user.name", issuer("userName"));
    set_str(
        doc,
        &format!("{context}.session_issuer.principal_id"),
        issuer("principalId"),
    );
    set_str(doc, &format!("{context}.session_issuer.arn"), issuer("arn"));
    set_str(
        doc,
        &format!("{context}.session_issuer.account_id"),
        issuer("accountId"),
    );
    set_str(doc, &format!("{prefix}.invoked_by"), text(&["invokedBy"]));
}

fn source_fields(doc: &mut Doc, address: Option<&str>) {
    let Some(address) = address else { return };
    doc.set("source.address", json!(address));
    if address.parse::<IpAddr>().is_err() {
        return;
    }
    doc.set("source.ip", json!(address));
    let Some(geo) = geo_lookup(address) else {
        return;
    };
    set_str(doc, "source.geo.city_name", geo.city_name);
    doc.set("source.geo.continent_name", json!(geo.continent_name));
    doc.set("source.geo.country_iso_code", json!(geo.country_iso_code));
    doc.set("source.geo.country_name", json!(geo.country_name));
    doc.set(
        "source.geo.location",
        json!({"lat": geo.location.0, "lon": geo.location.1}),
    );
    set_str(doc, "source.geo.region_iso_code", geo.region_iso_code);
    set_str(doc, "source.geo.region_name", geo.region_name);
    if let Some((number, organization)) = geo.asn {
        doc.set("source.as.number", json!(number));
        doc.set("source.as.organization.name", json!(organization));
    }
}

fn agent_string(doc: &mut Doc, original: Option<&str>) {
    let Some(original) = original else { return };
    let parsed = parse_agent(original);
    doc.set("user_agent.original", json!(original));
    doc.set("user_agent.name", json!(parsed.name));
    doc.set("user_agent.device.name", json!(parsed.device));
    set_str(doc, "user_agent.version", parsed.version);
    if let Some((name, version, full)) = parsed.os {
        doc.set("user_agent.os.name", json!(name));
        doc.set("user_agent.os.version", json!(version));
        doc.set("user_agent.os.full", json!(full));
    }
}

fn text_and_flattened(doc: &mut Doc, value: Option<&Value>, field: &str) {
    let Some(value) = value else { return };
    let text = java_to_string(value);
    if text.chars().count() < FLATTENED_MAX_CHARS {
        doc.set(&format!("aws.cloudtrail.flattened.{field}"), value.clone());
    }
    doc.set(&format!("aws.cloudtrail.{field}"), json!(text));
}

fn resources(doc: &mut Doc, resources: Option<&Value>) {
    let Some(Value::Array(items)) = resources else {
        return;
    };
    let mut renamed: Vec<Value> = Vec::new();
    for item in items {
        let Some(object) = item.as_object() else {
            continue;
        };
        let mut resource = Map::new();
        for (key, value) in object {
            let name = match key.as_str() {
                "ARN" => "arn",
                "accountId" => "account_id",
                other => other,
            };
            resource.insert(name.to_string(), value.clone());
        }
        let resource = Value::Object(resource);
        if !renamed.contains(&resource) {
            renamed.push(resource);
        }
    }
    doc.set("aws.cloudtrail.resources", Value::Array(renamed));
}

fn console_login(doc: &mut Doc, action: Option<&str>, data: Option<&Value>) {
    let (Some("ConsoleLogin"), Some(data)) = (action, data) else {
        return;
    };
    let prefix = "aws.cloudtrail.console_login.additional_eventdata";
    let flag = |key: &str| data.get(key).and_then(Value::as_str).map(|v| v != "No");
    if let Some(mobile) = flag("MobileVersion") {
        doc.set(&format!("{prefix}.mobile_version"), json!(mobile));
    }
    set_str(
        doc,
        &format!("{prefix}.login_to"),
        data.get("LoginTo").and_then(Value::as_str),
    );
    if let Some(mfa) = flag("MFAUsed") {
        doc.set(&format!("{prefix}.mfa_used"), json!(mfa));
    }
}

fn categorization(doc: &mut Doc, raw: &Map<String, Value>) {
    let failed = raw.contains_key("errorCode") || raw.contains_key("errorMessage");
    let mut outcome = if failed {
        "failure".to_string()
    } else {
        "success".to_string()
    };
    let action = raw.get("eventName").and_then(Value::as_str);
    let console_result = raw
        .get("responseElements")
        .and_then(|r| r.get("ConsoleLogin"))
        .and_then(Value::as_str);
    if let (Some("ConsoleLogin"), Some(result)) = (action, console_result) {
        outcome = result.to_lowercase();
    }
    doc.set("event.outcome", json!(outcome));
    let (category, kinds) = action.map_or((None, &["info"][..]), categorize);
    if let Some(category) = category {
        doc.set("event.category", json!(category));
    }
    doc.set("event.type", json!(kinds));
}

/// `related.entity`: every principal and resource identifier the record names, sorted.
fn related_entities(doc: &mut Doc, raw: &Map<String, Value>) {
    let at = |path: &[&str]| {
        let first = raw.get(path[0])?;
        path[1..]
            .iter()
            .try_fold(first, |node, key| node.get(key))
            .and_then(Value::as_str)
    };
    let mut entities: Vec<&str> = [
        at(&["userIdentity", "principalId"]),
        at(&["userIdentity", "userName"]),
        at(&["userIdentity", "arn"]),
        at(&[
            "userIdentity",
            "sessionContext",
            "sessionIssuer",
            "userName",
        ]),
        at(&["userIdentity", "sessionContext", "sessionIssuer", "arn"]),
        at(&["requestParameters", "userName"]),
        at(&["requestParameters", "roleArn"]),
        at(&["requestParameters", "roleSessionName"]),
        at(&["responseElements", "assumedRoleUser", "arn"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    entities.sort_unstable();
    entities.dedup();
    if !entities.is_empty() {
        doc.set("related.entity", json!(entities));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_empty_strings_disappear() {
        let mut value = json!({"a": null, "b": "", "c": {"d": null}, "e": [null, "x"], "f": 1});
        drop_empty(&mut value);
        assert_eq!(value, json!({"e": ["x"], "f": 1}));
    }

    #[test]
    fn service_names_stay_out_of_source_ip() {
        let mut doc = Doc::default();
        source_fields(&mut doc, Some("AWS Internal"));
        let value = doc.into_value();
        assert_eq!(value["source"]["address"], "AWS Internal");
        assert!(value["source"].get("ip").is_none());
    }
}
