//! What a rejected request is answered with: one trait and one default for both layers.

use http::{HeaderMap, HeaderValue, Response};

use super::ResponseBody;
use super::respond::retry_after_value;

/// A layer's rejection, as HTTP: its default response, and the fields every response to it
/// must carry (a custom one included). Implemented by the gate's and the rate limit's
/// rejections.
pub trait Rejection: std::fmt::Display + sealed::Sealed {
    /// The default response: status, fields and a short plain-text message.
    fn default_response<B, G>(&self) -> Response<ResponseBody<B, G>>;

    /// Adds the fields the response must carry and does not have yet (`Retry-After`, and the
    /// rate limit's `RateLimit` fields).
    fn complete(&self, headers: &mut HeaderMap);

    /// The default response to a gRPC request: a trailers-only response with the rejection's
    /// gRPC status (`UNAVAILABLE` from the gate, `RESOURCE_EXHAUSTED` from the rate limit).
    fn default_grpc_response<B, G>(&self) -> Response<ResponseBody<B, G>>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Builds the response for a request a layer turned away.
///
/// Implemented by [`DefaultOnReject`] and by every closure `Fn(&Rejection) -> Response<B>`,
/// where `Rejection` is the layer's ([`gate::Rejection`](crate::gate::Rejection) or
/// `rate_limit::Rejection`) and `B` the inner service's response body type, so an axum
/// handler's `.into_response()` fits. Whatever the closure answers, the fields a rejection must
/// carry are added if it left them out (`Retry-After`; for the rate limit also
/// `RateLimit-Policy` and `RateLimit`).
pub trait OnReject<R, B> {
    /// The response to send instead of calling the inner service.
    fn on_reject<G>(&self, rejection: &R) -> Response<ResponseBody<B, G>>;

    /// The response to a gRPC request (`content-type: application/grpc`), if it differs from
    /// [`on_reject`](OnReject::on_reject)'s. The default rejection answers the gRPC way; a
    /// closure answers gRPC requests like the others (its own choice).
    fn on_reject_grpc<G>(&self, rejection: &R) -> Option<Response<ResponseBody<B, G>>> {
        let _ = rejection;
        None
    }
}

/// The default rejection: the gate's `503 Service Unavailable` or the rate limit's `429 Too
/// Many Requests`, with `Retry-After` in whole seconds (rounded up, at least 1), the rate
/// limit's `RateLimit` fields, `content-type: text/plain; charset=utf-8` and a one-line message.
///
/// A gRPC request (`content-type: application/grpc`, `application/grpc+proto`...) is answered
/// the gRPC way instead, so that its client sees a status, not a protocol error: HTTP `200`,
/// `content-type: application/grpc`, no body, and in the head `grpc-status` (14 `UNAVAILABLE`
/// from the gate, 8 `RESOURCE_EXHAUSTED` from the rate limit), `grpc-message`, and
/// `grpc-retry-pushback-ms` (the delay gRPC's retry policy honours), with `Retry-After` as well.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnReject;

impl DefaultOnReject {
    /// The `Retry-After` value of the default responses for a delay: whole seconds, rounded up,
    /// never less than 1, for answers built elsewhere that should say the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate::gate::DefaultOnReject;
    ///
    /// assert_eq!(DefaultOnReject::retry_after(Duration::ZERO), "1");
    /// assert_eq!(DefaultOnReject::retry_after(Duration::from_millis(1001)), "2");
    /// ```
    pub fn retry_after(delay: std::time::Duration) -> HeaderValue {
        retry_after_value(delay)
    }
}

impl<R: Rejection, B> OnReject<R, B> for DefaultOnReject {
    fn on_reject<G>(&self, rejection: &R) -> Response<ResponseBody<B, G>> {
        rejection.default_response()
    }

    fn on_reject_grpc<G>(&self, rejection: &R) -> Option<Response<ResponseBody<B, G>>> {
        Some(rejection.default_grpc_response())
    }
}

impl<R, B, F> OnReject<R, B> for F
where
    R: Rejection,
    F: Fn(&R) -> Response<B>,
{
    fn on_reject<G>(&self, rejection: &R) -> Response<ResponseBody<B, G>> {
        let mut response = self(rejection).map(ResponseBody::inner);
        rejection.complete(response.headers_mut());
        response
    }
}
