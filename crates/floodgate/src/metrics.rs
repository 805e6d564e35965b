//! Reporting through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The gate keeps its own counters (see [`Gate::snapshot`]); with the feature on,
//! [`Gate::record_metrics`] copies them to the installed recorder (call it when metrics are
//! scraped), and every request that had to queue records its wait in the
//! `floodgate_queue_wait_seconds` histogram. Requests admitted at once record nothing, so the
//! admitted fast path pays nothing for metrics.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `floodgate_in_flight` | gauge | |
//! | `floodgate_queued` | gauge | |
//! | `floodgate_limit` | gauge | |
//! | `floodgate_admitted_total` | counter | |
//! | `floodgate_rejected_total` | counter | `reason`: `timeout`, `queue_full`, `closed`, `shed` |
//! | `floodgate_queue_wait_seconds` | histogram | `outcome`: `admitted`, `rejected` |

use tokio::time::Instant;

#[cfg(feature = "metrics")]
use crate::{Gate, Reason};

/// Records how long a queued request waited, and whether it got in.
#[cfg(feature = "metrics")]
pub(crate) fn record_queue_wait(since: Instant, admitted: bool) {
    let outcome = if admitted { "admitted" } else { "rejected" };
    metrics::histogram!("floodgate_queue_wait_seconds", "outcome" => outcome)
        .record(since.elapsed().as_secs_f64());
}

#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn record_queue_wait(_since: Instant, _admitted: bool) {}

#[cfg(feature = "metrics")]
impl Gate {
    /// Copies the gate's gauges and counters to the installed `metrics` recorder.
    ///
    /// Call it right before rendering a scrape (or on a timer). Needs the `metrics` feature.
    ///
    /// ```
    /// let gate = floodgate::Gate::new(8);
    /// gate.record_metrics(); // a no-op without an installed recorder
    /// ```
    pub fn record_metrics(&self) {
        let snapshot = self.snapshot();
        metrics::gauge!("floodgate_in_flight").set(snapshot.in_flight as f64);
        metrics::gauge!("floodgate_queued").set(snapshot.queued as f64);
        metrics::gauge!("floodgate_limit").set(snapshot.limit as f64);
        metrics::counter!("floodgate_admitted_total").absolute(snapshot.admitted);
        for reason in Reason::ALL {
            metrics::counter!("floodgate_rejected_total", "reason" => reason.as_str())
                .absolute(snapshot.rejected.get(reason));
        }
    }

    /// Registers help texts and units for the gate's metrics with the installed recorder.
    pub fn describe_metrics() {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_gauge!("floodgate_in_flight", "Requests holding a gate permit.");
        describe_gauge!("floodgate_queued", "Requests waiting for a gate permit.");
        describe_gauge!("floodgate_limit", "The gate's current concurrency limit.");
        describe_counter!("floodgate_admitted_total", "Requests admitted by the gate.");
        describe_counter!(
            "floodgate_rejected_total",
            "Requests turned away, by reason."
        );
        describe_histogram!(
            "floodgate_queue_wait_seconds",
            Unit::Seconds,
            "Time queued requests waited for a permit, by outcome."
        );
    }
}
