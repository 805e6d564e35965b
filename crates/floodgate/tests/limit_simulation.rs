//! Each limit algorithm in front of an overloaded backend, simulated in virtual time.
//!
//! The backend serves `C` requests at once, each for a service time `d` (± 2% of seeded noise);
//! more wait in a FIFO queue behind them, like a database pool. An open loop offers three times
//! what it can serve (Poisson arrivals at `3 × C / d`). The algorithm decides admission: a
//! request beyond its current limit is rejected at once; an admitted request's latency is its
//! wait in the backend's queue plus its service time, fed back as a [`Sample`] with the number
//! of requests in flight when it was admitted, itself included.
//!
//! Time is counted in windows of 100 samples. After 150 windows the backend loses half its
//! slots, and the run goes on for 150 more. Each algorithm must, for `C` of 4, 16 and 64:
//!
//! - once settled (the second half of each phase): serve at least 90% of `C / d`, with a mean
//!   latency of at most `2 d` (and, before the halving, a p99 of at most `2 d`);
//! - after the halving: within 10 windows, reach a state it keeps to the end of the run, every
//!   window with a mean latency of at most `2 d` and a mean limit between `0.75` and `2` times
//!   the new capacity (plus one request).
//!
//! [`Adaptive`] runs on no setting at all, and is also held to the zero-configuration targets:
//! at 4 × a backend of 8 slots, the same at `d` of 5, 50 and 500 ms, goodput of 95 %, p99 of
//! `1.3 d`, the limit within 25 % of 8; the capacity halved and doubled live; light load.
//!
//! AIMD sees latency only through its timeout, so it runs with `timeout = 1.5 d`. Vegas's
//! thresholds count requests, so it runs with `alpha = beta = 2` (Netflix's defaults keep up to
//! 6 requests queued: more than the whole of a backend of 4). Gradient2 runs on its defaults.
//!
//! `cargo test --test limit_simulation -- --nocapture` prints a table per algorithm.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use floodgate::limit::{Adaptive, Aimd, Fixed, Gradient2, LimitAlgorithm, Sample, Vegas};

/// The service time `d`, in nanoseconds of virtual time.
const D: u64 = 10_000_000;
/// Service times are uniform in `d × [1 − NOISE, 1 + NOISE]`.
const NOISE: f64 = 0.02;
/// Offered load, in multiples of what the backend can serve.
const OVERLOAD: f64 = 3.0;
/// Samples per window.
const WINDOW: usize = 100;
/// Windows per phase: at full capacity, then at half.
const PHASE: usize = 150;
/// Windows the limit may take to follow the halving.
const FOLLOW_WITHIN: usize = 10;
const CAPACITIES: [usize; 3] = [4, 16, 64];

#[test]
fn aimd() {
    check("aimd (timeout 1.5 d)", |_| {
        Aimd::new().timeout(Duration::from_nanos(D * 3 / 2))
    });
}

#[test]
fn gradient2() {
    check("gradient2", |seed| Gradient2::new().seed(seed));
}

#[test]
fn vegas() {
    check("vegas (alpha = beta = 2)", |seed| {
        Vegas::new().alpha(2).beta(2).seed(seed)
    });
}

#[test]
fn adaptive() {
    check("adaptive (no setting)", |seed| Adaptive::new().seed(seed));
}

/// The zero-configuration targets: a backend of 8 slots offered 4 times what it can serve, at
/// a service time of 5 ms, 50 ms and 500 ms (the algorithm must not assume a scale): once
/// settled, a goodput of at least 95 % of `C / d`, a latency p99 of at most `1.3 d`, the limit
/// within 25 % of 8. Printed with `--nocapture`.
#[test]
fn adaptive_settles_at_the_capacity_whatever_the_service_time() {
    let mut failures = Vec::new();
    for millis in [5, 50, 500] {
        let scenario = Scenario {
            service: millis * 1_000_000,
            overload: 4.0,
            capacity: 8,
            windows: 200,
            change: None,
        };
        let run = simulate_scenario(Adaptive::new().seed(millis), &scenario, millis);
        let settled = run.settled(100..200);
        println!("adaptive, C = 8, d = {millis} ms, 4x: {settled}");
        if settled.goodput < 0.95 || settled.p99 > 1.3 || !(6.0..=10.0).contains(&settled.limit) {
            failures.push(format!("d = {millis} ms: {settled}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Capacity halved live: from 40 service times after (2 s at 50 ms) on, a latency p99 of at
/// most `1.3 d`. Doubled: a window with a
/// goodput of 90 % of the new capacity within 100 service times (5 s at 50 ms), and 90 % once
/// settled.
#[test]
fn adaptive_follows_the_capacity_down_and_up() {
    let change = 100;
    let scenario = |slots| Scenario {
        service: D,
        overload: 4.0,
        capacity: 8,
        windows: 250,
        change: Some((change, slots)),
    };
    let halved = simulate_scenario(Adaptive::new().seed(1), &scenario(4), 1);
    // The p99 of everything from 40 service times after the halving on.
    let mut elapsed = 0;
    let settles = change
        + halved.windows[change..]
            .iter()
            .take_while(|window| {
                elapsed += window.elapsed;
                elapsed < 40 * D
            })
            .count()
        + 1;
    let down = halved.settled(settles..250);
    let doubled = simulate_scenario(Adaptive::new().seed(2), &scenario(16), 2);
    let goodput = |window: &Window| {
        window.latencies.len() as f64 * window.service as f64
            / window.elapsed as f64
            / window.capacity as f64
    };
    let after = &doubled.windows[change..];
    let first = after.iter().position(|window| goodput(window) >= 0.9);
    let up = first.map(|n| {
        let elapsed: u64 = after[..n].iter().map(|window| window.elapsed).sum();
        elapsed as f64 / D as f64
    });
    let (down_settled, up_settled) = (halved.settled(200..250), doubled.settled(200..250));
    println!(
        "adaptive, C = 8 halved: from 40 d on {down}; settled {down_settled}; doubled: 90 % \
         goodput after {up:?} d, then {up_settled}"
    );
    assert!(down.p99 <= 1.3, "halved: {down}");
    assert!(up.is_some_and(|d| d <= 100.0), "doubled: {up:?}");
    assert!(up_settled.goodput >= 0.9, "doubled: {up_settled}");
}

/// Light load (half of what the backend can serve): the limit neither drifts up without bound
/// nor collapses.
#[test]
fn adaptive_under_light_load_keeps_its_limit() {
    let scenario = Scenario {
        service: D,
        overload: 0.5,
        capacity: 8,
        windows: 400,
        change: None,
    };
    let run = simulate_scenario(Adaptive::new().seed(3), &scenario, 3);
    let early = run.settled(50..100);
    let late = run.settled(350..400);
    println!("adaptive, C = 8 at 0.5x: windows 50-100: {early}; 350-400: {late}");
    assert!((3.0..=24.0).contains(&late.limit), "{late}");
    assert!(
        late.limit <= early.limit * 1.5 + 1.0,
        "drifts up: {early} -> {late}"
    );
    assert!(late.goodput > 0.45 && late.p99 <= 1.3, "{late}");
}

/// The harness can fail: a fixed limit of four times the capacity queues three requests
/// behind every slot, and latency is four times the service time.
#[test]
fn a_fixed_limit_too_high_fails() {
    for capacity in CAPACITIES {
        let run = simulate(Fixed::new(4 * capacity), capacity, 1);
        let settled = run.settled(PHASE / 2..PHASE);
        println!("fixed {:3}, C = {capacity:2}: {settled}", 4 * capacity);
        assert!(settled.mean > 3.5, "C={capacity}: {settled}");
        assert!(settled.goodput > 0.95, "C={capacity}: {settled}");
    }
}

/// Runs `algorithm` for each capacity, prints a table, and asserts the bounds.
fn check<A: LimitAlgorithm>(name: &str, algorithm: impl Fn(u64) -> A) {
    let mut table = format!(
        "{name}\n  capacity C:   settled                     | halved to C/2: settled after\n     C | limit goodput mean/d  p99/d | follows within  limit goodput mean/d\n"
    );
    let mut failures = Vec::new();
    for capacity in CAPACITIES {
        let run = simulate(algorithm(capacity as u64), capacity, capacity as u64);
        let before = run.settled(PHASE / 2..PHASE);
        let after = run.settled(PHASE + PHASE / 2..2 * PHASE);
        let follows = run.follows();
        let _ = writeln!(
            table,
            "  {capacity:4} | {:5.1} {:6.0}% {:6.2} {:6.2} | {:>6} windows {:6.1} {:6.0}% {:6.2}",
            before.limit,
            before.goodput * 100.0,
            before.mean,
            before.p99,
            follows.map_or("never".to_owned(), |windows| windows.to_string()),
            after.limit,
            after.goodput * 100.0,
            after.mean,
        );
        let mut fail = |what: String| failures.push(format!("C={capacity}: {what}"));
        if before.goodput < 0.9 {
            fail(format!("goodput {:.2} of C/d", before.goodput));
        }
        if before.mean > 2.0 || before.p99 > 2.0 {
            fail(format!(
                "latency mean {:.2} d, p99 {:.2} d",
                before.mean, before.p99
            ));
        }
        if follows.is_none_or(|windows| windows > FOLLOW_WITHIN) {
            fail(format!("followed the halving after {follows:?} windows"));
        }
        if after.goodput < 0.9 || after.mean > 2.0 {
            fail(format!("after the halving: {after}"));
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{name}: {failures:#?}\n{table}");
}

/// What happened in one window of samples.
#[derive(Debug)]
struct Window {
    /// Latencies, in multiples of `d`.
    latencies: Vec<f64>,
    /// The sum of the limit after each sample.
    limits: usize,
    elapsed: u64,
    capacity: usize,
    service: u64,
}

impl Window {
    /// The mean limit over the window's samples.
    fn limit(&self) -> f64 {
        self.limits as f64 / self.latencies.len() as f64
    }

    fn mean(&self) -> f64 {
        self.latencies.iter().sum::<f64>() / self.latencies.len() as f64
    }
}

#[derive(Debug)]
struct Run {
    windows: Vec<Window>,
}

impl Run {
    fn settled(&self, windows: std::ops::Range<usize>) -> Settled {
        let windows = &self.windows[windows];
        let mut latencies: Vec<f64> = windows
            .iter()
            .flat_map(|window| window.latencies.iter().copied())
            .collect();
        latencies.sort_by(f64::total_cmp);
        let elapsed: u64 = windows.iter().map(|window| window.elapsed).sum();
        let capacity = windows[0].capacity as f64;
        let service = windows[0].service as f64;
        Settled {
            limit: windows.iter().map(Window::limit).sum::<f64>() / windows.len() as f64,
            goodput: latencies.len() as f64 * service / elapsed as f64 / capacity,
            mean: latencies.iter().sum::<f64>() / latencies.len() as f64,
            p99: latencies[latencies.len() * 99 / 100],
        }
    }

    /// Windows after the halving until every later window has its mean latency within `2 d`
    /// and its mean limit between `0.75` and `2` times the new capacity (plus one request: at a
    /// capacity of 2 a single step of the limit is half the capacity).
    fn follows(&self) -> Option<usize> {
        let after = &self.windows[PHASE..];
        let good = |window: &Window| {
            let capacity = window.capacity as f64;
            window.mean() <= 2.0
                && (0.75 * capacity..=2.0 * capacity + 1.0).contains(&window.limit())
        };
        (0..after.len()).find(|&start| after[start..].iter().all(good))
    }
}

#[derive(Debug, Clone, Copy)]
struct Settled {
    limit: f64,
    /// Completed requests, as a fraction of `C / d`.
    goodput: f64,
    /// Latency, in multiples of `d`.
    mean: f64,
    p99: f64,
}

impl std::fmt::Display for Settled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "limit {:.1}, goodput {:.0}%, latency mean {:.2} d, p99 {:.2} d",
            self.limit,
            self.goodput * 100.0,
            self.mean,
            self.p99
        )
    }
}

/// A request admitted by the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Request {
    admitted: u64,
    in_flight: usize,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Done(Request),
}

/// The gate, the backend and the load, in virtual time.
struct Simulation<A> {
    algorithm: A,
    /// The service time, in nanoseconds.
    service: u64,
    limit: usize,
    in_flight: usize,
    capacity: usize,
    busy: usize,
    queue: VecDeque<Request>,
    /// Pending events by time, then by the order they were scheduled in.
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    scheduled: u64,
    rng: XorShift,
    now: u64,
}

fn simulate<A: LimitAlgorithm>(algorithm: A, capacity: usize, seed: u64) -> Run {
    let scenario = Scenario {
        service: D,
        overload: OVERLOAD,
        capacity,
        windows: 2 * PHASE,
        // Half the slots go; requests in service finish first.
        change: Some((PHASE, capacity / 2)),
    };
    simulate_scenario(algorithm, &scenario, seed)
}

/// A simulated run: the backend, the load, and a change of capacity after some windows.
struct Scenario {
    service: u64,
    overload: f64,
    capacity: usize,
    windows: usize,
    /// After this many windows, the backend has this many slots.
    change: Option<(usize, usize)>,
}

fn simulate_scenario<A: LimitAlgorithm>(algorithm: A, scenario: &Scenario, seed: u64) -> Run {
    let capacity = scenario.capacity;
    let mut sim = Simulation {
        limit: algorithm.initial_limit(),
        service: scenario.service,
        algorithm,
        in_flight: 0,
        capacity,
        busy: 0,
        queue: VecDeque::new(),
        events: BinaryHeap::new(),
        scheduled: 0,
        rng: XorShift(0x5DEE_CE66_D1CE_4E5B ^ seed),
        now: 0,
    };
    sim.schedule(0, Event::Arrival);
    let mean_gap = scenario.service as f64 / (scenario.overload * capacity as f64);
    let mut windows = Vec::with_capacity(2 * PHASE);
    let mut window = Window {
        latencies: Vec::with_capacity(WINDOW),
        limits: 0,
        elapsed: 0,
        capacity,
        service: scenario.service,
    };
    let mut window_start = 0;
    while windows.len() < scenario.windows {
        let Reverse((now, _, event)) = sim.events.pop().expect("arrivals never stop");
        sim.now = now;
        match event {
            Event::Arrival => {
                let gap = -mean_gap * (1.0 - sim.rng.unit()).ln();
                sim.schedule(now + gap as u64 + 1, Event::Arrival);
                sim.arrive();
            }
            Event::Done(request) => {
                let latency = sim.finish(request);
                window
                    .latencies
                    .push(latency as f64 / scenario.service as f64);
                window.limits += sim.limit;
                if window.latencies.len() == WINDOW {
                    window.elapsed = now - window_start;
                    window_start = now;
                    windows.push(std::mem::replace(
                        &mut window,
                        Window {
                            latencies: Vec::with_capacity(WINDOW),
                            limits: 0,
                            elapsed: 0,
                            capacity: sim.capacity,
                            service: scenario.service,
                        },
                    ));
                    if let Some((at, slots)) = scenario.change
                        && windows.len() == at
                    {
                        // Requests in service finish first.
                        sim.capacity = slots;
                        window.capacity = sim.capacity;
                    }
                }
            }
        }
    }
    Run { windows }
}

impl<A: LimitAlgorithm> Simulation<A> {
    fn schedule(&mut self, at: u64, event: Event) {
        self.scheduled += 1;
        self.events.push(Reverse((at, self.scheduled, event)));
    }

    /// A request arrives: admitted under the limit, rejected at once beyond it.
    fn arrive(&mut self) {
        if self.in_flight >= self.limit {
            return;
        }
        self.in_flight += 1;
        let request = Request {
            admitted: self.now,
            in_flight: self.in_flight,
        };
        if self.busy < self.capacity {
            self.serve(request);
        } else {
            self.queue.push_back(request);
        }
    }

    fn serve(&mut self, request: Request) {
        self.busy += 1;
        let noise = 1.0 - NOISE + 2.0 * NOISE * self.rng.unit();
        let service = (self.service as f64 * noise) as u64;
        self.schedule(self.now + service, Event::Done(request));
    }

    /// A request is done: the algorithm learns from it, and the next queued one is served.
    /// Returns its latency.
    fn finish(&mut self, request: Request) -> u64 {
        self.busy -= 1;
        self.in_flight -= 1;
        let latency = self.now - request.admitted;
        let sample = Sample::new(Duration::from_nanos(latency), request.in_flight, false);
        self.limit = self.algorithm.update(&sample);
        while self.busy < self.capacity {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.serve(next);
        }
        latency
    }
}

/// xorshift64*, seeded: the same run every time.
struct XorShift(u64);

impl XorShift {
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Mixed routes through one gate, as a user who puts one gate on a whole `Router` would do:
/// half the requests are fast (`d / 100`, no backend slot), half slow (a backend of 8 slots,
/// `d` each), offered at twice what the slow route can serve. With one `Adaptive` gate for
/// both, the no-load latency is a meaningless mix of the two; with a gate per route (one
/// `route_layer` each), each learns its own.
///
/// Measured (printed with `--nocapture`): the slow route's goodput against its capacity, the
/// fast route's against what it was offered. The bound checked is the per-route setup's: slow
/// goodput of at least 90 %, fast requests all served. The single gate is printed beside it.
#[test]
fn adaptive_with_mixed_routes_needs_a_gate_per_route() {
    let shared = simulate_mixed(true);
    let per_route = simulate_mixed(false);
    println!("adaptive, mixed routes, one gate: {shared}");
    println!("adaptive, mixed routes, a gate per route: {per_route}");
    assert!(per_route.slow_goodput >= 0.9, "{per_route}");
    assert!(per_route.fast_served >= 0.99, "{per_route}");
}

#[derive(Debug)]
struct Mixed {
    /// Slow completions, as a fraction of the backend's capacity.
    slow_goodput: f64,
    /// Fast completions, as a fraction of the fast requests offered.
    fast_served: f64,
    /// The slow requests' latency p99, in `d`.
    slow_p99: f64,
    /// The mean limit of the gate the slow requests go through.
    slow_limit: f64,
}

impl std::fmt::Display for Mixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slow goodput {:.0}% of capacity (p99 {:.2} d, limit {:.1}), fast served {:.0}%",
            self.slow_goodput * 100.0,
            self.slow_p99,
            self.slow_limit,
            self.fast_served * 100.0
        )
    }
}

/// An event of the mixed-routes simulation: (time, sequence, kind, admitted at, in flight at
/// admission); kind 0 = arrival, 1 = fast request done, 2 = slow request done.
type MixedEvent = (u64, u64, u8, u64, usize);

/// Runs the mixed-routes case for 4,000 slow service times and measures the second half.
fn simulate_mixed(one_gate: bool) -> Mixed {
    const CAPACITY: usize = 8;
    const FAST: u64 = D / 100;
    let end = 4_000 * D;
    let measure_from = end / 2;
    // Gate 0 takes every request with one gate; otherwise gate 0 is the slow route's.
    let mut gates = [Adaptive::new().seed(11), Adaptive::new().seed(12)];
    let mut limits = [gates[0].initial_limit(), gates[1].initial_limit()];
    let mut in_flight = [0usize; 2];
    let gate_of = |slow: bool| usize::from(!one_gate && !slow);
    let mut events: BinaryHeap<Reverse<MixedEvent>> = BinaryHeap::new();
    let mut sequence = 0;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // Both routes offered at twice the slow route's capacity, in all four times.
    let mean_gap = D as f64 / (4.0 * CAPACITY as f64);
    events.push(Reverse((0, 0, 0, 0, 0)));
    let (mut busy, mut queue) = (0usize, VecDeque::new());
    let (mut slow_done, mut fast_done, mut fast_offered) = (0u64, 0u64, 0u64);
    let mut slow_latencies = Vec::new();
    let (mut limit_sum, mut limit_samples) = (0usize, 0usize);
    let mut arrivals = 0u64;
    while let Some(Reverse((now, _, kind, admitted, at_admission))) = events.pop() {
        if now >= end {
            break;
        }
        let measuring = now >= measure_from;
        match kind {
            0 => {
                arrivals += 1;
                let gap = -mean_gap * (1.0 - rng.unit()).ln();
                sequence += 1;
                events.push(Reverse((now + gap as u64 + 1, sequence, 0, 0, 0)));
                let slow = arrivals % 2 == 0;
                if !slow && measuring {
                    fast_offered += 1;
                }
                let gate = gate_of(slow);
                if in_flight[gate] >= limits[gate] {
                    continue;
                }
                in_flight[gate] += 1;
                let position = in_flight[gate];
                sequence += 1;
                if !slow {
                    events.push(Reverse((now + FAST, sequence, 1, now, position)));
                } else if busy < CAPACITY {
                    busy += 1;
                    events.push(Reverse((now + D, sequence, 2, now, position)));
                } else {
                    queue.push_back((now, position));
                }
            }
            _ => {
                let slow = kind == 2;
                let gate = gate_of(slow);
                in_flight[gate] -= 1;
                let latency = now - admitted;
                let sample = Sample::new(Duration::from_nanos(latency), at_admission, false);
                limits[gate] = gates[gate].update(&sample);
                if slow {
                    busy -= 1;
                    if let Some((queued_at, position)) = queue.pop_front() {
                        busy += 1;
                        sequence += 1;
                        events.push(Reverse((now + D, sequence, 2, queued_at, position)));
                    }
                }
                if measuring {
                    if slow {
                        slow_done += 1;
                        slow_latencies.push(latency as f64 / D as f64);
                        limit_sum += limits[0];
                        limit_samples += 1;
                    } else {
                        fast_done += 1;
                    }
                }
            }
        }
    }
    slow_latencies.sort_by(f64::total_cmp);
    let elapsed = (end - measure_from) as f64;
    Mixed {
        slow_goodput: slow_done as f64 * D as f64 / elapsed / CAPACITY as f64,
        fast_served: fast_done as f64 / fast_offered.max(1) as f64,
        slow_p99: slow_latencies
            .get(slow_latencies.len() * 99 / 100)
            .copied()
            .unwrap_or(f64::NAN),
        slow_limit: limit_sum as f64 / limit_samples.max(1) as f64,
    }
}
