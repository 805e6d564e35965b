//! `/ingest`: a streaming pipeline with backpressure down to TCP.
//!
//! `POST /ingest` takes newline-delimited JSON objects (the [record format](record), any
//! size up to `--ingest-max-bytes`) and streams them, as they arrive, through bounded stages:
//! parse → batch (`--batch-size` records, or whatever came within `--batch-timeout`) → a
//! deliberately slow sink (`--sink-delay` per batch). When the sink is slower than the client,
//! the [pipeline](pipeline) fills and the server reads the body only as fast as the sink
//! stores it; the upload never sits in the server's memory. The answer (JSON) counts the
//! records and batches stored and the malformed lines skipped.
//!
//! An upload holds the connection for as long as it takes, so `/ingest` is not behind the
//! gate of `/slow` (one long upload would take a permit meant for short requests); it has a
//! gate of its own, `--ingest-concurrency` uploads at once, with the same bounded wait and
//! `503` + `Retry-After`.

mod config;
mod handler;
mod metrics;
mod pipeline;
mod record;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use floodgate::{Gate, GateLayer};
use tower_http::limit::RequestBodyLimitLayer;

pub use self::config::IngestConfig;
pub use self::handler::INGEST_IDLE_TIMEOUT;
pub(crate) use self::metrics::IngestCollector;
use self::metrics::IngestStats;
use self::pipeline::PipelineSettings;
pub use self::record::MAX_RECORD_BYTES;
use crate::config::Config;

/// The `/ingest` route's state: the pipeline's settings and the app's ingest counts.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    settings: PipelineSettings,
    max_bytes: usize,
    /// `--ingest-min-rate`, bytes per second.
    min_rate: usize,
    stats: Arc<IngestStats>,
    gate: GateLayer,
}

impl Ingest {
    /// The pipeline of `config.ingest`, behind a gate of `--ingest-concurrency` with the
    /// wait, queue and `Retry-After` of the main gate.
    pub(crate) fn new(config: &Config) -> Self {
        let ingest = &config.ingest;
        let gate = GateLayer::new(ingest.concurrency)
            .name("ingest")
            .max_wait(config.max_wait)
            .max_queue(config.max_queue)
            .retry_after(config.retry_after);
        Self {
            settings: PipelineSettings {
                batch_size: ingest.batch_size,
                batch_timeout: ingest.batch_timeout,
                sink_delay: ingest.sink_delay,
            },
            max_bytes: ingest.max_bytes,
            min_rate: ingest.min_rate,
            stats: Arc::default(),
            gate,
        }
    }

    /// `POST /ingest`, behind its own gate and body limit (not the app's 1 MiB one).
    pub(crate) fn router<S>(&self) -> Router<S> {
        Router::new()
            .route("/ingest", post(handler::ingest))
            .route_layer(RequestBodyLimitLayer::new(self.max_bytes))
            .route_layer(self.gate.clone())
            .with_state(self.clone())
    }

    /// The gate in front of `/ingest`.
    pub(crate) fn gate(&self) -> &Gate {
        self.gate.gate()
    }

    /// The `floodgate_demo_ingest_*` series.
    pub(crate) fn collector(&self) -> IngestCollector {
        IngestCollector::new(Arc::clone(&self.stats))
    }
}

#[cfg(test)]
mod tests;
