//! The shell scripts find lookout where cargo puts it: `scripts/lib/cargo.sh` names the target
//! directory cargo uses (`CARGO_TARGET_DIR` included), and `scripts/demo` and `scripts/bench`
//! run the binary from there, never from a fixed `target/` path.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir(cargo_target_dir: Option<&str>) -> String {
    let mut command = Command::new("bash");
    command
        .current_dir(root())
        .args(["-c", "source scripts/lib/cargo.sh && cargo_target_dir"]);
    command.env_remove("CARGO_TARGET_DIR");
    if let Some(dir) = cargo_target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    let output = command.output().expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn the_target_directory_follows_cargo_target_dir() {
    let elsewhere = tempfile::tempdir().expect("a temporary folder");
    let dir = elsewhere.path().display().to_string();
    assert_eq!(target_dir(Some(&dir)), dir);
}

#[test]
fn demo_and_bench_run_lookout_from_the_target_directory_cargo_uses() {
    for script in ["scripts/demo", "scripts/bench"] {
        let text = std::fs::read_to_string(root().join(script)).expect("the script exists");
        assert!(
            text.contains("source scripts/lib/cargo.sh")
                && text.contains("$(cargo_target_dir)/release/lookout"),
            "{script} must run the lookout cargo built, wherever cargo put it"
        );
        assert!(
            !text.contains("target/release/lookout\"") && !text.contains("cp target/"),
            "{script} names a fixed target/ path"
        );
    }
}
