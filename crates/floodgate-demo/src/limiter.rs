//! Puts the `--limiter` of choice in front of the gated routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::response::IntoResponse;
use floodgate::gate::{DefaultOnReject, PriorityHeader};
use floodgate::{Gate, GateLayer};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

use crate::config::{Config, Limiter};
use crate::{adaptive, classes};

/// The gates in front of the gated routes, when the limiter is floodgate's.
#[derive(Debug, Clone)]
pub(crate) struct Gates {
    /// `/slow`, `/fast`, `/stream` and the gRPC service: `--max-concurrency`.
    pub(crate) requests: Gate,
    /// `/stream` only: `--max-streams`, held until each stream ends.
    pub(crate) streams: Gate,
}

/// Applies the configured limiter to every route of `gated` and `streams` (with
/// `route_layer`, so unmatched paths get a plain 404), and merges them. The streaming routes
/// give the gate's permit back as `--release-at` says, under a second gate that caps the
/// streams open at once. Returns the gates, if the limiter is floodgate's.
pub(crate) fn guard<S>(
    gated: Router<S>,
    streams: Router<S>,
    config: &Config,
) -> (Router<S>, Option<Gates>)
where
    S: Clone + Send + Sync + 'static,
{
    match config.limiter {
        Limiter::Gate => {
            let layer = GateLayer::new(config.max_concurrency)
                .max_wait(config.max_wait)
                .max_queue(config.max_queue)
                .retry_after(config.retry_after);
            let layer = adaptive::configure(layer, config);
            let layer = classes::configure(layer, &config.classes);
            let stream_gate = GateLayer::new(config.max_streams)
                .max_wait(Duration::ZERO)
                .retry_after(config.retry_after)
                .name("streams");
            let gates = |requests: &Gate| Gates {
                requests: requests.clone(),
                streams: stream_gate.gate().clone(),
            };
            let streams = streams.route_layer(stream_gate.clone());
            let release_at = config.release_at.into_library();
            match &config.classes.priority_header {
                Some(header) => {
                    let layer = layer.classify(PriorityHeader::new(header.clone()));
                    let gates = gates(layer.gate());
                    let streams = streams.route_layer(layer.clone().release_at(release_at));
                    (gated.route_layer(layer).merge(streams), Some(gates))
                }
                None => {
                    let gates = gates(layer.gate());
                    let streams = streams.route_layer(layer.clone().release_at(release_at));
                    (gated.route_layer(layer).merge(streams), Some(gates))
                }
            }
        }
        Limiter::None => (gated.merge(streams), None),
        Limiter::TowerLimit => {
            // One semaphore for all routes: `ConcurrencyLimitLayer` would make one per route.
            let limit = GlobalConcurrencyLimitLayer::with_semaphore(semaphore(config));
            (gated.merge(streams).route_layer(limit), None)
        }
        Limiter::TowerShed => {
            let retry_after = DefaultOnReject::retry_after(config.retry_after);
            let shed = ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: BoxError| {
                    let retry_after = retry_after.clone();
                    async move { overloaded(retry_after) }
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::with_semaphore(semaphore(
                    config,
                )));
            (gated.merge(streams).route_layer(shed), None)
        }
    }
}

fn semaphore(config: &Config) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(config.max_concurrency))
}

/// The answer of `tower-shed` when every slot is taken (the gate's default answer, in kind).
fn overloaded(retry_after: HeaderValue) -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(RETRY_AFTER, retry_after)],
        "service overloaded, retry later\n",
    )
}
