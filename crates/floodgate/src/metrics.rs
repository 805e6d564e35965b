//! The metrics schema, defined once: names, meanings, and a Prometheus text encoder.
//!
//! Every floodgate metric is named here, with what it means. The same definitions feed the
//! Prometheus text encoder ([`PrometheusText`], for a `/metrics` route of your own, read from
//! snapshots at scrape time: nothing is recorded per request), the `metrics` feature (which
//! copies the same series to the [`metrics`](https://docs.rs/metrics) facade), and anything that
//! reads them back (a load generator's scrape).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `floodgate_in_flight` | gauge | `gate` | requests holding a permit |
//! | `floodgate_queued` | gauge | `gate` (and `class`) | requests waiting for a permit |
//! | `floodgate_limit` | gauge | `gate` | the concurrency limit now (adaptive limits move it) |
//! | `floodgate_admitted_total` | counter | `gate` (and `class`) | requests admitted |
//! | `floodgate_rejected_total` | counter | `gate` (and `class`) and `reason` (`timeout`, `queue_full`, `closed`, `shed`, `evicted`, `deadline`), or `policy` and `reason` (`rate`, `missing_key`) for a rate limit | requests turned away |
//! | `floodgate_queue_wait_seconds` | histogram | `gate` | how long admitted requests waited for their permit (zero for those admitted at once) |
//! | `floodgate_rate_admitted_total` | counter | `policy` | requests a rate limit let through |
//! | `floodgate_rate_keys` | gauge | `policy` | buckets of recently active keys |
//! | `floodgate_rate_waiting` | gauge | `policy` | requests waiting for a token |
//! | `floodgate_rate_per_second` | gauge | `policy` | the steady rate, requests per second per key |
//! | `floodgate_rate_burst` | gauge | `policy` | the bucket size: requests a key may send at once |
//! | `floodgate_rate_store_errors_total` | counter | `policy` | calls to a rate limit's Redis store that failed (error, timeout, garbage) |
//! | `floodgate_rate_fallback` | gauge | `policy` | 1 while a rate limit decides by its fallback because its store does not answer |
//! | `floodgate_connections_open` | gauge | | connections open now (a [`ConnectionLimit`](crate::connection::ConnectionLimit)) |
//! | `floodgate_connections_max` | gauge | | the most connections open at once |
//!
//! The `gate` label is the gate's name ([`GateConfig::name`](crate::gate::GateConfig::name),
//! `default` unless set), so that several gates report side by side; `policy` is the rate
//! limit's quota name. A gate that tells [priority classes](crate::gate::Priority) apart
//! ([`GateConfig::priority_classes`](crate::gate::GateConfig::priority_classes), set by
//! `GateLayer::classify`) splits its queued, admitted and rejected series by `class`
//! (`critical`, `default`, `sheddable`): sum over `class` for the gate's totals.
//!
//! ```
//! use floodgate::Gate;
//! use floodgate::metrics::PrometheusText;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let gate = Gate::new(4);
//! let _permit = gate.acquire().await.unwrap();
//! let text = PrometheusText::new().gate(&gate).render();
//! assert!(text.contains("# TYPE floodgate_in_flight gauge\n"));
//! assert!(text.contains("floodgate_in_flight{gate=\"default\"} 1\n"));
//! assert!(text.contains("floodgate_admitted_total{gate=\"default\"} 1\n"));
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::gate::{Gate, Priority, Reason, Snapshot};

/// Requests holding a gate's permit (gauge; label `gate`).
pub const IN_FLIGHT: &str = "floodgate_in_flight";
/// Requests waiting for a gate's permit (gauge; label `gate`).
pub const QUEUED: &str = "floodgate_queued";
/// A gate's concurrency limit now (gauge; label `gate`).
pub const LIMIT: &str = "floodgate_limit";
/// Requests a gate admitted (counter; label `gate`).
pub const ADMITTED_TOTAL: &str = "floodgate_admitted_total";
/// Requests turned away, by `reason` (counter; labels `gate` or `policy`, and `reason`).
pub const REJECTED_TOTAL: &str = "floodgate_rejected_total";
/// How long admitted requests waited for their permit, zero included (histogram, seconds;
/// label `gate`).
pub const QUEUE_WAIT_SECONDS: &str = "floodgate_queue_wait_seconds";
/// Requests a rate limit let through (counter; label `policy`).
pub const RATE_ADMITTED_TOTAL: &str = "floodgate_rate_admitted_total";
/// Buckets in a rate limit's keyed store (gauge; label `policy`).
pub const RATE_KEYS: &str = "floodgate_rate_keys";
/// Requests waiting for a rate limit's token (gauge; label `policy`).
pub const RATE_WAITING: &str = "floodgate_rate_waiting";
/// A rate limit's steady rate, requests per second per key (gauge; label `policy`).
pub const RATE_PER_SECOND: &str = "floodgate_rate_per_second";
/// A rate limit's bucket size (gauge; label `policy`).
pub const RATE_BURST: &str = "floodgate_rate_burst";
/// Calls to a rate limit's Redis store that failed (counter; label `policy`).
pub const RATE_STORE_ERRORS_TOTAL: &str = "floodgate_rate_store_errors_total";
/// 1 while a rate limit decides by its fallback, its store not answering (gauge; label `policy`).
pub const RATE_FALLBACK: &str = "floodgate_rate_fallback";
/// Connections open now, under a connection limit (gauge).
pub const CONNECTIONS_OPEN: &str = "floodgate_connections_open";
/// The connection limit (gauge).
pub const CONNECTIONS_MAX: &str = "floodgate_connections_max";

/// What one metric is: its name, kind and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The full name (counters end in `_total`).
    pub name: &'static str,
    /// `gauge`, `counter` or `histogram`.
    pub kind: &'static str,
    /// The help text.
    pub help: &'static str,
}

/// Every floodgate metric, with its kind and meaning.
pub const ALL: [Metric; 15] = [
    Metric {
        name: IN_FLIGHT,
        kind: "gauge",
        help: "Requests holding a gate permit.",
    },
    Metric {
        name: QUEUED,
        kind: "gauge",
        help: "Requests waiting for a gate permit.",
    },
    Metric {
        name: LIMIT,
        kind: "gauge",
        help: "The gate's concurrency limit now.",
    },
    Metric {
        name: ADMITTED_TOTAL,
        kind: "counter",
        help: "Requests admitted by the gate.",
    },
    Metric {
        name: REJECTED_TOTAL,
        kind: "counter",
        help: "Requests turned away, by reason: a gate's (503) or a rate limit's (429).",
    },
    Metric {
        name: QUEUE_WAIT_SECONDS,
        kind: "histogram",
        help: "Time admitted requests waited for their permit (zero if admitted at once).",
    },
    Metric {
        name: RATE_ADMITTED_TOTAL,
        kind: "counter",
        help: "Requests admitted by a rate limit.",
    },
    Metric {
        name: RATE_KEYS,
        kind: "gauge",
        help: "Buckets in a rate limit's keyed store.",
    },
    Metric {
        name: RATE_WAITING,
        kind: "gauge",
        help: "Requests waiting for a rate limit token.",
    },
    Metric {
        name: RATE_PER_SECOND,
        kind: "gauge",
        help: "The rate limit's steady rate, in requests per second per key.",
    },
    Metric {
        name: RATE_BURST,
        kind: "gauge",
        help: "The rate limit's bucket size: requests a key may send at once.",
    },
    Metric {
        name: RATE_STORE_ERRORS_TOTAL,
        kind: "counter",
        help: "Calls to the rate limit's Redis store that failed (error, timeout, garbage answer).",
    },
    Metric {
        name: RATE_FALLBACK,
        kind: "gauge",
        help: "1 while the rate limit decides by its fallback because its store does not answer.",
    },
    Metric {
        name: CONNECTIONS_OPEN,
        kind: "gauge",
        help: "Connections open now, under the connection limit.",
    },
    Metric {
        name: CONNECTIONS_MAX,
        kind: "gauge",
        help: "The most connections open at once; more wait in the listen backlog.",
    },
];

/// Looks a metric up by name.
///
/// ```
/// assert_eq!(floodgate::metrics::find("floodgate_limit").unwrap().kind, "gauge");
/// ```
pub fn find(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|metric| metric.name == name)
}

/// Renders gates and rate limits in the Prometheus text format (version 0.0.4), each family
/// once with its `# HELP` and `# TYPE`, whatever the number of gates.
#[derive(Debug, Default)]
#[must_use]
pub struct PrometheusText {
    /// Sample lines by family name.
    families: BTreeMap<&'static str, String>,
}

impl PrometheusText {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the series of `gate`, read now.
    pub fn gate(self, gate: &Gate) -> Self {
        self.gate_snapshot(gate.name(), &gate.snapshot())
    }

    /// Adds the series of a gate named `name` from its snapshot.
    pub fn gate_snapshot(mut self, name: &str, snapshot: &Snapshot) -> Self {
        let gate = [("gate", name)];
        self.sample(IN_FLIGHT, "", &gate, snapshot.in_flight as f64);
        self.sample(LIMIT, "", &gate, snapshot.limit as f64);
        if snapshot.priority_classes {
            for priority in Priority::ALL {
                let class = snapshot.classes.get(priority);
                let labels = [("gate", name), ("class", priority.as_str())];
                self.sample(QUEUED, "", &labels, class.queued as f64);
                self.sample(ADMITTED_TOTAL, "", &labels, class.admitted as f64);
                for reason in Reason::ALL {
                    let labels = [
                        ("gate", name),
                        ("class", priority.as_str()),
                        ("reason", reason.as_str()),
                    ];
                    let count = class.rejected.get(reason);
                    self.sample(REJECTED_TOTAL, "", &labels, count as f64);
                }
            }
        } else {
            self.sample(QUEUED, "", &gate, snapshot.queued as f64);
            self.sample(ADMITTED_TOTAL, "", &gate, snapshot.admitted as f64);
            for reason in Reason::ALL {
                let labels = [("gate", name), ("reason", reason.as_str())];
                let count = snapshot.rejected.get(reason);
                self.sample(REJECTED_TOTAL, "", &labels, count as f64);
            }
        }
        let waits = &snapshot.queue_wait;
        for (bound, cumulative) in waits.buckets() {
            let le = bound.as_secs_f64().to_string();
            let labels = [("gate", name), ("le", le.as_str())];
            self.sample(QUEUE_WAIT_SECONDS, "_bucket", &labels, cumulative as f64);
        }
        let labels = [("gate", name), ("le", "+Inf")];
        self.sample(QUEUE_WAIT_SECONDS, "_bucket", &labels, waits.count() as f64);
        self.sample(QUEUE_WAIT_SECONDS, "_sum", &gate, waits.sum().as_secs_f64());
        self.sample(QUEUE_WAIT_SECONDS, "_count", &gate, waits.count() as f64);
        self
    }

    /// Adds the series of a rate limit, read now.
    #[cfg(feature = "rate-limit")]
    pub fn rate_limit(mut self, limiter: &crate::rate_limit::RateLimiter) -> Self {
        use crate::rate_limit::Reason as RateReason;
        let snapshot = limiter.snapshot();
        let policy = limiter.quota().name();
        for (reason, count) in [
            (RateReason::Rate, snapshot.rejected),
            (RateReason::MissingKey, snapshot.rejected_missing_key),
        ] {
            let labels = [("policy", policy), ("reason", reason.as_str())];
            self.sample(REJECTED_TOTAL, "", &labels, count as f64);
        }
        let labels = [("policy", policy)];
        self.sample(RATE_ADMITTED_TOTAL, "", &labels, snapshot.admitted as f64);
        self.sample(RATE_KEYS, "", &labels, snapshot.keys as f64);
        self.sample(RATE_WAITING, "", &labels, snapshot.waiting as f64);
        let (count, per) = limiter.quota().rate();
        let per_second = f64::from(count) / per.as_secs_f64();
        self.sample(RATE_PER_SECOND, "", &labels, per_second);
        let burst = f64::from(limiter.quota().burst_size());
        self.sample(RATE_BURST, "", &labels, burst);
        let errors = snapshot.store_errors as f64;
        self.sample(RATE_STORE_ERRORS_TOTAL, "", &labels, errors);
        let fallback = f64::from(u8::from(snapshot.fallback));
        self.sample(RATE_FALLBACK, "", &labels, fallback);
        self
    }

    /// Adds the series of a connection limit, read now.
    pub fn connections(mut self, limit: &crate::connection::ConnectionLimit) -> Self {
        let snapshot = limit.gate().snapshot();
        self.sample(CONNECTIONS_OPEN, "", &[], snapshot.in_flight as f64);
        self.sample(CONNECTIONS_MAX, "", &[], snapshot.limit as f64);
        self
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (name, samples) in &self.families {
            let metric = find(name).expect("every family is a known metric");
            // Writing to a String cannot fail.
            let _ = writeln!(text, "# HELP {name} {}", metric.help);
            let _ = writeln!(text, "# TYPE {name} {}", metric.kind);
            text.push_str(samples);
        }
        text
    }

    fn sample(&mut self, family: &'static str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let lines = self.families.entry(family).or_default();
        lines.push_str(family);
        lines.push_str(suffix);
        if !labels.is_empty() {
            lines.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    lines.push(',');
                }
                let _ = write!(lines, "{key}=\"{}\"", escape(value));
            }
            lines.push('}');
        }
        let _ = writeln!(lines, " {value}");
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\\', '"', '\n']) {
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        value.into()
    }
}

#[cfg(feature = "metrics")]
mod facade {
    //! The same series through the `metrics` facade.

    use super::*;

    impl Gate {
        /// Copies the gate's series (see the table in [`metrics`](crate::metrics)) to the
        /// installed `metrics` recorder, labelled with the gate's name. Call it right before
        /// rendering a scrape (or on a timer). Needs the `metrics` feature.
        ///
        /// ```
        /// let gate = floodgate::Gate::new(8);
        /// gate.record_metrics(); // a no-op without an installed recorder
        /// ```
        pub fn record_metrics(&self) {
            let snapshot = self.snapshot();
            let gate = self.name().to_owned();
            metrics::gauge!(IN_FLIGHT, "gate" => gate.clone()).set(snapshot.in_flight as f64);
            metrics::gauge!(LIMIT, "gate" => gate.clone()).set(snapshot.limit as f64);
            if snapshot.priority_classes {
                for priority in Priority::ALL {
                    let class = snapshot.classes.get(priority);
                    let label = priority.as_str();
                    metrics::gauge!(QUEUED, "gate" => gate.clone(), "class" => label)
                        .set(class.queued as f64);
                    metrics::counter!(ADMITTED_TOTAL, "gate" => gate.clone(), "class" => label)
                        .absolute(class.admitted);
                    for reason in Reason::ALL {
                        metrics::counter!(REJECTED_TOTAL, "gate" => gate.clone(), "class" => label, "reason" => reason.as_str())
                            .absolute(class.rejected.get(reason));
                    }
                }
            } else {
                metrics::gauge!(QUEUED, "gate" => gate.clone()).set(snapshot.queued as f64);
                metrics::counter!(ADMITTED_TOTAL, "gate" => gate.clone())
                    .absolute(snapshot.admitted);
                for reason in Reason::ALL {
                    metrics::counter!(REJECTED_TOTAL, "gate" => gate.clone(), "reason" => reason.as_str())
                        .absolute(snapshot.rejected.get(reason));
                }
            }
        }

        /// Registers help texts and units for the gate's metrics with the installed recorder.
        pub fn describe_metrics() {
            for metric in ALL {
                match metric.kind {
                    "gauge" => metrics::describe_gauge!(metric.name, metric.help),
                    "counter" => metrics::describe_counter!(metric.name, metric.help),
                    _ => metrics::describe_histogram!(
                        metric.name,
                        metrics::Unit::Seconds,
                        metric.help
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::GateConfig;

    #[tokio::test]
    async fn two_gates_share_each_family_once() {
        let api = GateConfig::new(4).name("api").build();
        let admin = GateConfig::new(2).name("admin").build();
        let _permit = api.acquire().await.unwrap();
        let text = PrometheusText::new().gate(&api).gate(&admin).render();
        assert_eq!(
            text.matches("# TYPE floodgate_limit gauge").count(),
            1,
            "{text}"
        );
        for line in [
            "floodgate_limit{gate=\"api\"} 4",
            "floodgate_limit{gate=\"admin\"} 2",
            "floodgate_in_flight{gate=\"api\"} 1",
            "floodgate_rejected_total{gate=\"admin\",reason=\"timeout\"} 0",
            "floodgate_queue_wait_seconds_bucket{gate=\"api\",le=\"0\"} 1",
            "floodgate_queue_wait_seconds_bucket{gate=\"api\",le=\"+Inf\"} 1",
            "floodgate_queue_wait_seconds_count{gate=\"api\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[tokio::test]
    async fn a_gate_with_classes_reports_each_class() {
        let gate = GateConfig::new(1).max_queue(0).priority_classes().build();
        let _permit = gate.acquire().priority(Priority::Critical).await.unwrap();
        let _ = gate
            .acquire()
            .priority(Priority::Sheddable)
            .await
            .unwrap_err();
        let text = PrometheusText::new().gate(&gate).render();
        for line in [
            "floodgate_admitted_total{gate=\"default\",class=\"critical\"} 1",
            "floodgate_admitted_total{gate=\"default\",class=\"default\"} 0",
            "floodgate_queued{gate=\"default\",class=\"sheddable\"} 0",
            "floodgate_rejected_total{gate=\"default\",class=\"sheddable\",reason=\"queue_full\"} 1",
            "floodgate_rejected_total{gate=\"default\",class=\"critical\",reason=\"evicted\"} 0",
            "floodgate_in_flight{gate=\"default\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(!text.contains("floodgate_admitted_total{gate=\"default\"}"));
    }

    #[test]
    fn every_metric_is_known_once() {
        for metric in ALL {
            assert_eq!(find(metric.name), Some(&metric));
            assert!(metric.name.starts_with("floodgate_"));
            assert_eq!(metric.kind == "counter", metric.name.ends_with("_total"));
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
