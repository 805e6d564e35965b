//! [`ReleaseAt`]: when an admitted request gives its permit back.

/// When an admitted request gives its permit back: when its response body ends (the default), or
/// as soon as its response head is produced.
///
/// Hold the permit for the whole body for ordinary responses: a response being streamed still
/// uses the backend (a large download, a query's rows). Release it at the head for responses that
/// stay open without using the backend's capacity: Server-Sent Events, long polls, WebSocket
/// upgrades. Held to the end of the body, two such streams would hold a gate of limit 2 for
/// their whole life and every other request would get 503.
///
/// Apply it per route, with `route_layer`: a gate that releases at the head on the stream
/// routes, the default on the others. To cap the open streams themselves, put a second gate,
/// holding its permits to the end of the body, on the stream routes only:
///
/// ```
/// use axum::{Router, routing::get};
/// use floodgate::GateLayer;
/// use floodgate::gate::ReleaseAt;
///
/// let requests = GateLayer::new(64);                                  // work in progress
/// let streams = GateLayer::new(1000).name("streams");                 // open event streams
/// let app: Router = Router::new()
///     .route("/events", get(|| async { "data: hello\n\n" }))
///     .route_layer(streams)                                           // held while open
///     .route_layer(requests.clone().release_at(ReleaseAt::Headers))   // let go at the head
///     .merge(Router::new().route("/work", get(|| async { "done" })).route_layer(requests));
/// ```
///
/// (`release_at` keeps the layer's gate: `requests.clone().release_at(..)` and `requests` share
/// one limit, as [`GateLayer::from_gate`](super::GateLayer::from_gate) layers do.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReleaseAt {
    /// When the response body ends (or is dropped): the request counts while it is streamed.
    #[default]
    Body,
    /// As soon as the inner service has produced the response head. (An adaptive limit then
    /// measures the time to the head.)
    Headers,
}
