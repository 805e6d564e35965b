//! Reporting through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `floodgate_rejected_total` | counter | `reason`: `rate`, `missing_key` |
//! | `floodgate_rate_admitted_total` | counter | `policy` |
//! | `floodgate_rate_keys` | gauge | `policy` |
//! | `floodgate_rate_waiting` | gauge | `policy` |
//!
//! [`RateLimiter::record_metrics`] adds to the counters what happened since its last call, so
//! several rate limits (and the gate's `timeout`/`queue_full` reasons) add up in
//! `floodgate_rejected_total`; the gauges carry the policy name.

use super::snapshot::RateLimitSnapshot;

/// The counters as last recorded.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    admitted: u64,
    rejected: u64,
    rejected_missing_key: u64,
}

impl Recorded {
    /// The increments since the last call: admitted, rejected, rejected for a missing key.
    fn advance(&mut self, snapshot: &RateLimitSnapshot) -> (u64, u64, u64) {
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

impl crate::RateLimiter {
    /// Adds the rate limit's counters and sets its gauges in the installed `metrics` recorder.
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
        metrics::counter!("floodgate_rejected_total", "reason" => "rate").increment(rejected);
        metrics::counter!("floodgate_rejected_total", "reason" => "missing_key")
            .increment(rejected_missing_key);
        metrics::counter!("floodgate_rate_admitted_total", "policy" => policy.clone())
            .increment(admitted);
        metrics::gauge!("floodgate_rate_keys", "policy" => policy.clone())
            .set(snapshot.keys as f64);
        metrics::gauge!("floodgate_rate_waiting", "policy" => policy).set(snapshot.waiting as f64);
    }

    /// Registers help texts for the rate limit's metrics with the installed recorder.
    pub fn describe_metrics() {
        use metrics::{describe_counter, describe_gauge};
        describe_counter!(
            "floodgate_rejected_total",
            "Requests turned away, by reason."
        );
        describe_counter!(
            "floodgate_rate_admitted_total",
            "Requests admitted by a rate limit, by policy."
        );
        describe_gauge!(
            "floodgate_rate_keys",
            "Buckets in a rate limit's keyed store, by policy."
        );
        describe_gauge!(
            "floodgate_rate_waiting",
            "Requests waiting for a rate limit token, by policy."
        );
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
