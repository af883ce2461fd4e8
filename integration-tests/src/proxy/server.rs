//! A test server of the reliability tests' own (osmem-server, the same in-memory server
//! `scripts/test` starts), so that a test can stop and start it mid-execution without
//! disturbing the shared server other tests use. Its data lives in memory: after a restart the
//! test loads it again with [`OwnServer::request`] / [`OwnServer::bulk`].

use super::http::{self, Request};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Names the osmem-server binary directly (otherwise it is found through the project's .venv).
pub const OSMEM_BIN_VAR: &str = "LOOKOUT_OSMEM_BIN";

/// A running osmem-server process; dropping it kills the process.
pub struct OwnServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// The server binary: [`OSMEM_BIN_VAR`], else what the `.venv` package resolves.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os(OSMEM_BIN_VAR) {
        return PathBuf::from(path);
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let output = Command::new(&python)
        .args([
            "-c",
            "import osmem_server; print(osmem_server.resolve_binary())",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} to find osmem-server ({e}); set {OSMEM_BIN_VAR}",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "{} cannot find osmem-server: {}; run scripts/test once or set {OSMEM_BIN_VAR}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

impl OwnServer {
    /// Starts a fresh, empty server on a free loopback port.
    pub fn start() -> OwnServer {
        let mut child = Command::new(binary())
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("osmem-server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines
            .read_line(&mut first)
            .expect("osmem-server prints its URL");
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        let announced: Value = serde_json::from_str(first.trim())
            .unwrap_or_else(|e| panic!("osmem-server's first line {first:?} is not JSON: {e}"));
        let url = announced["url"]
            .as_str()
            .expect("osmem-server announces a url")
            .trim_end_matches('/')
            .to_string();
        OwnServer {
            child: Some(child),
            url,
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
