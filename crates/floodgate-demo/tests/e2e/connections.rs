//! Connection-level backpressure: `--max-connections` and `--idle-timeout` against clients that
//! never read their answers, under a low file descriptor limit.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{DemoProcess, client, scrape};

#[tokio::test]
async fn slow_readers_cannot_exhaust_file_descriptors() {
    let demo =
        DemoProcess::start_with_fd_limit(&["--max-connections", "32", "--idle-timeout", "1s"], 64);

    // 60 clients that pipeline 300 requests for /metrics each (megabytes of answers) and
    // never read one: without a limit, each would hold a descriptor until a timeout, and 60 of
    // them exceed what the process may open.
    let pipelined = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n".repeat(300);
    let mut slow_readers = Vec::new();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(demo.addr).await.unwrap();
        let requests = pipelined.clone();
        slow_readers.push(tokio::spawn(async move {
            // Kept open, never read: dropped when the test aborts the task.
            let _ = stream.write_all(requests.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }));
    }

    // A health check arrives behind all of them.
    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(20),
        client().get(demo.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answers while the slow readers are cut off")
    .unwrap();
    let waited = started.elapsed();
    assert_eq!(health.status(), 200);
    eprintln!("/healthz answered after {waited:?} behind 60 slow readers");

    let metrics = scrape(&client(), &demo.url("")).await;
    assert_eq!(metrics["floodgate_connections_max"], 32.0);
    assert!(metrics["floodgate_connections_open"] <= 32.0, "{metrics:?}");

    let log = demo.log();
    assert!(
        !log.iter()
            .any(|line| line.contains("Too many open files") || line.contains("accept failed")),
        "no accept failed: {log:?}"
    );
    for reader in slow_readers {
        reader.abort();
    }
}
