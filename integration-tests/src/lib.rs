//! The harness behind lookout's integration tests: finds the live server named by
//! [`SERVER_URL_VAR`], gives each test its own index names, and loads the shared CloudTrail
//! fixtures. It talks to the server with the `elasticsearch` crate directly, not through lookout,
//! so that a bug in lookout's own client cannot hide itself from the tests.

pub mod bench;
pub mod proxy;
pub mod receiver;
pub mod server;
pub mod smtp;

use chrono::{DateTime, SecondsFormat, Utc};
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::transport::Transport;
use elasticsearch::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The environment variable that holds the server's URL (`scripts/test` sets it).
pub const SERVER_URL_VAR: &str = "LOOKOUT_TEST_ES_URL";
/// Overrides where the shared test data (`../shared` beside the project) is.
pub const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";
/// How long one harness request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The URL of the live server. A missing variable is a failure that says how to fix it, never a
/// silent skip.
pub fn server_url() -> String {
    match std::env::var(SERVER_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!(
            "{SERVER_URL_VAR} is not set: the integration tests need a live server. Run \
             scripts/test (it starts the test server), or set {SERVER_URL_VAR} to an \
             Elasticsearch URL such as http://elastic:changeme@localhost:9200"
        ),
    }
}

/// lookout's own exception list fixtures (`integration-tests/exceptions/`): the Endpoint
/// Security list (`endpoint_list`, no items) that the corpus's Elastic Defend rules name, as a
/// team would export it from Kibana.
pub fn exception_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("exceptions")
}

/// The shared test data folder (`../shared` beside the project). Tests that need it fail with a
/// message that names the folder when it is absent.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.is_dir(),
        "the shared test data is absent: expected the folder {} (set {SHARED_DIR_VAR} to move it)",
        dir.display()
    );
    dir
}

/// A file inside the shared test data, with a clear failure when it is absent.
pub fn shared_file(relative: &str) -> PathBuf {
    let path = shared_dir().join(relative);
    assert!(
        path.exists(),
        "the shared test file {} is absent",
        path.display()
    );
    path
}

/// The rule a rule file's text holds, loaded as lookout loads it; a test failure naming the file
/// when it does not load, or loads as a rule lookout cannot run.
pub fn runnable_rule(path: &std::path::Path, text: &str) -> lookout::Rule {
    match lookout::parse_rule_bytes(path, text.as_bytes()) {
        Ok((lookout::Loaded::Runnable(rule), _warnings)) => *rule,
        Ok((lookout::Loaded::NotRunnable(rule), _)) => {
            panic!("{} is not runnable: {}", path.display(), rule.reason)
        }
        Err(errors) => panic!("{} does not load: {errors:?}", path.display()),
    }
}

/// A lowercase name no other test (or earlier run against the same server) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()).to_lowercase()
}

/// A connection to the live server.
#[derive(Clone)]
pub struct TestServer {
    pub url: String,
    transport: Transport,
}

impl TestServer {
    /// Connects to the server named by [`SERVER_URL_VAR`].
    pub fn connect() -> Self {
        let url = server_url();
        let transport = Transport::single_node(&url)
            .unwrap_or_else(|e| panic!("{SERVER_URL_VAR}={url} is not a usable URL: {e}"));
        Self { url, transport }
    }

    /// Sends one request and returns the status and parsed JSON body (Null when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self
            .transport
            .send(
                method,
                path,
                HeaderMap::new(),
                Option::<&()>::None,
                body.map(JsonBody::new),
                Some(REQUEST_TIMEOUT),
            )
            .await
            .unwrap_or_else(|e| panic!("{method:?} {path} on {}: {e}", self.url));
        let status = response.status_code();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// One header of the answer to a request without a body (`None` when the answer has none).
    pub async fn header(&self, method: Method, path: &str, name: &str) -> Option<String> {
        let response = self
            .transport
            .send(
                method,
                path,
                HeaderMap::new(),
                Option::<&()>::None,
                Option::<JsonBody<Value>>::None,
                Some(REQUEST_TIMEOUT),
            )
            .await
            .unwrap_or_else(|e| panic!("{method:?} {path} on {}: {e}", self.url));
        let value = response.headers().get(name)?;
        Some(value.to_str().ok()?.to_string())
    }

    /// Sends a request that must succeed and returns its body.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.request(method, path, body).await;
        assert!(
            status.is_success(),
            "{method:?} {path} answered {status}: {value}"
        );
        value
    }

    /// Creates an index with the real CloudTrail mapping, in the server's flavour
    /// ([`TestServer::cloudtrail_template`]). On a server whose `constant_keyword` fields do not
    /// match documents without them ([`server::Capability::ConstantKeyword`]), the index gets a
    /// default pipeline that writes the constants (`event.dataset: aws.cloudtrail`, ...) into
    /// each document, as Elastic Agent's own fields would, so that rules select the same events.
    pub async fn create_cloudtrail_index(&self, index: &str) {
        let template = self.cloudtrail_template().await;
        let mappings = template["template"]["mappings"].clone();
        let mut settings = json!({"number_of_shards": 1});
        if !self.has(server::Capability::ConstantKeyword).await {
            let pipeline = self.constant_fields_pipeline(&mappings).await;
            settings["default_pipeline"] = json!(pipeline);
        }
        self.ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"settings": settings, "mappings": mappings})),
        )
        .await;
    }

    /// Indexes documents with `create` actions and refreshes, failing on any item error.
    pub async fn bulk_create(&self, index: &str, docs: &[Value]) {
        if docs.is_empty() {
            return;
        }
        let docs: Vec<(Option<String>, &Value)> = docs.iter().map(|doc| (None, doc)).collect();
        let answer = self.bulk_answer(index, &docs).await;
        assert!(
            answer["errors"] == json!(false),
            "bulk into {index}: {answer}"
        );
    }

    /// Sends `create` actions (with the given ids, else ids the server picks) and refreshes;
    /// returns the `_bulk` answer whatever its items say. Fails when the request as a whole does.
    pub async fn bulk_answer(&self, index: &str, docs: &[(Option<String>, &Value)]) -> Value {
        let mut body = String::new();
        for (id, doc) in docs {
            let action = match id {
                Some(id) => json!({"create": {"_index": index, "_id": id}}),
                None => json!({"create": {"_index": index}}),
            };
            body.push_str(&action.to_string());
            body.push('\n');
            body.push_str(&doc.to_string());
            body.push('\n');
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            elasticsearch::http::headers::CONTENT_TYPE,
            elasticsearch::http::headers::HeaderValue::from_static("application/x-ndjson"),
        );
        let response = self
            .transport
            .send(
                Method::Post,
                "/_bulk",
                headers,
                Some(&[("refresh", "true")]),
                Some(body),
                Some(REQUEST_TIMEOUT),
            )
            .await
            .unwrap_or_else(|e| panic!("bulk into {index}: {e}"));
        let status = response.status_code();
        let value: Value = response.json().await.expect("bulk answers JSON");
        assert!(status.is_success(), "bulk into {index}: {value}");
        value
    }

    /// Refreshes an index (or pattern) so that what was written is searchable.
    pub async fn refresh(&self, index: &str) {
        self.ok(Method::Post, &format!("/{index}/_refresh"), None)
            .await;
    }

    /// Counts the documents in an index (or pattern).
    pub async fn count(&self, index: &str) -> u64 {
        self.refresh(index).await;
        let value = self
            .ok(Method::Get, &format!("/{index}/_count"), None)
            .await;
        value["count"].as_u64().expect("count is a number")
    }

    /// All documents of an index, sorted by nothing in particular (at most 10,000).
    pub async fn all_docs(&self, index: &str) -> Vec<Value> {
        self.refresh(index).await;
        let value = self
            .ok(
                Method::Post,
                &format!("/{index}/_search"),
                Some(json!({"size": 10_000, "query": {"match_all": {}}})),
            )
            .await;
        value["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Deletes an index; a missing index is fine.
    pub async fn delete_index(&self, index: &str) {
        self.request(Method::Delete, &format!("/{index}"), None)
            .await;
    }
}

/// Reads a JSON file, failing with its path.
pub fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads an NDJSON file into values, failing with its path and line.
pub fn read_ndjson(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The 18 real ECS CloudTrail documents of the shared fixtures.
pub fn ecs_samples() -> Vec<Value> {
    read_ndjson(&shared_file("fixtures/cloudtrail/ecs-samples.ndjson"))
}

/// Sets `event.ingested` the way Fleet's final pipeline would, at the given instant.
pub fn stamp_ingested(doc: &mut Value, ingested: DateTime<Utc>) {
    let event = doc
        .as_object_mut()
        .expect("a document is a JSON object")
        .entry("event")
        .or_insert_with(|| json!({}));
    event["ingested"] = json!(ingested.to_rfc3339_opts(SecondsFormat::Millis, true));
}

/// The `lookout` binary of this build (beside the test executable, in `target/<profile>/`).
/// `scripts/test` builds it before the integration tests run; a missing binary is a failure that
/// says how to build it.
pub fn lookout_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let binary = profile_dir.join(format!("lookout{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: build it first with `cargo build -p lookout` (scripts/test does)",
        binary.display()
    );
    binary
}
