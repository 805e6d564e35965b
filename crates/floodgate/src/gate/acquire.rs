//! The future that waits for a permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep, sleep_until};

use super::permit::{Measure, Permit};
use super::state::{Entry, Shared};
use crate::{Reason, Rejection};

/// Waits for a permit of a [`Gate`](super::Gate), at most `max_wait`.
///
/// Resolves to a [`Permit`], or to a [`Rejection`] if the queue is full, the wait ran out, or the
/// gate was closed. Dropping the future before it resolves leaves the queue at once; if a permit
/// had just been set aside for it, the permit goes to the next waiter.
///
/// Created by [`Gate::acquire`](super::Gate::acquire). The deadline timer needs a tokio runtime
/// with the time driver enabled.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire {
    shared: Arc<Shared>,
    phase: Phase,
}

enum Phase {
    /// Not yet polled: has not entered the gate.
    Start,
    /// In the queue at `index`.
    Queued {
        index: usize,
        since: Instant,
        deadline: Option<Instant>,
        on_timeout: Reason,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Done,
}

impl Acquire {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            phase: Phase::Start,
        }
    }

    /// A future for a waiter that entered the queue already (without a waker).
    pub(crate) fn queued(
        shared: Arc<Shared>,
        index: usize,
        since: Instant,
        deadline: Option<Instant>,
        on_timeout: Reason,
    ) -> Self {
        Self {
            shared,
            phase: Phase::Queued {
                index,
                since,
                deadline,
                on_timeout,
                timer: None,
            },
        }
    }

    fn finish(
        &mut self,
        outcome: Result<Option<Measure>, Rejection>,
    ) -> Poll<Result<Permit, Rejection>> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        if let Phase::Queued { since, .. } = phase {
            crate::metrics::record_queue_wait(since, outcome.is_ok());
        }
        Poll::Ready(outcome.map(|measure| Permit::counted(Arc::clone(&self.shared), measure)))
    }
}

impl Future for Acquire {
    type Output = Result<Permit, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Phase::Start = this.phase {
            let entry = this.shared.lock().enter(Some(cx.waker()));
            match entry {
                Entry::Admitted(measure) => return this.finish(Ok(measure)),
                Entry::Rejected(rejection) => return this.finish(Err(rejection)),
                Entry::Queued {
                    index,
                    since,
                    deadline,
                    on_timeout,
                } => {
                    this.phase = Phase::Queued {
                        index,
                        since,
                        deadline,
                        on_timeout,
                        timer: None,
                    }
                }
            }
        }
        let Phase::Queued {
            index,
            since,
            deadline,
            on_timeout,
            timer,
        } = &mut this.phase
        else {
            panic!("`Acquire` polled after it completed");
        };
        let (index, since, on_timeout) = (*index, *since, *on_timeout);
        {
            let mut state = this.shared.lock();
            match state.collect(index, since) {
                Some(outcome) => {
                    drop(state);
                    return this.finish(outcome);
                }
                None => state.waiters.set_waker(index, cx.waker()),
            }
        }
        if let Some(deadline) = *deadline {
            let timer = timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
            if timer.as_mut().poll(cx).is_ready() {
                let outcome = {
                    let mut state = this.shared.lock();
                    state.time_out(index, on_timeout);
                    state.collect(index, since)
                };
                let outcome = outcome.expect("a timed-out waiter is decided");
                return this.finish(outcome);
            }
        }
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Phase::Queued { index, .. } = self.phase {
            let released = self.shared.lock().leave(index);
            if let Some(released) = released {
                released.wake(&self.shared);
            }
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Start => "start",
            Phase::Queued { .. } => "queued",
            Phase::Done => "done",
        };
        f.debug_struct("Acquire")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}
