//! `ConnectionLimit` in front of a real `axum::serve` on a real socket.
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use floodgate::connection::ConnectionLimit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get_root(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn the_excess_waits_in_the_backlog_until_an_idle_connection_is_cut() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = ConnectionLimit::new(1).idle_timeout(Duration::from_millis(300));
    let app = Router::new().route("/", get(|| async { "hi" }));
    let server = tokio::spawn(axum::serve(limit.listener(listener), app).into_future());

    // A client that connects and says nothing takes the only slot...
    let _silent = TcpStream::connect(addr).await.unwrap();
    while limit.open() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // ...so the next one is not accepted (it waits in the kernel's backlog) until the silent
    // one is cut off by the idle timeout; then it is served.
    let mut client = TcpStream::connect(addr).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), get_root(&mut client))
        .await
        .expect("served once the idle connection was cut");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hi"), "{answer}");
    assert!(limit.open() <= 1);
    assert_eq!(limit.gate().snapshot().limit, 1);
    server.abort();
}
