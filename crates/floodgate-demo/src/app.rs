//! The demo app: routes, limiter, body limit and metrics, assembled from a [`Config`].

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use floodgate::Gate;
use floodgate::connection::ConnectionLimit;
use floodgate::rate_limit::RateLimiter;
use tower_http::limit::RequestBodyLimitLayer;

use crate::backend::Backend;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::jobs::{JobPool, Jobs};
use crate::metrics::{self, Metrics};
use crate::routes::{self, AppState};
use crate::{admin, grpc, limiter, rate_limit, server};

/// The demo app built from a [`Config`]: the axum [`Router`], plus what the server and callers
/// need beside it (the gate handle for shutdown and stats, the config for the server's
/// settings).
///
/// Each `App` has its own gate, backend, job pool, ingest gate and metrics registry, so several
/// can run in one process side by side (say, one with the gate and one without). The job
/// pool's workers start with the first job, on the runtime that serves it.
///
/// ```
/// use floodgate_demo::{App, Config, Limiter};
///
/// let gated = App::new(&Config::default());
/// assert_eq!(gated.gate().unwrap().snapshot().limit, 64);
///
/// let ungated = App::new(&Config { limiter: Limiter::None, ..Config::default() });
/// assert!(ungated.gate().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct App {
    router: Router,
    gate: Option<Gate>,
    stream_gate: Option<Gate>,
    rate_limiter: Option<RateLimiter>,
    config: Config,
    jobs: Jobs,
    ingest: Ingest,
    connections: ConnectionLimit,
}

impl App {
    /// Builds the routes, the rate limit (with `--rate`), the limiter chosen by `config.limiter`,
    /// the simulated backend, the
    /// `/jobs` pool, the `/ingest` pipeline's settings and the metrics registry.
    pub fn new(config: &Config) -> Self {
        let backend = Backend::new(config.backend_capacity);

        let gated = Router::new()
            .route("/slow", get(routes::slow))
            .route("/fast", get(routes::fast))
            .merge(grpc::router(backend.clone(), config.delay));
        let streams = Router::new().route("/stream", get(routes::stream));
        let (gated, gates) = limiter::guard(gated, streams, config);
        let gate = gates.as_ref().map(|gates| gates.requests.clone());
        let stream_gate = gates.map(|gates| gates.streams);
        // After the limiter, so outside it: a request over the rate never takes a permit.
        let (gated, rate_limiter) = rate_limit::guard(gated, &config.rate_limit);
        let open = Router::new()
            .route("/healthz", get(routes::healthz))
            .route("/metrics", get(routes::metrics));

        let jobs = Jobs::new(config);
        let ingest = Ingest::new(config);
        let connections =
            ConnectionLimit::new(config.max_connections).idle_timeout(config.idle_timeout);
        let mut metrics = Metrics::new(gate.clone(), rate_limiter.clone(), backend.clone());
        if let Some(streams) = &stream_gate {
            metrics.add_gate(streams.clone());
        }
        metrics.set_connections(connections.clone());
        metrics.register_collector(jobs.collector());
        metrics.register_collector(ingest.collector());
        let metrics = Arc::new(metrics);
        let admin = admin::router(backend.clone());
        let state = AppState {
            backend,
            delay: config.delay,
            max_slow_ms: config.max_slow_ms,
            metrics: Arc::clone(&metrics),
        };
        let router = gated
            .merge(open)
            .with_state(state)
            .merge(jobs.router())
            .merge(admin)
            .layer(RequestBodyLimitLayer::new(server::MAX_BODY_BYTES))
            // After the 1 MiB limit: uploads have a limit of their own.
            .merge(ingest.router())
            // Outermost, so that it also counts rejections (503, 413).
            .layer(middleware::from_fn_with_state(metrics, metrics::record));

        Self {
            router,
            gate,
            stream_gate,
            rate_limiter,
            config: config.clone(),
            jobs,
            ingest,
            connections,
        }
    }

    /// The app's router (a cheap clone), to serve or to call with `tower::ServiceExt::oneshot`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The app's router.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// The gate in front of `/slow` and `/fast`, when `--limiter` is `gate`: stats
    /// ([`Gate::snapshot`]), live changes ([`Gate::set_limit`]), shutdown ([`Gate::close`]).
    pub fn gate(&self) -> Option<&Gate> {
        self.gate.as_ref()
    }

    /// The second gate of `/stream`, capping the streams open at once (`--max-streams`), when
    /// `--limiter` is `gate`.
    pub fn stream_gate(&self) -> Option<&Gate> {
        self.stream_gate.as_ref()
    }

    /// The rate limit in front of `/slow` and `/fast`, when `--rate` is given: stats
    /// ([`RateLimiter::snapshot`]) and its quota.
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.rate_limiter.as_ref()
    }

    /// The settings the app was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The `/jobs` worker pool (for shutdown).
    pub(crate) fn jobs(&self) -> &JobPool {
        self.jobs.pool()
    }

    /// The connection limit `serve` accepts under (`--max-connections`, `--idle-timeout`).
    pub fn connection_limit(&self) -> &ConnectionLimit {
        &self.connections
    }

    /// The gate in front of `/ingest` (for shutdown).
    pub(crate) fn ingest_gate(&self) -> &Gate {
        self.ingest.gate()
    }
}

/// The demo's router for `config`, for tests and embedding without a socket (see
/// [`App::new`] to keep the gate handle).
///
/// ```
/// use axum::body::Body;
/// use floodgate_demo::{Config, app};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = app(&Config::default());
/// let response = router
///     .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// # }
/// ```
pub fn app(config: &Config) -> Router {
    App::new(config).into_router()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::response::Response;
    use http::header::{CONTENT_LENGTH, RETRY_AFTER};
    use http::{Request, StatusCode};
    use tokio::task::JoinHandle;
    use tokio::time::Instant;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Limiter;
    use crate::routes::MAX_SLOW_MS;

    const DELAY: Duration = Duration::from_secs(1);

    fn config(limiter: Limiter, max_concurrency: usize, backend_capacity: usize) -> Config {
        Config {
            limiter,
            max_concurrency,
            backend_capacity,
            delay: DELAY,
            max_wait: Duration::from_millis(100),
            ..Config::default()
        }
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    /// Sends a request in the background; returns its status and when it was answered.
    fn spawn(router: &Router, path: &str) -> JoinHandle<(StatusCode, Duration)> {
        let router = router.clone();
        let request = get(path);
        let start = Instant::now();
        tokio::spawn(async move {
            let response: Response = router.oneshot(request).await.unwrap();
            (response.status(), start.elapsed())
        })
    }

    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_turns_excess_away_after_max_wait_and_never_gates_health() {
        let app = App::new(&config(Limiter::Gate, 1, 64));
        let router = app.router();
        let first = spawn(&router, "/slow");
        settle().await;
        let second = spawn(&router, "/fast");
        settle().await;
        assert_eq!(app.gate().unwrap().snapshot().queued, 1);

        let health = router.clone().oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let metrics = router.clone().oneshot(get("/metrics")).await.unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        assert_eq!(
            metrics.headers()["content-type"],
            crate::metrics::CONTENT_TYPE
        );

        let (status, at) = second.await.unwrap();
        assert_eq!(
            (status, at),
            (StatusCode::SERVICE_UNAVAILABLE, Duration::from_millis(100))
        );
        assert_eq!(first.await.unwrap(), (StatusCode::OK, DELAY));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limiter_excess_queues_in_the_backend() {
        let router = app(&config(Limiter::None, 1, 1));
        let first = spawn(&router, "/slow");
        settle().await;
        let second = spawn(&router, "/slow");
        assert_eq!(first.await.unwrap(), (StatusCode::OK, DELAY));
        assert_eq!(second.await.unwrap(), (StatusCode::OK, 2 * DELAY));
    }

    #[tokio::test(start_paused = true)]
    async fn tower_limit_waits_as_long_as_it_takes() {
        let router = app(&config(Limiter::TowerLimit, 1, 64));
        let first = spawn(&router, "/slow");
        settle().await;
        let second = spawn(&router, "/fast");
        assert_eq!(first.await.unwrap(), (StatusCode::OK, DELAY));
        assert_eq!(second.await.unwrap(), (StatusCode::OK, DELAY));
    }

    #[tokio::test(start_paused = true)]
    async fn tower_shed_turns_excess_away_at_once_with_retry_after() {
        let router = app(&Config {
            retry_after: Duration::from_millis(1500),
            ..config(Limiter::TowerShed, 1, 64)
        });
        let first = spawn(&router, "/slow");
        settle().await;
        let start = Instant::now();
        let shed = router.clone().oneshot(get("/slow")).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[RETRY_AFTER], "2");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(first.await.unwrap(), (StatusCode::OK, DELAY));
        let health = router.oneshot(get("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_takes_its_work_time_from_the_query_capped() {
        let router = app(&config(Limiter::Gate, 4, 4));
        let short = spawn(&router, "/slow?ms=250");
        let capped = spawn(&router, "/slow?ms=999999999");
        assert_eq!(
            short.await.unwrap(),
            (StatusCode::OK, Duration::from_millis(250))
        );
        assert_eq!(
            capped.await.unwrap(),
            (StatusCode::OK, Duration::from_millis(MAX_SLOW_MS))
        );
        for bad in ["/slow?ms=soon", "/slow?ms=-1"] {
            let response = router.clone().oneshot(get(bad)).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn max_slow_ms_lowers_the_cap_on_the_query() {
        let router = app(&Config {
            max_slow_ms: 2000,
            ..config(Limiter::Gate, 4, 4)
        });
        let capped = spawn(&router, "/slow?ms=60000");
        let under = spawn(&router, "/slow?ms=1500");
        let default = spawn(&router, "/slow");
        assert_eq!(
            capped.await.unwrap(),
            (StatusCode::OK, Duration::from_millis(2000))
        );
        assert_eq!(
            under.await.unwrap(),
            (StatusCode::OK, Duration::from_millis(1500))
        );
        assert_eq!(default.await.unwrap(), (StatusCode::OK, DELAY), "--delay");
    }

    #[tokio::test]
    async fn unknown_paths_are_404_and_not_gated() {
        let app = App::new(&config(Limiter::Gate, 1, 1));
        let response = app.router().oneshot(get("/nope")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.gate().unwrap().snapshot().admitted, 0);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let router = app(&Config::default());
        let too_large = Request::post("/fast")
            .header(CONTENT_LENGTH, crate::MAX_BODY_BYTES + 1)
            .body(Body::from(vec![0; crate::MAX_BODY_BYTES + 1]))
            .unwrap();
        let response = router.oneshot(too_large).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
