//! Memory stays bounded with many distinct keys: idle buckets are evicted.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use floodgate::rate_limit::{RateLimiter, RequestHead};
use floodgate::{Quota, RateLimitLayer};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};

const INTERVAL: Duration = Duration::from_secs(10);

/// Waits (in real time, bounded) for the background sweep to bring the keys down to `at_most`.
async fn keys_drop_to(limiter: &RateLimiter, at_most: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let keys = limiter.snapshot().keys;
        if keys <= at_most || std::time::Instant::now() > deadline {
            return keys;
        }
        // The sweep runs on the blocking pool: give it real time, not paused time.
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[tokio::test(start_paused = true)]
async fn a_million_distinct_keys_are_evicted_after_the_interval() {
    // Every request brings a new key, like a client spraying addresses.
    let next = Arc::new(AtomicU64::new(0));
    let key = move |_: &RequestHead<'_>| Some(next.fetch_add(1, Ordering::Relaxed));
    let layer = RateLimitLayer::keyed(Quota::per_second(1).burst(1), key)
        .eviction_interval(INTERVAL)
        .max_keys(1_000_000);
    let limiter = layer.limiter();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));

    // Two threads (on the test's paused clock), calling and polling directly: the admitted
    // path completes on its first poll.
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let mut service = service.clone();
            let runtime = &runtime;
            scope.spawn(move || {
                let _clock = runtime.enter();
                let mut cx = Context::from_waker(Waker::noop());
                for _ in 0..500_000 {
                    let mut future = std::pin::pin!(service.call(Request::new(())));
                    match future.as_mut().poll(&mut cx) {
                        Poll::Ready(Ok(response)) => assert_eq!(response.status(), StatusCode::OK),
                        other => panic!("a new key is admitted at once, got {other:?}"),
                    }
                }
            });
        }
    });
    assert_eq!(limiter.snapshot().keys, 1_000_000);

    // One interval later, every bucket is full again and the sweep drops it.
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(keys_drop_to(&limiter, 0).await, 0);
    assert_eq!(limiter.snapshot().admitted, 1_000_000);
}

#[tokio::test(start_paused = true)]
async fn a_bucket_still_refilling_is_not_evicted() {
    // Evicting a bucket that is not full would hand its key a fresh burst. (No background sweep
    // here: `evict_idle` by hand, at chosen instants.)
    let layer = RateLimitLayer::keyed(
        Quota::per_minute(1).burst(1),
        |request: &RequestHead<'_>| request.headers().get("x-key").cloned(),
    )
    .eviction_interval(Duration::from_secs(86_400));
    let limiter = layer.limiter();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let status = |key: &'static str| {
        let request = Request::builder().header("x-key", key).body(()).unwrap();
        let service = service.clone();
        async move { service.oneshot(request).await.unwrap().status() }
    };
    assert_eq!(status("idle").await, StatusCode::OK);
    assert_eq!(status("busy").await, StatusCode::OK);
    assert_eq!(status("busy").await, StatusCode::TOO_MANY_REQUESTS);

    // Half a refill later, neither bucket may go.
    tokio::time::advance(Duration::from_secs(30)).await;
    limiter.evict_idle();
    assert_eq!(limiter.snapshot().keys, 2);
    assert_eq!(status("busy").await, StatusCode::TOO_MANY_REQUESTS);

    // A bucket goes once it has been full for one emission interval (governor's rule): here
    // 60 s to refill, plus 60 s.
    tokio::time::advance(Duration::from_secs(90) - Duration::from_nanos(1)).await;
    limiter.evict_idle();
    assert_eq!(limiter.snapshot().keys, 2);
    tokio::time::advance(Duration::from_nanos(1)).await;
    limiter.evict_idle();
    assert_eq!(limiter.snapshot().keys, 0);
}

#[test]
fn without_a_runtime_eviction_is_manual() {
    let layer = RateLimitLayer::keyed(
        Quota::per_second(1000).burst(1),
        |request: &RequestHead<'_>| Some(request.uri().path().to_owned()),
    );
    let limiter = layer.limiter();
    let mut service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    for path in ["/a", "/b", "/c"] {
        let request = Request::get(path).body(()).unwrap();
        let mut future = std::pin::pin!(service.call(request));
        assert!(future.as_mut().poll(&mut cx).is_ready());
    }
    assert_eq!(limiter.snapshot().keys, 3);
    // Outside a runtime the buckets follow the real clock: a 1 ms refill, plus 1 ms.
    std::thread::sleep(Duration::from_millis(10));
    limiter.evict_idle();
    assert_eq!(limiter.snapshot().keys, 0);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_new_keys_is_bounded_and_gains_nothing() {
    use floodgate::rate_limit::HeaderKey;

    let layer = RateLimitLayer::keyed(
        Quota::per_minute(1).burst(1),
        HeaderKey::from_static("x-api-key"),
    )
    .max_keys(100);
    let limiter = layer.limiter();
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    // Large heads, as in the probe: 8 KB of other headers beside each new key.
    let padding = "p".repeat(8 * 1024);
    let request = |key: &str| {
        Request::get("/")
            .header("x-api-key", key)
            .header("x-padding", padding.as_str())
            .body(())
            .unwrap()
    };
    let mut admitted = 0;
    for n in 0..2_000 {
        let response = service
            .clone()
            .oneshot(request(&format!("key-{n}")))
            .await
            .unwrap();
        admitted += usize::from(response.status() == StatusCode::OK);
    }
    let snapshot = limiter.snapshot();
    assert_eq!(
        snapshot.keys, 100,
        "the store holds at most max_keys buckets"
    );
    assert_eq!(snapshot.keys_full, 1_900);
    // 100 keys with a bucket of their own, then the flood shares one bucket (burst 1).
    assert_eq!(admitted, 101);

    // A key that has a bucket keeps it: its next request is judged by its own bucket.
    let known = service.clone().oneshot(request("key-7")).await.unwrap();
    assert_eq!(known.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limiter.snapshot().keys_full,
        1_900,
        "a known key is not a new one"
    );

    // Once the buckets are idle (full again for one emission interval: two minutes here), the
    // next new key triggers an eviction and gets a bucket.
    tokio::time::advance(Duration::from_secs(121)).await;
    let fresh = service.oneshot(request("after-the-flood")).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(limiter.snapshot().keys_full, 1_900);
}
