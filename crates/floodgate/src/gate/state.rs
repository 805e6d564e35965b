//! The admission state behind a [`Gate`](super::Gate): one mutex around limit, in-flight count,
//! waiter queue, settings and counters.
//!
//! Every decision takes the lock once and does O(1) work under it; wakers are returned to the
//! caller and woken after the lock is released.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::histogram::WaitHistogram;
use super::snapshot::{RejectedCounts, Snapshot};
use super::waiters::{Verdict, WaiterList};
use crate::Reason;
use crate::rejection::{Rejection, whole_seconds_at_least_one};

pub(crate) const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_MAX_QUEUE: usize = 1024;
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the gate owns and shares between all clones of a layer, service and handle.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken when `in_flight` drops to zero while somebody awaits `Gate::drained`.
    pub(crate) drained: Notify,
}

impl Shared {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(State::new(limit)),
            drained: Notify::new(),
        }
    }

    /// Locks the state. No code panics while holding the lock, but a poisoned lock is still
    /// usable: the state is consistent after every method of `State`.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives back one permit and admits the next waiter, if any.
    #[inline]
    pub(crate) fn release(&self) {
        let released = self.lock().release();
        released.wake(self);
    }
}

/// How a request entered the gate.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Admitted at once; a permit has been counted.
    Admitted,
    /// Turned away at once.
    Rejected(Rejection),
    /// Queued at `index`; reject it at `deadline` (`None`: never) if still waiting.
    Queued {
        index: usize,
        since: Instant,
        deadline: Option<Instant>,
    },
}

/// The effects of a release to carry out after unlocking.
#[must_use]
#[derive(Debug)]
pub(crate) struct Released {
    admitted: Option<Waker>,
    drained: bool,
}

impl Released {
    pub(crate) fn wake(self, shared: &Shared) {
        if let Some(waker) = self.admitted {
            waker.wake();
        }
        if self.drained {
            shared.drained.notify_waiters();
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    limit: usize,
    in_flight: usize,
    closed: bool,
    pub(crate) waiters: WaiterList,
    max_wait: Duration,
    max_queue: usize,
    retry_after_secs: u64,
    admitted: u64,
    rejected: RejectedCounts,
    /// Waits of requests admitted from the queue; those admitted at once (`admitted` minus
    /// this histogram's count) are added as zero waits when a snapshot is taken.
    queue_wait: WaitHistogram,
    /// How many `Gate::drained` futures are waiting, so that a release notifies only then.
    pub(crate) drain_watchers: usize,
}

impl State {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            in_flight: 0,
            closed: false,
            waiters: WaiterList::default(),
            max_wait: DEFAULT_MAX_WAIT,
            max_queue: DEFAULT_MAX_QUEUE,
            retry_after_secs: whole_seconds_at_least_one(DEFAULT_RETRY_AFTER),
            admitted: 0,
            rejected: RejectedCounts::default(),
            queue_wait: WaitHistogram::default(),
            drain_watchers: 0,
        }
    }

    /// A new request arrives: admit it, queue it, or turn it away.
    #[inline]
    pub(crate) fn enter(&mut self, waker: Option<&Waker>) -> Entry {
        if self.closed {
            return Entry::Rejected(self.reject(Reason::Closed));
        }
        // Nobody overtakes a queued waiter: free capacity with waiters present is handed out at
        // once by `release` and `set_limit`, so a non-empty queue means there is none.
        if self.in_flight < self.limit && self.waiters.is_empty() {
            self.in_flight += 1;
            self.admitted += 1;
            return Entry::Admitted;
        }
        if self.waiters.len() >= self.max_queue {
            return Entry::Rejected(self.reject(Reason::QueueFull));
        }
        if self.max_wait.is_zero() {
            return Entry::Rejected(self.reject(Reason::Timeout));
        }
        let since = Instant::now();
        let index = self.waiters.push_back(waker.cloned(), since);
        Entry::Queued {
            index,
            since,
            deadline: since.checked_add(self.max_wait),
        }
    }

    /// Counts a rejection and describes it.
    pub(crate) fn reject(&mut self, reason: Reason) -> Rejection {
        self.rejected.add(reason);
        self.rejection(reason)
    }

    /// Describes a rejection without counting it (it was counted when decided).
    pub(crate) fn rejection(&self, reason: Reason) -> Rejection {
        Rejection::new(reason, self.retry_after_secs)
    }

    /// Collects the verdict on a queued waiter: `None` while it waits; once decided, frees its
    /// slot and says whether it was admitted (its permit is then counted) or turned away.
    pub(crate) fn collect(
        &mut self,
        index: usize,
        since: Instant,
    ) -> Option<Result<(), Rejection>> {
        let outcome = match self.waiters.verdict(index) {
            Verdict::Waiting => return None,
            Verdict::Admitted => {
                self.admitted += 1;
                self.queue_wait.record(since.elapsed());
                Ok(())
            }
            Verdict::Rejected(reason) => Err(self.rejection(reason)),
        };
        self.waiters.remove(index);
        Some(outcome)
    }

    /// A queued waiter's deadline passed: it is turned away, unless it was decided meanwhile.
    pub(crate) fn time_out(&mut self, index: usize) {
        if self.waiters.verdict(index) == Verdict::Waiting {
            drop(
                self.waiters
                    .decide(index, Verdict::Rejected(Reason::Timeout)),
            );
            self.rejected.add(Reason::Timeout);
        }
    }

    /// A queued waiter goes away (its future was dropped). Returns what to wake.
    pub(crate) fn leave(&mut self, index: usize) -> Option<Released> {
        let verdict = self.waiters.verdict(index);
        self.waiters.remove(index);
        // Admitted but never collected: hand the permit on.
        (verdict == Verdict::Admitted).then(|| self.release())
    }

    /// A permit comes back.
    #[inline]
    pub(crate) fn release(&mut self) -> Released {
        debug_assert!(self.in_flight > 0, "released more permits than were taken");
        self.in_flight -= 1;
        let admitted = self.admit_next();
        Released {
            admitted,
            drained: self.in_flight == 0 && self.drain_watchers > 0,
        }
    }

    /// Admits the next waiter if there is room for it.
    fn admit_next(&mut self) -> Option<Waker> {
        if self.in_flight >= self.limit || self.closed {
            return None;
        }
        let (index, _since) = self.waiters.front()?;
        self.in_flight += 1;
        self.waiters.decide(index, Verdict::Admitted)
    }

    pub(crate) fn set_limit(&mut self, limit: usize) -> Vec<Waker> {
        self.limit = limit;
        let mut wakers = Vec::new();
        while self.in_flight < self.limit && !self.waiters.is_empty() {
            wakers.extend(self.admit_next());
        }
        wakers
    }

    pub(crate) fn close(&mut self) -> Vec<Waker> {
        self.closed = true;
        let mut wakers = Vec::new();
        while let Some((index, _)) = self.waiters.front() {
            self.rejected.add(Reason::Closed);
            wakers.extend(
                self.waiters
                    .decide(index, Verdict::Rejected(Reason::Closed)),
            );
        }
        wakers
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub(crate) fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    pub(crate) fn set_max_queue(&mut self, max_queue: usize) {
        self.max_queue = max_queue;
    }

    pub(crate) fn set_retry_after(&mut self, retry_after: Duration) {
        self.retry_after_secs = whole_seconds_at_least_one(retry_after);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            limit: self.limit,
            in_flight: self.in_flight,
            queued: self.waiters.len(),
            closed: self.closed,
            max_wait: self.max_wait,
            max_queue: self.max_queue,
            admitted: self.admitted,
            rejected: self.rejected,
            queue_wait: {
                let mut waits = self.queue_wait;
                waits.record_zeros(self.admitted - waits.count());
                waits
            },
        }
    }
}
