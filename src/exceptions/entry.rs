//! One exception item, as both list formats write it (the fields of Kibana's exception-item
//! API), read from JSON into an [`Item`] with its entries typed and its value lists resolved.
//! Pure apart from the value lists it is handed.

use super::Item;
use super::dsl::item_clauses;
use super::value_list::ValueLists;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One condition of an item (Kibana's entry types). Every field is a full dotted name, except
/// inside [`Entry::Nested`], whose entries name fields relative to the nested field.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The field holds the value (`match_phrase`).
    Match {
        field: String,
        value: String,
        excluded: bool,
    },
    /// The field holds one of the values.
    MatchAny {
        field: String,
        values: Vec<String>,
        excluded: bool,
    },
    /// The field matches a wildcard pattern (`*`, `?`).
    Wildcard {
        field: String,
        value: String,
        excluded: bool,
    },
    /// The field exists.
    Exists { field: String, excluded: bool },
    /// The field holds one of the values of a value list.
    List {
        field: String,
        list_id: String,
        list_type: ListType,
        values: Arc<Vec<String>>,
        excluded: bool,
    },
    /// One object of a `nested` field matches every inner entry.
    Nested { field: String, entries: Vec<Entry> },
}

/// The value-list types lookout applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListType {
    Keyword,
    Ip,
}

impl ListType {
    pub fn as_str(self) -> &'static str {
        match self {
            ListType::Keyword => "keyword",
            ListType::Ip => "ip",
        }
    }
}

/// The operating systems an item may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsType {
    Windows,
    Linux,
    Macos,
}

impl OsType {
    pub fn as_str(self) -> &'static str {
        match self {
            OsType::Windows => "windows",
            OsType::Linux => "linux",
            OsType::Macos => "macos",
        }
    }

    fn parse(text: &str) -> Option<OsType> {
        Some(match text {
            "windows" => OsType::Windows,
            "linux" => OsType::Linux,
            "macos" => OsType::Macos,
            _ => return None,
        })
    }
}

/// Reads one item (the JSON object of an item line or `[[exceptions.items]]` table).
pub(super) fn read_item(json: &Value, values: &mut ValueLists) -> Result<Item, String> {
    let object = json.as_object().ok_or("an item must be an object")?;
    if let Some(kind) = object.get("type").and_then(Value::as_str)
        && kind != "simple"
    {
        return Err(format!("item `type` must be \"simple\", found {kind:?}"));
    }
    let entries = match object.get("entries") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        _ => return Err("an item needs a non-empty `entries` array".into()),
    };
    let mut read = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        let entry =
            read_entry(entry, false, values).map_err(|e| format!("entry {}: {e}", n + 1))?;
        read.push(entry);
    }
    let os_types = read_os_types(object)?;
    let mut item = Item {
        item_id: optional_text(object, "item_id")?,
        name: optional_text(object, "name")?.unwrap_or_default(),
        entries: read,
        os_types,
        expire_time: read_expire_time(object)?,
        clauses: Vec::new(),
    };
    item.clauses = item_clauses(&item);
    Ok(item)
}

fn read_os_types(object: &Map<String, Value>) -> Result<Vec<OsType>, String> {
    let Some(value) = object.get("os_types") else {
        return Ok(Vec::new());
    };
    let items = value.as_array().ok_or("`os_types` must be an array")?;
    items
        .iter()
        .map(|os| {
            os.as_str().and_then(OsType::parse).ok_or_else(|| {
                format!("`os_types` holds {os}; use \"windows\", \"linux\" or \"macos\"")
            })
        })
        .collect()
}

/// `expire_time`: an RFC 3339 time (a TOML datetime counts too); absent or null means never.
fn read_expire_time(object: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = optional_text(object, "expire_time")? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|error| format!("`expire_time` {text:?} is not an RFC 3339 time ({error})"))
}

/// A string field that may be absent or null; a TOML datetime is taken as its text.
fn optional_text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Object(datetime)) if datetime.len() == 1 => {
            match datetime.values().next().and_then(Value::as_str) {
                Some(text) => Ok(Some(text.to_string())),
                None => Err(format!("`{key}` must be a string")),
            }
        }
        Some(other) => Err(format!("`{key}` must be a string, found {other}")),
    }
}

fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    match optional_text(object, key)? {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(format!("`{key}` is missing or empty")),
    }
}

/// One entry; `inside_nested` restricts the types to those a nested entry may hold.
fn read_entry(json: &Value, inside_nested: bool, values: &mut ValueLists) -> Result<Entry, String> {
    let object = json.as_object().ok_or("an entry must be an object")?;
    let kind = required_text(object, "type")?;
    let field = required_text(object, "field")?;
    if inside_nested && !["match", "match_any", "exists"].contains(&kind.as_str()) {
        return Err(format!(
            "a nested entry may be match, match_any or exists, found {kind:?}"
        ));
    }
    if kind == "nested" {
        return read_nested(object, field, values);
    }
    let excluded = match required_text(object, "operator")?.as_str() {
        "included" => false,
        "excluded" => true,
        other => {
            return Err(format!(
                "`operator` must be included or excluded, found {other:?}"
            ));
        }
    };
    Ok(match kind.as_str() {
        "match" => Entry::Match {
            value: required_text(object, "value")?,
            field,
            excluded,
        },
        "wildcard" => Entry::Wildcard {
            value: required_text(object, "value")?,
            field,
            excluded,
        },
        "match_any" => Entry::MatchAny {
            values: text_values(object)?,
            field,
            excluded,
        },
        "exists" => Entry::Exists { field, excluded },
        "list" => read_list(object, field, excluded, values)?,
        other => {
            return Err(format!(
                "unknown entry type {other:?} (use match, match_any, wildcard, exists, list or nested)"
            ));
        }
    })
}

fn read_nested(
    object: &Map<String, Value>,
    field: String,
    values: &mut ValueLists,
) -> Result<Entry, String> {
    let entries = match object.get("entries") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        _ => return Err("a nested entry needs a non-empty `entries` array".into()),
    };
    let entries = entries
        .iter()
        .map(|entry| read_entry(entry, true, values))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("in nested `{field}`: {error}"))?;
    Ok(Entry::Nested { field, entries })
}

/// `value` of a match_any entry: a non-empty array of strings.
fn text_values(object: &Map<String, Value>) -> Result<Vec<String>, String> {
    let items = match object.get("value") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err("a match_any entry needs a non-empty `value` array".into()),
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(text) => Ok(text.clone()),
            other => Err(format!("`value` must hold strings, found {other}")),
        })
        .collect()
}

/// A list entry: `list = {id, type}` (`list_vals` in some detection-rules files).
fn read_list(
    object: &Map<String, Value>,
    field: String,
    excluded: bool,
    values: &mut ValueLists,
) -> Result<Entry, String> {
    let list = object
        .get("list")
        .or_else(|| object.get("list_vals"))
        .and_then(Value::as_object)
        .ok_or("a list entry needs `list = { id, type }`")?;
    let list_id = required_text(list, "id")?;
    let list_type = match required_text(list, "type")?.as_str() {
        "keyword" => ListType::Keyword,
        "ip" => ListType::Ip,
        other => {
            return Err(format!(
                "value list `{list_id}` has type {other:?}; lookout applies keyword and ip lists"
            ));
        }
    };
    let values = values.typed(&list_id, list_type)?;
    Ok(Entry::List {
        field,
        list_id,
        list_type,
        values,
        excluded,
    })
}
