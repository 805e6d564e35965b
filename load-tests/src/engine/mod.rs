//! HTTP engines behind one small trait, so that the runner, the statistics and the reports never
//! know which one ran.
//!
//! - [`HyperEngine`]: one raw HTTP/1.1 connection per load worker
//!   (`hyper::client::conn::http1`), reconnecting when the server closes it. The fast path for
//!   plain `http://` targets: about a third of reqwest's client CPU per request.
//! - [`HyperH2Engine`] (`--http2`): raw HTTP/2 with prior knowledge (h2c) for plain `http://`,
//!   a connection per [`STREAMS_PER_CONNECTION`](hyper_h2::STREAMS_PER_CONNECTION) workers of a
//!   thread, each request a stream.
//! - [`ReqwestEngine`]: reqwest, complete (https, HTTP/2, proxies from the environment), redirects
//!   off. Each runtime thread builds its own `Client`; with `--http2`, HTTP/2 only (prior
//!   knowledge for `http://`), all of a thread's requests streams on one connection per host.

use std::future::Future;
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, RETRY_AFTER};
use http::{Method, StatusCode};
use reqwest::Url;

use crate::body::BodySpec;

mod hyper_h1;
mod hyper_h2;
mod reqwest_pool;

pub(crate) use hyper_h1::HyperEngine;
pub(crate) use hyper_h2::HyperH2Engine;
pub(crate) use reqwest_pool::ReqwestEngine;

/// An HTTP engine: makes per-thread copies of itself, and load workers from those.
pub(crate) trait Engine: Send + Sync + Sized + 'static {
    /// One load worker: sends requests one after the other.
    type Worker: Worker;

    /// The name in reports (`"hyper"`, `"reqwest"`).
    const NAME: &'static str;

    /// A copy for one runtime thread, called on that thread; an engine with a connection pool
    /// builds a new pool here, so that threads share nothing.
    fn for_thread(&self) -> Result<Self, EngineError>;

    /// A new worker with no connection yet.
    fn worker(&self) -> Self::Worker;

    /// Request body bytes handed to connections so far, by every copy of this engine.
    fn bytes_sent(&self) -> u64;
}

/// A load worker of an [`Engine`].
pub(crate) trait Worker: 'static {
    /// Sends one request and reads the whole response body.
    ///
    /// The future may be dropped at any point (timeout, end of the run); the next call must then
    /// still work, on a new connection if need be.
    fn send(&mut self) -> impl Future<Output = Outcome>;
}

/// The result of one request: a response, or the class of error that prevented one.
pub(crate) type Outcome = Result<Response, ErrorKind>;

/// What the runner needs to know about a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// `Retry-After` of a 503 or 429 response, as a delay from now.
    pub(crate) retry_after: Option<Duration>,
}

impl Response {
    /// Reads status and (for rejections) `Retry-After`.
    pub(crate) fn new(status: StatusCode, headers: &HeaderMap) -> Self {
        let status = status.as_u16();
        let retry_after = if is_rejection(status) {
            headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
        } else {
            None
        };
        Self {
            status,
            retry_after,
        }
    }

    /// A 2xx status.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A 503 or 429: the server asked the client to come back later.
    pub(crate) fn is_rejection(&self) -> bool {
        is_rejection(self.status)
    }
}

fn is_rejection(status: u16) -> bool {
    status == 503 || status == 429
}

/// Parses `Retry-After`: delay-seconds, or an HTTP-date (a date in the past means "now").
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether the proxy environment variables (`HTTP_PROXY`, `NO_PROXY`...) send `url` through a
/// proxy, as reqwest would.
pub(crate) fn proxied(url: &Url) -> bool {
    let Ok(uri) = url.as_str().parse::<http::Uri>() else {
        return false;
    };
    hyper_util::client::proxy::matcher::Matcher::from_env()
        .intercept(&uri)
        .is_some()
}

/// The socket addresses of a plain `http://` target, resolved once, for the raw-hyper engines.
pub(crate) fn plain_http_addrs(url: &Url) -> Result<Vec<std::net::SocketAddr>, EngineError> {
    if url.scheme() != "http" {
        return Err(EngineError::Unsupported(format!(
            "the hyper engine speaks plain http:// only (h2c with --http2), not {}://; use \
             --engine reqwest",
            url.scheme()
        )));
    }
    url.socket_addrs(|| None)
        .map_err(|source| EngineError::Resolve {
            host: url.host_str().unwrap_or_default().to_owned(),
            source,
        })
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorKind {
    /// No complete response within the timeout.
    Timeout,
    /// The connection could not be set up.
    Connect,
    /// Anything else.
    Other,
}

/// The request every worker sends, shared by all of them.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    /// The targets (at least one), sent requests in turn.
    pub(crate) urls: Vec<Url>,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: BodySpec,
    /// HTTP/2 only (`--http2`): prior knowledge for `http://`.
    pub(crate) http2: bool,
}

/// An engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The URL cannot be served by the chosen engine.
    #[error("{0}")]
    Unsupported(String),
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 30 ", now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:39 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn only_rejections_carry_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        let rejected = Response::new(StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert_eq!(rejected.retry_after, Some(Duration::from_secs(2)));
        assert!(rejected.is_rejection() && !rejected.is_success());
        let limited = Response::new(StatusCode::TOO_MANY_REQUESTS, &headers);
        assert!(limited.is_rejection());
        let ok = Response::new(StatusCode::OK, &headers);
        assert_eq!(ok.retry_after, None);
        assert!(ok.is_success());
    }
}
