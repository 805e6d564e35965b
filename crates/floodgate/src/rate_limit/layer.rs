use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::handle::RateLimiter;
use super::key::{Global, KeyExtractor, MissingKey};
use super::quota::Quota;
use super::service::{RateAdmission, RateLimitService};
use super::state::{Settings, Shared};
use crate::middleware::AdmissionService;
use crate::middleware::DefaultOnReject;

/// Wraps a service with a token-bucket rate limit (GCRA): a steady rate with a burst allowance,
/// globally or per key, answering `429 Too Many Requests` with `Retry-After` and the
/// `RateLimit-Policy`/`RateLimit` header fields to requests over the rate.
///
/// The buckets live in the layer, behind an `Arc`: every clone of the layer, every service it
/// builds (and so every route of an axum `Router` it is applied to) shares them. Build one layer
/// per limit you want. The layer is a value: each setting returns a layer with new buckets
/// built with that setting, so configuring a clone never changes another.
///
/// Two modes, like the classic bucket's *allow* and *wait*: by default a request that finds its
/// bucket empty is rejected at once; with [`max_wait`](RateLimitLayer::max_wait) it waits for a
/// token as long as one can come within `max_wait`.
///
/// # Time
///
/// The buckets read tokio's clock ([`tokio::time::Instant`]), the clock waiters sleep on; so under
/// `tokio::time::pause()` the buckets stand still too, and a test advancing time by one emission
/// interval gets exactly one more token. (governor's default TSC clock is a few nanoseconds
/// cheaper per request, but could disagree with the timer that wakes the waiters.)
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use floodgate::{Quota, RateLimitLayer};
/// use floodgate::rate_limit::{HeaderKey, MissingKey};
///
/// let rate_limit = RateLimitLayer::keyed(
///         Quota::per_second(50).burst(10),      // 50/s per API key, 10 at once
///         HeaderKey::from_static("x-api-key"),
///     )
///     .on_missing_key(MissingKey::BadRequest)   // no API key: 400
///     .max_wait(Duration::from_millis(100))     // wait up to 100 ms for a token
///     .headers_on_admitted(true);               // RateLimit fields on every response
/// let app: Router = Router::new()
///     .route("/api", get(|| async { "done" }))
///     .layer(rate_limit.clone());
/// assert_eq!(rate_limit.limiter().snapshot().admitted, 0);
/// ```
#[must_use]
pub struct RateLimitLayer<E: KeyExtractor = Global, R = DefaultOnReject> {
    quota: Quota,
    key: Arc<E>,
    settings: Settings,
    shared: Arc<Shared<E>>,
    on_reject: R,
}

impl RateLimitLayer {
    /// A global rate limit: one bucket for all requests.
    ///
    /// ```
    /// use floodgate::{Quota, RateLimitLayer};
    /// let layer = RateLimitLayer::new(Quota::per_second(100).burst(20));
    /// # let _ = layer;
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self::keyed(quota, Global)
    }
}

impl<E: KeyExtractor> RateLimitLayer<E> {
    /// A rate limit with one bucket per key: requests with equal keys (as `key` extracts them)
    /// share a bucket, each with the full `quota`.
    ///
    /// Buckets of idle keys are evicted periodically (see
    /// [`eviction_interval`](RateLimitLayer::eviction_interval)), so memory follows the number of
    /// recently active keys. Requests without a key follow the
    /// [`on_missing_key`](RateLimitLayer::on_missing_key) policy.
    pub fn keyed(quota: Quota, key: E) -> Self {
        let key = Arc::new(key);
        let settings = Settings::default();
        Self {
            shared: Arc::new(Shared::new(
                quota.clone(),
                Arc::clone(&key),
                settings.clone(),
            )),
            quota,
            key,
            settings,
            on_reject: DefaultOnReject,
        }
    }
}

impl<E: KeyExtractor, R> RateLimitLayer<E, R> {
    /// How long a request may wait for a token before it gets a 429. Zero (the default): never
    /// wait, reject at once.
    ///
    /// A request waits only if its token can come within `max_wait`: its turn is the next
    /// token's arrival plus one emission interval per request already waiting on its bucket.
    /// If that is later, it is rejected at once, with `Retry-After` telling when its turn would
    /// have come. A waiter holds no token while it waits: a client that goes away consumes
    /// nothing. Waiters wake on tokio's timer (millisecond resolution).
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.configure(|settings| settings.max_wait = max_wait)
    }

    /// What to do with requests whose key cannot be extracted (default:
    /// [`MissingKey::SharedBucket`]). Irrelevant for a global limit.
    pub fn on_missing_key(self, policy: MissingKey) -> Self {
        self.configure(|settings| settings.missing_key = policy)
    }

    /// Whether admitted responses carry the `RateLimit-Policy` and `RateLimit` fields too
    /// (default: only rejections). `RateLimit` then tells the tokens left in the bucket (`r`)
    /// and the emission interval rounded up to whole seconds (`t`); the values are appended,
    /// so the fields of several stacked rate limits all reach the client.
    pub fn headers_on_admitted(self, enabled: bool) -> Self {
        self.configure(|settings| settings.headers_on_admitted = enabled)
    }

    /// How often the buckets of idle keys are evicted (default: 10 s).
    ///
    /// A bucket is evicted once it has been full again for one emission interval (its key idle
    /// for the time the burst takes to refill, plus one emission interval): it is then
    /// indistinguishable from a new one. So memory stays bounded by the keys active within about
    /// one refill time plus one eviction interval. Eviction runs in a tokio task started by the
    /// first keyed request, on the blocking thread pool; it ends when the layer and its services
    /// are dropped.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    pub fn eviction_interval(self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "floodgate: the rate limit eviction interval must be longer than zero"
        );
        self.configure(|settings| settings.eviction_interval = interval)
    }

    /// How many keys may have a bucket at once (default 100,000). Buckets of idle keys are
    /// evicted; while the store is still full of active keys, a request with a new key is
    /// treated as a request without a key (the [`on_missing_key`](RateLimitLayer::on_missing_key)
    /// policy: by default the one shared bucket), counted in
    /// [`Snapshot::keys_full`](super::Snapshot::keys_full), and a warning is logged once. So a
    /// flood of made-up keys costs a bounded amount of memory and gains its sender nothing.
    ///
    /// # Panics
    ///
    /// If `max_keys` is zero.
    pub fn max_keys(self, max_keys: usize) -> Self {
        assert!(
            max_keys > 0,
            "floodgate: the rate limit needs room for at least one key"
        );
        self.configure(|settings| settings.max_keys = max_keys)
    }

    /// Keeps the buckets in Redis, shared by every replica that uses the same store and quota
    /// name, instead of in this process; the local buckets become the fallback for when Redis
    /// does not answer. Needs the `redis` feature; see [`redis`](super::redis).
    ///
    /// ```no_run
    /// use floodgate::{Quota, RateLimitLayer};
    /// use floodgate::rate_limit::{PeerIp, redis::RedisStore};
    ///
    /// # fn main() -> Result<(), redis::RedisError> {
    /// let layer = RateLimitLayer::keyed(Quota::per_second(100), PeerIp)
    ///     .store(RedisStore::open("redis://127.0.0.1:6379/")?);
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn store(self, store: super::redis::RedisStore) -> Self
    where
        E::Key: super::redis::RedisKey,
    {
        self.configure(|settings| {
            settings.store = Some(super::redis::StoreSettings::new::<E::Key>(store));
        })
    }

    /// A layer like this one, with new buckets built with the changed settings.
    fn configure(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self.shared = Arc::new(Shared::new(
            self.quota.clone(),
            Arc::clone(&self.key),
            self.settings.clone(),
        ));
        self
    }

    /// Builds rejection responses with `on_reject` instead of the plain-text default.
    ///
    /// The closure gets the [`Rejection`](super::Rejection) and returns a
    /// response with the inner service's body type. The `Retry-After`, `RateLimit-Policy` and
    /// `RateLimit` fields are added if it has none.
    ///
    /// ```
    /// use axum::{Router, response::{IntoResponse, Response}, routing::get};
    /// use floodgate::{Quota, RateLimitLayer};
    /// use floodgate::rate_limit::Rejection;
    /// use http::header::CONTENT_TYPE;
    ///
    /// let layer = RateLimitLayer::new(Quota::per_second(10))
    ///     .on_reject(|rejection: &Rejection| -> Response {
    ///         let problem = format!(
    ///             r#"{{"title":"Too Many Requests","status":{},"detail":"{}"}}"#,
    ///             rejection.status().as_u16(),
    ///             rejection.reason(),
    ///         );
    ///         let content_type = [(CONTENT_TYPE, "application/problem+json")];
    ///         (rejection.status(), content_type, problem).into_response()
    ///     });
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
    /// ```
    pub fn on_reject<F>(self, on_reject: F) -> RateLimitLayer<E, F> {
        RateLimitLayer {
            quota: self.quota,
            key: self.key,
            settings: self.settings,
            shared: self.shared,
            on_reject,
        }
    }

    /// A handle to the shared buckets: stats, quota, eviction.
    pub fn limiter(&self) -> RateLimiter {
        RateLimiter::new(Arc::clone(&self.shared))
    }
}

impl<E: KeyExtractor, R: Clone> Clone for RateLimitLayer<E, R> {
    fn clone(&self) -> Self {
        Self {
            quota: self.quota.clone(),
            key: Arc::clone(&self.key),
            settings: self.settings.clone(),
            shared: Arc::clone(&self.shared),
            on_reject: self.on_reject.clone(),
        }
    }
}

impl<E: KeyExtractor, R> std::fmt::Debug for RateLimitLayer<E, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<S, E: KeyExtractor, R: Clone> Layer<S> for RateLimitLayer<E, R> {
    type Service = RateLimitService<S, E, R>;

    fn layer(&self, inner: S) -> Self::Service {
        let admission = RateAdmission::new(Arc::clone(&self.shared), self.on_reject.clone());
        AdmissionService::new(inner, admission)
    }
}
