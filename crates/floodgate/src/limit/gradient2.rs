//! Gradient2: the limit follows the ratio of the long-term latency to the current one.

use super::bounds::{Bounds, assert_fraction};
use super::probe::{Measure, Probe, Step};
use super::{LimitAlgorithm, Sample};

/// Delay-based limit: compares each latency with a long-term average, shrinks the limit in
/// proportion when latency climbs beyond a tolerance, and grows it by a small queue allowance
/// while latency stays low.
///
/// The update rule of Netflix concurrency-limits' `Gradient2Limit`
/// (`concurrency-limits-core/.../limit/Gradient2Limit.java`), with `L` the limit:
///
/// - `long` is an average of latencies (Netflix's `ExpAvgMeasurement`: the plain mean of the
///   first 10 samples, then an exponential average with factor `2 / (long_window + 1)`), cut by
///   5% whenever it is more than twice the current latency, so that it recovers quickly after
///   an overload;
/// - while the limit is in use (`in_flight ≥ L / 2`), `gradient = clamp(tolerance × long /
///   latency, 0.5, 1)`, `new = L × gradient + queue_size`, and the limit moves by
///   `smoothing` towards it: `L × (1 − smoothing) + new × smoothing`, clamped to
///   `[min_limit, max_limit]`.
///
/// Defaults, from `Gradient2Limit.Builder`: initial limit 20, maximum 200, smoothing 0.2,
/// queue size 4, long window 600 samples, tolerance 1.5. The minimum is 1 (Netflix: 20), so
/// that the limit can go below 20 in front of a small backend such as a database pool of 8.
///
/// # The creep, and its fix
///
/// Under mild sustained overload Netflix's rule creeps: latency sits a little above `long`
/// (within the tolerance), so the gradient is 1 and every sample adds `queue_size × smoothing`
/// to the limit; the longer queue raises latency, the long-term average absorbs it within a few
/// hundred samples, the gradient is back to 1, and the limit grows again, without bound (in the
/// simulation: up to 10 times the backend's capacity, at 10 times its latency). Two causes, two
/// changes:
///
/// - **The baseline must not absorb the queue.** The baseline is the lower of `long` and the
///   latency last measured by a probe at half the limit: every `30 × L × jitter` samples
///   (jitter uniform in `[0.5, 1)`, Netflix's Vegas probe schedule) the limit is halved for one
///   round trip, and the mean latency of one round of requests admitted under the halved limit
///   is the no-load latency, free of any queue the limit built. With light load the probe
///   measures at once and the limit never dips.
/// - **Grow only while latency is low.** Netflix documents `queue_size` as "the amount the
///   limit can grow while latencies remain low", but adds it at every gradient, so the limit
///   grows inside the tolerance band too, and can never shrink below `2 × queue_size` (the
///   gradient is at least 0.5). Here latency at or below the baseline grows the limit by
///   `queue_size`, latency within the tolerance holds it, and latency beyond shrinks it by
///   `tolerance × baseline / latency` (at most by half), without `queue_size`.
///
/// As with the other adaptive algorithms, a sample speaks for the limit it was admitted under:
/// the limit grows only on a sample admitted at the current limit (`in_flight ≥ L`), and
/// shrinks only on one not admitted under a higher limit that was already cut (`in_flight ≤
/// L`). Growing on every response adds `0.8 × L` per round trip, faster than latency can report
/// the queue it builds: in front of 64 slots the limit swung between 30 and 200.
///
/// ```
/// use std::time::Duration;
/// use floodgate::limit::{Gradient2, LimitAlgorithm, Sample};
///
/// let mut gradient2 = Gradient2::new().initial_limit(10).max_limit(100).seed(7);
/// let ms = Duration::from_millis;
///
/// // Latency at the long-term average, with the limit in use: each sample adds
/// // queue_size (4) × smoothing (0.2).
/// let mut limit = 10;
/// for _ in 0..6 {
///     limit = gradient2.update(&Sample::new(ms(20), limit, false));
/// }
/// assert_eq!(limit, 14); // 14.8
/// // 1.25 × the average: within the tolerance (1.5), hold.
/// assert_eq!(gradient2.update(&Sample::new(ms(25), 14, false)), 14);
/// // 3 × the average: shrink, towards 1.5 × average / latency of the limit.
/// assert_eq!(gradient2.update(&Sample::new(ms(60), 14, false)), 13);
/// ```
#[derive(Debug, Clone)]
pub struct Gradient2 {
    bounds: Bounds,
    smoothing: f64,
    tolerance: f64,
    queue_size: usize,
    long_rtt: ExpAvg,
    probe: Probe,
    /// The latency the last probe measured, in seconds; infinite before the first probe.
    rtt_noload: f64,
    estimate: f64,
}

impl Gradient2 {
    /// Gradient2 with Netflix's defaults (see [`Gradient2`]), and a random probe jitter.
    pub fn new() -> Self {
        let bounds = Bounds::new(20, 1, 200);
        Self {
            bounds,
            smoothing: 0.2,
            tolerance: 1.5,
            queue_size: 4,
            long_rtt: ExpAvg::new(600),
            probe: Probe::new(Measure::Round),
            rtt_noload: f64::INFINITY,
            estimate: bounds.initial() as f64,
        }
    }

    /// The limit to start with (default 20), moved into `[min_limit, max_limit]`.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_initial(limit);
        self.estimate = self.bounds.initial() as f64;
        self
    }

    /// The lowest the limit goes (default 1).
    ///
    /// # Panics
    ///
    /// If `limit` is zero or above the maximum.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_min(limit);
        self.estimate = self.bounds.initial() as f64;
        self
    }

    /// The highest the limit goes (default 200).
    ///
    /// # Panics
    ///
    /// If `limit` is below the minimum.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_max(limit);
        self.estimate = self.bounds.initial() as f64;
        self
    }

    /// How far each sample moves the limit towards its new estimate (default 0.2).
    ///
    /// # Panics
    ///
    /// Unless `smoothing` is in `(0, 1]`.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        assert_fraction("smoothing", smoothing);
        self.smoothing = smoothing;
        self
    }

    /// How much above the baseline latency may rise before the limit shrinks (default 1.5:
    /// half as slow again).
    ///
    /// # Panics
    ///
    /// Unless `tolerance` is finite and at least 1.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        assert!(
            tolerance.is_finite() && tolerance >= 1.0,
            "floodgate: tolerance must be at least 1, got {tolerance}"
        );
        self.tolerance = tolerance;
        self
    }

    /// How much the limit grows per sample while latency is low, before smoothing (default 4).
    pub fn queue_size(mut self, requests: usize) -> Self {
        self.queue_size = requests;
        self
    }

    /// The window of the long-term average, in samples (default 600).
    ///
    /// # Panics
    ///
    /// If `samples` is zero.
    pub fn long_window(mut self, samples: usize) -> Self {
        assert!(
            samples >= 1,
            "floodgate: long_window must be at least 1 sample, got 0"
        );
        self.long_rtt = ExpAvg::new(samples);
        self
    }

    /// Seeds the probe jitter, for a reproducible schedule (by default each `Gradient2` draws
    /// its own seed, so that gates do not probe in step).
    pub fn seed(mut self, seed: u64) -> Self {
        self.probe = self.probe.with_seed(seed);
        self
    }

    fn limit(&self) -> usize {
        self.bounds.whole(self.estimate)
    }
}

impl Default for Gradient2 {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Gradient2 {
    fn initial_limit(&self) -> usize {
        self.bounds.initial()
    }

    fn update(&mut self, sample: &Sample) -> usize {
        let latency = sample.latency.as_secs_f64();
        if latency <= 0.0 {
            // No timing information.
            return self.limit();
        }
        let long = self.long_rtt.add(latency);
        // Netflix: after a long overload, bring the average back down quickly.
        if long / latency > 2.0 {
            self.long_rtt.scale(0.95);
        }
        match self
            .probe
            .step(sample, latency, self.estimate, self.bounds.min())
        {
            Step::Probing(limit) => return limit,
            Step::Measured(noload) => self.rtt_noload = noload,
            Step::Idle => {}
        }
        // Netflix: the load does not use the limit; do not drift.
        if (sample.in_flight as f64) < self.estimate / 2.0 {
            return self.limit();
        }
        let limit = self.limit();
        let baseline = long.min(self.rtt_noload);
        let target = if latency <= baseline {
            if sample.in_flight < limit {
                // Admitted under a lower limit: says nothing about whether this one is enough.
                return limit;
            }
            self.estimate + self.queue_size as f64
        } else if latency <= self.tolerance * baseline {
            return limit;
        } else {
            if sample.in_flight > limit {
                // Admitted under a higher limit that was already cut.
                return limit;
            }
            self.estimate * (self.tolerance * baseline / latency).max(0.5)
        };
        let next = self.estimate * (1.0 - self.smoothing) + target * self.smoothing;
        self.estimate = self.bounds.clamp(next);
        self.limit()
    }
}

/// Netflix's `ExpAvgMeasurement(window, 10)`: the plain mean of the first 10 samples, then an
/// exponential moving average with factor `2 / (window + 1)`.
#[derive(Debug, Clone)]
struct ExpAvg {
    factor: f64,
    count: usize,
    value: f64,
}

impl ExpAvg {
    const WARMUP: usize = 10;

    fn new(window: usize) -> Self {
        Self {
            factor: 2.0 / (window as f64 + 1.0),
            count: 0,
            value: 0.0,
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < Self::WARMUP {
            self.count += 1;
            self.value += (sample - self.value) / self.count as f64;
        } else {
            self.value += (sample - self.value) * self.factor;
        }
        self.value
    }

    fn scale(&mut self, by: f64) {
        self.value *= by;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(ms: u64, in_flight: usize) -> Sample {
        Sample::new(Duration::from_millis(ms), in_flight, false)
    }

    /// Gradient2 that will not probe within these tests unless they ask for it.
    fn gradient2() -> Gradient2 {
        Gradient2::new().seed(1).probe_never()
    }

    impl Gradient2 {
        fn probe_never(mut self) -> Self {
            self.probe = self.probe.with_multiplier(usize::MAX);
            self
        }
    }

    #[test]
    fn defaults_follow_netflix() {
        let gradient2 = Gradient2::new();
        assert_eq!(LimitAlgorithm::initial_limit(&gradient2), 20);
        assert_eq!(gradient2.bounds, Bounds::new(20, 1, 200));
        assert_eq!(gradient2.smoothing, 0.2);
        assert_eq!(gradient2.tolerance, 1.5);
        assert_eq!(gradient2.queue_size, 4);
        assert_eq!(gradient2.long_rtt.factor, 2.0 / 601.0);
    }

    #[test]
    fn exp_avg_is_a_mean_for_ten_samples_then_exponential() {
        let mut avg = ExpAvg::new(3);
        for n in 1..=10 {
            assert_eq!(avg.add(n as f64), (1..=n).sum::<u64>() as f64 / n as f64);
        }
        // 5.5 + (15.5 − 5.5) × 2 / (3 + 1)
        assert_eq!(avg.add(15.5), 10.5);
    }

    #[test]
    fn grows_at_the_baseline_holds_within_tolerance_shrinks_beyond() {
        let mut gradient2 = gradient2();
        // Latency at the average, admitted at the limit: + queue_size × smoothing = 0.8.
        for n in 1..=5 {
            let limit = gradient2.limit();
            gradient2.update(&sample(100, limit));
            assert!((gradient2.estimate - (20.0 + 0.8 * n as f64)).abs() < 1e-9);
        }
        // 140 ms, within 1.5 × the average (now 107 ms): hold.
        let limit = gradient2.estimate;
        gradient2.update(&sample(140, 24));
        assert_eq!(gradient2.estimate, limit);
        // 300 ms, beyond: towards limit × 1.5 × average / latency.
        let long = gradient2.long_rtt.clone().add(0.300);
        let expected = limit * 0.8 + limit * (1.5 * long / 0.300) * 0.2;
        gradient2.update(&sample(300, 24));
        assert!((gradient2.estimate - expected).abs() < 1e-9);
        assert!(gradient2.estimate < limit);
    }

    #[test]
    fn a_sample_speaks_for_the_limit_it_was_admitted_under() {
        let mut gradient2 = gradient2().smoothing(1.0);
        // Warm the average up at light load, which leaves the limit alone.
        for _ in 0..10 {
            gradient2.update(&sample(100, 1));
        }
        // Fast, but admitted when the limit was 15: says nothing about 20.
        assert_eq!(gradient2.update(&sample(100, 15)), 20);
        assert_eq!(gradient2.update(&sample(100, 20)), 24);
        // Slow, admitted at 24: shrink once...
        assert_eq!(gradient2.update(&sample(1_000, 24)), 12);
        // ...not again for those admitted before the cut.
        assert_eq!(gradient2.update(&sample(1_000, 24)), 12);
        assert_eq!(gradient2.update(&sample(1_000, 12)), 6);
    }

    #[test]
    fn shrinks_at_most_by_half_and_below_twice_the_queue_size() {
        let mut gradient2 = gradient2().initial_limit(6).smoothing(1.0);
        for _ in 0..10 {
            gradient2.update(&sample(10, 1));
        }
        // Far beyond the tolerance: halve (Netflix: 6 × 0.5 + 4 = 7, so it could not shrink).
        assert_eq!(gradient2.update(&sample(1_000, 6)), 3);
    }

    #[test]
    fn light_load_does_not_move_the_limit() {
        let mut gradient2 = gradient2();
        for _ in 0..10 {
            assert_eq!(gradient2.update(&sample(100, 9)), 20);
        }
        assert_eq!(gradient2.update(&sample(1_000, 9)), 20);
    }

    #[test]
    fn long_average_recovers_quickly_after_an_overload() {
        let mut gradient2 = gradient2();
        for _ in 0..10 {
            gradient2.update(&sample(500, 20));
        }
        let before = gradient2.long_rtt.value;
        gradient2.update(&sample(100, 20));
        let plain = before + (0.100 - before) * 2.0 / 601.0;
        assert!((gradient2.long_rtt.value - plain * 0.95).abs() < 1e-12);
    }

    #[test]
    fn clamps_to_min_and_max() {
        let mut gradient2 = gradient2().min_limit(5).max_limit(22).smoothing(1.0);
        for _ in 0..10 {
            let limit = gradient2.limit();
            gradient2.update(&sample(100, limit));
        }
        assert_eq!(gradient2.limit(), 22);
        for _ in 0..10 {
            let limit = gradient2.limit();
            gradient2.update(&sample(10_000, limit));
        }
        assert_eq!(gradient2.limit(), 5);
    }

    #[test]
    fn zero_latency_is_ignored() {
        let mut gradient2 = gradient2();
        assert_eq!(gradient2.update(&sample(0, 20)), 20);
        assert_eq!(gradient2.long_rtt.count, 0);
    }

    #[test]
    #[should_panic(expected = "tolerance must be at least 1, got 0.9")]
    fn tolerance_below_one_panics() {
        let _ = Gradient2::new().tolerance(0.9);
    }

    #[test]
    #[should_panic(expected = "smoothing must be in (0, 1], got 0")]
    fn zero_smoothing_panics() {
        let _ = Gradient2::new().smoothing(0.0);
    }

    #[test]
    #[should_panic(expected = "long_window must be at least 1 sample")]
    fn zero_long_window_panics() {
        let _ = Gradient2::new().long_window(0);
    }

    /// A backend with `capacity` slots and a service time of 10 ms (± 5%, by `n`) behind a
    /// saturated gate: each request is admitted at the current limit and waits for the ones
    /// ahead of it.
    fn saturated(limit: usize, capacity: usize, n: usize) -> Sample {
        let service = 10_000 + (n * 7919 % 1_001) as u64 - 500;
        let queued = limit.saturating_sub(capacity) as u64;
        Sample::new(
            Duration::from_micros(service + queued * service / capacity as u64),
            limit,
            false,
        )
    }

    /// Netflix's `Gradient2Limit` update, for comparison.
    #[derive(Debug)]
    struct Netflix {
        long_rtt: ExpAvg,
        estimate: f64,
    }

    impl Netflix {
        fn update(&mut self, sample: &Sample) -> usize {
            let short = sample.latency.as_secs_f64();
            let long = self.long_rtt.add(short);
            if long / short > 2.0 {
                self.long_rtt.scale(0.95);
            }
            if (sample.in_flight as f64) < self.estimate / 2.0 {
                return self.estimate as usize;
            }
            let gradient = (1.5 * long / short).clamp(0.5, 1.0);
            let new = self.estimate * gradient + 4.0;
            self.estimate = (self.estimate * 0.8 + new * 0.2).clamp(1.0, 200.0);
            self.estimate as usize
        }
    }

    #[test]
    fn does_not_creep_under_mild_sustained_overload() {
        // Netflix's rule: the limit creeps to its maximum, ten times the 16 slots.
        let mut netflix = Netflix {
            long_rtt: ExpAvg::new(600),
            estimate: 20.0,
        };
        let mut limit = 20;
        for n in 0..20_000 {
            limit = netflix.update(&saturated(limit, 16, n));
        }
        assert_eq!(limit, 200, "Netflix's Gradient2Limit");

        // With the probe and growth only at the baseline: it stays near the capacity.
        let mut gradient2 = Gradient2::new().seed(2);
        let mut limit = LimitAlgorithm::initial_limit(&gradient2);
        let mut highest = 0;
        for n in 0..20_000 {
            limit = gradient2.update(&saturated(limit, 16, n));
            if n >= 2_000 {
                highest = highest.max(limit);
            }
        }
        assert!(
            highest <= 24,
            "limit up to {highest} for 16 slots (1.5 × 16 = 24)"
        );
    }
}
