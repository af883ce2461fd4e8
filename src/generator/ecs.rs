//! Turns a raw CloudTrail record into the ECS document that Elastic's AWS integration indexes
//! (the ingest pipeline of the `aws` package, data stream `cloudtrail`, as described in the
//! project's notes on it), plus what the Elastic Agent adds (`data_stream.*`, `event.dataset`,
//! `input.type`, `tags`, the S3 object the record came from) and Fleet's `event.ingested`. Pure.

use super::catalog::categorize;
use super::identities::{geo_lookup, parse_agent};
use super::javamap::java_to_string;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// `ecs.version` the described pipeline version writes.
pub const ECS_VERSION: &str = "8.11.0";
/// The pipeline keeps the `flattened.*` copy only when the text form is shorter than this.
pub const FLATTENED_MAX_CHARS: usize = 32_766;
/// The tag that keeps `event.original`.
pub const PRESERVE_ORIGINAL_TAG: &str = "preserve_original_event";
/// Tags the agent's CloudTrail input adds.
pub const INPUT_TAGS: &[&str] = &["forwarded", "aws-cloudtrail"];
/// The S3 bucket the generated trail delivers to.
pub const TRAIL_BUCKET: &str = "acme-cloudtrail-logs";
/// How long before `event.ingested` the agent read the record (`event.created`).
const AGENT_READ_AHEAD: TimeDelta = TimeDelta::milliseconds(1_750);

/// The ECS document for a raw CloudTrail `record`; `ingested` stamps `event.ingested` (whole seconds, as Fleet's
/// final pipeline does) and `event.created`.
pub fn to_ecs(record: &Value, ingested: Option<DateTime<Utc>>, preserve_original: bool) -> Value {
    to_ecs_owned(record.clone(), ingested, preserve_original)
}

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
    let get = |key: &str| raw.get(key);
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
    set_str(
        &mut doc,
        "aws.cloudtrail.event_version",
        text("eventVersion"),
    );
    identity_fields(&mut doc, get("userIdentity"));
    set_str(&mut doc, "event.provider", text("eventSource"));
    set_str(&mut doc, "event.action", text("eventName"));
    set_str(
        &mut doc,
        "aws.cloudtrail.event_category",
        text("eventCategory"),
    );
    set_str(&mut doc, "cloud.region", text("awsRegion"));
    source_fields(&mut doc, text("sourceIPAddress"));
    agent_string(&mut doc, text("userAgent"));
    set_str(&mut doc, "aws.cloudtrail.error_code", text("errorCode"));
    set_str(
        &mut doc,
        "aws.cloudtrail.error_message",
        text("errorMessage"),
    );
    for (key, field) in [
        ("requestParameters", "request_parameters"),
        ("responseElements", "response_elements"),
        ("additionalEventData", "additional_eventdata"),
        ("serviceEventDetails", "service_event_details"),
    ] {
        text_and_flattened(&mut doc, get(key), field);
    }
    set_str(&mut doc, "aws.cloudtrail.request_id", text("requestID"));
    set_str(&mut doc, "event.id", text("eventID"));
    set_str(&mut doc, "aws.cloudtrail.event_type", text("eventType"));
    set_str(&mut doc, "aws.cloudtrail.api_version", text("apiVersion"));
    set_opt(
        &mut doc,
        "aws.cloudtrail.management_event",
        get("managementEvent"),
    );
    set_opt(&mut doc, "aws.cloudtrail.read_only", get("readOnly"));
    resources(&mut doc, get("resources"));
    set_str(
        &mut doc,
        "aws.cloudtrail.recipient_account_id",
        text("recipientAccountId"),
    );
    set_str(
        &mut doc,
        "aws.cloudtrail.shared_event_id",
        text("sharedEventID"),
    );
    set_str(
        &mut doc,
        "aws.cloudtrail.vpc_endpoint_id",
        text("vpcEndpointId"),
    );
    let params = get("requestParameters");
    let param = |key: &str| params.and_then(|p| p.get(key)).and_then(Value::as_str);
    doc.append_unique("related.user", param("userName"));
    doc.append_unique("related.user", param("newUserName"));
    console_login(&mut doc, text("eventName"), get("additionalEventData"));
    categorization(&mut doc, &raw);
    let response = get("responseElements");
    let response_str = |outer: &str, key: &str| {
        response
            .and_then(|r| r.get(outer))
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
    };
    set_str(&mut doc, "group.id", response_str("group", "groupId"));
    set_str(&mut doc, "user.target.id", response_str("user", "userId"));
    set_str(&mut doc, "user.changes.name", param("newUserName"));
    set_str(&mut doc, "group.name", param("groupName"));
    set_str(&mut doc, "user.target.name", param("userName"));
    related_entities(&mut doc, &raw);
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

/// A JSON object built from dotted paths.
#[derive(Default)]
struct Doc(Map<String, Value>);

impl Doc {
    fn set(&mut self, path: &str, value: Value) {
        let mut node = &mut self.0;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.to_string(), value);
                return;
            }
            // Look up before inserting: most parents exist, and a lookup allocates nothing.
            if !node.get(part).is_some_and(Value::is_object) {
                node.insert(part.to_string(), json!({}));
            }
            node = node
                .get_mut(part)
                .and_then(Value::as_object_mut)
                .expect("the parent was just made an object");
        }
    }

    fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = self.0.get(parts.next()?)?;
        parts.try_fold(first, |node, part| node.get(part))
    }

    fn append_unique(&mut self, path: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        let mut list = match self.get(path) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        if !list.iter().any(|item| item == value) {
            list.push(json!(value));
        }
        self.set(path, Value::Array(list));
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn set_str(doc: &mut Doc, path: &str, value: Option<&str>) {
    if let Some(value) = value {
        doc.set(path, json!(value));
    }
}

fn set_opt(doc: &mut Doc, path: &str, value: Option<&Value>) {
    if let Some(value) = value {
        doc.set(path, value.clone());
    }
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

fn ingest_times(doc: &mut Doc, ingested: DateTime<Utc>, timestamp: Option<DateTime<Utc>>) {
    let whole = ingested - TimeDelta::nanoseconds(i64::from(ingested.timestamp_subsec_nanos()));
    let whole = timestamp.map_or(whole, |t| whole.max(t));
    let created =
        (ingested - AGENT_READ_AHEAD).max(timestamp.unwrap_or(ingested - AGENT_READ_AHEAD));
    doc.set("event.created", json!(format_millis(created)));
    doc.set(
        "event.ingested",
        json!(whole.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
}

/// What the agent adds: data stream, dataset, input, and the S3 object the record came from.
fn agent_fields(
    doc: &mut Doc,
    time: Option<DateTime<Utc>>,
    account: Option<&str>,
    region: Option<&str>,
) {
    doc.set(
        "data_stream",
        json!({"type": "logs", "dataset": "aws.cloudtrail", "namespace": "default"}),
    );
    doc.set("event.dataset", json!("aws.cloudtrail"));
    doc.set("event.module", json!("aws"));
    doc.set("input.type", json!("aws-s3"));
    let (Some(time), Some(account), Some(region)) = (time, account, region) else {
        return;
    };
    let key = format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}Z_{}.json.gz",
        time.format("%Y/%m/%d"),
        time.format("%Y%m%dT%H%M"),
        log_object_suffix(region, time),
    );
    doc.set("aws.s3.bucket.name", json!(TRAIL_BUCKET));
    doc.set(
        "aws.s3.bucket.arn",
        json!(format!("arn:aws:s3:::{TRAIL_BUCKET}")),
    );
    doc.set("aws.s3.object.key", json!(key));
    doc.set(
        "log.file.path",
        json!(format!(
            "https://{TRAIL_BUCKET}.s3.{region}.amazonaws.com/{key}"
        )),
    );
}

/// The unique part of a CloudTrail log object's name: one object per region and 5 minutes.
fn log_object_suffix(region: &str, time: DateTime<Utc>) -> String {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let slot = time.timestamp().div_euclid(300).unsigned_abs();
    let mixed = region
        .bytes()
        .fold(slot.wrapping_mul(GOLDEN), |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(GOLDEN)
        });
    format!("{mixed:016X}")
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

    #[test]
    fn ingested_is_whole_seconds_and_never_before_the_event() {
        let time = parse_time("2024-05-01T10:00:00Z").expect("valid");
        let mut doc = Doc::default();
        ingest_times(
            &mut doc,
            time + TimeDelta::milliseconds(301_900),
            Some(time),
        );
        assert_eq!(
            doc.get("event.ingested"),
            Some(&json!("2024-05-01T10:05:01Z"))
        );
        let mut early = Doc::default();
        ingest_times(&mut early, time - TimeDelta::seconds(5), Some(time));
        assert_eq!(
            early.get("event.ingested"),
            Some(&json!("2024-05-01T10:00:00Z"))
        );
    }
}
