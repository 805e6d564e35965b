//! The gate as tower middleware: mocked inner services, and axum routers served with `oneshot`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use bytes::Bytes;
use floodgate::GateLayer;
use floodgate::gate::{GateService, Reason, Rejection};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

const MAX_WAIT: Duration = Duration::from_millis(100);

type Inner = mock::Mock<Request<()>, Response<Full<Bytes>>>;
type Handle = mock::Handle<Request<()>, Response<Full<Bytes>>>;

fn gated(limit: usize) -> (GateLayer, GateService<Inner>, Handle) {
    let layer = GateLayer::new(limit).max_wait(MAX_WAIT);
    let (inner, handle) = mock::pair();
    (layer.clone(), layer.layer(inner), handle)
}

fn ok_response(body: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(body.as_bytes())))
}

async fn body_text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_request_beyond_the_limit_waits_then_gets_503_without_reaching_the_service() {
    let (layer, service, mut handle) = gated(1);
    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let (_request, _first_reply) = handle.next_request().await.unwrap();

    let mut second = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(second.poll());
    assert_eq!(layer.gate().snapshot().queued, 1);

    advance(MAX_WAIT).await;
    let response = assert_ready_ok!(second.poll());
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert!(body_text(response).await.contains("overloaded"));

    // Every handle to the inner service is gone, and it only ever saw the first request.
    assert!(handle.next_request().await.is_none());
    assert_eq!(layer.gate().snapshot().rejected.timeout, 1);
}

#[tokio::test(start_paused = true)]
async fn a_queued_request_is_served_when_a_permit_frees() {
    let (layer, service, mut handle) = gated(1);
    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let (_, reply) = handle.next_request().await.unwrap();

    let mut second = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(second.poll());

    reply.send_response(ok_response("first"));
    let first = assert_ready_ok!(first.poll());
    assert_eq!(layer.gate().snapshot().in_flight, 1, "held by the body");
    assert_eq!(body_text(first).await, "first");

    // The body finished: the permit went to the waiter, which now reaches the inner service.
    assert_pending!(second.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(ok_response("second"));
    let second = assert_ready_ok!(second.poll());
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(layer.gate().snapshot().rejected.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_503_at_once() {
    let layer = GateLayer::new(1).max_wait(MAX_WAIT).max_queue(0);
    let (inner, mut handle) = mock::pair();
    let service: GateService<Inner> = layer.layer(inner);
    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let _in_flight = handle.next_request().await.unwrap();

    let mut second = tokio_test::task::spawn(service.oneshot(Request::new(())));
    let response = assert_ready_ok!(second.poll());
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(layer.gate().snapshot().rejected.queue_full, 1);
}

#[test]
fn configuring_a_clone_leaves_the_original_alone() {
    let original = GateLayer::new(8).max_wait(MAX_WAIT).max_queue(16);
    let clone = original.clone().max_wait(Duration::ZERO).max_queue(0);
    let (kept, changed) = (original.gate().snapshot(), clone.gate().snapshot());
    assert_eq!((kept.max_wait, kept.max_queue), (MAX_WAIT, 16));
    assert_eq!((changed.max_wait, changed.max_queue), (Duration::ZERO, 0));

    // Sharing is written down: `from_gate`.
    let shared = GateLayer::from_gate(original.gate().clone());
    shared.gate().set_limit(2);
    assert_eq!(original.gate().snapshot().limit, 2);
}

#[test]
fn the_limit_given_to_new_is_the_ceiling_of_an_adaptive_limit() {
    use floodgate::limit::Aimd;
    let layer = GateLayer::new(64).limit_algorithm(Aimd::new().initial_limit(100).max_limit(256));
    assert_eq!(
        layer.gate().snapshot().limit,
        64,
        "not dropped, and not exceeded"
    );
    let layer = GateLayer::new(64).limit_algorithm(Aimd::new().initial_limit(10).max_limit(256));
    assert_eq!(layer.gate().snapshot().limit, 10);
}

#[tokio::test(start_paused = true)]
async fn the_body_holds_the_permit_until_it_is_read_or_dropped() {
    let (layer, mut service, mut handle) = gated(2);
    let gate = layer.gate().clone();
    handle.allow(2);
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let pending = service.call(Request::new(()));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(ok_response("read me"));
    let response = pending.await.unwrap();
    assert_eq!(gate.snapshot().in_flight, 1);
    assert_eq!(body_text(response).await, "read me");
    assert_eq!(
        gate.snapshot().in_flight,
        0,
        "released at the end of the body"
    );

    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let pending = service.call(Request::new(()));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(ok_response("never read"));
    let response = pending.await.unwrap();
    assert_eq!(gate.snapshot().in_flight, 1);
    drop(response);
    assert_eq!(
        gate.snapshot().in_flight,
        0,
        "released when the body is dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_releases_the_permit() {
    let (layer, service, mut handle) = gated(1);
    let mut call = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(call.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("backend down");
    assert!(call.await.is_err());
    assert_eq!(layer.gate().snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_goes_away_while_queued_frees_its_place() {
    let (layer, service, mut handle) = gated(1);
    let _layer = layer.clone().max_queue(1);
    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let (_, reply) = handle.next_request().await.unwrap();

    let mut impatient = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(impatient.poll());
    assert_eq!(layer.gate().snapshot().queued, 1);
    drop(impatient);
    assert_eq!(layer.gate().snapshot().queued, 0);

    let mut patient = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(patient.poll(), "the freed place lets it queue");
    reply.send_response(ok_response("done"));
    drop(assert_ready_ok!(first.poll()));
    assert_pending!(patient.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(ok_response("done"));
    assert_eq!(assert_ready_ok!(patient.poll()).status(), StatusCode::OK);
    assert_eq!(layer.gate().snapshot().rejected.total(), 0);
}

#[tokio::test]
async fn a_panicking_handler_gives_its_permit_back() {
    let layer = GateLayer::new(1);
    let gate = layer.gate().clone();
    let service = layer.layer(tower::service_fn(|_: Request<()>| async {
        panic!("handler bug");
        #[allow(unreachable_code)]
        Ok::<_, Infallible>(ok_response(""))
    }));
    let outcome = tokio::spawn(service.clone().oneshot(Request::new(()))).await;
    assert!(outcome.unwrap_err().is_panic());
    assert_eq!(gate.snapshot().in_flight, 0);

    // With tower-http's CatchPanic outside the gate, the client gets a 500 and the slot is free.
    let service = tower_http::catch_panic::CatchPanicLayer::new().layer(service);
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(gate.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn clones_of_the_layer_and_service_share_one_limit() {
    let (layer, service, mut handle) = gated(1);
    let other_service = layer.clone().layer(service.clone().into_inner());
    let mut first = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(first.poll());
    let _in_flight = handle.next_request().await.unwrap();
    let mut second = tokio_test::task::spawn(other_service.oneshot(Request::new(())));
    assert_pending!(second.poll());
    assert_eq!(layer.gate().snapshot().queued, 1);
}

#[tokio::test(start_paused = true)]
async fn a_custom_rejection_gets_retry_after_if_it_has_none() {
    let (inner, mut handle) = mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let layer = GateLayer::new(1)
        .max_queue(0)
        .retry_after(Duration::from_secs(5))
        .on_reject(|rejection: &Rejection| {
            let mut response = ok_response("custom");
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
                .headers_mut()
                .insert("x-reason", rejection.reason().as_str().parse().unwrap());
            response
        });
    let service = layer.layer(inner);
    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let _in_flight = handle.next_request().await.unwrap();

    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["x-reason"], "queue_full");
    assert_eq!(response.headers()[RETRY_AFTER], "5");
    assert_eq!(body_text(response).await, "custom");
}

#[tokio::test(start_paused = true)]
async fn bypassed_requests_are_never_gated_or_counted() {
    let (inner, mut handle) = mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let layer = GateLayer::new(1)
        .max_queue(0)
        .bypass(|request: &Request<()>| request.uri().path() == "/healthz");
    let gate = layer.gate().clone();
    let service = layer.layer(inner);
    let mut busy = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(busy.poll());
    let _in_flight = handle.next_request().await.unwrap();

    let health = Request::get("/healthz").body(()).unwrap();
    let mut health = tokio_test::task::spawn(service.oneshot(health));
    assert_pending!(health.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request.uri().path(), "/healthz");
    reply.send_response(ok_response("ok"));
    assert_eq!(assert_ready_ok!(health.poll()).status(), StatusCode::OK);
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected.total()), (1, 0));
}

// --- axum ---------------------------------------------------------------------------------

/// A handler that holds its request until the test lets it go.
fn held_route(release: tokio::sync::watch::Receiver<bool>) -> axum::routing::MethodRouter {
    get(move || {
        let mut release = release.clone();
        async move {
            release.wait_for(|go| *go).await.unwrap();
            "done"
        }
    })
}

fn request(path: &str) -> AxumRequest {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn two_routes_of_one_router_share_one_limit() {
    let (release, held) = tokio::sync::watch::channel(false);
    let layer = GateLayer::new(1).max_wait(MAX_WAIT);
    let app = Router::new()
        .route("/a", held_route(held.clone()))
        .route("/b", held_route(held))
        .layer(layer.clone());

    let a = tokio::spawn(app.clone().oneshot(request("/a")));
    while layer.gate().snapshot().in_flight == 0 {
        tokio::task::yield_now().await;
    }
    let b = app.oneshot(request("/b")).await.unwrap();
    assert_eq!(b.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.headers()[RETRY_AFTER], "1");

    release.send(true).unwrap();
    let a = a.await.unwrap().unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(body_text(a).await, "done");
    assert_eq!(layer.gate().snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn route_layer_gates_only_the_routes_above_it() {
    let (release, held) = tokio::sync::watch::channel(false);
    let layer = GateLayer::new(1).max_queue(0);
    let app = Router::new()
        .route("/work", held_route(held))
        .route_layer(layer.clone())
        .route("/healthz", get(|| async { "ok" }));

    let work = tokio::spawn(app.clone().oneshot(request("/work")));
    while layer.gate().snapshot().in_flight == 0 {
        tokio::task::yield_now().await;
    }
    let busy = app.clone().oneshot(request("/work")).await.unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = app.oneshot(request("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    release.send(true).unwrap();
    assert_eq!(work.await.unwrap().unwrap().status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn an_axum_rejection_can_be_any_into_response() {
    let (release, held) = tokio::sync::watch::channel(false);
    let layer = GateLayer::new(1)
        .max_queue(0)
        .on_reject(|rejection: &Rejection| -> AxumResponse {
            let content_type = [(CONTENT_TYPE, "application/problem+json")];
            let body = format!(r#"{{"status":503,"detail":"{}"}}"#, rejection.reason());
            (StatusCode::SERVICE_UNAVAILABLE, content_type, body).into_response()
        });
    let gate = layer.gate().clone();
    let app = Router::new().route("/", held_route(held)).layer(layer);

    let first = tokio::spawn(app.clone().oneshot(request("/")));
    while gate.snapshot().in_flight == 0 {
        tokio::task::yield_now().await;
    }
    let rejected = app.oneshot(request("/")).await.unwrap();
    assert_eq!(rejected.headers()[CONTENT_TYPE], "application/problem+json");
    assert_eq!(rejected.headers()[RETRY_AFTER], "1");
    assert_eq!(
        body_text(rejected).await,
        r#"{"status":503,"detail":"queue_full"}"#
    );
    assert_eq!(gate.snapshot().rejected.get(Reason::QueueFull), 1);
    release.send(true).unwrap();
    first.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn closing_answers_503_while_in_flight_requests_finish() {
    let (release, held) = tokio::sync::watch::channel(false);
    let layer = GateLayer::new(4);
    let gate = layer.gate().clone();
    let app = Router::new().route("/", held_route(held)).layer(layer);

    let in_flight = tokio::spawn(app.clone().oneshot(request("/")));
    while gate.snapshot().in_flight == 0 {
        tokio::task::yield_now().await;
    }
    gate.close();
    let late = app.oneshot(request("/")).await.unwrap();
    assert_eq!(late.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_text(late).await.contains("shutting down"));

    let (done_tx, mut done_rx) = oneshot::channel();
    let drained = gate.drained();
    tokio::spawn(async move {
        drained.await;
        done_tx.send(()).unwrap();
    });
    tokio::task::yield_now().await;
    assert!(
        done_rx.try_recv().is_err(),
        "not drained while a request runs"
    );

    release.send(true).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    done_rx.await.unwrap();
}

// --- adaptive limits --------------------------------------------------------------------

/// Records every sample; the limit becomes 1 + the number of samples seen.
#[derive(Debug, Clone, Default)]
struct Recording(std::sync::Arc<std::sync::Mutex<Vec<floodgate::limit::Sample>>>);

impl floodgate::limit::LimitAlgorithm for Recording {
    fn initial_limit(&self) -> usize {
        1
    }

    fn update(&mut self, sample: &floodgate::limit::Sample) -> usize {
        let mut samples = self.0.lock().unwrap();
        samples.push(*sample);
        1 + samples.len()
    }
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_learns_latency_and_outcome_and_resizes_live() {
    let samples = Recording::default();
    let (inner, mut handle) = mock::pair::<Request<()>, Response<Full<Bytes>>>();
    let layer = GateLayer::new(8)
        .max_wait(Duration::from_secs(1))
        .limit_algorithm(samples.clone());
    let gate = layer.gate().clone();
    assert_eq!(gate.snapshot().limit, 1, "the algorithm's initial limit");
    let service = layer.layer(inner);

    let mut first = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    assert_pending!(first.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    let mut second = tokio_test::task::spawn(service.clone().oneshot(Request::new(())));
    let mut third = tokio_test::task::spawn(service.oneshot(Request::new(())));
    assert_pending!(second.poll());
    assert_pending!(third.poll());
    assert_eq!(gate.snapshot().queued, 2);

    advance(Duration::from_millis(30)).await;
    let mut failed = ok_response("boom");
    *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    reply.send_response(failed);
    drop(assert_ready_ok!(first.poll()));

    // One sample in: the limit is now 2, so both waiters get in at once.
    assert_eq!(
        samples.0.lock().unwrap()[..],
        [floodgate::limit::Sample::new(
            Duration::from_millis(30),
            1,
            true
        )]
    );
    let snapshot = gate.snapshot();
    assert_eq!(
        (snapshot.limit, snapshot.in_flight, snapshot.queued),
        (2, 2, 0)
    );

    assert_pending!(second.poll());
    assert_pending!(third.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(ok_response("fine"));
    let (_, reply) = handle.next_request().await.unwrap();
    advance(Duration::from_millis(10)).await;
    reply.send_response(ok_response("fine"));
    drop(assert_ready_ok!(second.poll()));
    drop(assert_ready_ok!(third.poll()));
    let samples = samples.0.lock().unwrap();
    assert_eq!(samples.len(), 3);
    assert!(
        samples[1..]
            .iter()
            .all(|sample| !sample.dropped && sample.in_flight <= 2)
    );
    assert_eq!(gate.snapshot().limit, 4);
}

/// A response body that never ends: an event stream left open.
struct Endless;

impl http_body::Body for Endless {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn streams_hold_their_permit_to_the_end_of_the_body_unless_released_at_the_head() {
    use floodgate::gate::ReleaseAt;
    use tower::{Layer as _, ServiceExt as _, service_fn};

    let stream = service_fn(|_: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Endless))
    });
    let request = || http::Request::get("/events").body(()).unwrap();

    // Held to the end of the body: two open streams fill a gate of 2, the third is turned away.
    let holding = GateLayer::new(2).max_wait(std::time::Duration::ZERO);
    let open: Vec<_> = futures_open(&holding, stream, request).await;
    assert_eq!(holding.gate().snapshot().in_flight, 2);
    let third = holding.layer(stream).oneshot(request()).await.unwrap();
    assert_eq!(third.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    drop(open);
    assert_eq!(
        holding.gate().snapshot().in_flight,
        0,
        "dropping a stream frees its permit"
    );

    // Released at the head: the streams stay open and the gate stays free.
    let releasing = GateLayer::new(2)
        .max_wait(std::time::Duration::ZERO)
        .release_at(ReleaseAt::Headers);
    let open = futures_open(&releasing, stream, request).await;
    assert_eq!(releasing.gate().snapshot().in_flight, 0);
    let third = releasing.layer(stream).oneshot(request()).await.unwrap();
    assert_eq!(third.status(), http::StatusCode::OK);
    assert_eq!(releasing.gate().snapshot().admitted, 3);
    drop(open);
}

/// Two responses of `service` through `layer`, their bodies kept open.
async fn futures_open<S>(
    layer: &GateLayer,
    service: S,
    request: impl Fn() -> http::Request<()>,
) -> Vec<http::Response<floodgate::gate::ResponseBody<Endless>>>
where
    S: tower::Service<
            http::Request<()>,
            Response = http::Response<Endless>,
            Error = std::convert::Infallible,
        > + Clone,
{
    use tower::{Layer as _, ServiceExt as _};
    let mut open = Vec::new();
    for _ in 0..2 {
        let response = layer
            .layer(service.clone())
            .oneshot(request())
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        open.push(response);
    }
    open
}
