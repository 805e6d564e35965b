//! The rate limit in the app, in-process with paused time: exact to the token.

use std::net::SocketAddr;
use std::time::Duration;

use super::KeySpec;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::header::RETRY_AFTER;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{Rate, RateLimitConfig};
use crate::{App, Config, Limiter};

fn config(rate: &str, burst: u32, key: KeySpec) -> Config {
    Config {
        rate_limit: RateLimitConfig {
            rate: Some(rate.parse::<Rate>().unwrap()),
            burst: Some(burst),
            rate_key: key,
            ..RateLimitConfig::default()
        },
        ..Config::default()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

async fn get(router: &Router, path: &str) -> Response {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response.headers()[name].to_str().unwrap()
}

async fn metrics_text(router: &Router) -> String {
    let response = get(router, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|rendered| rendered == *line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_burst_then_the_rate_and_429s_never_take_a_gate_permit() {
    let app = App::new(&config("50", 10, KeySpec::Global));
    let router = app.router();
    for remaining in (0..10).rev() {
        let response = get(&router, "/fast").await;
        assert_eq!(response.status(), StatusCode::OK);
        // Admitted responses tell the client what is left.
        assert_eq!(
            header(&response, "ratelimit"),
            format!(r#""default";r={remaining};t=1"#)
        );
    }
    let rejected = get(&router, "/fast").await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&rejected, RETRY_AFTER.as_str()), "1");
    assert_eq!(
        header(&rejected, "ratelimit-policy"),
        r#""default";q=50;w=1"#
    );
    assert_eq!(header(&rejected, "ratelimit"), r#""default";r=0;t=1"#);
    assert_eq!(get(&router, "/slow?ms=0").await.status(), 429);

    // One emission interval later, exactly one more token.
    tokio::time::advance(Duration::from_millis(20)).await;
    assert_eq!(get(&router, "/slow?ms=0").await.status(), StatusCode::OK);
    assert_eq!(get(&router, "/fast").await.status(), 429);

    let limiter = app.rate_limiter().unwrap().snapshot();
    assert_eq!((limiter.admitted, limiter.rejected), (11, 3));
    // Only the admitted requests reached the gate.
    let gate = app.gate().unwrap().snapshot();
    assert_eq!(gate.admitted, 11);
    assert_eq!(gate.rejected.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn only_the_gated_routes_are_rate_limited() {
    let app = App::new(&config("0.001", 1, KeySpec::Global));
    let router = app.router();
    assert_eq!(get(&router, "/fast").await.status(), StatusCode::OK);
    assert_eq!(get(&router, "/fast").await.status(), 429);
    for _ in 0..3 {
        assert_eq!(get(&router, "/healthz").await.status(), StatusCode::OK);
        assert_eq!(get(&router, "/metrics").await.status(), StatusCode::OK);
        assert_eq!(get(&router, "/nope").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            get(&router, &format!("/jobs/{}", "0".repeat(32)))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
    let limiter = app.rate_limiter().unwrap().snapshot();
    assert_eq!((limiter.admitted, limiter.rejected), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn header_keys_have_buckets_of_their_own() {
    let app = App::new(&config("1", 2, "header:x-api-key".parse().unwrap()));
    let router = app.router();
    let with_key = |key: Option<&str>| {
        let mut request = Request::get("/fast");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.body(Body::empty()).unwrap()
    };
    let statuses = |key: Option<&'static str>| {
        let router = router.clone();
        async move {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                statuses.push(send(&router, with_key(key)).await.status().as_u16());
            }
            statuses
        }
    };
    assert_eq!(statuses(Some("alice")).await, [200, 200, 429]);
    assert_eq!(statuses(Some("bob")).await, [200, 200, 429]);
    // Requests without the header share one bucket of their own.
    assert_eq!(statuses(None).await, [200, 200, 429]);
    assert_eq!(app.rate_limiter().unwrap().snapshot().keys, 2);
}

#[tokio::test(start_paused = true)]
async fn peer_addresses_have_buckets_of_their_own() {
    let app = App::new(&config("1", 1, KeySpec::PeerIp));
    let router = app.router();
    let from = |ip: [u8; 4], port: u16| {
        let mut request = Request::get("/fast").body(Body::empty()).unwrap();
        // What `serve` inserts into every request.
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, port))));
        request
    };
    assert_eq!(
        send(&router, from([192, 0, 2, 1], 1000)).await.status(),
        200
    );
    // Another connection of the same client: the same bucket.
    assert_eq!(
        send(&router, from([192, 0, 2, 1], 2000)).await.status(),
        429
    );
    assert_eq!(
        send(&router, from([192, 0, 2, 2], 1000)).await.status(),
        200
    );
    assert_eq!(app.rate_limiter().unwrap().snapshot().keys, 2);
}

#[tokio::test(start_paused = true)]
async fn metrics_count_rate_rejections_with_the_gate_reasons() {
    let router = App::new(&config("50", 2, KeySpec::Global)).router();
    for _ in 0..5 {
        get(&router, "/fast").await;
    }
    let text = metrics_text(&router).await;
    assert_lines(
        &text,
        &[
            "# TYPE floodgate_rejected_total counter",
            // The demo's gate reports its classes (`--priority-header`).
            r#"floodgate_rejected_total{gate="default",class="default",reason="timeout"} 0"#,
            r#"floodgate_rejected_total{gate="default",class="critical",reason="queue_full"} 0"#,
            r#"floodgate_rejected_total{policy="default",reason="rate"} 3"#,
            r#"floodgate_admitted_total{gate="default",class="default"} 2"#,
            r#"floodgate_admitted_total{gate="default",class="sheddable"} 0"#,
            "# TYPE floodgate_rate_admitted_total counter",
            r#"floodgate_rate_admitted_total{policy="default"} 2"#,
            "# TYPE floodgate_rate_per_second gauge",
            r#"floodgate_rate_per_second{policy="default"} 50"#,
            r#"floodgate_rate_burst{policy="default"} 2"#,
            r#"floodgate_rate_keys{policy="default"} 0"#,
            r#"floodgate_rate_waiting{policy="default"} 0"#,
            r#"floodgate_demo_requests_total{route="/fast",status="200"} 2"#,
            r#"floodgate_demo_requests_total{route="/fast",status="429"} 3"#,
        ],
    );
    // One family: a second TYPE line would make the exposition invalid.
    let families = text
        .lines()
        .filter(|line| line.starts_with("# TYPE floodgate_rejected_total "))
        .count();
    assert_eq!(families, 1, "{text}");
}

#[tokio::test(start_paused = true)]
async fn without_the_gate_the_rejected_family_has_the_rate_only() {
    let router = App::new(&Config {
        limiter: Limiter::None,
        ..config("0.5", 1, KeySpec::Global)
    })
    .router();
    get(&router, "/fast").await;
    get(&router, "/fast").await;
    let text = metrics_text(&router).await;
    assert_lines(
        &text,
        &[
            r#"floodgate_rejected_total{policy="default",reason="rate"} 1"#,
            r#"floodgate_rate_per_second{policy="default"} 0.5"#,
        ],
    );
    assert!(!text.contains("reason=\"timeout\""), "{text}");
    assert!(!text.contains("floodgate_in_flight"), "{text}");
}

#[tokio::test]
async fn off_without_a_rate() {
    let app = App::new(&Config::default());
    assert!(app.rate_limiter().is_none());
    let router = app.router();
    let response = get(&router, "/fast").await;
    assert!(!response.headers().contains_key("ratelimit"));
    let text = metrics_text(&router).await;
    assert!(!text.contains("floodgate_rate_"), "{text}");
    assert!(!text.contains("reason=\"rate\""), "{text}");
}
