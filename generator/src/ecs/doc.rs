//! A JSON object built from dotted paths (`doc.set("event.action", ...)`), the way ingest
//! processors address fields. Pure.

use serde_json::{Map, Value, json};

/// A JSON object built from dotted paths.
#[derive(Default)]
pub(super) struct Doc(Map<String, Value>);

impl Doc {
    pub(super) fn set(&mut self, path: &str, value: Value) {
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

    pub(super) fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = self.0.get(parts.next()?)?;
        parts.try_fold(first, |node, part| node.get(part))
    }

    pub(super) fn append_unique(&mut self, path: &str, value: Option<&str>) {
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

    pub(super) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

pub(super) fn set_str(doc: &mut Doc, path: &str, value: Option<&str>) {
    if let Some(value) = value {
        doc.set(path, json!(value));
    }
}
