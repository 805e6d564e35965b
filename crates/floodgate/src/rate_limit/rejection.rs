//! Why the rate limit turned a request away, and the headers that say when to come back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::headers::{Fields, RATELIMIT, RATELIMIT_POLICY};
use crate::middleware::respond::retry_after_secs;

/// Why the rate limit turned a request away.
///
/// The string forms ([`as_str`](Reason::as_str)) are the `reason` label of the
/// `floodgate_rejected_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The request's bucket was empty (and no token came within `max_wait`).
    Rate,
    /// The request had no key and the [`MissingKey`](super::MissingKey) policy rejects those.
    MissingKey,
    /// The key needs the peer address and the request carries none: the server is set up wrong
    /// (`500 Internal Server Error`; see [`PeerIp`](super::PeerIp)).
    NoPeerAddress,
}

impl Reason {
    /// The reason as a short label: `rate` or `missing_key`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Rate => "rate",
            Reason::MissingKey => "missing_key",
            Reason::NoPeerAddress => "no_peer_address",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the rate limit turned away: why, the status to answer, and when to come back.
///
/// Over the rate: `429 Too Many Requests` with `Retry-After` (the wait for the next token, whole
/// seconds rounded up, never 0), `RateLimit-Policy` and `RateLimit` (`r=0`). Without a key:
/// `400 Bad Request` (no other header), or `429` with a `Retry-After` of one emission interval.
///
/// [`RateLimitService`](super::RateLimitService) turns it into a response, by default with a
/// short plain-text body, or with the closure given to
/// [`RateLimitLayer::on_reject`](super::RateLimitLayer::on_reject).
#[derive(Debug, Clone)]
pub struct Rejection {
    reason: Reason,
    status: StatusCode,
    retry_after: Option<Duration>,
    /// The limiter's header fields, for a rejection over the rate.
    fields: Option<Arc<Fields>>,
}

impl Rejection {
    /// Over the rate; the next token comes after `wait`.
    pub(crate) fn rate(wait: Duration, fields: &Arc<Fields>) -> Self {
        Self {
            reason: Reason::Rate,
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(wait),
            fields: Some(Arc::clone(fields)),
        }
    }

    /// No key, and the policy answers `status` (400, or 429 with `retry_after`).
    pub(crate) fn missing_key(status: StatusCode, retry_after: Option<Duration>) -> Self {
        Self {
            reason: Reason::MissingKey,
            status,
            retry_after,
            fields: None,
        }
    }

    /// The key needs the peer address and the server did not provide it.
    pub(crate) fn no_peer_address() -> Self {
        Self {
            reason: Reason::NoPeerAddress,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None,
            fields: None,
        }
    }

    /// Why the request was turned away.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The status code of the default response: `429 Too Many Requests`, or `400 Bad Request`
    /// for a missing key under [`MissingKey::BadRequest`](super::MissingKey::BadRequest).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The exact wait until the request could succeed (`None` for a `400`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `Retry-After` delay in whole seconds, rounded up and never 0 (`None` for a `400`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(retry_after_secs)
    }

    /// The header fields of the default response: `Retry-After`, `RateLimit-Policy` and
    /// `RateLimit`, those that apply.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use floodgate::{Quota, RateLimitLayer};
    /// use tower::{ServiceExt, service_fn};
    ///
    /// let layer = RateLimitLayer::new(Quota::per_second(2).burst(1));
    /// let limiter = layer.limiter();
    /// let service = tower::ServiceBuilder::new().layer(layer.on_reject(
    ///     |rejection: &floodgate::rate_limit::Rejection| {
    ///         let mut response = http::Response::new(String::from("slow down"));
    ///         *response.status_mut() = rejection.status();
    ///         response.headers_mut().extend(rejection.headers());
    ///         response
    ///     },
    /// )).service(service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
    /// }));
    ///
    /// service.clone().oneshot(http::Request::new(())).await.unwrap();
    /// let rejected = service.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(rejected.status(), 429);
    /// assert_eq!(rejected.headers()["retry-after"], "1");
    /// assert_eq!(rejected.headers()["ratelimit-policy"], r#""default";q=2;w=1"#);
    /// assert_eq!(rejected.headers()["ratelimit"], r#""default";r=0;t=1"#);
    /// assert_eq!(limiter.snapshot().rejected, 1);
    /// # }
    /// ```
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(3);
        self.insert_missing_headers(&mut headers);
        headers
    }

    /// Adds the fields of [`headers`](Self::headers) that `headers` does not have yet.
    pub(crate) fn insert_missing_headers(&self, headers: &mut HeaderMap) {
        if let Some(secs) = self.retry_after_secs() {
            headers
                .entry(RETRY_AFTER)
                .or_insert_with(|| HeaderValue::from(secs));
        }
        if let (Some(fields), Some(wait)) = (&self.fields, self.retry_after) {
            headers
                .entry(RATELIMIT_POLICY)
                .or_insert_with(|| fields.policy());
            headers
                .entry(RATELIMIT)
                .or_insert_with(|| fields.rejected(wait));
        }
    }

    /// The short plain-text body of the default response.
    pub fn message(&self) -> &'static str {
        match (self.reason, self.status) {
            (Reason::Rate, _) => "too many requests: rate limit exceeded, retry later\n",
            (Reason::MissingKey, StatusCode::BAD_REQUEST) => {
                "bad request: the rate limit key is missing\n"
            }
            (Reason::MissingKey, _) => {
                "too many requests: requests without a rate limit key are not served\n"
            }
            (Reason::NoPeerAddress, _) => {
                "internal server error: the rate limit cannot see the client's address\n"
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request rejected by the rate limit ({})", self.reason)?;
        if let Some(secs) = self.retry_after_secs() {
            write!(f, ", retry after {secs}s")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;

    #[test]
    fn rate_rejection_headers() {
        let fields = Arc::new(Fields::new(&Quota::per_second(50).burst(10)));
        let rejection = Rejection::rate(Duration::from_millis(1500), &fields);
        assert_eq!(rejection.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(rejection.retry_after_secs(), Some(2));
        let headers = rejection.headers();
        assert_eq!(headers[RETRY_AFTER], "2");
        assert_eq!(headers[RATELIMIT_POLICY], r#""default";q=50;w=1"#);
        assert_eq!(headers[RATELIMIT], r#""default";r=0;t=2"#);
        assert_eq!(
            rejection.to_string(),
            "request rejected by the rate limit (rate), retry after 2s"
        );
    }

    #[test]
    fn retry_after_is_never_zero() {
        let fields = Arc::new(Fields::new(&Quota::per_second(1000)));
        let rejection = Rejection::rate(Duration::from_nanos(1), &fields);
        assert_eq!(rejection.retry_after_secs(), Some(1));
        assert_eq!(rejection.headers()[RATELIMIT], r#""default";r=0;t=1"#);
    }

    #[test]
    fn missing_key_bad_request_has_no_rate_headers() {
        let rejection = Rejection::missing_key(StatusCode::BAD_REQUEST, None);
        assert!(rejection.headers().is_empty());
        assert_eq!(rejection.reason().as_str(), "missing_key");
        assert_eq!(
            rejection.message(),
            "bad request: the rate limit key is missing\n"
        );
    }

    #[test]
    fn existing_headers_are_kept() {
        let fields = Arc::new(Fields::new(&Quota::per_second(1)));
        let rejection = Rejection::rate(Duration::from_secs(1), &fields);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        rejection.insert_missing_headers(&mut headers);
        assert_eq!(headers[RETRY_AFTER], "30");
        assert_eq!(headers.len(), 3);
    }
}
