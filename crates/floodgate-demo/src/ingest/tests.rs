//! `/ingest` through the app's router, on paused time, with bodies fed by hand.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, RETRY_AFTER};
use http::{Request, StatusCode};
use http_body_util::channel::{Channel, Sender};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt;

use super::handler::{MAX_SMALL_FRAMES_PER_SECOND, SMALL_FRAME_BYTES};
use super::{INGEST_IDLE_TIMEOUT, IngestConfig};
use crate::app::App;
use crate::config::Config;

fn config(batch_size: usize, sink_delay: Duration) -> Config {
    Config {
        ingest: IngestConfig {
            batch_size,
            sink_delay,
            ..IngestConfig::default()
        },
        max_wait: Duration::from_millis(100),
        ..Config::default()
    }
}

/// `{"id":N}` lines for every N in `ids`.
fn records(ids: std::ops::Range<u64>) -> String {
    ids.map(|id| format!("{{\"id\":{id}}}\n")).collect()
}

fn upload(body: impl Into<Body>) -> Request<Body> {
    Request::post("/ingest").body(body.into()).unwrap()
}

/// An upload whose body the test sends piece by piece (chunked: no length is announced).
fn streamed_upload(capacity: usize) -> (Sender<Bytes, axum::Error>, Request<Body>) {
    let (sender, body) = Channel::<Bytes, axum::Error>::new(capacity);
    (sender, upload(Body::new(body)))
}

fn spawn(router: &Router, request: Request<Body>) -> JoinHandle<Response> {
    let response = router.clone().oneshot(request);
    tokio::spawn(async move { response.await.unwrap() })
}

async fn answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    answer(router.clone().oneshot(request).await.unwrap()).await
}

/// The value of an unlabelled series (or one with its labels written out) on `/metrics`.
async fn metric(router: &Router, series: &str) -> f64 {
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn records_batches_and_malformed_lines_are_counted() {
    let router = App::new(&config(2, Duration::from_millis(10))).into_router();
    let body = "{\"id\":1}\nnot json\n\n{\"id\":2}\r\n[1]\n{\"id\":3}\n  {\"id\":4} \n{\"id\":";
    let (status, report) = send(&router, upload(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report,
        json!({
            "records": 4, "batches": 2, "malformed": 3, "malformed_lines": [2, 5, 8],
            "bytes": body.len(), "elapsed_ms": 20
        })
    );
    assert_eq!(
        metric(&router, "floodgate_demo_ingest_malformed_total").await,
        3.0
    );
    assert_eq!(
        metric(
            &router,
            "floodgate_demo_ingest_uploads_total{outcome=\"complete\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_first_malformed_line_numbers_are_listed() {
    let router = App::new(&config(10, Duration::ZERO)).into_router();
    let body = "x\n".repeat(25);
    let (_, report) = send(&router, upload(body)).await;
    assert_eq!(report["malformed"], 25);
    assert_eq!(
        report["malformed_lines"],
        json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    );
    assert_eq!(report["records"], 0);
}

#[tokio::test(start_paused = true)]
async fn the_sink_sets_the_pace() {
    let router = App::new(&config(100, Duration::from_millis(100))).into_router();
    let (status, report) = send(&router, upload(records(0..1000))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (report["records"].clone(), report["batches"].clone()),
        (json!(1000), json!(10))
    );
    assert_eq!(report["elapsed_ms"], 1000, "ten batches, 100ms each");
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_does_not_fill_goes_to_the_sink_after_the_timeout() {
    let router = App::new(&Config {
        ingest: IngestConfig {
            batch_timeout: Duration::from_millis(100),
            ..config(1000, Duration::from_millis(10)).ingest
        },
        ..config(1000, Duration::from_millis(10))
    })
    .into_router();
    let (mut sender, request) = streamed_upload(1);
    let upload = spawn(&router, request);
    sender.send_data(records(0..3).into()).await.unwrap();

    tokio::time::sleep(Duration::from_millis(99)).await;
    assert_eq!(
        metric(&router, "floodgate_demo_ingest_records_total").await,
        0.0
    );
    tokio::time::sleep(Duration::from_millis(11)).await;
    settle().await;
    assert_eq!(
        metric(&router, "floodgate_demo_ingest_records_total").await,
        3.0
    );
    assert_eq!(
        metric(&router, "floodgate_demo_ingest_batches_total").await,
        1.0
    );

    sender.send_data(records(3..5).into()).await.unwrap();
    drop(sender);
    let (status, report) = answer(upload.await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (report["records"].clone(), report["batches"].clone()),
        (json!(5), json!(2))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_sink_stops_the_reading_and_a_dropped_request_stops_the_pipeline() {
    let router = App::new(&config(10, Duration::from_secs(3600))).into_router();
    let (mut sender, request) = streamed_upload(1);
    let upload = spawn(&router, request);

    // Offer 200 chunks of one batch each; the pipeline takes a handful, then no more.
    let chunk = Bytes::from(records(0..10));
    let mut taken = 0;
    for _ in 0..200 {
        settle().await;
        if sender
            .try_send(hyper::body::Frame::data(chunk.clone()))
            .is_ok()
        {
            taken += 1;
        }
    }
    assert!((5..=12).contains(&taken), "{taken} chunks taken");
    assert_eq!(metric(&router, "floodgate_demo_ingest_tasks").await, 3.0);
    assert_eq!(metric(&router, "floodgate_demo_ingest_active").await, 1.0);
    assert_eq!(
        metric(&router, "floodgate_demo_ingest_records_total").await,
        0.0
    );

    // The client goes away: hyper drops the request's future.
    upload.abort();
    settle().await;
    assert_eq!(metric(&router, "floodgate_demo_ingest_tasks").await, 0.0);
    assert_eq!(metric(&router, "floodgate_demo_ingest_active").await, 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_breaks_off_is_answered_400_and_stops_the_pipeline() {
    let router = App::new(&config(10, Duration::from_millis(10))).into_router();
    let (mut sender, request) = streamed_upload(1);
    let upload = spawn(&router, request);
    sender.send_data(records(0..25).into()).await.unwrap();
    settle().await;
    sender.abort(axum::Error::new(std::io::Error::other("connection reset")));

    let (status, report) = answer(upload.await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("connection reset"),
        "{report}"
    );
    assert_eq!(metric(&router, "floodgate_demo_ingest_tasks").await, 0.0);
    assert_eq!(
        metric(
            &router,
            "floodgate_demo_ingest_uploads_total{outcome=\"aborted\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_ingest_limit_are_413_announced_or_not() {
    let router = App::new(&Config {
        ingest: IngestConfig {
            max_bytes: 1000,
            ..IngestConfig::default()
        },
        ..Config::default()
    })
    .into_router();

    // Announced: answered from the header.
    let announced = Request::post("/ingest")
        .header(CONTENT_LENGTH, 1001)
        .body(Body::from(vec![b'\n'; 1001]))
        .unwrap();
    assert_eq!(
        router.clone().oneshot(announced).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Chunked: cut off once past the limit, reporting what was stored before.
    let (mut sender, request) = streamed_upload(1);
    let upload = spawn(&router, request);
    let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(389));
    assert_eq!(line.len(), 400);
    for _ in 0..3 {
        if sender.send_data(line.clone().into()).await.is_err() {
            break;
        }
    }
    let (status, report) = answer(upload.await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(report["error"], "the upload is larger than 1000 bytes");
    assert!(report["bytes"].as_u64().unwrap() <= 1000, "{report}");
    assert_eq!(metric(&router, "floodgate_demo_ingest_tasks").await, 0.0);
}

#[tokio::test(start_paused = true)]
async fn uploads_are_not_bound_by_the_apps_body_limit() {
    let router = App::new(&config(1000, Duration::ZERO)).into_router();
    let body = records(0..200_000);
    assert!(body.len() > crate::MAX_BODY_BYTES);
    let (status, report) = send(&router, upload(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["records"], 200_000);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_answered_408() {
    let router = App::new(&config(10, Duration::ZERO)).into_router();
    let (mut sender, request) = streamed_upload(1);
    let start = Instant::now();
    let upload = spawn(&router, request);
    sender.send_data(records(0..3).into()).await.unwrap();
    let (status, report) = answer(upload.await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(start.elapsed(), INGEST_IDLE_TIMEOUT);
    assert_eq!(
        report["records"], 3,
        "stored by the batch timeout meanwhile"
    );
    drop(sender);
}

#[tokio::test(start_paused = true)]
async fn a_trickling_upload_is_cut_off_with_408_and_frees_its_permit() {
    // The probe's attack: a byte every 29 s, never 30 s of silence.
    let app = App::new(&Config {
        ingest: IngestConfig {
            concurrency: 1,
            ..IngestConfig::default()
        },
        ..config(10, Duration::ZERO)
    });
    let router = app.router();
    let (mut sender, request) = streamed_upload(1);
    let start = Instant::now();
    let uploading = spawn(&router, request);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(29)).await;
        if uploading.is_finished() || sender.send_data(Bytes::from_static(b" ")).await.is_err() {
            break;
        }
    }
    let (status, report) = answer(uploading.await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{report}");
    assert_eq!(report["error"], "the upload is slower than 1024 bytes/s");
    // 30 s of head start, plus 1/1024 s earned by the one byte received.
    let took = Duration::from_millis(report["elapsed_ms"].as_u64().unwrap());
    assert!(
        took >= INGEST_IDLE_TIMEOUT && took < INGEST_IDLE_TIMEOUT + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(report["bytes"], 1);
    drop(sender);

    assert_eq!(
        app.ingest_gate().snapshot().in_flight,
        0,
        "the permit is free"
    );
    let (status, report) = send(&router, upload(records(0..5))).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(5))
    );
    assert_eq!(
        metric(
            &router,
            "floodgate_demo_ingest_uploads_total{outcome=\"too_slow\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn an_upload_at_the_minimum_rate_may_take_its_time() {
    let router = App::new(&Config {
        ingest: IngestConfig {
            min_rate: 1000,
            ..IngestConfig::default()
        },
        ..config(10, Duration::ZERO)
    })
    .into_router();
    let (mut sender, request) = streamed_upload(1);
    let uploading = spawn(&router, request);
    // 1000 bytes a second for two minutes, well past the 30 s head start.
    let record = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(989));
    assert_eq!(record.len(), 1000);
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sender.send_data(record.clone().into()).await.unwrap();
    }
    drop(sender);
    let (status, report) = answer(uploading.await.unwrap()).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(120)),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn time_the_server_spends_not_reading_is_not_the_clients() {
    // A sink taking 60 s per batch of one record: the client waits on the server for minutes,
    // its next chunks ready all along.
    let router = App::new(&Config {
        ingest: IngestConfig {
            min_rate: 1_000_000,
            batch_size: 1,
            sink_delay: Duration::from_secs(60),
            ..IngestConfig::default()
        },
        ..config(1, Duration::ZERO)
    })
    .into_router();
    let (mut sender, request) = streamed_upload(8);
    for id in 0..8 {
        sender.send_data(records(id..id + 1).into()).await.unwrap();
    }
    drop(sender);
    let (status, report) = send(&router, request).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(8)),
        "{report}"
    );
    assert!(
        report["elapsed_ms"].as_u64().unwrap() >= 7 * 60_000,
        "{report}"
    );
}

/// Sends `body` as frames of `size` bytes from a task; returns the answer and how long it took.
async fn upload_in_frames(
    router: &Router,
    body: String,
    size: usize,
) -> (StatusCode, Value, Duration) {
    let (mut sender, request) = streamed_upload(64);
    let start = Instant::now();
    let uploading = spawn(router, request);
    let bytes = Bytes::from(body);
    for offset in (0..bytes.len()).step_by(size) {
        let frame = bytes.slice(offset..bytes.len().min(offset + size));
        sender.send_data(frame).await.unwrap();
    }
    drop(sender);
    let (status, report) = answer(uploading.await.unwrap()).await;
    (status, report, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn tiny_frames_are_read_at_a_bounded_rate() {
    let router = App::new(&config(1000, Duration::ZERO)).into_router();
    // 4,000 records of 15 bytes in 1-byte frames: 60,000 frames, three seconds at the limit.
    let body = records(1_000_000..1_004_000);
    assert_eq!(body.len(), 60_000);
    let (status, report, took) = upload_in_frames(&router, body, 1).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(4000)),
        "{report}"
    );
    let frames = 60_000.0 / f64::from(MAX_SMALL_FRAMES_PER_SECOND);
    assert!(
        took.as_secs_f64() >= frames - 0.2 && took.as_secs_f64() <= frames + 0.5,
        "{took:?}"
    );

    // The same bytes in frames that are not small go at once.
    let body = records(1_000_000..1_004_000);
    let (status, report, took) = upload_in_frames(&router, body, SMALL_FRAME_BYTES).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(4000)),
        "{report}"
    );
    assert!(took < Duration::from_millis(200), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn ingest_has_its_own_gate_not_the_main_one() {
    let app = App::new(&Config {
        max_concurrency: 1,
        retry_after: Duration::from_secs(3),
        ingest: IngestConfig {
            concurrency: 1,
            ..IngestConfig::default()
        },
        ..config(10, Duration::ZERO)
    });
    let router = app.router();
    // /slow holds the main gate's only permit...
    let slow = spawn(
        &router,
        Request::get("/slow?ms=60000").body(Body::empty()).unwrap(),
    );
    settle().await;
    assert_eq!(app.gate().unwrap().snapshot().in_flight, 1);

    // ...an upload gets in anyway, and holds the ingest gate's only permit...
    let (mut sender, request) = streamed_upload(1);
    let first = spawn(&router, request);
    sender.send_data(records(0..5).into()).await.unwrap();
    settle().await;
    assert_eq!(app.ingest_gate().snapshot().in_flight, 1);

    // ...so a second upload waits --max-wait, then is turned away.
    let start = Instant::now();
    let second = router.clone().oneshot(upload(records(0..5))).await.unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.headers()[RETRY_AFTER], "3");
    assert_eq!(start.elapsed(), Duration::from_millis(100));

    drop(sender);
    let (status, report) = answer(first.await.unwrap()).await;
    assert_eq!(
        (status, report["records"].clone()),
        (StatusCode::OK, json!(5))
    );
    slow.abort();
}
