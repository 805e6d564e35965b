//! Priority classes and deadlines through the layer: an axum router, classified by a header.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use floodgate::GateLayer;
use floodgate::gate::{Priority, PriorityHeader, Reason};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// A router whose `/work` holds until the test hands out a ticket.
fn app(
    gate: GateLayer<floodgate::gate::DefaultOnReject, floodgate::gate::NoBypass, PriorityHeader>,
    tickets: Arc<Semaphore>,
) -> Router {
    Router::new()
        .route(
            "/work",
            get(move || async move {
                tickets.acquire().await.unwrap().forget();
                "done"
            }),
        )
        .layer(gate)
}

fn request(priority: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/work");
    if let Some(priority) = priority {
        request = request.header("x-priority", priority);
    }
    request.body(Body::empty()).unwrap()
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn critical_requests_overtake_and_evict_sheddable_ones() {
    let layer = GateLayer::new(1)
        .max_wait(Duration::from_secs(1))
        .max_queue(2)
        .classify(PriorityHeader::from_static("x-priority"));
    let gate = layer.gate().clone();
    let tickets = Arc::new(Semaphore::new(0));
    let app = app(layer, tickets.clone());

    let holder = tokio::spawn(app.clone().oneshot(request(None)));
    settle().await;
    let old = tokio::spawn(app.clone().oneshot(request(Some("sheddable"))));
    settle().await;
    let new = tokio::spawn(app.clone().oneshot(request(Some("sheddable"))));
    settle().await;
    assert_eq!(gate.snapshot().classes.sheddable.queued, 2);

    // The queue is full: a critical request takes the newest sheddable waiter's place.
    let critical = tokio::spawn(app.clone().oneshot(request(Some("critical"))));
    settle().await;
    let evicted = new.await.unwrap().unwrap();
    assert_eq!(evicted.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(evicted.headers()["retry-after"], "1");
    let body = evicted.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("evicted"));

    // One ticket: the holder finishes, the critical request is next, before the older sheddable.
    tickets.add_permits(1);
    assert_eq!(holder.await.unwrap().unwrap().status(), StatusCode::OK);
    settle().await;
    let snapshot = gate.snapshot();
    assert_eq!(snapshot.classes.critical.admitted, 1, "{snapshot:?}");
    assert_eq!(snapshot.classes.sheddable.queued, 1);
    tickets.add_permits(2);
    assert_eq!(critical.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(old.await.unwrap().unwrap().status(), StatusCode::OK);

    let classes = gate.snapshot().classes;
    assert_eq!(
        classes
            .get(Priority::Sheddable)
            .rejected
            .get(Reason::Evicted),
        1
    );
    assert_eq!(classes.get(Priority::Sheddable).admitted, 1);
    assert_eq!(classes.get(Priority::Default).admitted, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_with_too_little_time_left_is_answered_at_once() {
    let layer =
        GateLayer::new(4).deadline_header(http::HeaderName::from_static("x-request-timeout-ms"));
    let gate = layer.gate().clone();
    let app = Router::new()
        .route(
            "/work",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                "done"
            }),
        )
        .layer(layer);
    let with_time_left = |ms: &str| {
        Request::get("/work")
            .header("x-request-timeout-ms", ms)
            .body(Body::empty())
            .unwrap()
    };

    // The first request teaches the gate that work takes 40 ms.
    let response = app.clone().oneshot(with_time_left("1000")).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert_eq!(
        gate.snapshot().expected_service_time,
        Some(Duration::from_millis(40))
    );

    // 10 ms left is not enough: 503 at once, reason `deadline`, and the handler never runs.
    let started = tokio::time::Instant::now();
    let response = app.clone().oneshot(with_time_left("10")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(started.elapsed(), Duration::ZERO);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("deadline"));
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected.deadline), (1, 1));

    // A garbled header is no deadline.
    let response = app.oneshot(with_time_left("soon")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
