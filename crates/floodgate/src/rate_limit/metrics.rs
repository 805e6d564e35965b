//! Reporting through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The series of [`crate::metrics`]: `floodgate_rejected_total` (`reason`: `rate`,
//! `missing_key`), `floodgate_rate_admitted_total`, `floodgate_rate_keys` and
//! `floodgate_rate_waiting`, each labelled with the quota's name as `policy`.
//!
//! [`RateLimiter::record_metrics`](super::RateLimiter::record_metrics) adds to the counters what happened since its last call, so
//! the counters of several limiters with the same policy name add up.

use super::snapshot::Snapshot;
use crate::metrics::{RATE_ADMITTED_TOTAL, RATE_KEYS, RATE_WAITING, REJECTED_TOTAL};

/// The counters as last recorded.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    admitted: u64,
    rejected: u64,
    rejected_missing_key: u64,
}

impl Recorded {
    /// The increments since the last call: admitted, rejected, rejected for a missing key.
    fn advance(&mut self, snapshot: &Snapshot) -> (u64, u64, u64) {
        let deltas = (
            snapshot.admitted.saturating_sub(self.admitted),
            snapshot.rejected.saturating_sub(self.rejected),
            snapshot
                .rejected_missing_key
                .saturating_sub(self.rejected_missing_key),
        );
        self.admitted = snapshot.admitted;
        self.rejected = snapshot.rejected;
        self.rejected_missing_key = snapshot.rejected_missing_key;
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
        let (admitted, rejected, rejected_missing_key) = self
            .shared
            .recorded()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .advance(&snapshot);
        let policy = self.quota().name().to_owned();
        metrics::counter!(REJECTED_TOTAL, "policy" => policy.clone(), "reason" => "rate")
            .increment(rejected);
        metrics::counter!(REJECTED_TOTAL, "policy" => policy.clone(), "reason" => "missing_key")
            .increment(rejected_missing_key);
        metrics::counter!(RATE_ADMITTED_TOTAL, "policy" => policy.clone()).increment(admitted);
        metrics::gauge!(RATE_KEYS, "policy" => policy.clone()).set(snapshot.keys as f64);
        metrics::gauge!(RATE_WAITING, "policy" => policy).set(snapshot.waiting as f64);
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
        snapshot.admitted = 5;
        snapshot.rejected = 2;
        assert_eq!(recorded.advance(&snapshot), (5, 2, 0));
        snapshot.admitted = 7;
        snapshot.rejected_missing_key = 1;
        assert_eq!(recorded.advance(&snapshot), (2, 0, 1));
        assert_eq!(recorded.advance(&snapshot), (0, 0, 0));
        limiter.record_metrics();
    }
}
