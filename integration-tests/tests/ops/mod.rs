//! Helpers for the operator tests: builds the `lookout` binary once per test binary and runs it
//! with a controlled environment (no inherited `LOOKOUT_*` or `RUST_LOG`), capturing every line.

#![allow(dead_code)] // each test binary uses some of these helpers

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `lookout` binary of this workspace, built (once) with the same cargo that runs the tests.
pub fn lookout_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let output = Command::new(cargo)
            .args([
                "build",
                "-p",
                "lookout",
                "--bin",
                "lookout",
                "--message-format=json",
            ])
            .current_dir(&root)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build of the lookout binary failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .last()
            .expect("cargo names the lookout executable")
    })
    .clone()
}

/// A `lookout` command with an empty `LOOKOUT_*` environment, run in `dir`.
pub fn lookout(dir: &std::path::Path) -> Command {
    let mut command = Command::new(lookout_bin());
    for (name, _) in std::env::vars() {
        if name.starts_with("LOOKOUT_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.current_dir(dir);
    command
}

/// Stdout and stderr of a finished command, as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The server URL without `user:password@` and the userinfo as `(user, password)`, if any.
pub fn split_userinfo(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return (url.to_string(), None);
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    (
        format!("{scheme}://{host}"),
        Some((user.to_string(), password.to_string())),
    )
}

/// Environment variables giving a test its own lookout indices.
pub fn own_indices(prefix: &str) -> Vec<(String, String)> {
    let base = integration_tests::unique_name(prefix);
    vec![
        ("LOOKOUT_ALERTS_INDEX".into(), format!("{base}-alerts")),
        ("LOOKOUT_STATE_INDEX".into(), format!("{base}-state")),
        (
            "LOOKOUT_EXECUTIONS_INDEX".into(),
            format!("{base}-executions"),
        ),
    ]
}
