//! The HTTP both layers answer with: `Retry-After` in whole seconds, the plain-text body of a
//! default rejection, and the gRPC form of a rejection.

use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

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

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// Whether a request is gRPC: `content-type: application/grpc`, `application/grpc+proto` and
/// the like (not gRPC-Web, whose status travels in the body).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        let prefix = b"application/grpc";
        value.len() >= prefix.len()
            && value[..prefix.len()].eq_ignore_ascii_case(prefix)
            && matches!(value.get(prefix.len()), None | Some(b'+' | b';'))
    })
}

/// A rejection the gRPC way: HTTP `200`, `content-type: application/grpc`, and a trailers-only
/// response (no body; `grpc-status`, `grpc-message` and, if the client should wait,
/// `grpc-retry-pushback-ms`, the field gRPC's retry policy honours, in the head).
pub(crate) fn grpc<B, G>(
    code: u8,
    message: &str,
    retry_after: Option<Duration>,
) -> Response<ResponseBody<B, G>> {
    let mut response = Response::new(ResponseBody::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(message.trim_end())) {
        headers.insert(GRPC_MESSAGE, message);
    }
    if let Some(delay) = retry_after {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        headers.insert(GRPC_RETRY_PUSHBACK_MS, HeaderValue::from(millis));
    }
    response
}

/// `grpc-message` encoding: printable ASCII but `%` as is, every other byte `%XX`.
fn percent_encode(message: &str) -> String {
    let mut encoded = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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
    fn grpc_requests_are_told_by_their_content_type() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            is_grpc(&headers)
        };
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(with("Application/GRPC;charset=utf-8"));
        assert!(!with("application/grpc-web"));
        assert!(!with("application/json"));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn a_grpc_rejection_is_trailers_only() {
        use http_body::Body as _;
        let response: Response<ResponseBody<String, ()>> = grpc(
            14,
            "overloaded: 100% busy\n",
            Some(Duration::from_millis(1500)),
        );
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "application/grpc");
        assert_eq!(headers["grpc-status"], "14");
        assert_eq!(headers["grpc-message"], "overloaded: 100%25 busy");
        assert_eq!(headers["grpc-retry-pushback-ms"], "1500");
        assert!(response.body().is_end_stream());
    }

    #[test]
    fn header_is_delay_seconds() {
        assert_eq!(retry_after_value(Duration::from_secs(7)), "7");
    }
}
