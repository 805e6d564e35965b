//! The `Host` rule of RFC 9112 §3.2, which hyper leaves to the application: a server MUST answer
//! `400` to an HTTP/1.1 request without `Host`, and to any request with more than one `Host`
//! field line or an invalid `Host` value.
//!
//! Applied by [`serve`](crate::serve) to every connection, not by the app's router, so that
//! requests built in-process (tests, `oneshot`) need no `Host`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, StatusCode, Version};

/// Answers `400` (and closes the connection) when the request's `Host` breaks the rule.
pub(crate) async fn require_host(request: Request, next: Next) -> Response {
    match check(&request) {
        Ok(()) => next.run(request).await,
        Err(problem) => {
            tracing::debug!(problem, "bad Host header");
            (
                StatusCode::BAD_REQUEST,
                [(CONNECTION, "close")],
                format!("{problem}\n"),
            )
                .into_response()
        }
    }
}

/// What is wrong with the request's `Host`, if anything.
fn check<B>(request: &http::Request<B>) -> Result<(), &'static str> {
    let mut hosts = request.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err("more than one Host header"),
        (None, _) if request.version() == Version::HTTP_11 => {
            Err("an HTTP/1.1 request needs a Host header")
        }
        (Some(host), None) if !is_valid(host) => Err("invalid Host header"),
        _ => Ok(()),
    }
}

/// `uri-host [ ":" port ]`, or empty (for a target URI without an authority).
fn is_valid(host: &HeaderValue) -> bool {
    if host.is_empty() {
        return true;
    }
    let Ok(text) = host.to_str() else {
        return false;
    };
    // The port, if any: digits only (`Authority` does not check them).
    let port_is_digits = match text.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => port.bytes().all(|byte| byte.is_ascii_digit()),
        _ => true,
    };
    // An authority may carry userinfo (`user@`); a Host may not.
    port_is_digits
        && !text.contains('@')
        && text
            .parse::<http::uri::Authority>()
            .is_ok_and(|authority| authority.as_str() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> http::Request<()> {
        let mut builder = http::Request::get("/fast").version(version);
        for host in hosts {
            builder = builder.header(HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn http_1_1_needs_exactly_one_valid_host() {
        let v11 = Version::HTTP_11;
        for good in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]:8080",
            "",
        ] {
            assert_eq!(check(&request(v11, &[good])), Ok(()), "{good:?}");
        }
        assert!(check(&request(v11, &[])).is_err());
        assert!(check(&request(v11, &["a", "b"])).is_err());
        assert!(check(&request(v11, &["a", "a"])).is_err());
        for bad in [
            "user@example.com",
            "exa mple.com",
            "example.com/path",
            "host:port",
        ] {
            assert!(check(&request(v11, &[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http_1_0_may_go_without_but_not_with_two() {
        let v10 = Version::HTTP_10;
        assert_eq!(check(&request(v10, &[])), Ok(()));
        assert_eq!(check(&request(v10, &["example.com"])), Ok(()));
        assert!(check(&request(v10, &["a", "b"])).is_err());
    }
}
