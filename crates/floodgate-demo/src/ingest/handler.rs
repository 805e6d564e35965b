//! `POST /ingest`: streams the body into a [`Pipeline`] and answers with what it stored.

use std::error::Error as _;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError};
use serde::Serialize;
use tokio::time::Instant;
use tracing::debug;

use super::Ingest;
use super::metrics::{ActiveUpload, Outcome, Totals};
use super::pipeline::{Broken, Pipeline};

/// How long `/ingest` waits for the next part of a body before it gives up on the upload
/// (`408`). Only the client's silence counts: time the server spends not reading, because the
/// pipeline is full, does not.
pub const INGEST_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer of `/ingest` (with every status: what was stored before an error, too).
#[derive(Debug, Serialize)]
pub(crate) struct IngestReport {
    /// Records stored by the sink.
    records: u64,
    /// Batches stored by the sink.
    batches: u64,
    /// Malformed lines skipped.
    malformed: u64,
    /// The first malformed lines' numbers (from 1).
    malformed_lines: Vec<u64>,
    /// Body bytes read.
    bytes: u64,
    elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Why the body was not read to its end.
#[derive(Debug)]
enum Cut {
    TooLarge,
    Idle,
    Aborted(axum::Error),
    Broken,
}

/// Streams the body through the pipeline: `200` once the sink has stored every record, `413`
/// past `--ingest-max-bytes`, `408` if the client goes silent for [`INGEST_IDLE_TIMEOUT`],
/// `400` if the body breaks off. If the client disconnects, hyper drops this future and the
/// pipeline with it.
pub(crate) async fn ingest(State(ingest): State<Ingest>, body: Body) -> Response {
    let started = Instant::now();
    let _active = ActiveUpload::enter(&ingest.stats);
    let pipeline = Pipeline::spawn(ingest.settings, &ingest.stats);

    let (outcome, totals) = match feed(body, &pipeline).await {
        Ok(()) => match pipeline.finish().await {
            Ok(totals) => (Ok(()), totals),
            Err(Broken) => (Err(Cut::Broken), Totals::default()),
        },
        Err(cut) => (Err(cut), pipeline.abort().await),
    };
    let (status, error, outcome) = match outcome {
        Ok(()) => (StatusCode::OK, None, Outcome::Complete),
        Err(Cut::TooLarge) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(format!(
                "the upload is larger than {} bytes",
                ingest.max_bytes
            )),
            Outcome::TooLarge,
        ),
        Err(Cut::Idle) => (
            StatusCode::REQUEST_TIMEOUT,
            Some(format!("no data for {}s", INGEST_IDLE_TIMEOUT.as_secs())),
            Outcome::Idle,
        ),
        Err(Cut::Aborted(err)) => {
            debug!(%err, "upload broke off");
            (
                StatusCode::BAD_REQUEST,
                Some(format!("the upload broke off: {err}")),
                Outcome::Aborted,
            )
        }
        Err(Cut::Broken) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("the pipeline failed".to_owned()),
            Outcome::Failed,
        ),
    };
    ingest.stats.ended(outcome);
    let report = IngestReport {
        records: totals.records,
        batches: totals.batches,
        malformed: totals.malformed,
        malformed_lines: totals.malformed_lines,
        bytes: totals.bytes,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    };
    (status, Json(report)).into_response()
}

/// Reads the body frame by frame into the pipeline, one chunk at a time: the next frame is
/// asked for only once the pipeline has taken the last one.
async fn feed(mut body: Body, pipeline: &Pipeline) -> Result<(), Cut> {
    loop {
        let frame = tokio::time::timeout(INGEST_IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| Cut::Idle)?;
        let frame = match frame {
            None => return Ok(()),
            Some(Ok(frame)) => frame,
            Some(Err(err)) if is_too_large(&err) => return Err(Cut::TooLarge),
            Some(Err(err)) => return Err(Cut::Aborted(err)),
        };
        // Trailers, if any, carry no records.
        if let Ok(data) = frame.into_data() {
            pipeline.push(data).await.map_err(|Broken| Cut::Broken)?;
        }
    }
}

/// Whether the body error is the size limit's (`tower_http`'s `RequestBodyLimit` on chunked
/// bodies).
fn is_too_large(err: &axum::Error) -> bool {
    let mut source = err.source();
    while let Some(err) = source {
        if err.is::<LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}
