//! What a request the rate limit turned away is answered with.

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};

use super::body::RateLimitBody;
use super::rejection::RateLimitRejection;

/// Builds the response for a request the rate limit turned away.
///
/// Implemented by [`DefaultOnRateLimited`] and by every closure
/// `Fn(&RateLimitRejection) -> Response<B>` (see
/// [`RateLimitLayer::on_reject`](crate::RateLimitLayer::on_reject)); `B` is the inner service's
/// response body type, so an axum handler's `.into_response()` fits.
pub trait OnRateLimited<B>: sealed::Sealed<B> {
    /// The response to send instead of calling the inner service.
    fn on_rate_limited(&self, rejection: &RateLimitRejection) -> Response<RateLimitBody<B>>;
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
pub struct DefaultOnRateLimited;

impl<B> sealed::Sealed<B> for DefaultOnRateLimited {}

impl<B> OnRateLimited<B> for DefaultOnRateLimited {
    fn on_rate_limited(&self, rejection: &RateLimitRejection) -> Response<RateLimitBody<B>> {
        let mut response = Response::new(RateLimitBody::message(rejection.message()));
        *response.status_mut() = rejection.status();
        let headers = response.headers_mut();
        rejection.insert_missing_headers(headers);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

impl<B, F> sealed::Sealed<B> for F where F: Fn(&RateLimitRejection) -> Response<B> {}

impl<B, F> OnRateLimited<B> for F
where
    F: Fn(&RateLimitRejection) -> Response<B>,
{
    fn on_rate_limited(&self, rejection: &RateLimitRejection) -> Response<RateLimitBody<B>> {
        let mut response = self(rejection).map(RateLimitBody::without_permit);
        // Every rejection says when to come back and what the policy is, even if the closure forgot.
        rejection.insert_missing_headers(response.headers_mut());
        response
    }
}
