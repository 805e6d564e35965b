//! Statistics of a run, apart from any I/O.
//!
//! Each runtime thread owns one [`Recorder`]; its load workers record into it without locks, and
//! the recorders are merged when the run ends. Latencies go into HDR histograms (microseconds,
//! three significant digits), so memory stays bounded whatever the run length; the only things that
//! grow are the per-second timeline for the charts (a few counters and a 1 KiB log histogram of
//! success latencies per second, see [`crate::log_histogram`]) and a completion count per 100 ms
//! to find stalls (144 KB an hour).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::{ErrorKind, Outcome};
use crate::log_histogram::LogHistogram;

/// Largest latency the histograms track exactly (one hour); longer ones are clamped to it.
const MAX_TRACKED_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by the histograms.
const SIGNIFICANT_DIGITS: u8 = 3;
/// The most work [`Latencies::corrected`] does: a few hundred milliseconds.
pub(crate) const MAX_CORRECTION_STEPS: u64 = 50_000_000;
/// The resolution of the throughput record that stalls are found in.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub(crate) struct Latencies(Histogram<u64>);

impl Latencies {
    pub(crate) fn new() -> Self {
        Self(
            Histogram::new_with_bounds(1, MAX_TRACKED_US, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
        )
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.saturating_record(us);
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        self.0.add(&other.0).expect("histograms share their bounds");
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// A copy corrected for coordinated omission, as HdrHistogram's
    /// `copyCorrectedForCoordinatedOmission` and wrk do: every latency `v` longer than
    /// `interval` also stands for the requests a steady client would have sent meanwhile,
    /// `v - interval`, `v - 2 * interval`... down to `interval`. `None` when that would take more
    /// than [`MAX_CORRECTION_STEPS`] records (a tiny interval against huge latencies).
    pub(crate) fn corrected(&self, interval: Duration) -> Option<Self> {
        let interval = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let steps: u64 = self
            .0
            .iter_recorded()
            .map(|v| v.value_iterated_to() / interval)
            .sum();
        (steps <= MAX_CORRECTION_STEPS).then(|| Self(self.0.clone_correct(interval)))
    }

    /// Min, mean, percentiles and max in milliseconds; all `None` without samples.
    pub(crate) fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| Some(round3(us as f64 / 1000.0));
        let at = |q: f64| ms(self.0.value_at_quantile(q));
        LatencySummary {
            min: ms(self.0.min()),
            mean: Some(round3(self.0.mean() / 1000.0)),
            p50: at(0.5),
            p90: at(0.9),
            p95: at(0.95),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(self.0.max()),
        }
    }
}

/// A latency distribution in milliseconds, as it appears in the report.
///
/// Every field is `None` (JSON `null`) when the class had no samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Smallest latency.
    pub min: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest latency.
    pub max: Option<f64>,
}

/// Counts of failed requests (no HTTP response) by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// No complete response within `--timeout`.
    pub timeout: u64,
    /// The TCP (or TLS) connection could not be set up.
    pub connect: u64,
    /// Anything else: connection reset, malformed response, body error.
    pub other: u64,
}

impl ErrorCounts {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.timeout + self.connect + self.other
    }

    fn add(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Other => self.other += 1,
        }
    }

    fn merge(&mut self, other: &Self) {
        self.timeout += other.timeout;
        self.connect += other.connect;
        self.other += other.other;
    }
}

/// What happened during one second of the run (by completion time), for charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Second {
    /// Seconds since the start of the run.
    pub t: u64,
    /// Requests that completed in this second (responses and errors).
    pub requests: u64,
    /// 2xx responses.
    pub success: u64,
    /// 503 and 429 responses.
    pub rejected: u64,
    /// Requests without a response.
    pub errors: u64,
    /// Mean latency of the responses, in milliseconds.
    pub mean_ms: f64,
    /// Largest latency of the responses, in milliseconds.
    pub max_ms: f64,
    /// Median latency of the 2xx responses, in milliseconds (within about 5%); `None` without any.
    pub success_p50_ms: Option<f64>,
    /// 95th percentile latency of the 2xx responses, in milliseconds (within about 5%).
    pub success_p95_ms: Option<f64>,
    /// 99th percentile latency of the 2xx responses, in milliseconds (within about 5%).
    pub success_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct SecondAcc {
    requests: u64,
    success: u64,
    rejected: u64,
    errors: u64,
    responses: u64,
    latency_sum_us: u64,
    latency_max_us: u64,
    success_latency: LogHistogram,
}

impl SecondAcc {
    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.success += other.success;
        self.rejected += other.rejected;
        self.errors += other.errors;
        self.responses += other.responses;
        self.latency_sum_us += other.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
        self.success_latency.merge(&other.success_latency);
    }
}

/// One request's result, as the runner hands it to the recorder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample<'a> {
    /// Time since the start of the run at which the request completed.
    pub(crate) at: Duration,
    /// Latency as reported: from the scheduled start in open loop, from the send otherwise.
    pub(crate) latency: Duration,
    /// Service time: from the actual send to the end of the response body.
    pub(crate) service: Duration,
    pub(crate) outcome: &'a Outcome,
}

/// Everything recorded by the workers of one thread; merged into one at the end of a run.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub(crate) latency: Latencies,
    pub(crate) service: Latencies,
    pub(crate) success: Latencies,
    pub(crate) rejected: Latencies,
    /// `(status code, count)`, a handful of entries in practice.
    statuses: Vec<(u16, u64)>,
    pub(crate) errors: ErrorCounts,
    /// Open loop: starts that began more than [`crate::runner::LATE_AFTER`] behind schedule.
    pub(crate) late_starts: u64,
    /// Open loop: largest lag of a start behind its schedule.
    pub(crate) max_start_lag: Duration,
    /// Starts skipped because they fell in a `Retry-After` back-off window.
    pub(crate) deferred: u64,
    /// Requests still in flight when the run's duration was over: cancelled, not in
    /// [`Recorder::requests`], their lower bounds in `latency` and `unfinished`.
    pub(crate) aborted: u64,
    /// Open loop: starts due before the end of the run that were never sent (every slot was
    /// busy until the end); their lower bounds are in `latency` and `unfinished`.
    pub(crate) missed: u64,
    /// Lower bounds of the latency of requests that never finished (missed starts and aborted
    /// requests): the end of the run minus their scheduled start.
    pub(crate) unfinished: Latencies,
    /// Requests started (open loop; counted by the scheduler).
    pub(crate) started: u64,
    timeline: Vec<SecondAcc>,
    /// Requests completed per [`TICK`] of the run, to find stalls.
    ticks: Vec<u32>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            latency: Latencies::new(),
            service: Latencies::new(),
            success: Latencies::new(),
            rejected: Latencies::new(),
            statuses: Vec::new(),
            errors: ErrorCounts::default(),
            late_starts: 0,
            max_start_lag: Duration::ZERO,
            deferred: 0,
            aborted: 0,
            missed: 0,
            unfinished: Latencies::new(),
            started: 0,
            timeline: Vec::new(),
            ticks: Vec::new(),
        }
    }

    /// Records one completed request (a response or an error).
    pub(crate) fn record(&mut self, sample: Sample<'_>) {
        let second = usize::try_from(sample.at.as_secs()).unwrap_or(usize::MAX);
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, SecondAcc::default());
        }
        let tick = usize::try_from(sample.at.as_millis() / TICK.as_millis()).unwrap_or(usize::MAX);
        if self.ticks.len() <= tick {
            self.ticks.resize(tick + 1, 0);
        }
        self.ticks[tick] += 1;
        let slot = &mut self.timeline[second];
        slot.requests += 1;
        match sample.outcome {
            Ok(response) => {
                self.latency.record(sample.latency);
                self.service.record(sample.service);
                let us = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
                slot.responses += 1;
                slot.latency_sum_us = slot.latency_sum_us.saturating_add(us);
                slot.latency_max_us = slot.latency_max_us.max(us);
                if response.is_success() {
                    self.success.record(sample.latency);
                    slot.success += 1;
                    slot.success_latency.record(us);
                } else if response.is_rejection() {
                    self.rejected.record(sample.latency);
                    slot.rejected += 1;
                }
                self.count_status(response.status);
            }
            Err(kind) => {
                self.errors.add(*kind);
                slot.errors += 1;
            }
        }
    }

    /// Records that a start ran `lag` behind its schedule.
    pub(crate) fn record_start(&mut self, lag: Duration, late: bool) {
        self.started += 1;
        if late {
            self.late_starts += 1;
        }
        self.max_start_lag = self.max_start_lag.max(lag);
    }

    /// Records a request cut off by the end of the run, `lower_bound` after its scheduled
    /// start: its latency is at least that.
    pub(crate) fn record_aborted(&mut self, lower_bound: Duration) {
        self.aborted += 1;
        self.latency.record(lower_bound);
        self.unfinished.record(lower_bound);
    }

    /// Records a start that was due `lag` before the end of the run and never sent: its latency
    /// is at least `lag`, and so is its lag behind the schedule.
    pub(crate) fn record_missed(&mut self, lag: Duration) {
        self.missed += 1;
        self.max_start_lag = self.max_start_lag.max(lag);
        self.latency.record(lag);
        self.unfinished.record(lag);
    }

    fn count_status(&mut self, status: u16) {
        match self.statuses.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += 1,
            None => self.statuses.push((status, 1)),
        }
    }

    /// Adds everything `other` recorded to `self`.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.latency.merge(&other.latency);
        self.service.merge(&other.service);
        self.success.merge(&other.success);
        self.rejected.merge(&other.rejected);
        for &(status, count) in &other.statuses {
            match self.statuses.iter_mut().find(|(code, _)| *code == status) {
                Some((_, total)) => *total += count,
                None => self.statuses.push((status, count)),
            }
        }
        self.errors.merge(&other.errors);
        self.late_starts += other.late_starts;
        self.max_start_lag = self.max_start_lag.max(other.max_start_lag);
        self.deferred += other.deferred;
        self.aborted += other.aborted;
        self.missed += other.missed;
        self.unfinished.merge(&other.unfinished);
        self.started += other.started;
        if self.timeline.len() < other.timeline.len() {
            self.timeline
                .resize(other.timeline.len(), SecondAcc::default());
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            mine.merge(theirs);
        }
        if self.ticks.len() < other.ticks.len() {
            self.ticks.resize(other.ticks.len(), 0);
        }
        for (mine, theirs) in self.ticks.iter_mut().zip(&other.ticks) {
            *mine += theirs;
        }
    }

    /// Status codes and their counts, sorted by code.
    pub(crate) fn statuses(&self) -> Vec<(u16, u64)> {
        let mut statuses = self.statuses.clone();
        statuses.sort_unstable();
        statuses
    }

    /// Responses plus errors: every request that finished.
    pub(crate) fn requests(&self) -> u64 {
        self.statuses.iter().map(|(_, n)| n).sum::<u64>() + self.errors.total()
    }

    /// The longest stall of a run that lasted `elapsed`: the longest stretch of [`TICK`]s in
    /// which fewer than a tenth of the median tick's requests completed (a last tick cut short
    /// by the end is left out). `None` when nothing stalled, or when the median tick has fewer
    /// than 5 completions, too few to tell a stall from the gaps between slow requests.
    pub(crate) fn longest_stall(&self, elapsed: Duration) -> Option<Stall> {
        let full = usize::try_from(elapsed.as_micros() / TICK.as_micros()).unwrap_or(usize::MAX);
        // Ticks after the last completion completed nothing.
        let ticks: Vec<u32> = (0..full)
            .map(|i| self.ticks.get(i).copied().unwrap_or(0))
            .collect();
        let mut sorted = ticks.clone();
        sorted.sort_unstable();
        let median = *sorted.get(sorted.len() / 2)?;
        if median < 5 {
            return None;
        }
        let mut longest: Option<(usize, usize)> = None;
        let mut run_start = None;
        for (i, &count) in ticks.iter().chain(std::iter::once(&u32::MAX)).enumerate() {
            match (count.saturating_mul(10) < median, run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(start)) => {
                    if longest.is_none_or(|(_, len)| i - start > len) {
                        longest = Some((start, i - start));
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        let (start, len) = longest?;
        let ticks = |n: usize| TICK * u32::try_from(n).unwrap_or(u32::MAX);
        Some(Stall {
            at: ticks(start),
            length: ticks(len),
            median_per_second: f64::from(median) / TICK.as_secs_f64(),
        })
    }

    /// The per-second timeline.
    pub(crate) fn timeline(&self) -> Vec<Second> {
        self.timeline
            .iter()
            .enumerate()
            .map(|(t, acc)| Second {
                t: t as u64,
                requests: acc.requests,
                success: acc.success,
                rejected: acc.rejected,
                errors: acc.errors,
                mean_ms: if acc.responses == 0 {
                    0.0
                } else {
                    round3(acc.latency_sum_us as f64 / acc.responses as f64 / 1000.0)
                },
                max_ms: round3(acc.latency_max_us as f64 / 1000.0),
                success_p50_ms: acc.success_latency.quantile_ms(0.5).map(round3),
                success_p95_ms: acc.success_latency.quantile_ms(0.95).map(round3),
                success_p99_ms: acc.success_latency.quantile_ms(0.99).map(round3),
            })
            .collect()
    }
}

/// A stretch of the run in which the server (nearly) stopped completing requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stall {
    /// When it began, since the start of the run.
    pub(crate) at: Duration,
    /// How long it lasted.
    pub(crate) length: Duration,
    /// The run's median throughput, completions per second, for comparison.
    pub(crate) median_per_second: f64,
}

/// Rounds to three decimals (microseconds, when the value is in milliseconds).
pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Response;

    fn ok(status: u16) -> Outcome {
        Ok(Response {
            status,
            retry_after: None,
        })
    }

    fn sample(at_ms: u64, latency_ms: u64, outcome: &Outcome) -> Sample<'_> {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms),
            outcome,
        }
    }

    /// Relative error allowed by three significant digits.
    fn close(actual: Option<f64>, expected: f64) -> bool {
        let actual = actual.expect("a value");
        (actual - expected).abs() <= expected * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_ms() {
        let mut latencies = Latencies::new();
        for ms in 1..=1000 {
            latencies.record(Duration::from_millis(ms));
        }
        let s = latencies.summary();
        assert!(close(s.min, 1.0), "{s:?}");
        assert!(close(s.mean, 500.5), "{s:?}");
        assert!(close(s.p50, 500.0), "{s:?}");
        assert!(close(s.p90, 900.0), "{s:?}");
        assert!(close(s.p95, 950.0), "{s:?}");
        assert!(close(s.p99, 990.0), "{s:?}");
        assert!(close(s.p999, 999.0), "{s:?}");
        assert!(close(s.max, 1000.0), "{s:?}");
    }

    #[test]
    fn one_outlier_in_a_hundred_is_the_max_not_the_p99() {
        let mut latencies = Latencies::new();
        for _ in 0..99 {
            latencies.record(Duration::from_millis(2));
        }
        latencies.record(Duration::from_secs(1));
        let s = latencies.summary();
        assert!(close(s.p99, 2.0), "{s:?}");
        assert!(close(s.p999, 1000.0), "{s:?}");
        assert!(close(s.max, 1000.0), "{s:?}");
        assert!(close(s.mean, (99.0 * 2.0 + 1000.0) / 100.0), "{s:?}");
    }

    #[test]
    fn empty_histogram_has_no_values() {
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut latencies = Latencies::new();
        latencies.record(Duration::from_secs(10 * 3600));
        assert_eq!(latencies.len(), 1);
        assert!(latencies.summary().max.unwrap() >= 3_599_000.0);
    }

    #[test]
    fn merged_recorders_equal_one_recorder() {
        let (a_ok, a_503, err) = (ok(200), ok(503), Err(ErrorKind::Timeout));
        let mut whole = Recorder::new();
        let mut left = Recorder::new();
        let mut right = Recorder::new();
        for i in 0..1000u64 {
            let outcome = match i % 10 {
                0 => &a_503,
                1 => &err,
                _ => &a_ok,
            };
            let s = sample(i, i + 1, outcome);
            whole.record(s);
            if i % 2 == 0 { &mut left } else { &mut right }.record(s);
        }
        left.merge(&right);
        assert_eq!(left.requests(), 1000);
        assert_eq!(left.statuses(), vec![(200, 800), (503, 100)]);
        assert_eq!(left.errors.timeout, 100);
        assert_eq!(left.latency.summary(), whole.latency.summary());
        assert_eq!(left.success.summary(), whole.success.summary());
        assert_eq!(left.rejected.summary(), whole.rejected.summary());
        assert_eq!(left.timeline(), whole.timeline());
    }

    #[test]
    fn unfinished_requests_count_as_lower_bounds_but_not_as_requests() {
        let mut rec = Recorder::new();
        let ok = ok(200);
        for _ in 0..8 {
            rec.record(sample(0, 5, &ok));
        }
        rec.record_missed(Duration::from_millis(300));
        rec.record_aborted(Duration::from_millis(700));
        let mut merged = Recorder::new();
        merged.merge(&rec);
        assert_eq!(
            (merged.requests(), merged.missed, merged.aborted),
            (8, 1, 1)
        );
        assert_eq!(merged.max_start_lag, Duration::from_millis(300));
        assert_eq!(merged.latency.len(), 10);
        assert_eq!(merged.success.len(), 8);
        let unfinished = merged.unfinished.summary();
        assert!(close(unfinished.min, 300.0) && close(unfinished.max, 700.0));
        assert!(close(merged.latency.summary().max, 700.0));
    }

    #[test]
    fn a_stall_is_a_stretch_of_ticks_under_a_tenth_of_the_median() {
        let ok = ok(200);
        let mut rec = Recorder::new();
        // 10 completions per 100 ms for 3 s, none from 1.2 s to 2.1 s, 2 in the tick at 2.1 s.
        for tick in 0..30u64 {
            let count = match tick {
                12..=20 => 0,
                21 => 2,
                _ => 10,
            };
            for i in 0..count {
                rec.record(sample(tick * 100 + i, 5, &ok));
            }
        }
        let stall = rec.longest_stall(Duration::from_secs(3)).unwrap();
        assert_eq!(stall.at, Duration::from_millis(1200));
        assert_eq!(stall.length, Duration::from_millis(900));
        assert_eq!(stall.median_per_second, 100.0);
        // A tick with 2 of a median 10 is not a stall (a fifth, not under a tenth).
        let mut steady = Recorder::new();
        for tick in 0..30u64 {
            for i in 0..if tick == 7 { 2 } else { 10 } {
                steady.record(sample(tick * 100 + i, 5, &ok));
            }
        }
        // ...and a last tick cut short by the end does not count either.
        assert_eq!(steady.longest_stall(Duration::from_millis(3050)), None);
        // A stall up to the end of the run: nothing completed after 2.5 s of 4 s.
        let mut ending = Recorder::new();
        for tick in 0..25u64 {
            for i in 0..10 {
                ending.record(sample(tick * 100 + i, 5, &ok));
            }
        }
        let stall = ending.longest_stall(Duration::from_millis(4000)).unwrap();
        assert_eq!(
            (stall.at, stall.length),
            (Duration::from_millis(2500), Duration::from_millis(1500))
        );
        // Too few completions to tell.
        let mut sparse = Recorder::new();
        for tick in [0u64, 5, 10] {
            sparse.record(sample(tick * 100, 5, &ok));
        }
        assert_eq!(sparse.longest_stall(Duration::from_secs(1)), None);
    }

    #[test]
    fn correction_adds_the_requests_a_steady_client_would_have_sent() {
        let mut latencies = Latencies::new();
        for _ in 0..99 {
            latencies.record(Duration::from_millis(10));
        }
        latencies.record(Duration::from_secs(1));
        assert!(close(latencies.summary().p99, 10.0));
        // Expected interval 10 ms: the 1 s request stands for 99 more, 990 ms down to 20 ms.
        let corrected = latencies.corrected(Duration::from_millis(10)).unwrap();
        assert_eq!(corrected.len(), 199);
        let s = corrected.summary();
        assert!(close(s.max, 1000.0) && s.p50.unwrap() <= 20.1, "{s:?}");
        assert!(s.p99.unwrap() > 950.0, "{s:?}");
        // A microsecond interval against an hour would be billions of records: refused.
        let mut huge = Latencies::new();
        huge.record(Duration::from_secs(3600));
        assert!(huge.corrected(Duration::from_micros(1)).is_none());
    }

    #[test]
    fn classes_split_success_and_rejections() {
        let mut rec = Recorder::new();
        let (a, b, c, d) = (ok(200), ok(429), ok(503), ok(404));
        rec.record(sample(0, 10, &a));
        rec.record(sample(0, 20, &b));
        rec.record(sample(0, 30, &c));
        rec.record(sample(1500, 40, &d));
        assert_eq!(rec.success.len(), 1);
        assert_eq!(rec.rejected.len(), 2);
        assert_eq!(rec.latency.len(), 4);
        let timeline = rec.timeline();
        assert_eq!(timeline.len(), 2);
        assert_eq!(
            (
                timeline[0].requests,
                timeline[0].success,
                timeline[0].rejected
            ),
            (3, 1, 2)
        );
        assert!(close(Some(timeline[0].mean_ms), 20.0));
        assert!(close(Some(timeline[1].max_ms), 40.0));
        // Only the 2xx response counts for the per-second success percentiles.
        let p50 = timeline[0].success_p50_ms.unwrap();
        assert!((p50 - 10.0).abs() < 0.5, "{p50}");
        assert_eq!(timeline[0].success_p99_ms, Some(p50));
        assert_eq!(timeline[1].success_p50_ms, None);
    }
}
