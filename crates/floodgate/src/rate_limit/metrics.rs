//! Reporting through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The series of [`crate::metrics`]: `floodgate_rejected_total` (`reason`: `rate`,
//! `missing_key`), `floodgate_rate_admitted_total`, `floodgate_rate_keys`,
//! `floodgate_rate_waiting`, `floodgate_rate_store_errors_total` and `floodgate_rate_fallback`,
//! each labelled with the quota's name as `policy`.
//!
//! [`RateLimiter::record_metrics`](super::RateLimiter::record_metrics) adds to the counters what happened since its last call, so
//! the counters of several limiters with the same policy name add up.

use super::snapshot::Snapshot;
use crate::metrics::{
    RATE_ADMITTED_TOTAL, RATE_FALLBACK, RATE_KEYS, RATE_STORE_ERRORS_TOTAL, RATE_WAITING,
    REJECTED_TOTAL,
};

/// The counters as last recorded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    admitted: u64,
    rejected: u64,
    rejected_missing_key: u64,
    store_errors: u64,
}

impl Recorded {
    /// The increments since the last call.
    fn advance(&mut self, snapshot: &Snapshot) -> Recorded {
        let now = Recorded {
            admitted: snapshot.admitted,
            rejected: snapshot.rejected,
            rejected_missing_key: snapshot.rejected_missing_key,
            store_errors: snapshot.store_errors,
        };
        let deltas = Recorded {
            admitted: now.admitted.saturating_sub(self.admitted),
            rejected: now.rejected.saturating_sub(self.rejected),
            rejected_missing_key: now
                .rejected_missing_key
                .saturating_sub(self.rejected_missing_key),
            store_errors: now.store_errors.saturating_sub(self.store_errors),
        };
        *self = now;
        deltas
    }
}

impl super::RateLimiter {
    /// Adds the rate limit's counters and sets its gauges in the installed `metrics` recorder
    /// (the series of [`crate::metrics`], labelled with the quota's name as `policy`).
    ///
    /// Call it right before rendering a scrape (or on a timer). Needs the `metrics` feature.
    ///
    /// ```
    /// let layer = floodgate::RateLimitLayer::new(floodgate::Quota::per_second(10));
    /// layer.limiter().record_metrics(); // a no-op without an installed recorder
    /// ```
    pub fn record_metrics(&self) {
        let snapshot = self.snapshot();
        let deltas = self
            .shared
            .recorded()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .advance(&snapshot);
        let policy = self.quota().name().to_owned();
        metrics::counter!(REJECTED_TOTAL, "policy" => policy.clone(), "reason" => "rate")
            .increment(deltas.rejected);
        metrics::counter!(REJECTED_TOTAL, "policy" => policy.clone(), "reason" => "missing_key")
            .increment(deltas.rejected_missing_key);
        metrics::counter!(RATE_ADMITTED_TOTAL, "policy" => policy.clone())
            .increment(deltas.admitted);
        metrics::counter!(RATE_STORE_ERRORS_TOTAL, "policy" => policy.clone())
            .increment(deltas.store_errors);
        metrics::gauge!(RATE_KEYS, "policy" => policy.clone()).set(snapshot.keys as f64);
        metrics::gauge!(RATE_WAITING, "policy" => policy.clone()).set(snapshot.waiting as f64);
        metrics::gauge!(RATE_FALLBACK, "policy" => policy)
            .set(f64::from(u8::from(snapshot.fallback)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quota, RateLimitLayer};

    #[test]
    fn records_what_happened_since_the_last_call() {
        let limiter = RateLimitLayer::new(Quota::per_second(1)).limiter();
        let mut snapshot = limiter.snapshot();
        let mut recorded = Recorded::default();
        let deltas = |admitted, rejected, rejected_missing_key, store_errors| Recorded {
            admitted,
            rejected,
            rejected_missing_key,
            store_errors,
        };
        snapshot.admitted = 5;
        snapshot.rejected = 2;
        assert_eq!(recorded.advance(&snapshot), deltas(5, 2, 0, 0));
        snapshot.admitted = 7;
        snapshot.rejected_missing_key = 1;
        snapshot.store_errors = 3;
        assert_eq!(recorded.advance(&snapshot), deltas(2, 0, 1, 3));
        assert_eq!(recorded.advance(&snapshot), deltas(0, 0, 0, 0));
        limiter.record_metrics();
    }
}
