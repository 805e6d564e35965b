//! Printers: the text summary, threshold results and JSON, each to any [`Write`].

use std::io::{self, Write};

use crate::report::{ModeName, Report};
use crate::stats::LatencySummary;
use crate::threshold::Check;

/// Writes the human-readable summary of `report`.
pub fn print_summary(w: &mut impl Write, report: &Report) -> io::Result<()> {
    let shape = match report.mode {
        ModeName::Closed => format!("closed loop, {} workers", report.concurrency),
        ModeName::Open => match report.ramp {
            Some(ramp) => format!(
                "open loop ramping from {}/s to {}/s, at most {} in flight",
                rate(ramp.from),
                rate(ramp.to),
                report.concurrency
            ),
            None => format!(
                "open loop at {}/s, at most {} in flight",
                rate(report.target_rate.unwrap_or_default()),
                report.concurrency
            ),
        },
    };
    // The protocol only when it is not the default, so that HTTP/1.1 summaries read as before.
    let http2 = if report.http_version == "HTTP/2" {
        ", HTTP/2"
    } else {
        ""
    };
    writeln!(
        w,
        "{} ({shape}, {} engine{http2}, {:.2} s)",
        report.url, report.engine, report.duration_s
    )?;
    writeln!(w)?;
    let percent = |ratio: f64| format!("{:.1} %", ratio * 100.0);
    writeln!(
        w,
        "  Requests     {:>12}  {:>11}/s",
        thousands(report.requests),
        rate(report.rps)
    )?;
    writeln!(
        w,
        "  Success 2xx  {:>12}  {:>11}/s  {:>7}",
        thousands(count_2xx(report)),
        rate(report.success_rps),
        percent(report.success_rate)
    )?;
    writeln!(
        w,
        "  Rejected     {:>12}  {:>13}  {:>7}  (503 and 429)",
        thousands(report.rejected()),
        "",
        percent(report.rejected_rate)
    )?;
    let e = &report.errors;
    writeln!(
        w,
        "  Errors       {:>12}  {:>13}  {:>7}  (timeout {}, connect {}, other {})",
        thousands(e.total()),
        "",
        percent(report.error_rate),
        e.timeout,
        e.connect,
        e.other
    )?;
    if let (Some(target), Some(achieved)) = (report.target_rate, report.achieved_rate) {
        writeln!(
            w,
            "  Rate         target {}/s, achieved {}/s ({:.1} %); late starts {}, missed {} (max lag \
             {:.1} ms)",
            rate(target),
            rate(achieved),
            achieved / target * 100.0,
            thousands(report.late_starts),
            thousands(report.missed),
            report.max_start_lag_ms
        )?;
    }
    if report.bytes_sent > 0 {
        writeln!(
            w,
            "  Uploaded     {:>12}  {:>9.3} MB/s  (request bodies)",
            format!("{:.3} MB", report.bytes_sent as f64 / 1e6),
            report.upload_mb_per_s
        )?;
    }
    if report.deferred > 0 {
        writeln!(
            w,
            "  Deferred     {:>12}  (starts skipped while their client backed off as told by \
             Retry-After; {} clients)",
            thousands(report.deferred),
            thousands(report.clients.unwrap_or(1) as u64)
        )?;
    }
    if report.missed > 0 {
        writeln!(
            w,
            "  Missed       {:>12}  (due before the end, never sent: every slot stayed busy)",
            thousands(report.missed)
        )?;
    }
    if report.aborted > 0 {
        writeln!(
            w,
            "  Aborted      {:>12}  (still in flight at the end: cancelled, not in Requests)",
            thousands(report.aborted)
        )?;
    }

    if !report.status.is_empty() {
        writeln!(w)?;
        writeln!(w, "  Status codes")?;
        for (code, count) in &report.status {
            writeln!(w, "    {code}  {:>12}", thousands(*count))?;
        }
    }

    writeln!(w)?;
    writeln!(
        w,
        "  Latency (ms)   {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"
    )?;
    latency_row(w, "all", &report.latency_ms)?;
    latency_row(w, "2xx", &report.success_latency_ms)?;
    latency_row(w, "503/429", &report.rejected_latency_ms)?;
    let unfinished = report.missed + report.aborted;
    if unfinished > 0 {
        latency_row(w, "unfinished", &report.unfinished_latency_ms)?;
    }
    if let Some(corrected) = &report.corrected_latency_ms {
        latency_row(w, "corrected", corrected)?;
    }
    if report.mode == ModeName::Open {
        latency_row(w, "service time", &report.service_time_ms)?;
        writeln!(
            w,
            "  (open loop: latency counts from the scheduled start; service time from the send)"
        )?;
    }
    if let Some(interval) = report.expected_interval_ms {
        writeln!(
            w,
            "  (closed loop: latency counts from the send, so a stalled server also stalls the \
             client;\n   corrected: as wrk, with an expected interval of {} ms per worker)",
            ms(interval)
        )?;
    }
    if unfinished > 0 {
        writeln!(
            w,
            "  ({} requests never finished, {} missed and {} aborted: \"all\" counts each at its\n   \
             lower bound, the end of the run minus its scheduled start)",
            thousands(unfinished),
            thousands(report.missed),
            thousands(report.aborted)
        )?;
    }
    for warning in &report.warnings {
        writeln!(w)?;
        for (i, line) in wrap(&format!("Warning: {warning}"), 96).iter().enumerate() {
            let indent = if i == 0 { "  " } else { "    " };
            writeln!(w, "{indent}{line}")?;
        }
    }
    Ok(())
}

fn count_2xx(report: &Report) -> u64 {
    report
        .status
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .map(|(_, n)| n)
        .sum()
}

fn latency_row(w: &mut impl Write, label: &str, s: &LatencySummary) -> io::Result<()> {
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), ms);
    writeln!(
        w,
        "    {label:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        cell(s.min),
        cell(s.mean),
        cell(s.p50),
        cell(s.p90),
        cell(s.p95),
        cell(s.p99),
        cell(s.p999),
        cell(s.max)
    )
}

/// Writes one line per threshold check.
pub fn print_checks(w: &mut impl Write, checks: &[Check]) -> io::Result<()> {
    if checks.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "  Thresholds")?;
    for check in checks {
        writeln!(w, "    {check}")?;
    }
    Ok(())
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn write_json(w: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    writeln!(w)
}

/// A space that [`wrap`] does not break at (it prints as a plain space).
pub(crate) const GLUE: &str = "\u{a0}";

/// Breaks `text` into lines of at most `width` characters at plain spaces (not at [`GLUE`],
/// which becomes a plain space).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word = word.replace(GLUE, " ");
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word);
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
    }
    lines
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate: whole numbers with separators from 100 up, one decimal below.
pub(crate) fn rate(value: f64) -> String {
    if value >= 100.0 {
        thousands(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

/// A latency in milliseconds with precision that fits its size.
pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(rate(82_345.6), "82,346");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(ms(0.0512), "0.05");
        assert_eq!(ms(12.34), "12.3");
        assert_eq!(ms(1234.6), "1235");
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("a", 5), ["a"]);
        assert_eq!(wrap("at most 100\u{a0}ms", 9), ["at most", "100 ms"]);
    }

    #[test]
    fn summary_shows_counts_statuses_and_latencies() {
        let mut out = Vec::new();
        print_summary(&mut out, &sample_report()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("closed loop, 4 workers, hyper engine"),
            "{text}"
        );
        assert!(text.contains("Requests              105"), "{text}");
        assert!(text.contains("(timeout 5, connect 0, other 0)"), "{text}");
        assert!(text.contains("    503            10"), "{text}");
        assert!(text.contains("    all"), "{text}");
        assert!(!text.contains("service time"), "{text}");
    }

    #[test]
    fn checks_are_listed() {
        let report = sample_report();
        let checks =
            ["p99<1s", "rps>1k"].map(|e| e.parse::<crate::Threshold>().unwrap().check(&report));
        let mut out = Vec::new();
        print_checks(&mut out, &checks).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("ok     p99<1s (measured 99.007 ms)"),
            "{text}"
        );
        assert!(text.contains("FAILED rps>1k (measured 100)"), "{text}");
    }

    #[test]
    fn json_ends_with_a_newline() {
        let mut out = Vec::new();
        write_json(&mut out, &sample_report()).unwrap();
        assert!(out.ends_with(b"}\n"));
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["requests"], 105);
    }
}
