//! `/metrics`: one Prometheus registry per app (several apps can run in one process), rendered
//! in the Prometheus text format.
//!
//! The gate's and the rate limit's `floodgate_*` series are the library's, encoded by
//! [`floodgate::metrics::PrometheusText`] from their snapshots at scrape time (so their names and
//! meanings are defined once, in the library); the demo's own `floodgate_demo_*` series (the
//! backend's, read from its semaphore, and the requests', recorded by a middleware) are
//! prometheus-client's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use floodgate::Gate;
use floodgate::connection::ConnectionLimit;
use floodgate::metrics::PrometheusText;
use floodgate::rate_limit::RateLimiter;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
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
    gate: Option<Gate>,
    /// More gates (`/stream`'s), reported beside the first under their names.
    more_gates: Vec<Gate>,
    connections: Option<ConnectionLimit>,
    rate_limiter: Option<RateLimiter>,
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
    /// The gate's series (if there is a gate), the rate limit's (if there is one), the
    /// backend's and the requests'.
    pub(crate) fn new(
        gate: Option<Gate>,
        rate_limiter: Option<RateLimiter>,
        backend: Backend,
    ) -> Self {
        let mut registry = Registry::default();
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
            gate,
            more_gates: Vec::new(),
            connections: None,
            rate_limiter,
            registry,
            requests,
            durations,
        }
    }

    /// Adds the series of another gate (named apart from the first).
    pub(crate) fn add_gate(&mut self, gate: Gate) {
        self.more_gates.push(gate);
    }

    /// Adds the connection limit's series.
    pub(crate) fn set_connections(&mut self, limit: ConnectionLimit) {
        self.connections = Some(limit);
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
        let mut library = PrometheusText::new();
        for gate in self.gate.iter().chain(&self.more_gates) {
            library = library.gate(gate);
        }
        if let Some(limiter) = &self.rate_limiter {
            library = library.rate_limit(limiter);
        }
        if let Some(limit) = &self.connections {
            library = library.connections(limit);
        }
        let mut text = library.render();
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
            "floodgate_limit{gate=\"default\"} 4",
            "floodgate_in_flight{gate=\"default\"} 1",
            "floodgate_queued{gate=\"default\"} 0",
            "# TYPE floodgate_admitted_total counter",
            "floodgate_admitted_total{gate=\"default\"} 1",
            "# TYPE floodgate_rejected_total counter",
            "floodgate_rejected_total{gate=\"default\",reason=\"timeout\"} 0",
            "floodgate_rejected_total{gate=\"default\",reason=\"queue_full\"} 0",
            "floodgate_rejected_total{gate=\"default\",reason=\"closed\"} 0",
            "# TYPE floodgate_queue_wait_seconds histogram",
            "floodgate_queue_wait_seconds_bucket{gate=\"default\",le=\"0\"} 1",
            "floodgate_queue_wait_seconds_bucket{gate=\"default\",le=\"+Inf\"} 1",
            "floodgate_queue_wait_seconds_count{gate=\"default\"} 1",
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
