//! What a rejected request is answered with, and which requests skip the gate.

use http::header::RETRY_AFTER;
use http::{HeaderMap, Request, Response, StatusCode};

use super::rejection::{Reason, Rejection};
use crate::middleware::respond::{grpc, plain_text, retry_after_value};
use crate::middleware::{self, ResponseBody, Sealed};

impl Sealed for Rejection {}

/// The gate's answer: `503 Service Unavailable` with `Retry-After`.
impl middleware::Rejection for Rejection {
    fn default_response<B, G>(&self) -> Response<ResponseBody<B, G>> {
        let mut response = plain_text(StatusCode::SERVICE_UNAVAILABLE, message(self.reason()));
        self.complete(response.headers_mut());
        response
    }

    fn complete(&self, headers: &mut HeaderMap) {
        // Every rejection tells the client when to come back, even if a custom one forgot.
        headers
            .entry(RETRY_AFTER)
            .or_insert_with(|| retry_after_value(self.retry_after()));
    }

    /// `UNAVAILABLE` (14): the status gRPC clients retry; `DEADLINE_EXCEEDED` (4) when the
    /// request could not be served before its deadline.
    fn default_grpc_response<B, G>(&self) -> Response<ResponseBody<B, G>> {
        const UNAVAILABLE: u8 = 14;
        const DEADLINE_EXCEEDED: u8 = 4;
        let code = match self.reason() {
            Reason::Deadline => DEADLINE_EXCEEDED,
            _ => UNAVAILABLE,
        };
        let mut response = grpc(code, message(self.reason()), Some(self.retry_after()));
        self.complete(response.headers_mut());
        response
    }
}

/// The one-line body of the default response.
fn message(reason: Reason) -> &'static str {
    match reason {
        Reason::Timeout => "service overloaded: no capacity within the wait limit, retry later\n",
        Reason::QueueFull => "service overloaded: wait queue full, retry later\n",
        Reason::Closed => "service shutting down, retry later\n",
        Reason::Shed => "service overloaded: request shed from a standing queue, retry later\n",
        Reason::Evicted => {
            "service overloaded: request evicted from the queue by a more important one, retry later\n"
        }
        Reason::Deadline => {
            "service overloaded: the request could not be served before its deadline\n"
        }
    }
}

/// Decides which requests skip the gate (health checks, metrics scrapes).
///
/// Implemented by [`NoBypass`] and by every closure `Fn(&Request<B>) -> bool`; see
/// [`GateLayer::bypass`](super::GateLayer::bypass).
pub trait Bypass<B> {
    /// `true`: the request goes straight to the inner service, uncounted.
    fn bypass(&self, request: &Request<B>) -> bool;
}

/// Gate every request (the default).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct NoBypass;

impl<B> Bypass<B> for NoBypass {
    fn bypass(&self, _request: &Request<B>) -> bool {
        false
    }
}

impl<B, F> Bypass<B> for F
where
    F: Fn(&Request<B>) -> bool,
{
    fn bypass(&self, request: &Request<B>) -> bool {
        self(request)
    }
}
