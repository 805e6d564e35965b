//! The future that waits for a permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::{Sleep, sleep_until};

use super::deadline::Deadline;
use super::permit::Permit;
use super::priority::Priority;
use super::rejection::Rejection;
use super::state::{Arrival, Core, Entry, Ticket};

/// Waits for a permit of a [`Gate`](super::Gate), at most `max_wait`.
///
/// Resolves to a [`Permit`], or to a [`Rejection`] if the queue is full, the wait ran out, or the
/// gate was closed. Dropping the future before it resolves leaves the queue at once; if a permit
/// had just been set aside for it, the permit goes to the next waiter.
///
/// Created by [`Gate::acquire`](super::Gate::acquire), for a request of
/// [`Priority::Default`] without a deadline unless told otherwise before it is first polled:
///
/// ```
/// use std::time::Duration;
/// use floodgate::gate::{Deadline, GateConfig, Priority};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = GateConfig::new(4).build();
/// let permit = gate
///     .acquire()
///     .priority(Priority::Critical)
///     .deadline(Deadline::after(Duration::from_secs(2)))
///     .await
///     .unwrap();
/// # drop(permit);
/// # }
/// ```
///
/// The deadline timer needs a tokio runtime with the time driver enabled.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire {
    core: Arc<Core>,
    phase: Phase,
}

enum Phase {
    /// Not yet polled: has not entered the gate.
    Start(Arrival),
    /// In the queue.
    Queued {
        ticket: Ticket,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Done,
}

impl Acquire {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            phase: Phase::Start(Arrival::default()),
        }
    }

    /// Enters the gate as a request of class `priority` (default: [`Priority::Default`]).
    ///
    /// # Panics
    ///
    /// If the future was polled already.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.arrival().priority = priority;
        self
    }

    /// Enters the gate as a request whose client stops waiting at `deadline`: with a gate that
    /// reads deadlines ([`GateConfig::deadlines`](super::GateConfig::deadlines)) it is turned
    /// away at once if it cannot be served in time, and waits at most its time left minus the
    /// expected service time; with any gate, it never waits past the deadline.
    ///
    /// # Panics
    ///
    /// If the future was polled already.
    pub fn deadline(mut self, deadline: Deadline) -> Self {
        self.arrival().deadline = Some(deadline.instant());
        self
    }

    fn arrival(&mut self) -> &mut Arrival {
        match &mut self.phase {
            Phase::Start(arrival) => arrival,
            _ => panic!("`Acquire` configured after it was polled"),
        }
    }

    /// A future for a waiter that entered the queue already (without a waker).
    pub(crate) fn queued(core: Arc<Core>, ticket: Ticket) -> Self {
        Self {
            core,
            phase: Phase::Queued {
                ticket,
                timer: None,
            },
        }
    }

    /// Resolves: admitted (as a request of `priority`) with this many in flight, or turned away.
    fn finish(
        &mut self,
        priority: Priority,
        outcome: Result<usize, Rejection>,
    ) -> Poll<Result<Permit, Rejection>> {
        self.phase = Phase::Done;
        let core = &self.core;
        Poll::Ready(
            outcome.map(|in_flight| Permit::admitted(Arc::clone(core), in_flight, priority)),
        )
    }
}

impl Future for Acquire {
    type Output = Result<Permit, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Phase::Start(arrival) = this.phase {
            match this.core.enter(Some(cx.waker()), arrival) {
                Entry::Admitted(in_flight) => return this.finish(arrival.priority, Ok(in_flight)),
                Entry::Rejected(rejection) => return this.finish(arrival.priority, Err(rejection)),
                Entry::Queued(ticket) => {
                    this.phase = Phase::Queued {
                        ticket,
                        timer: None,
                    }
                }
            }
        }
        let Phase::Queued { ticket, timer } = &mut this.phase else {
            panic!("`Acquire` polled after it completed");
        };
        let ticket = *ticket;
        {
            let mut locked = this.core.lock();
            match locked.collect(&ticket) {
                Some(outcome) => {
                    drop(locked);
                    return this.finish(ticket.priority, outcome);
                }
                None => locked.set_waker(&ticket, cx.waker()),
            }
        }
        if let Some(deadline) = ticket.deadline {
            let timer = timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
            if timer.as_mut().poll(cx).is_ready() {
                let outcome = {
                    let mut locked = this.core.lock();
                    locked.time_out(&ticket);
                    locked.collect(&ticket)
                };
                let outcome = outcome.expect("a timed-out waiter is decided");
                return this.finish(ticket.priority, outcome);
            }
        }
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Phase::Queued { ticket, .. } = &self.phase {
            let wakers = self.core.lock().leave(ticket);
            wakers.wake(&self.core);
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Start(_) => "start",
            Phase::Queued { .. } => "queued",
            Phase::Done => "done",
        };
        f.debug_struct("Acquire")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}
