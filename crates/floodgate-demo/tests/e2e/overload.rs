//! Overload against the gate: 503 with Retry-After, health unaffected, metrics that add up,
//! clients that give up while queued.

use std::time::Duration;

use floodgate_demo::Config;
use tokio::task::JoinHandle;

use crate::support::{TestServer, client, eventually, scrape, sum};

/// Two slots, a short wait, a long work time: of a burst of ten, two get in and the others wait
/// 20ms in vain. (Wide margins: on a loaded machine a late request may still be admitted, so
/// the tests assert "at least", not exact counts, except where they compare with the server.)
fn overload_config() -> Config {
    Config {
        max_concurrency: 2,
        max_wait: Duration::from_millis(20),
        delay: Duration::from_millis(600),
        ..Config::default()
    }
}

const BURST: usize = 10;

/// What a burst of `/slow` requests got back.
#[derive(Debug, Default)]
struct Outcome {
    ok: u64,
    rejected: u64,
}

fn start_burst(
    server: &TestServer,
    client: &reqwest::Client,
) -> Vec<JoinHandle<reqwest::Response>> {
    (0..BURST)
        .map(|_| {
            let request = client.get(server.url("/slow")).send();
            tokio::spawn(async move { request.await.expect("the server answers") })
        })
        .collect()
}

/// Collects the burst's answers; every 503 must carry an integer Retry-After.
async fn finish_burst(requests: Vec<JoinHandle<reqwest::Response>>) -> Outcome {
    let mut outcome = Outcome::default();
    for request in requests {
        let response = request.await.unwrap();
        match response.status().as_u16() {
            200 => outcome.ok += 1,
            503 => {
                outcome.rejected += 1;
                let retry_after = response.headers()["retry-after"].to_str().unwrap();
                assert_eq!(retry_after.parse::<u64>(), Ok(1), "integer Retry-After");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(outcome.ok >= 2, "both slots served: {outcome:?}");
    assert!(
        outcome.rejected >= 1,
        "the excess was turned away: {outcome:?}"
    );
    outcome
}

async fn until_in_flight(server: &TestServer, in_flight: usize) {
    let gate = server.gate().clone();
    eventually(&format!("{in_flight} requests are in flight"), || {
        let gate = gate.clone();
        async move { gate.snapshot().in_flight == in_flight }
    })
    .await;
}

#[tokio::test]
async fn overload_is_answered_503_with_retry_after_while_healthz_stays_fast() {
    let server = TestServer::start(overload_config()).await;
    let client = client();
    let requests = start_burst(&server, &client);
    until_in_flight(&server, 2).await;

    // The gate is full, and /healthz answers anyway: it is never gated.
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        server.gate().snapshot().in_flight,
        2,
        "healthz did not wait"
    );

    finish_burst(requests).await;
}

#[tokio::test]
async fn metrics_agree_with_the_responses() {
    let server = TestServer::start(overload_config()).await;
    let client = client();
    let outcome = finish_burst(start_burst(&server, &client)).await;
    let fast = client.get(server.url("/fast")).send().await.unwrap();
    assert_eq!(fast.status(), 200);
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let metrics = scrape(&client, &server.url("")).await;
    let value = |series: &str| {
        *metrics
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {metrics:#?}"))
    };
    let ok = outcome.ok as f64;
    let rejected = outcome.rejected as f64;

    assert_eq!(value(r#"floodgate_limit{gate="default"}"#), 2.0);
    assert_eq!(value(r#"floodgate_in_flight{gate="default"}"#), 0.0);
    // The demo's gate splits these by class (`--priority-header`): one series per class, and
    // every request here was of the default class.
    let gate = ("gate", "default");
    assert_eq!(sum(&metrics, "floodgate_queued", &[gate]), (0.0, 3));
    assert_eq!(
        sum(&metrics, "floodgate_admitted_total", &[gate]),
        (ok + 1.0, 3),
        "/slow and /fast"
    );
    assert_eq!(
        value(r#"floodgate_admitted_total{gate="default",class="default"}"#),
        ok + 1.0
    );
    let rejected_by_reason = ["timeout", "queue_full", "closed"].map(|reason| {
        sum(
            &metrics,
            "floodgate_rejected_total",
            &[gate, ("reason", reason)],
        )
        .0
    });
    assert_eq!(rejected_by_reason, [rejected, 0.0, 0.0]);
    assert_eq!(
        value(r#"floodgate_rejected_total{gate="default",class="default",reason="timeout"}"#),
        rejected
    );
    assert_eq!(
        value(r#"floodgate_queue_wait_seconds_count{gate="default"}"#),
        ok + 1.0
    );
    assert_eq!(
        value("floodgate_queue_wait_seconds_bucket{gate=\"default\",le=\"+Inf\"}"),
        ok + 1.0
    );

    assert_eq!(
        value("floodgate_demo_requests_total{route=\"/slow\",status=\"200\"}"),
        ok
    );
    assert_eq!(
        value("floodgate_demo_requests_total{route=\"/slow\",status=\"503\"}"),
        rejected
    );
    assert_eq!(
        value("floodgate_demo_requests_total{route=\"/fast\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        value("floodgate_demo_requests_total{route=\"/healthz\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        value("floodgate_demo_request_duration_seconds_count{route=\"/slow\"}"),
        BURST as f64
    );
    assert_eq!(value("floodgate_demo_backend_busy"), 0.0);
}

#[tokio::test]
async fn a_client_that_gives_up_while_queued_leaves_no_trace() {
    let server = TestServer::start(Config {
        max_concurrency: 1,
        max_wait: Duration::from_secs(30),
        ..Config::default()
    })
    .await;
    let gate = server.gate().clone();
    let client = client();

    // One request holds the only slot for a long time...
    let holder = tokio::spawn(client.get(server.url("/slow?ms=30000")).send());
    until_in_flight(&server, 1).await;

    // ...a second queues behind it, and gives up after 200ms.
    let impatient = tokio::spawn(
        client
            .get(server.url("/slow?ms=10"))
            .timeout(Duration::from_millis(200))
            .send(),
    );
    eventually("the second request is queued", || {
        let gate = gate.clone();
        async move { gate.snapshot().queued == 1 }
    })
    .await;
    let gave_up = impatient.await.unwrap().unwrap_err();
    assert!(gave_up.is_timeout(), "{gave_up}");
    eventually("the queue is empty again", || {
        let gate = gate.clone();
        async move { gate.snapshot().queued == 0 }
    })
    .await;
    let snapshot = gate.snapshot();
    assert_eq!(snapshot.in_flight, 1, "the holder still holds its slot");
    assert_eq!(snapshot.rejected.total(), 0, "leaving is not a rejection");

    // The holder gives up too: its slot comes back.
    holder.abort();
    eventually("nothing is in flight", || {
        let gate = gate.clone();
        async move { gate.snapshot().in_flight == 0 }
    })
    .await;

    // Every permit is usable: two requests in turn on the single slot, and one waiting.
    let first = tokio::spawn(client.get(server.url("/slow?ms=100")).send());
    let second = tokio::spawn(client.get(server.url("/slow?ms=10")).send());
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
    eventually("both slots are given back", || {
        let gate = gate.clone();
        async move { gate.snapshot().in_flight == 0 }
    })
    .await;
    let snapshot = gate.snapshot();
    assert_eq!(snapshot.queued, 0);
    assert_eq!(snapshot.admitted, 3);
}
