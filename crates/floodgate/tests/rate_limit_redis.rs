//! The rate limit on a real Redis: the local limiter's answers from the shared store, one quota
//! for several replicas, and faults that never become errors.
//!
//! Every test starts its own `redis-server` on a free loopback port and stops it; without
//! `redis-server` installed they fail (`.ci/run` installs it). Time is real here (the buckets
//! run on the Redis server's clock): quotas are chosen so that the answers do not depend on
//! how fast the machine is, and the figures that do (rates, times) have wide tolerances.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use floodgate::metrics::PrometheusText;
use floodgate::rate_limit::redis::{Fallback, RedisStore};
use floodgate::rate_limit::{HeaderKey, KeyExtractor, RateLimiter};
use floodgate::{Quota, RateLimitLayer};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::redis_server::RedisServer;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

type Body = Full<bytes::Bytes>;

/// Where the buckets are, for the tests that run against both stores.
#[derive(Debug, Clone, Copy)]
enum Store {
    Local,
    Redis,
}

/// A layer on `store` (a Redis store on `redis`).
fn on<E: KeyExtractor>(
    store: Store,
    layer: RateLimitLayer<E>,
    redis: &RedisServer,
) -> RateLimitLayer<E>
where
    E::Key: floodgate::rate_limit::redis::RedisKey,
{
    match store {
        Store::Local => layer,
        Store::Redis => layer.store(RedisStore::open(&redis.url()).unwrap()),
    }
}

/// One request through `layer` around a service that answers `200`.
async fn send<E: KeyExtractor>(
    layer: &RateLimitLayer<E>,
    request: Request<()>,
) -> Response<floodgate::rate_limit::ResponseBody<Body>> {
    let inner =
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Body::from("ok"))) });
    layer.layer(inner).oneshot(request).await.unwrap()
}

fn keyed(key: &str) -> Request<()> {
    Request::builder()
        .header("x-api-key", key)
        .body(())
        .unwrap()
}

fn header(response: &Response<impl Sized>, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn both_stores_admit_the_burst_then_answer_429_with_retry_after_and_the_fields() {
    let redis = RedisServer::start();
    for store in [Store::Local, Store::Redis] {
        // One token a second: the answers do not depend on how fast the requests go.
        let quota = Quota::per_minute(60).burst(3);
        let layer = on(store, RateLimitLayer::new(quota), &redis).headers_on_admitted(true);
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let response = send(&layer, Request::new(())).await;
            assert_eq!(response.status(), StatusCode::OK, "{store:?}");
            assert_eq!(
                header(&response, "ratelimit-policy"),
                r#""default";q=60;w=60"#
            );
            remaining.push(header(&response, "ratelimit"));
        }
        assert_eq!(
            remaining,
            [
                r#""default";r=2;t=1"#,
                r#""default";r=1;t=1"#,
                r#""default";r=0;t=1"#
            ],
            "{store:?}"
        );
        let over = send(&layer, Request::new(())).await;
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS, "{store:?}");
        assert_eq!(header(&over, "retry-after"), "1", "{store:?}");
        assert_eq!(
            header(&over, "ratelimit"),
            r#""default";r=0;t=1"#,
            "{store:?}"
        );
        let snapshot = layer.limiter().snapshot();
        assert_eq!((snapshot.admitted, snapshot.rejected), (3, 1), "{store:?}");
        assert_eq!((snapshot.store_errors, snapshot.fallback), (0, false));
    }
}

#[tokio::test]
async fn both_stores_keep_keyed_buckets_apart() {
    let redis = RedisServer::start();
    for store in [Store::Local, Store::Redis] {
        let key = HeaderKey::from_static("x-api-key");
        let layer = on(
            store,
            RateLimitLayer::keyed(Quota::per_minute(60).burst(2), key),
            &redis,
        );
        assert_eq!(send(&layer, keyed("a")).await.status(), StatusCode::OK);
        assert_eq!(send(&layer, keyed("a")).await.status(), StatusCode::OK);
        let over = send(&layer, keyed("a")).await.status();
        assert_eq!(over, StatusCode::TOO_MANY_REQUESTS, "{store:?}");
        assert_eq!(
            send(&layer, keyed("b")).await.status(),
            StatusCode::OK,
            "{store:?}"
        );
    }
}

#[tokio::test]
async fn both_stores_wait_for_a_token_within_max_wait() {
    let redis = RedisServer::start();
    for store in [Store::Local, Store::Redis] {
        // A token every 100 ms.
        let quota = Quota::per_second(10).burst(1);
        let waiting =
            on(store, RateLimitLayer::new(quota.clone()), &redis).max_wait(Duration::from_secs(2));
        let started = Instant::now();
        assert_eq!(
            send(&waiting, Request::new(())).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            send(&waiting, Request::new(())).await.status(),
            StatusCode::OK
        );
        let waited = started.elapsed();
        // The second token cannot come sooner (a wide margin for the two clocks).
        assert!(waited >= Duration::from_millis(60), "{store:?}: {waited:?}");

        // Without max_wait the same second request is rejected at once.
        let prefix = format!("{store:?}-reject:");
        let rejecting = match store {
            Store::Local => RateLimitLayer::new(quota),
            Store::Redis => RateLimitLayer::new(quota)
                .store(RedisStore::open(&redis.url()).unwrap().prefix(prefix)),
        };
        assert_eq!(
            send(&rejecting, Request::new(())).await.status(),
            StatusCode::OK
        );
        let over = send(&rejecting, Request::new(())).await.status();
        assert_eq!(over, StatusCode::TOO_MANY_REQUESTS, "{store:?}");
    }
}

#[tokio::test]
async fn a_bucket_key_expires_when_the_bucket_is_full_again() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap().prefix("shop:");
    let layer = RateLimitLayer::new(Quota::per_second(10).burst(5).named("api")).store(store);
    assert_eq!(
        send(&layer, Request::new(())).await.status(),
        StatusCode::OK
    );

    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("shop:api:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    // One token taken: full again 100 ms later.
    assert!((1..=100).contains(&ttl), "PTTL {ttl}");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg("shop:api:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(exists, 0, "an idle bucket costs nothing");
}

/// Drives `replicas` (each request to one picked at random) at `per_second` requests a second for `duration`; returns the
/// statuses seen (200, 429, anything else) and the elapsed time.
async fn drive(
    replicas: &[RateLimitLayer],
    per_second: u32,
    duration: Duration,
    statuses: &Statuses,
) -> Duration {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < duration {
        ticks.tick().await;
        // A pseudo-random replica (round-robin would hand every token to the same one).
        let pick = (sent as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let layer = replicas[pick as usize % replicas.len()].clone();
        let statuses = Arc::clone(statuses);
        tasks.spawn(async move {
            let status = send(&layer, Request::new(())).await.status();
            statuses.count(status);
        });
        sent += 1;
    }
    let elapsed = started.elapsed();
    while tasks.join_next().await.is_some() {}
    elapsed
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    limited: AtomicU64,
    other: AtomicU64,
}

type Statuses = Arc<Counts>;

impl Counts {
    fn count(&self, status: StatusCode) {
        match status {
            StatusCode::OK => &self.ok,
            StatusCode::TOO_MANY_REQUESTS => &self.limited,
            _ => &self.other,
        }
        .fetch_add(1, Relaxed);
    }
}

fn admitted(limiters: &[RateLimiter]) -> u64 {
    limiters
        .iter()
        .map(|limiter| limiter.snapshot().admitted)
        .sum()
}

fn replicas(quota: &Quota, store: &RedisStore) -> Vec<RateLimitLayer> {
    (0..3)
        .map(|_| RateLimitLayer::new(quota.clone()).store(store.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_quota() {
    let redis = RedisServer::start();
    let quota = Quota::per_second(100).burst(10);
    let replicas = replicas(&quota, &RedisStore::open(&redis.url()).unwrap());
    let limiters: Vec<_> = replicas.iter().map(RateLimitLayer::limiter).collect();
    let statuses = Statuses::default();

    // 3 × the quota, spread over the replicas, for 3 s.
    let elapsed = drive(&replicas, 300, Duration::from_secs(3), &statuses).await;
    let admitted = admitted(&limiters);
    let allowed = 10.0 + 100.0 * elapsed.as_secs_f64();
    println!(
        "3 replicas, quota 100/s burst 10, offered 300/s for {elapsed:?}: admitted {admitted} \
         (quota allows {allowed:.0}; {:.1}/s), per replica {:?}",
        (admitted as f64 - 10.0) / elapsed.as_secs_f64(),
        limiters
            .iter()
            .map(|l| l.snapshot().admitted)
            .collect::<Vec<_>>(),
    );
    assert_eq!(statuses.other.load(Relaxed), 0);
    let error = (admitted as f64 - allowed).abs() / allowed;
    assert!(error <= 0.05, "admitted {admitted}, allowed {allowed:.0}");
    // Every replica admitted some: they share one bucket, not three.
    assert!(limiters.iter().all(|l| l.snapshot().admitted > 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_falls_back_without_5xx_and_restarting_it_restores_the_global_quota() {
    let redis = RedisServer::start();
    let quota = Quota::per_second(100).burst(10);
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .fallback(Fallback::Local(quota.clone().share(1.0 / 3.0)))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200));
    let replicas = replicas(&quota, &store);
    let limiters: Vec<_> = replicas.iter().map(RateLimitLayer::limiter).collect();
    let statuses = Statuses::default();
    let any_fallback = |limiters: &[RateLimiter]| limiters.iter().any(|l| l.snapshot().fallback);
    let all_global = |limiters: &[RateLimiter]| limiters.iter().all(|l| !l.snapshot().fallback);

    // Load through the whole test: 300/s for 6 s.
    let load = {
        let (replicas, statuses) = (replicas.clone(), Arc::clone(&statuses));
        tokio::spawn(async move { drive(&replicas, 300, Duration::from_secs(6), &statuses).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(all_global(&limiters));

    // Redis dies.
    let port = redis.stop();
    let killed = Instant::now();
    while !any_fallback(&limiters) {
        assert!(killed.elapsed() < Duration::from_secs(5), "no fallback");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let fell_back = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let errors = limiters
        .iter()
        .map(|l| l.snapshot().store_errors)
        .sum::<u64>();

    // Redis comes back (empty: no persistence).
    let redis = RedisServer::start_on(port);
    let restarted = Instant::now();
    while !all_global(&limiters) {
        assert!(restarted.elapsed() < Duration::from_secs(5), "no recovery");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let recovered = restarted.elapsed();

    // Global again: the three replicas share one quota.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = admitted(&limiters);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rate = (admitted(&limiters) - before) as f64 / window.elapsed().as_secs_f64();
    load.await.unwrap();
    println!(
        "Redis killed: fallback after {fell_back:?} ({errors} store errors); restarted: global \
         again after {recovered:?}, then {rate:.1} admitted/s (quota 100/s); 5xx: {}",
        statuses.other.load(Relaxed)
    );
    assert_eq!(
        statuses.other.load(Relaxed),
        0,
        "a store fault became an error"
    );
    assert!(
        fell_back < Duration::from_millis(100),
        "fallback after {fell_back:?}"
    );
    assert!((90.0..=115.0).contains(&rate), "{rate:.1}/s after recovery");
    drop(redis);
}

/// A fake Redis on loopback: `garbage` answers every connection with bytes that are not RESP;
/// otherwise it accepts and never answers.
async fn fake_redis(garbage: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            if garbage {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                tokio::spawn(async move {
                    let mut buffer = [0; 1024];
                    while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {
                        let _ = socket.write_all(b"%%% not resp at all\r\n").await;
                    }
                });
            } else {
                held.push(socket);
            }
        }
    });
    url
}

#[tokio::test]
async fn garbage_or_silence_from_the_store_is_decided_by_the_fallback_never_an_error() {
    for garbage in [true, false] {
        let url = fake_redis(garbage).await;
        let quota = Quota::per_minute(60).burst(2);
        let store = RedisStore::open(&url)
            .unwrap()
            .timeout(Duration::from_millis(50));
        // Local fallback: the layer's own quota, locally.
        let layer = RateLimitLayer::new(quota.clone()).store(store.clone());
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(send(&layer, Request::new(())).await.status());
        }
        assert_eq!(
            seen,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ],
            "garbage {garbage}"
        );
        let snapshot = layer.limiter().snapshot();
        assert!(
            snapshot.fallback && snapshot.store_errors >= 1,
            "{snapshot:?}"
        );
        let text = PrometheusText::new().rate_limit(&layer.limiter()).render();
        assert!(
            text.contains("floodgate_rate_fallback{policy=\"default\"} 1\n"),
            "{text}"
        );
        let errors = format!(
            "floodgate_rate_store_errors_total{{policy=\"default\"}} {}\n",
            snapshot.store_errors
        );
        assert!(text.contains(&errors), "{text}");

        let allow =
            RateLimitLayer::new(quota.clone()).store(store.clone().fallback(Fallback::Allow));
        for _ in 0..5 {
            assert_eq!(
                send(&allow, Request::new(())).await.status(),
                StatusCode::OK
            );
        }
        let deny = RateLimitLayer::new(quota).store(store.fallback(Fallback::Deny));
        let denied = send(&deny, Request::new(())).await;
        assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&denied, "retry-after"), "1");
    }
}
