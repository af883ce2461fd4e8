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
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "-p",
                "lookout",
                "--bin",
                "lookout",
                "--message-format=json",
            ])
            .current_dir(&root);
        // Cargo gives this test process the variables of the package under test
        // (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, ...). Build scripts such as ring's rerun when
        // those change, so passing them on would rebuild ring and what uses it here, and again
        // in the next `cargo test` (about 20 s each time, twice per server in scripts/test).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if is_package_variable(&name) {
                build.env_remove(name.as_ref());
            }
        }
        let output = build.output().expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build of the lookout binary failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .next_back()
            .expect("cargo names the lookout executable")
    })
    .clone()
}

/// The variables cargo sets for the package whose test runs, not for a build it starts.
fn is_package_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
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

/// `lookout` in `dir` against `server`, with the lookout indices `<base>-alerts`, `<base>-state`
/// and `<base>-executions`.
pub fn against(
    dir: &std::path::Path,
    server: &integration_tests::TestServer,
    base: &str,
) -> Command {
    let mut command = lookout(dir);
    command
        .env("LOOKOUT_ES_URL", &server.url)
        .env("LOOKOUT_ALERTS_INDEX", format!("{base}-alerts"))
        .env("LOOKOUT_STATE_INDEX", format!("{base}-state"))
        .env("LOOKOUT_EXECUTIONS_INDEX", format!("{base}-executions"));
    command
}

/// Runs `lookout args` [`against`] the server; returns stdout, failing on a non-zero exit.
pub fn ok(
    dir: &std::path::Path,
    server: &integration_tests::TestServer,
    base: &str,
    args: &[&str],
) -> String {
    let output = against(dir, server, base)
        .args(args)
        .output()
        .expect("lookout runs");
    let (out, err) = text(&output);
    assert!(output.status.success(), "lookout {args:?}: {out}{err}");
    out
}

/// Runs `future` to its end on a runtime of its own (the operator tests are not async).
pub fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// The instant an RFC 3339 text names.
pub fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("valid")
        .to_utc()
}

/// What an alert of an EQL rule is: `shell` (a sequence's own alert), `block` (a building block
/// of a sequence) or `event`.
pub fn eql_alert_kind(alert: &serde_json::Value) -> &'static str {
    match (
        alert.get("kibana.alert.group.id"),
        alert.get("kibana.alert.group.index"),
    ) {
        (Some(_), Some(_)) => "block",
        (Some(_), None) => "shell",
        _ => "event",
    }
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

/// Writes a query rule file `rules/<rule_id>.toml` under `dir`.
pub fn write_rule(
    dir: &std::path::Path,
    rule_id: &str,
    index: &str,
    interval: &str,
    from: &str,
    max_signals: u32,
) {
    let text = format!(
        "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\nupdated_date = \"2026/01/01\"\n\n\
         [rule]\nauthor = [\"lookout\"]\ndescription = \"Operator test rule.\"\nfrom = \"{from}\"\n\
         index = [\"{index}\"]\ninterval = \"{interval}\"\nlanguage = \"kuery\"\nname = \"Ops {rule_id}\"\n\
         risk_score = 21\nrule_id = \"{rule_id}\"\nseverity = \"low\"\ntype = \"query\"\nmax_signals = {max_signals}\n\
         query = 'event.action: \"AddUserToGroup\"'\n"
    );
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir rules");
    std::fs::write(rules.join(format!("{rule_id}.toml")), text).expect("write the rule");
}

/// `count` copies of the AddUserToGroup sample, one per second backwards from `newest`, each
/// with its own request id.
pub fn add_user_events(
    count: usize,
    newest: chrono::DateTime<chrono::Utc>,
) -> Vec<serde_json::Value> {
    let sample = integration_tests::ecs_samples()
        .into_iter()
        .find(|doc| doc["event"]["action"] == "AddUserToGroup")
        .expect("the fixtures hold an AddUserToGroup event");
    (0..count)
        .map(|i| {
            let mut doc = sample.clone();
            let at = newest - chrono::TimeDelta::seconds(i64::try_from(i).expect("small"));
            doc["@timestamp"] =
                serde_json::json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            doc["event"]["id"] = serde_json::json!(format!("ops-{i}"));
            doc
        })
        .collect()
}

/// The value of the first metric line starting with `prefix` (labels included).
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Sends a signal (`-HUP`, `-TERM`) to a process with the system's `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {name} {pid}");
}

/// A running `lookout run` whose stderr lines are collected as they come.
pub struct Daemon {
    pub child: std::process::Child,
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(mut command: Command) -> Daemon {
        command
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        let mut child = command.spawn().expect("lookout run starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().expect("not poisoned").push(line);
            }
        });
        Daemon { child, lines }
    }

    /// Waits (at most `WAIT`) for a stderr line containing `needle` and returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        wait_until(&format!("a log line containing {needle:?}"), || {
            self.lines
                .lock()
                .expect("not poisoned")
                .iter()
                .find(|l| l.contains(needle))
                .cloned()
        })
    }

    /// Every stderr line so far.
    pub fn log(&self) -> String {
        self.lines.lock().expect("not poisoned").join("\n")
    }

    /// The endpoint's address from the start-up log line.
    pub fn endpoint(&self) -> String {
        let line = self.wait_for_line("serving /healthz");
        let address = line
            .split("address=")
            .nth(1)
            .expect("the line names the address");
        format!(
            "http://{}",
            address.split_whitespace().next().unwrap_or(address)
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            drop(self.child.kill());
            drop(self.child.wait());
        }
    }
}

/// The longest a test waits for the daemon to reach a state (a bound, not a timing assertion).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Polls `probe` until it gives a value, failing after [`WAIT`] with `what`.
pub fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `GET url` and the body, blocking.
pub fn http_get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let response = reqwest::get(url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}
