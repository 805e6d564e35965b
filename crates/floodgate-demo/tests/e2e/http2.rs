//! HTTP/2 end to end: h2c (prior knowledge) on the demo's port beside HTTP/1.1, the gate
//! counting streams rather than connections, and a reset stream leaving the queue at once.

use std::time::Duration;

use bytes::Bytes;
use floodgate_demo::Config;
use http::{Request, StatusCode, Version};
use http_body_util::Empty;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::{TestServer, client, client_builder, eventually};

/// One HTTP/2 connection (prior knowledge) to the server: every request sent through the
/// returned handle is a stream on it.
async fn h2_connection(server: &TestServer) -> http2::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn get(server: &TestServer, path: &str) -> Request<Empty<Bytes>> {
    Request::get(server.url(path)).body(Empty::new()).unwrap()
}

#[tokio::test]
async fn the_port_speaks_http_1_1_and_h2c() {
    let server = TestServer::start(Config::default()).await;
    let h2 = client_builder().http2_prior_knowledge().build().unwrap();
    let response = h2.get(server.url("/fast")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), Version::HTTP_2);

    let response = client().get(server.url("/fast")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), Version::HTTP_11);
}

#[tokio::test]
async fn the_gate_limits_streams_not_connections() {
    let server = TestServer::start(Config {
        max_concurrency: 2,
        max_wait: Duration::ZERO,
        backend_capacity: 8,
        ..Config::default()
    })
    .await;
    let sender = h2_connection(&server).await;
    let streams: Vec<_> = (0..3)
        .map(|_| {
            let mut sender = sender.clone();
            let request = get(&server, "/slow?ms=1000");
            tokio::spawn(async move { sender.send_request(request).await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    for stream in streams {
        let response = stream.await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 503],
        "two streams of one connection got in"
    );
    assert_eq!(server.gate().snapshot().admitted, 2);
}

#[tokio::test]
async fn a_reset_stream_leaves_the_queue_at_once() {
    let server = TestServer::start(Config {
        max_concurrency: 1,
        max_wait: Duration::from_secs(60),
        backend_capacity: 8,
        ..Config::default()
    })
    .await;
    let gate = server.gate().clone();
    let sender = h2_connection(&server).await;

    let mut first = sender.clone();
    let request = get(&server, "/slow?ms=30000");
    let running = tokio::spawn(async move { first.send_request(request).await });
    eventually("the first stream holds the permit", || async {
        gate.snapshot().in_flight == 1
    })
    .await;
    let mut second = sender.clone();
    let request = get(&server, "/slow");
    let queued = tokio::spawn(async move { second.send_request(request).await });
    eventually("the second stream waits", || async {
        gate.snapshot().queued == 1
    })
    .await;

    // Dropping the response future resets the stream (RST_STREAM, CANCEL): the server drops
    // the request, and its place in the queue, long before its 60 s wait would end.
    queued.abort();
    eventually("the reset stream left the queue", || async {
        gate.snapshot().queued == 0
    })
    .await;
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.rejected.total()), (1, 0));

    // The connection is still good: another stream is served once the first is reset too.
    running.abort();
    eventually("the first stream's permit came back", || async {
        gate.snapshot().in_flight == 0
    })
    .await;
    let mut third = sender.clone();
    let response = third.send_request(get(&server, "/fast")).await.unwrap();
    assert_eq!(response.status(), 200);
}
