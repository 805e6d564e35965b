//! Probing the no-load latency: the fix for the baseline drift of Vegas and Gradient2.
//!
//! A no-load latency can only be measured without load. Netflix's `VegasLimit` probes by
//! taking the next sample as the new no-load latency, whatever the load; under sustained
//! overload that sample waited in the backend's queue, so the queue becomes the new "no load"
//! and the limit ratchets up. Gradient2's long-term average absorbs a standing queue the same way.
//!
//! So a probe here makes the light load it needs, as BBR's ProbeRTT and Envoy's adaptive
//! concurrency filter do: it halves the limit and measures only requests admitted under the
//! halved limit (`in_flight ≤ limit / 2`). The algorithms keep their own queue well under half
//! their limit, so at half the limit that queue has drained. When the load is light anyway, the
//! first sample qualifies at once and the limit is not lowered at all. A probe is due every
//! `multiplier × limit` samples times a random jitter in `[0.5, 1)`, Netflix's Vegas schedule,
//! so that gates behind one load balancer do not all probe at once.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::Sample;

/// Netflix's `VegasLimit` `probeMultiplier` default.
pub(super) const DEFAULT_MULTIPLIER: usize = 30;

/// What a probe measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// The latency of the first request admitted under the halved limit (Vegas: its no-load
    /// latency is a minimum, which later faster samples lower further).
    First,
    /// The mean latency of one round of requests under the halved limit, as many as the halved
    /// limit (Gradient2: its baseline is an average).
    Round,
}

/// What one sample means for the probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// No probe is running: update the limit as usual.
    Idle,
    /// A probe is running: hold the limit at this value and learn nothing from the sample.
    Probing(usize),
    /// A probe is over and measured this no-load latency, in seconds.
    Measured(f64),
}

/// The probe schedule, and the probe in progress.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    measure: Measure,
    multiplier: usize,
    rng: XorShift,
    jitter: f64,
    /// Samples since the last probe.
    count: usize,
    running: Option<Running>,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    /// The halved limit.
    limit: usize,
    /// Samples seen while probing: the probe gives up after a few rounds without a light one.
    seen: usize,
    light: usize,
    sum: f64,
}

impl Probe {
    pub(super) fn new(measure: Measure) -> Self {
        Self::seeded(measure, DEFAULT_MULTIPLIER, random_seed())
    }

    fn seeded(measure: Measure, multiplier: usize, seed: u64) -> Self {
        let mut rng = XorShift::new(seed);
        Self {
            measure,
            multiplier,
            jitter: rng.jitter(),
            rng,
            count: 0,
            running: None,
        }
    }

    /// # Panics
    ///
    /// If `multiplier` is zero.
    pub(super) fn with_multiplier(self, multiplier: usize) -> Self {
        assert!(
            multiplier >= 1,
            "floodgate: probe_multiplier must be at least 1, got 0"
        );
        Self { multiplier, ..self }
    }

    pub(super) fn with_seed(self, seed: u64) -> Self {
        Self::seeded(self.measure, self.multiplier, seed)
    }

    /// Feeds one sample that took `latency` seconds, with `limit` the current estimate and
    /// `min` the lowest limit allowed.
    pub(super) fn step(&mut self, sample: &Sample, latency: f64, limit: f64, min: usize) -> Step {
        let running = match &mut self.running {
            Some(running) => running,
            None => {
                self.count += 1;
                if (self.count as f64) < self.jitter * self.multiplier as f64 * limit {
                    return Step::Idle;
                }
                self.count = 0;
                self.jitter = self.rng.jitter();
                self.running.insert(Running {
                    limit: (limit as usize / 2).max(min),
                    seen: 0,
                    light: 0,
                    sum: 0.0,
                })
            }
        };
        running.seen += 1;
        if sample.in_flight <= running.limit {
            running.light += 1;
            running.sum += latency;
        }
        let wanted = match self.measure {
            Measure::First => 1,
            Measure::Round => running.limit,
        };
        if running.light >= wanted {
            let mean = running.sum / running.light as f64;
            self.running = None;
            return Step::Measured(mean);
        }
        // A gate that does not honour the halved limit never sends a light sample: give up
        // after a few rounds rather than hold the limit down for ever.
        if running.seen > 4 * (running.limit + 1) {
            self.running = None;
            return Step::Idle;
        }
        Step::Probing(running.limit)
    }
}

/// A seed that differs between processes and between calls: std's randomly keyed hasher.
fn random_seed() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// xorshift64*: a tiny deterministic generator for the probe jitter.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // xorshift never leaves zero.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0.5, 1)`, like Netflix's `ThreadLocalRandom.nextDouble(0.5, 1)`.
    fn jitter(&mut self) -> f64 {
        0.5 + 0.5 * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(in_flight: usize) -> Sample {
        Sample::new(Duration::from_millis(10), in_flight, false)
    }

    /// Steps until a probe starts; returns how many samples that took.
    fn until_probe(probe: &mut Probe, in_flight: usize, limit: f64) -> usize {
        for n in 1..10_000 {
            if probe.step(&sample(in_flight), 0.010, limit, 1) != Step::Idle {
                return n;
            }
        }
        panic!("no probe in 10,000 samples");
    }

    #[test]
    fn schedule_is_jittered_between_half_and_all_of_multiplier_times_limit() {
        let mut probe = Probe::new(Measure::First).with_seed(1);
        for _ in 0..50 {
            // Saturated: the probe halves 20 to 10 and waits for a light sample.
            let n = until_probe(&mut probe, 20, 20.0);
            assert!((300..=600).contains(&n), "probe after {n} samples");
            assert_eq!(
                probe.step(&sample(10), 0.010, 20.0, 1),
                Step::Measured(0.010)
            );
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let schedule = |seed| {
            let mut probe = Probe::new(Measure::First).with_seed(seed);
            (0..5)
                .map(|_| until_probe(&mut probe, 1, 20.0))
                .collect::<Vec<_>>()
        };
        assert_eq!(schedule(7), schedule(7));
        assert_ne!(schedule(7), schedule(8));
    }

    #[test]
    fn light_load_is_measured_at_once() {
        let mut probe = Probe::new(Measure::First).with_seed(3);
        let mut steps = Vec::new();
        for _ in 0..1_000 {
            let step = probe.step(&sample(3), 0.010, 20.0, 1);
            if step != Step::Idle {
                steps.push(step);
            }
        }
        assert!(!steps.is_empty());
        assert!(steps.iter().all(|step| *step == Step::Measured(0.010)));
    }

    #[test]
    fn round_averages_as_many_light_samples_as_the_halved_limit() {
        let mut probe = Probe::new(Measure::Round).with_seed(5);
        until_probe(&mut probe, 8, 8.0);
        // Admitted before the halving: ignored.
        assert_eq!(probe.step(&sample(8), 0.100, 8.0, 1), Step::Probing(4));
        assert_eq!(probe.step(&sample(4), 0.010, 8.0, 1), Step::Probing(4));
        assert_eq!(probe.step(&sample(3), 0.020, 8.0, 1), Step::Probing(4));
        assert_eq!(probe.step(&sample(4), 0.010, 8.0, 1), Step::Probing(4));
        assert_eq!(probe.step(&sample(4), 0.020, 8.0, 1), Step::Measured(0.015));
    }

    #[test]
    fn the_halved_limit_respects_the_minimum() {
        let mut probe = Probe::new(Measure::First).with_seed(9);
        let first = (0..10_000)
            .map(|_| probe.step(&sample(30), 0.010, 30.0, 20))
            .find(|step| *step != Step::Idle);
        assert_eq!(first, Some(Step::Probing(20)));
    }

    #[test]
    fn gives_up_when_no_light_sample_comes() {
        let mut probe = Probe::new(Measure::First).with_seed(11);
        until_probe(&mut probe, 20, 20.0);
        let probing = (0..100)
            .take_while(|_| probe.step(&sample(20), 0.010, 20.0, 1) == Step::Probing(10))
            .count();
        assert_eq!(probing, 4 * 11 - 1);
    }

    #[test]
    #[should_panic(expected = "probe_multiplier must be at least 1")]
    fn zero_multiplier_panics() {
        let _ = Probe::new(Measure::First).with_multiplier(0);
    }
}
