//! The report of a run: what the text summary prints and `--json` writes.
//!
//! The field names up to `rejected_latency_ms` are the contract of DESIGN.md; the ones after it
//! are additions (fields are added, never renamed).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::printer::thousands;
use crate::runner::{Mode, RunStats};
use crate::stats::{ErrorCounts, LatencySummary, Second, round3};

/// A closed-loop stall this long or longer gets a warning.
const WARN_STALL: Duration = Duration::from_millis(500);

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The target URL (several, space-separated, when requests went round-robin to several).
    pub url: String,
    /// The HTTP engine that ran: `"hyper"` or `"reqwest"`.
    pub engine: String,
    /// The protocol asked for: `"HTTP/1.1"`, or `"HTTP/2"` with `--http2`.
    pub http_version: String,
    /// `"closed"` (`-c` workers) or `"open"` (`-r` schedule).
    pub mode: ModeName,
    /// Requests per second on the open-loop schedule (a ramp's mean rate, see `ramp`); `None`
    /// (`null`) in closed loop.
    pub target_rate: Option<f64>,
    /// Seconds from the start of the run until the last request finished or was cancelled.
    pub duration_s: f64,
    /// Requests that finished: every response plus every error.
    pub requests: u64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Responses by status code (`"200"`, `"503"`...).
    pub status: BTreeMap<String, u64>,
    /// Requests without a response, by class.
    pub errors: ErrorCounts,
    /// 2xx responses per second.
    pub success_rps: f64,
    /// 2xx responses / requests.
    pub success_rate: f64,
    /// Latency of every response, from the scheduled start in open loop; and of every request
    /// that never finished ([`missed`](Self::missed) starts, [`aborted`](Self::aborted)
    /// requests) at its lower bound, the end of the run minus its scheduled start, so that a
    /// stall at the end of the run is not lost (see `unfinished_latency_ms`).
    pub latency_ms: LatencySummary,
    /// Latency of 2xx responses.
    pub success_latency_ms: LatencySummary,
    /// Latency of 503 and 429 responses.
    pub rejected_latency_ms: LatencySummary,

    /// The in-flight cap (`-c`).
    pub concurrency: usize,
    /// Latency from the actual send (not the schedule): what the server alone took. Equals
    /// `latency_ms` in closed loop; in open loop it hides a stall, `latency_ms` does not.
    pub service_time_ms: LatencySummary,
    /// errors / requests.
    pub error_rate: f64,
    /// (503 + 429 responses) / requests.
    pub rejected_rate: f64,
    /// Open loop with a ramp: the rate at the start and at the end (`target_rate` is then their
    /// mean); `None` otherwise.
    pub ramp: Option<RampReport>,
    /// Open loop: requests started per second; `None` in closed loop.
    pub achieved_rate: Option<f64>,
    /// Open loop: starts more than 2 ms behind schedule (`-c` reached, or the client too busy).
    pub late_starts: u64,
    /// Open loop: the largest lag of a start behind schedule, in milliseconds.
    pub max_start_lag_ms: f64,
    /// Open loop: the simulated client population (`--clients`, default one per slot), each
    /// paused on its own by `--respect-retry-after`; `None` in closed loop.
    pub clients: Option<usize>,
    /// Starts skipped inside a `Retry-After` back-off window (`--respect-retry-after`, open loop).
    pub deferred: u64,
    /// Requests in flight when the duration was over: cancelled, not in `requests`; their lower
    /// bounds are in `latency_ms`.
    pub aborted: u64,
    /// Open loop: starts due before the end of the run that were never sent, because every
    /// slot (`-c`) stayed busy until the end; not in `requests`, their lower bounds are in
    /// `latency_ms`. Sent + missed + deferred is every start the schedule had due.
    pub missed: u64,
    /// Lower bounds of the latency of the missed and aborted requests: the end of the run minus
    /// their scheduled start (all `null` when every request finished).
    pub unfinished_latency_ms: LatencySummary,
    /// Closed loop: `latency_ms` corrected for coordinated omission as wrk and HdrHistogram do
    /// it: each latency longer than the expected interval also stands for the requests a steady
    /// client would have sent meanwhile. `None` (`null`) in open loop, whose `latency_ms`
    /// already counts from the schedule.
    pub corrected_latency_ms: Option<LatencySummary>,
    /// Closed loop: the expected interval of that correction, in milliseconds: the run's
    /// length × `concurrency` / `requests`, each worker's mean time per request (as wrk).
    pub expected_interval_ms: Option<f64>,
    /// The longest stretch in which the server completed under a tenth of its median
    /// throughput (in 100 ms steps); `None` when there was none.
    pub stall: Option<StallReport>,
    /// What the reader must know to trust the numbers (printed at the end of the summary).
    pub warnings: Vec<String>,
    /// Per second of the run (by completion time): counts and latency, for charts.
    pub timeline: Vec<Second>,
    /// Request body bytes handed to connections (`--body`, `--body-file`, `--body-ndjson-mb`).
    pub bytes_sent: u64,
    /// `bytes_sent` in megabytes (10^6 bytes) per second of the run.
    pub upload_mb_per_s: f64,
}

/// The rates a ramp went between, in requests per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RampReport {
    /// At the start of the run.
    pub from: f64,
    /// At the end of the run.
    pub to: f64,
}

/// A stall found in the run's throughput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StallReport {
    /// Seconds from the start of the run to the start of the stall.
    pub at_s: f64,
    /// How long it lasted, in seconds (a multiple of 0.1).
    pub length_s: f64,
    /// The run's median throughput, completions per second.
    pub median_rps: f64,
}

/// The load model of a run, as named in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    /// Fixed number of workers, each waiting for its response.
    Closed,
    /// Fixed rate of starts.
    Open,
}

/// What the report needs to know besides the statistics.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub(crate) url: String,
    pub(crate) engine: &'static str,
    /// `"HTTP/1.1"` or `"HTTP/2"`.
    pub(crate) http_version: &'static str,
    pub(crate) mode: Mode,
    pub(crate) concurrency: usize,
    /// Open loop: the client population (`None`: one per slot).
    pub(crate) clients: Option<usize>,
}

impl Report {
    pub(crate) fn new(info: RunInfo, stats: &RunStats) -> Self {
        let rec = &stats.recorder;
        let secs = stats.elapsed.as_secs_f64();
        let per_second = |count: u64| {
            if secs > 0.0 {
                round3(count as f64 / secs)
            } else {
                0.0
            }
        };
        let requests = rec.requests();
        let ratio = |count: u64| {
            if requests > 0 {
                count as f64 / requests as f64
            } else {
                0.0
            }
        };
        let statuses = rec.statuses();
        let count_where = |f: fn(u16) -> bool| {
            statuses
                .iter()
                .filter(|(code, _)| f(*code))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        let success = count_where(|code| (200..300).contains(&code));
        let rejected = count_where(|code| code == 503 || code == 429);
        let stall = rec.longest_stall(stats.elapsed);
        let mut warnings = Vec::new();
        let mut corrected = None;
        let mut expected_interval = None;
        if info.mode == Mode::Closed && requests > 0 {
            let interval = stats
                .elapsed
                .mul_f64(info.concurrency as f64 / requests as f64);
            expected_interval = Some(round3(interval.as_secs_f64() * 1000.0));
            corrected = rec.latency.corrected(interval).map(|h| h.summary());
            if corrected.is_none() {
                warnings.push(
                    "closed loop: too many samples to correct for coordinated omission \
                     (corrected_latency_ms is null)"
                        .to_owned(),
                );
            }
        }
        if let Some(stall) = stall.filter(|s| info.mode == Mode::Closed && s.length >= WARN_STALL) {
            warnings.push(format!(
                "closed loop: from {:.1} s to {:.1} s the server completed under a tenth of its \
                 median {} req/s, and the workers waited instead of sending: the latencies \
                 above under-count that stall (coordinated omission). The \"corrected\" row adds \
                 the requests a steady client would have sent; open loop (-r) measures it.",
                stall.at.as_secs_f64(),
                (stall.at + stall.length).as_secs_f64(),
                thousands(stall.median_per_second.round() as u64),
            ));
        }
        let (mode, target_rate, achieved_rate) = match info.mode {
            Mode::Closed => (ModeName::Closed, None, None),
            Mode::Open { rate, ramp_to } => (
                ModeName::Open,
                // A ramp's mean rate: the starts due over the run, per second.
                Some(ramp_to.map_or(rate, |to| (rate + to) / 2.0)),
                Some(per_second(rec.started)),
            ),
        };
        Self {
            url: info.url,
            engine: info.engine.to_owned(),
            http_version: info.http_version.to_owned(),
            mode,
            target_rate,
            duration_s: round3(secs),
            requests,
            rps: per_second(requests),
            status: statuses
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
            errors: rec.errors,
            success_rps: per_second(success),
            success_rate: ratio(success),
            latency_ms: rec.latency.summary(),
            success_latency_ms: rec.success.summary(),
            rejected_latency_ms: rec.rejected.summary(),
            concurrency: info.concurrency,
            service_time_ms: rec.service.summary(),
            error_rate: ratio(rec.errors.total()),
            rejected_rate: ratio(rejected),
            achieved_rate,
            ramp: match info.mode {
                Mode::Open {
                    rate,
                    ramp_to: Some(to),
                } => Some(RampReport { from: rate, to }),
                _ => None,
            },
            late_starts: rec.late_starts,
            max_start_lag_ms: round3(rec.max_start_lag.as_secs_f64() * 1000.0),
            clients: match info.mode {
                Mode::Open { .. } => Some(info.clients.unwrap_or(info.concurrency)),
                Mode::Closed => None,
            },
            deferred: rec.deferred,
            aborted: rec.aborted,
            missed: rec.missed,
            unfinished_latency_ms: rec.unfinished.summary(),
            corrected_latency_ms: corrected,
            expected_interval_ms: expected_interval,
            stall: stall.map(|s| StallReport {
                at_s: round3(s.at.as_secs_f64()),
                length_s: round3(s.length.as_secs_f64()),
                median_rps: round3(s.median_per_second),
            }),
            warnings,
            timeline: rec.timeline(),
            bytes_sent: 0,
            upload_mb_per_s: 0.0,
        }
    }

    /// Sets `bytes_sent`, and `upload_mb_per_s` from it and `duration_s`.
    pub(crate) fn with_bytes_sent(mut self, bytes: u64) -> Self {
        self.bytes_sent = bytes;
        self.upload_mb_per_s = if self.duration_s > 0.0 {
            round3(bytes as f64 / 1e6 / self.duration_s)
        } else {
            0.0
        };
        self
    }

    /// Responses with this status code.
    pub fn status_count(&self, code: u16) -> u64 {
        self.status.get(&code.to_string()).copied().unwrap_or(0)
    }

    /// 503 and 429 responses.
    pub fn rejected(&self) -> u64 {
        self.status_count(503) + self.status_count(429)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::{ErrorKind, Outcome, Response};
    use crate::stats::{Recorder, Sample};

    /// 105 requests in 1.05 s: 90 × 200 (1..=90 ms), 10 × 503 (91..=100 ms), 5 timeouts. So
    /// rps = 100, latency p99 = 99 ms (99.007: HDR precision), success_rate = 90/105,
    /// error_rate = 5/105.
    pub(crate) fn sample_report() -> Report {
        let mut rec = Recorder::new();
        let ok: Outcome = Ok(Response {
            status: 200,
            retry_after: None,
        });
        let rejected: Outcome = Ok(Response {
            status: 503,
            retry_after: Some(Duration::from_secs(1)),
        });
        let timeout: Outcome = Err(ErrorKind::Timeout);
        let mut record = |ms: u64, outcome: &Outcome| {
            rec.record(Sample {
                at: Duration::from_millis(ms),
                latency: Duration::from_millis(ms),
                service: Duration::from_millis(ms),
                outcome,
            });
        };
        // The timeouts are not latencies.
        for ms in 1..=90 {
            record(ms, &ok);
        }
        for ms in 91..=100 {
            record(ms, &rejected);
        }
        for _ in 0..5 {
            record(500, &timeout);
        }
        let stats = RunStats {
            recorder: rec,
            elapsed: Duration::from_millis(1050),
        };
        Report::new(
            RunInfo {
                url: "http://127.0.0.1:1/".to_owned(),
                engine: "hyper",
                http_version: "HTTP/1.1",
                mode: Mode::Closed,
                concurrency: 4,
                clients: None,
            },
            &stats,
        )
    }

    #[test]
    fn counts_add_up() {
        let report = sample_report();
        assert_eq!(report.requests, 105);
        let statuses: u64 = report.status.values().sum();
        assert_eq!(statuses + report.errors.total(), report.requests);
        assert_eq!(report.rejected(), 10);
        assert_eq!(report.rps, 100.0);
        assert!((report.success_rate - 90.0 / 105.0).abs() < 1e-9);
        // HDR values are the highest equivalent of their bucket: within 0.1 % above.
        let near = |v: Option<f64>, expected: f64| (v.unwrap() - expected).abs() <= expected * 1e-3;
        assert!(near(report.latency_ms.p99, 99.0), "{:?}", report.latency_ms);
        assert!(near(report.success_latency_ms.max, 90.0));
        assert!(near(report.rejected_latency_ms.min, 91.0));
    }

    #[test]
    fn json_has_the_contract_fields() {
        let json = serde_json::to_value(sample_report()).unwrap();
        for field in [
            "url",
            "engine",
            "http_version",
            "mode",
            "target_rate",
            "duration_s",
            "requests",
            "rps",
            "status",
            "errors",
            "success_rps",
            "success_rate",
            "latency_ms",
            "success_latency_ms",
            "rejected_latency_ms",
            // Open loop's accounting (null or 0 in closed loop, but always present).
            "achieved_rate",
            "late_starts",
            "missed",
            "aborted",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["mode"], "closed");
        assert!(json["target_rate"].is_null());
        assert_eq!(json["status"]["200"], 90);
        assert_eq!(json["errors"]["timeout"], 5);
        for stat in ["min", "mean", "p50", "p90", "p95", "p99", "p999", "max"] {
            assert!(json["latency_ms"][stat].is_number(), "latency_ms.{stat}");
        }
    }
}
