//! `POST /admin/backend-capacity?slots=N`: a demo knob that changes the simulated backend's
//! capacity at runtime, to watch an adaptive limit follow it.
//!
//! Not gated, and answered only to loopback clients: a request whose peer address is not
//! loopback, or that has no peer address (the router called in-process, without
//! [`ConnectInfo`]), is answered `403`. The new capacity takes effect at once for requests
//! waiting for a slot; requests holding one keep it (see [`Backend::resize`]).

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{StatusCode, Uri};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::backend::Backend;
use crate::parse;

/// The route, for the router and the messages.
pub(crate) const BACKEND_CAPACITY: &str = "/admin/backend-capacity";

/// `POST /admin/backend-capacity`, with its state.
pub(crate) fn router<S>(backend: Backend) -> Router<S> {
    Router::new()
        .route(BACKEND_CAPACITY, post(set_backend_capacity))
        .with_state(backend)
}

#[derive(Debug, Deserialize)]
struct CapacityParams {
    slots: Option<String>,
}

/// The answer: the capacity now, and before.
#[derive(Debug, Serialize)]
struct CapacityChanged {
    capacity: usize,
    previous: usize,
}

/// Sets the backend's capacity to `?slots=N` (1 to 1000000) and answers it as JSON.
async fn set_backend_capacity(
    State(backend): State<Backend>,
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    uri: Uri,
) -> Response {
    let peer = peer.ok().map(|ConnectInfo(peer)| peer);
    if !is_loopback(peer) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the admin routes answer loopback clients only".to_owned(),
        );
    }
    // Parsed after the peer check, so that others learn nothing but 403.
    let slots = match Query::<CapacityParams>::try_from_uri(&uri) {
        Ok(Query(CapacityParams { slots: Some(slots) })) => slots,
        Ok(_) => return refuse(StatusCode::BAD_REQUEST, "missing ?slots=N".to_owned()),
        Err(err) => return refuse(StatusCode::BAD_REQUEST, err.body_text()),
    };
    let capacity = match parse::backend_capacity(&slots) {
        Ok(capacity) => capacity,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, format!("slots={slots:?}: {err}")),
    };
    let previous = backend.resize(capacity);
    info!(previous, capacity, "backend capacity changed");
    Json(CapacityChanged { capacity, previous }).into_response()
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// Whether `peer` is a loopback address (IPv4-mapped IPv6 included); no peer is not.
fn is_loopback(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tokio::task::JoinHandle;
    use tokio::time::Instant;
    use tower::ServiceExt;

    use super::*;
    use crate::{App, Config};

    const DELAY: Duration = Duration::from_secs(1);
    const LOCALHOST: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);

    fn app(backend_capacity: usize) -> Router {
        App::new(&Config {
            backend_capacity,
            delay: DELAY,
            ..Config::default()
        })
        .into_router()
    }

    /// `POST /admin/backend-capacity?{query}` from `peer` (none: in-process, no peer address).
    async fn post(router: &Router, query: &str, peer: Option<SocketAddr>) -> (StatusCode, String) {
        let mut request = Request::post(format!("{BACKEND_CAPACITY}?{query}"))
            .body(Body::empty())
            .unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A `/slow` request in the background; answers when it finished, from `start`.
    async fn slow(router: &Router, start: Instant) -> JoinHandle<Duration> {
        let request = router
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap());
        let handle = tokio::spawn(async move {
            assert_eq!(request.await.unwrap().status(), StatusCode::OK);
            start.elapsed()
        });
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        handle
    }

    async fn capacity_gauge(router: &Router) -> String {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec())
            .unwrap()
            .lines()
            .find(|line| line.starts_with("floodgate_demo_backend_capacity "))
            .unwrap()
            .to_owned()
    }

    async fn finished(handles: Vec<JoinHandle<Duration>>) -> Vec<Duration> {
        let mut done = Vec::new();
        for handle in handles {
            done.push(handle.await.unwrap());
        }
        done
    }

    #[tokio::test(start_paused = true)]
    async fn raising_the_capacity_starts_waiting_requests_at_once() {
        let router = app(1);
        let start = Instant::now();
        let mut requests = Vec::new();
        for _ in 0..3 {
            requests.push(slow(&router, start).await);
        }
        let answer = post(&router, "slots=3", Some(LOCALHOST)).await;
        assert_eq!(
            answer,
            (StatusCode::OK, r#"{"capacity":3,"previous":1}"#.to_owned())
        );
        assert_eq!(
            capacity_gauge(&router).await,
            "floodgate_demo_backend_capacity 3"
        );
        assert_eq!(finished(requests).await, [DELAY; 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn lowering_the_capacity_spares_requests_in_flight() {
        let router = app(2);
        let start = Instant::now();
        let holders = vec![slow(&router, start).await, slow(&router, start).await];
        let answer = post(&router, "slots=1", Some(LOCALHOST)).await;
        assert_eq!(
            answer,
            (StatusCode::OK, r#"{"capacity":1,"previous":2}"#.to_owned())
        );
        assert_eq!(
            capacity_gauge(&router).await,
            "floodgate_demo_backend_capacity 1"
        );
        let waiters = vec![slow(&router, start).await, slow(&router, start).await];

        // Both holders finish undisturbed; then one request at a time.
        assert_eq!(finished(holders).await, [DELAY, DELAY]);
        assert_eq!(finished(waiters).await, [2 * DELAY, 3 * DELAY]);
    }

    #[tokio::test]
    async fn only_loopback_peers_may_change_the_capacity() {
        let router = app(4);
        let v6 = |ip: Ipv6Addr| Some(SocketAddr::new(ip.into(), 40000));
        for peer in [
            None,
            Some(SocketAddr::from(([192, 0, 2, 1], 40000))),
            Some(SocketAddr::from(([10, 0, 0, 1], 40000))),
            v6("2001:db8::1".parse().unwrap()),
        ] {
            let (status, body) = post(&router, "slots=1", peer).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{peer:?}");
            assert!(body.contains("loopback"), "{peer:?}: {body}");
            // A stranger learns nothing about the parameters.
            let (status, _) = post(&router, "slots=zero", peer).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{peer:?}");
        }
        assert_eq!(
            capacity_gauge(&router).await,
            "floodgate_demo_backend_capacity 4"
        );

        for peer in [
            Some(LOCALHOST),
            Some(SocketAddr::from(([127, 1, 2, 3], 40000))),
            v6(Ipv6Addr::LOCALHOST),
            v6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        ] {
            let (status, body) = post(&router, "slots=5", peer).await;
            assert_eq!(status, StatusCode::OK, "{peer:?}: {body}");
        }
    }

    #[tokio::test]
    async fn bad_requests_say_what_is_wrong() {
        let router = app(4);
        for (query, message) in [
            ("", "missing ?slots=N"),
            ("slot=2", "missing ?slots=N"),
            ("slots=0", "must be at least 1"),
            ("slots=-1", "not a whole number"),
            ("slots=many", "not a whole number"),
            ("slots=1000001", "must be at most 1000000"),
        ] {
            let (status, body) = post(&router, query, Some(LOCALHOST)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(body.contains(message), "{query}: {body}");
        }
        let get = Request::get(format!("{BACKEND_CAPACITY}?slots=2"))
            .extension(ConnectInfo(LOCALHOST))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(get).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            capacity_gauge(&router).await,
            "floodgate_demo_backend_capacity 4"
        );
    }

    #[test]
    fn loopback_means_127_0_0_0_8_and_1() {
        let peer = |ip: &str| Some(SocketAddr::new(ip.parse().unwrap(), 1));
        assert!(is_loopback(peer("127.0.0.1")));
        assert!(is_loopback(peer("127.255.0.9")));
        assert!(is_loopback(peer("::1")));
        assert!(is_loopback(peer("::ffff:127.0.0.1")));
        assert!(!is_loopback(peer("0.0.0.0")));
        assert!(!is_loopback(peer("::ffff:10.0.0.1")));
        assert!(!is_loopback(peer("192.168.1.1")));
        assert!(!is_loopback(None));
    }
}
