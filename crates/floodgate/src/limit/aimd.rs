//! Additive increase, multiplicative decrease: the loss-based algorithm.

use std::time::Duration;

use super::bounds::Bounds;
use super::{LimitAlgorithm, Sample};

/// Loss-based limit: one more after a success at the limit, times
/// [`backoff_ratio`](Aimd::backoff_ratio) after a drop or a request slower than
/// [`timeout`](Aimd::timeout).
///
/// The update rule of Netflix concurrency-limits' `AIMDLimit`
/// (`concurrency-limits-core/.../limit/AIMDLimit.java`), with `L` the limit:
///
/// - dropped, or `latency > timeout`: `floor(L × backoff_ratio)`;
/// - else, if the limit is in use: `L + 1`;
/// - else: unchanged;
///
/// clamped to `[min_limit, max_limit]`.
///
/// Defaults, from `AIMDLimit.Builder`: initial limit 20, maximum 200, backoff ratio 0.9,
/// timeout 5 s. The minimum is 1 (Netflix: 20), so that the limit can go below 20 in front of a
/// small backend such as a database pool of 8.
///
/// # A sample speaks for the limit it was admitted under
///
/// The gate feeds AIMD one sample per response, and a response reports on the limit of one round
/// trip ago. Netflix grows the limit on every response while it is at least half in use
/// (`in_flight × 2 ≥ L`), which doubles it every round trip, and backs off on every slow
/// response, including the whole round trip of responses admitted before the first backoff.
/// In the simulation (a saturated backend, `timeout` 1.5 × its latency) the limit swung from
/// three times the capacity down to 1 and back: 57–74% goodput, p99 2.6–3.8 × the latency.
/// So, as in TCP's congestion avoidance:
///
/// - the limit grows only on a success admitted at the current limit (`in_flight ≥ L`): one
///   more per round trip while the limit is used up;
/// - it backs off only on a sample not admitted under a higher limit that was already cut
///   (`in_flight ≤ L`): one backoff per round trip of bad news.
///
/// AIMD sees latency only through `timeout`: set it to what "too slow" means for the service
/// behind the gate, such as 1.5 to 2 times its usual latency. With the default of 5 s only drops
/// and very slow requests make it back off.
///
/// ```
/// use std::time::Duration;
/// use floodgate::limit::{Aimd, LimitAlgorithm, Sample};
///
/// let mut aimd = Aimd::new()
///     .initial_limit(10)
///     .max_limit(64)
///     .timeout(Duration::from_millis(300));
/// assert_eq!(LimitAlgorithm::initial_limit(&aimd), 10);
/// let ms = Duration::from_millis;
///
/// // A fast request admitted at the limit: one more.
/// assert_eq!(aimd.update(&Sample::new(ms(50), 10, false)), 11);
/// // A request slower than the timeout: back off to floor(11 × 0.9).
/// assert_eq!(aimd.update(&Sample::new(ms(400), 11, false)), 9);
/// // Another slow one, admitted before that backoff: already acted upon.
/// assert_eq!(aimd.update(&Sample::new(ms(400), 11, false)), 9);
/// // A dropped request (a 5xx) admitted under the new limit: back off again.
/// assert_eq!(aimd.update(&Sample::new(ms(20), 9, true)), 8);
/// ```
#[derive(Debug, Clone)]
pub struct Aimd {
    bounds: Bounds,
    backoff_ratio: f64,
    timeout: Duration,
    limit: usize,
}

impl Aimd {
    /// AIMD with Netflix's defaults (see [`Aimd`]).
    pub fn new() -> Self {
        let bounds = Bounds::new(20, 1, 200);
        Self {
            bounds,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
            limit: bounds.initial(),
        }
    }

    /// The limit to start with (default 20), moved into `[min_limit, max_limit]`.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_initial(limit);
        self.limit = self.bounds.initial();
        self
    }

    /// The lowest the limit goes (default 1).
    ///
    /// # Panics
    ///
    /// If `limit` is zero or above the maximum.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_min(limit);
        self.limit = self.bounds.initial();
        self
    }

    /// The highest the limit goes (default 200).
    ///
    /// # Panics
    ///
    /// If `limit` is below the minimum.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_max(limit);
        self.limit = self.bounds.initial();
        self
    }

    /// What the limit is multiplied by on a drop or a timeout (default 0.9).
    ///
    /// # Panics
    ///
    /// Unless `ratio` is in `[0.5, 1)`, Netflix's range: below 0.5 one slow request would
    /// throw away more than half the limit, and 1 would never back off.
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        assert!(
            (0.5..1.0).contains(&ratio),
            "floodgate: backoff_ratio must be in [0.5, 1), got {ratio}"
        );
        self.backoff_ratio = ratio;
        self
    }

    /// A request slower than this counts as a drop (default 5 s).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "floodgate: the AIMD timeout must be above zero"
        );
        self.timeout = timeout;
        self
    }
}

impl Default for Aimd {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Aimd {
    fn initial_limit(&self) -> usize {
        self.bounds.initial()
    }

    fn update(&mut self, sample: &Sample) -> usize {
        let limit = if sample.dropped || sample.latency > self.timeout {
            if sample.in_flight > self.limit {
                // Admitted under a higher limit that was already cut.
                self.limit
            } else {
                (self.limit as f64 * self.backoff_ratio) as usize
            }
        } else if sample.in_flight >= self.limit {
            self.limit + 1
        } else {
            self.limit
        };
        self.limit = self.bounds.fit(limit);
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, in_flight: usize, dropped: bool) -> Sample {
        Sample::new(Duration::from_millis(ms), in_flight, dropped)
    }

    #[test]
    fn defaults_follow_netflix() {
        let aimd = Aimd::default();
        assert_eq!(LimitAlgorithm::initial_limit(&aimd), 20);
        assert_eq!(aimd.bounds, Bounds::new(20, 1, 200));
        assert_eq!(aimd.backoff_ratio, 0.9);
        assert_eq!(aimd.timeout, Duration::from_secs(5));
    }

    #[test]
    fn grows_by_one_on_a_success_at_the_limit() {
        let mut aimd = Aimd::new();
        assert_eq!(aimd.update(&sample(10, 20, false)), 21);
        assert_eq!(aimd.update(&sample(10, 21, false)), 22);
    }

    #[test]
    fn grows_once_per_round_trip() {
        let mut aimd = Aimd::new();
        // A round trip of responses, all admitted at the old limit of 20.
        let limits: Vec<_> = (0..20)
            .map(|_| aimd.update(&sample(10, 20, false)))
            .collect();
        assert_eq!(limits, [vec![21], vec![21; 19]].concat());
    }

    #[test]
    fn does_not_grow_below_the_limit() {
        let mut aimd = Aimd::new();
        assert_eq!(aimd.update(&sample(10, 19, false)), 20);
        assert_eq!(aimd.update(&sample(10, 1, false)), 20);
    }

    #[test]
    fn backs_off_on_drops_and_timeouts() {
        let mut aimd = Aimd::new().timeout(Duration::from_millis(100));
        assert_eq!(aimd.update(&sample(10, 20, true)), 18);
        assert_eq!(aimd.update(&sample(101, 18, false)), 16);
        // Exactly the timeout is not too slow.
        assert_eq!(aimd.update(&sample(100, 16, false)), 17);
    }

    #[test]
    fn backs_off_once_per_round_trip() {
        let mut aimd = Aimd::new().timeout(Duration::from_millis(100));
        // A round trip of slow responses admitted at 20: one backoff, not twenty.
        let limits: Vec<_> = (0..20)
            .map(|_| aimd.update(&sample(500, 20, false)))
            .collect();
        assert_eq!(limits, vec![18; 20]);
        // The next bad news, from a request admitted under the new limit.
        assert_eq!(aimd.update(&sample(500, 18, false)), 16);
        // Bad news admitted below the limit counts too.
        assert_eq!(aimd.update(&sample(10, 3, true)), 14);
    }

    #[test]
    fn clamps_to_min_and_max() {
        let mut aimd = Aimd::new().initial_limit(5).min_limit(4).max_limit(6);
        assert_eq!(aimd.update(&sample(10, 5, false)), 6);
        assert_eq!(aimd.update(&sample(10, 6, false)), 6);
        for _ in 0..5 {
            aimd.update(&sample(10, 4, true));
        }
        assert_eq!(aimd.limit, 4);
        assert_eq!(aimd.update(&sample(10, 1, true)), 4);
    }

    #[test]
    fn the_backoff_ratio_is_configurable() {
        let mut aimd = Aimd::new().initial_limit(100).backoff_ratio(0.5);
        assert_eq!(aimd.update(&sample(10, 100, true)), 50);
    }

    #[test]
    fn initial_limit_is_moved_into_the_range() {
        let aimd = Aimd::new().max_limit(8);
        assert_eq!(LimitAlgorithm::initial_limit(&aimd), 8);
        let aimd = Aimd::new().initial_limit(2).min_limit(4);
        assert_eq!(LimitAlgorithm::initial_limit(&aimd), 4);
    }

    #[test]
    #[should_panic(expected = "backoff_ratio must be in [0.5, 1), got 1")]
    fn backoff_ratio_of_one_panics() {
        let _ = Aimd::new().backoff_ratio(1.0);
    }

    #[test]
    #[should_panic(expected = "backoff_ratio must be in [0.5, 1), got 0.4")]
    fn backoff_ratio_below_half_panics() {
        let _ = Aimd::new().backoff_ratio(0.4);
    }

    #[test]
    #[should_panic(expected = "the AIMD timeout must be above zero")]
    fn zero_timeout_panics() {
        let _ = Aimd::new().timeout(Duration::ZERO);
    }
}
