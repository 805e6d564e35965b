//! `/jobs` through the app's router, on paused time.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::header::{LOCATION, RETRY_AFTER};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::ServiceExt;

use super::{JOB_RESULT_TTL, JobsConfig};
use crate::app::App;
use crate::config::Config;

fn config(workers: usize, job_queue: usize) -> Config {
    Config {
        jobs: JobsConfig { workers, job_queue },
        max_wait: Duration::from_millis(100),
        delay: Duration::from_millis(500),
        ..Config::default()
    }
}

/// Sends a request; returns the status, the headers and the body as JSON.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

async fn post(router: &Router, path: &str) -> (StatusCode, http::HeaderMap, Value) {
    send(router, Request::post(path).body(Body::empty()).unwrap()).await
}

async fn get(router: &Router, path: &str) -> (StatusCode, Value) {
    let (status, _, json) = send(router, Request::get(path).body(Body::empty()).unwrap()).await;
    (status, json)
}

async fn metrics(router: &Router) -> String {
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn assert_metric(text: &str, line: &str) {
    assert!(
        text.lines().any(|rendered| rendered == line),
        "missing {line:?} in:\n{text}"
    );
}

async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// The `Location` of a `202`, and the id at its end.
fn location(headers: &http::HeaderMap) -> (String, String) {
    let location = headers[LOCATION].to_str().unwrap().to_owned();
    let id = location.strip_prefix("/jobs/").unwrap().to_owned();
    (location, id)
}

#[tokio::test(start_paused = true)]
async fn a_job_is_accepted_with_its_location_and_goes_from_queued_to_done() {
    let router = App::new(&config(1, 4)).into_router();
    let (status, headers, job) = post(&router, "/jobs?ms=300").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (first_url, first_id) = location(&headers);
    assert_eq!(first_id.len(), 32, "{first_id}");
    assert_eq!(
        job,
        json!({"id": first_id, "status": "queued", "work": "sleep", "ms": 300})
    );
    let (_, headers, second) = post(&router, "/jobs").await;
    let (second_url, second_id) = location(&headers);
    assert_ne!(first_id, second_id);
    assert_eq!(second["ms"], 500, "--delay without ?ms=");

    settle().await;
    assert_eq!(get(&router, &first_url).await.1["status"], "running");
    assert_eq!(get(&router, &second_url).await.1["status"], "queued");

    tokio::time::sleep(Duration::from_millis(300)).await;
    settle().await;
    let (status, first) = get(&router, &first_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        first,
        json!({
            "id": first_id, "status": "done", "work": "sleep", "ms": 300,
            "result": {"waited_ms": 0, "ran_ms": 300}
        })
    );
    settle().await;
    assert_eq!(get(&router, &second_url).await.1["status"], "running");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_answered_503_with_retry_after_once_the_wait_is_over() {
    let router = App::new(&Config {
        retry_after: Duration::from_millis(1500),
        ..config(1, 2)
    })
    .into_router();
    for _ in 0..3 {
        assert_eq!(
            post(&router, "/jobs?ms=10000").await.0,
            StatusCode::ACCEPTED
        );
        settle().await;
    }
    let start = Instant::now();
    let (status, headers, body) = post(&router, "/jobs?ms=10").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(start.elapsed(), Duration::from_millis(100), "--max-wait");
    assert_eq!(headers[RETRY_AFTER], "2");
    assert_eq!(body, json!({"error": "the job queue is full, retry later"}));

    let text = metrics(&router).await;
    for line in [
        "floodgate_demo_jobs_workers 1",
        "floodgate_demo_jobs_workers_busy 1",
        "floodgate_demo_jobs_queue_capacity 2",
        "floodgate_demo_jobs_queued 2",
        "floodgate_demo_jobs_results 0",
        "floodgate_demo_jobs_accepted_total 3",
        "floodgate_demo_jobs_total{outcome=\"rejected\"} 1",
        "floodgate_demo_jobs_total{outcome=\"done\"} 0",
        "floodgate_demo_requests_total{route=\"/jobs\",status=\"503\"} 1",
    ] {
        assert_metric(&text, line);
    }
}

#[tokio::test(start_paused = true)]
async fn results_are_kept_for_the_ttl_then_evicted() {
    let router = App::new(&config(1, 1)).into_router();
    let (url, id) = location(&post(&router, "/jobs?ms=10").await.1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    settle().await;
    assert_eq!(get(&router, &url).await.1["status"], "done");

    tokio::time::sleep(JOB_RESULT_TTL - Duration::from_millis(1)).await;
    assert_eq!(get(&router, &url).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (status, body) = get(&router, &url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": format!("no job {id}: unknown, or its result has expired")})
    );
    assert_metric(&metrics(&router).await, "floodgate_demo_jobs_results 0");
}

#[tokio::test(start_paused = true)]
async fn cpu_jobs_report_their_rounds() {
    let router = App::new(&config(1, 1)).into_router();
    let (status, headers, job) = post(&router, "/jobs?ms=5&work=cpu").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["work"], "cpu");
    let (url, _) = location(&headers);
    // Real time passes on the blocking thread; paused time does not move meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let done = loop {
        let (_, job) = get(&router, &url).await;
        if job["status"] == "done" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert!(done["result"]["rounds"].as_u64().unwrap() > 0, "{done}");
}

#[tokio::test]
async fn bad_requests_are_400_and_unknown_jobs_404() {
    let router = App::new(&config(1, 1)).into_router();
    let unknown = format!("/jobs/{}", "0123456789abcdef".repeat(2));
    assert_eq!(get(&router, &unknown).await.0, StatusCode::NOT_FOUND);
    for bad in ["/jobs/seven", "/jobs/1", "/jobs/-1"] {
        assert_eq!(get(&router, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    for bad in ["/jobs?ms=-1", "/jobs?ms=soon", "/jobs?work=gpu"] {
        assert_eq!(post(&router, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn jobs_are_not_behind_the_gate() {
    let app = App::new(&Config {
        max_concurrency: 1,
        ..config(1, 1)
    });
    let router = app.router();
    let slow = tokio::spawn(
        router
            .clone()
            .oneshot(Request::get("/slow?ms=10000").body(Body::empty()).unwrap()),
    );
    settle().await;
    assert_eq!(app.gate().unwrap().snapshot().in_flight, 1);
    let (status, headers, _) = post(&router, "/jobs?ms=1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(get(&router, &location(&headers).0).await.0, StatusCode::OK);
    slow.abort();
}
