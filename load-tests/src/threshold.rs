//! `--fail-if` thresholds: `p99<250ms`, `success_rate>=0.95`, `rps>=100`, `missed<1`.
//!
//! ```
//! use floodgate_load::Threshold;
//!
//! let threshold: Threshold = "p99 < 250ms".parse().unwrap();
//! assert_eq!(threshold.to_string(), "p99<250ms");
//! assert!("p98<1s".parse::<Threshold>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::cli::parse_scaled;
use crate::report::Report;
use crate::stats::LatencySummary;

/// A condition on a run's report; the run fails (exit code 3) when it does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    metric: Metric,
    op: Op,
    /// In milliseconds for latencies, a plain number otherwise.
    value: f64,
    /// The right-hand side as written, for messages.
    written: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Latency(Class, Stat),
    Rps,
    SuccessRps,
    Requests,
    SuccessRate,
    ErrorRate,
    RejectedRate,
    /// Open loop only: a closed-loop run has no achieved rate, which fails the check.
    AchievedRate,
    LateStarts,
    Missed,
    Aborted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    All,
    Success,
    Rejected,
    /// Closed loop: corrected for coordinated omission; open loop: the same as `All`.
    Corrected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Min,
    Mean,
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a threshold expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ThresholdError(String);

const METRICS: &str = "rps, success_rps, requests, success_rate, error_rate, rejected_rate, \
    achieved_rate, late_starts, missed, aborted, min, mean, p50, p90, p95, p99, p999, max (also \
    success_p99, rejected_p99, corrected_p99 and so on)";

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        let fail = |msg: String| ThresholdError(msg);
        let at = expr.find(['<', '>']).ok_or_else(|| {
            fail(format!(
                "no comparison in {expr:?}: write it like p99<250ms (operators: <, <=, >, >=)"
            ))
        })?;
        let (name, rest) = expr.split_at(at);
        let (op, rhs) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        let (name, rhs) = (name.trim(), rhs.trim());
        if rhs.is_empty() || rhs.starts_with(['<', '>', '=']) {
            return Err(fail(format!("no value after the comparison in {expr:?}")));
        }
        let metric = parse_metric(name).ok_or_else(|| {
            fail(format!(
                "unknown metric {name:?} in {expr:?}; known: {METRICS}"
            ))
        })?;
        let value = match metric {
            Metric::Latency(..) => parse_latency_ms(rhs).ok_or_else(|| {
                fail(format!(
                    "{name} needs a duration with a unit (us, ms, s), like 250ms, not {rhs:?}"
                ))
            })?,
            Metric::SuccessRate | Metric::ErrorRate | Metric::RejectedRate => parse_ratio(rhs)
                .ok_or_else(|| {
                    fail(format!(
                        "{name} needs a ratio from 0 to 1 (or a percentage), like 0.95 or 95%, not {rhs:?}"
                    ))
                })?,
            Metric::Rps
            | Metric::SuccessRps
            | Metric::Requests
            | Metric::AchievedRate
            | Metric::LateStarts
            | Metric::Missed
            | Metric::Aborted => {
                parse_scaled(rhs).map_err(|err| fail(format!("{name}: {err}")))?
            }
        };
        Ok(Self {
            metric,
            op,
            value,
            written: rhs.to_owned(),
        })
    }
}

fn parse_metric(name: &str) -> Option<Metric> {
    let metric = match name {
        "rps" => Metric::Rps,
        "success_rps" => Metric::SuccessRps,
        "requests" => Metric::Requests,
        "success_rate" => Metric::SuccessRate,
        "error_rate" => Metric::ErrorRate,
        "rejected_rate" => Metric::RejectedRate,
        "achieved_rate" => Metric::AchievedRate,
        "late_starts" => Metric::LateStarts,
        "missed" => Metric::Missed,
        "aborted" => Metric::Aborted,
        _ => {
            let (class, stat) = match name.split_once('_') {
                Some(("success", stat)) => (Class::Success, stat),
                Some(("rejected", stat)) => (Class::Rejected, stat),
                Some(("corrected", stat)) => (Class::Corrected, stat),
                Some(_) => return None,
                None => (Class::All, name),
            };
            let stat = match stat {
                "min" => Stat::Min,
                "mean" => Stat::Mean,
                "p50" => Stat::P50,
                "p90" => Stat::P90,
                "p95" => Stat::P95,
                "p99" => Stat::P99,
                "p999" | "p99.9" => Stat::P999,
                "max" => Stat::Max,
                _ => return None,
            };
            Metric::Latency(class, stat)
        }
    };
    Some(metric)
}

/// `250ms`, `0.5ms`, `1.5s`, `800us` in milliseconds.
fn parse_latency_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let scale = match unit {
        "us" | "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        _ => return None,
    };
    Some(number * scale)
}

/// `0.95` or `95%`, between 0 and 1.
fn parse_ratio(value: &str) -> Option<f64> {
    let ratio = match value.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => value.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&ratio).then_some(ratio)
}

impl Threshold {
    /// Checks this threshold against a report.
    pub fn check(&self, report: &Report) -> Check {
        let actual = self.actual(report);
        let passed = actual.is_some_and(|actual| match self.op {
            Op::Lt => actual < self.value,
            Op::Le => actual <= self.value,
            Op::Gt => actual > self.value,
            Op::Ge => actual >= self.value,
        });
        Check {
            threshold: self.clone(),
            actual,
            passed,
        }
    }

    fn actual(&self, report: &Report) -> Option<f64> {
        let stat = |summary: &LatencySummary, stat: Stat| match stat {
            Stat::Min => summary.min,
            Stat::Mean => summary.mean,
            Stat::P50 => summary.p50,
            Stat::P90 => summary.p90,
            Stat::P95 => summary.p95,
            Stat::P99 => summary.p99,
            Stat::P999 => summary.p999,
            Stat::Max => summary.max,
        };
        match self.metric {
            Metric::Latency(Class::All, s) => stat(&report.latency_ms, s),
            Metric::Latency(Class::Success, s) => stat(&report.success_latency_ms, s),
            Metric::Latency(Class::Rejected, s) => stat(&report.rejected_latency_ms, s),
            Metric::Latency(Class::Corrected, s) => stat(
                report
                    .corrected_latency_ms
                    .as_ref()
                    .unwrap_or(&report.latency_ms),
                s,
            ),
            Metric::Rps => Some(report.rps),
            Metric::SuccessRps => Some(report.success_rps),
            Metric::Requests => Some(report.requests as f64),
            Metric::SuccessRate => Some(report.success_rate),
            Metric::ErrorRate => Some(report.error_rate),
            Metric::RejectedRate => Some(report.rejected_rate),
            Metric::AchievedRate => report.achieved_rate,
            Metric::LateStarts => Some(report.late_starts as f64),
            Metric::Missed => Some(report.missed as f64),
            Metric::Aborted => Some(report.aborted as f64),
        }
    }

    fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Latency(..) => " ms",
            _ => "",
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.metric {
            Metric::Rps => "rps".to_owned(),
            Metric::SuccessRps => "success_rps".to_owned(),
            Metric::Requests => "requests".to_owned(),
            Metric::SuccessRate => "success_rate".to_owned(),
            Metric::ErrorRate => "error_rate".to_owned(),
            Metric::RejectedRate => "rejected_rate".to_owned(),
            Metric::AchievedRate => "achieved_rate".to_owned(),
            Metric::LateStarts => "late_starts".to_owned(),
            Metric::Missed => "missed".to_owned(),
            Metric::Aborted => "aborted".to_owned(),
            Metric::Latency(class, stat) => {
                let stat = match stat {
                    Stat::Min => "min",
                    Stat::Mean => "mean",
                    Stat::P50 => "p50",
                    Stat::P90 => "p90",
                    Stat::P95 => "p95",
                    Stat::P99 => "p99",
                    Stat::P999 => "p999",
                    Stat::Max => "max",
                };
                match class {
                    Class::All => stat.to_owned(),
                    Class::Success => format!("success_{stat}"),
                    Class::Rejected => format!("rejected_{stat}"),
                    Class::Corrected => format!("corrected_{stat}"),
                }
            }
        };
        let op = match self.op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        write!(f, "{name}{op}{}", self.written)
    }
}

/// The result of checking one [`Threshold`].
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The threshold checked.
    pub threshold: Threshold,
    /// The measured value (milliseconds for latencies); `None` when there were no samples,
    /// which fails the check: a threshold that cannot be verified does not pass.
    pub actual: Option<f64>,
    /// Whether the threshold held.
    pub passed: bool,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "ok" } else { "FAILED" };
        match self.actual {
            Some(actual) => write!(
                f,
                "{verdict:<6} {} (measured {}{})",
                self.threshold,
                trim_float(actual),
                self.threshold.unit()
            ),
            None => write!(f, "{verdict:<6} {} (no samples)", self.threshold),
        }
    }
}

/// At most three decimals, without trailing zeros.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    fn parse(expr: &str) -> Threshold {
        expr.parse().unwrap()
    }

    fn error(expr: &str) -> String {
        expr.parse::<Threshold>().unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_examples() {
        let p99 = parse("p99<250ms");
        assert_eq!(
            (p99.metric, p99.op, p99.value),
            (Metric::Latency(Class::All, Stat::P99), Op::Lt, 250.0)
        );
        let rate = parse("success_rate>=0.95");
        assert_eq!(
            (rate.metric, rate.op, rate.value),
            (Metric::SuccessRate, Op::Ge, 0.95)
        );
        assert_eq!(parse("rps>=100").value, 100.0);
        assert_eq!(parse("error_rate < 1%").value, 0.01);
        assert_eq!(parse("success_p999 <= 1.5s").value, 1500.0);
        assert_eq!(parse("rejected_max>800us").value, 0.8);
        assert_eq!(parse("success_rps>=2k").value, 2000.0);
        assert_eq!(
            parse("p99.9<1s").metric,
            Metric::Latency(Class::All, Stat::P999)
        );
    }

    #[test]
    fn displays_as_written() {
        assert_eq!(parse(" p99 <= 250ms ").to_string(), "p99<=250ms");
        assert_eq!(parse("success_rate>95%").to_string(), "success_rate>95%");
    }

    #[test]
    fn refuses_bad_expressions_saying_why() {
        assert!(error("p99 250ms").contains("no comparison"));
        assert!(error("p99<").contains("no value"));
        assert!(error("p99<<1ms").contains("no value"));
        assert!(error("p98<1s").contains("unknown metric \"p98\""));
        assert!(error("fast_p99<1s").contains("unknown metric"));
        assert!(error("p99<250").contains("needs a duration with a unit"));
        assert!(error("p99<250 parsecs").contains("needs a duration"));
        assert!(error("success_rate>=1.5").contains("ratio"));
        assert!(error("rps>lots").contains("not a number"));
    }

    #[test]
    fn checks_against_a_report() {
        let report = sample_report();
        // p99 of the sample is 99 ms, success_rate 0.857, rps 100, error_rate 0.048.
        let check = |expr: &str| parse(expr).check(&report);
        assert!(check("p99<100ms").passed);
        assert!(!check("p99<99ms").passed);
        assert!(check("p99<=99.1ms").passed);
        assert!(check("success_rate>=0.85").passed);
        assert!(!check("success_rate>=90%").passed);
        assert!(check("rps>=100").passed);
        assert!(!check("error_rate<0.01").passed);
        let failed = check("p99<1ms");
        assert_eq!(failed.actual, Some(99.007));
        assert_eq!(failed.to_string(), "FAILED p99<1ms (measured 99.007 ms)");
    }

    #[test]
    fn open_loop_accounting_and_p95() {
        let mut report = sample_report();
        assert_eq!(
            parse("success_p95<1s").metric,
            Metric::Latency(Class::Success, Stat::P95)
        );
        assert_eq!(parse("p95 < 1s").to_string(), "p95<1s");
        // p95 of 1..=100 ms responses: 95 ms.
        assert!(parse("p95<96ms").check(&report).passed);
        assert!(!parse("p95<94ms").check(&report).passed);
        // A closed-loop report has no achieved rate: the check cannot pass.
        let achieved = parse("achieved_rate>=100").check(&report);
        assert_eq!((achieved.passed, achieved.actual), (false, None));
        report.achieved_rate = Some(480.0);
        report.late_starts = 38;
        report.missed = 700;
        report.aborted = 50;
        assert!(parse("achieved_rate>=0.45k").check(&report).passed);
        assert!(!parse("achieved_rate>=490").check(&report).passed);
        assert!(parse("late_starts<=38").check(&report).passed);
        assert!(!parse("late_starts<38").check(&report).passed);
        let missed = parse("missed<1").check(&report);
        assert!(!missed.passed);
        assert_eq!(missed.to_string(), "FAILED missed<1 (measured 700)");
        assert!(parse("aborted<=50").check(&report).passed);
        assert!(!parse("aborted<=49").check(&report).passed);
        assert!(error("missed<lots").contains("not a number"));
    }

    #[test]
    fn no_samples_fail_the_check() {
        let mut report = sample_report();
        report.rejected_latency_ms = LatencySummary::default();
        let check = parse("rejected_p99<1s").check(&report);
        assert!(!check.passed);
        assert_eq!(check.actual, None);
        assert!(check.to_string().contains("no samples"));
    }
}
