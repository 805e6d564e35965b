//! The closed loop: each worker sends, waits for the whole response, and sends again.

use std::rc::Rc;

use tokio::time::Instant;

use super::ThreadCtx;
use crate::engine::{Engine, Worker};

/// Runs `workers` closed-loop workers on this thread until the run is over.
pub(super) async fn run<E: Engine>(engine: &E, ctx: Rc<ThreadCtx>, workers: usize) {
    let tasks: Vec<_> = (0..workers)
        .map(|_| tokio::task::spawn_local(worker_loop(engine.worker(), Rc::clone(&ctx))))
        .collect();
    for task in tasks {
        // A worker task only ends by returning; a panic in it would be a bug worth seeing.
        if let Err(err) = task.await {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

async fn worker_loop<W: Worker>(mut worker: W, ctx: Rc<ThreadCtx>) {
    let mut resume_at: Option<Instant> = None;
    loop {
        if let Some(at) = resume_at.take() {
            // Backing off as the server asked (--respect-retry-after).
            if ctx.is_over(at) {
                break;
            }
            tokio::time::sleep_until(at).await;
        }
        if ctx.budget.as_ref().is_some_and(|budget| !budget.take()) {
            break;
        }
        let started = Instant::now();
        if ctx.is_over(started) {
            break;
        }
        let Some(outcome) = ctx.exchange(&mut worker, started, started).await else {
            break; // cancelled at the end of the run
        };
        if ctx.respect_retry_after {
            if let Ok(response) = outcome {
                resume_at = response.retry_after.map(|delay| Instant::now() + delay);
            }
        }
    }
}
