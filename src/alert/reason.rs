//! The alert's reason sentence (`kibana.alert.reason`): what happened, by whom, on which host,
//! and which rule raised it, built from the source event's ECS fields. Pure.

use crate::rule::Rule;
use serde_json::Value;

/// Every source field the reason sentence reads.
pub(super) const REASON_FIELDS: [&str; 5] = [
    "event.action",
    "event.category",
    "user.name",
    "host.name",
    "source.ip",
];

/// A field of a JSON document by its dotted ECS name, whether the document nests it
/// (`{"user": {"name": ..}}`), stores it as a dotted key (`{"user.name": ..}`) or mixes both.
pub fn field<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    let object = document.as_object()?;
    if let Some(value) = object.get(name) {
        return Some(value);
    }
    name.match_indices('.').find_map(|(at, _)| {
        let inner = object.get(&name[..at])?;
        field(inner, &name[at + 1..])
    })
}

/// The reason sentence, for example
/// `AddUserToGroup event by user Alice from 192.0.2.1 created medium alert AWS IAM User Addition to Group.`
pub fn reason(source: &Value, rule: &Rule) -> String {
    let mut sentence = what_happened(source);
    if let Some(user) = text(source, "user.name") {
        sentence.push_str(&format!(" by user {user}"));
    }
    if let Some(host) = text(source, "host.name") {
        sentence.push_str(&format!(" on host {host}"));
    }
    if let Some(ip) = text(source, "source.ip") {
        sentence.push_str(&format!(" from {ip}"));
    }
    sentence.push_str(&format!(
        " created {} alert {}.",
        rule.meta.severity.as_str(),
        rule.name
    ));
    sentence
}

/// `<event.action> event`, else `<event.category> event`, else `event`.
fn what_happened(source: &Value) -> String {
    let subject = text(source, "event.action").or_else(|| text(source, "event.category"));
    match subject {
        Some(subject) => format!("{subject} event"),
        None => "event".to_string(),
    }
}

/// A field as display text: strings as they are, arrays of strings joined by ", ".
fn text(source: &Value, name: &str) -> Option<String> {
    match field(source, name)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
