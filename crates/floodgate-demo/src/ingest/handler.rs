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
///
/// It is also the head start of `--ingest-min-rate`: over the whole upload, the server waits
/// for the body at most this long plus one second per `--ingest-min-rate` bytes received.
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
    TooSlow,
    Aborted(axum::Error),
    Broken,
}

/// Streams the body through the pipeline: `200` once the sink has stored every record, `413`
/// past `--ingest-max-bytes`, `408` if the client goes silent for [`INGEST_IDLE_TIMEOUT`] or
/// sends slower than `--ingest-min-rate` (see [`Pace`]), `400` if the body breaks off. If the client disconnects, hyper drops this future and the
/// pipeline with it.
pub(crate) async fn ingest(State(ingest): State<Ingest>, body: Body) -> Response {
    let started = Instant::now();
    let _active = ActiveUpload::enter(&ingest.stats);
    let pipeline = Pipeline::spawn(ingest.settings, &ingest.stats);

    let pace = Pace::new(ingest.min_rate);
    let (outcome, totals) = match feed(body, &pipeline, pace).await {
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
        Err(Cut::TooSlow) => (
            StatusCode::REQUEST_TIMEOUT,
            Some(format!(
                "the upload is slower than {} bytes/s",
                ingest.min_rate
            )),
            Outcome::TooSlow,
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

/// How long the client may keep the server waiting for the body, over the whole upload:
/// [`INGEST_IDLE_TIMEOUT`] to start with, plus one second per `--ingest-min-rate` bytes
/// received (the `MinRate` of Apache's `mod_reqtimeout`). Only time spent waiting for the
/// client counts, never time the server spends not reading (its pipeline full). So a client
/// that keeps an upload alive with a byte every 29 s is cut off after about 30 s, while one
/// sending at the minimum rate or faster may take as long as it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pace {
    min_rate: u64,
    received: u64,
    waited: Duration,
}

impl Pace {
    fn new(min_rate: usize) -> Self {
        Self {
            min_rate: u64::try_from(min_rate).unwrap_or(u64::MAX).max(1),
            received: 0,
            waited: Duration::ZERO,
        }
    }

    /// How long to wait for the next frame, and what it means if none comes in that time:
    /// silence ([`Cut::Idle`]) or a client too slow overall ([`Cut::TooSlow`]).
    fn next_wait(&self) -> (Duration, Cut) {
        let nanos = u128::from(self.received) * 1_000_000_000 / u128::from(self.min_rate);
        let earned = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let left = INGEST_IDLE_TIMEOUT
            .saturating_add(earned)
            .saturating_sub(self.waited);
        if left < INGEST_IDLE_TIMEOUT {
            (left, Cut::TooSlow)
        } else {
            (INGEST_IDLE_TIMEOUT, Cut::Idle)
        }
    }

    /// A frame of `bytes` came after a wait of `waited`.
    fn received(&mut self, bytes: usize, waited: Duration) {
        self.received = self
            .received
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        self.waited = self.waited.saturating_add(waited);
    }
}

/// Frames smaller than this are "small": see [`SmallFrames`].
pub(crate) const SMALL_FRAME_BYTES: usize = 512;

/// How many small frames per second one upload is read at, at most (after a burst of a tenth
/// of that).
pub(crate) const MAX_SMALL_FRAMES_PER_SECOND: u32 = 20_000;

/// Backpressure on tiny body frames. Each frame costs hyper and the pipeline a few task
/// wake-ups whatever its size, so a body sent in 1-byte chunks costs about 750 times the CPU
/// per byte of one sent in 64 KiB chunks (measured: 16 µs against 22 ns per byte, debug
/// build). Hyper hands the body over one chunk per poll, so the frames cannot be merged before
/// they cost; instead, an upload's small frames are read at most [`MAX_SMALL_FRAMES_PER_SECOND`]
/// (the server stops reading meanwhile, as when its pipeline is full, and that time is not
/// the client's under `--ingest-min-rate`), which bounds the CPU one upload can take. Normal
/// uploads, in frames of kilobytes, are never slowed; a client sending one small record per
/// chunk is held to 20,000 records per second.
#[derive(Debug)]
struct SmallFrames {
    /// When the next small frame is due, were they read at exactly the limit (GCRA).
    due: Instant,
}

impl SmallFrames {
    const INTERVAL: Duration =
        Duration::from_nanos(1_000_000_000 / MAX_SMALL_FRAMES_PER_SECOND as u64);
    /// How far ahead of the schedule an upload may run.
    const BURST: Duration = Duration::from_millis(100);

    fn new() -> Self {
        Self {
            due: Instant::now(),
        }
    }

    /// Counts a frame of `bytes`; waits if small ones come faster than the limit. The wait
    /// lets half a burst build up, so that timers fire every few hundred frames, not per frame.
    async fn frame(&mut self, bytes: usize) {
        if bytes >= SMALL_FRAME_BYTES {
            return;
        }
        let now = Instant::now();
        self.due = self.due.max(now) + Self::INTERVAL;
        if self.due > now + Self::BURST {
            tokio::time::sleep_until(self.due - Self::BURST / 2).await;
        }
    }
}

/// Reads the body frame by frame into the pipeline, one chunk at a time: the next frame is
/// asked for only once the pipeline has taken the last one. The wait for each frame is bounded
/// by `pace`; small frames are read at a bounded rate ([`SmallFrames`]).
async fn feed(mut body: Body, pipeline: &Pipeline, mut pace: Pace) -> Result<(), Cut> {
    let mut small_frames = SmallFrames::new();
    loop {
        let (wait, cut) = pace.next_wait();
        let asked = Instant::now();
        // A frame that is already there is taken even when no wait is left.
        let frame = tokio::time::timeout(wait, body.frame())
            .await
            .map_err(|_| cut)?;
        let waited = asked.elapsed();
        let frame = match frame {
            None => return Ok(()),
            Some(Ok(frame)) => frame,
            Some(Err(err)) if is_too_large(&err) => return Err(Cut::TooLarge),
            Some(Err(err)) => return Err(Cut::Aborted(err)),
        };
        // Trailers, if any, carry no records.
        if let Ok(data) = frame.into_data() {
            pace.received(data.len(), waited);
            small_frames.frame(data.len()).await;
            pipeline.push(data).await.map_err(|Broken| Cut::Broken)?;
        } else {
            pace.received(0, waited);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_grows_with_the_bytes_received() {
        let mut pace = Pace::new(1000);
        let (wait, cut) = pace.next_wait();
        assert_eq!(
            (wait, matches!(cut, Cut::Idle)),
            (INGEST_IDLE_TIMEOUT, true)
        );
        // 29 s for one byte: 1 ms earned, 1.001 s left.
        pace.received(1, Duration::from_secs(29));
        let (wait, cut) = pace.next_wait();
        assert_eq!(wait, Duration::from_millis(1001));
        assert!(matches!(cut, Cut::TooSlow));
        // At the minimum rate, the wait never shrinks.
        let mut pace = Pace::new(1000);
        for _ in 0..100 {
            pace.received(1000, Duration::from_secs(1));
        }
        assert_eq!(pace.next_wait().0, INGEST_IDLE_TIMEOUT);
        // No overflow on absurd numbers.
        let mut pace = Pace::new(usize::MAX);
        pace.received(usize::MAX, Duration::MAX);
        assert_eq!(pace.next_wait().0, Duration::ZERO);
    }
}
