//! The rate limit mounted on axum routers: no `HandleErrorLayer`, keys from the connection.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use floodgate::rate_limit::{HeaderKey, PeerIp, Reason};
use floodgate::{GateLayer, Quota, RateLimitLayer};
use http::{Request, StatusCode};
use tower::ServiceExt;

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn mounts_with_router_layer_and_answers_429() {
    let layer = RateLimitLayer::new(Quota::per_second(1).burst(2));
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .layer(layer.clone());

    // Every route shares the one bucket.
    let a = app.clone().oneshot(get_request("/a")).await.unwrap();
    let b = app.clone().oneshot(get_request("/b")).await.unwrap();
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let rejected = app.clone().oneshot(get_request("/a")).await.unwrap();
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rejected.headers()["retry-after"], "1");

    tokio::time::advance(Duration::from_secs(1)).await;
    let again = app.oneshot(get_request("/b")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(layer.limiter().snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn route_layer_limits_only_its_routes_and_runs_before_the_gate() {
    let rate = RateLimitLayer::new(Quota::per_minute(1).burst(1));
    let gate = GateLayer::new(8);
    let app = Router::new()
        .route("/limited", get(|| async { "limited" }))
        .route_layer(gate.clone())
        .route_layer(rate)
        .route("/healthz", get(|| async { "ok" }));

    for _ in 0..3 {
        let health = app.clone().oneshot(get_request("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
    let first = app.clone().oneshot(get_request("/limited")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.oneshot(get_request("/limited")).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    // The rejected request never reached the gate.
    assert_eq!(gate.gate().snapshot().admitted, 1);
}

#[tokio::test(start_paused = true)]
async fn one_bucket_per_header_value() {
    let layer = RateLimitLayer::keyed(
        Quota::per_minute(1).burst(1),
        HeaderKey::from_static("x-api-key"),
    );
    let app = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(layer.clone());
    let with_key = |key: &str| {
        Request::get("/")
            .header("x-api-key", key)
            .body(Body::empty())
            .unwrap()
    };
    for (key, expected) in [
        ("a", StatusCode::OK),
        ("b", StatusCode::OK),
        ("a", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let response = app.clone().oneshot(with_key(key)).await.unwrap();
        assert_eq!(response.status(), expected, "key {key}");
    }
    assert_eq!(layer.limiter().snapshot().keys, 2);
}

/// An app that does not hand the peer address to the rate limit (no `ConnectInfo`, or an axum
/// app built without floodgate's `axum` feature) must not fall silently into one shared bucket:
/// every request is answered 500 and counted, and an error is logged.
#[tokio::test(start_paused = true)]
async fn a_peer_ip_key_without_a_peer_address_is_a_loud_500() {
    let layer = RateLimitLayer::keyed(Quota::per_minute(1).burst(100), PeerIp);
    let app = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(layer.clone());
    for _ in 0..3 {
        let request = Request::get("/").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("cannot see the client's address"),
            "{body:?}"
        );
    }
    let snapshot = layer.limiter().snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected_missing_key), (0, 3));
    assert_eq!(Reason::NoPeerAddress.as_str(), "no_peer_address");
}

/// A real server: `PeerIp` reads axum's `ConnectInfo<SocketAddr>` (feature `axum`).
#[cfg(feature = "axum")]
#[tokio::test]
async fn peer_ip_from_axum_connect_info_over_a_real_socket() {
    use std::net::SocketAddr;

    let layer = RateLimitLayer::keyed(Quota::per_minute(1).burst(2), PeerIp)
        .on_missing_key(floodgate::rate_limit::MissingKey::BadRequest);
    let app = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    // A plain blocking HTTP/1.1 client, one connection per request.
    let statuses = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        (0..3)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream
                    .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                    .unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                response[9..12].to_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    server.abort();
    // 127.0.0.1 has a burst of 2: the third is rejected, not a missing-key 400.
    assert_eq!(statuses, ["200", "200", "429"]);
    assert_eq!(layer.limiter().snapshot().keys, 1);
}
