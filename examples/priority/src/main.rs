//! Run with: cargo run -p example-priority
//!
//! One gate, three classes of traffic (Google SRE's criticality, Netflix's partitions):
//!
//! - `POST /checkout` is **critical**: one slot in eight is kept for it, it is served before
//!   anything else waiting, and it takes the place of a sheddable waiter when the queue is full;
//! - `GET /recommendations` is **sheddable**: it waits half as long and is the first to go;
//! - everything else is **default**, unless a trusted internal caller says otherwise with
//!   `x-priority: critical|default|sheddable` (the edge proxy strips it from outside traffic).
//!
//! Clients may also send `x-request-timeout-ms`, their time left: a request that cannot be
//! served before it ends is answered `503` at once instead of doing work nobody will read.

#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use floodgate::GateLayer;
use floodgate::gate::{Classify, Priority, PriorityHeader};
use http::HeaderName;

/// Checkout is critical and recommendations sheddable, whatever the header says; the rest reads
/// `x-priority`.
fn classify(request: &Request) -> Priority {
    match request.uri().path() {
        "/checkout" => Priority::Critical,
        "/recommendations" => Priority::Sheddable,
        _ => PriorityHeader::from_static("x-priority").classify(request),
    }
}

/// The app behind one gate of `limit` slots; each request takes `work`.
fn app(limit: usize, work: Duration) -> (Router, floodgate::Gate) {
    let gate = GateLayer::new(limit)
        .max_wait(Duration::from_millis(100))
        .reserve(Priority::Critical, 0.125)
        .deadline_header(HeaderName::from_static("x-request-timeout-ms"))
        .classify(classify);
    let handle = gate.gate().clone();
    let slow = move || async move {
        tokio::time::sleep(work).await;
        "ok\n"
    };
    let app = Router::new()
        .route("/checkout", post(slow))
        .route("/recommendations", get(slow))
        .route("/items", get(slow))
        .layer(gate);
    (app, handle)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!(
        "try: curl -i -X POST localhost:3000/checkout; curl -i localhost:3000/recommendations"
    );
    let (app, _gate) = app(8, Duration::from_millis(50));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Method, StatusCode};
    use tokio::task::JoinSet;
    use tower::ServiceExt;

    use super::*;

    /// Sends a request and returns its status (dropping the response, and the permit its body
    /// holds).
    async fn status(app: Router, request: Request) -> StatusCode {
        app.oneshot(request).await.unwrap().status()
    }

    fn request(method: Method, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    /// A flood of sheddable requests (4 times what the gate serves) does not keep a trickle of
    /// checkouts out: every checkout succeeds, and the excess recommendations get 503.
    #[tokio::test(start_paused = true)]
    async fn checkouts_get_through_a_flood_of_recommendations() {
        let (app, gate) = app(8, Duration::from_millis(50));
        let mut recommendations = JoinSet::new();
        let mut checkouts = JoinSet::new();
        // 2 seconds: 32 recommendations every 50 ms (640/s against 160/s), a checkout every 25 ms.
        for tick in 0..80 {
            if tick % 2 == 0 {
                for _ in 0..32 {
                    let request = request(Method::GET, "/recommendations");
                    recommendations.spawn(status(app.clone(), request));
                }
            }
            checkouts.spawn(status(app.clone(), request(Method::POST, "/checkout")));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut served = 0;
        while let Some(response) = checkouts.join_next().await {
            assert_eq!(response.unwrap(), StatusCode::OK, "{:?}", gate.snapshot());
            served += 1;
        }
        assert_eq!(served, 80);
        let mut shed = 0;
        while let Some(response) = recommendations.join_next().await {
            shed += usize::from(response.unwrap() != StatusCode::OK);
        }
        assert!(
            shed > 600,
            "most of the excess sheddable load was turned away: {shed}"
        );
        let classes = gate.snapshot().classes;
        assert_eq!(classes.critical.admitted, 80);
        assert_eq!(classes.critical.rejected.total(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_without_time_enough_is_answered_at_once() {
        let (app, gate) = app(8, Duration::from_millis(50));
        let response = app.clone().oneshot(request(Method::GET, "/items")).await;
        assert_eq!(response.unwrap().status(), StatusCode::OK);

        let mut hurried = request(Method::GET, "/items");
        hurried
            .headers_mut()
            .insert("x-request-timeout-ms", "20".parse().unwrap());
        let started = tokio::time::Instant::now();
        let response = app.oneshot(hurried).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(gate.snapshot().rejected.deadline, 1);
    }
}
