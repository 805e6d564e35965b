//! The token-bucket rate limit: [`RateLimitLayer`], its keys, rejections and stats.
//!
//! A steady rate with a burst allowance (GCRA, on [governor]), for all requests or per key
//! ([`PeerIp`], [`HeaderKey`], [`ClientIp`] behind trusted proxies, or any function of the
//! request head). A request over the rate is answered `429 Too Many Requests` with
//! `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` fields, at once or after a bounded
//! wait for a token. The buckets run on tokio's clock, so tests with paused time are exact to
//! the token. Needs the `rate-limit` feature (on by default).
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use floodgate::{Quota, RateLimitLayer};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let rate_limit = RateLimitLayer::new(Quota::per_second(2).burst(1));
//! let app = Router::new().route("/", get(|| async { "hi" })).layer(rate_limit.clone());
//!
//! let request = || Request::get("/").body(Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(request()).await.unwrap().status(), StatusCode::OK);
//! let over = app.oneshot(request()).await.unwrap();
//! assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(over.headers()["retry-after"], "1");
//! assert_eq!(rate_limit.limiter().snapshot().rejected, 1);
//! # }
//! ```
//!
//! Several replicas share one limit when the buckets live in Redis: `RateLimitLayer::store` with
//! a `rate_limit::redis::RedisStore` (feature `redis`), which falls back to local buckets while
//! Redis does not answer.
//!
//! The conventions are the gate's (see [`gate`](crate::gate)): a rejection is a response, not
//! an error; waiting happens in the response future; the buckets live behind an `Arc` in the
//! layer, shared by its clones; a layer configured differently has buckets of its own.
//!
//! [governor]: https://docs.rs/governor

mod client_ip;
mod clock;
mod evict;
mod handle;
mod headers;
mod key;
mod layer;
#[cfg(feature = "metrics")]
mod metrics;
mod quota;
#[cfg(feature = "redis")]
pub mod redis;
mod rejection;
mod response;
mod service;
mod snapshot;
mod state;
mod store;
mod wait;

pub use self::client_ip::ClientIp;
pub use self::handle::RateLimiter;
pub use self::key::{
    DEFAULT_MAX_KEY_LEN, Global, HeaderKey, KeyExtractor, MissingKey, PeerIp, RequestHead,
};
pub use self::layer::RateLimitLayer;
pub use self::quota::Quota;
pub use self::rejection::{Reason, Rejection};
pub use self::service::{RateLimitService, ResponseBody};
pub use self::snapshot::Snapshot;
pub use crate::middleware::{DefaultOnReject, OnReject};

/// The response future of [`RateLimitService`].
pub mod future {
    use super::service::RateAdmission;
    use crate::middleware::DefaultOnReject;

    /// The response future of [`RateLimitService`](super::RateLimitService): waits for a token
    /// if it must, then calls the inner service, or answers with the rejection.
    pub type ResponseFuture<S, E, ReqBody, ResBody, R = DefaultOnReject> =
        crate::middleware::ResponseFuture<S, RateAdmission<E, R>, ReqBody, ResBody>;
}
