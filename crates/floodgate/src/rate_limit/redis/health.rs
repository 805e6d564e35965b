//! Whether Redis answers: when to ask it, when to fall back, and when to try it again.
//!
//! While Redis answers, every request asks it. After a failure (an error, a timeout, an answer
//! that is not the script's) the limiter falls back and says so once; then one request at a
//! time probes Redis, after a backoff that doubles with each failed probe up to a ceiling, so a
//! fleet of replicas does not hammer a Redis that is coming back. The first probe answered ends
//! the fallback, and that is said once too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::rate_limit::state::nanos;

/// Where a request is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// By Redis (`probe`: while falling back, as the one request that tries Redis again).
    Redis { probe: bool },
    /// By the fallback.
    Fallback,
}

/// The store's health, shared by every request of one rate limit.
#[derive(Debug)]
pub(super) struct Health {
    down: AtomicBool,
    errors: AtomicU64,
    /// When (nanoseconds on the limiter's clock) the next probe may go.
    next_probe: AtomicU64,
    /// The current backoff between probes, in nanoseconds.
    backoff: AtomicU64,
    min_backoff: u64,
    max_backoff: u64,
}

impl Health {
    pub(super) fn new(min_backoff: Duration, max_backoff: Duration) -> Self {
        let min_backoff = nanos(min_backoff).max(1);
        Self {
            down: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            next_probe: AtomicU64::new(0),
            backoff: AtomicU64::new(min_backoff),
            min_backoff,
            max_backoff: nanos(max_backoff).max(min_backoff),
        }
    }

    /// Where the request arriving at `now` is decided.
    pub(super) fn route(&self, now: u64) -> Route {
        if !self.down.load(Relaxed) {
            return Route::Redis { probe: false };
        }
        let due = self.next_probe.load(Relaxed);
        // One request per backoff period probes: the one that moves the next probe on.
        let backoff = self.backoff.load(Relaxed);
        if now >= due
            && self
                .next_probe
                .compare_exchange(due, now.saturating_add(backoff), Relaxed, Relaxed)
                .is_ok()
        {
            Route::Redis { probe: true }
        } else {
            Route::Fallback
        }
    }

    /// Redis failed a request at `now`. Returns `true` if this starts a fallback episode (the
    /// caller logs it).
    pub(super) fn failed(&self, now: u64, probe: bool) -> bool {
        self.errors.fetch_add(1, Relaxed);
        if !self.down.swap(true, Relaxed) {
            self.backoff.store(self.min_backoff, Relaxed);
            self.next_probe
                .store(now.saturating_add(self.min_backoff), Relaxed);
            return true;
        }
        if probe {
            // Requests sent before the fallback began fail too; only a failed probe backs off.
            let backoff = self
                .backoff
                .load(Relaxed)
                .saturating_mul(2)
                .min(self.max_backoff);
            self.backoff.store(backoff, Relaxed);
            self.next_probe.store(now.saturating_add(backoff), Relaxed);
        }
        false
    }

    /// Redis answered a request. Returns `true` if this ends a fallback episode (the caller
    /// logs it). Only a probe ends one: an answer to a request sent before the failure says
    /// nothing about Redis now.
    pub(super) fn answered(&self, probe: bool) -> bool {
        probe && self.down.swap(false, Relaxed)
    }

    /// Whether requests are decided by the fallback now.
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Relaxed)
    }

    /// Failed calls to Redis since the limiter was created.
    pub(super) fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn health() -> Health {
        Health::new(Duration::from_millis(100), Duration::from_millis(400))
    }

    #[test]
    fn asks_redis_while_it_answers() {
        let health = health();
        assert_eq!(health.route(0), Route::Redis { probe: false });
        assert!(!health.answered(false));
        assert!(!health.is_down());
        assert_eq!(health.errors(), 0);
    }

    #[test]
    fn a_failure_starts_one_episode_and_one_probe_per_backoff_goes() {
        let health = health();
        assert!(health.failed(0, false));
        // Requests already sent fail too: counted, but the same episode.
        assert!(!health.failed(MS, false));
        assert_eq!(health.errors(), 2);
        assert!(health.is_down());
        assert_eq!(health.route(50 * MS), Route::Fallback);
        assert_eq!(health.route(100 * MS), Route::Redis { probe: true });
        // Only one probe per period.
        assert_eq!(health.route(100 * MS), Route::Fallback);
        assert_eq!(health.route(150 * MS), Route::Fallback);
    }

    #[test]
    fn failed_probes_double_the_backoff_up_to_the_ceiling() {
        let health = health();
        health.failed(0, false);
        let mut now = 0;
        let mut gaps = Vec::new();
        for _ in 0..4 {
            let next = (now..)
                .step_by(MS as usize)
                .find(|&at| health.route(at) != Route::Fallback);
            let at = next.unwrap();
            gaps.push((at - now) / MS);
            now = at;
            assert!(!health.failed(now, true));
        }
        assert_eq!(gaps, [100, 200, 400, 400]);
    }

    #[test]
    fn an_answered_probe_ends_the_episode_and_resets_the_backoff() {
        let health = health();
        health.failed(0, false);
        assert_eq!(health.route(100 * MS), Route::Redis { probe: true });
        health.failed(100 * MS, true);
        // A late answer to a request sent before the failure does not end it.
        assert!(!health.answered(false));
        assert!(health.is_down());
        assert_eq!(health.route(300 * MS), Route::Redis { probe: true });
        assert!(health.answered(true));
        assert!(!health.is_down());
        assert_eq!(health.route(300 * MS), Route::Redis { probe: false });
        // The next episode starts from the shortest backoff again.
        assert!(health.failed(1_000 * MS, false));
        assert_eq!(health.route(1_099 * MS), Route::Fallback);
        assert_eq!(health.route(1_100 * MS), Route::Redis { probe: true });
    }
}
