//! The detection-rules repository's exceptions-as-code files (`[metadata]`, then
//! `[[exceptions]]` each with an `[exceptions.container]` and `[[exceptions.items]]` with their
//! `[[exceptions.items.entries]]`): containers and raw items with their positions. The items
//! themselves are read by `entry`, with the value lists at hand.

use super::files::{RawItem, RawList, Read};
use super::{LIST_TYPES, Problem};
use crate::files::line_column;
use serde_json::{Map, Value};
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// Reads one file's lists; a TOML error makes the whole file a problem.
pub(super) fn read(path: &Path, text: &str) -> Read {
    let mut read = Read::default();
    let problem = |offset: usize, message: String| {
        let (line, column) = line_column(text, offset);
        let path = path.to_path_buf();
        Problem {
            path,
            line,
            column,
            message,
        }
    };
    let (json, spanned) = match (toml::from_str::<Value>(text), DeTable::parse(text)) {
        (Ok(json), Ok(spanned)) => (json, spanned),
        (Err(error), _) => {
            let at = error.span().map_or(0, |span| span.start);
            let message = format!("TOML syntax error: {}", error.message().trim_end());
            read.problems.push((None, problem(at, message)));
            return read;
        }
        (_, Err(error)) => {
            let at = error.span().map_or(0, |span| span.start);
            let message = format!("TOML syntax error: {}", error.message().trim_end());
            read.problems.push((None, problem(at, message)));
            return read;
        }
    };
    let Some(DeValue::Array(exceptions)) = spanned.get_ref().get("exceptions").map(|v| v.get_ref())
    else {
        let message =
            "no `[[exceptions]]` table: not an exception list file (detection-rules format)";
        read.problems.push((None, problem(0, message.to_string())));
        return read;
    };
    for (n, exception) in exceptions.iter().enumerate() {
        let DeValue::Table(table) = exception.get_ref() else {
            let message = "`exceptions` must hold tables".to_string();
            read.problems
                .push((None, problem(exception.span().start, message)));
            continue;
        };
        let container_at = table
            .get("container")
            .map_or(exception.span().start, |c| c.span().start);
        let container = &json["exceptions"][n]["container"];
        let list = match container_list(container) {
            Ok(list) => list,
            Err(message) => {
                read.problems.push((None, problem(container_at, message)));
                continue;
            }
        };
        let (line, _) = line_column(text, container_at);
        let items = item_positions(table)
            .into_iter()
            .enumerate()
            .map(|(m, at)| {
                let (line, column) = line_column(text, at);
                let json = json["exceptions"][n]["items"][m].clone();
                RawItem { json, line, column }
            })
            .collect();
        read.lists.push(RawList {
            path: path.to_path_buf(),
            line,
            items,
            ..list
        });
    }
    read
}

/// The byte offsets of `[[exceptions.items]]` tables, in order.
fn item_positions(exception: &DeTable<'_>) -> Vec<usize> {
    match exception.get("items").map(|items| items.get_ref()) {
        Some(DeValue::Array(items)) => items.iter().map(|item| item.span().start).collect(),
        _ => Vec::new(),
    }
}

/// The container's fields (path, line and items are filled in by the caller).
pub(super) fn container_list(container: &Value) -> Result<RawList, String> {
    let object = container
        .as_object()
        .ok_or("an `[exceptions.container]` table is required")?;
    let list_id = text(object, "list_id")?.ok_or("the container has no `list_id`")?;
    let list_type = text(object, "type")?.unwrap_or_else(|| "detection".to_string());
    if !is_container_type(&list_type) {
        return Err(format!(
            "container `type` must be one of {}, found {list_type:?}",
            LIST_TYPES.join(", ")
        ));
    }
    let namespace_type = text(object, "namespace_type")?;
    if let Some(namespace) = &namespace_type
        && namespace != "single"
        && namespace != "agnostic"
    {
        return Err(format!(
            "`namespace_type` must be \"single\" or \"agnostic\", found {namespace:?}"
        ));
    }
    Ok(RawList {
        name: text(object, "name")?.unwrap_or_else(|| list_id.clone()),
        list_id,
        namespace_type,
        list_type,
        path: Default::default(),
        line: 0,
        items: Vec::new(),
    })
}

/// Kibana's container types (the endpoint family included).
pub(super) fn is_container_type(kind: &str) -> bool {
    LIST_TYPES.contains(&kind) || kind.starts_with("endpoint")
}

fn text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("`{key}` must be a string, found {other}")),
    }
}
