//! The client address behind trusted reverse proxies (`X-Forwarded-For`, `Forwarded`).

use std::net::{IpAddr, SocketAddr};

use http::HeaderName;
use http::header::FORWARDED;
use ipnet::IpNet;

use super::key::{KeyExtractor, RequestHead, peer_addr};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One bucket per client IP address, read through the reverse proxies you trust.
///
/// Behind a proxy, the peer of every request is the proxy; the proxy appends the address it saw
/// to a forwarding header (`X-Forwarded-For`, or `Forwarded` from RFC 7239). The client is found
/// by walking that chain **from the right**, starting at the peer: while the address is a
/// trusted proxy, step one hop left; the first untrusted address is the client.
///
/// **Why the proxies must be named.** Anyone can send a forwarding header. Every hop *appends*
/// to it, so only the entries added by your own proxies (the right end) are true; whatever is to
/// their left was written by the client. Trusting the header blindly (say, taking its leftmost
/// entry) lets every client pick its own address, and so its own bucket: a fresh one with each
/// request, which is no limit at all, or somebody else's, to lock them out. So:
///
/// - the header is read only when the peer itself is a trusted proxy; from anyone else it is
///   ignored and the peer address is the key;
/// - only the one header your proxies write is read (`x_forwarded_for` or `forwarded`): a proxy
///   that appends to one passes a spoofed other along untouched;
/// - an entry that is not an address (`unknown`, an obfuscated `_node`) where the client should
///   be means the client is unknown: the request has no key (see [`MissingKey`](super::MissingKey)).
///
/// If every hop is trusted, the leftmost entry is the client; without a header, the peer is.
/// The peer address comes from the request extensions, as for [`PeerIp`](super::PeerIp).
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use floodgate::rate_limit::{ClientIp, KeyExtractor, RequestHead};
///
/// let key = ClientIp::x_forwarded_for(["10.0.0.0/8".parse().unwrap()]);
///
/// // The load balancer (10.0.0.2) saw 203.0.113.9; the client claimed to be 192.0.2.1.
/// let mut request = http::Request::builder()
///     .header("x-forwarded-for", "192.0.2.1, 203.0.113.9")
///     .body(())
///     .unwrap();
/// request.extensions_mut().insert(SocketAddr::from(([10, 0, 0, 2], 40000)));
/// let client = key.extract(&RequestHead::from(&request));
/// assert_eq!(client, Some(IpAddr::from([203, 0, 113, 9])));
/// ```
#[derive(Debug, Clone)]
pub struct ClientIp {
    header: Header,
    trusted: Vec<IpNet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    XForwardedFor,
    Forwarded,
}

impl ClientIp {
    /// Reads `X-Forwarded-For` (comma-separated addresses) when the peer is in `trusted`.
    ///
    /// `trusted` lists your proxies' networks; a single address converts too
    /// (`IpNet::from(addr)`).
    pub fn x_forwarded_for(trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self::with(Header::XForwardedFor, trusted)
    }

    /// Reads `Forwarded` (RFC 7239, its `for=` parameters) when the peer is in `trusted`.
    pub fn forwarded(trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self::with(Header::Forwarded, trusted)
    }

    fn with(header: Header, trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            header,
            trusted: trusted.into_iter().map(|net| net.trunc()).collect(),
        }
    }

    /// The trusted proxy networks.
    pub fn trusted(&self) -> &[IpNet] {
        &self.trusted
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a trusted `peer`, from the forwarding header's hops (left to right;
    /// `None` for a hop that cannot be read).
    fn behind<'a>(
        &self,
        peer: IpAddr,
        hops: impl DoubleEndedIterator<Item = Option<&'a str>>,
    ) -> Option<IpAddr> {
        let mut client = peer;
        for hop in hops.rev() {
            client = parse_node(hop?, self.header)?;
            if !self.is_trusted(client) {
                return Some(client);
            }
        }
        Some(client)
    }
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract(&self, request: &RequestHead<'_>) -> Option<IpAddr> {
        let peer = peer_addr(request)?.ip().to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let name = match self.header {
            Header::XForwardedFor => &X_FORWARDED_FOR,
            Header::Forwarded => &FORWARDED,
        };
        // Several field lines form one list, in order.
        let mut hops = Vec::new();
        for value in request.headers().get_all(name) {
            match (value.to_str(), self.header) {
                (Ok(line), Header::XForwardedFor) => hops.extend(line.split(',').map(Some)),
                (Ok(line), Header::Forwarded) => {
                    hops.extend(split_outside_quotes(line, ',').map(Some));
                }
                // Not visible ASCII: an unreadable hop, which matters only if the walk reaches it.
                (Err(_), _) => hops.push(None),
            }
        }
        self.behind(peer, hops.into_iter())
    }

    fn needs_peer_address(&self) -> bool {
        true
    }
}

/// An address from one hop: an `X-Forwarded-For` entry, or a `Forwarded` element.
fn parse_node(hop: &str, header: Header) -> Option<IpAddr> {
    let node = match header {
        Header::XForwardedFor => hop.trim(),
        Header::Forwarded => forwarded_for(hop)?,
    };
    parse_addr(node).map(|ip| ip.to_canonical())
}

/// An address, possibly with a port, possibly bracketed: `192.0.2.1`, `192.0.2.1:80`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_addr(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The `for=` node of a `Forwarded` element (`for=192.0.2.60;proto=http;by=203.0.113.43`),
/// unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    split_outside_quotes(element, ';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        Some(
            value
                .strip_prefix('"')
                .and_then(|quoted| quoted.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

/// Splits at `separator`, except inside double-quoted strings (which may escape with `\`).
fn split_outside_quotes(input: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let current = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (index, c) in current.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == separator && !quoted => {
                    rest = Some(&current[index + c.len_utf8()..]);
                    return Some(&current[..index]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use http::request::Parts;

    use super::*;

    /// The extractor's key for a request head.
    trait ExtractParts {
        fn extract_parts(&self, parts: &Parts) -> Option<IpAddr>;
    }

    impl ExtractParts for ClientIp {
        fn extract_parts(&self, parts: &Parts) -> Option<IpAddr> {
            self.extract(&RequestHead::from(parts))
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn request(peer: &str, header: Option<(&str, &str)>) -> Parts {
        let mut builder = http::Request::builder();
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        let mut request = builder.body(()).unwrap();
        request
            .extensions_mut()
            .insert(SocketAddr::new(ip(peer), 1234));
        request.into_parts().0
    }

    fn xff(peer: &str, value: &str) -> Parts {
        request(peer, Some(("x-forwarded-for", value)))
    }

    fn proxies() -> ClientIp {
        ClientIp::x_forwarded_for([net("10.0.0.0/8"), net("2001:db8:ffff::/48")])
    }

    #[test]
    fn spoofed_header_from_an_untrusted_peer_is_ignored() {
        let parts = xff("198.51.100.7", "1.2.3.4");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("198.51.100.7")));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client prepended a fake entry; the proxies appended the real hops.
        let parts = xff("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.1.1");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("203.0.113.9")));
    }

    #[test]
    fn several_header_lines_form_one_chain() {
        let mut request = http::Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
            .header("x-forwarded-for", "10.2.0.1")
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(SocketAddr::new(ip("10.0.0.1"), 1));
        assert_eq!(
            proxies().extract_parts(&request.into_parts().0),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_trusted_peer_without_header_is_the_client() {
        let parts = request("10.0.0.1", None);
        assert_eq!(proxies().extract_parts(&parts), Some(ip("10.0.0.1")));
    }

    #[test]
    fn an_all_trusted_chain_gives_the_leftmost_hop() {
        let parts = xff("10.0.0.1", "10.9.9.9, 10.1.1.1");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("10.9.9.9")));
    }

    #[test]
    fn garbage_where_the_client_should_be_means_no_key() {
        let parts = xff("10.0.0.1", "203.0.113.9, unknown, 10.1.1.1");
        assert_eq!(proxies().extract_parts(&parts), None);
        // Garbage left of the client is never read.
        let parts = xff("10.0.0.1", "garbage, 203.0.113.9");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("203.0.113.9")));
    }

    #[test]
    fn ports_brackets_and_ipv6() {
        let parts = xff("10.0.0.1", "[2001:db8::1]:443, 203.0.113.9:8080");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("203.0.113.9")));
        let parts = xff("2001:db8:ffff::2", "2001:db8::1");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("2001:db8::1")));
        let parts = xff("10.0.0.1", "[2001:db8::7]");
        assert_eq!(proxies().extract_parts(&parts), Some(ip("2001:db8::7")));
    }

    #[test]
    fn no_peer_address_means_no_key() {
        let parts = http::Request::new(()).into_parts().0;
        assert_eq!(proxies().extract_parts(&parts), None);
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The proxy appends to X-Forwarded-For; a client-sent Forwarded passes through untouched.
        let key = ClientIp::forwarded([net("10.0.0.0/8")]);
        let parts = xff("10.0.0.1", "203.0.113.9");
        assert_eq!(key.extract_parts(&parts), Some(ip("10.0.0.1")));
    }

    #[test]
    fn forwarded_elements_and_quoting() {
        let key = ClientIp::forwarded([net("10.0.0.0/8")]);
        let value =
            r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https, for=10.3.3.3;by="x,y""#;
        let parts = request("10.0.0.1", Some(("forwarded", value)));
        assert_eq!(key.extract_parts(&parts), Some(ip("2001:db8:cafe::17")));

        let parts = request("10.0.0.1", Some(("forwarded", "for=_hidden, for=10.3.3.3")));
        assert_eq!(key.extract_parts(&parts), None);
        let parts = request("10.0.0.1", Some(("forwarded", "proto=https")));
        assert_eq!(key.extract_parts(&parts), None);
    }

    #[test]
    fn split_respects_quotes_and_escapes() {
        let parts: Vec<_> = split_outside_quotes(r#"a="x,\"y",b,c"#, ',').collect();
        assert_eq!(parts, [r#"a="x,\"y""#, "b", "c"]);
        assert_eq!(split_outside_quotes("", ',').collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn host_bits_of_trusted_networks_are_ignored() {
        let key = ClientIp::x_forwarded_for([net("10.1.2.3/8")]);
        assert_eq!(key.trusted(), [net("10.0.0.0/8")]);
    }
}
