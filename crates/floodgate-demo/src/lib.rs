//! The floodgate demo server: a slow handler in front of a backend of finite capacity, behind a
//! [`floodgate`] gate, with Prometheus metrics, so that you can watch the gate work and drive it
//! with `floodgate-load`.
//!
//! | route | gated | what it does |
//! |---|---|---|
//! | `GET /slow` | yes | takes one of `--backend-capacity` slots of a simulated backend (a FIFO pool, like a database pool) and holds it for `--delay`, or `?ms=N` (capped at `--max-slow-ms`, at most [`MAX_SLOW_MS`]; a bad `N` is answered 400) |
//! | `GET /fast` | yes | answers at once |
//! | `GET /healthz` | never | answers at once |
//! | `GET /metrics` | never | the gate's, the backend's and the requests' metrics, Prometheus text format |
//! | `POST /jobs` | own queue | queues a job for a bounded worker pool: `202` with its id and `Location`, or `503` when the queue stays full for `--max-wait` (see [`JobsConfig`]) |
//! | `GET /jobs/{id}` | never | the job's state: `queued`, `running`, `done` with its result, `failed`, `cancelled`; `404` once evicted |
//! | `POST /ingest` | own gate | streams NDJSON records through parse → batch → a slow sink, reading the body only as fast as the sink stores it (see [`IngestConfig`]) |
//! | `POST /admin/backend-capacity?slots=N` | never | a demo knob: sets the simulated backend's capacity, live; loopback clients only (see [`serve`]) |
//!
//! With `--rate`, a token-bucket rate limit runs before the gate, on the gated routes only:
//! `429 Too Many Requests` with `Retry-After` and the `RateLimit-Policy`/`RateLimit` fields (see
//! [`RateLimitConfig`]).
//!
//! The binary is a thin `main` over this library; tests and the load generator build the same
//! app in-process:
//!
//! - [`Config`] holds the settings (the command line, or [`Config::default`] and struct update
//!   syntax in code);
//! - [`App::new`] builds the router and keeps the gate handle ([`app`] when only the router
//!   is needed);
//! - [`serve`] runs it on a listener, hardened, until a shutdown future resolves, then drains
//!   gracefully; [`shutdown_signal`] is the process's SIGTERM/ctrl-c future
//!   ([`ShutdownSignals`] to act on a second one too).
//!
//! ```no_run
//! use clap::Parser;
//! use floodgate_demo::{App, Cli, serve, shutdown_signal};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let config = Cli::parse().config;
//! let listener = tokio::net::TcpListener::bind(config.addr).await?;
//! serve(listener, App::new(&config), shutdown_signal()?).await
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod adaptive;
mod admin;
mod app;
mod backend;
mod classes;
mod config;
mod grpc;
mod healthcheck;
mod host;
mod ingest;
mod jobs;
mod limiter;
mod metrics;
mod parse;
mod rate_limit;
mod routes;
mod server;
mod shutdown;

pub use crate::adaptive::{AdaptiveConfig, Algorithm};
pub use crate::app::{App, app};
pub use crate::classes::ClassesConfig;
pub use crate::config::{Cli, Command, Config, Limiter, ReleaseAt};
pub use crate::healthcheck::{HEALTHCHECK_TIMEOUT, healthcheck};
pub use crate::ingest::{INGEST_IDLE_TIMEOUT, IngestConfig, MAX_RECORD_BYTES};
pub use crate::jobs::{JOB_RESULT_TTL, JobsConfig, MAX_JOB_MS, MAX_JOB_RESULTS};
pub use crate::rate_limit::{
    ClientKey, KeySpec, ParseKeySpecError, ParseRateError, Rate, RateFallback, RateLimitConfig,
    RedisUrl,
};
pub use crate::routes::MAX_SLOW_MS;
pub use crate::server::{MAX_BODY_BYTES, MAX_CONCURRENT_STREAMS, MAX_HEADER_BYTES, serve};
pub use crate::shutdown::{ShutdownSignals, shutdown_signal};
