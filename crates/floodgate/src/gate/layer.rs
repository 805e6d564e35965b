//! [`GateLayer`]: the gate as a tower layer.

use std::time::Duration;

use http::StatusCode;
use tower_layer::Layer;

use super::config::GateConfig;
use super::discipline::Queue;
use super::handle::Gate;
use super::priority::{ExtensionPriority, Priority};
use super::release::ReleaseAt;
use super::response::NoBypass;
use super::service::{Completion, GateAdmission, GateService};
use crate::limit::LimitAlgorithm;
use crate::middleware::AdmissionService;
use crate::middleware::DefaultOnReject;

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
/// The layer is a value: each setting returns a layer with a new gate built with that setting,
/// so a clone configured differently is a different gate, and configuring one never changes
/// another. To share one gate between several layers, say so with
/// [`from_gate`](GateLayer::from_gate).
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
pub struct GateLayer<R = DefaultOnReject, P = NoBypass, C = ExtensionPriority> {
    config: GateConfig,
    gate: Gate,
    on_reject: R,
    bypass: P,
    classify: C,
    dropped_when: fn(StatusCode) -> bool,
    release_at: ReleaseAt,
}

impl GateLayer {
    /// A layer with a new gate that lets `limit` requests through at once (defaults: `max_wait`
    /// 100 ms, `max_queue` 1024, `Retry-After` 1 s).
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn new(limit: usize) -> Self {
        Self::with_config(GateConfig::new(limit))
    }

    /// A layer with a gate that needs no number: the [`Adaptive`](crate::limit::Adaptive) limit
    /// measures the backend's latency with no queue and keeps the limit where latency stays
    /// within 10 % of its spread, up to 1000 in flight (the other defaults as [`new`](GateLayer::new)).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use floodgate::GateLayer;
    ///
    /// let gate = GateLayer::adaptive();
    /// assert_eq!(gate.gate().snapshot().limit, 3, "it starts by measuring, at 3 in flight");
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(gate);
    /// ```
    pub fn adaptive() -> Self {
        Self::new(1000).limit_algorithm(crate::limit::Adaptive::new())
    }

    /// A layer with a new gate built with `config`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate::GateLayer;
    /// use floodgate::gate::GateConfig;
    ///
    /// let config = GateConfig::new(16).max_wait(Duration::from_millis(20));
    /// let layer = GateLayer::with_config(config);
    /// assert_eq!(layer.gate().snapshot().max_wait, Duration::from_millis(20));
    /// ```
    pub fn with_config(config: GateConfig) -> Self {
        let gate = Gate::with_config(config.clone());
        Self::sharing(config, gate)
    }

    /// A layer around an existing gate, to share one limit between several layers or services.
    ///
    /// The gate's settings are the ones it was built with; a setting called on this layer
    /// afterwards (say [`max_wait`](GateLayer::max_wait)) gives the layer a new gate of its own,
    /// built with the shared gate's settings and that change.
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
        let config = gate.config().clone();
        Self::sharing(config, gate)
    }

    fn sharing(config: GateConfig, gate: Gate) -> Self {
        Self {
            config,
            gate,
            on_reject: DefaultOnReject,
            bypass: NoBypass,
            classify: ExtensionPriority,
            dropped_when: server_error,
            release_at: ReleaseAt::Body,
        }
    }
}

impl<R, P, C> GateLayer<R, P, C> {
    /// How long a request may wait for a permit before it gets a 503. Zero: never wait.
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.configure(|config| config.max_wait(max_wait))
    }

    /// How many requests may wait at once; more get a 503 at once. Zero: never wait.
    pub fn max_queue(self, max_queue: usize) -> Self {
        self.configure(|config| config.max_queue(max_queue))
    }

    /// The `Retry-After` of rejections: sent in whole seconds, rounded up, at least 1.
    pub fn retry_after(self, retry_after: Duration) -> Self {
        self.configure(|config| config.retry_after(retry_after))
    }

    /// The queue discipline: [`Queue::Fifo`] (default), [`Queue::Lifo`] or [`Queue::Codel`].
    /// See [`Queue`] for when to pick which.
    pub fn queue(self, queue: Queue) -> Self {
        self.configure(|config| config.queue(queue))
    }

    /// For LIFO and CoDel: how long requests must keep queueing before the queue counts as
    /// standing (default: half of `max_wait`). See [`GateConfig::standing_after`].
    pub fn standing_after(self, after: Duration) -> Self {
        self.configure(|config| config.standing_after(after))
    }

    /// For LIFO and CoDel: the longest wait while the queue stands (default 5 ms). See
    /// [`GateConfig::standing_wait`].
    pub fn standing_wait(self, wait: Duration) -> Self {
        self.configure(|config| config.standing_wait(wait))
    }

    /// The gate's name, the `gate` label of its metrics (default `default`). See
    /// [`GateConfig::name`].
    pub fn name(self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.configure(|config| config.name(name))
    }

    /// Lets `algorithm` set the limit from measured latency, live, starting at its initial
    /// limit; the limit given to [`GateLayer::new`] stays the ceiling. See
    /// [`GateConfig::limit_algorithm`].
    ///
    /// ```
    /// use floodgate::GateLayer;
    /// use floodgate::limit::Gradient2;
    ///
    /// let gate = GateLayer::new(64)
    ///     .limit_algorithm(Gradient2::new().initial_limit(16).max_limit(256));
    /// assert_eq!(gate.gate().snapshot().limit, 16);
    /// ```
    pub fn limit_algorithm(self, algorithm: impl LimitAlgorithm + Clone + Sync) -> Self {
        self.configure(|config| config.limit_algorithm(algorithm))
    }

    /// A layer like this one, with a new gate built with the changed settings.
    fn configure(self, change: impl FnOnce(GateConfig) -> GateConfig) -> Self {
        let config = change(self.config);
        Self {
            gate: Gate::with_config(config.clone()),
            config,
            ..self
        }
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

    /// When an admitted request gives its permit back: when its response body ends (the
    /// default), or as soon as the response head is produced, for long-lived responses (SSE,
    /// long polls, WebSocket upgrades) that would otherwise hold a permit for their whole life.
    /// See [`ReleaseAt`]. The gate is shared, not rebuilt: this is how this layer's requests end.
    ///
    /// ```
    /// use floodgate::GateLayer;
    /// use floodgate::gate::ReleaseAt;
    ///
    /// let gate = GateLayer::new(64);
    /// let streams = GateLayer::from_gate(gate.gate().clone()).release_at(ReleaseAt::Headers);
    /// # let _ = streams;
    /// ```
    pub fn release_at(self, release_at: ReleaseAt) -> Self {
        Self { release_at, ..self }
    }

    /// Builds rejection responses with `on_reject` instead of the plain-text default.
    ///
    /// The closure gets the [`Rejection`](super::Rejection) and returns a response with the
    /// inner service's body type. A `Retry-After` header is added if it has none.
    ///
    /// ```
    /// use axum::{Router, response::{IntoResponse, Response}, routing::get};
    /// use floodgate::GateLayer;
    /// use floodgate::gate::Rejection;
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
    pub fn on_reject<F>(self, on_reject: F) -> GateLayer<F, P, C> {
        GateLayer {
            config: self.config,
            gate: self.gate,
            on_reject,
            bypass: self.bypass,
            classify: self.classify,
            dropped_when: self.dropped_when,
            release_at: self.release_at,
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
    pub fn bypass<Q>(self, predicate: Q) -> GateLayer<R, Q, C> {
        GateLayer {
            config: self.config,
            gate: self.gate,
            on_reject: self.on_reject,
            bypass: predicate,
            classify: self.classify,
            dropped_when: self.dropped_when,
            release_at: self.release_at,
        }
    }

    /// Gives each request a [`Priority`] class with `classify` (a closure
    /// `Fn(&Request<B>) -> Priority`, [`PriorityHeader`](super::PriorityHeader), or the default
    /// [`ExtensionPriority`]): under pressure the gate serves higher classes first, evicts the
    /// newest waiter of a lower class from a full queue, lets sheddable requests wait half of
    /// `max_wait`, and reports each class (see [`Priority`]).
    ///
    /// The gate's metrics then carry a `class` label
    /// ([`GateConfig::priority_classes`]): a gate that did not report classes yet is rebuilt
    /// with that setting, as other settings do.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::{Router, extract::Request, routing::{get, post}};
    /// use floodgate::GateLayer;
    /// use floodgate::gate::Priority;
    ///
    /// let gate = GateLayer::new(64)
    ///     .reserve(Priority::Critical, 0.1)   // 6 of 64 slots only for critical requests
    ///     .classify(|request: &Request| match request.uri().path() {
    ///         "/checkout" => Priority::Critical,
    ///         "/recommendations" => Priority::Sheddable,
    ///         _ => Priority::Default,
    ///     });
    /// let app: Router = Router::new()
    ///     .route("/checkout", post(|| async { "paid" }))
    ///     .route("/recommendations", get(|| async { "[]" }))
    ///     .layer(gate);
    /// ```
    pub fn classify<K>(self, classify: K) -> GateLayer<R, P, K> {
        let this = if self.config.priority_classes {
            self
        } else {
            self.configure(GateConfig::priority_classes)
        };
        GateLayer {
            config: this.config,
            gate: this.gate,
            on_reject: this.on_reject,
            bypass: this.bypass,
            classify,
            dropped_when: this.dropped_when,
            release_at: this.release_at,
        }
    }

    /// Keeps `share` of the limit for requests of `priority` or higher. See
    /// [`GateConfig::reserve`].
    pub fn reserve(self, priority: Priority, share: f64) -> Self {
        self.configure(|config| config.reserve(priority, share))
    }

    /// How long requests of `priority` may wait, instead of `max_wait` (sheddable ones: half of
    /// it by default). See [`GateConfig::class_max_wait`].
    pub fn class_max_wait(self, priority: Priority, max_wait: Duration) -> Self {
        self.configure(|config| config.class_max_wait(priority, max_wait))
    }

    /// Reads each request's deadline: its [`Deadline`](super::Deadline) extension, or a gRPC
    /// request's `grpc-timeout`. A request that cannot be served before it is answered at once
    /// ([`Reason::Deadline`](super::Reason::Deadline); gRPC: `DEADLINE_EXCEEDED`), the others
    /// wait at most their time left minus the expected service time. See
    /// [`GateConfig::deadlines`].
    pub fn deadlines(self) -> Self {
        self.configure(GateConfig::deadlines)
    }

    /// Reads plain HTTP requests' deadline from header `name`, the client's time left in whole
    /// milliseconds, as well as what [`deadlines`](GateLayer::deadlines) reads.
    ///
    /// ```
    /// use floodgate::GateLayer;
    /// use http::HeaderName;
    ///
    /// let gate = GateLayer::new(64)
    ///     .deadline_header(HeaderName::from_static("x-request-timeout-ms"));
    /// assert!(gate.gate().snapshot().expected_service_time.is_some());
    /// ```
    pub fn deadline_header(self, name: http::HeaderName) -> Self {
        self.configure(|config| config.deadline_header(name))
    }

    /// The shared gate: stats, live limit changes, shutdown.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<S, R: Clone, P: Clone, C: Clone> Layer<S> for GateLayer<R, P, C> {
    type Service = GateService<S, R, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let completion = Completion {
            dropped_when: self.dropped_when,
            release_at: self.release_at,
        };
        let admission = GateAdmission::new(
            self.gate.clone(),
            self.on_reject.clone(),
            self.bypass.clone(),
            self.classify.clone(),
            completion,
        );
        AdmissionService::new(inner, admission)
    }
}
