//! Backpressure for [tower] and [axum] services.
//!
//! When traffic outgrows what a service can serve, requests pile up: in the runtime, in a
//! database pool, in memory. Latency climbs for everybody until clients time out, retry, and make
//! it worse. Floodgate admits what the service can serve and answers the rest at once with a
//! clear `503 Service Unavailable` and `Retry-After`, cheaply, so that the service stays fast for
//! the requests it accepts and clients learn to slow down.
//!
//! | module | what | answers |
//! |---|---|---|
//! | [`gate`] | [`GateLayer`]: at most `limit` requests in flight, a bounded wait for the rest, with a queue discipline ([`Queue`]) | `503` + `Retry-After` |
//! | [`limit`] | adaptive limits for the gate: AIMD, Gradient2, Vegas | |
//! | `rate_limit` (feature `rate-limit`, on by default) | `RateLimitLayer`: a token bucket (GCRA), global or per key | `429` + `Retry-After` + `RateLimit` fields |
//! | [`connection`] | at most `max` open connections (the excess waits in the kernel's backlog), and an idle timeout | connections closed |
//! | [`metrics`] | the metric names, their meanings, and a Prometheus text encoder | |
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use floodgate::{GateLayer, Queue};
//!
//! let gate = GateLayer::new(64)                 // at most 64 requests in flight
//!     .max_wait(Duration::from_millis(100))     // a bounded wait for a permit
//!     .max_queue(256)                           // more waiters than this: 503 at once
//!     .queue(Queue::Codel);                     // under sustained overload, short waits
//! let app: Router = Router::new()
//!     .route("/slow", get(|| async { "done" }))
//!     .layer(gate.clone());                     // one limit shared by every route
//!
//! let stats = gate.gate().snapshot();           // limit, in_flight, queued, admitted, rejected
//! assert_eq!(stats.limit, 64);
//! ```
//!
//! Each module opens with its conventions and a runnable example. The crate root re-exports
//! only the items almost every user types.
//!
//! # Features
//!
//! - `rate-limit` (default): the `rate_limit` module, on governor.
//! - `axum`: the rate limit's peer-address keys read axum's `ConnectInfo<SocketAddr>`.
//! - `metrics`: report through the [`metrics`](https://docs.rs/metrics) facade.
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

pub mod connection;
pub mod gate;
pub mod limit;
pub mod metrics;
mod middleware;
#[cfg(feature = "rate-limit")]
pub mod rate_limit;

pub use crate::gate::{Gate, GateLayer, Queue};
#[cfg(feature = "rate-limit")]
pub use crate::rate_limit::{Quota, RateLimitLayer};
