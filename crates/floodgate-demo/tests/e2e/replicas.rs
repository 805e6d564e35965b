//! Three demo processes sharing one rate limit through a real `redis-server` (`--redis-url`):
//! one quota for all of them, no 5xx when Redis dies, the global quota back when it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{DemoProcess, client, eventually, scrape};

#[path = "../../../floodgate/tests/support/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;

#[derive(Default)]
struct Statuses {
    ok: AtomicU64,
    limited: AtomicU64,
    other: AtomicU64,
}

/// `per_second` GETs of `/fast` a second, spread over `replicas` in turn, for `duration`.
async fn drive(replicas: &[String], per_second: u32, duration: Duration, statuses: &Arc<Statuses>) {
    let client = client();
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut requests = tokio::task::JoinSet::new();
    let mut sent = 0;
    while started.elapsed() < duration {
        ticks.tick().await;
        let request = client.get(&replicas[sent % replicas.len()]).send();
        let statuses = Arc::clone(statuses);
        requests.spawn(async move {
            let counter = match request.await.map(|response| response.status().as_u16()) {
                Ok(200) => &statuses.ok,
                Ok(429) => &statuses.limited,
                _ => &statuses.other,
            };
            counter.fetch_add(1, Relaxed);
        });
        sent += 1;
    }
    while requests.join_next().await.is_some() {}
}

async fn fallback_gauges(demos: &[DemoProcess]) -> Vec<f64> {
    let client = client();
    let mut gauges = Vec::new();
    for demo in demos {
        let metrics = scrape(&client, &demo.url("")).await;
        gauges.push(metrics[r#"floodgate_rate_fallback{policy="default"}"#]);
    }
    gauges
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_quota_in_redis_and_survive_its_death() {
    let redis = RedisServer::start();
    let url = redis.url();
    let args = [
        "--rate",
        "50",
        "--burst",
        "10",
        "--redis-url",
        url.as_str(),
        "--rate-replicas",
        "3",
    ];
    let demos: Vec<_> = (0..3).map(|_| DemoProcess::start(&args)).collect();
    assert!(
        demos[0]
            .log()
            .iter()
            .any(|line| line.contains("redis=redis://127.0.0.1"))
    );
    let urls: Vec<_> = demos.iter().map(|demo| demo.url("/fast")).collect();

    // 3 × the quota for 3 s: one quota for the three, not three.
    let statuses = Arc::new(Statuses::default());
    let started = Instant::now();
    drive(&urls, 150, Duration::from_secs(3), &statuses).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok = statuses.ok.load(Relaxed);
    let allowed = 10.0 + 50.0 * elapsed;
    println!(
        "3 demo replicas, 50/s burst 10 in Redis, 150/s offered: {ok} × 200 in {elapsed:.2} s (quota: {allowed:.0})"
    );
    assert!(
        (ok as f64 - allowed).abs() <= 0.1 * allowed,
        "{ok} admitted, {allowed:.0} allowed"
    );
    assert_eq!(statuses.other.load(Relaxed), 0);
    assert_eq!(fallback_gauges(&demos).await, [0.0; 3]);

    // Redis dies under load: answers go on (local thirds of the quota), never a 5xx.
    let statuses = Arc::new(Statuses::default());
    let load = {
        let (urls, statuses) = (urls.clone(), Arc::clone(&statuses));
        tokio::spawn(async move { drive(&urls, 150, Duration::from_secs(3), &statuses).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let port = redis.stop();
    eventually("every replica falls back", || {
        let demos = &demos;
        async move { fallback_gauges(demos).await == [1.0; 3] }
    })
    .await;
    let redis = RedisServer::start_on(port);
    eventually("every replica is global again", || {
        let demos = &demos;
        async move { fallback_gauges(demos).await == [0.0; 3] }
    })
    .await;
    load.await.unwrap();
    assert_eq!(
        statuses.other.load(Relaxed),
        0,
        "a Redis fault became an error"
    );
    assert!(statuses.ok.load(Relaxed) > 0 && statuses.limited.load(Relaxed) > 0);
    let client = client();
    let metrics = scrape(&client, &demos[0].url("")).await;
    assert!(metrics[r#"floodgate_rate_store_errors_total{policy="default"}"#] >= 1.0);
    drop(redis);
}
