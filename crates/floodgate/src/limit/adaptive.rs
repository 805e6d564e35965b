//! [`Adaptive`]: the zero-configuration limit, a latency gradient against a measured no-load
//! latency, after Envoy's adaptive concurrency filter.

use super::bounds::Bounds;
use super::{LimitAlgorithm, Sample};

/// Samples of a no-load measurement.
const MEASURE_SAMPLES: usize = 10;
/// The fewest samples in a window.
const MIN_WINDOW: usize = 10;
/// Windows the limit holds after a queue, at first and at most.
const MIN_HOLD: usize = 16;
const MAX_HOLD: usize = 64;
/// Growth per window until the first queue.
const SLOW_START_GROWTH: f64 = 1.5;

/// The zero-configuration adaptive limit: it measures the latency of the backend with no queue,
/// then keeps the limit where no queue builds inside the backend. It needs no number: not the
/// capacity, not the latency, not a timeout. [`GateLayer::adaptive`] puts it on a gate.
///
/// ```
/// use std::time::Duration;
/// use floodgate::limit::{Adaptive, LimitAlgorithm, Sample};
///
/// let mut adaptive = Adaptive::new();
/// assert_eq!(adaptive.initial_limit(), 3, "it starts by measuring, at 3 in flight");
///
/// // A backend of 8 slots, 50 ms each: while at most 8 are in flight, no queue.
/// let mut limit = adaptive.initial_limit();
/// for _ in 0..2_000 {
///     let queued = limit.saturating_sub(8) as u32;
///     let latency = Duration::from_millis(50) * (8 + queued) / 8;
///     limit = adaptive.update(&Sample::new(latency, limit, false));
/// }
/// assert!((7..=9).contains(&limit), "{limit}");
/// ```
///
/// # How
///
/// Time is counted in round trips: a *window* is as many samples as the limit (at least 10),
/// one round trip of requests at full use, whatever the latency's scale.
///
/// 1. **No-load latency.** The limit drops to half of itself (at least 3), and 10 requests
///    admitted under it give the *no-load latency* (their median) and its spread (their 90th
///    percentile). Measured at the start, then every 250 windows (about 15 s at 50 ms per
///    request), with ±10 % jitter so that replicas do not measure in step; then the limit goes
///    back to what it was. (Half a limit that is at most twice the capacity sees no queue, and
///    the limit stays near the capacity; Envoy measures at a fixed 3, which costs more
///    throughput the larger the capacity.)
/// 2. **A queue** is a window whose 90th percentile latency is more than 10 % (the *allowance*)
///    above the no-load one: a tenth of the requests waited. The cut is sized by Little's law:
///    at the limit `L` with a mean latency `m`, the backend serves `L / m`, so about
///    `L × (1 - no-load / m)` requests were queued: the limit drops by that many, rounded (at
///    least one, at most half the limit). Then it holds for 16 windows before it tries higher,
///    twice as long each time the same level queues again (up to 64 windows): probing above the
///    capacity costs a queue, so it is done ever more rarely while the capacity stays where it
///    is. A "queue" at or below the limit the no-load latency was measured at cannot be one
///    (there was none then): the latency rose for another reason (a slower backend, a busy
///    machine), and the no-load latency is measured again instead.
/// 3. **Growth.** A window without a queue in which a request was admitted at the limit grows
///    the limit by 5 % (at the start, until the first queue, by half, as TCP's slow start).
///    Past the level of the last queue, the capacity has grown: the hold starts short again. A
///    window in which no request reached the limit says nothing about a higher one: under light
///    load the limit neither drifts up nor collapses.
///
/// Dropped requests (errors, timeouts) do not count in the latency: a fast error is not a fast
/// backend. The samples of requests admitted before the limit last changed are skipped: they
/// say nothing about the new limit.
///
/// In a simulated backend of 8 slots offered 4 × what it serves (`tests/limit_simulation.rs`):
/// limit 8.0, goodput 96 %, latency p99 1.07-1.11 × the service time, the same at 5, 50 and
/// 500 ms; halved live, a p99 of 1.14 × from 40 service times after on; doubled, 90 % of the
/// new capacity within 62 service times. On the demo (BENCHMARKS.md) at 50 ms: p99 1.2 × with
/// 0.93 of the capacity served, where the other algorithms queue to 2-3 ×.
///
/// # Compared to Envoy
///
/// Envoy's filter measures the no-load latency at 3 in flight every 60 s, in windows of 100 ms,
/// and moves the limit every window by `no-load × 1.25 / latency` plus `sqrt(limit)` of
/// headroom, so it settles above the capacity, with a queue. Here windows count round trips
/// (the same defaults work at 5 ms and at 500 ms), the cut comes from Little's law, and growth
/// is probed ever more rarely where a queue was found.
///
/// # Mind
///
/// - The measurement costs some throughput: 10 requests at half the limit every 250 windows.
/// - The no-load latency is one number for the whole gate. Routes of very different latency
///   behind one gate make it meaningless (`/fast` requests measure as no-load, and every
///   `/slow` request then looks queued): give each kind of route its own gate (`route_layer`).
/// - If the backend becomes slower for its own reasons (no queue, just slower), the limit
///   shrinks until the next measurement finds the new no-load latency, then grows back.
///
/// [`GateLayer::adaptive`]: crate::GateLayer::adaptive
#[derive(Debug, Clone)]
pub struct Adaptive {
    bounds: Bounds,
    allowance: f64,
    measure_every: usize,
    measuring_limit: usize,
    /// The limit, kept as a real number so that small steps add up.
    limit: f64,
    phase: Phase,
    no_load_latency: Option<f64>,
    /// The 90th percentile of the same measurement: how far latency spreads with no queue.
    no_load_tail: f64,
    /// The limit the no-load latency was measured at.
    measured_at: usize,
    /// Until the first sign of a queue, the limit grows by half per window (as TCP's slow start).
    slow_start: bool,
    /// The limit at which a queue was last seen.
    queued_at: f64,
    /// Windows to hold the limit after a queue, before trying higher again: doubles each time
    /// the same level queues again, up to `MAX_HOLD`.
    hold: usize,
    hold_left: usize,
    rng: u64,
}

/// What the end of a window leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The limit stays.
    Same,
    /// The limit changed: skip the samples admitted under the old one.
    Changed,
    /// Measure the no-load latency again.
    Measure,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Measuring the no-load latency at the measuring limit; `resume` is the limit to go back to.
    Measuring { latencies: Vec<f64>, resume: f64 },
    /// Moving the limit by the gradient, one window at a time.
    Running {
        window: Window,
        /// Windows until the next measurement.
        windows_left: usize,
    },
}

/// The samples of the window under way.
#[derive(Debug, Clone, Default)]
struct Window {
    latencies: Vec<f64>,
    /// Whether a sample of this window was admitted at the limit.
    at_limit: bool,
    /// Samples still to ignore: requests admitted before the limit last changed, which say
    /// nothing about the new one.
    skip: usize,
}

impl Window {
    /// Adds a sample; when the window has `size` samples, returns what it saw, and starts the
    /// next.
    fn record(&mut self, sample: &Sample, limit: usize, size: usize) -> Option<Seen> {
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        self.latencies.push(sample.latency.as_nanos() as f64);
        self.at_limit |= sample.in_flight >= limit;
        if self.latencies.len() < size {
            return None;
        }
        let seen = Seen {
            mean: self.latencies.iter().sum::<f64>() / self.latencies.len() as f64,
            tail: percentile(&mut self.latencies, 0.9),
            at_limit: self.at_limit,
        };
        self.latencies.clear();
        self.at_limit = false;
        Some(seen)
    }
}

/// What a window saw.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The mean latency, in nanoseconds.
    mean: f64,
    /// The 90th percentile latency.
    tail: f64,
    /// Whether a request was admitted at the limit.
    at_limit: bool,
}

impl Adaptive {
    /// The defaults: a 10 % allowance, a measurement every 250 windows, the limit between 1
    /// and 1000 (the gate's own limit is the ceiling too).
    pub fn new() -> Self {
        let bounds = Bounds::new(3, 1, 1000);
        let measuring_limit = 3;
        Self {
            bounds,
            allowance: 0.1,
            measure_every: 250,
            measuring_limit,
            limit: bounds.initial() as f64,
            phase: Phase::Measuring {
                latencies: Vec::with_capacity(MEASURE_SAMPLES),
                resume: measuring_limit as f64,
            },
            no_load_latency: None,
            no_load_tail: 0.0,
            measured_at: 0,
            slow_start: true,
            queued_at: f64::INFINITY,
            hold: MIN_HOLD,
            hold_left: 0,
            rng: 0x2545_F491_4F6C_DD1D,
        }
    }

    /// The lowest limit (default 1).
    ///
    /// # Panics
    ///
    /// If `limit` is 0 or above the highest limit.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_min(limit);
        self
    }

    /// The highest limit (default 1000).
    ///
    /// # Panics
    ///
    /// If `limit` is below the lowest limit.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.bounds = self.bounds.with_max(limit);
        self
    }

    /// How much above the no-load latency the 90th percentile may be before the limit shrinks,
    /// as a fraction (default 0.1: 10 %). Larger tolerates noisier latency, with a longer
    /// queue; growth per window is half of it.
    ///
    /// # Panics
    ///
    /// If `allowance` is not in `(0, 1]`.
    pub fn allowance(mut self, allowance: f64) -> Self {
        assert!(
            allowance > 0.0 && allowance <= 1.0,
            "floodgate: allowance must be in (0, 1], got {allowance}"
        );
        self.allowance = allowance;
        self
    }

    /// Windows between two measurements of the no-load latency (default 250).
    ///
    /// # Panics
    ///
    /// If `windows` is 0.
    pub fn measure_every(mut self, windows: usize) -> Self {
        assert!(
            windows >= 1,
            "floodgate: measure_every must be at least 1 window"
        );
        self.measure_every = windows;
        self
    }

    /// Seeds the jitter of the measurement schedule (for reproducible simulations).
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = seed | 1;
        self
    }

    /// The no-load latency measured last, in nanoseconds (`None` before the first).
    pub fn no_load_latency(&self) -> Option<f64> {
        self.no_load_latency
    }

    /// The limit while measuring: 3, or half the limit to go back to if that is more (no queue
    /// while the limit is at most twice the capacity, and a large limit measures fast).
    fn measuring_limit(&self, resume: f64) -> usize {
        let half = (resume / 2.0).floor() as usize;
        self.bounds.fit(self.measuring_limit.max(half))
    }

    fn current(&self) -> usize {
        match self.phase {
            Phase::Measuring { resume, .. } => self.measuring_limit(resume),
            Phase::Running { .. } => self.bounds.fit((self.limit + 1e-9).floor() as usize),
        }
    }

    /// The windows until the next measurement: `measure_every`, ±10 %.
    fn next_measurement(&mut self) -> usize {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let spread = (self.measure_every / 10).max(1);
        let offset = (x % (2 * spread as u64 + 1)) as usize;
        (self.measure_every + offset).saturating_sub(spread).max(1)
    }

    /// Samples per window: one round trip at the limit; at least 10 once settled (a window's
    /// 90th percentile needs a few samples), fewer in slow start (a queue shows plainly there,
    /// and a small limit would otherwise take several round trips per window).
    fn window_size(&self) -> usize {
        let minimum = if self.slow_start { 3 } else { MIN_WINDOW };
        (self.limit.ceil() as usize).max(minimum)
    }

    /// Moves the limit at the end of a window.
    fn end_window(&mut self, seen: Seen) -> Next {
        let no_load = self.no_load_latency.expect("measured before running");
        let allowed = self.no_load_tail * (1.0 + self.allowance);
        let before = self.limit;
        if seen.tail > allowed && before.floor() as usize <= self.measured_at {
            // At or below the limit the no-load latency was measured at, where there was no
            // queue: the latency rose for another reason (the backend got slower, the machine
            // is busy). Measure again rather than cut.
            return Next::Measure;
        }
        if seen.tail > allowed {
            // A queue. Little's law sizes it: at the limit L with a mean latency m, the backend
            // serves L / m requests per unit of time, of which L × no-load / m are in service,
            // the rest queued. Drop that many (at least one, at most half the limit); then hold
            // there a while, longer each time the same level queues again.
            let queued = (before * (1.0 - no_load / seen.mean)).round().max(1.0);
            let cut = (before.floor() - queued).max(before * 0.5);
            self.limit = self.bounds.clamp(cut);
            self.slow_start = false;
            let again = before <= self.queued_at * (1.0 + self.allowance);
            self.hold = if again {
                (self.hold * 2).min(MAX_HOLD)
            } else {
                MIN_HOLD
            };
            self.hold_left = self.hold;
            self.queued_at = before;
        } else if self.hold_left > 0 {
            self.hold_left -= 1;
        } else if seen.at_limit {
            let growth = if self.slow_start {
                SLOW_START_GROWTH
            } else {
                1.0 + self.allowance / 2.0
            };
            self.limit = self.bounds.clamp(self.limit * growth);
            if self.limit > self.queued_at * (1.0 + self.allowance) {
                // Past the last queue without one: the capacity grew; forget the old level.
                self.queued_at = f64::INFINITY;
                self.hold = MIN_HOLD;
            }
        }
        if self.limit == before {
            Next::Same
        } else {
            Next::Changed
        }
    }
}

impl Default for Adaptive {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Adaptive {
    fn initial_limit(&self) -> usize {
        self.current()
    }

    fn update(&mut self, sample: &Sample) -> usize {
        if sample.dropped {
            return self.current();
        }
        let latency = sample.latency.as_nanos() as f64;
        let window = self.window_size();
        let limit_now = self.current();
        match &mut self.phase {
            Phase::Measuring { latencies, resume } => {
                // Only requests admitted under the measuring limit saw no queue of ours.
                if sample.in_flight <= limit_now {
                    latencies.push(latency);
                }
                if latencies.len() >= MEASURE_SAMPLES {
                    self.no_load_latency = Some(median(latencies));
                    self.no_load_tail = percentile(latencies, 0.9);
                    self.measured_at = limit_now;
                    self.limit = self.bounds.clamp(*resume);
                    let windows_left = self.next_measurement();
                    self.phase = Phase::Running {
                        window: Window {
                            skip: limit_now,
                            ..Window::default()
                        },
                        windows_left,
                    };
                }
            }
            Phase::Running {
                window: samples,
                windows_left,
            } => {
                let Some(seen) = samples.record(sample, limit_now, window) else {
                    return limit_now;
                };
                *windows_left -= 1;
                let due = *windows_left == 0;
                let next = self.end_window(seen);
                if due || next == Next::Measure {
                    self.phase = Phase::Measuring {
                        latencies: Vec::with_capacity(MEASURE_SAMPLES),
                        resume: self.limit,
                    };
                } else if let (Next::Changed, Phase::Running { window, .. }) =
                    (next, &mut self.phase)
                {
                    // Requests in flight now were admitted under the old limit.
                    window.skip = limit_now;
                }
            }
        }
        self.current()
    }
}

/// The median of `values` (reordered).
fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

/// The `quantile` (0 to 1) of `values` (reordered), by the nearest rank.
fn percentile(values: &mut [f64], quantile: f64) -> f64 {
    let rank = ((values.len() as f64 * quantile).ceil() as usize).clamp(1, values.len());
    let (_, value, _) = values.select_nth_unstable_by(rank - 1, f64::total_cmp);
    *value
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A backend of `capacity` slots, `service` each, FIFO queue, fed at the limit.
    fn settle(
        algorithm: &mut Adaptive,
        capacity: usize,
        service: Duration,
        samples: usize,
    ) -> usize {
        let mut limit = algorithm.initial_limit();
        for _ in 0..samples {
            let queued = limit.saturating_sub(capacity) as u32;
            let latency = service * (capacity as u32 + queued) / capacity as u32;
            limit = algorithm.update(&Sample::new(latency, limit, false));
        }
        limit
    }

    #[test]
    fn starts_by_measuring_then_settles_near_the_capacity_whatever_the_scale() {
        for service in [
            Duration::from_millis(5),
            Duration::from_millis(50),
            Duration::from_millis(500),
        ] {
            for capacity in [4, 8, 64] {
                let mut adaptive = Adaptive::new();
                let limit = settle(&mut adaptive, capacity, service, 20_000);
                let no_load = adaptive.no_load_latency().unwrap();
                assert_eq!(no_load, service.as_nanos() as f64, "{service:?}");
                let high = (capacity as f64 * 1.25).ceil() as usize;
                assert!(
                    (capacity * 3 / 4..=high).contains(&limit),
                    "C={capacity}, {service:?}: limit {limit}"
                );
            }
        }
    }

    #[test]
    fn light_load_neither_grows_nor_shrinks_the_limit() {
        let mut adaptive = Adaptive::new();
        settle(&mut adaptive, 16, Duration::from_millis(10), 5_000);
        // Two requests in flight at a time, no queue: the window under way at the limit ends
        // first, then the limit stays where it is, for a long time.
        let light = Sample::new(Duration::from_millis(10), 2, false);
        let mut limits = Vec::new();
        for _ in 0..100_000 {
            limits.push(adaptive.update(&light));
        }
        let limit = limits[100];
        assert!((14..=22).contains(&limit), "{limit}");
        // Measurements come and go (at half the limit, at least 3); between them the
        // limit is where it was.
        let measuring = (limit / 2).max(3);
        assert!(
            limits[100..]
                .iter()
                .all(|&now| now == limit || now == measuring)
        );
        assert!(limits[100..].contains(&measuring));
    }

    #[test]
    fn a_queue_shrinks_the_limit_in_proportion() {
        let mut adaptive = Adaptive::new();
        let limit = settle(&mut adaptive, 32, Duration::from_millis(10), 5_000);
        // The backend loses half its slots: latency doubles at this limit.
        let after = settle(&mut adaptive, 16, Duration::from_millis(10), 2_000);
        assert!(limit >= 28, "{limit}");
        assert!((12..=20).contains(&after), "{after}");
    }

    #[test]
    fn dropped_requests_do_not_count_as_latency() {
        let mut adaptive = Adaptive::new();
        for _ in 0..100 {
            adaptive.update(&Sample::new(Duration::from_micros(10), 1, true));
        }
        assert_eq!(adaptive.no_load_latency(), None);
    }

    #[test]
    fn measurements_repeat_with_jitter() {
        let mut adaptive = Adaptive::new().seed(7);
        let gaps: Vec<usize> = (0..20).map(|_| adaptive.next_measurement()).collect();
        assert!(gaps.iter().all(|gap| (225..=275).contains(gap)), "{gaps:?}");
        assert!(gaps.iter().any(|&gap| gap != gaps[0]));
    }

    #[test]
    #[should_panic(expected = "allowance must be in (0, 1]")]
    fn a_zero_allowance_panics() {
        let _ = Adaptive::new().allowance(0.0);
    }
}
