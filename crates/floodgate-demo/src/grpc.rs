//! A small gRPC service behind the gate: `grpc.health.v1.Health` (tonic's health service, no
//! code generation), whose every call first does `/slow`'s work, so that a gRPC client can be
//! shown being shed (`UNAVAILABLE`, with `grpc-retry-pushback-ms`) like any HTTP client.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use tower::{ServiceExt, service_fn};

use crate::backend::Backend;

/// The path of every method of the service, for the router.
pub(crate) const HEALTH_PATH: &str = "/grpc.health.v1.Health/{*method}";

/// Routes `grpc.health.v1.Health` (reporting the whole server as serving) to a service that
/// holds one of the backend's slots for `work`, then answers.
pub(crate) fn router<S>(backend: Backend, work: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (_reporter, health) = tonic_health::server::health_reporter();
    let service = service_fn(move |request: Request<Body>| {
        let backend = backend.clone();
        let health = health.clone();
        async move {
            backend.work(work).await;
            let response: Response<tonic::body::Body> = health.oneshot(request).await?;
            Ok::<_, Infallible>(response.map(Body::new))
        }
    });
    Router::new().route_service(HEALTH_PATH, service)
}
