//! What the server does with hostile or broken clients, and that it keeps serving afterwards.

use std::time::Duration;

use floodgate_demo::{Config, MAX_BODY_BYTES, MAX_HEADER_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{PATIENCE, TestServer, client, raw_exchange};

async fn still_serves(server: &TestServer) {
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_oversized_header_gets_431_and_the_server_still_answers() {
    let server = TestServer::start(Config::default()).await;
    let response = client()
        .get(server.url("/fast"))
        .header("x-padding", "a".repeat(MAX_HEADER_BYTES + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    still_serves(&server).await;
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let server = TestServer::start(Config::default()).await;
    // The body is announced, not sent: the server must answer from the header alone.
    let request = format!(
        "POST /fast HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    let answer = raw_exchange(server.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
    still_serves(&server).await;
}

#[tokio::test]
async fn garbage_gets_400_and_the_server_still_answers() {
    let server = TestServer::start(Config::default()).await;
    let answer = raw_exchange(server.addr, b"\x16\x03\x01 this is not HTTP\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    still_serves(&server).await;
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_head_is_disconnected() {
    let server = TestServer::start(Config {
        header_timeout: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nhost: te")
        .await
        .unwrap();

    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    let read = read.expect("the server closes the connection");
    // Closed (or reset) without an answer.
    assert!(
        read.is_err() || answer.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn a_missing_or_duplicated_host_gets_400() {
    let server = TestServer::start(Config::default()).await;
    for request in [
        "GET /fast HTTP/1.1\r\nconnection: close\r\n\r\n",
        "GET /fast HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
        "GET /fast HTTP/1.1\r\nhost: a\r\nhost: a\r\nconnection: close\r\n\r\n",
        "GET /fast HTTP/1.0\r\nhost: a\r\nhost: b\r\n\r\n",
        "GET /fast HTTP/1.1\r\nhost: user@a\r\nconnection: close\r\n\r\n",
        "GET http://a/fast HTTP/1.1\r\nconnection: close\r\n\r\n",
    ] {
        let answer = raw_exchange(server.addr, request.as_bytes()).await;
        // hyper answers in the client's version.
        assert_eq!(answer.get(8..13), Some(" 400 "), "{request:?}: {answer:?}");
    }
    for request in [
        "GET /fast HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        "GET /fast HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nconnection: close\r\n\r\n",
        "GET /fast HTTP/1.0\r\n\r\n",
    ] {
        let answer = raw_exchange(server.addr, request.as_bytes()).await;
        // hyper answers in the client's version.
        assert_eq!(answer.get(8..13), Some(" 200 "), "{request:?}: {answer:?}");
    }
    // A 400 closes the connection, even when the client asked to keep it.
    let answer = raw_exchange(server.addr, b"GET /fast HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    still_serves(&server).await;
}
