//! The token-bucket rate limit in front of the gated routes (`--rate`, `--burst`,
//! `--rate-key`, and `--redis-url` to share it between replicas): floodgate's `RateLimitLayer`,
//! outside the gate.

mod config;
mod key_spec;
#[cfg(test)]
mod tests;

use axum::Router;
use floodgate::RateLimitLayer;
use floodgate::rate_limit::RateLimiter;

pub use self::config::{ParseRateError, Rate, RateFallback, RateLimitConfig, RedisUrl};
pub use self::key_spec::{ClientKey, KeySpec, ParseKeySpecError};

/// Applies the rate limit of `config`, if it is on, to every route of `gated` (with
/// `route_layer`, so unmatched paths get a plain 404). Call it after the gate is applied: the
/// last `route_layer` is the outermost, so a request over the rate is answered 429 before it
/// can take a permit of the gate.
///
/// Admitted responses carry the `RateLimit-Policy`/`RateLimit` fields as well as rejections, so
/// that a client can pace itself. With `--rate-key ip` the key is the peer address that
/// [`serve`](crate::serve) puts in every request (a request without one, sent to the router
/// in-process, is answered 500: see [`PeerIp`](floodgate::rate_limit::PeerIp)); a request
/// without the header of `--rate-key header:NAME` shares one bucket with the others that have
/// none.
pub(crate) fn guard<S>(
    gated: Router<S>,
    config: &RateLimitConfig,
) -> (Router<S>, Option<RateLimiter>)
where
    S: Clone + Send + Sync + 'static,
{
    let Some(quota) = config.quota() else {
        return (gated, None);
    };
    let mut layer = RateLimitLayer::keyed(quota, config.rate_key.clone()).headers_on_admitted(true);
    if let Some(store) = config.store() {
        layer = layer.store(store);
    }
    let limiter = layer.limiter();
    (gated.route_layer(layer), Some(limiter))
}
