//! A small fixed-size latency histogram for one second of the timeline: 8 logarithmic buckets
//! per power of two (each about 9% wide), 1 µs to about 71 minutes, 1 KiB at most, allocated on
//! the first value. Its percentiles are within about 5% (the bucket's geometric middle), which
//! is plenty for a chart, and the timeline stays bounded: a few KiB per second of run.

/// Buckets per power of two.
const PER_OCTAVE: f64 = 8.0;
/// Buckets in all: 32 octaves of microseconds.
const BUCKETS: usize = 256;

/// Counts of latencies in logarithmic buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogHistogram {
    /// Empty until the first value.
    counts: Vec<u32>,
}

impl LogHistogram {
    /// Counts a latency of `us` microseconds.
    pub(crate) fn record(&mut self, us: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let bucket = bucket(us);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
    }

    /// Adds the counts of `other`.
    pub(crate) fn merge(&mut self, other: &Self) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// The `q` quantile (0..=1) in milliseconds; `None` when empty.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                let middle_us = 2f64.powf((i as f64 + 0.5) / PER_OCTAVE);
                return Some(middle_us / 1000.0);
            }
        }
        None
    }
}

fn bucket(us: u64) -> usize {
    if us <= 1 {
        return 0;
    }
    ((us as f64).log2() * PER_OCTAVE)
        .floor()
        .min((BUCKETS - 1) as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_five_percent() {
        let mut h = LogHistogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for ms in 1..=100u64 {
            h.record(ms * 1000);
        }
        let close = |got: Option<f64>, want: f64| {
            let got = got.unwrap();
            assert!((got - want).abs() <= want * 0.05, "{got} vs {want}");
        };
        close(h.quantile_ms(0.5), 50.0);
        close(h.quantile_ms(0.99), 99.0);
        close(h.quantile_ms(1.0), 100.0);

        let mut other = LogHistogram::default();
        other.record(u64::MAX);
        other.record(0);
        h.merge(&other);
        h.merge(&LogHistogram::default());
        assert!(h.quantile_ms(1.0).unwrap() > 1e6);
        close(h.quantile_ms(0.5), 50.0);
    }
}
