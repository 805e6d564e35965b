//! gRPC through the layers, with a real tonic client and server over HTTP/2 on loopback: a
//! rejected call ends with a gRPC status (`UNAVAILABLE` from the gate, `RESOURCE_EXHAUSTED` from
//! the rate limit) and the retry pushback, not a protocol error.

use std::net::SocketAddr;

use floodgate::{GateLayer, Quota, RateLimitLayer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A loopback listener for a server, and its address.
async fn listener() -> (TcpIncoming, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (TcpIncoming::from(listener), addr)
}

/// Serves tonic's health service behind `$layer` on a loopback port until the returned sender
/// is dropped; evaluates to `(address, stop)`.
macro_rules! serve_health {
    ($layer:expr) => {{
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let (incoming, addr) = listener().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::builder()
            .layer($layer)
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            });
        tokio::spawn(async move {
            server.await.unwrap();
            drop(reporter);
        });
        (addr, stop)
    }};
}

async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn the_gate_answers_a_grpc_call_with_unavailable_and_a_pushback() {
    let gate = GateLayer::new(4).retry_after(std::time::Duration::from_millis(1500));
    let handle = gate.gate().clone();
    let (addr, _stop) = serve_health!(gate);
    let mut client = client(addr).await;

    let admitted = client.check(check()).await.unwrap().into_inner();
    assert_eq!(admitted.status(), ServingStatus::Serving);

    handle.close();
    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "service shutting down, retry later");
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "1500"
    );
    assert_eq!(status.metadata().get("retry-after").unwrap(), "2");
    assert_eq!(handle.snapshot().rejected.closed, 1);
}

#[tokio::test]
async fn the_rate_limit_answers_a_grpc_call_with_resource_exhausted() {
    let rate_limit = RateLimitLayer::new(Quota::per_minute(1).burst(1));
    let limiter = rate_limit.limiter();
    let (addr, _stop) = serve_health!(rate_limit);
    let mut client = client(addr).await;

    assert!(client.check(check()).await.is_ok());
    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let pushback: u64 = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The next token comes within the minute.
    assert!((50_000..=60_000).contains(&pushback), "{pushback}");
    assert!(status.metadata().get("ratelimit-policy").is_some());
    assert_eq!(limiter.snapshot().rejected, 1);
}

/// A gRPC request that waited for a permit and got none is answered the gRPC way too; a plain
/// HTTP request, the plain way; a custom rejection, as its closure says.
#[tokio::test(start_paused = true)]
async fn a_grpc_request_rejected_after_waiting_gets_a_grpc_status() {
    use http::{Request, Response, StatusCode};
    use tower::{Layer as _, ServiceExt, service_fn};

    let gate = GateLayer::new(1).max_wait(std::time::Duration::from_millis(10));
    let _held = gate.gate().acquire().await.unwrap();
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    });
    let grpc = || {
        Request::post("/grpc.health.v1.Health/Check")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    };

    let response = gate.layer(inner).oneshot(grpc()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert_eq!(response.headers()["grpc-retry-pushback-ms"], "1000");

    let plain = Request::get("/").body(()).unwrap();
    let response = gate.layer(inner).oneshot(plain).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let custom = gate
        .clone()
        .on_reject(|_: &floodgate::gate::Rejection| Response::new(String::from("busy")));
    let response = custom.layer(inner).oneshot(grpc()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("grpc-status").is_none(),
        "the closure decides"
    );
    assert_eq!(response.headers()["retry-after"], "1");
}

/// A gate that reads deadlines answers a call whose `grpc-timeout` (tonic's
/// `Request::set_timeout`) is shorter than the gate's expected service time with
/// `DEADLINE_EXCEEDED` at once, instead of doing work the client would throw away.
#[tokio::test]
async fn a_call_that_cannot_meet_its_deadline_gets_deadline_exceeded_at_once() {
    use std::time::Duration;

    let gate = GateLayer::new(1)
        .max_wait(Duration::from_secs(30))
        .deadlines();
    let handle = gate.gate().clone();
    let (addr, _stop) = serve_health!(gate);
    let mut client = client(addr).await;

    // Work takes 300 ms here, the gate learns (its first sample is its estimate).
    let permit = handle.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(permit);
    let expected = handle.snapshot().expected_service_time.unwrap();
    assert!(expected >= Duration::from_millis(300), "{expected:?}");

    // 5 s left: plenty. 100 ms left: not enough, and the gate says so before the client's
    // own timer runs out.
    let mut call = tonic::Request::new(check());
    call.set_timeout(Duration::from_secs(5));
    assert!(client.check(call).await.is_ok(), "time enough");
    let mut call = tonic::Request::new(check());
    call.set_timeout(Duration::from_millis(100));
    let status = client.check(call).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("deadline"), "{status:?}");
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.rejected.deadline, 1, "{snapshot:?}");
    assert_eq!(
        snapshot.admitted, 2,
        "the call without time enough never ran"
    );
}
