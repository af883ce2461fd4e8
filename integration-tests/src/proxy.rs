//! A fault-injecting HTTP proxy for the reliability tests: it listens on 127.0.0.1, forwards
//! each request to the live test server (the upstream, which can be switched when the server
//! restarts) and, following its [`FaultPlan`], refuses, resets, delays, answers 429/503, fails
//! chosen `_bulk` items or answers something that is not JSON. [`FaultStats`] counts what it did.
//! It sits between lookout's real client and a real server; it is not a mock of the server.

pub mod http;
pub mod plan;
pub mod server;

pub use plan::{Fault, FaultPlan, FaultRule, FaultStats};

use http::{Request, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy; dropping it stops accepting connections.
pub struct Proxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

struct Shared {
    /// `host:port` of the server requests are forwarded to.
    upstream: Mutex<String>,
    plan: Mutex<FaultPlan>,
    stats: Mutex<FaultStats>,
    /// `METHOD target` of every request, in arrival order.
    log: Mutex<Vec<String>>,
    /// The size of every exchange answered, in order.
    exchanges: Mutex<Vec<Exchange>>,
}

/// One request forwarded and answered: its `METHOD target` and sizes (the benchmarks count
/// traffic with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request: String,
    /// Bytes of the request body.
    pub sent: usize,
    /// Bytes of the answer (head and body).
    pub received: usize,
}

impl Proxy {
    /// Starts a proxy in front of `upstream_url` (`http://host:port`, any path ignored).
    pub async fn start(upstream_url: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            upstream: Mutex::new(host_port(upstream_url)),
            plan: Mutex::new(FaultPlan::pass()),
            stats: Mutex::new(FaultStats::default()),
            log: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Proxy {
            addr,
            shared,
            accept,
        }
    }

    /// The URL lookout should use to reach the server through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the plan (rule counters start from zero).
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.plan) = plan;
    }

    /// Forwards to another server from now on (after a restart on a new port).
    pub fn set_upstream(&self, upstream_url: &str) {
        *lock(&self.shared.upstream) = host_port(upstream_url);
    }

    /// `METHOD target` of every request so far, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }

    /// Every exchange answered so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.shared.exchanges).clone()
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> FaultStats {
        *lock(&self.shared.stats)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `host:port` of a URL such as `http://127.0.0.1:9200/`.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_string()
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, shared.clone()));
    }
}

/// Serves the requests of one client connection until it closes or a fault closes it.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Ok(Some(request)) = http::read_request(&mut reader).await {
        let fault = lock(&shared.plan).choose_for(&request.method, &request.target, &request.body);
        lock(&shared.log).push(format!("{} {}", request.method, request.target));
        {
            let mut stats = lock(&shared.stats);
            stats.requests += 1;
            stats.record(&fault);
        }
        let head = request.method == "HEAD";
        let Some(response) = answer(&shared, &request, &fault).await else {
            return;
        };
        let bytes = response.to_bytes(head);
        lock(&shared.exchanges).push(Exchange {
            request: format!("{} {}", request.method, request.target),
            sent: request.body.len(),
            received: bytes.len(),
        });
        if fault == Fault::ResetMidResponse {
            http::write_all_quietly(&mut write, &bytes[..bytes.len() / 2]).await;
            let _ = write.shutdown().await;
            return;
        }
        if !http::write_all_quietly(&mut write, &bytes).await {
            return;
        }
    }
}

/// The answer to send back, or `None` to close the connection without one.
async fn answer(shared: &Shared, request: &Request, fault: &Fault) -> Option<Response> {
    match fault {
        Fault::Refuse => None,
        Fault::Status(status) => Some(error_response(*status)),
        Fault::NotJson(status) => Some(Response::new(
            *status,
            "text/html",
            b"<html><body><h1>502 Bad Gateway</h1>injected by the fault proxy</body></html>"
                .to_vec(),
        )),
        Fault::FailBulkItems { positions, status } => {
            fail_bulk_items(shared, request, positions, *status).await
        }
        Fault::Delay(delay) => {
            let response = forward(shared, request).await;
            lock(&shared.stats).delayed += 1;
            tokio::time::sleep(*delay).await;
            response
        }
        Fault::Stall(delay) => {
            lock(&shared.stats).stalled += 1;
            tokio::time::sleep(*delay).await;
            None
        }
        Fault::ShardFailure => forward(shared, request).await.map(add_shard_failure),
        Fault::Pass | Fault::ResetMidResponse => forward(shared, request).await,
    }
}

/// Forwards to the upstream; `None` (close) when it is down.
async fn forward(shared: &Shared, request: &Request) -> Option<Response> {
    let upstream = lock(&shared.upstream).clone();
    match http::send(&upstream, request).await {
        Ok(response) => Some(response),
        Err(_) => {
            lock(&shared.stats).upstream_down += 1;
            None
        }
    }
}

/// A search answer with one more failed shard (an answer that is not a JSON object is kept).
fn add_shard_failure(mut response: Response) -> Response {
    let Ok(mut answer) = serde_json::from_slice::<Value>(&response.body) else {
        return response;
    };
    if !answer.is_object() {
        return response;
    }
    let failure = json!({
        "shard": 1, "index": "injected-by-the-fault-proxy",
        "reason": {"type": "node_disconnected_exception", "reason": "injected shard failure"},
    });
    let shards = &mut answer["_shards"];
    let total = shards["total"].as_u64().unwrap_or(1) + 1;
    let failed = shards["failed"].as_u64().unwrap_or(0) + 1;
    shards["total"] = json!(total);
    shards["failed"] = json!(failed);
    match shards["failures"].as_array_mut() {
        Some(failures) => failures.push(failure),
        None => shards["failures"] = json!([failure]),
    }
    response.body = answer.to_string().into_bytes();
    response
}

/// An Elasticsearch-shaped error answer.
fn error_response(status: u16) -> Response {
    let kind = if status == 429 {
        "es_rejected_execution_exception"
    } else {
        "unavailable_shards_exception"
    };
    let body = json!({
        "error": {"type": kind, "reason": format!("injected by the fault proxy (HTTP {status})")},
        "status": status,
    });
    Response::new(status, "application/json", body.to_string().into_bytes())
}

/// Forwards the bulk items not at `positions`, then answers as if those had failed with
/// `status` (they were never sent, so they are not written).
async fn fail_bulk_items(
    shared: &Shared,
    request: &Request,
    positions: &[usize],
    status: u16,
) -> Option<Response> {
    let items = bulk_items(&request.body);
    let failed: Vec<bool> = (0..items.len()).map(|i| positions.contains(&i)).collect();
    let kept: Vec<u8> = items
        .iter()
        .zip(&failed)
        .filter(|(_, failed)| !**failed)
        .flat_map(|(lines, _)| lines.iter().cloned())
        .collect();
    let mut forwarded_items = Vec::new();
    if !kept.is_empty() {
        let forwarded = Request {
            body: kept,
            ..request.clone()
        };
        let response = forward(shared, &forwarded).await?;
        let answer: Value = serde_json::from_slice(&response.body).ok()?;
        forwarded_items = answer["items"].as_array().cloned().unwrap_or_default();
    }
    let mut forwarded_items = forwarded_items.into_iter();
    let mut out = Vec::new();
    for (position, lines) in items.iter().enumerate() {
        if failed[position] {
            lock(&shared.stats).bulk_items_failed += 1;
            out.push(failed_item(lines, status));
        } else {
            out.push(forwarded_items.next().unwrap_or(Value::Null));
        }
    }
    let body = json!({"took": 1, "errors": true, "items": out});
    Some(Response::new(
        200,
        "application/json",
        body.to_string().into_bytes(),
    ))
}

/// The bulk body split into items: the action line and, except for `delete`, the source line
/// (each with its newline).
fn bulk_items(body: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = body
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some(action) = lines.next() {
        let mut item = action.to_vec();
        let is_delete = serde_json::from_slice::<Value>(action)
            .ok()
            .is_some_and(|v| v.get("delete").is_some());
        if !is_delete && let Some(source) = lines.next() {
            item.extend_from_slice(source);
        }
        items.push(item);
    }
    items
}

/// The answer item for a bulk item the proxy failed: its action, index and id, the status
/// and an error.
fn failed_item(lines: &[u8], status: u16) -> Value {
    let action_line = lines.split(|b| *b == b'\n').next().unwrap_or_default();
    let action: Value = serde_json::from_slice(action_line).unwrap_or(Value::Null);
    let (kind, meta) = action
        .as_object()
        .and_then(|o| o.iter().next())
        .map_or(("create".to_string(), Value::Null), |(k, v)| {
            (k.clone(), v.clone())
        });
    json!({kind: {
        "_index": meta["_index"],
        "_id": meta["_id"],
        "status": status,
        "error": {
            "type": if status == 429 { "es_rejected_execution_exception" } else { "injected_failure" },
            "reason": format!("bulk item failed by the fault proxy (HTTP {status})"),
        },
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_drops_scheme_credentials_and_path() {
        assert_eq!(host_port("http://u:p@127.0.0.1:9200/x"), "127.0.0.1:9200");
        assert_eq!(host_port("127.0.0.1:1"), "127.0.0.1:1");
    }

    #[test]
    fn bulk_items_pair_actions_with_sources_except_deletes() {
        let body = b"{\"create\":{\"_id\":\"a\"}}\n{\"x\":1}\n{\"delete\":{\"_id\":\"b\"}}\n{\"create\":{\"_id\":\"c\"}}\n{\"x\":2}\n";
        let items = bulk_items(body);
        assert_eq!(items.len(), 3);
        assert_eq!(failed_item(&items[2], 503)["create"]["_id"], "c");
        assert_eq!(failed_item(&items[2], 503)["create"]["status"], 503);
    }
}
