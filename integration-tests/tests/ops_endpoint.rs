//! The operator endpoint under clients that misbehave, on a real loopback socket: clients that
//! send a request and never read the answer cannot keep every connection slot, and a shutdown
//! completes while every slot is taken. No server is needed. The time bounds below only catch a
//! hang; each is far longer than the loopback answers take and far shorter than the endpoint's
//! own timeouts, which a client that holds a slot would otherwise have to run out.

use lookout::{
    HEADER_READ_TIMEOUT, MAX_CONCURRENT_CONNECTIONS, Observer, serve_operator_endpoint as serve,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long an answer (or the end of `serve`) may take here before the test calls it stuck.
const HANG: Duration = Duration::from_secs(5);

const _: () = assert!(HANG.as_secs() < HEADER_READ_TIMEOUT.as_secs());

/// Starts the endpoint on a free port; the sender stops it, the handle is `serve`'s task.
async fn endpoint() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, Arc::new(Observer::default()), async {
        drop(stopped.await);
    }));
    (address, stop, task)
}

/// One complete GET, answered within [`HANG`]; returns the status line.
async fn get(address: &str, path: &str) -> String {
    let answer = tokio::time::timeout(HANG, async {
        let mut stream = TcpStream::connect(address).await.expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nHost: lookout\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut text = String::new();
        stream.read_to_string(&mut text).await.expect("read");
        text
    })
    .await
    .unwrap_or_else(|_| panic!("GET {path} was not answered within {HANG:?}"));
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_do_not_keep_every_connection_slot() {
    let (address, _stop, _task) = endpoint().await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONCURRENT_CONNECTIONS {
        let mut stream = TcpStream::connect(&address).await.expect("connects");
        let request = "GET /metrics HTTP/1.1\r\nHost: lookout\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("sent");
        idle.push(stream); // kept open, never read
    }
    assert_eq!(get(&address, "/healthz").await, "HTTP/1.1 200 OK");
}

/// One thread for the test and the endpoint, so that yielding lets the endpoint accept every
/// connection already waiting in the listen queue before the shutdown is sent.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_completes_while_every_slot_is_taken() {
    let (address, stop, task) = endpoint().await;
    let mut silent = Vec::new();
    for _ in 0..=MAX_CONCURRENT_CONNECTIONS {
        // Connected, sending nothing: each holds a slot until its header read times out.
        silent.push(TcpStream::connect(&address).await.expect("connects"));
    }
    assert_eq!(silent.len(), MAX_CONCURRENT_CONNECTIONS + 1);
    for _ in 0..10_000 {
        tokio::task::yield_now().await;
    }
    stop.send(()).expect("the endpoint listens for shutdown");
    tokio::time::timeout(HANG, task)
        .await
        .expect("serve returned after shutdown")
        .expect("serve did not panic");
}
