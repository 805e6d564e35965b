//! Which bucket a request draws from: [`KeyExtractor`] and the ready-made keys.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};

use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};

/// Picks the bucket of a request: requests with equal keys share one bucket.
///
/// Implemented by [`Global`] (one bucket for everybody), [`PeerIp`], [`HeaderKey`], [`ClientIp`],
/// and by every closure `Fn(&RequestHead<'_>) -> Option<K>`. A key function sees
/// the request head only (method, URI, headers, extensions), never the body.
///
/// `None` means the request has no key; what then happens is the layer's
/// [`MissingKey`] policy.
///
/// ```
/// use floodgate::{Quota, RateLimitLayer};
/// use floodgate::rate_limit::RequestHead;
///
/// // One bucket per user, read from a header an authenticating proxy has set.
/// let layer = RateLimitLayer::keyed(Quota::per_minute(60), |request: &RequestHead<'_>| {
///     request.headers().get("x-user-id").cloned()
/// });
/// # let _ = layer;
/// ```
///
/// [`ClientIp`]: super::ClientIp
pub trait KeyExtractor: Send + Sync + 'static {
    /// The key: requests with equal keys share a bucket.
    type Key: Hash + Eq + Clone + Send + Sync + 'static;

    /// The key of a request, or `None` if it has none.
    fn extract(&self, request: &RequestHead<'_>) -> Option<Self::Key>;

    /// `true` if every request draws from one shared bucket, so that keys need not be extracted
    /// at all (the lock-free global bucket is used instead of the keyed store).
    fn is_global(&self) -> bool {
        false
    }

    /// `true` if the key is read from the peer address, so that a request without one means
    /// the server is set up wrong (not that the client sent no key): such requests are answered
    /// `500`, and an error is logged once, whatever the [`MissingKey`] policy.
    fn needs_peer_address(&self) -> bool {
        false
    }
}

impl<F, K> KeyExtractor for F
where
    F: Fn(&RequestHead<'_>) -> Option<K> + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = K;

    fn extract(&self, request: &RequestHead<'_>) -> Option<K> {
        self(request)
    }
}

/// What a key function sees of a request: a borrowed view of its head (method, URI, version,
/// headers, extensions), whatever its body type.
///
/// ```
/// use floodgate::rate_limit::RequestHead;
///
/// let request = http::Request::get("/items/7").header("x-api-key", "k1").body(()).unwrap();
/// let head = RequestHead::from(&request);
/// assert_eq!(head.uri().path(), "/items/7");
/// assert_eq!(head.headers()["x-api-key"], "k1");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (where servers put the peer address).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

impl<'a, B> From<&'a Request<B>> for RequestHead<'a> {
    fn from(request: &'a Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

impl<'a> From<&'a Parts> for RequestHead<'a> {
    fn from(parts: &'a Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }
}

/// What the layer does with a request whose key cannot be extracted (no peer address, no
/// header, an unparseable forwarding header).
///
/// The default is [`SharedBucket`](MissingKey::SharedBucket): all such requests are limited
/// together, as one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingKey {
    /// Every request without a key draws from one shared bucket with the same quota.
    #[default]
    SharedBucket,
    /// Answer `400 Bad Request`: the key is required (for example an API key header).
    BadRequest,
    /// Answer `429 Too Many Requests`: requests without a key get no quota.
    TooManyRequests,
}

/// One bucket for all requests: a global rate limit (the default of
/// [`RateLimitLayer::new`](super::RateLimitLayer::new)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Global;

impl KeyExtractor for Global {
    type Key = ();

    fn extract(&self, _request: &RequestHead<'_>) -> Option<()> {
        Some(())
    }

    fn is_global(&self) -> bool {
        true
    }
}

/// One bucket per peer IP address: the address of the TCP connection the request came on.
///
/// The address is read from the request extensions: axum's `ConnectInfo<SocketAddr>` (with the
/// crate's `axum` feature; serve with `into_make_service_with_connect_info::<SocketAddr>()`),
/// or a plain [`SocketAddr`] extension (insert one yourself when serving with hyper).
///
/// Without either, the server is set up wrong: every request would share one bucket, or be
/// refused, without anybody noticing why. So such a request is answered
/// `500 Internal Server Error` ([`Reason::NoPeerAddress`](super::Reason::NoPeerAddress)), and
/// the first one logs an error (tracing) that names the fix: the usual cause is an axum app
/// built without floodgate's `axum` feature, or served without `ConnectInfo`.
///
/// Behind a reverse proxy every request comes from the proxy: use
/// [`ClientIp`](super::ClientIp) there. Note that one IPv6 client often controls a whole `/64`,
/// so per-address IPv6 buckets are easy to multiply.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr, SocketAddr};
/// use floodgate::rate_limit::{KeyExtractor, PeerIp, RequestHead};
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(SocketAddr::from(([192, 0, 2, 7], 50123)));
/// let key = PeerIp.extract(&RequestHead::from(&request));
/// assert_eq!(key, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerIp;

impl KeyExtractor for PeerIp {
    type Key = IpAddr;

    fn extract(&self, request: &RequestHead<'_>) -> Option<IpAddr> {
        peer_addr(request).map(|addr| addr.ip().to_canonical())
    }

    fn needs_peer_address(&self) -> bool {
        true
    }
}

/// The peer address in the request extensions: axum's `ConnectInfo<SocketAddr>` (feature
/// `axum`), else a plain `SocketAddr`.
pub(crate) fn peer_addr(request: &RequestHead<'_>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    extensions.get::<SocketAddr>().copied()
}

/// One bucket per value of a request header, for example an API key.
///
/// A request without the header (or with an empty value, or one longer than
/// [`max_len`](HeaderKey::max_len)) has no key (see [`MissingKey`]). If the header appears
/// several times, the first value counts. The key is a compact copy of the value, never a
/// reference into the request.
///
/// The key is whatever the client sends: limit by a header only if something earlier in the
/// stack checks it (an authenticating proxy or middleware), or if inventing new values buys a
/// client nothing (each new value gets a fresh bucket).
///
/// ```
/// use floodgate::rate_limit::{HeaderKey, KeyExtractor, RequestHead};
///
/// let key = HeaderKey::from_static("x-api-key");
/// let request = http::Request::get("/").header("x-api-key", "k-123").body(()).unwrap();
/// assert_eq!(key.extract(&RequestHead::from(&request)).unwrap(), "k-123");
/// ```
#[derive(Debug, Clone)]
pub struct HeaderKey {
    name: HeaderName,
    max_len: usize,
}

/// The longest header value [`HeaderKey`] keys by, unless set otherwise.
pub const DEFAULT_MAX_KEY_LEN: usize = 128;

impl HeaderKey {
    /// Keys requests by the value of the header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self {
            name,
            max_len: DEFAULT_MAX_KEY_LEN,
        }
    }

    /// The longest value that is a key, in bytes (default [`DEFAULT_MAX_KEY_LEN`]). A longer
    /// value is no key at all (see [`MissingKey`]): every bucket keeps a copy of its key for as
    /// long as the key is active, so a client must not be able to make keys of any size.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Keys requests by the value of the header `name`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid lowercase header name (see [`HeaderName::from_static`]).
    pub fn from_static(name: &'static str) -> Self {
        Self::new(HeaderName::from_static(name))
    }

    /// The header name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl KeyExtractor for HeaderKey {
    type Key = HeaderValue;

    fn extract(&self, request: &RequestHead<'_>) -> Option<HeaderValue> {
        let value = request.headers().get(&self.name)?;
        if value.is_empty() || value.len() > self.max_len {
            return None;
        }
        // A copy of its own: a clone would share (and keep alive) the server's whole read
        // buffer of the request head, kilobytes per key.
        HeaderValue::from_bytes(value.as_bytes()).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn key<E: KeyExtractor>(extractor: &E, request: &http::Request<()>) -> Option<E::Key> {
        extractor.extract(&RequestHead::from(request))
    }

    #[test]
    fn peer_ip_reads_a_socket_addr_extension() {
        let mut request = http::Request::new(());
        let mapped = SocketAddr::from((Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207]), 1));
        request.extensions_mut().insert(mapped);
        // An IPv4-mapped IPv6 peer is the IPv4 client it maps.
        assert_eq!(key(&PeerIp, &request), Some(IpAddr::from([192, 0, 2, 7])));
        assert_eq!(key(&PeerIp, &http::Request::new(())), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn peer_ip_reads_axum_connect_info() {
        let mut request = http::Request::new(());
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                [10, 1, 2, 3],
                80,
            ))));
        assert_eq!(key(&PeerIp, &request), Some(IpAddr::from([10, 1, 2, 3])));
    }

    #[test]
    fn header_key_skips_missing_and_empty_values() {
        let api_key = HeaderKey::from_static("x-api-key");
        let with = |value: &str| {
            http::Request::builder()
                .header("x-api-key", value)
                .body(())
                .unwrap()
        };
        assert_eq!(key(&api_key, &with("abc")).unwrap(), "abc");
        assert_eq!(key(&api_key, &with("")), None);
        assert_eq!(key(&api_key, &http::Request::new(())), None);
    }

    #[test]
    fn a_header_key_owns_a_compact_copy_and_has_a_length_cap() {
        // The value is a slice of a large buffer, as hyper hands header values over.
        let buffer = bytes::Bytes::from(vec![b'k'; 16 * 1024]);
        let value = HeaderValue::from_maybe_shared(buffer.slice(0..10)).unwrap();
        let request = http::Request::builder()
            .header("x-api-key", value)
            .body(())
            .unwrap();
        let api_key = HeaderKey::from_static("x-api-key");
        let stored = key(&api_key, &request).unwrap();
        drop(request);
        assert_eq!(stored.len(), 10);
        assert!(
            buffer.is_unique(),
            "the key keeps nothing of the request's buffer alive"
        );

        let long = |n: usize| {
            http::Request::builder()
                .header("x-api-key", "a".repeat(n))
                .body(())
                .unwrap()
        };
        assert!(key(&api_key, &long(DEFAULT_MAX_KEY_LEN)).is_some());
        assert_eq!(key(&api_key, &long(DEFAULT_MAX_KEY_LEN + 1)), None);
        assert!(key(&api_key.max_len(4096), &long(4096)).is_some());
    }

    #[test]
    fn closures_are_key_extractors() {
        let by_path = |request: &RequestHead<'_>| Some(request.uri().path().to_owned());
        let request = http::Request::get("/a/b").body(()).unwrap();
        assert_eq!(key(&by_path, &request).as_deref(), Some("/a/b"));
        assert!(!by_path.is_global());
        assert!(Global.is_global());
    }

    #[test]
    fn a_head_from_parts_sees_the_same_request() {
        let (parts, ()) = http::Request::post("/x")
            .header("a", "b")
            .body(())
            .unwrap()
            .into_parts();
        let head = RequestHead::from(&parts);
        assert_eq!(head.method(), http::Method::POST);
        assert_eq!(head.uri().path(), "/x");
        assert_eq!(head.version(), http::Version::HTTP_11);
        assert_eq!(head.headers()["a"], "b");
        assert!(head.extensions().is_empty());
    }
}
