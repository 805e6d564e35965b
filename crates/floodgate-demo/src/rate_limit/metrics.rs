//! The rate limit's `floodgate_rate_*` series, read from [`RateLimiter::snapshot`] at scrape
//! time. Its rejections are counted in `floodgate_rejected_total{reason="rate"}`, the family
//! the gate's rejections are in (encoded by `crate::metrics`).

use floodgate::RateLimiter;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use crate::metrics::{counter, gauge};

/// Collects the rate limit's series.
#[derive(Debug)]
pub(crate) struct RateLimitCollector {
    limiter: RateLimiter,
}

impl RateLimitCollector {
    pub(crate) fn new(limiter: RateLimiter) -> Self {
        Self { limiter }
    }
}

impl Collector for RateLimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snapshot = self.limiter.snapshot();
        let quota = self.limiter.quota();
        let (count, per) = quota.rate();
        let per_second = ConstGauge::new(f64::from(count) / per.as_secs_f64());
        per_second.encode(encoder.encode_descriptor(
            "floodgate_rate_per_second",
            "Steady rate of the rate limit before /slow and /fast, in requests per second per key.",
            None,
            per_second.metric_type(),
        )?)?;
        let burst = usize::try_from(quota.burst_size()).unwrap_or(usize::MAX);
        gauge(
            &mut encoder,
            "floodgate_rate_burst",
            "Bucket size of the rate limit: requests a key may send at once.",
            burst,
        )?;
        gauge(
            &mut encoder,
            "floodgate_rate_keys",
            "Buckets of the rate limit now, one per recently active key (0 for a global limit).",
            snapshot.keys,
        )?;
        gauge(
            &mut encoder,
            "floodgate_rate_waiting",
            "Requests waiting for a token of the rate limit now.",
            snapshot.waiting,
        )?;
        counter(
            &mut encoder,
            "floodgate_rate_admitted",
            "Requests admitted by the rate limit (then gated).",
            snapshot.admitted,
        )
    }
}
