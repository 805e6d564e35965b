//! Puts the `--limiter` of choice in front of the gated routes.

use std::sync::Arc;

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

/// Applies the configured limiter to every route of `gated` (with `route_layer`, so unmatched
/// paths get a plain 404). Returns the gate, if the limiter is floodgate's.
pub(crate) fn guard<S>(gated: Router<S>, config: &Config) -> (Router<S>, Option<Gate>)
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
            match &config.classes.priority_header {
                Some(header) => {
                    let layer = layer.classify(PriorityHeader::new(header.clone()));
                    let gate = layer.gate().clone();
                    (gated.route_layer(layer), Some(gate))
                }
                None => {
                    let gate = layer.gate().clone();
                    (gated.route_layer(layer), Some(gate))
                }
            }
        }
        Limiter::None => (gated, None),
        Limiter::TowerLimit => {
            // One semaphore for all routes: `ConcurrencyLimitLayer` would make one per route.
            let limit = GlobalConcurrencyLimitLayer::with_semaphore(semaphore(config));
            (gated.route_layer(limit), None)
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
            (gated.route_layer(shed), None)
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
