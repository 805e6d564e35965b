//! The shared state of a rate limit: the buckets, the settings, the counters, and admission.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use http::{HeaderValue, StatusCode};
use tokio::time::Instant;

use super::clock::TokioClock;
use super::evict::sweep;
use super::headers::Fields;
use super::key::{KeyExtractor, MissingKey, RequestHead};
use super::quota::Quota;
use super::rejection::RateLimitRejection;
use super::snapshot::RateLimitSnapshot;
use super::wait::{WaitTicket, Waiters};

type DirectBucket =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, StateInformationMiddleware>;
type KeyedBuckets<K> =
    governor::RateLimiter<K, DashMapStateStore<K>, TokioClock, StateInformationMiddleware>;

/// How often idle buckets are evicted from the keyed store, by default.
const DEFAULT_EVICTION_INTERVAL: Duration = Duration::from_secs(10);

/// The state behind a rate limit layer, shared by every clone of the layer and its services.
pub(crate) struct Shared<E: KeyExtractor> {
    extractor: E,
    quota: Quota,
    clock: TokioClock,
    emission_interval: Nanos,
    fields: Arc<Fields>,
    /// The global bucket; with keys, the bucket of requests without one (`MissingKey::SharedBucket`).
    shared_bucket: DirectBucket,
    /// One bucket per key; `None` for a global limit.
    keyed: Option<KeyedBuckets<E::Key>>,
    waiters: Waiters<E::Key>,
    // Settings: changed by the layer's builder methods, read per request.
    max_wait_nanos: AtomicU64,
    missing_key: AtomicU8,
    headers_on_admitted: AtomicBool,
    eviction_interval_nanos: AtomicU64,
    // Counters.
    admitted: AtomicU64,
    rejected: AtomicU64,
    rejected_missing_key: AtomicU64,
    /// Whether the eviction task runs.
    sweeping: AtomicBool,
    #[cfg(feature = "metrics")]
    recorded: std::sync::Mutex<super::metrics::Recorded>,
}

/// How a request entered the rate limit.
pub(crate) enum Admission<E: KeyExtractor> {
    Admitted(Admitted),
    Rejected(RateLimitRejection),
    Wait(WaitTicket<E>),
}

/// A request that got its token: the `RateLimit-Policy` and `RateLimit` values to add to its
/// response, if the layer advertises the limit on admitted responses (boxed: the admitted fast
/// path without them stays small).
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) fields: Option<Box<[HeaderValue; 2]>>,
}

impl<E: KeyExtractor> Shared<E> {
    pub(crate) fn new(quota: Quota, extractor: E) -> Self {
        let clock = TokioClock::new();
        let buckets = quota.to_governor();
        let keyed = (!extractor.is_global()).then(|| {
            governor::RateLimiter::dashmap_with_clock(buckets, clock)
                .with_middleware::<StateInformationMiddleware>()
        });
        Self {
            extractor,
            clock,
            emission_interval: Nanos::from(quota.emission_interval()),
            fields: Arc::new(Fields::new(&quota)),
            shared_bucket: governor::RateLimiter::direct_with_clock(buckets, clock)
                .with_middleware::<StateInformationMiddleware>(),
            keyed,
            quota,
            waiters: Waiters::new(),
            max_wait_nanos: AtomicU64::new(0),
            missing_key: AtomicU8::new(MissingKey::default().to_u8()),
            headers_on_admitted: AtomicBool::new(false),
            eviction_interval_nanos: AtomicU64::new(nanos(DEFAULT_EVICTION_INTERVAL)),
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rejected_missing_key: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
            #[cfg(feature = "metrics")]
            recorded: Default::default(),
        }
    }

    // Settings.

    pub(crate) fn set_max_wait(&self, max_wait: Duration) {
        self.max_wait_nanos.store(nanos(max_wait), Relaxed);
    }

    pub(crate) fn set_missing_key(&self, policy: MissingKey) {
        self.missing_key.store(policy.to_u8(), Relaxed);
    }

    pub(crate) fn set_headers_on_admitted(&self, enabled: bool) {
        self.headers_on_admitted.store(enabled, Relaxed);
    }

    pub(crate) fn set_eviction_interval(&self, interval: Duration) {
        assert!(
            !interval.is_zero(),
            "floodgate: the rate limit eviction interval must be longer than zero"
        );
        self.eviction_interval_nanos.store(nanos(interval), Relaxed);
    }

    pub(super) fn eviction_interval(&self) -> Duration {
        Duration::from_nanos(self.eviction_interval_nanos.load(Relaxed))
    }

    // Admission.

    /// Whether requests have keys (otherwise every request uses the shared bucket).
    pub(crate) fn is_keyed(&self) -> bool {
        self.keyed.is_some()
    }

    /// The bucket of a request: `Ok(Some(key))`, `Ok(None)` for the shared bucket, or the
    /// rejection of a request without a key.
    pub(crate) fn bucket_of(
        &self,
        request: &RequestHead<'_>,
    ) -> Result<Option<E::Key>, RateLimitRejection> {
        if let Some(key) = self.extractor.extract(request) {
            return Ok(Some(key));
        }
        let status = match MissingKey::from_u8(self.missing_key.load(Relaxed)) {
            MissingKey::SharedBucket => return Ok(None),
            MissingKey::BadRequest => StatusCode::BAD_REQUEST,
            MissingKey::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        };
        self.rejected_missing_key.fetch_add(1, Relaxed);
        let retry_after =
            (status == StatusCode::TOO_MANY_REQUESTS).then(|| self.quota.emission_interval());
        Err(RateLimitRejection::missing_key(status, retry_after))
    }

    /// Takes a token from the bucket of `key` (`None`: the shared bucket), or decides to reject
    /// or to wait.
    pub(crate) fn admit(self: &Arc<Self>, key: Option<E::Key>) -> Admission<E> {
        if self.keyed.is_some() {
            self.start_sweeping();
        }
        let earliest = match self.try_acquire(key.as_ref()) {
            Ok(admitted) => return Admission::Admitted(admitted),
            Err(earliest) => earliest,
        };
        let now = self.now();
        let max_wait = self.max_wait_nanos.load(Relaxed);
        if max_wait == 0 {
            return Admission::Rejected(self.reject(Duration::from(earliest.saturating_sub(now))));
        }
        let deadline = now + Nanos::new(max_wait);
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
        let fields = self.headers_on_admitted.load(Relaxed).then(|| {
            Box::new([
                self.fields.policy(),
                self.fields.admitted(state.remaining_burst_capacity()),
            ])
        });
        Admitted { fields }
    }

    /// Counts a rejection for the rate; the next token comes after `wait`.
    pub(crate) fn reject(&self, wait: Duration) -> RateLimitRejection {
        self.rejected.fetch_add(1, Relaxed);
        RateLimitRejection::rate(wait, &self.fields)
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

    pub(crate) fn snapshot(&self) -> RateLimitSnapshot {
        RateLimitSnapshot {
            max_wait: Duration::from_nanos(self.max_wait_nanos.load(Relaxed)),
            admitted: self.admitted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            rejected_missing_key: self.rejected_missing_key.load(Relaxed),
            waiting: self.waiters.total(),
            keys: self.keyed.as_ref().map_or(0, |keyed| keyed.len()),
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

fn nanos(duration: Duration) -> u64 {
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
