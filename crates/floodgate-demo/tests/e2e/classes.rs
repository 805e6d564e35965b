//! Request classes and deadlines through the demo's flags (`--priority-header`,
//! `--deadline-header`, `--critical-reserve`), on a real socket.

use std::time::Duration;

use floodgate_demo::{ClassesConfig, Config};

use crate::support::{TestServer, client, eventually, scrape};

fn config(max_queue: usize) -> Config {
    Config {
        max_concurrency: 1,
        max_wait: Duration::from_secs(5),
        max_queue,
        backend_capacity: 4,
        delay: Duration::from_millis(300),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_critical_request_evicts_a_sheddable_waiter_and_goes_first() {
    let server = TestServer::start(config(1)).await;
    let client = client();
    let gate = server.gate().clone();
    let get = |class: &'static str| {
        let request = client.get(server.url("/slow")).header("x-priority", class);
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };

    let running = get("default");
    eventually("the first request runs", || async {
        gate.snapshot().in_flight == 1
    })
    .await;
    let sheddable = get("sheddable");
    eventually("the sheddable one waits", || async {
        gate.snapshot().queued == 1
    })
    .await;
    let critical = get("critical");

    assert_eq!(sheddable.await.unwrap(), 503, "evicted from the full queue");
    assert_eq!(running.await.unwrap(), 200);
    assert_eq!(critical.await.unwrap(), 200);

    let metrics = scrape(&client, &server.url("")).await;
    for (series, expected) in [
        (
            r#"floodgate_rejected_total{gate="default",class="sheddable",reason="evicted"}"#,
            1.0,
        ),
        (
            r#"floodgate_admitted_total{gate="default",class="critical"}"#,
            1.0,
        ),
        (
            r#"floodgate_admitted_total{gate="default",class="default"}"#,
            1.0,
        ),
        (
            r#"floodgate_admitted_total{gate="default",class="sheddable"}"#,
            0.0,
        ),
    ] {
        assert_eq!(metrics.get(series), Some(&expected), "{series}");
    }
}

#[tokio::test]
async fn a_request_without_time_enough_is_answered_at_once() {
    let server = TestServer::start(config(16)).await;
    let client = client();
    let slow = || client.get(server.url("/slow"));

    // The gate learns that /slow takes 300 ms; a client with 100 ms left hears 503 at once.
    assert_eq!(slow().send().await.unwrap().status(), 200);
    let response = slow()
        .header("x-request-timeout-ms", "100")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().contains("deadline"));
    // With time enough, it is served.
    let response = slow()
        .header("x-request-timeout-ms", "5000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let metrics = scrape(&client, &server.url("")).await;
    let deadline = r#"floodgate_rejected_total{gate="default",class="default",reason="deadline"}"#;
    assert_eq!(metrics.get(deadline), Some(&1.0));
    assert_eq!(
        server.gate().snapshot().admitted,
        2,
        "the hurried request never ran"
    );
}

#[tokio::test]
async fn without_a_priority_header_the_gate_has_no_classes() {
    let server = TestServer::start(Config {
        classes: ClassesConfig::off(),
        ..config(16)
    })
    .await;
    let client = client();
    let response = client
        .get(server.url("/fast"))
        .header("x-priority", "critical")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let metrics = scrape(&client, &server.url("")).await;
    assert_eq!(
        metrics.get(r#"floodgate_admitted_total{gate="default"}"#),
        Some(&1.0),
        "the labels of a gate without classes"
    );
    assert_eq!(server.gate().snapshot().classes.critical.admitted, 0);
}
