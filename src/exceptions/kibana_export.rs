//! Kibana's exception-list export (`POST /api/exception_lists/_export`, or the exception lists
//! inside a rule export): NDJSON, one container or item per line, and a last line of export
//! details. Rule lines (a rules export) and the details line are skipped; items are attached
//! to the container with their `list_id`.

use super::Problem;
use super::as_code::{container_list, is_container_type};
use super::files::{RawItem, Read};
use serde_json::Value;
use std::path::Path;

/// Reads one file's lists.
pub(super) fn read(path: &Path, text: &str) -> Read {
    let mut read = Read::default();
    let mut items: Vec<(String, RawItem)> = Vec::new();
    let problem = |line: usize, message: String| Problem {
        path: path.to_path_buf(),
        line,
        column: 1,
        message,
    };
    for (n, text) in text.lines().enumerate() {
        let line = n + 1;
        if text.trim().is_empty() {
            continue;
        }
        let json: Value = match serde_json::from_str(text) {
            Ok(json) => json,
            Err(error) => {
                read.problems
                    .push((None, problem(line, format!("not JSON: {error}"))));
                continue;
            }
        };
        match line_kind(&json) {
            LineKind::Skipped => {}
            LineKind::Item(list_id) => {
                let column = 1;
                items.push((list_id, RawItem { json, line, column }));
            }
            LineKind::Container => match container_list(&json) {
                Ok(list) => read.lists.push(super::files::RawList {
                    path: path.to_path_buf(),
                    line,
                    ..list
                }),
                Err(message) => read.problems.push((None, problem(line, message))),
            },
            LineKind::Unknown(message) => read.problems.push((None, problem(line, message))),
        }
    }
    for (list_id, item) in items {
        match read.lists.iter_mut().find(|list| list.list_id == list_id) {
            Some(list) => list.items.push(item),
            None => {
                let message = format!(
                    "an item of exception list `{list_id}`, whose container is not in this file"
                );
                read.problems
                    .push((Some(list_id), problem(item.line, message)));
            }
        }
    }
    read
}

enum LineKind {
    Skipped,
    /// An item, with its `list_id`.
    Item(String),
    Container,
    Unknown(String),
}

fn line_kind(json: &Value) -> LineKind {
    let Some(object) = json.as_object() else {
        return LineKind::Unknown("a line must be a JSON object".into());
    };
    let is_details = object
        .keys()
        .any(|key| key.starts_with("exported_") || key.starts_with("missing_"));
    if is_details || object.contains_key("rule_id") {
        return LineKind::Skipped;
    }
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let list_id = object.get("list_id").and_then(Value::as_str);
    match (kind, list_id) {
        (_, None) => {
            LineKind::Unknown("a line without `list_id` (neither a list nor an item)".into())
        }
        ("simple", Some(list_id)) => LineKind::Item(list_id.to_string()),
        (kind, Some(_)) if is_container_type(kind) => LineKind::Container,
        (kind, Some(_)) => LineKind::Unknown(format!(
            "`type` {kind:?} is neither an exception list type nor \"simple\" (an item)"
        )),
    }
}
