//! Run with: cargo run -p example-custom-rejection
//!
//! Rejections as RFC 9457 problem details: `503` with an `application/problem+json` body that
//! says why and when to come back, for API clients that parse errors. The gate still adds
//! `Retry-After` if the closure does not set it.

#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use floodgate::GateLayer;
use floodgate::gate::Rejection;
use serde_json::json;

/// The `Content-Type` of problem details (RFC 9457).
const PROBLEM_JSON: &str = "application/problem+json";

/// Builds the 503 answer for a request the gate turned away.
fn problem(rejection: &Rejection) -> Response {
    let body = json!({
        "type": "https://example.com/problems/overloaded",
        "title": "Service overloaded",
        "status": StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        "detail": rejection.to_string(),
        "reason": rejection.reason().as_str(),
        "retry_after_seconds": rejection.retry_after().as_secs(),
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

fn app(limit: usize) -> Router {
    let gate = GateLayer::new(limit)
        .max_wait(Duration::from_millis(100))
        .retry_after(Duration::from_secs(2))
        .on_reject(problem);
    Router::new().route("/work", get(work)).layer(gate)
}

async fn work() -> &'static str {
    tokio::time::sleep(Duration::from_secs(1)).await;
    "done\n"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(8)).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn rejections_are_problem_details() {
        let app = app(1);
        let running = tokio::spawn(app.clone().oneshot(get("/work")));
        tokio::task::yield_now().await;

        let rejected = app.oneshot(get("/work")).await.unwrap();
        assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejected.headers()["content-type"], PROBLEM_JSON);
        assert_eq!(rejected.headers()["retry-after"], "2");
        let body = rejected.into_body().collect().await.unwrap().to_bytes();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 503);
        assert_eq!(problem["reason"], "timeout");
        assert_eq!(problem["retry_after_seconds"], 2);

        assert_eq!(running.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
