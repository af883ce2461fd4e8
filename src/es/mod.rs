//! The only module that speaks HTTP: a small, typed client for the handful of Elasticsearch /
//! OpenSearch requests lookout makes (server info, field caps, point-in-time, search, bulk create,
//! id lookups, index templates and single documents). It builds requests and reads answers;
//! it knows nothing about rules or alerts.
//!
//! Every request goes through [`elasticsearch::http::transport::Transport::send`] with plain
//! `application/json` (`application/x-ndjson` for `_bulk`) and a timeout.

mod admin;
mod bulk;
mod connect;
mod docs;
mod eql;
mod error;
mod indices;
mod paging;
mod search;
mod server_clock;
mod update;

use crate::config::redact_userinfo;
pub use admin::total_hits;
pub use bulk::{BULK_MAX_ATTEMPTS, BulkDocument, ItemFailure, JsonText};
pub use error::{CLUSTER, EsError, MAX_REASON_CHARS};
pub use indices::{IndexFacts, IndexName, NameFacts, Rollover};
pub use paging::{Flow, Paging, PagingError, shard_failures_error};
pub use search::{Hit, RawSource, SearchPage, SourceDocument};
pub use server_clock::{ClockOffset, parse_http_date};
pub use update::{ConditionalPut, DocUpdate, PutOutcome};

use crate::config::ElasticsearchConfig;
use elasticsearch::http::Method;
use elasticsearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use elasticsearch::http::transport::Transport;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which server lookout talks to; a few APIs (point-in-time) differ between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    Elasticsearch,
    OpenSearch,
}

/// What `GET /` says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub distribution: Distribution,
    /// `version.number`, for example `8.15.0` or `3.1.0`.
    pub version: String,
}

impl ServerInfo {
    /// Whether the server has a point-in-time API: Elasticsearch 7.10+, OpenSearch 2.4+
    /// (an unparsable version is assumed recent).
    pub fn supports_pit(&self) -> bool {
        let mut parts = self.version.split('.').map(|part| part.parse::<u32>().ok());
        let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
            return true;
        };
        let first = match self.distribution {
            Distribution::Elasticsearch => (7, 10),
            Distribution::OpenSearch => (2, 4),
        };
        (major, minor) >= first
    }
}

/// A connection to one cluster. Cloning is cheap and clones share the cached server info.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    timeout: Duration,
    /// The server's address without credentials, for Debug and logs.
    endpoint: String,
    server: tokio::sync::OnceCell<ServerInfo>,
    /// Whether the server answers `_eql/search` (`Client::has_eql`).
    eql: tokio::sync::OnceCell<bool>,
    /// The server's clock, from the `Date` header of its answers.
    clock: server_clock::ServerClock,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// A request body: JSON, or newline-delimited JSON for `_bulk`.
pub(crate) enum Body {
    Json(Value),
    Ndjson(String),
}

/// One request: what it is for (`op`, `index` for messages) and what to send.
pub(crate) struct Request<'a> {
    pub op: &'static str,
    pub index: &'a str,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Body>,
}

/// A server answer: status and JSON body (`Null` when empty; a JSON string holding the text
/// when an error answer is not JSON).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Client {
    /// Builds a client from the configuration; no request is sent yet.
    pub fn new(config: &ElasticsearchConfig) -> Result<Client, EsError> {
        let (transport, endpoint) = connect::transport(config)?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                timeout: config.request_timeout,
                endpoint,
                server: tokio::sync::OnceCell::new(),
                eql: tokio::sync::OnceCell::new(),
                clock: server_clock::ServerClock::new(config.clock_tolerance),
            }),
        })
    }

    /// The server's address, without credentials.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// How far the server's clock is from the host's, as the latest answer with a `Date`
    /// header says; `None` before one (or when the server sends none).
    pub fn clock_offset(&self) -> Option<ClockOffset> {
        self.inner.clock.latest()
    }

    /// How far the clocks may differ before lookout warns (`elasticsearch.clock_tolerance`).
    pub fn clock_tolerance(&self) -> chrono::TimeDelta {
        self.inner.clock.tolerance()
    }

    /// An instant the server's clock has certainly reached: the latest answer's `Date` plus the
    /// time since it arrived (monotonic). `None` when nothing was measured.
    pub fn server_now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.inner.clock.server_now()
    }

    /// Reads the server's clock with a search of its own when no answer so far carried a
    /// `Date` header: a `date_range` aggregation from `now` on `field` of `index` answers the
    /// server's now in milliseconds (the index must exist and map `field` as a date; nothing is
    /// measured otherwise). The reading bounds the offset like a `Date` header does, to the
    /// answer's latency instead of a second. Returns whether it measured; `false` without a
    /// request when the server sends `Date` headers.
    pub async fn read_server_clock(&self, index: &str, field: &str) -> Result<bool, EsError> {
        if self.inner.clock.has_header() {
            return Ok(false);
        }
        let body = serde_json::json!({
            "size": 0,
            "track_total_hits": false,
            // No document is read: the range's bounds are answered all the same.
            "query": {"bool": {"must_not": {"match_all": {}}}},
            "aggs": {"now": {"date_range": {"field": field, "ranges": [{"from": "now"}]}}},
        });
        let sent = chrono::Utc::now();
        let answer = self.search_raw(index, body).await?;
        let (received, arrived) = (chrono::Utc::now(), std::time::Instant::now());
        if self.inner.clock.has_header() {
            // The search's own answer carried one: it is recorded already.
            return Ok(true);
        }
        let server_time =
            (answer["aggregations"]["now"]["buckets"][0]["from"].as_f64()).and_then(|millis| {
                // Epoch milliseconds, whole; exact in an f64.
                #[allow(clippy::cast_possible_truncation)]
                let millis = millis as i64;
                chrono::DateTime::from_timestamp_millis(millis)
            });
        let Some(server_time) = server_time else {
            return Ok(false);
        };
        let offset = ClockOffset::of_reading(
            sent,
            received,
            server_time,
            chrono::TimeDelta::milliseconds(1),
        );
        self.inner.clock.record(offset, server_time, arrived);
        Ok(true)
    }

    /// Which server this is (`GET /`), asked once and then cached.
    pub async fn server_info(&self) -> Result<ServerInfo, EsError> {
        let info = self
            .inner
            .server
            .get_or_try_init(|| async {
                let request = Request::new("server info", CLUSTER, Method::Get, "/".to_string());
                let body = self.send_ok(request).await?;
                parse_server_info(&body).map_err(|message| EsError::BadAnswer {
                    op: "server info",
                    index: CLUSTER.to_string(),
                    message,
                })
            })
            .await?;
        Ok(info.clone())
    }

    /// Sends a request and returns the answer whatever its status.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Reply, EsError> {
        let (op, index) = (request.op, request.index.to_string());
        self.send_raw(request).await?.into_reply(op, &index)
    }

    /// Sends a request and returns the status and the body's bytes, unread.
    pub(crate) async fn send_raw(&self, request: Request<'_>) -> Result<RawReply, EsError> {
        let Request {
            op,
            index,
            method,
            path,
            query,
            body,
        } = request;
        let unreachable = |error: elasticsearch::Error| EsError::Unreachable {
            op,
            index: index.to_string(),
            timeout: error.is_timeout(),
            message: error_chain(&error),
        };
        let mut headers = HeaderMap::new();
        let body = match body {
            None => None,
            Some(Body::Json(value)) => Some(json_text(&value)),
            Some(Body::Ndjson(text)) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                Some(text)
            }
        };
        let sent = chrono::Utc::now();
        let response = self
            .inner
            .transport
            .send(
                method,
                &path,
                headers,
                Some(&query),
                body,
                Some(self.inner.timeout),
            )
            .await
            .map_err(unreachable)?;
        let (received, arrived) = (chrono::Utc::now(), std::time::Instant::now());
        let date = (response.headers().get(elasticsearch::http::headers::DATE))
            .and_then(|value| value.to_str().ok())
            .and_then(parse_http_date);
        if let Some(date) = date {
            self.inner.clock.saw_header();
            let offset = ClockOffset::of_answer(sent, received, date);
            self.inner.clock.record(offset, date, arrived);
        }
        let status = response.status_code().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok(RawReply {
            status,
            bytes: Vec::from(bytes),
        })
    }

    /// Sends a request that must succeed (2xx) and returns its JSON body.
    pub(crate) async fn send_ok(&self, request: Request<'_>) -> Result<Value, EsError> {
        let (op, index) = (request.op, request.index.to_string());
        let reply = self.send(request).await?;
        reply.ok(op, &index)
    }
}

impl<'a> Request<'a> {
    pub(crate) fn new(op: &'static str, index: &'a str, method: Method, path: String) -> Self {
        Request {
            op,
            index,
            method,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }
}

/// A server answer as it came: status and body bytes.
pub(crate) struct RawReply {
    pub status: u16,
    pub bytes: Vec<u8>,
}

impl RawReply {
    /// The answer with its body read as JSON.
    pub(crate) fn into_reply(self, op: &'static str, index: &str) -> Result<Reply, EsError> {
        let body = parse_body(&self.bytes, self.status).map_err(|message| EsError::BadAnswer {
            op,
            index: index.to_string(),
            message,
        })?;
        Ok(Reply {
            status: self.status,
            body,
        })
    }

    /// A 2xx answer's body read as `T`; any other status is an [`EsError::Status`] with the
    /// server's reason.
    pub(crate) fn ok_as<T>(
        self,
        op: &'static str,
        index: &str,
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, EsError> {
        if !(200..300).contains(&self.status) {
            return Err(self
                .into_reply(op, index)?
                .ok(op, index)
                .expect_err("a status outside 2xx is an error"));
        }
        read(&self.bytes).map_err(|message| {
            // A body that is not JSON at all gets the same message as everywhere else.
            let message = parse_body(&self.bytes, self.status)
                .err()
                .unwrap_or(message);
            EsError::BadAnswer {
                op,
                index: index.to_string(),
                message,
            }
        })
    }
}

impl Reply {
    /// The body when the status is 2xx, otherwise a [`EsError::Status`] with the server's reason.
    pub(crate) fn ok(self, op: &'static str, index: &str) -> Result<Value, EsError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(EsError::Status {
            op,
            index: index.to_string(),
            status: self.status,
            reason: error::error_reason(&self.body),
        })
    }
}

/// JSON for any non-empty body; plain text is accepted only in error answers.
/// A request body as JSON text, through serde_json's writer (`Display` is several times slower).
fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value serializes into memory")
}

/// Reads an answer's body as JSON straight from its bytes (no text copy); only a body that is
/// not JSON is turned into (lossy) text, for the error.
fn parse_body(bytes: &[u8], status: u16) -> Result<Value, String> {
    if bytes.trim_ascii().is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            if (200..300).contains(&status) {
                Err(format!(
                    "HTTP {status} with a body that is not JSON ({e}): {:?}",
                    error::truncate(&redact_userinfo(&text), 200)
                ))
            } else {
                Ok(Value::String(error::truncate(&text, MAX_REASON_CHARS)))
            }
        }
    }
}

/// `version.distribution == "opensearch"` means OpenSearch; anything else is Elasticsearch.
fn parse_server_info(body: &Value) -> Result<ServerInfo, String> {
    let version = &body["version"];
    let number = version["number"].as_str().ok_or_else(|| {
        format!(
            "`GET /` has no version.number: {}",
            error::truncate(&body.to_string(), 200)
        )
    })?;
    let distribution = match version["distribution"].as_str() {
        Some("opensearch") => Distribution::OpenSearch,
        _ => Distribution::Elasticsearch,
    };
    Ok(ServerInfo {
        distribution,
        version: number.to_string(),
    })
}

/// An error and its causes on one line, credentials redacted.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    redact_userinfo(&plain_words(text))
}

/// What the TLS library says when an https:// URL reaches a server that does not speak TLS
/// (it answers in plain HTTP, or closes the connection), which means nothing to most readers,
/// and what is said instead.
const NOT_TLS: [(&str, &str); 2] = [
    (
        "received corrupt message of type InvalidContentType",
        "the server does not speak TLS (it answered in plain HTTP: use an http:// URL)",
    ),
    (
        "tls handshake eof",
        "the server closed the connection during the TLS handshake (as a server that does not \
         speak TLS does: if so, use an http:// URL)",
    ),
];

/// The error text with the TLS library's words for a plain-HTTP server replaced by a reason a
/// reader can act on.
fn plain_words(text: String) -> String {
    NOT_TLS
        .iter()
        .fold(text, |text, (words, plain)| text.replace(words, plain))
}

#[cfg(test)]
mod tests;
