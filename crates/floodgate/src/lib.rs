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
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod gate;
mod middleware;
mod metrics;
mod rejection;

pub use crate::gate::{Acquire, Gate, Permit, RejectedCounts, Snapshot, WaitHistogram};
pub use crate::middleware::{
    Bypass, DefaultOnReject, GateBody, GateLayer, GateService, NoBypass, OnReject, ResponseFuture,
};
pub use crate::rejection::{Reason, Rejection};
