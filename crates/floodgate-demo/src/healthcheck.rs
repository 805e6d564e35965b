//! `floodgate-demo healthcheck`: a tiny HTTP client for container health checks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long the whole check may take.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the server listening on `addr` for `GET /healthz`; `Ok` if it answers `200 OK` within
/// [`HEALTHCHECK_TIMEOUT`].
///
/// An unspecified listen address (`0.0.0.0`, `::`) is probed on loopback, so the server's own
/// `--addr` works as is.
///
/// # Errors
///
/// If the server cannot be reached, does not answer in time, or answers another status.
pub async fn healthcheck(addr: SocketAddr) -> io::Result<()> {
    let addr = probe_address(addr);
    let status = tokio::time::timeout(HEALTHCHECK_TIMEOUT, get_healthz(addr))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {addr} within {HEALTHCHECK_TIMEOUT:?}"),
            )
        })??;
    if status != StatusCode::OK {
        return Err(io::Error::other(format!(
            "http://{addr}/healthz answered {status}"
        )));
    }
    Ok(())
}

async fn get_healthz(addr: SocketAddr) -> io::Result<StatusCode> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| io::Error::new(err.kind(), format!("cannot connect to {addr}: {err}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let connection = tokio::spawn(connection);
    let request = Request::get("/healthz")
        .header(HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let response = sender.send_request(request).await.map_err(io::Error::other);
    connection.abort();
    Ok(response?.status())
}

fn probe_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        let probe = |addr: &str| probe_address(addr.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("10.1.2.3:80"), "10.1.2.3:80");
    }
}
