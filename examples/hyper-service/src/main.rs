//! Run with: cargo run -p example-hyper-service
//!
//! The gate around a plain tower service, served by hyper-util: no axum. Any
//! `Service<http::Request<B>, Response = http::Response<B2>>` works; rejections come back as
//! `Ok(503 response)`, so the error type stays the inner service's (here `Infallible`).

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use floodgate::GateLayer;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer, service_fn};

/// The handler: a plain async function from request to response.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match request.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done\n"
        }
        _ => "hello\n",
    };
    Ok(Response::new(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))))
}

/// Serves `handle` behind `gate` on `listener`, one task per connection, forever.
async fn serve(listener: TcpListener, gate: GateLayer) {
    // A tower service: clones share the gate.
    let service = gate.layer(service_fn(handle));
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, say: wait a little instead of giving up.
                eprintln!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                eprintln!("connection error: {err}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let gate = GateLayer::new(8).max_wait(Duration::from_millis(100));
    serve(listener, gate).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use http::StatusCode;
    use http_body_util::Empty;

    use super::*;

    /// One GET on a fresh connection, with hyper's client.
    async fn get(addr: SocketAddr, path: &str) -> Response<Incoming> {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.send_request(request).await.unwrap()
    }

    #[tokio::test]
    async fn the_gate_guards_a_plain_hyper_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = GateLayer::new(1).max_wait(Duration::ZERO);
        let stats = gate.gate().clone();
        let server = tokio::spawn(serve(listener, gate));

        let slow = tokio::spawn(get(addr, "/slow"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while stats.snapshot().in_flight == 0 {
            assert!(tokio::time::Instant::now() < deadline, "never admitted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // The only slot is taken and the gate does not wait: 503 with Retry-After.
        let rejected = get(addr, "/").await;
        assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejected.headers()["retry-after"], "1");

        assert_eq!(slow.await.unwrap().status(), StatusCode::OK);
        assert_eq!(get(addr, "/").await.status(), StatusCode::OK);
        server.abort();
    }
}
