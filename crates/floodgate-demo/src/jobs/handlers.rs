//! `POST /jobs` and `GET /jobs/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{LOCATION, RETRY_AFTER};
use serde::{Deserialize, Serialize};

use super::Jobs;
use super::pool::Rejected;
use super::store::JobId;
use super::work::{Work, WorkKind};

/// The query string of `POST /jobs`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubmitParams {
    /// Work time in milliseconds, instead of `--delay`; capped at
    /// [`MAX_JOB_MS`](super::MAX_JOB_MS).
    ms: Option<u64>,
    /// `sleep` (the default) or `cpu`.
    #[serde(default)]
    work: WorkKind,
}

/// The body of error answers.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

/// Queues a job: `202 Accepted` with its state and `Location: /jobs/{id}`, or `503` with
/// `Retry-After` when the queue stayed full for `--max-wait` (or the server is shutting down).
/// A bad query is answered 400 by the `Query` extractor.
pub(crate) async fn submit(
    State(jobs): State<Jobs>,
    Query(params): Query<SubmitParams>,
) -> Response {
    let work = Work::new(params.work, params.ms, jobs.default_work);
    match jobs.pool.submit(work).await {
        Ok(id) => {
            let location = format!("/jobs/{id}");
            match jobs.pool.status(id) {
                Some(view) => {
                    (StatusCode::ACCEPTED, [(LOCATION, location)], Json(view)).into_response()
                }
                // Only if the results are so few and short-lived that it is already gone.
                None => (StatusCode::ACCEPTED, [(LOCATION, location)]).into_response(),
            }
        }
        Err(rejected) => {
            let error = match rejected {
                Rejected::QueueFull => "the job queue is full, retry later",
                Rejected::ShuttingDown => "the server is shutting down",
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, jobs.retry_after.clone())],
                Json(ErrorBody {
                    error: error.to_owned(),
                }),
            )
                .into_response()
        }
    }
}

/// The job's state (`queued`, `running`, `done` with its result, `failed`, `cancelled`), or
/// `404` for an unknown id or an evicted result. An id that is not 32 hex digits is answered
/// 400 by the `Path` extractor.
pub(crate) async fn status(State(jobs): State<Jobs>, Path(id): Path<JobId>) -> Response {
    match jobs.pool.status(id) {
        Some(view) => Json(view).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody {
                error: format!("no job {id}: unknown, or its result has expired"),
            }),
        )
            .into_response(),
    }
}
