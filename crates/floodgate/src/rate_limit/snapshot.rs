//! A point-in-time view of a rate limiter, for stats, metrics and tests.

use std::time::Duration;

/// A point-in-time view of a [`RateLimiter`](super::RateLimiter): its current load and its
/// counters since it was created.
///
/// ```
/// use floodgate::{Quota, RateLimitLayer};
///
/// let layer = RateLimitLayer::new(Quota::per_second(10));
/// let snapshot = layer.limiter().snapshot();
/// assert_eq!((snapshot.admitted, snapshot.rejected, snapshot.keys), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// How long a request may wait for a token (zero: reject at once).
    pub max_wait: Duration,
    /// Requests admitted since the limiter was created (at once or after waiting).
    pub admitted: u64,
    /// Requests turned away because their bucket was empty (`reason="rate"`).
    pub rejected: u64,
    /// Requests turned away because they had no key (`reason="missing_key"`), or no peer
    /// address for a key that needs one (`500`).
    pub rejected_missing_key: u64,
    /// Requests waiting for a token now.
    pub waiting: usize,
    /// Buckets in the keyed store now (always 0 for a global limit). Idle buckets are evicted
    /// periodically, so this follows the number of recently active keys. With a Redis store,
    /// the local buckets are only the fallback's: the keys in Redis are not counted here.
    pub keys: usize,
    /// Requests whose new key found the key store full (at
    /// [`max_keys`](super::RateLimitLayer::max_keys) active keys) and were treated as requests
    /// without a key.
    pub keys_full: u64,
    /// Calls to the Redis store that failed (errors, timeouts, garbage answers); always 0
    /// without a store.
    pub store_errors: u64,
    /// Whether requests are decided by the store's fallback now, because Redis does not answer;
    /// always `false` without a store.
    pub fallback: bool,
}
