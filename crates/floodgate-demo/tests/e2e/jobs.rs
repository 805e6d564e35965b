//! `/jobs` on real sockets: 202 and Location, 503 after the wait, statuses over HTTP, and the
//! binary's shutdown with jobs running and queued.

use std::time::{Duration, Instant};

use floodgate_demo::{Config, JobsConfig};
use serde_json::Value;

use crate::support::{DemoProcess, TestServer, client, eventually, scrape, send_signal};

async fn submit(client: &reqwest::Client, url: String) -> (u16, Option<String>, Value) {
    let response = client.post(url).send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|value: &reqwest::header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let location = header("location").or_else(|| header("retry-after"));
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (status, location, body)
}

async fn job_status(client: &reqwest::Client, url: String) -> String {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let job: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    job["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_full_queue_is_answered_503_after_the_wait_and_jobs_report_their_progress() {
    let server = TestServer::start(Config {
        jobs: JobsConfig {
            workers: 1,
            job_queue: 1,
        },
        max_wait: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let client = client();

    let (status, location, job) = submit(&client, server.url("/jobs?ms=1500")).await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "{job}");
    assert_eq!((status, location), (202, Some(format!("/jobs/{id}"))));
    let running = server.url(&format!("/jobs/{id}"));
    eventually("the first job runs", || {
        let (client, url) = (client.clone(), running.clone());
        async move { job_status(&client, url).await == "running" }
    })
    .await;
    let (status, location, _) = submit(&client, server.url("/jobs?ms=10")).await;
    assert_eq!(status, 202);
    let second = server.url(&location.unwrap());
    assert_eq!(job_status(&client, second.clone()).await, "queued");

    // One worker busy, the only place taken: the third waits --max-wait in vain.
    let start = Instant::now();
    let (status, retry_after, body) = submit(&client, server.url("/jobs?ms=10")).await;
    let waited = start.elapsed();
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{body}");
    assert!(waited >= Duration::from_millis(200), "{waited:?}");

    eventually("the queued job is done", || {
        let (client, url) = (client.clone(), second.clone());
        async move { job_status(&client, url).await == "done" }
    })
    .await;
    let metrics = scrape(&client, &server.url("")).await;
    assert_eq!(metrics["floodgate_demo_jobs_total{outcome=\"done\"}"], 2.0);
    assert_eq!(
        metrics["floodgate_demo_jobs_total{outcome=\"rejected\"}"],
        1.0
    );
    assert_eq!(metrics["floodgate_demo_jobs_queued"], 0.0);
    assert_eq!(metrics["floodgate_demo_jobs_workers_busy"], 0.0);
}

#[tokio::test]
async fn sigterm_finishes_the_running_job_and_logs_the_queued_ones() {
    let mut demo = DemoProcess::start(&["--workers", "1", "--job-queue", "4"]);
    let client = client();
    let started = Instant::now();
    let mut ids = Vec::new();
    for ms in [800, 10, 10] {
        let (status, _, job) = submit(&client, demo.url(&format!("/jobs?ms={ms}"))).await;
        assert_eq!(status, 202);
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    let base = demo.url("");
    eventually("the first job runs, two wait", || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let metrics = scrape(&client, &base).await;
            metrics["floodgate_demo_jobs_workers_busy"] == 1.0
                && metrics["floodgate_demo_jobs_queued"] == 2.0
        }
    })
    .await;

    send_signal(demo.pid(), "TERM");
    let status = demo.exit_status().await;
    assert_eq!(status.code(), Some(0), "log: {:?}", demo.log());
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "the running job was waited for"
    );
    // The log is read by another thread: it may lag behind the exit.
    eventually("the shutdown is logged", || {
        let log = demo.log();
        async move {
            log.iter()
                .any(|line| line.contains("running jobs finished"))
        }
    })
    .await;
    let log = demo.log();
    let cancelled = log
        .iter()
        .find(|line| line.contains("cancelled the jobs still queued"))
        .unwrap_or_else(|| panic!("no cancellation logged: {log:?}"));
    assert!(
        cancelled.contains("cancelled=2")
            && !cancelled.contains(&ids[0])
            && cancelled.contains(&ids[1])
            && cancelled.contains(&ids[2]),
        "{cancelled}"
    );
    assert!(
        log.iter()
            .any(|line| line.contains("running jobs finished") && line.contains("finished=1")),
        "{log:?}"
    );
}

#[tokio::test]
async fn shutdown_logs_a_count_and_a_bounded_sample_of_the_cancelled_jobs() {
    let mut demo = DemoProcess::start(&[
        "--workers",
        "1",
        "--job-queue",
        "200",
        "--shutdown-grace",
        "1s",
    ]);
    let client = client();
    for _ in 0..101 {
        let (status, _, _) = submit(&client, demo.url("/jobs?ms=60000")).await;
        assert_eq!(status, 202);
    }
    send_signal(demo.pid(), "TERM");
    assert_eq!(demo.exit_status().await.code(), Some(0));
    eventually("the cancellation is logged", || {
        let log = demo.log();
        async move {
            log.iter()
                .any(|line| line.contains("cancelled the jobs still queued"))
        }
    })
    .await;
    let log = demo.log();
    let line = log
        .iter()
        .find(|line| line.contains("cancelled the jobs still queued"))
        .unwrap();
    // One hundred ids of 32 digits would make a line of 3.6 KB.
    assert!(line.len() < 600, "{} bytes: {line}", line.len());
    // The first job runs (unless shutdown came before a worker took it).
    assert!(
        (line.contains("cancelled=100") && line.contains("and 95 more"))
            || (line.contains("cancelled=101") && line.contains("and 96 more")),
        "{line}"
    );
}
