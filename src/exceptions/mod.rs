//! Exception lists kept as files (docs/exceptions.md): the detection-rules repository's
//! exceptions-as-code TOML, Kibana's exception-list export (NDJSON) and value lists (plain text,
//! one value per line) are read once into a [`Catalog`]; a rule's `exceptions_list` references
//! resolve to its lists by `list_id`, and [`Exceptions::clause`] is the `must_not` clause Kibana
//! builds from their items. Reads files; it neither searches nor knows what a rule is.
//!
//! `files` finds and reads the files, `as_code` and `kibana_export` read the two list formats,
//! `entry` turns one item of either into an [`Item`], `value_list` reads value lists and `dsl`
//! builds the query clauses.

mod as_code;
mod dsl;
mod entry;
mod files;
mod kibana_export;
mod value_list;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use entry::{Entry, OsType};

/// The list types a rule's reference or a container may name (Kibana's container types).
pub const LIST_TYPES: [&str; 3] = ["detection", "endpoint", "rule_default"];

/// One problem in one exception or value list file, at `path:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = (self.line, self.column);
        write!(
            f,
            "{}:{line}:{column}: {}",
            self.path.display(),
            self.message
        )
    }
}

/// One exception list: a container and its items.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionList {
    pub list_id: String,
    pub name: String,
    /// `single` or `agnostic`, when the file says.
    pub namespace_type: Option<String>,
    /// `detection`, `endpoint` or `rule_default`.
    pub list_type: String,
    pub items: Vec<Item>,
    /// Where the container is defined.
    pub path: PathBuf,
    pub line: usize,
}

/// One exception item: all its entries must match for an event to be excepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item_id: Option<String>,
    pub name: String,
    pub entries: Vec<Entry>,
    /// The item applies only to events of these operating systems (any of them).
    pub os_types: Vec<OsType>,
    /// The item stops applying at this time.
    pub expire_time: Option<DateTime<Utc>>,
    /// The item's query clauses (more than one with `os_types`), built once.
    clauses: Vec<Value>,
}

impl Item {
    /// Whether the item applies to a window ending at `at`: it has no expiry, or expires later.
    pub fn applies_at(&self, at: DateTime<Utc>) -> bool {
        self.expire_time.is_none_or(|expire| expire > at)
    }
}

/// A list a file defines but that cannot be used, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unusable {
    path: PathBuf,
    line: usize,
    why: String,
}

/// Every exception list found in the configured folders, by `list_id`.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    lists: BTreeMap<String, Result<Arc<ExceptionList>, Unusable>>,
    /// Problems in the files (each one also makes the lists it concerns unusable).
    pub problems: Vec<Problem>,
    /// The folders read, for messages.
    folders: Vec<PathBuf>,
}

/// A rule's reference that does not resolve to a usable list, as a sentence fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved(pub String);

impl Catalog {
    /// A catalog without lists: every reference is unresolved.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// Reads every exception list and value list file under `folders` (recursively). Problems
    /// are collected, never fatal: a list with a problem is unusable, the others are fine.
    pub fn load(folders: &[PathBuf]) -> Catalog {
        files::load(folders)
    }

    /// How many usable lists, and how many items they hold.
    pub fn counts(&self) -> (usize, usize) {
        let usable: Vec<&Arc<ExceptionList>> = self
            .lists
            .values()
            .filter_map(|l| l.as_ref().ok())
            .collect();
        (usable.len(), usable.iter().map(|l| l.items.len()).sum())
    }

    /// The list a rule's reference names, by `list_id`.
    pub fn list(&self, list_id: &str) -> Result<Arc<ExceptionList>, Unresolved> {
        match self.lists.get(list_id) {
            Some(Ok(list)) => Ok(Arc::clone(list)),
            Some(Err(Unusable { path, line, why })) => Err(Unresolved(format!(
                "exception list `{list_id}` ({}:{line}) cannot be used: {why}",
                path.display()
            ))),
            None => Err(Unresolved(self.not_found(list_id))),
        }
    }

    /// The sentence for a list no file defines.
    fn not_found(&self, list_id: &str) -> String {
        let folders: Vec<String> = self
            .folders
            .iter()
            .map(|folder| match folder.is_dir() {
                true => folder.display().to_string(),
                false => format!("{} (which does not exist)", folder.display()),
            })
            .collect();
        let mut text = match folders.is_empty() {
            true => format!(
                "exception list `{list_id}` is not loaded (no exception folder is configured)"
            ),
            false => format!(
                "exception list `{list_id}` is in none of the exception list files under {}",
                folders.join(", ")
            ),
        };
        if !self.problems.is_empty() {
            text.push_str(&format!(
                " ({} problems in those files; `lookout validate` lists them)",
                self.problems.len()
            ));
        }
        text
    }

    /// The list of a `list_id`, when it is usable (for tests and listings).
    pub fn get(&self, list_id: &str) -> Option<&Arc<ExceptionList>> {
        self.lists.get(list_id).and_then(|list| list.as_ref().ok())
    }

    /// Adds a list; a second list with the same `list_id` makes both unusable (which one a
    /// rule meant cannot be told).
    fn insert(&mut self, list: ExceptionList) {
        let Some(first) = self.lists.get(&list.list_id) else {
            self.lists.insert(list.list_id.clone(), Ok(Arc::new(list)));
            return;
        };
        let (first_path, first_line) = match first {
            Ok(first) => (first.path.clone(), first.line),
            Err(Unusable { path, line, .. }) => (path.clone(), *line),
        };
        let (path, line) = (list.path.display(), list.line);
        self.problems.push(Problem {
            path: list.path.clone(),
            line: list.line,
            column: 1,
            message: format!(
                "exception list `{}` is defined twice, also at {}:{first_line}",
                list.list_id,
                first_path.display()
            ),
        });
        let why = format!(
            "it is defined twice ({}:{first_line} and {path}:{line})",
            first_path.display()
        );
        self.break_list(&list.list_id, &first_path, first_line, why);
    }

    /// Marks a list unusable (one of its parts has a problem, already recorded).
    fn break_list(&mut self, list_id: &str, path: &Path, line: usize, why: String) {
        let path = path.to_path_buf();
        self.lists
            .insert(list_id.to_string(), Err(Unusable { path, line, why }));
    }
}

/// The exception lists one rule applies, resolved when it loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exceptions {
    lists: Vec<Arc<ExceptionList>>,
}

impl Exceptions {
    /// The exceptions of these lists, in the rule's order.
    pub fn new(lists: Vec<Arc<ExceptionList>>) -> Exceptions {
        Exceptions { lists }
    }

    /// Whether the rule has no exception lists.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    pub fn lists(&self) -> &[Arc<ExceptionList>] {
        &self.lists
    }

    /// The clause an excepted event matches, for the `must_not` of a window ending at `at`:
    /// every item that has not expired by then, ORed (Kibana's exception filter, negated by
    /// its caller). `None` when no item applies.
    pub fn clause(&self, at: DateTime<Utc>) -> Option<Value> {
        let should: Vec<Value> = (self.lists.iter())
            .flat_map(|list| &list.items)
            .filter(|item| item.applies_at(at))
            .flat_map(|item| item.clauses.iter().cloned())
            .collect();
        (!should.is_empty()).then(|| json!({"bool": {"should": should}}))
    }
}
