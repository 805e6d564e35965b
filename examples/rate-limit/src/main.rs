//! Run with: cargo run -p example-rate-limit
//!
//! Per-API-key rate limits: every key gets 60 requests a minute with bursts of 10; a request
//! without a key is a `400`; a key over its rate gets `429 Too Many Requests` with
//! `Retry-After` and the `RateLimit-Policy`/`RateLimit` fields, which admitted responses carry
//! too, so well-behaved clients can pace themselves.
//!
//! Try it: `curl -i -H 'x-api-key: alice' localhost:3000/api/hello` a dozen times in a row;
//! `curl localhost:3000/stats` shows the limiter's counters.

#![forbid(unsafe_code)]

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use floodgate::rate_limit::{HeaderKey, MissingKey, RateLimiter};
use floodgate::{Quota, RateLimitLayer};

/// The app: `/api/*` limited per API key, `/stats` and `/healthz` not limited.
fn app() -> Router {
    let per_key = RateLimitLayer::keyed(
        Quota::per_minute(60).burst(10).named("per-key"),
        HeaderKey::from_static("x-api-key"),
    )
    .on_missing_key(MissingKey::BadRequest)
    .headers_on_admitted(true);
    let limiter = per_key.limiter();

    let api = Router::new()
        .route("/api/hello", get(|| async { "hello\n" }))
        .route("/api/time", get(|| async { "it is now\n" }))
        // `route_layer`: only these routes are limited, and all of them share the keys' buckets.
        .route_layer(per_key);
    Router::new()
        .merge(api)
        .route("/stats", get(stats))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(limiter)
}

async fn stats(State(limiter): State<RateLimiter>) -> String {
    let snapshot = limiter.snapshot();
    format!(
        "admitted {}\nrejected {}\nrejected without a key {}\nactive keys {}\n",
        snapshot.admitted, snapshot.rejected, snapshot.rejected_missing_key, snapshot.keys
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app()).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::response::Response;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get(app: &Router, path: &str, key: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let request = request.body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn each_key_has_its_own_burst_and_rate() {
        let app = app();
        for remaining in (0..10).rev() {
            let response = get(&app, "/api/hello", Some("alice")).await;
            assert_eq!(response.status(), StatusCode::OK);
            let expected = format!(r#""per-key";r={remaining};t=1"#);
            assert_eq!(response.headers()["ratelimit"], expected.as_str());
        }

        // Alice is over her rate; the fields tell her when to come back.
        let rejected = get(&app, "/api/time", Some("alice")).await;
        assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(rejected.headers()["retry-after"], "1");
        assert_eq!(
            rejected.headers()["ratelimit-policy"],
            r#""per-key";q=60;w=60"#
        );
        assert_eq!(rejected.headers()["ratelimit"], r#""per-key";r=0;t=1"#);

        // Bob is not affected; Alice gets a token back a second later.
        assert_eq!(
            get(&app, "/api/hello", Some("bob")).await.status(),
            StatusCode::OK
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            get(&app, "/api/hello", Some("alice")).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_required_and_other_routes_are_not_limited() {
        let app = app();
        let response = get(&app, "/api/hello", None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        for _ in 0..20 {
            assert_eq!(get(&app, "/healthz", None).await.status(), StatusCode::OK);
        }
        let stats = get(&app, "/stats", None).await;
        let body = axum::body::to_bytes(stats.into_body(), 1024).await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("rejected without a key 1\n"),
            "{body:?}"
        );
    }
}
