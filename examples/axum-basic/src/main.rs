//! Run with: cargo run -p example-axum-basic
//!
//! One gate in front of a whole axum `Router`: at most 8 requests in flight across all routes,
//! a bounded wait of 100 ms for the next ones, and `503 Service Unavailable` with `Retry-After`
//! for the rest.
//!
//! Try it: `curl -i localhost:3000/work` answers after a second; run a few dozen at once and the
//! excess is answered 503 at once.

#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use floodgate::GateLayer;

/// The app: two routes sharing one gate of `limit` slots.
fn app(limit: usize) -> Router {
    let gate = GateLayer::new(limit)
        .max_wait(Duration::from_millis(100))
        .max_queue(64)
        .retry_after(Duration::from_secs(1));
    Router::new()
        .route("/work", get(work))
        .route("/", get(|| async { "hello\n" }))
        // `layer`, not `route_layer`: one gate (the layer's) for every route.
        .layer(gate)
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
    use tower::ServiceExt;

    use super::*;

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_routes_share_one_gate() {
        let app = app(1);
        // The only slot is taken by a slow request...
        let slow = tokio::spawn(app.clone().oneshot(get("/work")));
        tokio::task::yield_now().await;

        // ...so another route, waiting 100 ms in vain, is turned away with Retry-After.
        let rejected = app.clone().oneshot(get("/")).await.unwrap();
        assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejected.headers()["retry-after"], "1");

        assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
        let after = app.oneshot(get("/")).await.unwrap();
        assert_eq!(after.status(), StatusCode::OK);
    }
}
