//! What a rejected request is answered with, and which requests skip the gate.

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Request, Response};

use super::body::GateBody;
use crate::Rejection;

/// Builds the response for a request the gate turned away.
///
/// Implemented by [`DefaultOnReject`] and by every closure `Fn(&Rejection) -> Response<B>`
/// (see [`GateLayer::on_reject`](crate::GateLayer::on_reject)); `B` is the inner service's
/// response body type, so an axum handler's `.into_response()` fits.
pub trait OnReject<B>: sealed::Sealed<B> {
    /// The response to send instead of calling the inner service.
    fn on_reject(&self, rejection: &Rejection) -> Response<GateBody<B>>;
}

#[allow(unreachable_pub)]
mod sealed {
    pub trait Sealed<B> {}
}

/// The default rejection: `503 Service Unavailable`, `Retry-After` in whole seconds,
/// `content-type: text/plain; charset=utf-8` and a one-line message.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnReject;

impl<B> sealed::Sealed<B> for DefaultOnReject {}

impl<B> OnReject<B> for DefaultOnReject {
    fn on_reject(&self, rejection: &Rejection) -> Response<GateBody<B>> {
        let mut response = Response::new(GateBody::message(rejection.message()));
        *response.status_mut() = rejection.status();
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, rejection.retry_after_header());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

impl<B, F> sealed::Sealed<B> for F where F: Fn(&Rejection) -> Response<B> {}

impl<B, F> OnReject<B> for F
where
    F: Fn(&Rejection) -> Response<B>,
{
    fn on_reject(&self, rejection: &Rejection) -> Response<GateBody<B>> {
        let mut response = self(rejection).map(GateBody::without_permit);
        // Every rejection tells the client when to come back, even if the closure forgot.
        response
            .headers_mut()
            .entry(RETRY_AFTER)
            .or_insert_with(|| rejection.retry_after_header());
        response
    }
}

/// Decides which requests skip the gate (health checks, metrics scrapes).
///
/// Implemented by [`NoBypass`] and by every closure `Fn(&Request<B>) -> bool`; see
/// [`GateLayer::bypass`](crate::GateLayer::bypass).
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
