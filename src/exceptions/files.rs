//! Finding and reading the files under the exception folders (`*.toml`: detection-rules
//! format, `*.ndjson`: Kibana export, `*.txt`: value lists), then turning the raw lists into the
//! [`Catalog`]: value lists first, so that list entries resolve as their items are read.

use super::entry::read_item;
use super::value_list::ValueLists;
use super::{Catalog, ExceptionList, Problem, as_code, kibana_export};
use crate::files;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The largest exception or value list file read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A container as read, with its items not yet typed.
#[derive(Debug, Clone)]
pub(super) struct RawList {
    pub list_id: String,
    pub name: String,
    pub namespace_type: Option<String>,
    pub list_type: String,
    pub path: PathBuf,
    pub line: usize,
    pub items: Vec<RawItem>,
}

/// An item's JSON and where it starts.
#[derive(Debug, Clone)]
pub(super) struct RawItem {
    pub json: Value,
    pub line: usize,
    pub column: usize,
}

/// What one list file gave: its lists, and its problems (with the list each concerns, when
/// known: that list becomes unusable).
#[derive(Debug, Default)]
pub(super) struct Read {
    pub lists: Vec<RawList>,
    pub problems: Vec<(Option<String>, Problem)>,
}

/// Reads every file under `folders` into a catalog.
pub(super) fn load(folders: &[PathBuf]) -> Catalog {
    let mut catalog = Catalog {
        folders: folders.to_vec(),
        ..Catalog::default()
    };
    let existing: Vec<PathBuf> = folders.iter().filter(|f| f.exists()).cloned().collect();
    let walked = files::walk(&existing, &["toml", "ndjson", "txt"]);
    let skipped = walked.errors.into_iter().chain(walked.warnings);
    (catalog.problems).extend(skipped.map(|(path, message)| at_start(&path, message)));
    let mut files = walked.files;
    files.sort();
    files.dedup();
    let mut values = ValueLists::default();
    for path in files.iter().filter(|p| extension(p) == "txt") {
        let id = path.file_stem().map(|s| s.to_string_lossy().to_string());
        let added = read_text(path)
            .and_then(|text| values.add(id.unwrap_or_default(), path.clone(), &text));
        if let Err(message) = added {
            catalog.problems.push(at_start(path, message));
        }
    }
    for path in &files {
        let read = match (extension(path), read_text(path)) {
            (_, Err(message)) => {
                catalog.problems.push(at_start(path, message));
                continue;
            }
            ("toml", Ok(text)) => as_code::read(path, &text),
            ("ndjson", Ok(text)) => kibana_export::read(path, &text),
            _ => continue,
        };
        add_read(&mut catalog, read, &mut values);
    }
    catalog
}

/// Adds one file's lists (their items read now) and problems to the catalog.
fn add_read(catalog: &mut Catalog, read: Read, values: &mut ValueLists) {
    let mut broken: Vec<(String, PathBuf, usize, String)> = Vec::new();
    for (list_id, problem) in read.problems {
        if let Some(list_id) = list_id {
            broken.push((
                list_id,
                problem.path.clone(),
                problem.line,
                problem.message.clone(),
            ));
        }
        catalog.problems.push(problem);
    }
    for raw in read.lists {
        match read_list(&raw, values) {
            Ok(list) => catalog.insert(list),
            Err(problem) => {
                let why = format!(
                    "{}:{}: {}",
                    problem.path.display(),
                    problem.line,
                    problem.message
                );
                broken.push((raw.list_id.clone(), raw.path.clone(), raw.line, why));
                catalog.problems.push(problem);
            }
        }
    }
    for (list_id, path, line, why) in broken {
        catalog.break_list(&list_id, &path, line, why);
    }
}

/// A raw list with its items read; the first bad item is the list's problem.
fn read_list(raw: &RawList, values: &mut ValueLists) -> Result<ExceptionList, Problem> {
    let mut items = Vec::with_capacity(raw.items.len());
    for item in &raw.items {
        let problem = |message: String| Problem {
            path: raw.path.clone(),
            line: item.line,
            column: item.column,
            message: format!("exception list `{}`: {message}", raw.list_id),
        };
        if let Some(list_id) = item.json.get("list_id").and_then(Value::as_str)
            && list_id != raw.list_id
        {
            return Err(problem(format!(
                "the item names list `{list_id}`, not its container's"
            )));
        }
        items.push(read_item(&item.json, values).map_err(problem)?);
    }
    Ok(ExceptionList {
        list_id: raw.list_id.clone(),
        name: raw.name.clone(),
        namespace_type: raw.namespace_type.clone(),
        list_type: raw.list_type.clone(),
        items,
        path: raw.path.clone(),
        line: raw.line,
    })
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// A whole file of at most [`MAX_FILE_BYTES`], as UTF-8 text.
fn read_text(path: &Path) -> Result<String, String> {
    let bytes = files::read_limited(path, MAX_FILE_BYTES).map_err(|error| error.to_string())?;
    String::from_utf8(bytes).map_err(|_| "file is not UTF-8".to_string())
}

fn at_start(path: &Path, message: String) -> Problem {
    Problem {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message,
    }
}
