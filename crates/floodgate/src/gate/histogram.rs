//! A fixed-bucket histogram of how long admitted requests waited for their permit.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Bucket upper bounds: 0.5 ms to 10 s, roughly ×2.5 apart (the Prometheus client defaults,
/// extended down to half a millisecond because most admitted requests wait for nothing).
const BOUNDS: [Duration; 15] = [
    Duration::ZERO,
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_micros(2_500_000),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// How long admitted requests waited for their permit: counts per bucket, total and sum, like a
/// Prometheus histogram. Requests admitted at once count as a wait of zero.
///
/// Part of every [`Snapshot`](super::Snapshot), so an exporter can render it at scrape time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = floodgate::Gate::new(4);
/// let _permit = gate.acquire().await.unwrap();
/// let waits = gate.snapshot().queue_wait;
/// assert_eq!(waits.count(), 1);
/// let (bound, cumulative) = waits.buckets().next().unwrap();
/// assert_eq!((bound, cumulative), (std::time::Duration::ZERO, 1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitHistogram {
    /// Per bucket (not cumulative); the last slot counts waits above the largest bound.
    counts: [u64; BOUNDS.len() + 1],
    sum: Duration,
}

impl WaitHistogram {
    #[cfg(test)]
    pub(crate) fn record(&mut self, wait: Duration) {
        self.counts[bucket_of(wait)] += 1;
        self.sum = self.sum.saturating_add(wait);
    }

    /// Records `n` waits of zero.
    pub(crate) fn record_zeros(&mut self, n: u64) {
        self.counts[0] += n;
    }

    /// Number of waits recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of all waits.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// `(upper bound, cumulative count)` for each bucket, smallest bound first (Prometheus `le`
    /// buckets; the implicit `+Inf` bucket is [`count`](WaitHistogram::count)).
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        BOUNDS
            .iter()
            .zip(self.counts.iter().scan(0, |cumulative, count| {
                *cumulative += count;
                Some(*cumulative)
            }))
            .map(|(bound, cumulative)| (*bound, cumulative))
    }
}

fn bucket_of(wait: Duration) -> usize {
    BOUNDS.partition_point(|bound| *bound < wait)
}

/// The recording side of a [`WaitHistogram`]: atomic counters, so that requests record their
/// wait without the gate's lock, and snapshots read it without stopping them.
#[derive(Debug, Default)]
pub(crate) struct WaitRecorder {
    counts: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl WaitRecorder {
    pub(crate) fn record(&self, wait: Duration) {
        self.counts[bucket_of(wait)].fetch_add(1, Relaxed);
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The waits recorded so far.
    pub(crate) fn load(&self) -> WaitHistogram {
        WaitHistogram {
            counts: std::array::from_fn(|bucket| self.counts[bucket].load(Relaxed)),
            sum: Duration::from_nanos(self.sum_nanos.load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_land_in_the_first_bucket_that_holds_them() {
        let mut histogram = WaitHistogram::default();
        histogram.record(Duration::ZERO);
        histogram.record(Duration::from_millis(1));
        histogram.record(Duration::from_millis(7));
        histogram.record(Duration::from_secs(60));
        let buckets: Vec<_> = histogram.buckets().collect();
        assert_eq!(buckets[0], (Duration::ZERO, 1));
        assert_eq!(buckets[2], (Duration::from_millis(1), 2));
        assert_eq!(buckets[4], (Duration::from_millis(5), 2));
        assert_eq!(buckets[5], (Duration::from_millis(10), 3));
        assert_eq!(buckets.last().unwrap(), &(Duration::from_secs(10), 3));
        assert_eq!(histogram.count(), 4);
        assert_eq!(histogram.sum(), Duration::from_millis(60_008));

        let recorder = WaitRecorder::default();
        for wait in [0, 1, 7, 60_000] {
            recorder.record(Duration::from_millis(wait));
        }
        assert_eq!(
            recorder.load(),
            histogram,
            "the atomic recorder counts alike"
        );
    }
}
