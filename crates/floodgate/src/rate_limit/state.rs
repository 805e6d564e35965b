//! The shared state of a rate limit: the buckets, the settings, the counters, and admission.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use http::{HeaderValue, StatusCode};
use tokio::time::Instant;

use super::clock::TokioClock;
use super::evict::sweep;
use super::headers::Fields;
use super::key::{KeyExtractor, MissingKey, RequestHead, peer_addr};
use super::quota::Quota;
use super::rejection::Rejection;
use super::snapshot::Snapshot;
use super::store::KeyStore;
use super::wait::{Wait, WaitTicket, Waiters};

type DirectBucket =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, StateInformationMiddleware>;
type KeyedBuckets<K> =
    governor::RateLimiter<K, KeyStore<K>, TokioClock, StateInformationMiddleware>;

/// How many keys may have a bucket at once, by default.
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;

/// How often idle buckets are evicted from the keyed store, by default.
pub(crate) const DEFAULT_EVICTION_INTERVAL: Duration = Duration::from_secs(10);

/// A rate limit's settings besides its quota and key, fixed when its state is built.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_wait: Duration,
    pub(crate) missing_key: MissingKey,
    pub(crate) headers_on_admitted: bool,
    pub(crate) eviction_interval: Duration,
    pub(crate) max_keys: usize,
    /// The shared store, if the buckets live in Redis.
    #[cfg(feature = "redis")]
    pub(crate) store: Option<super::redis::StoreSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_wait: Duration::ZERO,
            missing_key: MissingKey::default(),
            headers_on_admitted: false,
            eviction_interval: DEFAULT_EVICTION_INTERVAL,
            max_keys: DEFAULT_MAX_KEYS,
            #[cfg(feature = "redis")]
            store: None,
        }
    }
}

/// The state behind a rate limit layer, shared by every clone of the layer and its services.
pub(crate) struct Shared<E: KeyExtractor> {
    extractor: Arc<E>,
    settings: Settings,
    quota: Quota,
    clock: TokioClock,
    emission_interval: Nanos,
    fields: Arc<Fields>,
    /// The global bucket; with keys, the bucket of requests without one (`MissingKey::SharedBucket`).
    shared_bucket: DirectBucket,
    /// One bucket per key; `None` for a global limit.
    keyed: Option<KeyedBuckets<E::Key>>,
    /// The keyed buckets' store, to tell known keys from new ones.
    keys: Option<KeyStore<E::Key>>,
    /// Nanoseconds (on the limiter's clock) of the last eviction made because the store was full.
    evicted_when_full: AtomicU64,
    waiters: Waiters<E::Key>,
    // Counters.
    admitted: AtomicU64,
    rejected: AtomicU64,
    rejected_missing_key: AtomicU64,
    /// Whether the eviction task runs.
    sweeping: AtomicBool,
    /// Whether the missing peer address was logged.
    warned_no_peer: AtomicBool,
    /// Whether the full key store was logged.
    warned_full: AtomicBool,
    /// Requests whose new key found the store full.
    full: AtomicU64,
    #[cfg(feature = "metrics")]
    recorded: std::sync::Mutex<super::metrics::Recorded>,
    /// The Redis store; the local buckets are then its fallback.
    #[cfg(feature = "redis")]
    remote: Option<super::redis::Remote<E::Key>>,
}

/// How a request entered the rate limit.
pub(crate) enum Admission<E: KeyExtractor> {
    Admitted(Admitted),
    Rejected(Rejection),
    Wait(WaitTicket<E>),
    /// Decided elsewhere (by the Redis store): the future resolves to admitted or rejected.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Pending(Wait),
}

/// A request that got its token: the `RateLimit-Policy` and `RateLimit` values to add to its
/// response, if the layer advertises the limit on admitted responses (boxed: the admitted fast
/// path without them stays small).
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct Admitted {
    pub(crate) fields: Option<Box<[HeaderValue; 2]>>,
}

impl<E: KeyExtractor> Shared<E> {
    pub(crate) fn new(quota: Quota, extractor: Arc<E>, settings: Settings) -> Self {
        let clock = TokioClock::new();
        #[cfg(feature = "redis")]
        let remote = settings
            .store
            .as_ref()
            .map(|store| store.remote::<E::Key>(&quota));
        // With a Redis store, the local buckets are the fallback's.
        #[cfg(feature = "redis")]
        let local_quota = remote
            .as_ref()
            .map_or(&quota, |remote| remote.local_quota(&quota))
            .clone();
        #[cfg(not(feature = "redis"))]
        let local_quota = quota.clone();
        let buckets = local_quota.to_governor();
        let keys = (!extractor.is_global()).then(KeyStore::new);
        let keyed = keys.as_ref().map(|keys| {
            governor::RateLimiter::<_, _, _, NoOpMiddleware<Nanos>>::new(
                buckets,
                keys.share(),
                clock,
            )
            .with_middleware::<StateInformationMiddleware>()
        });
        Self {
            extractor,
            clock,
            emission_interval: Nanos::from(local_quota.emission_interval()),
            fields: Arc::new(Fields::new(&quota)),
            shared_bucket: governor::RateLimiter::direct_with_clock(buckets, clock)
                .with_middleware::<StateInformationMiddleware>(),
            keyed,
            keys,
            evicted_when_full: AtomicU64::new(0),
            quota,
            waiters: Waiters::new(),
            settings,
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rejected_missing_key: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
            warned_no_peer: AtomicBool::new(false),
            warned_full: AtomicBool::new(false),
            full: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            recorded: Default::default(),
            #[cfg(feature = "redis")]
            remote,
        }
    }

    pub(super) fn eviction_interval(&self) -> Duration {
        self.settings.eviction_interval
    }

    // Admission.

    /// Whether requests have keys (otherwise every request uses the shared bucket).
    pub(crate) fn is_keyed(&self) -> bool {
        self.keyed.is_some()
    }

    /// The bucket of a request: `Ok(Some(key))`, `Ok(None)` for the shared bucket, or the
    /// rejection of a request without a key.
    pub(crate) fn bucket_of(&self, request: &RequestHead<'_>) -> Result<Option<E::Key>, Rejection> {
        if let Some(key) = self.extractor.extract(request) {
            if self.has_room_for(&key) {
                return Ok(Some(key));
            }
            // The store is full of active keys: a new key is treated like no key at all.
            self.full.fetch_add(1, Relaxed);
            return self.without_key();
        }
        if self.extractor.needs_peer_address() && peer_addr(request).is_none() {
            return Err(self.no_peer_address());
        }
        self.without_key()
    }

    /// Whether `key` may have a bucket: it has one, or the store has room (after evicting the
    /// idle buckets, at most once a second, if it is full).
    fn has_room_for(&self, key: &E::Key) -> bool {
        let Some(keys) = &self.keys else {
            return true;
        };
        let max = self.settings.max_keys;
        // Cheap first: the counter, then one shard of the map.
        if keys.len() < max || keys.contains(key) {
            return true;
        }
        let now = u64::from(self.now());
        let last = self.evicted_when_full.load(Relaxed);
        if now.saturating_sub(last) >= 1_000_000_000
            && self
                .evicted_when_full
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.evict_idle();
        }
        if keys.len() < max {
            return true;
        }
        if !self.warned_full.swap(true, Relaxed) {
            tracing::warn!(
                max_keys = max,
                "floodgate: the rate limit's key store is full of active keys; requests with new \
                 keys are treated as requests without a key until buckets go idle"
            );
        }
        false
    }

    /// The answer for a request without a (usable) key: the shared bucket, or a rejection.
    fn without_key(&self) -> Result<Option<E::Key>, Rejection> {
        let status = match self.settings.missing_key {
            MissingKey::SharedBucket => return Ok(None),
            MissingKey::BadRequest => StatusCode::BAD_REQUEST,
            MissingKey::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        };
        self.rejected_missing_key.fetch_add(1, Relaxed);
        let retry_after =
            (status == StatusCode::TOO_MANY_REQUESTS).then(|| self.quota.emission_interval());
        Err(Rejection::missing_key(status, retry_after))
    }

    /// A request without a peer address, for a key that needs one: the server is set up wrong.
    #[cold]
    fn no_peer_address(&self) -> Rejection {
        self.rejected_missing_key.fetch_add(1, Relaxed);
        if !self.warned_no_peer.swap(true, Relaxed) {
            tracing::error!(
                "floodgate: the rate limit is keyed by the peer address, but the request carries \
                 none, so it is answered 500. With axum: enable floodgate's `axum` feature and \
                 serve with `into_make_service_with_connect_info::<SocketAddr>()`; with hyper: \
                 insert the peer `SocketAddr` into the request extensions."
            );
        }
        Rejection::no_peer_address()
    }

    /// Takes a token from the bucket of `key` (`None`: the shared bucket), or decides to reject
    /// or to wait.
    pub(crate) fn admit(self: &Arc<Self>, key: Option<E::Key>) -> Admission<E> {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            return match remote.route(u64::from(self.now())) {
                super::redis::Route::Redis { probe } => {
                    Admission::Pending(self.ask_redis(key, probe))
                }
                super::redis::Route::Fallback => self.fall_back(key),
            };
        }
        self.admit_locally(key)
    }

    /// [`admit`](Self::admit) on the local buckets.
    fn admit_locally(self: &Arc<Self>, key: Option<E::Key>) -> Admission<E> {
        if self.keyed.is_some() {
            self.start_sweeping();
        }
        let earliest = match self.try_acquire(key.as_ref()) {
            Ok(admitted) => return Admission::Admitted(admitted),
            Err(earliest) => earliest,
        };
        let now = self.now();
        let max_wait = self.settings.max_wait;
        if max_wait.is_zero() {
            return Admission::Rejected(self.reject(Duration::from(earliest.saturating_sub(now))));
        }
        // Saturating: a wait "forever" must not wrap around to "now".
        let deadline = Nanos::new(u64::from(now).saturating_add(nanos(max_wait)));
        let ticket = WaitTicket::new(self, key, earliest, deadline);
        if ticket.in_time() {
            Admission::Wait(ticket)
        } else {
            // Its turn would come too late: tell the client when it would have come.
            let wait = Duration::from(ticket.turn().saturating_sub(now));
            drop(ticket);
            Admission::Rejected(self.reject(wait))
        }
    }

    /// A request decided by the Redis store's fallback.
    #[cfg(feature = "redis")]
    fn fall_back(self: &Arc<Self>, key: Option<E::Key>) -> Admission<E> {
        use super::redis::Fallback;
        match self.remote.as_ref().map(|remote| remote.fallback()) {
            Some(Fallback::Allow) => {
                self.admitted.fetch_add(1, Relaxed);
                Admission::Admitted(Admitted { fields: None })
            }
            Some(Fallback::Deny) => {
                Admission::Rejected(self.reject(self.quota.emission_interval()))
            }
            Some(Fallback::Local(_)) | None => self.admit_locally(key),
        }
    }

    /// Asks Redis for a token from the bucket of `key` (waiting for one up to `max_wait`), or
    /// the fallback if Redis fails.
    #[cfg(feature = "redis")]
    fn ask_redis(self: &Arc<Self>, key: Option<E::Key>, probe: bool) -> Wait {
        use super::redis::{Answer, Verdict};
        let shared = Arc::clone(self);
        Box::pin(async move {
            let remote = shared.remote.as_ref().expect("asked Redis without a store");
            let redis_key = remote.key(key.as_ref());
            let arrival = shared.now();
            let deadline =
                Nanos::new(u64::from(arrival).saturating_add(nanos(shared.settings.max_wait)));
            let mut probe = probe;
            loop {
                let answer = remote
                    .check(&redis_key, probe, || u64::from(shared.now()))
                    .await;
                probe = false;
                match answer {
                    Answer::Decided(Verdict::Admitted { remaining }) => {
                        shared.admitted.fetch_add(1, Relaxed);
                        let fields = shared.settings.headers_on_admitted.then(|| {
                            Box::new([shared.fields.policy(), shared.fields.admitted(remaining)])
                        });
                        return Ok(Admitted { fields });
                    }
                    Answer::Decided(Verdict::Limited { wait }) => {
                        let now = shared.now();
                        let earliest = Nanos::new(u64::from(now).saturating_add(nanos(wait)));
                        if shared.settings.max_wait.is_zero() || earliest > deadline {
                            return Err(shared.reject(wait));
                        }
                        // Wait for the token, spread behind this replica's other waiters on
                        // the bucket (the other replicas' waiters take tokens too).
                        let ticket = WaitTicket::new(&shared, key.clone(), earliest, deadline);
                        if !ticket.in_time() {
                            let wait = Duration::from(ticket.turn().saturating_sub(now));
                            drop(ticket);
                            return Err(shared.reject(wait));
                        }
                        tokio::time::sleep_until(shared.instant(ticket.turn())).await;
                    }
                    Answer::Failed => {
                        return match shared.fall_back(key) {
                            Admission::Admitted(admitted) => Ok(admitted),
                            Admission::Rejected(rejection) => Err(rejection),
                            Admission::Wait(ticket) => ticket.wait().await,
                            Admission::Pending(wait) => wait.await,
                        };
                    }
                }
            }
        })
    }

    /// Takes a token if there is one; otherwise returns when the next one comes.
    pub(crate) fn try_acquire(&self, key: Option<&E::Key>) -> Result<Admitted, Nanos> {
        let checked = match (key, &self.keyed) {
            (Some(key), Some(keyed)) => keyed.check_key(key),
            _ => self.shared_bucket.check(),
        };
        match checked {
            Ok(state) => {
                self.admitted.fetch_add(1, Relaxed);
                Ok(self.admitted(&state))
            }
            Err(not_until) => Err(not_until.earliest_possible()),
        }
    }

    fn admitted(&self, state: &StateSnapshot) -> Admitted {
        let fields = self.settings.headers_on_admitted.then(|| {
            Box::new([
                self.fields.policy(),
                self.fields.admitted(state.remaining_burst_capacity()),
            ])
        });
        Admitted { fields }
    }

    /// Counts a rejection for the rate; the next token comes after `wait`.
    pub(crate) fn reject(&self, wait: Duration) -> Rejection {
        self.rejected.fetch_add(1, Relaxed);
        Rejection::rate(wait, &self.fields)
    }

    // Time.

    pub(crate) fn now(&self) -> Nanos {
        self.clock.now()
    }

    pub(crate) fn instant(&self, at: Nanos) -> Instant {
        self.clock.instant(at)
    }

    pub(crate) fn emission_interval(&self) -> Nanos {
        self.emission_interval
    }

    pub(crate) fn waiters(&self) -> &Waiters<E::Key> {
        &self.waiters
    }

    // Stats.

    pub(crate) fn quota(&self) -> &Quota {
        &self.quota
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            max_wait: self.settings.max_wait,
            admitted: self.admitted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            rejected_missing_key: self.rejected_missing_key.load(Relaxed),
            waiting: self.waiters.total(),
            keys: self.keyed.as_ref().map_or(0, |keyed| keyed.len()),
            keys_full: self.full.load(Relaxed),
            #[cfg(feature = "redis")]
            store_errors: self.remote.as_ref().map_or(0, |remote| remote.errors()),
            #[cfg(not(feature = "redis"))]
            store_errors: 0,
            #[cfg(feature = "redis")]
            fallback: self.remote.as_ref().is_some_and(|remote| remote.is_down()),
            #[cfg(not(feature = "redis"))]
            fallback: false,
        }
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn recorded(&self) -> &std::sync::Mutex<super::metrics::Recorded> {
        &self.recorded
    }

    // Eviction.

    /// Starts the eviction task, once, if there is a tokio runtime to run it.
    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.load(Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.sweeping.swap(true, Relaxed) {
            runtime.spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// The eviction task ended (its runtime shut down): the next keyed request starts another.
    pub(super) fn sweep_ended(&self) {
        self.sweeping.store(false, Relaxed);
    }

    /// Drops the buckets that are full again (indistinguishable from new ones).
    pub(crate) fn evict_idle(&self) {
        if let Some(keyed) = &self.keyed {
            let before = keyed.len();
            keyed.retain_recent();
            // Give the memory back after a flood of keys, not after every sweep.
            if keyed.len() < before / 2 {
                keyed.shrink_to_fit();
            }
        }
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(super) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl<E: KeyExtractor> fmt::Debug for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota)
            .field("keyed", &self.is_keyed())
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}
