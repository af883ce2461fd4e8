//! A real SMTP server for the email connector's tests: `integration-tests/smtp_server.py`
//! (aiosmtpd, installed into the project's `.venv` by `scripts/test`), started on a free
//! loopback port with STARTTLS (or implicit TLS) and AUTH, storing each message as a file.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Names the Python interpreter that has aiosmtpd (otherwise the project's `.venv`).
pub const PYTHON_VAR: &str = "LOOKOUT_SMTP_PYTHON";
/// The user and password the server accepts.
pub const USER: &str = "lookout";
pub const PASSWORD: &str = "smtp-password-for-tests";

/// A running SMTP server; dropping it stops it.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    /// The PEM certificate the server presents (lookout's `ca_file`).
    pub ca_file: PathBuf,
    dir: PathBuf,
}

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os(PYTHON_VAR) {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

impl SmtpServer {
    /// Starts a server storing messages in `dir`; `implicit_tls`: TLS from the first byte.
    pub fn start(dir: &Path, implicit_tls: bool) -> SmtpServer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp_server.py");
        let mut command = Command::new(python());
        command
            .arg(&script)
            .args([
                "--dir",
                &dir.display().to_string(),
                "--user",
                USER,
                "--password",
                PASSWORD,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if implicit_tls {
            command.arg("--implicit-tls");
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start the SMTP test server with {} ({e}); run scripts/test once or set {PYTHON_VAR}", python().display())
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the SMTP server prints its port");
        let announced: Value = serde_json::from_str(first.trim()).unwrap_or_else(|e| {
            panic!("the SMTP test server did not start (is aiosmtpd installed? scripts/test installs it): {first:?}: {e}")
        });
        SmtpServer {
            child,
            port: announced["port"].as_u64().expect("a port") as u16,
            ca_file: PathBuf::from(announced["ca"].as_str().expect("a certificate")),
            dir: dir.to_path_buf(),
        }
    }

    /// The messages stored so far, as text, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
