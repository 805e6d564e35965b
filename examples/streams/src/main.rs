//! Run with: cargo run -p example-streams
//!
//! Long-lived responses (server-sent events here; long polls and WebSocket upgrades alike) and
//! a request limit. Held to the end of the body, as the gate does by default, each open stream
//! would hold a permit for its whole life: two streams would fill a gate of two, and every other
//! request would get 503. So:
//!
//! - the request gate releases the permit of `/events` when the response head is produced
//!   (`release_at(ReleaseAt::Headers)`, applied to that route only with `route_layer`): opening
//!   a stream counts as work, keeping it open does not;
//! - a second gate on `/events`, holding its permit until the stream ends (the default), caps
//!   the streams open at once, separately from the request limit, and turns the extra stream
//!   away at once (`max_wait` zero).
//!
//! `curl -N localhost:3000/events` opens a stream; `curl localhost:3000/work` is still served.

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use floodgate::gate::ReleaseAt;
use floodgate::{Gate, GateLayer};
use http_body_util::channel::Channel;

/// The gates of the app: requests in progress, and open streams.
struct Gates {
    requests: Gate,
    streams: Gate,
}

/// `/work` and `/events` behind a request gate of `requests`, and at most `streams` streams
/// open; each stream sends `ticks` events a second apart.
fn app(requests: usize, streams: usize, ticks: u32) -> (Router, Gates) {
    let request_gate = GateLayer::new(requests).max_wait(Duration::from_millis(100));
    let stream_gate = GateLayer::new(streams)
        .max_wait(Duration::ZERO)
        .name("streams");
    let gates = Gates {
        requests: request_gate.gate().clone(),
        streams: stream_gate.gate().clone(),
    };
    let events = Router::new()
        .route("/events", get(move || events(ticks)))
        .route_layer(stream_gate)
        .route_layer(request_gate.clone().release_at(ReleaseAt::Headers));
    let work = Router::new()
        .route("/work", get(work))
        .route_layer(request_gate);
    (events.merge(work), gates)
}

/// A server-sent event stream: `ticks` events, one a second.
async fn events(ticks: u32) -> Response {
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(1);
    tokio::spawn(async move {
        for tick in 1..=ticks {
            let event = Bytes::from(format!("data: tick {tick}\n\n"));
            if sender.send_data(event).await.is_err() {
                return; // the client went away
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::new(body))
        .expect("a valid response")
}

async fn work() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "done\n"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let (app, gates) = app(64, 1000, 60);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            println!(
                "requests in progress: {}, streams open: {}",
                gates.requests.snapshot().in_flight,
                gates.streams.snapshot().in_flight
            );
        }
    });
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_hold_no_request_permit_and_are_capped_on_their_own() {
        let (app, gates) = app(2, 2, 3600);
        let mut first = app.clone().oneshot(get("/events")).await.unwrap();
        let second = app.clone().oneshot(get("/events")).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let event = first.body_mut().frame().await.unwrap().unwrap();
        assert_eq!(event.into_data().unwrap(), "data: tick 1\n\n");

        // Two streams open, a request gate of two: still free for work.
        assert_eq!(gates.requests.snapshot().in_flight, 0);
        assert_eq!(gates.streams.snapshot().in_flight, 2);
        let response = app.clone().oneshot(get("/work")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        // A third stream is over the stream cap: 503 at once.
        let started = tokio::time::Instant::now();
        let third = app.clone().oneshot(get("/events")).await.unwrap();
        assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(started.elapsed(), Duration::ZERO);

        // A client that goes away frees its stream's slot.
        drop(first);
        drop(second);
        assert_eq!(gates.streams.snapshot().in_flight, 0);
        let again = app.oneshot(get("/events")).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_ends_by_itself_and_gives_its_slot_back() {
        let (app, gates) = app(2, 1, 2);
        let response = app.oneshot(get("/events")).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "data: tick 1\n\ndata: tick 2\n\n");
        assert_eq!(gates.streams.snapshot().in_flight, 0);
        assert_eq!(gates.streams.snapshot().admitted, 1);
    }
}
