//! The operator's HTTP endpoint: `GET /healthz` (the process is up), `GET /readyz` (server
//! reachable, templates installed, rules loaded; 503 with what is missing otherwise) and
//! `GET /metrics` (Prometheus text format). HTTP/1 via hyper; [`respond`] is the pure part.
//! A connection serves one request and lives at most [`CONNECTION_TIME_LIMIT`], reads and
//! writes included, so clients that never send or never read cannot keep the connection slots;
//! a slot is waited for only while no shutdown is asked, so stopping never waits on clients.

use super::Observer;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The most connections served at once; more wait in the listen backlog.
pub const MAX_CONCURRENT_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection is served, reading the request and writing the answer included:
/// a client that stops reading the answer loses the connection then.
pub const CONNECTION_TIME_LIMIT: Duration = Duration::from_secs(30);

/// The content type of what `prometheus-client` writes (OpenMetrics text, which Prometheus reads).
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// The answer to one request (GET and HEAD only).
pub fn respond(method: &str, path: &str, observer: &Observer) -> Reply {
    if method != "GET" && method != "HEAD" {
        return Reply::text(405, "only GET and HEAD\n");
    }
    match path {
        "/healthz" => Reply::text(200, "ok\n"),
        "/readyz" => readiness(observer),
        "/metrics" => Reply {
            status: 200,
            content_type: METRICS_CONTENT_TYPE,
            body: observer.metrics.encode(),
        },
        _ => Reply::text(404, "not found: try /healthz, /readyz or /metrics\n"),
    }
}

fn readiness(observer: &Observer) -> Reply {
    let missing = observer.health.not_ready();
    if missing.is_empty() {
        return Reply::text(200, "ready\n");
    }
    Reply::text(503, format!("not ready: {}\n", missing.join(", ")))
}

/// Serves the endpoint on `listener` until `shutdown` completes. Connections already being
/// served finish on their own.
pub async fn serve(
    listener: TcpListener,
    observer: Arc<Observer>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "http endpoint: cannot accept a connection");
                continue;
            }
        };
        let slot = tokio::select! {
            () = &mut shutdown => return,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else {
            return;
        };
        tokio::spawn(serve_connection(stream, observer.clone(), slot));
    }
}

/// Serves one request on `stream` within [`CONNECTION_TIME_LIMIT`], then frees `slot`.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    observer: Arc<Observer>,
    slot: tokio::sync::OwnedSemaphorePermit,
) {
    let service = service_fn(move |request| handle(request, observer.clone()));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIME_LIMIT, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "http endpoint: connection ended with an error");
        }
        Err(_) => tracing::debug!("http endpoint: connection closed at its time limit"),
    }
    drop(slot);
}

async fn handle(
    request: Request<Incoming>,
    observer: Arc<Observer>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = respond(request.method().as_str(), request.uri().path(), &observer);
    let body = if request.method() == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(reply.body)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_answers_ok_always() {
        let observer = Observer::default();
        assert_eq!(respond("GET", "/healthz", &observer).status, 200);
    }

    #[test]
    fn readyz_names_what_is_missing_until_everything_is_ready() {
        let observer = Observer::default();
        observer.health.set_server_reachable(true);
        let reply = respond("GET", "/readyz", &observer);
        assert_eq!(reply.status, 503);
        assert_eq!(reply.body, "not ready: templates_installed, rules_loaded\n");
        observer.health.set_templates_installed(true);
        observer.health.set_rules_loaded(true);
        assert_eq!(respond("GET", "/readyz", &observer).status, 200);
    }

    #[test]
    fn metrics_are_served_in_the_prometheus_text_format() {
        let observer = Observer::default();
        observer.metrics.record_gap("r", Duration::from_secs(1));
        let reply = respond("GET", "/metrics", &observer);
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .content_type
                .starts_with("application/openmetrics-text")
        );
        assert!(
            reply.body.contains("# TYPE lookout_gaps counter"),
            "{}",
            reply.body
        );
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        let observer = Observer::default();
        assert_eq!(respond("GET", "/", &observer).status, 404);
        assert_eq!(respond("POST", "/metrics", &observer).status, 405);
    }
}
