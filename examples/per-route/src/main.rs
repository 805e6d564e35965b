//! Run with: cargo run -p example-per-route
//!
//! Different gates for different route groups:
//!
//! - `/reports/{id}` is expensive: at most 2 at once, and no waiting (a report that cannot start
//!   now is answered 503 at once, so it never piles up);
//! - everything else shares one gate of 64 with a 100 ms wait;
//! - `/healthz` bypasses the outer gate, so a load balancer never takes an overloaded but
//!   healthy instance out of rotation.

#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request};
use axum::routing::get;
use floodgate::GateLayer;

/// The app: `global` slots for the whole app, `reports` slots for the report group within it.
fn app(global: usize, reports: usize) -> Router {
    let report_gate = GateLayer::new(reports).max_wait(Duration::ZERO);
    let reports = Router::new()
        .route("/{id}", get(report))
        // `route_layer`: the gate guards only these routes (a 404 is not gated).
        .route_layer(report_gate);

    let global_gate = GateLayer::new(global)
        .max_wait(Duration::from_millis(100))
        .bypass(|request: &Request| request.uri().path() == "/healthz");

    Router::new()
        .nest("/reports", reports)
        .route("/items", get(items))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(global_gate)
}

async fn report(Path(id): Path<u32>) -> String {
    tokio::time::sleep(Duration::from_secs(2)).await;
    format!("report {id}\n")
}

async fn items() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "[]\n"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(64, 2)).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    async fn status(app: &Router, path: &str) -> StatusCode {
        app.clone().oneshot(get(path)).await.unwrap().status()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_report_gate_leaves_the_rest_of_the_app_alone() {
        let app = app(8, 1);
        let running = tokio::spawn(app.clone().oneshot(get("/reports/1")));
        tokio::task::yield_now().await;

        // The report gate is full and does not wait: 503 at once...
        let start = tokio::time::Instant::now();
        assert_eq!(
            status(&app, "/reports/2").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        // ...while the other routes are served.
        assert_eq!(status(&app, "/items").await, StatusCode::OK);

        assert_eq!(running.await.unwrap().unwrap().status(), StatusCode::OK);
        assert_eq!(status(&app, "/reports/2").await, StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn health_checks_bypass_a_full_gate() {
        let app = app(1, 1);
        let running = tokio::spawn(app.clone().oneshot(get("/reports/1")));
        tokio::task::yield_now().await;

        // The global gate is full: other routes wait 100 ms, then get 503...
        assert_eq!(
            status(&app, "/items").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // ...but the health check is not gated at all.
        let start = tokio::time::Instant::now();
        assert_eq!(status(&app, "/healthz").await, StatusCode::OK);
        assert_eq!(start.elapsed(), Duration::ZERO);

        assert_eq!(running.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
