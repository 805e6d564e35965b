//! The demo's gRPC service (`grpc.health.v1.Health`, behind the gate) with a real tonic client
//! over h2c: served while there is room, shed with `UNAVAILABLE` and a retry pushback when not.

use std::time::Duration;

use floodgate_demo::Config;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{TestServer, client, eventually};

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn a_grpc_client_is_served_then_shed_with_unavailable() {
    let server = TestServer::start(Config {
        max_concurrency: 1,
        max_wait: Duration::ZERO,
        delay: Duration::from_millis(10),
        retry_after: Duration::from_secs(2),
        ..Config::default()
    })
    .await;
    let channel = Channel::from_shared(server.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = HealthClient::new(channel);

    let answer = grpc.check(check()).await.unwrap().into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);
    assert_eq!(
        server.gate().snapshot().admitted,
        1,
        "the call went through the gate"
    );

    // An HTTP request holds the only permit: the next call is shed, the gRPC way.
    let http = client();
    let busy = tokio::spawn(http.get(server.url("/slow?ms=3000")).send());
    let gate = server.gate().clone();
    eventually("/slow holds the permit", || async {
        gate.snapshot().in_flight == 1
    })
    .await;
    let status = grpc.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "2000"
    );
    assert_eq!(busy.await.unwrap().unwrap().status(), 200);
    assert_eq!(gate.snapshot().rejected.timeout, 1);
}
