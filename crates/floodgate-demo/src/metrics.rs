//! `/metrics`: one Prometheus registry per app (several apps can run in one process), rendered
//! in the Prometheus text format.
//!
//! The gate's, the rate limit's and the backend's series are read at scrape time (from
//! [`Gate::snapshot`], [`RateLimiter::snapshot`] and the backend's semaphore); request counts
//! and latencies are recorded by a middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use floodgate::{Gate, RateLimitReason, RateLimiter, Reason};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::backend::Backend;

/// The `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `route` label of requests that matched no route (so that scanners cannot blow up the
/// label set).
const UNMATCHED: &str = "unmatched";

/// The app's metrics: a registry, and handles to the series the middleware records.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

impl Metrics {
    /// Registers the gate's series (if there is a gate), `floodgate_rejected_total` (if there is
    /// a gate or a rate limit), the backend's and the requests'.
    pub(crate) fn new(
        gate: Option<Gate>,
        rate_limiter: Option<RateLimiter>,
        backend: Backend,
    ) -> Self {
        let mut registry = Registry::default();
        if let Some(gate) = gate.clone() {
            registry.register_collector(Box::new(GateCollector { gate }));
        }
        if gate.is_some() || rate_limiter.is_some() {
            registry.register_collector(Box::new(RejectedCollector { gate, rate_limiter }));
        }
        registry.register_collector(Box::new(BackendCollector { backend }));

        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "floodgate_demo_requests",
            "HTTP requests answered, by route and status code",
            requests.clone(),
        );
        let durations: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register(
            "floodgate_demo_request_duration_seconds",
            "Time from request to response head, by route (rejections included)",
            durations.clone(),
        );

        Self {
            registry,
            requests,
            durations,
        }
    }

    /// Adds the series of `collector` (read at every scrape).
    pub(crate) fn register_collector(&mut self, collector: impl Collector + 'static) {
        self.registry.register_collector(Box::new(collector));
    }

    /// Counts one answered request.
    fn observe(&self, route: String, status: u16, elapsed: Duration) {
        self.durations
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    /// Every series, in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Middleware: records the route, status and latency of every request it wraps.
pub(crate) async fn record(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(route, response.status().as_u16(), started.elapsed());
    response
}

/// The gate's `floodgate_*` series, from one [`Gate::snapshot`] per scrape.
#[derive(Debug)]
struct GateCollector {
    gate: Gate,
}

impl Collector for GateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snapshot = self.gate.snapshot();
        gauge(
            &mut encoder,
            "floodgate_limit",
            "Concurrency limit of the gate.",
            snapshot.limit,
        )?;
        gauge(
            &mut encoder,
            "floodgate_in_flight",
            "Requests holding a permit of the gate.",
            snapshot.in_flight,
        )?;
        gauge(
            &mut encoder,
            "floodgate_queued",
            "Requests waiting for a permit of the gate.",
            snapshot.queued,
        )?;

        // Counters get their `_total` suffix from the encoder.
        let admitted = ConstCounter::new(snapshot.admitted);
        admitted.encode(encoder.encode_descriptor(
            "floodgate_admitted",
            "Requests admitted by the gate.",
            None,
            MetricType::Counter,
        )?)?;

        let waits = snapshot.queue_wait;
        let mut previous = 0;
        let buckets: Vec<(f64, u64)> = waits
            .buckets()
            .map(|(bound, cumulative)| {
                let in_bucket = cumulative - previous;
                previous = cumulative;
                (bound.as_secs_f64(), in_bucket)
            })
            .collect();
        encoder
            .encode_descriptor(
                "floodgate_queue_wait_seconds",
                "Time admitted requests waited for their permit.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                waits.sum().as_secs_f64(),
                waits.count(),
                &buckets,
                None,
            )
    }
}

/// `floodgate_rejected_total`: one family for whatever turns requests away before the handlers,
/// by reason: the gate's (503, every [`Reason`]) and the rate limit's (429, `rate`), each
/// present only when that limiter is on. (One collector, because a family encoded twice would
/// make the exposition invalid.)
#[derive(Debug)]
struct RejectedCollector {
    gate: Option<Gate>,
    rate_limiter: Option<RateLimiter>,
}

impl Collector for RejectedCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut rejected = encoder.encode_descriptor(
            "floodgate_rejected",
            "Requests turned away before the handlers, by reason: the gate's (503) and the rate \
             limit's (429, reason rate).",
            None,
            MetricType::Counter,
        )?;
        if let Some(gate) = &self.gate {
            let snapshot = gate.snapshot();
            for reason in Reason::ALL {
                let labels = [("reason", reason.as_str())];
                ConstCounter::new(snapshot.rejected.get(reason))
                    .encode(rejected.encode_family(&labels)?)?;
            }
        }
        if let Some(limiter) = &self.rate_limiter {
            let labels = [("reason", RateLimitReason::Rate.as_str())];
            ConstCounter::new(limiter.snapshot().rejected)
                .encode(rejected.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The simulated backend's `floodgate_demo_backend_*` series.
#[derive(Debug)]
struct BackendCollector {
    backend: Backend,
}

impl Collector for BackendCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let load = self.backend.load();
        gauge(
            &mut encoder,
            "floodgate_demo_backend_capacity",
            "Slots of the simulated backend behind /slow.",
            load.capacity,
        )?;
        gauge(
            &mut encoder,
            "floodgate_demo_backend_busy",
            "Slots of the simulated backend held now.",
            load.busy,
        )?;
        gauge(
            &mut encoder,
            "floodgate_demo_backend_waiting",
            "Requests waiting for a slot of the simulated backend.",
            load.waiting,
        )
    }
}

/// Encodes one unlabelled gauge.
pub(crate) fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: usize,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// Encodes one unlabelled counter (`name` without `_total`: the encoder adds it).
pub(crate) fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_the_contract_names() {
        let gate = Gate::new(4);
        let _permit = gate.acquire().await.unwrap();
        let metrics = Metrics::new(Some(gate), None, Backend::new(8));
        metrics.observe("/slow".to_owned(), 200, Duration::from_millis(3));
        metrics.observe("/slow".to_owned(), 503, Duration::from_millis(1));

        let text = metrics.render();
        for line in [
            "# TYPE floodgate_limit gauge",
            "floodgate_limit 4",
            "floodgate_in_flight 1",
            "floodgate_queued 0",
            "# TYPE floodgate_admitted_total counter",
            "floodgate_admitted_total 1",
            "# TYPE floodgate_rejected_total counter",
            "floodgate_rejected_total{reason=\"timeout\"} 0",
            "floodgate_rejected_total{reason=\"queue_full\"} 0",
            "floodgate_rejected_total{reason=\"closed\"} 0",
            "# TYPE floodgate_queue_wait_seconds histogram",
            "floodgate_queue_wait_seconds_bucket{le=\"0\"} 1",
            "floodgate_queue_wait_seconds_bucket{le=\"+Inf\"} 1",
            "floodgate_queue_wait_seconds_count 1",
            "floodgate_demo_backend_capacity 8",
            "floodgate_demo_backend_busy 0",
            "floodgate_demo_backend_waiting 0",
            "floodgate_demo_requests_total{route=\"/slow\",status=\"200\"} 1",
            "floodgate_demo_requests_total{route=\"/slow\",status=\"503\"} 1",
            "floodgate_demo_request_duration_seconds_count{route=\"/slow\"} 2",
        ] {
            assert!(
                text.lines().any(|rendered| rendered == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn without_a_gate_there_are_no_gate_series() {
        let text = Metrics::new(None, None, Backend::new(1)).render();
        assert!(!text.contains("floodgate_in_flight"), "{text}");
        assert!(text.contains("floodgate_demo_backend_capacity 1"), "{text}");
    }
}
