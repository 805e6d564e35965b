//! Per-request cost of the gate, next to a bare service and tower's `ConcurrencyLimit`.
//!
//! Run with: `cargo bench -p floodgate --bench gate`
//!
//! Every service here answers on its first poll, so futures are polled by hand with a no-op
//! waker: what is measured is the middleware, not a runtime.

mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use floodgate::GateLayer;
use http::{Request, Response, StatusCode};
use support::call_now;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, service_fn};

fn bare() -> impl Service<Request<()>, Response = Response<&'static str>, Error = Infallible> + Clone
{
    service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new("ok")) })
}

fn fast_router() -> Router {
    Router::new().route("/fast", get(|| async { "ok" }))
}

fn fast_request() -> Request<Body> {
    Request::get("/fast").body(Body::empty()).unwrap()
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("per request");

    let mut service = bare();
    group.bench_function("bare service", |b| {
        b.iter(|| black_box(call_now(&mut service, Request::new(()))))
    });

    let mut service = ConcurrencyLimitLayer::new(1024).layer(bare());
    group.bench_function("tower ConcurrencyLimit", |b| {
        b.iter(|| black_box(call_now(&mut service, Request::new(()))))
    });

    let mut service = GateLayer::new(1024).layer(bare());
    group.bench_function("gate, admitted", |b| {
        b.iter(|| black_box(call_now(&mut service, Request::new(()))))
    });

    let layer = GateLayer::new(1).max_queue(0);
    let _held = support::hold_only_permit(layer.gate());
    let mut service = layer.layer(bare());
    group.bench_function("gate, rejected", |b| {
        b.iter(|| {
            let response = call_now(&mut service, Request::new(()));
            debug_assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            black_box(response)
        })
    });

    let mut service = fast_router();
    group.bench_function("axum /fast, no gate", |b| {
        b.iter(|| black_box(call_now(&mut service, fast_request())))
    });

    // `Router::layer`: the gate wraps each route, after routing; axum boxes the response body.
    let mut service = fast_router().layer(GateLayer::new(1024));
    group.bench_function("axum /fast, Router::layer gate, admitted", |b| {
        b.iter(|| black_box(call_now(&mut service, fast_request())))
    });

    let layer = GateLayer::new(1).max_queue(0);
    let _held = support::hold_only_permit(layer.gate());
    let mut service = fast_router().layer(layer);
    group.bench_function("axum /fast, Router::layer gate, rejected", |b| {
        b.iter(|| {
            let response = call_now(&mut service, fast_request());
            debug_assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            black_box(response)
        })
    });

    // The gate around the whole Router: a rejection skips routing and the handler.
    let mut service = GateLayer::new(1024).layer(fast_router());
    group.bench_function("axum /fast, gate around Router, admitted", |b| {
        b.iter(|| black_box(call_now(&mut service, fast_request())))
    });

    let layer = GateLayer::new(1).max_queue(0);
    let _held = support::hold_only_permit(layer.gate());
    let mut service = layer.layer(fast_router());
    group.bench_function("axum /fast, gate around Router, rejected", |b| {
        b.iter(|| {
            let response = call_now(&mut service, fast_request());
            debug_assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            black_box(response)
        })
    });
    group.finish();
}

/// Two threads hammering clones of one service: the shared state is contended.
fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("per request, 2 threads");
    group.bench_function("tower ConcurrencyLimit", |b| {
        let service = ConcurrencyLimitLayer::new(1024).layer(bare());
        b.iter_custom(|iters| contended(iters, &service))
    });
    group.bench_function("gate, admitted", |b| {
        let service = GateLayer::new(1024).layer(bare());
        b.iter_custom(|iters| contended(iters, &service))
    });
    group.finish();
}

/// Runs `iters` requests on each of two threads; returns the wall time divided by two, so the
/// figure is per request of total throughput.
fn contended<S>(iters: u64, service: &S) -> Duration
where
    S: Service<Request<()>> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let mut service = service.clone();
            scope.spawn(move || {
                for _ in 0..iters {
                    black_box(call_now(&mut service, Request::new(())));
                }
            });
        }
    });
    start.elapsed() / 2
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
