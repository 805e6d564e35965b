//! What a rejected request is answered with, and which requests skip the gate.

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};

use super::ResponseBody;
use super::rejection::{Reason, Rejection};
use crate::middleware::respond::{plain_text, retry_after_value};

/// Builds the response for a request the gate turned away.
///
/// Implemented by [`DefaultOnReject`] and by every closure `Fn(&Rejection) -> Response<B>`
/// (see [`GateLayer::on_reject`](super::GateLayer::on_reject)); `B` is the inner service's
/// response body type, so an axum handler's `.into_response()` fits.
pub trait OnReject<B>: sealed::Sealed<B> {
    /// The response to send instead of calling the inner service.
    fn on_reject(&self, rejection: &Rejection) -> Response<ResponseBody<B>>;
}

#[allow(unreachable_pub)]
mod sealed {
    pub trait Sealed<B> {}
}

/// The default rejection: `503 Service Unavailable`, `Retry-After` in whole seconds (rounded up,
/// at least 1), `content-type: text/plain; charset=utf-8` and a one-line message.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnReject;

impl DefaultOnReject {
    /// The one-line body of the default response.
    ///
    /// ```
    /// use floodgate::gate::{DefaultOnReject, Reason};
    /// assert!(DefaultOnReject::message(Reason::QueueFull).contains("queue full"));
    /// ```
    pub fn message(reason: Reason) -> &'static str {
        match reason {
            Reason::Timeout => {
                "service overloaded: no capacity within the wait limit, retry later\n"
            }
            Reason::QueueFull => "service overloaded: wait queue full, retry later\n",
            Reason::Closed => "service shutting down, retry later\n",
            Reason::Shed => "service overloaded: request shed from a standing queue, retry later\n",
        }
    }
}

impl DefaultOnReject {
    /// The `Retry-After` value of the default response for a `retry_after` setting: whole
    /// seconds, rounded up, never less than 1, for answers built elsewhere that should say the
    /// same.
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate::gate::DefaultOnReject;
    ///
    /// assert_eq!(DefaultOnReject::retry_after(Duration::ZERO), "1");
    /// assert_eq!(DefaultOnReject::retry_after(Duration::from_millis(1001)), "2");
    /// ```
    pub fn retry_after(delay: std::time::Duration) -> http::HeaderValue {
        retry_after_value(delay)
    }
}

impl<B> sealed::Sealed<B> for DefaultOnReject {}

impl<B> OnReject<B> for DefaultOnReject {
    fn on_reject(&self, rejection: &Rejection) -> Response<ResponseBody<B>> {
        let message = Self::message(rejection.reason());
        let mut response = plain_text(StatusCode::SERVICE_UNAVAILABLE, message);
        response
            .headers_mut()
            .insert(RETRY_AFTER, retry_after_value(rejection.retry_after()));
        response
    }
}

impl<B, F> sealed::Sealed<B> for F where F: Fn(&Rejection) -> Response<B> {}

impl<B, F> OnReject<B> for F
where
    F: Fn(&Rejection) -> Response<B>,
{
    fn on_reject(&self, rejection: &Rejection) -> Response<ResponseBody<B>> {
        let mut response = self(rejection).map(ResponseBody::inner);
        // Every rejection tells the client when to come back, even if the closure forgot.
        response
            .headers_mut()
            .entry(RETRY_AFTER)
            .or_insert_with(|| retry_after_value(rejection.retry_after()));
        response
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
