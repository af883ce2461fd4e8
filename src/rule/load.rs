//! Loading rule files and folders: finds `*.toml` files recursively, reads and parses them, and
//! checks what no single file can (a `rule_id` used twice). Bad files become diagnostics; they
//! never stop the others from loading. Only regular files are read: a FIFO, socket or device
//! named `*.toml` would block or never end, so it is skipped with a warning that names it.

use super::Loaded;
use super::diagnostic::{Diagnostic, LoadReport, line_column};
use super::parse::parse_rule_file_with;
use crate::exceptions::Catalog;
use crate::files::{self, ReadError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The largest rule file read (the corpus's largest is 53 KB), so that a stray huge file under
/// a rules folder cannot exhaust memory.
pub const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The most threads that read and parse files at once.
pub const MAX_LOAD_THREADS: usize = 8;

/// Below this many files per thread, one more thread costs more than it saves.
const MIN_FILES_PER_THREAD: usize = 64;

/// What parsing one file gives: the rule and its warnings, or its errors.
type FileResult = Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>>;

/// The extension of rule files inside folders (a file named explicitly loads whatever its name).
const RULE_EXTENSION: &str = "toml";

/// Loads one file or folder.
pub fn load_path(path: &Path) -> LoadReport {
    load_paths(&[path.to_path_buf()])
}

/// Loads files and folders (recursively); each file once, in path order. No exception list is
/// loaded: a rule that names one is an error (see [`load_paths_with`]).
pub fn load_paths(paths: &[PathBuf]) -> LoadReport {
    load_paths_with(paths, &Catalog::empty())
}

/// Loads files and folders, resolving the rules' exception lists in `catalog`; the catalog's
/// own problems (broken exception or value list files) are errors of the report.
pub fn load_paths_with(paths: &[PathBuf], catalog: &Catalog) -> LoadReport {
    let mut report = LoadReport::default();
    report
        .errors
        .extend(catalog.problems.iter().map(|problem| Diagnostic {
            path: problem.path.clone(),
            line: problem.line,
            column: problem.column,
            message: problem.message.clone(),
        }));
    let walked = files::walk(paths, &[RULE_EXTENSION]);
    let errors = walked.errors.into_iter();
    report
        .errors
        .extend(errors.map(|(path, message)| at_start(&path, message)));
    let warnings = walked.warnings.into_iter();
    report
        .warnings
        .extend(warnings.map(|(path, message)| at_start(&path, message)));
    let mut files = walked.files;
    files.sort();
    dedup_real_paths(&mut files);
    let mut loaded = Vec::with_capacity(files.len());
    for result in load_files(&files, catalog) {
        match result {
            Ok((rule, warnings)) => {
                loaded.push(rule);
                report.warnings.extend(warnings);
            }
            Err(errors) => report.errors.extend(errors),
        }
    }
    reject_duplicate_ids(&mut loaded, &mut report.errors);
    for rule in loaded {
        match rule {
            Loaded::Runnable(rule) => report.rules.push(*rule),
            Loaded::NotRunnable(rule) => report.not_runnable.push(rule),
        }
    }
    report
}

/// Keeps the first of several paths to the same file (named twice, or through a symlink).
fn dedup_real_paths(files: &mut Vec<PathBuf>) {
    let mut seen = HashSet::new();
    files.retain(|path| seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())));
}

/// Reads and parses files on a few threads; results come back in the order of `files`.
fn load_files(files: &[PathBuf], catalog: &Catalog) -> Vec<FileResult> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores
        .min(MAX_LOAD_THREADS)
        .min(files.len() / MIN_FILES_PER_THREAD)
        .max(1);
    if threads == 1 {
        return files.iter().map(|path| load_file(path, catalog)).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(|| {
                    part.iter()
                        .map(|p| load_file(p, catalog))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("rule parsing does not panic"))
            .collect()
    })
}

fn load_file(path: &Path, catalog: &Catalog) -> FileResult {
    let bytes = read_limited(path).map_err(|message| vec![at_start(path, message)])?;
    parse_rule_bytes_with(path, &bytes, catalog)
}

/// Reads a whole file of at most [`MAX_RULE_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    files::read_limited(path, MAX_RULE_FILE_BYTES).map_err(|error| match error {
        ReadError::TooLarge(_) => format!("{error}, not a rule file"),
        ReadError::Io(_) => error.to_string(),
    })
}

/// Parses a file's bytes, first checking that they are UTF-8. No exception list is loaded: a
/// rule that names one is an error (see [`parse_rule_bytes_with`]).
pub fn parse_rule_bytes(
    path: &Path,
    bytes: &[u8],
) -> Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>> {
    parse_rule_bytes_with(path, bytes, &Catalog::empty())
}

/// Parses a file's bytes, resolving its exception lists in `catalog`.
pub fn parse_rule_bytes_with(
    path: &Path,
    bytes: &[u8],
    catalog: &Catalog,
) -> Result<(Loaded, Vec<Diagnostic>), Vec<Diagnostic>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_rule_file_with(path, text, catalog),
        Err(error) => Err(vec![not_utf8(path, bytes, &error)]),
    }
}

fn not_utf8(path: &Path, bytes: &[u8], error: &std::str::Utf8Error) -> Diagnostic {
    let valid_len = error.valid_up_to();
    let valid = std::str::from_utf8(&bytes[..valid_len]).expect("the prefix was checked");
    let (line, column) = line_column(valid, valid_len);
    Diagnostic {
        path: path.to_path_buf(),
        line,
        column,
        message: format!(
            "file is not UTF-8 (invalid byte 0x{:02x})",
            bytes[valid_len]
        ),
    }
}

fn at_start(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message,
    }
}

/// Keeps the first rule of each `rule_id` and reports every later one, naming both files.
pub(super) fn reject_duplicate_ids(loaded: &mut Vec<Loaded>, errors: &mut Vec<Diagnostic>) {
    let mut first: HashMap<String, (PathBuf, (usize, usize))> = HashMap::new();
    loaded.retain(|rule| {
        let Some((path, (line, column))) = first.get(rule.rule_id()) else {
            let location = (rule.path().to_path_buf(), rule.rule_id_position());
            first.insert(rule.rule_id().to_string(), location);
            return true;
        };
        let (dup_line, dup_column) = rule.rule_id_position();
        errors.push(Diagnostic {
            path: rule.path().to_path_buf(),
            line: dup_line,
            column: dup_column,
            message: format!(
                "duplicate rule_id {:?}, also in {}:{line}:{column}",
                rule.rule_id(),
                path.display()
            ),
        });
        false
    });
}
