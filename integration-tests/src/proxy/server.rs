//! A test server of the reliability tests' own that speaks the shared server's API (noida-db for
//! Elasticsearch's, osmem-server for OpenSearch's; `scripts/test` installs both), so that a test
//! can stop and start it mid-execution without disturbing the shared server other tests use. Each start is empty (osmem-server
//! keeps its data in memory, noida-db gets a fresh data folder): after a restart the test loads
//! its data again with [`OwnServer::request`] / [`OwnServer::bulk`].

use super::http::{self, Request};
use crate::TestServer;
use crate::server::Api;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Names the osmem-server binary directly (otherwise it is found through the project's .venv).
pub const OSMEM_BIN_VAR: &str = "LOOKOUT_OSMEM_BIN";
/// Names the noida-db binary directly (otherwise it is found through the project's .venv).
pub const NOIDA_BIN_VAR: &str = "LOOKOUT_NOIDA_BIN";

/// The two test servers `scripts/test` installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Osmem,
    Noida,
}

/// A running test server process; dropping it kills the process.
pub struct OwnServer {
    child: Option<Child>,
    /// noida-db's data folder, removed on drop.
    _data: Option<tempfile::TempDir>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The API it speaks.
    pub api: Api,
}

/// The server binary: the variable, else what Python code run in the `.venv` prints.
fn binary(var: &str, name: &str, locate: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let output = Command::new(&python)
        .args(["-c", locate])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} to find {name} ({e}); set {var}",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "{} cannot find {name}: {}; run scripts/test once or set {var}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Reads lines of the child's stdout until `url_of` finds the URL in one, then keeps draining
/// the rest so that the server never blocks on a full pipe.
fn announced_url(child: &mut Child, name: &str, url_of: fn(&str) -> Option<String>) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = lines
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading {name}'s output: {e}"));
        assert!(read > 0, "{name} exited before it printed its URL: {seen}");
        if let Some(url) = url_of(&line) {
            std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
            return url.trim_end_matches('/').to_string();
        }
        seen.push_str(&line);
    }
}

/// osmem-server's first line is JSON with the URL.
fn osmem_url(line: &str) -> Option<String> {
    let announced: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("osmem-server's first line {line:?} is not JSON: {e}"));
    Some(announced["url"].as_str()?.to_string())
}

/// noida-db prints `  elasticsearch  http://127.0.0.1:PORT` once it listens.
fn noida_url(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("elasticsearch")?;
    Some(rest.trim().to_string())
}

impl OwnServer {
    /// Starts a fresh, empty test server that speaks the shared server's API (noida-db for
    /// Elasticsearch's, osmem-server for OpenSearch's) on a free loopback port.
    pub async fn start() -> OwnServer {
        match TestServer::connect().info().await.api {
            Api::Elasticsearch => Self::start_kind(Kind::Noida),
            Api::OpenSearch => Self::start_kind(Kind::Osmem),
        }
    }

    fn start_kind(kind: Kind) -> OwnServer {
        match kind {
            Kind::Osmem => {
                let bin = binary(
                    OSMEM_BIN_VAR,
                    "osmem-server",
                    "import osmem_server; print(osmem_server.resolve_binary())",
                );
                let mut child = Command::new(bin)
                    .args(["-addr", "127.0.0.1:0", "-no-stdin-watch"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("osmem-server starts");
                let url = announced_url(&mut child, "osmem-server", osmem_url);
                OwnServer {
                    child: Some(child),
                    _data: None,
                    url,
                    api: Api::OpenSearch,
                }
            }
            Kind::Noida => {
                let bin = binary(
                    NOIDA_BIN_VAR,
                    "noida-db",
                    "import noida_db, pathlib; print(pathlib.Path(noida_db.__file__).parent / 'noida-db')",
                );
                let data = tempfile::tempdir().expect("a data folder for noida-db");
                let mut child = Command::new(bin)
                    .args(["start", "--only", "elasticsearch", "--host", "127.0.0.1"])
                    .args(["--elasticsearch-port", "0", "--data-dir"])
                    .arg(data.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("noida-db starts");
                let url = announced_url(&mut child, "noida-db", noida_url);
                OwnServer {
                    child: Some(child),
                    _data: Some(data),
                    url,
                    api: Api::Elasticsearch,
                }
            }
        }
    }

    /// Kills the server (its data is lost) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one JSON request and returns the status and body (`Null` when empty, a string
    /// when not JSON).
    pub async fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = Request {
            method: method.to_string(),
            target: path.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        self.send(request).await
    }

    /// Indexes documents (with ids when given) with `create` actions, refreshed.
    pub async fn bulk(&self, index: &str, docs: &[(Option<String>, Value)]) {
        let mut body = String::new();
        for (id, doc) in docs {
            let action = match id {
                Some(id) => json!({"create": {"_index": index, "_id": id}}),
                None => json!({"create": {"_index": index}}),
            };
            body.push_str(&format!("{action}\n{doc}\n"));
        }
        let request = Request {
            method: "POST".into(),
            target: "/_bulk?refresh=true".into(),
            headers: vec![("content-type".into(), "application/x-ndjson".into())],
            body: body.into_bytes(),
        };
        let (status, answer) = self.send(request).await;
        assert!(
            status == 200 && answer["errors"] == json!(false),
            "bulk into {index}: {answer}"
        );
    }

    async fn send(&self, request: Request) -> (u16, Value) {
        let addr = self.url.trim_start_matches("http://");
        let response = http::send(addr, &request).await.unwrap_or_else(|e| {
            panic!("{} {} on {}: {e}", request.method, request.target, self.url)
        });
        let text = String::from_utf8_lossy(&response.body);
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
        };
        (response.status, value)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}
