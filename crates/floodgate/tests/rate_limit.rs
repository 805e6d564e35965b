//! The rate limit as tower middleware, with paused time: exact to the token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use floodgate::rate_limit::{
    ClientIp, HeaderKey, KeyExtractor, MissingKey, OnReject, Reason, Rejection,
};
use floodgate::{Quota, RateLimitLayer};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceExt, service_fn};

type Body = Full<bytes::Bytes>;

/// The instants at which requests reached the inner service.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Instant>>>);

impl Calls {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn at(&self) -> Vec<Instant> {
        self.0.lock().unwrap().clone()
    }
}

/// The inner service: answers `200 ok` at once, recording when it was called.
#[derive(Clone)]
struct Inner(Calls);

impl Service<Request<()>> for Inner {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        self.0.0.lock().unwrap().push(Instant::now());
        std::future::ready(Ok(Response::new(Body::from("ok"))))
    }
}

fn inner(calls: &Calls) -> Inner {
    Inner(calls.clone())
}

/// The layer around a recording inner service.
fn limited<E: KeyExtractor, R: OnReject<Rejection, Body> + Clone>(
    layer: &RateLimitLayer<E, R>,
) -> (floodgate::rate_limit::RateLimitService<Inner, E, R>, Calls) {
    let calls = Calls::default();
    (layer.layer(inner(&calls)), calls)
}

fn request() -> Request<()> {
    Request::new(())
}

fn keyed(key: &str) -> Request<()> {
    Request::builder()
        .header("x-api-key", key)
        .body(())
        .unwrap()
}

async fn status<S>(service: &S, request: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Response = Response<floodgate::rate_limit::ResponseBody<Body>>> + Clone,
    S::Error: std::fmt::Debug,
{
    service.clone().oneshot(request).await.unwrap().status()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers[name].to_str().unwrap()
}

#[tokio::test(start_paused = true)]
async fn burst_then_steady_rate_exact_to_the_token() {
    // 10 per second, 5 at once: a token every 100 ms.
    let layer = RateLimitLayer::new(Quota::per_second(10).burst(5));
    let (service, calls) = limited(&layer);
    let start = Instant::now();

    // A client that tries every millisecond for 10 s gets the burst, then one per 100 ms.
    for _ in 0..10_000 {
        status(&service, request()).await;
        advance(Duration::from_millis(1)).await;
    }
    let at: Vec<Duration> = calls.at().iter().map(|at| *at - start).collect();
    // The burst goes to the first five tries (0..4 ms); the bucket is then empty, and the
    // token the first request started refilling arrives at 100 ms.
    let mut expected: Vec<Duration> = (0..5).map(Duration::from_millis).collect();
    expected.extend((1..=99).map(|k| Duration::from_millis(100 * k)));
    assert_eq!(at, expected);

    let snapshot = layer.limiter().snapshot();
    assert_eq!(snapshot.admitted, 104);
    assert_eq!(snapshot.rejected, 10_000 - 104);
}

#[tokio::test(start_paused = true)]
async fn an_idle_bucket_refills_to_the_burst_and_no_more() {
    let layer = RateLimitLayer::new(Quota::per_second(10).burst(3));
    let (service, calls) = limited(&layer);
    advance(Duration::from_secs(60)).await;
    for _ in 0..5 {
        status(&service, request()).await;
    }
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn rejection_is_429_with_retry_after_the_real_wait_rounded_up() {
    // One token every 2.5 s.
    let layer = RateLimitLayer::new(Quota::new(2, Duration::from_secs(5)).burst(1));
    let exact = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&exact);
    let layer = layer.on_reject(move |rejection: &Rejection| {
        *seen.lock().unwrap() = rejection.retry_after();
        let mut response = Response::new(Body::from("custom"));
        *response.status_mut() = rejection.status();
        response
    });
    let (service, calls) = limited(&layer);

    assert_eq!(status(&service, request()).await, StatusCode::OK);
    advance(Duration::from_millis(700)).await;

    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = exact.lock().unwrap().unwrap();
    assert_eq!(wait, Duration::from_millis(1800));
    // Whole seconds, rounded up; the closure's response got the fields it did not set.
    assert_eq!(header(response.headers(), "retry-after"), "2");
    assert_eq!(
        header(response.headers(), "ratelimit"),
        r#""default";r=0;t=2"#
    );

    // The wait is real: a nanosecond early is still too early, then the token is there.
    advance(wait - Duration::from_nanos(1)).await;
    assert_eq!(
        status(&service, request()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    advance(Duration::from_nanos(1)).await;
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_never_zero() {
    let layer = RateLimitLayer::new(Quota::per_second(1000).burst(1));
    let (service, _calls) = limited(&layer);
    service.clone().oneshot(request()).await.unwrap();
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}

#[tokio::test(start_paused = true)]
async fn default_rejection_has_the_draft_fields_and_a_plain_text_body() {
    let layer = RateLimitLayer::new(Quota::per_minute(100).burst(1).named("api"));
    let (service, _calls) = limited(&layer);
    service.clone().oneshot(request()).await.unwrap();
    let response = service.oneshot(request()).await.unwrap();

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = response.headers();
    assert_eq!(header(headers, "retry-after"), "1");
    assert_eq!(header(headers, "ratelimit-policy"), r#""api";q=100;w=60"#);
    assert_eq!(header(headers, "ratelimit"), r#""api";r=0;t=1"#);
    assert_eq!(headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        "too many requests: rate limit exceeded, retry later\n"
    );
}

/// A minimal structured-field list-of-items parser, enough to check the fields' syntax:
/// `"name";key=int;key=int, ...`.
fn parse_sf_list(value: &str) -> Vec<(String, Vec<(String, u64)>)> {
    value
        .split(',')
        .map(|member| {
            let mut parts = member.trim().split(';');
            let name = parts.next().unwrap();
            let name = name
                .strip_prefix('"')
                .and_then(|name| name.strip_suffix('"'))
                .unwrap_or_else(|| panic!("item {name:?} is not a string"));
            let params = parts
                .map(|param| {
                    let (key, value) = param.split_once('=').unwrap();
                    assert!(
                        key.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    );
                    (key.to_owned(), value.parse::<u64>().unwrap())
                })
                .collect();
            (name.to_owned(), params)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn admitted_responses_carry_the_fields_when_asked() {
    let layer = RateLimitLayer::new(Quota::per_second(50).burst(3)).headers_on_admitted(true);
    let (service, _calls) = limited(&layer);

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let policy = parse_sf_list(header(response.headers(), "ratelimit-policy"));
        assert_eq!(
            policy,
            [("default".into(), vec![("q".into(), 50), ("w".into(), 1)])]
        );
        let limit = parse_sf_list(header(response.headers(), "ratelimit"));
        assert_eq!(limit[0].1[1], ("t".into(), 1));
        remaining.push(limit[0].1[0].clone());
    }
    assert_eq!(
        remaining,
        [("r".into(), 2), ("r".into(), 1), ("r".into(), 0)]
    );

    // Off by default.
    let quiet = RateLimitLayer::new(Quota::per_second(50));
    let (service, _calls) = limited(&quiet);
    let response = service.oneshot(request()).await.unwrap();
    assert!(response.headers().get("ratelimit").is_none());
}

#[tokio::test(start_paused = true)]
async fn stacked_limits_each_append_their_fields() {
    let per_second =
        RateLimitLayer::new(Quota::per_second(10).named("burst")).headers_on_admitted(true);
    let per_hour =
        RateLimitLayer::new(Quota::per_hour(1000).named("hourly")).headers_on_admitted(true);
    let calls = Calls::default();
    let service = tower::ServiceBuilder::new()
        .layer(per_hour)
        .layer(per_second)
        .service(inner(&calls));
    let response = service.oneshot(request()).await.unwrap();
    let headers = response.headers();
    let policies: Vec<_> = headers
        .get_all("ratelimit-policy")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(
        policies,
        [r#""burst";q=10;w=1"#, r#""hourly";q=1000;w=3600"#]
    );
    let limits: Vec<_> = headers
        .get_all("ratelimit")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(limits, [r#""burst";r=9;t=1"#, r#""hourly";r=999;t=4"#]);
}

#[tokio::test(start_paused = true)]
async fn wait_mode_admits_exactly_when_the_token_arrives() {
    let layer =
        RateLimitLayer::new(Quota::per_second(10).burst(1)).max_wait(Duration::from_millis(250));
    let (service, calls) = limited(&layer);
    let start = Instant::now();

    assert_eq!(status(&service, request()).await, StatusCode::OK);
    let mut second = tokio_test::task::spawn(service.clone().oneshot(request()));
    let mut third = tokio_test::task::spawn(service.clone().oneshot(request()));
    assert_pending!(second.poll());
    assert_pending!(third.poll());
    assert_eq!(layer.limiter().snapshot().waiting, 2);

    // A third waiter's turn (300 ms) is past its deadline (250 ms): rejected at once.
    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(Instant::now(), start);

    advance(Duration::from_millis(99)).await;
    assert_pending!(second.poll());
    advance(Duration::from_millis(1)).await;
    assert_eq!(assert_ready_ok!(second.poll()).status(), StatusCode::OK);
    assert_pending!(third.poll());
    advance(Duration::from_millis(100)).await;
    assert_eq!(assert_ready_ok!(third.poll()).status(), StatusCode::OK);

    let at: Vec<Duration> = calls.at().iter().map(|at| *at - start).collect();
    assert_eq!(
        at,
        [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_millis(200)
        ]
    );
    let snapshot = layer.limiter().snapshot();
    assert_eq!(
        (snapshot.admitted, snapshot.rejected, snapshot.waiting),
        (3, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn wait_mode_rejects_at_once_when_no_token_can_come_within_max_wait() {
    let layer =
        RateLimitLayer::new(Quota::per_second(1).burst(1)).max_wait(Duration::from_millis(500));
    let (service, calls) = limited(&layer);
    let start = Instant::now();
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(
        Instant::now(),
        start,
        "no waiting for a token that cannot come"
    );
    assert_eq!(calls.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_loses_its_token_gives_up_within_max_wait() {
    let layer =
        RateLimitLayer::new(Quota::per_second(10).burst(1)).max_wait(Duration::from_millis(150));
    let (service, calls) = limited(&layer);
    let start = Instant::now();
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    let mut waiter = tokio_test::task::spawn(service.clone().oneshot(request()));
    assert_pending!(waiter.poll());

    // The token arrives at 100 ms, and a newcomer takes it before the waiter wakes.
    advance(Duration::from_millis(100)).await;
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    // The next one comes at 200 ms, past the waiter's deadline (150 ms): it gives up now.
    let response = assert_ready_ok!(waiter.poll());
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(Instant::now() - start, Duration::from_millis(100));
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_by_its_client_consumes_nothing() {
    let layer =
        RateLimitLayer::new(Quota::per_second(10).burst(1)).max_wait(Duration::from_secs(1));
    let (service, calls) = limited(&layer);
    assert_eq!(status(&service, request()).await, StatusCode::OK);

    let mut waiter = tokio_test::task::spawn(service.clone().oneshot(request()));
    assert_pending!(waiter.poll());
    assert_eq!(layer.limiter().snapshot().waiting, 1);
    advance(Duration::from_millis(50)).await;
    drop(waiter);
    assert_eq!(layer.limiter().snapshot().waiting, 0);

    // The token the waiter was waiting for is still there for the next client, at once.
    advance(Duration::from_millis(50)).await;
    let start = Instant::now();
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    assert_eq!(Instant::now(), start);
    assert_eq!(calls.count(), 2);
    let snapshot = layer.limiter().snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn keyed_buckets_are_independent() {
    let layer = RateLimitLayer::keyed(
        Quota::per_minute(1).burst(2),
        HeaderKey::from_static("x-api-key"),
    );
    let (service, _calls) = limited(&layer);

    for key in ["alice", "bob"] {
        assert_eq!(status(&service, keyed(key)).await, StatusCode::OK);
        assert_eq!(status(&service, keyed(key)).await, StatusCode::OK);
    }
    for key in ["alice", "bob"] {
        assert_eq!(
            status(&service, keyed(key)).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // A new key has its own full bucket.
    assert_eq!(status(&service, keyed("carol")).await, StatusCode::OK);
    // Requests without a key share one bucket (the default policy).
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    assert_eq!(status(&service, request()).await, StatusCode::OK);
    assert_eq!(
        status(&service, request()).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let snapshot = layer.limiter().snapshot();
    assert_eq!(snapshot.keys, 3);
    assert_eq!((snapshot.admitted, snapshot.rejected), (7, 3));
}

#[tokio::test(start_paused = true)]
async fn wait_mode_waiters_on_different_keys_do_not_queue_behind_each_other() {
    let layer = RateLimitLayer::keyed(
        Quota::per_second(10).burst(1),
        HeaderKey::from_static("x-api-key"),
    )
    .max_wait(Duration::from_millis(150));
    let (service, calls) = limited(&layer);
    let start = Instant::now();
    for key in ["a", "b"] {
        assert_eq!(status(&service, keyed(key)).await, StatusCode::OK);
    }
    let mut a = tokio_test::task::spawn(service.clone().oneshot(keyed("a")));
    let mut b = tokio_test::task::spawn(service.clone().oneshot(keyed("b")));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    advance(Duration::from_millis(100)).await;
    assert_eq!(assert_ready_ok!(a.poll()).status(), StatusCode::OK);
    assert_eq!(assert_ready_ok!(b.poll()).status(), StatusCode::OK);
    assert!(
        calls.at()[2..]
            .iter()
            .all(|at| *at - start == Duration::from_millis(100))
    );
}

#[tokio::test(start_paused = true)]
async fn missing_key_policies() {
    let quota = || Quota::per_second(1).burst(1);
    let key = || HeaderKey::from_static("x-api-key");

    let layer = RateLimitLayer::keyed(quota(), key()).on_missing_key(MissingKey::BadRequest);
    let (service, calls) = limited(&layer);
    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(RETRY_AFTER).is_none());
    assert!(response.headers().get("ratelimit").is_none());
    assert_eq!(status(&service, keyed("k")).await, StatusCode::OK);
    assert_eq!(calls.count(), 1);
    let snapshot = layer.limiter().snapshot();
    assert_eq!((snapshot.rejected_missing_key, snapshot.rejected), (1, 0));

    let layer = RateLimitLayer::keyed(quota(), key()).on_missing_key(MissingKey::TooManyRequests);
    let (service, calls) = limited(&layer);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(calls.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_closure_sees_why_and_the_fields_are_added() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reasons);
    let layer = RateLimitLayer::keyed(
        Quota::per_second(1).burst(1),
        HeaderKey::from_static("x-api-key"),
    )
    .on_missing_key(MissingKey::BadRequest)
    .on_reject(move |rejection: &Rejection| {
        seen.lock().unwrap().push(rejection.reason());
        let mut response = Response::new(Body::from("nope"));
        *response.status_mut() = rejection.status();
        response
            .headers_mut()
            .insert(RETRY_AFTER, http::HeaderValue::from_static("120"));
        response
    });
    let (service, _calls) = limited(&layer);
    assert_eq!(status(&service, request()).await, StatusCode::BAD_REQUEST);
    assert_eq!(status(&service, keyed("k")).await, StatusCode::OK);
    let response = service.oneshot(keyed("k")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The closure's own Retry-After wins; the missing fields are added.
    assert_eq!(header(response.headers(), "retry-after"), "120");
    assert_eq!(
        header(response.headers(), "ratelimit-policy"),
        r#""default";q=1;w=1"#
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "nope");
    assert_eq!(*reasons.lock().unwrap(), [Reason::MissingKey, Reason::Rate]);
}

fn from_peer(peer: [u8; 4], forwarded_for: &str) -> Request<()> {
    let mut request = Request::builder()
        .header("x-forwarded-for", forwarded_for)
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(SocketAddr::from((peer, 40000)));
    request
}

#[tokio::test(start_paused = true)]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_buys_nothing() {
    let layer = RateLimitLayer::keyed(
        Quota::per_minute(1).burst(1),
        ClientIp::x_forwarded_for(["10.0.0.0/8".parse().unwrap()]),
    );
    let (service, _calls) = limited(&layer);

    // An attacker connecting directly invents a new address for every request: one bucket.
    let attacker = [198, 51, 100, 7];
    assert_eq!(
        status(&service, from_peer(attacker, "1.1.1.1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&service, from_peer(attacker, "2.2.2.2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Through the trusted proxy, clients are told apart by the address the proxy saw...
    let proxy = [10, 0, 0, 1];
    assert_eq!(
        status(&service, from_peer(proxy, "203.0.113.1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&service, from_peer(proxy, "203.0.113.2")).await,
        StatusCode::OK
    );
    // ...and a client prepending a fake address to the header still gets its own bucket.
    assert_eq!(
        status(&service, from_peer(proxy, "9.9.9.9, 203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(layer.limiter().snapshot().keys, 3);
}

#[tokio::test(start_paused = true)]
async fn clones_and_services_share_one_limiter() {
    let layer = RateLimitLayer::new(Quota::per_second(1).burst(2));
    let (first, _) = limited(&layer);
    let (second, _) = limited(&layer.clone());
    assert_eq!(status(&first, request()).await, StatusCode::OK);
    assert_eq!(status(&second, request()).await, StatusCode::OK);
    assert_eq!(
        status(&first, request()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(second.limiter().snapshot().admitted, 2);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_only_asks_the_inner_service() {
    let layer = RateLimitLayer::new(Quota::per_second(1).burst(1));
    let (mut service, _calls) = limited(&layer);
    // Ready even with an empty bucket: the limit is applied in `call`.
    service.ready().await.unwrap();
    service.call(request()).await.unwrap();
    service.ready().await.unwrap();
    let response = service.call(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_unchanged() {
    let layer = RateLimitLayer::new(Quota::per_second(1));
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Err::<Response<()>, _>("inner failed")
    }));
    assert_eq!(
        service.oneshot(request()).await.unwrap_err(),
        "inner failed"
    );
}
