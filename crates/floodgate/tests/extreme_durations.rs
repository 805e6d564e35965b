//! Every duration a user can hand a builder, down to zero and up to `Duration::MAX`: nothing
//! wraps, nothing panics, and a longer wait never turns into "reject at once".

use std::time::Duration;

use floodgate::gate::{GateConfig, Reason};
use floodgate::limit::{Aimd, LimitAlgorithm, Sample};
use floodgate::{GateLayer, Queue, Quota, RateLimitLayer};
use http::{Request, Response, StatusCode};
use proptest::prelude::*;
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready_err};
use tower::{Layer, ServiceExt, service_fn};

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(1)),
        Just(Duration::from_secs(1)),
        Just(Duration::from_secs(u64::from(u32::MAX))),
        Just(Duration::from_nanos(u64::MAX)),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn queue() -> impl Strategy<Value = Queue> {
    prop_oneof![Just(Queue::Fifo), Just(Queue::Lifo), Just(Queue::Codel)]
}

fn paused<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(future)
}

/// `Retry-After` as the client reads it.
fn retry_after<B>(response: &Response<B>) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_gate_takes_any_durations(
        max_wait in duration(),
        retry in duration(),
        standing_after in duration(),
        standing_wait in duration(),
        queue in queue(),
    ) {
        paused(async move {
            let config = GateConfig::new(1)
                .max_wait(max_wait)
                .retry_after(retry)
                .queue(queue)
                .standing_after(standing_after)
                .standing_wait(standing_wait);
            let gate = config.clone().build();
            let held = gate.acquire().await.unwrap();
            let mut waiter = spawn(gate.acquire());
            // A queue that stands at once (LIFO or CoDel, standing after zero) gives the
            // shorter standing wait.
            let standing = queue != Queue::Fifo && standing_after.is_zero();
            let wait = if standing { standing_wait.min(max_wait) } else { max_wait };
            if wait.is_zero() {
                let rejection = assert_ready_err!(waiter.poll());
                let expected = if max_wait.is_zero() { Reason::Timeout } else { Reason::Shed };
                assert_eq!(rejection.reason(), expected);
                assert_eq!(rejection.retry_after(), retry);
            } else {
                // However long the wait, it is a wait, not an instant rejection.
                assert_pending!(waiter.poll());
                drop(held);
                assert!(waiter.poll().is_ready(), "the waiter gets the freed permit");
            }

            // The 503's Retry-After: whole seconds, rounded up, at least 1, saturating.
            let layer = GateLayer::with_config(config.max_wait(Duration::ZERO).max_queue(0));
            let _held = layer.gate().acquire().await.unwrap();
            let service = layer.layer(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }));
            let response = service.oneshot(Request::new(())).await.unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let expected = retry.as_secs().saturating_add(u64::from(retry.subsec_nanos() > 0)).max(1);
            assert_eq!(retry_after(&response), expected);
        });
    }

    #[test]
    fn the_rate_limit_takes_any_durations(max_wait in duration(), per in duration(), eviction in duration()) {
        paused(async move {
            let per = per.max(Duration::from_nanos(1));
            let quota = Quota::new(1, per).burst(1);
            assert!(quota.emission_interval() >= Duration::from_nanos(1));
            let layer = RateLimitLayer::new(Quota::per_second(1).burst(1))
                .max_wait(max_wait)
                .eviction_interval(eviction.max(Duration::from_nanos(1)));
            let service = layer.layer(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }));
            let first = service.clone().oneshot(Request::new(())).await.unwrap();
            assert_eq!(first.status(), StatusCode::OK);
            let mut second = spawn(service.clone().oneshot(Request::new(())));
            if max_wait >= Duration::from_secs(1) {
                // The next token comes in a second: within any such wait, however long.
                assert_pending!(second.poll());
                tokio::time::advance(Duration::from_secs(1)).await;
                let response = second.await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            } else if max_wait < Duration::from_millis(999) {
                let response = second.await.unwrap();
                assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(retry_after(&response), 1);
            }
            let _ = RateLimitLayer::new(quota);
        });
    }

    #[test]
    fn aimd_takes_any_timeout(timeout in duration(), latency in duration()) {
        // Zero is refused by design (`# Panics`): a timeout nothing can meet.
        let mut aimd = Aimd::new().initial_limit(10).timeout(timeout.max(Duration::from_nanos(1)));
        let limit = aimd.update(&Sample::new(latency, 10, false));
        prop_assert!(limit >= 1);
    }
}
