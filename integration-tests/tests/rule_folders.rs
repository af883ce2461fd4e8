//! Loading rule folders from the file system: only regular files are read. A FIFO named
//! `*.toml` (which would block the reader until something writes to it) is skipped with a
//! warning that names it, and the other rules load; named on its own it is an error. Exception
//! folders are walked the same way. No server.

use lookout::{ExceptionCatalog, load_paths};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// How long loading may take before the test calls it blocked.
const LOAD_LIMIT: Duration = Duration::from_secs(20);

fn seed_rule() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/aws_iam_group_creation.toml")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Loads `paths` on another thread, failing the test if it does not finish in time.
fn load_in_time(paths: Vec<PathBuf>) -> lookout::LoadReport {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(load_paths(&paths)));
    receive
        .recv_timeout(LOAD_LIMIT)
        .expect("loading the rule folder finished (a FIFO must not block it)")
}

#[cfg(unix)]
#[test]
fn a_fifo_named_toml_in_a_rules_folder_is_skipped_with_a_warning() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    std::fs::copy(seed_rule(), folder.path().join("group.toml")).expect("copy a rule");
    let fifo = folder.path().join("pipe.toml");
    mkfifo(&fifo);

    let report = load_in_time(vec![folder.path().to_path_buf()]);

    assert_eq!(report.rules.len(), 1, "{:?}", report.errors);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("pipe.toml") && w.contains("not a regular file (a FIFO), skipped")),
        "{warnings:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_named_on_its_own_is_an_error() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let fifo = folder.path().join("pipe.toml");
    mkfifo(&fifo);

    let report = load_in_time(vec![fifo]);

    assert!(report.rules.is_empty());
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("not a regular file (a FIFO)")),
        "{errors:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_an_exception_folder_is_skipped_and_named() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(folder.path().join("scanners.txt"), "192.0.2.1\n").expect("a value list");
    let fifo = folder.path().join("pipe.txt");
    mkfifo(&fifo);

    let folders = vec![folder.path().to_path_buf()];
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(ExceptionCatalog::load(&folders)));
    let catalog = receive
        .recv_timeout(LOAD_LIMIT)
        .expect("loading the exception folder finished (a FIFO must not block it)");

    let problems: Vec<String> = catalog.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("pipe.txt") && problems[0].contains("not a regular file (a FIFO)"),
        "{problems:?}"
    );
}
