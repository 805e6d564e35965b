//! A key chosen at run time, from configuration: `global`, `ip` or `header:NAME`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use floodgate::rate_limit::{HeaderKey, KeyExtractor, PeerIp, RequestHead};
use http::{HeaderName, HeaderValue};

/// A key extractor chosen at run time, parsed from `global`, `ip` or `header:NAME` (for a
/// command-line flag or an environment variable).
///
/// | text | key | like |
/// |---|---|---|
/// | `global` | one bucket for everybody | [`Global`](floodgate::rate_limit::Global) |
/// | `ip` | the peer IP address | [`PeerIp`] |
/// | `header:NAME` | the value of header `NAME` | [`HeaderKey`] |
///
/// ```
/// use floodgate::{Quota, RateLimitLayer};
/// use floodgate_demo::KeySpec;
///
/// let spec: KeySpec = "header:x-api-key".parse().unwrap();
/// assert_eq!(spec.to_string(), "header:x-api-key");
/// let layer = RateLimitLayer::keyed(Quota::per_second(50).burst(10), spec);
/// # let _ = layer;
///
/// let error = "cookie".parse::<KeySpec>().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     r#"invalid rate limit key "cookie": expected `global`, `ip` or `header:NAME`"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// One bucket for all requests.
    Global,
    /// One bucket per peer IP address.
    PeerIp,
    /// One bucket per value of this header.
    Header(HeaderName),
}

/// The key of a [`KeySpec`]: a peer address or a header value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A peer IP address.
    Ip(IpAddr),
    /// A header value.
    Header(HeaderValue),
}

impl floodgate::rate_limit::redis::RedisKey for ClientKey {
    /// `ip:ADDRESS` or `header:VALUE`: the two kinds never share a bucket in Redis.
    fn write_key(&self, out: &mut Vec<u8>) {
        match self {
            ClientKey::Ip(ip) => {
                out.extend_from_slice(b"ip:");
                ip.write_key(out);
            }
            ClientKey::Header(value) => {
                out.extend_from_slice(b"header:");
                value.write_key(out);
            }
        }
    }
}

impl KeyExtractor for KeySpec {
    type Key = ClientKey;

    fn extract(&self, request: &RequestHead<'_>) -> Option<ClientKey> {
        match self {
            // Never asked: a global spec uses the single shared bucket.
            KeySpec::Global => None,
            KeySpec::PeerIp => PeerIp.extract(request).map(ClientKey::Ip),
            KeySpec::Header(name) => HeaderKey::new(name.clone())
                .extract(request)
                .map(ClientKey::Header),
        }
    }

    fn is_global(&self) -> bool {
        matches!(self, KeySpec::Global)
    }

    fn needs_peer_address(&self) -> bool {
        matches!(self, KeySpec::PeerIp)
    }
}

impl FromStr for KeySpec {
    type Err = ParseKeySpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseKeySpecError {
            text: text.to_owned(),
        };
        match text.trim() {
            "global" => Ok(KeySpec::Global),
            "ip" => Ok(KeySpec::PeerIp),
            other => {
                let name = other.strip_prefix("header:").ok_or_else(error)?;
                let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| error())?;
                Ok(KeySpec::Header(name))
            }
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Global => f.write_str("global"),
            KeySpec::PeerIp => f.write_str("ip"),
            KeySpec::Header(name) => write!(f, "header:{name}"),
        }
    }
}

/// The text given for a [`KeySpec`] was none of `global`, `ip`, `header:NAME` (with a valid
/// header name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKeySpecError {
    text: String,
}

impl fmt::Display for ParseKeySpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid rate limit key {:?}: expected `global`, `ip` or `header:NAME`",
            self.text
        )
    }
}

impl std::error::Error for ParseKeySpecError {}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[test]
    fn parses_and_displays() {
        for text in ["global", "ip", "header:x-api-key"] {
            assert_eq!(text.parse::<KeySpec>().unwrap().to_string(), text);
        }
        assert_eq!(
            "header:X-Api-Key".parse::<KeySpec>().unwrap(),
            KeySpec::Header(HeaderName::from_static("x-api-key"))
        );
    }

    #[test]
    fn rejects_bad_specs_naming_them() {
        for text in ["", "IP", "header:", "header:bad name", "headers:x"] {
            let error = text.parse::<KeySpec>().unwrap_err();
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn extracts_like_the_named_extractors() {
        let mut request = http::Request::builder()
            .header("x-api-key", "k1")
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 1], 9)));
        let head = RequestHead::from(&request);
        assert_eq!(
            KeySpec::PeerIp.extract(&head),
            Some(ClientKey::Ip(IpAddr::from([192, 0, 2, 1])))
        );
        let header = KeySpec::Header(HeaderName::from_static("x-api-key"));
        assert_eq!(
            header.extract(&head),
            Some(ClientKey::Header(HeaderValue::from_static("k1")))
        );
        assert!(KeySpec::Global.is_global());
        assert!(!header.is_global());
    }
}
