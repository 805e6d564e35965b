//! The HTTP both layers answer with: `Retry-After` in whole seconds, and the plain-text body of
//! a default rejection.

use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};

use super::ResponseBody;

/// A delay as `Retry-After` sends it: whole seconds, rounded up, at least 1 (and saturating
/// for absurd delays instead of wrapping).
pub(crate) fn retry_after_secs(delay: Duration) -> u64 {
    let secs = delay
        .as_secs()
        .saturating_add(u64::from(delay.subsec_nanos() > 0));
    secs.max(1)
}

/// The `Retry-After` header value (delay-seconds form) of a delay.
pub(crate) fn retry_after_value(delay: Duration) -> HeaderValue {
    HeaderValue::from(retry_after_secs(delay))
}

/// A default rejection: `status`, `content-type: text/plain; charset=utf-8`, and `message`.
pub(crate) fn plain_text<B, G>(
    status: StatusCode,
    message: &'static str,
) -> Response<ResponseBody<B, G>> {
    let mut response = Response::new(ResponseBody::message(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn retry_after_saturates_instead_of_wrapping() {
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }

    #[test]
    fn header_is_delay_seconds() {
        assert_eq!(retry_after_value(Duration::from_secs(7)), "7");
    }
}
