//! Admitted-path cost of the rate limit, next to the gate's and to tower_governor's.
//!
//! Run with: `cargo bench -p floodgate --bench rate_limit`
//!
//! Every service here answers on its first poll, so futures are polled by hand with a no-op
//! waker: what is measured is the middleware, not a runtime.
//!
//! The rate limit reads tokio's clock (`clock_gettime`, ~20 ns here) where tower_governor reads
//! quanta's TSC clock (~10 ns): the price of buckets that follow `tokio::time::pause()`. Every limit is set so high that
//! nothing is ever rejected (the admitted path is the one every served request pays). Each
//! iteration builds its request, so the `bare service` rows are the baselines to subtract.

mod support;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use criterion::{Criterion, criterion_group, criterion_main};
use floodgate::rate_limit::PeerIp;
use floodgate::{GateLayer, Quota, RateLimitLayer};
use http::{Request, Response};
use support::call_now;
use tower::{Layer, Service};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::{GlobalKeyExtractor, PeerIpKeyExtractor};

/// The trivial inner service: `200` with an empty body, at once.
#[derive(Debug, Clone, Copy)]
struct Ok200;

impl<B> Service<Request<B>> for Ok200 {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Body::empty())))
    }
}

const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

/// A request from `PEER`, as hyper-based servers hand the address over (floodgate's `PeerIp`
/// reads a `SocketAddr` extension; with the `axum` feature, `ConnectInfo` too).
fn from_peer() -> Request<()> {
    let mut request = Request::new(());
    request.extensions_mut().insert(PEER);
    request
}

/// The same, as axum's `into_make_service_with_connect_info` does (what tower_governor reads).
fn from_peer_connect_info() -> Request<()> {
    let mut request = Request::new(());
    request.extensions_mut().insert(ConnectInfo(PEER));
    request
}

/// A quota that never runs out within a benchmark: a token per nanosecond, a burst of 2^32 - 1.
fn unlimited() -> Quota {
    Quota::per_second(u32::MAX).burst(u32::MAX)
}

fn admitted(c: &mut Criterion) {
    // No tokio runtime is entered: in a bench build (tokio's `test-util` comes with the
    // dev-dependencies) reading tokio's clock inside a runtime takes a mutex, which production
    // builds never do. Outside one it is `std::time::Instant::now()`, as in production.
    let mut group = c.benchmark_group("admitted");

    let mut bare = Ok200;
    group.bench_function("bare service", |b| {
        b.iter(|| black_box(call_now(&mut bare, Request::new(()))))
    });
    group.bench_function("bare service, peer extension", |b| {
        b.iter(|| black_box(call_now(&mut bare, from_peer())))
    });

    let mut gate = GateLayer::new(1 << 20).layer(Ok200);
    group.bench_function("floodgate gate", |b| {
        b.iter(|| black_box(call_now(&mut gate, Request::new(()))))
    });

    let mut global = RateLimitLayer::new(unlimited()).layer(Ok200);
    group.bench_function("floodgate rate limit, global", |b| {
        b.iter(|| black_box(call_now(&mut global, Request::new(()))))
    });

    let mut with_headers = RateLimitLayer::new(unlimited())
        .headers_on_admitted(true)
        .layer(Ok200);
    group.bench_function("floodgate rate limit, global, headers on admitted", |b| {
        b.iter(|| black_box(call_now(&mut with_headers, Request::new(()))))
    });

    let mut peer_ip = RateLimitLayer::keyed(unlimited(), PeerIp).layer(Ok200);
    group.bench_function("floodgate rate limit, peer IP", |b| {
        b.iter(|| black_box(call_now(&mut peer_ip, from_peer())))
    });

    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(u32::MAX)
        .key_extractor(GlobalKeyExtractor)
        .finish()
        .expect("a valid tower_governor config");
    let mut governor_global = GovernorLayer::<_, _, Body>::new(config).layer(Ok200);
    group.bench_function("tower_governor, global", |b| {
        b.iter(|| black_box(call_now(&mut governor_global, Request::new(()))))
    });

    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(u32::MAX)
        .key_extractor(PeerIpKeyExtractor)
        .finish()
        .expect("a valid tower_governor config");
    let mut governor_peer_ip = GovernorLayer::<_, _, Body>::new(config).layer(Ok200);
    group.bench_function("tower_governor, peer IP", |b| {
        b.iter(|| black_box(call_now(&mut governor_peer_ip, from_peer_connect_info())))
    });

    group.finish();
}

criterion_group!(benches, admitted);
criterion_main!(benches);
