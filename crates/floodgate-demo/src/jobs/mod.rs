//! `/jobs`: a bounded worker pool, the classic answer to work that takes longer than a request
//! should.
//!
//! `POST /jobs` queues a job and answers at once, `202 Accepted` with the job's id (32 hex
//! digits, [unguessable](id)) and `Location: /jobs/{id}`; `--workers` tasks take jobs from a queue of `--job-queue` places.
//! When every place is taken the submission waits up to `--max-wait` for one, then is answered
//! `503` with `Retry-After`: the queue bounds the pending work, so a burst cannot pile up
//! unbounded work (and memory) behind the workers. `GET /jobs/{id}` reports the job as
//! `queued`, `running`, `done` (with its result), `failed` or `cancelled`; finished results
//! are kept for [`JOB_RESULT_TTL`], at most [`MAX_JOB_RESULTS`] of them.
//!
//! A job's work is simulated: `?ms=N` (default `--delay`, capped at [`MAX_JOB_MS`]) of
//! `?work=sleep` (a timer, like waiting for another service) or `?work=cpu` (computing, on a
//! blocking thread so that the async runtime stays free).
//!
//! The routes are not behind the gate: the queue is their admission control, with the same
//! bounded wait and the same `503` + `Retry-After`.

mod config;
mod handlers;
mod id;
mod metrics;
mod pool;
mod store;
mod work;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

pub use self::config::JobsConfig;
pub(crate) use self::metrics::JobsCollector;
pub(crate) use self::pool::JobPool;
use self::pool::PoolSettings;
use self::store::Retention;
pub use self::store::{JOB_RESULT_TTL, MAX_JOB_RESULTS};
pub use self::work::MAX_JOB_MS;
use crate::config::Config;

/// The `/jobs` routes' state: the pool, and how to answer.
#[derive(Debug, Clone)]
pub(crate) struct Jobs {
    pool: JobPool,
    /// Work time of a job without `?ms=`.
    default_work: Duration,
    retry_after: http::HeaderValue,
}

impl Jobs {
    /// The pool of `config.jobs`, with the wait and `Retry-After` of the gate.
    pub(crate) fn new(config: &Config) -> Self {
        let pool = JobPool::new(PoolSettings {
            workers: config.jobs.workers,
            queue: config.jobs.job_queue,
            max_wait: config.max_wait,
            retention: Retention::default(),
        });
        Self {
            pool,
            default_work: config.delay,
            retry_after: floodgate::gate::DefaultOnReject::retry_after(config.retry_after),
        }
    }

    /// `POST /jobs` and `GET /jobs/{id}`, with their state.
    pub(crate) fn router<S>(&self) -> Router<S> {
        Router::new()
            .route("/jobs", post(handlers::submit))
            .route("/jobs/{id}", get(handlers::status))
            .with_state(self.clone())
    }

    pub(crate) fn pool(&self) -> &JobPool {
        &self.pool
    }

    /// The pool's `floodgate_demo_jobs_*` series.
    pub(crate) fn collector(&self) -> JobsCollector {
        JobsCollector::new(self.pool.clone())
    }
}

#[cfg(test)]
mod tests;
