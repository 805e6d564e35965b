//! The gate: a concurrency limit with a bounded, cancellable wait, as a tower layer.
//!
//! At most `limit` requests are in flight; the next ones wait in a bounded queue for at most
//! `max_wait`; whoever cannot get in is answered `503 Service Unavailable` with `Retry-After`,
//! at once. [`GateLayer`] wraps a service; [`Gate`] is the shared state behind it, usable on its
//! own around any async work ([`Gate::acquire`]).
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
//!   clone and every route shares one limit; a layer configured differently is a different gate.
//! - **A permit lives until the response body is done** (or dropped): a streaming response counts
//!   against the limit. A client that disconnects while queued leaves the queue at once, and a
//!   handler that panics gives its permit back as its future unwinds.
//!
//! # Cost
//!
//! While nobody waits, a request is admitted and its permit given back by one atomic
//! compare-and-swap each, without a lock; only requests that must queue, and the releases that
//! hand their permits on, take the gate's mutex.
//!
//! # Queue disciplines
//!
//! Under sustained overload a first-come-first-served queue never drains: every admitted
//! request has waited almost `max_wait`, every rejected one all of it. [`Queue::Lifo`]
//! (adaptive LIFO) and [`Queue::Codel`] notice when the queue has stood for half of `max_wait`
//! and from then on let requests wait only a few milliseconds, newest first (LIFO) or shedding
//! the stale (CoDel): a short burst is still absorbed whole, while under sustained overload
//! admitted requests barely wait and the others get their `503` at once. Measured in virtual
//! time (limit 8, 50 ms of work, `max_wait` 100 ms, 64 clients in a closed loop):
//!
//! | queue | goodput | wait of admitted requests, p99 | time to a 503, median |
//! |---|---|---|---|
//! | `Fifo` | 160/s | 99 ms | 100 ms |
//! | `Lifo` | 160/s | 4 ms | 5 ms |
//! | `Codel` | 160/s | 5 ms | 5 ms |
//!
//! # Priority classes and deadlines
//!
//! Not every request matters as much: [`GateLayer::classify`] gives each a [`Priority`]
//! (`critical`, `default`, `sheddable`). Under pressure, higher classes are served first, a full
//! queue evicts the newest waiter of a lower class ([`Reason::Evicted`]), a share of the limit
//! can be kept for higher classes ([`GateConfig::reserve`]), and sheddable requests wait half of
//! `max_wait`. Requests also carry deadlines: with [`GateLayer::deadlines`] the gate reads
//! `grpc-timeout` (and [`GateLayer::deadline_header`], a plain header), learns how long its
//! requests take, and answers at once a request that cannot be served in time
//! ([`Reason::Deadline`]) instead of doing work its client will throw away.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, body::Body, routing::get};
//! use floodgate::GateLayer;
//! use floodgate::gate::{Priority, PriorityHeader, Reason};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let gate = GateLayer::new(1)
//!     .max_wait(Duration::from_secs(2))
//!     .max_queue(1)
//!     .classify(PriorityHeader::from_static("x-priority"));
//! let app = Router::new()
//!     .route("/", get(|| tokio::time::sleep(Duration::from_secs(1))))
//!     .layer(gate.clone());
//! // Sends a request in the background; the status comes back, the response (and its permit) goes.
//! let send = |class: &'static str| {
//!     let request = Request::get("/").header("x-priority", class).body(Body::empty()).unwrap();
//!     let app = app.clone();
//!     tokio::spawn(async move { app.oneshot(request).await.unwrap().status() })
//! };
//!
//! let running = send("default");
//! let waiting = send("sheddable");
//! while gate.gate().snapshot().queued == 0 {
//!     tokio::task::yield_now().await;
//! }
//! // The queue is full: a critical request takes the sheddable one's place.
//! let critical = send("critical");
//! assert_eq!(waiting.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(running.await.unwrap(), StatusCode::OK);
//! assert_eq!(critical.await.unwrap(), StatusCode::OK);
//! let classes = gate.gate().snapshot().classes;
//! assert_eq!(classes.get(Priority::Sheddable).rejected.get(Reason::Evicted), 1);
//! # }
//! ```
//!
//! # Adaptive limits
//!
//! With [`GateLayer::limit_algorithm`], a [`LimitAlgorithm`](crate::limit::LimitAlgorithm) sets
//! the limit from the latency and outcome of every request, live, below the ceiling given to
//! [`GateLayer::new`]: see the [`limit`](crate::limit) module.

mod acquire;
mod config;
mod controller;
mod deadline;
mod discipline;
mod handle;
mod histogram;
mod layer;
mod permit;
mod priority;
mod rejection;
mod release;
mod response;
mod service;
mod snapshot;
mod state;
mod waiters;

pub use self::acquire::Acquire;
pub use self::config::GateConfig;
pub use self::deadline::Deadline;
pub use self::discipline::Queue;
pub use self::handle::Gate;
pub use self::histogram::WaitHistogram;
pub use self::layer::GateLayer;
pub use self::permit::Permit;
pub use self::priority::{Classify, ExtensionPriority, Priority, PriorityHeader};
pub use self::rejection::{Reason, Rejection};
pub use self::release::ReleaseAt;
pub use self::response::{Bypass, NoBypass};
pub use self::service::{GateService, ResponseBody};
pub use self::snapshot::{ClassSnapshot, ClassSnapshots, RejectedCounts, Snapshot};
pub use crate::middleware::{DefaultOnReject, OnReject};

/// The response future of [`GateService`].
pub mod future {
    use super::priority::ExtensionPriority;
    use super::response::NoBypass;
    use super::service::GateAdmission;
    use crate::middleware::DefaultOnReject;

    /// The response future of [`GateService`](super::GateService): waits for a permit if it
    /// must, then calls the inner service, or answers with the rejection.
    pub type ResponseFuture<
        S,
        ReqBody,
        ResBody,
        R = DefaultOnReject,
        P = NoBypass,
        C = ExtensionPriority,
    > = crate::middleware::ResponseFuture<S, GateAdmission<R, P, C>, ReqBody, ResBody>;
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_classes;
