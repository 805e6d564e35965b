//! Backpressure for [tower] and [axum] services.
//!
//! When traffic outgrows what a service can serve, requests pile up: in the runtime, in a
//! database pool, in memory. Latency climbs for everybody until clients time out, retry, and make
//! it worse. Floodgate admits what the service can serve and answers the rest at once with a
//! clear `503 Service Unavailable` and `Retry-After`, cheaply, so that the service stays fast for
//! the requests it accepts and clients learn to slow down.
//!
//! [`GateLayer`] is a concurrency limit with a bounded wait: at most `limit` requests in flight,
//! the next ones wait in a bounded queue for at most `max_wait`, and whoever cannot get in is
//! answered `503` at once.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, body::Body, routing::get};
//! use floodgate::GateLayer;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let gate = GateLayer::new(1).max_wait(Duration::from_millis(50));
//! let app = Router::new()
//!     .route("/slow", get(|| async {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         "done"
//!     }))
//!     .layer(gate.clone());
//!
//! // The first request takes the only slot for a second...
//! let request = || Request::get("/slow").body(Body::empty()).unwrap();
//! let first = tokio::spawn(app.clone().oneshot(request()));
//! while gate.gate().snapshot().in_flight == 0 {
//!     tokio::task::yield_now().await;
//! }
//!
//! // ...so the second waits 50ms for it, then is turned away.
//! let second = app.oneshot(request()).await.unwrap();
//! assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(second.headers()["retry-after"], "1");
//!
//! assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
//! # }
//! ```
//!
//! [`RateLimitLayer`] is a token bucket (GCRA, built on [governor]): a steady rate with a burst
//! allowance, for all requests or per key ([`PeerIp`], [`HeaderKey`], [`ClientIp`] behind trusted
//! proxies, or any function of the request head). A request over the rate is answered
//! `429 Too Many Requests` with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` fields,
//! at once or after a bounded wait for a token; the buckets run on tokio's clock, so tests with
//! paused time are exact to the token.
//!
//! # Conventions
//!
//! - **A rejection is a response, not an error**: the service's error type is the inner one, so
//!   the layer mounts with axum's `Router::layer` or `route_layer` directly, with no
//!   `HandleErrorLayer`.
//! - **Waiting happens in the response future**, bounded by `max_wait`; `poll_ready` only asks
//!   the inner service (axum treats services as always ready).
//! - **One gate per layer value**: the [`Gate`] lives behind an `Arc` in the layer, so every
//!   clone and every route shares one limit. [`GateLayer::gate`] hands out the handle for stats,
//!   live limit changes and graceful shutdown.
//! - **A permit lives until the response body is done** (or dropped): a streaming response counts
//!   against the limit. A client that disconnects while queued leaves the queue at once, and a
//!   handler that panics gives its permit back as its future unwinds.
//!
//! # Queue disciplines
//!
//! Under sustained overload a first-come-first-served queue never drains: every admitted
//! request has waited almost `max_wait`, every rejected one all of it. [`Queue::Lifo`]
//! (adaptive LIFO) and [`Queue::Codel`] notice when the queue has stood for half of `max_wait` and from
//! then on let requests wait only a few milliseconds, newest first (LIFO) or shedding the stale
//! (CoDel): a short burst is still absorbed whole, while under sustained overload admitted
//! requests barely wait and the others get their `503` at once. Measured in virtual time (limit
//! 8, 50 ms of work, `max_wait` 100 ms, 64 clients in a closed loop):
//!
//! | queue | goodput | wait of admitted requests, p99 | time to a 503, median |
//! |---|---|---|---|
//! | `Fifo` | 160/s | 99 ms | 100 ms |
//! | `Lifo` | 160/s | 4 ms | 5 ms |
//! | `Codel` | 160/s | 5 ms | 5 ms |
//!
//! # Adaptive limits
//!
//! The right limit is rarely known in advance and changes with the backend. With
//! [`GateLayer::limit_algorithm`], a [`LimitAlgorithm`] sets it from the latency and outcome of
//! every request, live: see the [`limit`] module for [`Aimd`], [`Gradient2`] and [`Vegas`] and
//! when to use which.
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum
//! [governor]: https://docs.rs/governor

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod gate;
pub mod limit;
mod metrics;
mod middleware;
mod rate_limit;
mod rejection;

pub use crate::gate::{Acquire, Gate, Permit, Queue, RejectedCounts, Snapshot, WaitHistogram};
pub use crate::limit::{Aimd, Fixed, Gradient2, LimitAlgorithm, Sample, Vegas};
pub use crate::middleware::{
    Bypass, DefaultOnReject, GateBody, GateLayer, GateService, NoBypass, OnReject, ResponseFuture,
};
pub use crate::rate_limit::{
    ClientIp, ClientKey, DefaultOnRateLimited, Global, HeaderKey, IpNet, KeyExtractor, KeySpec,
    MissingKey, OnRateLimited, ParseKeySpecError, PeerIp, Quota, RateLimitBody, RateLimitFuture,
    RateLimitLayer, RateLimitReason, RateLimitRejection, RateLimitService, RateLimitSnapshot,
    RateLimiter, RequestHead,
};
pub use crate::rejection::{Reason, Rejection, retry_after_secs};
