//! Vegas: the limit follows the queue estimated from the no-load latency.

use super::bounds::{Bounds, assert_fraction};
use super::probe::{Measure, Probe, Step};
use super::{LimitAlgorithm, Sample};

/// Delay-based limit after TCP Vegas: estimates how many requests are queued from the no-load
/// latency, and keeps that queue between `alpha` and `beta`.
///
/// The update rule of Netflix concurrency-limits' `VegasLimit`
/// (`concurrency-limits-core/.../limit/VegasLimit.java`), with `L` the limit:
///
/// - the no-load latency `rtt_noload` is the lowest latency seen, refreshed by a probe every
///   `probe_multiplier × L × jitter` samples (jitter uniform in `[0.5, 1)`);
/// - `queue = ceil(L × (1 − rtt_noload / latency))`;
/// - with `log = max(1, floor(log10(L)))`: a drop makes `L − log`; otherwise, while the limit
///   is in use (`in_flight × 2 ≥ L`), `queue ≤ log` makes `L + beta` (no queue: grow fast),
///   `queue < alpha` makes `L + log`, `queue > beta` makes `L − log`, and anything between
///   `alpha` and `beta` keeps `L`;
/// - the new limit is smoothed, `L × (1 − smoothing) + new × smoothing`, and clamped to
///   `[min_limit, max_limit]`.
///
/// Defaults, from `VegasLimit.Builder`: initial limit 20, maximum 1000, minimum 1,
/// `alpha = 3 × log`, `beta = 6 × log`, smoothing 1 (none), probe multiplier 30.
///
/// # Two fixes
///
/// **Rising no-load latency.** Netflix's probe takes the next sample as the new `rtt_noload`,
/// whatever the load. Under sustained overload that sample waited in the backend's queue: the
/// queue now looks like no queue, Vegas grows the limit, the queue gets longer, and the next
/// probe ratchets `rtt_noload` up again. Here a probe halves the limit and measures the first
/// request admitted under the halved limit, so it sees the backend without the queue that
/// Vegas itself keeps (a few requests, well under half the limit). With light load the first
/// sample qualifies at once and the limit never dips.
///
/// **A sample speaks for the limit it was admitted under.** The gate feeds Vegas one sample per
/// response, and a response reports on the limit of one round trip ago. Netflix's rule moves
/// the limit on every response, so within one round trip it adds `beta` many times over (the
/// limit swung between 20 and 120 in front of a backend of 64 in the simulation), then takes
/// it all back. So the limit grows only on a sample admitted at the current limit
/// (`in_flight ≥ L`), and shrinks only on one not admitted under a higher limit that was
/// already cut (`in_flight ≤ L`): one step per round trip, as in TCP Vegas.
///
/// # Tuning
///
/// `alpha` and `beta` count requests, so Netflix's defaults (3 and 6 below a limit of 100)
/// leave a queue of up to 6 requests: for a backend of 4 slots that is more than twice its
/// latency. For small backends set them lower, e.g. `.alpha(2).beta(2)`. Vegas reads latency
/// noise as queue (`L × noise` requests), so with small thresholds it suits backends whose
/// latency varies by a few percent; otherwise prefer [`Gradient2`](super::Gradient2).
///
/// ```
/// use std::time::Duration;
/// use floodgate::limit::{LimitAlgorithm, Sample, Vegas};
///
/// let mut vegas = Vegas::new().initial_limit(10).max_limit(100).seed(7);
/// let ms = Duration::from_millis;
///
/// // The first sample is the no-load latency.
/// assert_eq!(vegas.update(&Sample::new(ms(20), 10, false)), 10);
/// // Same latency at the limit: no queue, grow fast by beta (6).
/// assert_eq!(vegas.update(&Sample::new(ms(20), 10, false)), 16);
/// // Twice the no-load latency: half the limit is queue (8 > beta): shrink.
/// assert_eq!(vegas.update(&Sample::new(ms(40), 16, false)), 15);
/// ```
#[derive(Debug, Clone)]
pub struct Vegas {
    bounds: Bounds,
    alpha: Option<usize>,
    beta: Option<usize>,
    smoothing: f64,
    probe: Probe,
    /// The lowest latency seen since the last probe, in seconds; zero before the first sample.
    rtt_noload: f64,
    estimate: f64,
}

impl Vegas {
    /// Vegas with Netflix's defaults (see [`Vegas`]), and a random probe jitter.
    pub fn new() -> Self {
        let bounds = Bounds::new(20, 1, 1000);
        Self {
            bounds,
            alpha: None,
            beta: None,
            smoothing: 1.0,
            probe: Probe::new(Measure::First),
            rtt_noload: 0.0,
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

    /// The highest the limit goes (default 1000).
    ///
    /// # Panics
    ///
    /// If `limit` is below the minimum.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_max(limit);
        self.estimate = self.bounds.initial() as f64;
        self
    }

    /// Below this many queued requests the limit grows by `log10(limit)` (default
    /// `3 × log10(limit)`, at least 3). Netflix's `alpha(int)`.
    ///
    /// # Panics
    ///
    /// If `beta` is set and below `requests`.
    pub fn alpha(mut self, requests: usize) -> Self {
        assert_alpha_beta(Some(requests), self.beta);
        self.alpha = Some(requests);
        self
    }

    /// Above this many queued requests the limit shrinks by `log10(limit)`; with no queue at all
    /// it grows by this much at once (default `6 × log10(limit)`, at least 6). Netflix's
    /// `beta(int)`.
    ///
    /// # Panics
    ///
    /// If `alpha` is set and above `requests`.
    pub fn beta(mut self, requests: usize) -> Self {
        assert_alpha_beta(self.alpha, Some(requests));
        self.beta = Some(requests);
        self
    }

    /// How much of each change to apply: 1 (the default) applies it whole.
    ///
    /// # Panics
    ///
    /// Unless `smoothing` is in `(0, 1]`.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        assert_fraction("smoothing", smoothing);
        self.smoothing = smoothing;
        self
    }

    /// Probe the no-load latency every `multiplier × limit` samples, times a jitter in
    /// `[0.5, 1)` (default 30).
    ///
    /// # Panics
    ///
    /// If `multiplier` is zero.
    pub fn probe_multiplier(mut self, multiplier: usize) -> Self {
        self.probe = self.probe.with_multiplier(multiplier);
        self
    }

    /// Seeds the probe jitter, for a reproducible schedule (by default each `Vegas` draws its
    /// own seed, so that gates do not probe in step).
    pub fn seed(mut self, seed: u64) -> Self {
        self.probe = self.probe.with_seed(seed);
        self
    }

    fn limit(&self) -> usize {
        self.bounds.whole(self.estimate)
    }

    fn update_estimate(&mut self, latency: f64, sample: &Sample) -> usize {
        let limit = self.limit();
        let log = log10(self.estimate as usize) as f64;
        let alpha = self.alpha.map_or(3.0 * log, |alpha| alpha as f64);
        let beta = self.beta.map_or(6.0 * log, |beta| beta as f64);
        let queue = (self.estimate * (1.0 - self.rtt_noload / latency)).ceil();
        // Admitted under a higher limit that was already cut: already acted upon.
        let stale = sample.in_flight > limit;
        // Admitted under a lower limit: says nothing about whether this one is enough.
        let behind = sample.in_flight < limit;
        let target = if sample.dropped {
            if stale {
                return limit;
            }
            self.estimate - log
        } else if (sample.in_flight as f64) * 2.0 < self.estimate {
            // Netflix: the load does not use the limit; do not drift.
            return limit;
        } else if queue <= log {
            if behind {
                return limit;
            }
            self.estimate + beta
        } else if queue < alpha {
            if behind {
                return limit;
            }
            self.estimate + log
        } else if queue > beta {
            if stale {
                return limit;
            }
            self.estimate - log
        } else {
            return limit;
        };
        let target = self.bounds.clamp(target);
        self.estimate = self.estimate * (1.0 - self.smoothing) + target * self.smoothing;
        self.limit()
    }
}

impl Default for Vegas {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Vegas {
    fn initial_limit(&self) -> usize {
        self.bounds.initial()
    }

    fn update(&mut self, sample: &Sample) -> usize {
        let latency = sample.latency.as_secs_f64();
        if latency <= 0.0 {
            // No timing information (Netflix rejects such samples).
            return self.limit();
        }
        match self
            .probe
            .step(sample, latency, self.estimate, self.bounds.min())
        {
            Step::Probing(limit) => return limit,
            Step::Measured(noload) => {
                self.rtt_noload = noload;
                return self.limit();
            }
            Step::Idle => {}
        }
        if self.rtt_noload == 0.0 || latency < self.rtt_noload {
            self.rtt_noload = latency;
            return self.limit();
        }
        self.update_estimate(latency, sample)
    }
}

/// Between `alpha` and `beta` the limit holds: `alpha > beta` would grow it on any queue.
fn assert_alpha_beta(alpha: Option<usize>, beta: Option<usize>) {
    if let (Some(alpha), Some(beta)) = (alpha, beta) {
        assert!(
            alpha <= beta,
            "floodgate: Vegas alpha ({alpha}) must not be above beta ({beta})"
        );
    }
}

/// Netflix's `Log10RootIntFunction`: `max(1, floor(log10(n)))`.
fn log10(n: usize) -> usize {
    (n.max(1).ilog10() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(ms: u64, in_flight: usize) -> Sample {
        Sample::new(Duration::from_millis(ms), in_flight, false)
    }

    /// Vegas that will not probe within these tests unless they ask for it.
    fn vegas() -> Vegas {
        Vegas::new().probe_multiplier(1_000).seed(1)
    }

    #[test]
    fn defaults_follow_netflix() {
        let vegas = Vegas::new();
        assert_eq!(LimitAlgorithm::initial_limit(&vegas), 20);
        assert_eq!(vegas.bounds, Bounds::new(20, 1, 1000));
        assert_eq!(vegas.smoothing, 1.0);
    }

    #[test]
    fn log10_is_at_least_one() {
        let cases = [
            (0, 1),
            (1, 1),
            (9, 1),
            (10, 1),
            (99, 1),
            (100, 2),
            (999, 2),
            (1000, 3),
        ];
        for (n, log) in cases {
            assert_eq!(log10(n), log, "log10({n})");
        }
    }

    #[test]
    fn first_sample_and_faster_ones_set_the_no_load_latency() {
        let mut vegas = vegas();
        assert_eq!(vegas.update(&sample(50, 20)), 20);
        assert_eq!(vegas.rtt_noload, 0.050);
        assert_eq!(vegas.update(&sample(40, 20)), 20);
        assert_eq!(vegas.rtt_noload, 0.040);
    }

    #[test]
    fn grows_by_beta_without_queue_by_log_below_alpha_and_holds_between() {
        let mut vegas = vegas();
        vegas.update(&sample(100, 20));
        // queue = ceil(20 × (1 − 100/105)) = 1 ≤ log: + beta (6).
        assert_eq!(vegas.update(&sample(105, 20)), 26);
        // queue = ceil(26 × (1 − 100/110)) = 3 = alpha: within [alpha, beta], hold.
        assert_eq!(vegas.update(&sample(110, 26)), 26);
        // queue = ceil(26 × (1 − 100/108)) = 2 < alpha: + log (1).
        assert_eq!(vegas.update(&sample(108, 26)), 27);
        // queue = ceil(27 × (1 − 100/150)) = 9 > beta: − log.
        assert_eq!(vegas.update(&sample(150, 27)), 26);
    }

    #[test]
    fn drops_shrink_by_log() {
        let mut vegas = vegas().initial_limit(200);
        vegas.update(&sample(100, 200));
        assert_eq!(
            vegas.update(&Sample::new(Duration::from_millis(100), 200, true)),
            198
        );
    }

    #[test]
    fn light_load_does_not_move_the_limit() {
        let mut vegas = vegas();
        vegas.update(&sample(100, 20));
        assert_eq!(vegas.update(&sample(100, 9)), 20);
        assert_eq!(vegas.update(&sample(300, 9)), 20);
    }

    #[test]
    fn a_sample_speaks_for_the_limit_it_was_admitted_under() {
        let mut vegas = vegas();
        vegas.update(&sample(100, 20));
        // Admitted when the limit was 15: no queue then says nothing about 20.
        assert_eq!(vegas.update(&sample(100, 15)), 20);
        assert_eq!(vegas.update(&sample(100, 20)), 26);
        // Queue, from one admitted at 26: shrink once...
        assert_eq!(vegas.update(&sample(200, 26)), 25);
        // ...not again for those admitted before the cut.
        assert_eq!(vegas.update(&sample(200, 26)), 25);
        assert_eq!(
            vegas.update(&Sample::new(Duration::from_millis(200), 26, true)),
            25
        );
        assert_eq!(vegas.update(&sample(200, 25)), 24);
    }

    #[test]
    fn smoothing_applies_part_of_the_change() {
        let mut vegas = vegas().smoothing(0.5);
        vegas.update(&sample(100, 20));
        // + beta (6), half of it applied.
        assert_eq!(vegas.update(&sample(100, 20)), 23);
    }

    #[test]
    fn alpha_and_beta_can_be_set() {
        let mut vegas = vegas().alpha(2).beta(2);
        vegas.update(&sample(100, 20));
        assert_eq!(vegas.update(&sample(100, 20)), 22);
        // queue = ceil(22 × (1 − 100/110)) = 2: hold.
        assert_eq!(vegas.update(&sample(110, 22)), 22);
        // queue = 3 > beta: shrink.
        assert_eq!(vegas.update(&sample(115, 22)), 21);
    }

    #[test]
    #[should_panic(expected = "Vegas alpha (3) must not be above beta (2)")]
    fn alpha_above_beta_panics() {
        let _ = Vegas::new().beta(2).alpha(3);
    }

    #[test]
    fn clamps_to_min_and_max() {
        let mut vegas = vegas().min_limit(18).max_limit(22);
        vegas.update(&sample(100, 20));
        assert_eq!(vegas.update(&sample(100, 20)), 22);
        for _ in 0..10 {
            let limit = vegas.limit();
            vegas.update(&sample(500, limit));
        }
        assert_eq!(vegas.limit(), 18);
    }

    #[test]
    fn zero_latency_is_ignored() {
        let mut vegas = vegas();
        assert_eq!(vegas.update(&sample(0, 20)), 20);
        assert_eq!(vegas.rtt_noload, 0.0);
    }

    /// A backend with `capacity` slots and service time `service` behind a saturated gate:
    /// every request is admitted at the current limit and waits for the ones ahead of it.
    fn saturated(limit: usize, capacity: usize, service_ms: u64) -> Sample {
        let queued = limit.saturating_sub(capacity) as u64;
        let latency = service_ms + queued * service_ms / capacity as u64;
        sample(latency, limit)
    }

    /// Netflix's probe, for comparison: the next sample is the new no-load latency.
    fn netflix_probe(vegas: &mut Vegas, every: usize, n: usize, sample: &Sample) -> Option<usize> {
        (n % every == every - 1).then(|| {
            vegas.rtt_noload = sample.latency.as_secs_f64();
            vegas.limit()
        })
    }

    /// Runs `Vegas` in front of a saturated backend of 16 slots; `probe` may take a sample
    /// over, as Netflix's probe does. Returns the highest limit after the first 2,000 samples.
    fn ratchet(
        mut vegas: Vegas,
        probe: impl Fn(&mut Vegas, usize, &Sample) -> Option<usize>,
    ) -> usize {
        let mut limit = LimitAlgorithm::initial_limit(&vegas);
        let mut highest = 0;
        for n in 0..20_000 {
            let sample = saturated(limit, 16, 10);
            limit = probe(&mut vegas, n, &sample).unwrap_or_else(|| vegas.update(&sample));
            if n >= 2_000 {
                highest = highest.max(limit);
            }
        }
        highest
    }

    #[test]
    fn a_probe_under_load_does_not_ratchet_the_no_load_latency() {
        // Netflix's probe, every 480 samples (30 × 16 × 1): each probe reads the queue as no
        // load, the limit grows, the queue with it, and the next probe ratchets again.
        let netflix = ratchet(vegas().initial_limit(16), |vegas, n, sample| {
            netflix_probe(vegas, 480, n, sample)
        });
        assert!(netflix >= 200, "Netflix's probe: limit up to {netflix}");

        // Probing at half the limit measures the backend without the queue: the limit stays
        // within Vegas's queue (beta = 6) of the 16 slots.
        let fixed = ratchet(Vegas::new().initial_limit(16).seed(3), |_, _, _| None);
        assert!(
            fixed <= 16 + 6 + 1,
            "probing at half the limit: limit up to {fixed}"
        );
    }

    #[test]
    fn a_probe_follows_a_slower_backend() {
        // The service time doubles for good: the old no-load latency reads as a queue, and the
        // limit falls, until a probe at half the limit measures the new no-load latency.
        let mut vegas = Vegas::new().initial_limit(16).seed(5);
        let mut limit = LimitAlgorithm::initial_limit(&vegas);
        let mut service = 10;
        let mut lowest = usize::MAX;
        for n in 0..20_000 {
            if n == 5_000 {
                service = 20;
            }
            limit = vegas.update(&saturated(limit, 16, service));
            if n >= 15_000 {
                lowest = lowest.min(limit);
            }
        }
        assert!(lowest >= 8, "limit down to {lowest} long after the change");
        assert_eq!(vegas.rtt_noload, 0.020);
    }
}
