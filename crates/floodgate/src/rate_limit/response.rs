//! What a request the rate limit turned away is answered with.

use http::Response;

use super::rejection::Rejection;
use super::service::ResponseBody;
use crate::middleware::respond::plain_text;

/// Builds the response for a request the rate limit turned away.
///
/// Implemented by [`DefaultOnReject`] and by every closure
/// `Fn(&Rejection) -> Response<B>` (see
/// [`RateLimitLayer::on_reject`](super::RateLimitLayer::on_reject)); `B` is the inner service's
/// response body type, so an axum handler's `.into_response()` fits.
pub trait OnReject<B>: sealed::Sealed<B> {
    /// The response to send instead of calling the inner service.
    fn on_reject(&self, rejection: &Rejection) -> Response<ResponseBody<B>>;
}

#[allow(unreachable_pub)]
mod sealed {
    pub trait Sealed<B> {}
}

/// The default rejection: the rejection's status (`429`, or `400` for a missing key),
/// its header fields (`Retry-After`, `RateLimit-Policy`, `RateLimit`),
/// `content-type: text/plain; charset=utf-8` and a one-line message.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnReject;

impl<B> sealed::Sealed<B> for DefaultOnReject {}

impl<B> OnReject<B> for DefaultOnReject {
    fn on_reject(&self, rejection: &Rejection) -> Response<ResponseBody<B>> {
        let mut response = plain_text(rejection.status(), rejection.message());
        rejection.insert_missing_headers(response.headers_mut());
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
        // Every rejection says when to come back and what the policy is, even if the closure forgot.
        rejection.insert_missing_headers(response.headers_mut());
        response
    }
}
