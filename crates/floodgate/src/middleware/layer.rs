use std::time::Duration;

use http::StatusCode;
use tower_layer::Layer;

use super::reject::{DefaultOnReject, NoBypass};
use super::service::GateService;
use crate::{Gate, LimitAlgorithm, Queue};

/// The default classification for adaptive limits: a server error means overload.
pub(crate) fn server_error(status: StatusCode) -> bool {
    status.is_server_error()
}

/// Wraps a service with a [`Gate`]: at most `limit` requests in flight, a bounded wait for the
/// rest, and `503 Service Unavailable` with `Retry-After` for those that cannot get in.
///
/// The gate lives in the layer, behind an `Arc`: every clone of the layer, every service it
/// builds (and so every route of an axum `Router` it is applied to) shares one limit. Build one
/// layer per limit you want.
///
/// Settings are stored in the shared gate, so they also change it for every clone.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use floodgate::GateLayer;
///
/// let gate = GateLayer::new(64)                 // at most 64 in flight
///     .max_wait(Duration::from_millis(100))     // a bounded wait for a permit
///     .max_queue(256)                           // more waiters than this: 503 at once
///     .retry_after(Duration::from_secs(1));     // Retry-After on 503s
/// let app: Router = Router::new()
///     .route("/slow", get(|| async { "done" }))
///     .layer(gate.clone());
/// assert_eq!(gate.gate().snapshot().limit, 64);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct GateLayer<R = DefaultOnReject, P = NoBypass> {
    gate: Gate,
    on_reject: R,
    bypass: P,
    dropped_when: fn(StatusCode) -> bool,
}

impl GateLayer {
    /// A layer with a new gate that lets `limit` requests through at once (defaults: `max_wait`
    /// 100 ms, `max_queue` 1024, `Retry-After` 1 s).
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn new(limit: usize) -> Self {
        Self::from_gate(Gate::new(limit))
    }

    /// A layer around an existing gate, to share one limit between several layers or services.
    ///
    /// ```
    /// use floodgate::{Gate, GateLayer};
    ///
    /// let gate = Gate::new(8);
    /// let api = GateLayer::from_gate(gate.clone());
    /// let admin = GateLayer::from_gate(gate);
    /// api.gate().set_limit(4);
    /// assert_eq!(admin.gate().snapshot().limit, 4);
    /// ```
    pub fn from_gate(gate: Gate) -> Self {
        Self {
            gate,
            on_reject: DefaultOnReject,
            bypass: NoBypass,
            dropped_when: server_error,
        }
    }
}

impl<R, P> GateLayer<R, P> {
    /// How long a request may wait for a permit before it gets a 503. Zero: never wait.
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.gate.set_max_wait(max_wait);
        self
    }

    /// How many requests may wait at once; more get a 503 at once. Zero: never wait.
    pub fn max_queue(self, max_queue: usize) -> Self {
        self.gate.set_max_queue(max_queue);
        self
    }

    /// The `Retry-After` of rejections: sent in whole seconds, rounded up, at least 1.
    pub fn retry_after(self, retry_after: Duration) -> Self {
        self.gate.set_retry_after(retry_after);
        self
    }

    /// The queue discipline: [`Queue::Fifo`] (default), [`Queue::Lifo`] or [`Queue::Codel`].
    /// See [`Queue`] for when to pick which.
    pub fn queue(self, queue: Queue) -> Self {
        self.gate.set_queue(queue);
        self
    }

    /// For LIFO and CoDel: how long requests must keep queueing before the queue counts as
    /// standing (default: half of `max_wait`). See [`Gate::set_standing_after`].
    pub fn standing_after(self, after: Duration) -> Self {
        self.gate.set_standing_after(after);
        self
    }

    /// For LIFO and CoDel: the longest wait while the queue stands (default 5 ms). See
    /// [`Gate::set_standing_wait`].
    pub fn standing_wait(self, wait: Duration) -> Self {
        self.gate.set_standing_wait(wait);
        self
    }

    /// Lets `algorithm` set the limit from measured latency, live (the limit given to
    /// [`GateLayer::new`] is replaced by the algorithm's initial limit). See
    /// [`Gate::set_limit_algorithm`].
    ///
    /// ```
    /// use floodgate::{GateLayer, Gradient2};
    ///
    /// let gate = GateLayer::new(64)
    ///     .limit_algorithm(Gradient2::new().initial_limit(16).max_limit(256));
    /// assert_eq!(gate.gate().snapshot().limit, 16);
    /// ```
    pub fn limit_algorithm(self, algorithm: impl LimitAlgorithm) -> Self {
        self.gate.set_limit_algorithm(algorithm);
        self
    }

    /// Which responses tell an adaptive limit that the service is overloaded (besides errors
    /// from the inner service, which always do). Default: any `5xx`.
    ///
    /// ```
    /// use floodgate::GateLayer;
    /// use http::StatusCode;
    ///
    /// let gate = GateLayer::new(64).dropped_when(|status| {
    ///     status == StatusCode::GATEWAY_TIMEOUT || status == StatusCode::SERVICE_UNAVAILABLE
    /// });
    /// ```
    pub fn dropped_when(self, dropped_when: fn(StatusCode) -> bool) -> Self {
        Self {
            dropped_when,
            ..self
        }
    }

    /// Builds rejection responses with `on_reject` instead of the plain-text default.
    ///
    /// The closure gets the [`Rejection`](crate::Rejection) and returns a response with the
    /// inner service's body type. A `Retry-After` header is added if it has none.
    ///
    /// ```
    /// use axum::{Router, response::{IntoResponse, Response}, routing::get};
    /// use floodgate::{GateLayer, Rejection};
    /// use http::{StatusCode, header::CONTENT_TYPE};
    ///
    /// let gate = GateLayer::new(8).on_reject(|rejection: &Rejection| -> Response {
    ///     let problem = format!(
    ///         r#"{{"title":"Service Unavailable","status":503,"detail":"{}"}}"#,
    ///         rejection.reason(),
    ///     );
    ///     let content_type = [(CONTENT_TYPE, "application/problem+json")];
    ///     (StatusCode::SERVICE_UNAVAILABLE, content_type, problem).into_response()
    /// });
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(gate);
    /// ```
    pub fn on_reject<F>(self, on_reject: F) -> GateLayer<F, P> {
        GateLayer {
            gate: self.gate,
            on_reject,
            bypass: self.bypass,
            dropped_when: self.dropped_when,
        }
    }

    /// Lets requests for which `predicate` returns `true` skip the gate: never queued, never
    /// rejected, not counted (health checks, metrics scrapes).
    ///
    /// ```
    /// use axum::{Router, extract::Request, routing::get};
    /// use floodgate::GateLayer;
    ///
    /// let gate = GateLayer::new(8)
    ///     .bypass(|request: &Request| request.uri().path() == "/healthz");
    /// let app: Router = Router::new()
    ///     .route("/healthz", get(|| async { "ok" }))
    ///     .route("/work", get(|| async { "done" }))
    ///     .layer(gate);
    /// ```
    pub fn bypass<Q>(self, predicate: Q) -> GateLayer<R, Q> {
        GateLayer {
            gate: self.gate,
            on_reject: self.on_reject,
            bypass: predicate,
            dropped_when: self.dropped_when,
        }
    }

    /// The shared gate: stats, live limit changes, shutdown.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<S, R: Clone, P: Clone> Layer<S> for GateLayer<R, P> {
    type Service = GateService<S, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService::new(
            inner,
            self.gate.clone(),
            self.on_reject.clone(),
            self.bypass.clone(),
            self.dropped_when,
        )
    }
}
