//! Run with: cargo run -p example-grpc
//!
//! A tonic server behind the gate (`Server::builder().layer(..)`): the gate counts calls
//! (HTTP/2 streams), not connections. A call it turns away ends with a gRPC status the client
//! understands, not a protocol error: `UNAVAILABLE` (14) with `grpc-retry-pushback-ms`, the
//! delay gRPC's retry policy honours; with `.deadlines()`, a call whose `grpc-timeout` is too
//! short for the expected service time gets `DEADLINE_EXCEEDED` (4) at once.
//!
//! The service is tonic-health's `grpc.health.v1.Health` (no code generation needed):
//! `grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check`.

#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use floodgate::GateLayer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The gate of the server: `limit` calls at once, a 50 ms wait, deadlines honoured.
fn gate(limit: usize) -> GateLayer {
    GateLayer::new(limit)
        .max_wait(Duration::from_millis(50))
        .retry_after(Duration::from_secs(2))
        .deadlines()
}

/// Serves the health service behind `gate` on `listener` until `shutdown` resolves.
async fn serve(
    listener: TcpListener,
    gate: GateLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    Server::builder()
        .layer(gate)
        .add_service(health)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = "127.0.0.1:50051".parse()?;
    let listener = TcpListener::bind(addr).await?;
    println!("gRPC health service behind a gate of 64 on {addr}");
    serve(listener, gate(64), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use tonic::Code;
    use tonic::transport::Channel;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    fn check() -> HealthCheckRequest {
        HealthCheckRequest {
            service: String::new(),
        }
    }

    #[tokio::test]
    async fn a_full_gate_sheds_a_call_with_unavailable_and_a_pushback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = gate(1);
        let handle = gate.gate().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, gate, async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);
        assert!(client.check(check()).await.is_ok());

        // The only slot is taken (by work outside gRPC, for the test): the call is shed.
        let held = handle.acquire().await.unwrap();
        let status = client.check(check()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(
            status.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "2000"
        );
        drop(held);
        assert!(client.check(check()).await.is_ok());

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
