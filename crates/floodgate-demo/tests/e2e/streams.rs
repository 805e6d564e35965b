//! `/stream` (server-sent events) and `--release-at`: held to the end of the body, open streams
//! fill the gate; released at the head, they do not, and `--max-streams` caps them instead.

use std::time::Duration;

use floodgate_demo::{Config, ReleaseAt};

use crate::support::{TestServer, client, eventually, scrape};

fn config(release_at: ReleaseAt) -> Config {
    Config {
        max_concurrency: 2,
        max_wait: Duration::ZERO,
        max_streams: 2,
        release_at,
        ..Config::default()
    }
}

/// Opens a stream that stays open for 30 s and reads its first event.
async fn open_stream(server: &TestServer, client: &reqwest::Client) -> reqwest::Response {
    let mut response = client
        .get(server.url("/stream?ms=30000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let event = response.chunk().await.unwrap().unwrap();
    assert_eq!(event, "data: 1\n\n");
    response
}

#[tokio::test]
async fn held_to_the_end_of_the_body_two_streams_fill_a_gate_of_two() {
    let server = TestServer::start(config(ReleaseAt::Body)).await;
    let client = client();
    let _streams = [
        open_stream(&server, &client).await,
        open_stream(&server, &client).await,
    ];
    assert_eq!(server.gate().snapshot().in_flight, 2);
    let fast = client.get(server.url("/fast")).send().await.unwrap();
    assert_eq!(fast.status(), 503, "the issue's symptom, as the default");
}

#[tokio::test]
async fn released_at_the_head_streams_leave_the_gate_free_and_are_capped_apart() {
    let server = TestServer::start(config(ReleaseAt::Headers)).await;
    let client = client();
    let streams = [
        open_stream(&server, &client).await,
        open_stream(&server, &client).await,
    ];
    let gate = server.gate().clone();
    eventually("the streams gave their permits back", || async {
        gate.snapshot().in_flight == 0
    })
    .await;
    let fast = client.get(server.url("/fast")).send().await.unwrap();
    assert_eq!(
        fast.status(),
        200,
        "open streams do not hold the request gate"
    );

    // The third stream is over --max-streams: 503 at once.
    let third = client.get(server.url("/stream")).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    let metrics = scrape(&client, &server.url("")).await;
    assert_eq!(
        metrics.get(r#"floodgate_in_flight{gate="streams"}"#),
        Some(&2.0)
    );
    assert_eq!(
        metrics.get(r#"floodgate_rejected_total{gate="streams",reason="timeout"}"#),
        Some(&1.0)
    );

    // A client that goes away frees its stream's slot.
    drop(streams);
    eventually("the streams closed", || async {
        let metrics = scrape(&client, &server.url("")).await;
        metrics.get(r#"floodgate_in_flight{gate="streams"}"#) == Some(&0.0)
    })
    .await;
}

#[tokio::test]
async fn a_stream_ends_after_its_time() {
    let server = TestServer::start(config(ReleaseAt::Body)).await;
    let body = client()
        .get(server.url("/stream?ms=250"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("data: 1\n\ndata: 2\n\n"), "{body:?}");
    assert_eq!(server.gate().snapshot().in_flight, 0);
}
