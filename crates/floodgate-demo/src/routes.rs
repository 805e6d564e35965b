//! The handlers: `/slow`, `/fast` and `/stream` (gated), `/healthz` and `/metrics` (never
//! gated).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
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

impl AppState {
    /// `?ms=N` as a duration, capped at `--max-slow-ms`; `--delay` without it.
    fn work_time(&self, ms: Option<u64>) -> Duration {
        ms.map_or(self.delay, |ms| {
            Duration::from_millis(ms.min(self.max_slow_ms))
        })
    }
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
    state.backend.work(state.work_time(params.ms)).await;
    "ok\n"
}

/// How often `/stream` sends an event.
pub(crate) const STREAM_INTERVAL: Duration = Duration::from_millis(100);

/// The query string of `/stream`.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamParams {
    /// How long the stream stays open, in milliseconds, instead of `--delay`; capped at
    /// `--max-slow-ms`.
    ms: Option<u64>,
}

/// Server-sent events: `data: N` every [`STREAM_INTERVAL`] for `--delay` (or `?ms=N`, capped
/// at `--max-slow-ms`), then the end of the body. It does no work in the backend: an open
/// stream costs a connection and a little memory, which is why `--release-at headers` lets its
/// gate permit go at the head.
pub(crate) async fn stream(
    State(state): State<AppState>,
    Query(params): Query<StreamParams>,
) -> impl IntoResponse {
    let open_for = state.work_time(params.ms);
    let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    tokio::spawn(async move {
        let end = tokio::time::Instant::now() + open_for;
        let mut events = tokio::time::interval(STREAM_INTERVAL);
        for n in 1.. {
            events.tick().await;
            let event = Bytes::from(format!("data: {n}\n\n"));
            // An error: the client went away, and the body with it.
            if sender.send_data(event).await.is_err() || tokio::time::Instant::now() >= end {
                return;
            }
        }
    });
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::new(body),
    )
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
