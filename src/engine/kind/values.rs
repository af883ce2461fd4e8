//! Reading field values out of documents and comparing them as terms; shared by the threshold,
//! new terms and indicator match kinds. Pure.

use serde_json::Value;

/// Every value of a field in a document, by its dotted name, whether the document nests it
/// (`{"a": {"b": 1}}`), keeps it as a dotted key (`{"a.b": 1}`), mixes both, or holds arrays
/// on the way (`{"a": [{"b": 1}, {"b": 2}]}`). Arrays of values are flattened; `null` is no value.
pub fn values_of<'a>(document: &'a Value, name: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect_values(document, name, &mut out);
    out
}

fn collect_values<'a>(document: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match document {
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_values(item, name, out)),
        Value::Object(object) => {
            if let Some(value) = object.get(name) {
                push_leaves(value, out);
            }
            for (at, _) in name.match_indices('.') {
                if let Some(inner) = object.get(&name[..at]) {
                    collect_values(inner, &name[at + 1..], out);
                }
            }
        }
        _ => {}
    }
}

fn push_leaves<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| push_leaves(item, out)),
        Value::Null => {}
        other => out.push(other),
    }
}

/// The object at a dotted path of a document (nested or dotted keys), for indicator documents.
pub fn object_at<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    let object = document.as_object()?;
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    path.match_indices('.').find_map(|(at, _)| {
        let inner = object.get(&path[..at])?;
        object_at(inner, &path[at + 1..])
    })
}

/// Two field values are the same term: equal JSON, or equal text (`"443"` and `443`, as a
/// `term` query on a keyword field treats them).
pub fn same_term(a: &Value, b: &Value) -> bool {
    a == b || term_text(a) == term_text(b)
}

/// The text of a term value (strings unquoted, other scalars as JSON).
pub fn term_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
