//! [`RateLimiter`]: a handle to a rate limit's shared state, whatever its key type.

use std::fmt;
use std::sync::Arc;

use super::key::KeyExtractor;
use super::quota::Quota;
use super::snapshot::Snapshot;
use super::state::Shared;

/// The shared state seen without its key type, for the [`RateLimiter`] handle.
pub(crate) trait AnyState: Send + Sync {
    fn snapshot(&self) -> Snapshot;
    fn quota(&self) -> &Quota;
    fn evict_idle(&self);
    #[cfg(feature = "metrics")]
    fn recorded(&self) -> &std::sync::Mutex<super::metrics::Recorded>;
}

impl<E: KeyExtractor> AnyState for Shared<E> {
    fn snapshot(&self) -> Snapshot {
        Shared::snapshot(self)
    }

    fn quota(&self) -> &Quota {
        Shared::quota(self)
    }

    fn evict_idle(&self) {
        Shared::evict_idle(self);
    }

    #[cfg(feature = "metrics")]
    fn recorded(&self) -> &std::sync::Mutex<super::metrics::Recorded> {
        Shared::recorded(self)
    }
}

/// A handle to the shared state of a [`RateLimitLayer`](super::RateLimitLayer): stats
/// ([`snapshot`](RateLimiter::snapshot)), its [`Quota`], and eviction of idle keys.
///
/// Cheap to clone; every clone sees the same buckets. Get one from
/// [`RateLimitLayer::limiter`](super::RateLimitLayer::limiter).
///
/// ```
/// use floodgate::{Quota, RateLimitLayer};
/// use floodgate::rate_limit::PeerIp;
///
/// let layer = RateLimitLayer::keyed(Quota::per_second(5), PeerIp);
/// let limiter = layer.limiter();
/// assert_eq!(limiter.quota().burst_size(), 5);
/// assert_eq!(limiter.snapshot().keys, 0);
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    pub(super) shared: Arc<dyn AnyState>,
}

impl RateLimiter {
    pub(crate) fn new<E: KeyExtractor>(shared: Arc<Shared<E>>) -> Self {
        Self { shared }
    }

    /// The counters and the current load, read now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// The rate, burst and policy name.
    pub fn quota(&self) -> &Quota {
        self.shared.quota()
    }

    /// Evicts the keyed buckets that are full again, now.
    ///
    /// A background task does this every eviction interval (see
    /// [`RateLimitLayer::eviction_interval`](super::RateLimitLayer::eviction_interval)); it is
    /// started by the first keyed request on a tokio runtime. Call this yourself only when the
    /// limiter runs without one. A no-op for a global limit.
    pub fn evict_idle(&self) {
        self.shared.evict_idle();
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", self.quota())
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
