//! The alert document written straight as JSON text from the source document's text, for the
//! engine's bulk writes: the source's top-level fields are copied as the server sent them, and
//! only the fields an alert reads or changes (`@timestamp`, `event`, the reason's fields) are
//! parsed. The document equals the one [`super::build_alert_from`] builds (a test holds them
//! equal); reading every source into a JSON tree and writing it out again was most of
//! lookout's CPU when a rule writes many alerts.

use super::reason::REASON_FIELDS;
use super::{AlertContext, SharedFields, alert_fields};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The alert for one source event, given as the JSON text of its `_source`: its id and its
/// document as one line of JSON. A source that is not a JSON object counts as an empty one.
pub fn alert_json(
    index: &str,
    id: &str,
    source: &RawValue,
    context: AlertContext<'_>,
    shared: &SharedFields,
) -> (String, String) {
    let top = top_level(source);
    let view = read_view(&top);
    let (alert_id, added) = alert_fields(index, id, &view, context, shared);
    let mut out = Writer::with_capacity(source.get().len() + shared.fragment.len() + 2048);
    let mut wrote_event = false;
    for (key, raw) in &top {
        let key = key.as_ref();
        if key == "event" {
            out.entry(key, &signal_event(view.get("event")));
            wrote_event = true;
        } else if key != "event.kind" && !overridden(key, &added, shared) {
            out.raw_entry(key, raw);
        }
    }
    if !wrote_event {
        out.entry("event", &signal_event(None));
    }
    for (key, value) in &added {
        out.entry(key, value);
    }
    out.fragment(&shared.fragment);
    (alert_id, out.finish())
}

/// Whether the alert sets this top-level field itself (`@timestamp`, `kibana.*`), so the
/// source's value is left out as [`super::build_alert_from`] overwrites it. Every field an
/// alert adds is `@timestamp` or starts with `kibana.`, so other keys are not looked up.
fn overridden(key: &str, added: &Map<String, Value>, shared: &SharedFields) -> bool {
    (key == "@timestamp" || key.starts_with("kibana."))
        && (added.contains_key(key) || shared.fields.contains_key(key))
}

/// The source's `event` object with `kind` set to `signal` (moved to the end, as
/// [`super::build_alert_from`] does); anything else than an object becomes `{"kind":"signal"}`.
fn signal_event(event: Option<&Value>) -> Value {
    let mut fields = match event {
        Some(Value::Object(fields)) => fields.clone(),
        _ => Map::new(),
    };
    fields.shift_remove("kind");
    fields.insert("kind".into(), Value::from("signal"));
    Value::Object(fields)
}

/// The top-level fields an alert reads, parsed: `@timestamp`, `event` and `event.*`, and those
/// holding the reason's fields (`user`, `user.name`, ...). A value serde_json checked but cannot
/// hold as a [`Value`] (a number beyond f64, nesting beyond 128 levels) reads as `null`.
fn read_view(top: &[(Cow<'_, str>, &RawValue)]) -> Value {
    let mut view = Map::new();
    for (key, raw) in top {
        if is_read(key) {
            let value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            view.insert(key.to_string(), value);
        }
    }
    Value::Object(view)
}

fn is_read(key: &str) -> bool {
    let holds = |name: &str| {
        name == key || (name.starts_with(key) && name.as_bytes().get(key.len()) == Some(&b'.'))
    };
    key == "@timestamp"
        || key == "event"
        || key.starts_with("event.")
        || REASON_FIELDS.iter().any(|name| holds(name))
}

/// The top-level fields of a source document, values unread; empty when it is not an object.
fn top_level(source: &RawValue) -> Vec<(Cow<'_, str>, &RawValue)> {
    if !source.get().trim_start().starts_with('{') {
        return Vec::new();
    }
    let mut deserializer = serde_json::Deserializer::from_str(source.get());
    match TopLevel::deserialize(&mut deserializer) {
        Ok(TopLevel(fields)) => fields,
        Err(_) => Vec::new(),
    }
}

struct TopLevel<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(32));
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            fields.push((key, value));
        }
        Ok(TopLevel(fields))
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(text.to_string())))
    }
}

/// A JSON object written entry by entry.
struct Writer {
    out: Vec<u8>,
    empty: bool,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Writer { out, empty: true }
    }

    fn separator(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }

    fn key(&mut self, key: &str) {
        self.separator();
        serde_json::to_writer(&mut self.out, key).expect("a string serializes into memory");
        self.out.push(b':');
    }

    fn entry(&mut self, key: &str, value: &Value) {
        self.key(key);
        serde_json::to_writer(&mut self.out, value).expect("a JSON value serializes into memory");
    }

    fn raw_entry(&mut self, key: &str, value: &RawValue) {
        self.key(key);
        self.out.extend_from_slice(value.get().as_bytes());
    }

    /// Entries already written as JSON text (`"a":1,"b":2`).
    fn fragment(&mut self, entries: &str) {
        if !entries.is_empty() {
            self.separator();
            self.out.extend_from_slice(entries.as_bytes());
        }
    }

    fn finish(mut self) -> String {
        self.out.push(b'}');
        String::from_utf8(self.out).expect("JSON text is UTF-8")
    }
}
