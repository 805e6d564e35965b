//! `--http2`: h2c with prior knowledge, many requests as streams on few connections, with both
//! engines, against an axum server that speaks HTTP/1.1 and h2c.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Version;
use axum::routing::get;
use floodgate_load::server_thread::ServerThread;
use floodgate_load::{EngineKind, LoadOpts, load};

/// What the server saw: the protocol of each request, and the connections they came on.
#[derive(Debug, Default)]
struct Seen {
    versions: Vec<Version>,
    peers: HashSet<SocketAddr>,
}

fn server(seen: Arc<Mutex<Seen>>) -> ServerThread {
    let router = Router::new().route(
        "/",
        get(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, version: Version| async move {
                let mut seen = seen.lock().unwrap();
                seen.versions.push(version);
                seen.peers.insert(peer);
                "ok"
            },
        ),
    );
    ServerThread::start(|listener, shutdown| async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    })
    .expect("a server on 127.0.0.1:0")
}

#[test]
fn requests_are_streams_on_a_few_connections_with_both_engines() {
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let server = server(Arc::clone(&seen));
        let mut opts = LoadOpts::new(server.url("/").parse().unwrap());
        opts.no_progress = true;
        opts.engine = engine;
        opts.http2 = true;
        opts.concurrency = 32;
        opts.requests = Some(400);
        let report = load(&opts).unwrap();

        assert_eq!(
            report.status.get("200"),
            Some(&400),
            "{engine:?}: {report:#?}"
        );
        assert_eq!(report.http_version, "HTTP/2");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.versions.len(), 400);
        assert!(
            seen.versions
                .iter()
                .all(|version| *version == Version::HTTP_2),
            "{engine:?}: every request arrived as HTTP/2"
        );
        // 32 workers on at most a few runtime threads, one connection per thread: far fewer
        // connections than requests in flight.
        assert!(
            seen.peers.len() <= 4,
            "{engine:?}: {} connections for 32 workers",
            seen.peers.len()
        );
    }
}

#[test]
fn without_http2_the_same_server_sees_http_1_1() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server(Arc::clone(&seen));
    let mut opts = LoadOpts::new(server.url("/").parse().unwrap());
    opts.no_progress = true;
    opts.concurrency = 8;
    opts.requests = Some(40);
    let report = load(&opts).unwrap();
    assert_eq!(report.http_version, "HTTP/1.1");
    let seen = seen.lock().unwrap();
    assert!(
        seen.versions
            .iter()
            .all(|version| *version == Version::HTTP_11)
    );
    assert_eq!(seen.peers.len(), 8, "one connection per worker");
}

/// A server that answers every connection with an HTTP/1.1 error and closes it: the HTTP/2
/// handshake fails, each request counts as an error, and the run ends.
#[test]
fn a_server_without_h2c_gives_errors_not_a_hang() {
    let server = ServerThread::start(|listener, shutdown| async move {
        use tokio::io::AsyncWriteExt;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((mut stream, _)) = accepted else { continue };
                    let _ = stream
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            }
        }
    })
    .unwrap();
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut opts = LoadOpts::new(server.url("/").parse().unwrap());
        opts.no_progress = true;
        opts.engine = engine;
        opts.http2 = true;
        opts.concurrency = 2;
        opts.requests = Some(10);
        opts.timeout = std::time::Duration::from_secs(5);
        let report = load(&opts).unwrap();
        assert_eq!(report.requests, 10, "{engine:?}");
        assert_eq!(report.errors.total(), 10, "{engine:?}: {report:#?}");
        assert_eq!(
            report.errors.timeout, 0,
            "{engine:?}: refused at once, not timed out"
        );
    }
}
