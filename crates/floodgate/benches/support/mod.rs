//! What both benchmarks need: calling a service whose futures are ready on first poll.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::Request;
use tower::Service;

/// Calls a service whose futures are ready on first poll and returns the response: what is
/// measured is the middleware, not a runtime.
pub fn call_now<S, B>(service: &mut S, request: Request<B>) -> S::Response
where
    S: Service<Request<B>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(ready) => ready.expect("service failed"),
        Poll::Pending => panic!("service not ready"),
    }
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(response) => response.expect("service failed"),
        Poll::Pending => panic!("response not ready"),
    }
}

/// Takes the gate's only permit, so that every request is rejected.
#[allow(dead_code)]
pub fn hold_only_permit(gate: &floodgate::Gate) -> floodgate::gate::Permit {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(gate.acquire()).poll(&mut cx) {
        Poll::Ready(Ok(permit)) => permit,
        _ => panic!("the gate is free"),
    }
}
