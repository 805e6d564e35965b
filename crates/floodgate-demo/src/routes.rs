//! The handlers: `/slow` and `/fast` (gated), `/healthz` and `/metrics` (never gated).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use http::header::CONTENT_TYPE;
use serde::Deserialize;

use crate::backend::Backend;
use crate::metrics::{self, Metrics};

/// The largest work time `/slow?ms=N` asks for; larger values are capped to it. The default and
/// the upper bound of `--max-slow-ms`, which lowers it.
pub const MAX_SLOW_MS: u64 = 60_000;

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) backend: Backend,
    /// Work time of `/slow` without `?ms=`.
    pub(crate) delay: Duration,
    /// The cap on `?ms=` (`--max-slow-ms`).
    pub(crate) max_slow_ms: u64,
    pub(crate) metrics: Arc<Metrics>,
}

/// The query string of `/slow`.
#[derive(Debug, Deserialize)]
pub(crate) struct SlowParams {
    /// Work time in milliseconds, instead of `--delay`; capped at `--max-slow-ms`.
    ms: Option<u64>,
}

/// Takes a slot of the backend and holds it for the work time. A bad `ms` is answered 400 by
/// the `Query` extractor.
pub(crate) async fn slow(
    State(state): State<AppState>,
    Query(params): Query<SlowParams>,
) -> &'static str {
    let work = params.ms.map_or(state.delay, |ms| {
        Duration::from_millis(ms.min(state.max_slow_ms))
    });
    state.backend.work(work).await;
    "ok\n"
}

/// Answers at once: shows that the gate, not the work, decides who gets in.
pub(crate) async fn fast() -> &'static str {
    "ok\n"
}

/// Liveness: answers at once, never gated.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The app's metrics in the Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}
