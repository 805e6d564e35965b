//! The open loop: requests start on the schedule whatever the server does, so a stall shows up
//! in the latency of every request it delayed (no coordinated omission).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::schedule::Schedule;
use super::{LATE_AFTER, ThreadCtx};
use crate::engine::Engine;

/// Starts this thread's share of the schedule with at most `slots` requests in flight, then
/// waits for the last ones to finish.
pub(super) async fn run<E: Engine>(
    engine: &E,
    ctx: Rc<ThreadCtx>,
    slots: usize,
    mut schedule: Schedule,
) {
    let permits = Arc::new(Semaphore::new(slots));
    // Idle workers (and their connections); the most recently used one goes out first.
    let idle: Rc<RefCell<Vec<E::Worker>>> =
        Rc::new(RefCell::new((0..slots).map(|_| engine.worker()).collect()));

    'schedule: while let Some(next) = schedule.peek() {
        if next > Instant::now() {
            tokio::time::sleep_until(next).await;
        }
        // Release every start that is due now: at high rates one timer tick covers several.
        while let Some((index, due)) = schedule.pop_indexed(Instant::now()) {
            if ctx.respect_retry_after && ctx.backoff.covers(index, due) {
                ctx.recorder.borrow_mut().deferred += 1;
                continue;
            }
            let permit = match Arc::clone(&permits).try_acquire_owned() {
                Ok(permit) => permit,
                // All slots busy (-c): this start, and the ones behind it, will be late; if no
                // slot frees up before the end of the run, they are missed.
                Err(_) => {
                    let slot = Arc::clone(&permits).acquire_owned();
                    let slot = match ctx.end {
                        Some(end) => tokio::time::timeout_at(end, slot).await.ok(),
                        None => Some(slot.await),
                    };
                    match slot {
                        Some(permit) => permit.expect("the semaphore is never closed"),
                        None => {
                            ctx.missed(due);
                            break 'schedule;
                        }
                    }
                }
            };
            let started = Instant::now();
            if ctx.is_over(started) {
                ctx.missed(due);
                break 'schedule;
            }
            let lag = started - due;
            ctx.recorder
                .borrow_mut()
                .record_start(lag, lag > LATE_AFTER);
            let mut worker = idle
                .borrow_mut()
                .pop()
                .expect("a free slot has an idle worker");
            let (ctx, idle) = (Rc::clone(&ctx), Rc::clone(&idle));
            tokio::task::spawn_local(async move {
                let outcome = ctx.exchange(&mut worker, due, started).await;
                if ctx.respect_retry_after {
                    if let Some(Ok(response)) = outcome {
                        if let Some(delay) = response.retry_after {
                            ctx.backoff.extend_to(index, Instant::now() + delay);
                        }
                    }
                }
                idle.borrow_mut().push(worker);
                drop(permit);
            });
        }
        if ctx.is_over(Instant::now()) {
            break;
        }
    }
    // Every start still due before the end was never sent: each is accounted for, as deferred
    // (inside a back-off window) or missed.
    if let Some(end) = ctx.end {
        while let Some((index, due)) = schedule.pop_indexed(end) {
            if ctx.respect_retry_after && ctx.backoff.covers(index, due) {
                ctx.recorder.borrow_mut().deferred += 1;
            } else {
                ctx.missed(due);
            }
        }
    }
    // Wait for the requests in flight (each ends by the run's end or its timeout).
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let _all_done = permits.acquire_many(all).await;
}
