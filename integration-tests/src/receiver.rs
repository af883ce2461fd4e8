//! A real HTTP receiver on loopback for the notification tests: it answers the way the services
//! do (Slack's incoming webhooks `200 ok`, Teams workflow webhooks `202`, PagerDuty's Events API
//! `202` with the dedup key, any other path `200` JSON) and records every request. Requests
//! carrying an idempotency key (`Idempotency-Key` header, PagerDuty `dedup_key`) it has seen
//! before are acknowledged and marked as recognised resends, as those receivers do. It can be
//! told to answer the next requests with an error status (and `Retry-After`).

use crate::proxy::http::{self, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// Its idempotency key was seen before: a resend the receiver recognised.
    pub resend: bool,
    /// The receiver answered with an error (see [`Receiver::fail_next`]).
    pub refused: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    keys: std::collections::HashSet<String>,
    /// (status, retry-after seconds, how many more requests).
    failing: Option<(u16, Option<u64>, u32)>,
}

/// The receiver; dropping it stops accepting connections.
pub struct Receiver {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Receiver {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// The requests to paths starting with `prefix` that were accepted.
    pub fn accepted(&self, prefix: &str) -> Vec<Received> {
        let prefix = format!("/{}", prefix.trim_start_matches('/'));
        self.received()
            .into_iter()
            .filter(|r| r.path.starts_with(&prefix) && !r.refused)
            .collect()
    }

    /// Answers the next `times` requests with `status` (and `Retry-After` when given).
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>, times: u32) {
        lock(&self.state).failing = Some((status, retry_after, times));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Ok(Some(request)) = http::read_request(&mut reader).await {
        let response = answer(&state, request);
        if !http::write_all_quietly(&mut write, &response.to_bytes(false)).await {
            return;
        }
    }
}

fn answer(state: &Mutex<State>, request: http::Request) -> Response {
    let json: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let path = request.target.split('?').next().unwrap_or("").to_string();
    let mut state = lock(state);
    let failing = match &mut state.failing {
        Some((status, after, left)) if *left > 0 => {
            *left -= 1;
            Some((*status, *after))
        }
        _ => None,
    };
    let key = http::header(&request.headers, "idempotency-key")
        .map(str::to_string)
        .or_else(|| json["dedup_key"].as_str().map(|k| format!("pd:{k}")));
    let resend = failing.is_none() && key.as_ref().is_some_and(|k| !state.keys.insert(k.clone()));
    state.received.push(Received {
        method: request.method.clone(),
        path: path.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        json: json.clone(),
        resend,
        refused: failing.is_some(),
        at: std::time::Instant::now(),
    });
    if let Some((status, after)) = failing {
        let mut response = Response::new(
            status,
            "text/plain",
            b"injected by the test receiver".to_vec(),
        );
        if let Some(seconds) = after {
            response
                .headers
                .push(("retry-after".into(), seconds.to_string()));
        }
        return response;
    }
    if path.starts_with("/slack") {
        Response::new(200, "text/plain", b"ok".to_vec())
    } else if path.starts_with("/teams") {
        Response::new(202, "text/plain", Vec::new())
    } else if path.starts_with("/pagerduty") {
        let body = json!({"status": "success", "message": "Event processed", "dedup_key": json["dedup_key"]});
        Response::new(202, "application/json", body.to_string().into_bytes())
    } else {
        Response::new(200, "application/json", br#"{"ok":true}"#.to_vec())
    }
}
