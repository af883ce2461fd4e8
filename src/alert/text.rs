//! The alert document written straight as JSON text from the source document's text, for the
//! engine's bulk writes: the source's fields are copied as the server sent them (the `event`
//! object field by field, to set `kind`), and only `@timestamp` and the reason's fields are
//! parsed. The document equals the one [`super::build_alert_with`] builds (a test holds them
//! equal); reading every source into a JSON tree and writing it out again was most of
//! lookout's CPU when a rule writes many alerts.

use super::{AlertContext, ORIGINALS, SharedFields, alert_fields, flatten_into, is_dropped};
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
    let event = top
        .iter()
        .rev()
        .find(|(key, _)| key == "event")
        .map(|(_, raw)| top_level(raw));
    let view = read_view(&top, event.as_deref(), &shared.reads);
    let (alert_id, added) = alert_fields(index, id, &view, context, shared, false);
    let original = originals(&top, event.as_deref());
    let mut out = Writer::with_capacity(source.get().len() * 2 + shared.fragment().len() + 1024);
    let mut wrote_event = false;
    for (key, raw) in &top {
        let key = key.as_ref();
        if key == "event" {
            if !wrote_event {
                out.key(key);
                out.signal_event(event.as_deref().unwrap_or_default());
                wrote_event = true;
            }
        } else if key != "event.kind" && !overridden(key, shared) {
            out.raw_entry(key, raw);
        }
    }
    if !wrote_event {
        out.key("event");
        out.signal_event(&[]);
    }
    for (key, value) in &added {
        out.entry(key, value);
    }
    for (key, value) in &original {
        match value {
            Leaf::Raw(raw) => out.raw_entry(key, raw),
            Leaf::Parsed(value) => out.entry(key, value),
        }
    }
    out.fragment(shared.fragment());
    (alert_id, out.finish())
}

/// Whether the source's top-level field is left out: one the alert drops (`kibana`, `signal`,
/// `threshold_result`), or sets itself (`@timestamp`, a shared field), as
/// [`super::build_alert_with`] overwrites it.
fn overridden(key: &str, shared: &SharedFields) -> bool {
    key == "@timestamp" || is_dropped(key) || shared.fields.contains_key(key)
}

/// A value of `kibana.alert.original_event.*`: the source's text, or a leaf of an object that
/// had to be parsed to be flattened.
enum Leaf<'a> {
    Raw(&'a RawValue),
    Parsed(Value),
}

/// The original copies (`kibana.alert.original_event.*`, `.original_data_stream.*`) as
/// [`super::build_alert_with`] builds them: every field of the object (objects flattened to
/// their leaves), then every dotted key under it, a later one replacing an earlier one of the
/// same name. Leaves are copied as text.
fn originals<'a>(
    top: &'a [(Cow<'a, str>, &'a RawValue)],
    event: Option<&'a [(Cow<'a, str>, &'a RawValue)]>,
) -> Vec<(String, Leaf<'a>)> {
    let mut fields: Vec<(String, Leaf<'a>)> = Vec::new();
    let mut put = |name: String, leaf: Leaf<'a>| match fields.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = leaf,
        None => fields.push((name, leaf)),
    };
    for (object, prefix) in ORIGINALS {
        let inner = match object {
            "event" => event.map(<[_]>::to_vec),
            _ => (top.iter().rev().find(|(key, _)| key == object)).map(|(_, raw)| top_level(raw)),
        };
        for (key, raw) in inner.unwrap_or_default() {
            let name = format!("{prefix}.{key}");
            if is_object(raw) {
                let mut flat = Map::new();
                if let Ok(Value::Object(inner)) = serde_json::from_str(raw.get()) {
                    flatten_into(&mut flat, &name, &inner);
                }
                for (leaf_name, value) in flat {
                    put(leaf_name, Leaf::Parsed(value));
                }
            } else {
                put(name, Leaf::Raw(raw));
            }
        }
        for (key, raw) in top {
            if let Some(rest) = key.strip_prefix(object).and_then(|r| r.strip_prefix('.')) {
                put(format!("{prefix}.{rest}"), Leaf::Raw(raw));
            }
        }
    }
    fields
}

/// The top-level fields an alert reads, parsed: `@timestamp`, those holding the fields in
/// `reads` (`user`, `user.name`, ...), and of `event` only those fields. A value serde_json
/// checked but cannot hold as a [`Value`] (a number beyond f64, nesting beyond 128 levels) reads
/// as `null`.
fn read_view(
    top: &[(Cow<'_, str>, &RawValue)],
    event: Option<&[(Cow<'_, str>, &RawValue)]>,
    reads: &[String],
) -> Value {
    let parse = |raw: &RawValue| serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    let mut view = Map::new();
    for (key, raw) in top {
        if key == "event" {
            let mut read = Map::new();
            for (name, raw) in event.unwrap_or_default() {
                if reads_event_field(reads, name) {
                    read.insert(name.to_string(), parse(raw));
                }
            }
            view.insert("event".into(), Value::Object(read));
        } else if key == "@timestamp" || is_read(reads, key) {
            view.insert(key.to_string(), parse(raw));
        }
    }
    Value::Object(view)
}

/// Whether a top-level key holds one of the fields read: the field itself or an object on its
/// path (`user` for `user.name`).
fn is_read(reads: &[String], key: &str) -> bool {
    reads.iter().any(|name| holds(name, key))
}

/// Whether a field of the `event` object holds one of the `event.*` fields read.
fn reads_event_field(reads: &[String], key: &str) -> bool {
    (reads.iter())
        .filter_map(|name| name.strip_prefix("event."))
        .any(|name| holds(name, key))
}

/// Whether `key` is the dotted `name` or an object on its path.
fn holds(name: &str, key: &str) -> bool {
    name == key || (name.starts_with(key) && name.as_bytes().get(key.len()) == Some(&b'.'))
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// The top-level fields of a source document, values unread; empty when it is not an object.
fn top_level(source: &RawValue) -> Vec<(Cow<'_, str>, &RawValue)> {
    if !is_object(source) {
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

    /// The source's `event` object (its fields as text) with `kind` set to `signal` at the end,
    /// as [`super::build_alert_with`] does.
    fn signal_event(&mut self, event: &[(Cow<'_, str>, &RawValue)]) {
        self.out.push(b'{');
        for (key, raw) in event {
            if key != "kind" {
                serde_json::to_writer(&mut self.out, key.as_ref()).expect("a string serializes");
                self.out.push(b':');
                self.out.extend_from_slice(raw.get().as_bytes());
                self.out.push(b',');
            }
        }
        self.out.extend_from_slice(br#""kind":"signal"}"#);
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
