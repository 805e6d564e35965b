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

use super::discipline::{Queue, Standing};
use super::histogram::WaitHistogram;
use super::permit::Measure;
use super::snapshot::{RejectedCounts, Snapshot};
use super::waiters::{Verdict, WaiterList};
use crate::Reason;
use crate::limit::{LimitAlgorithm, Sample};
use crate::rejection::{Rejection, retry_after_secs};

pub(crate) const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_MAX_QUEUE: usize = 1024;
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_STANDING_WAIT: Duration = Duration::from_millis(5);

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

    /// Gives back one permit (with what the request taught, if the limit is adaptive) and
    /// admits the next waiter, if any.
    #[inline]
    pub(crate) fn release(&self, sample: Option<Sample>) {
        let released = self.lock().release(sample);
        if let Some(released) = released {
            released.wake(self);
        }
    }
}

/// How a request entered the gate.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Admitted at once; a permit has been counted.
    Admitted(Option<Measure>),
    /// Turned away at once.
    Rejected(Rejection),
    /// Queued at `index`; turned away at `deadline` (`None`: never) if still waiting, for the
    /// reason `on_timeout`.
    Queued {
        index: usize,
        since: Instant,
        deadline: Option<Instant>,
        on_timeout: Reason,
    },
}

/// Wakers to call once the lock is released: usually none or one, so the first is kept inline.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakers {
    fn push(&mut self, waker: Option<Waker>) {
        match (&self.first, waker) {
            (_, None) => {}
            (None, waker) => self.first = waker,
            (Some(_), Some(waker)) => self.rest.push(waker),
        }
    }

    #[inline]
    pub(crate) fn wake(self) {
        if let Some(first) = self.first {
            first.wake();
            self.rest.into_iter().for_each(Waker::wake);
        }
    }
}

/// The effects of a release to carry out after unlocking.
#[must_use]
#[derive(Debug)]
pub(crate) struct Released {
    wakers: Wakers,
    drained: bool,
}

impl Released {
    #[inline]
    pub(crate) fn wake(self, shared: &Shared) {
        self.wakers.wake();
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
    queue: Queue,
    /// How long an overload episode lasts before the queue counts as standing (`None`: `max_wait`).
    standing_after: Option<Duration>,
    /// The longest wait while the queue stands (LIFO and CoDel).
    standing_wait: Duration,
    standing: Standing,
    /// Sets the limit from samples; `None` for a fixed limit (then nothing is measured).
    algorithm: Option<Box<dyn LimitAlgorithm>>,
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
            retry_after_secs: retry_after_secs(DEFAULT_RETRY_AFTER),
            queue: Queue::Fifo,
            standing_after: None,
            standing_wait: DEFAULT_STANDING_WAIT,
            standing: Standing::default(),
            algorithm: None,
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
        // Free capacity with waiters present is handed out at once by `release` and
        // `set_limit`, so this never lets a newcomer overtake the queue.
        if self.in_flight < self.limit && self.waiters.is_empty() {
            return Entry::Admitted(self.admit());
        }
        if self.waiters.len() >= self.max_queue {
            return Entry::Rejected(self.reject(Reason::QueueFull));
        }
        if self.max_wait.is_zero() {
            return Entry::Rejected(self.reject(Reason::Timeout));
        }
        let since = Instant::now();
        let (wait, on_timeout) = self.wait_for_newcomer(since);
        let index = self.waiters.push_back(waker.cloned(), since);
        Entry::Queued {
            index,
            since,
            deadline: since.checked_add(wait),
            on_timeout,
        }
    }

    /// Counts an admission; starts measuring it if the limit is adaptive.
    #[inline]
    fn admit(&mut self) -> Option<Measure> {
        self.in_flight += 1;
        self.admitted += 1;
        self.algorithm
            .as_ref()
            .map(|_| Measure::start(self.in_flight))
    }

    /// How long a request queueing at `now` may wait, and the reason if that runs out.
    fn wait_for_newcomer(&mut self, now: Instant) -> (Duration, Reason) {
        if self.queue == Queue::Fifo {
            return (self.max_wait, Reason::Timeout);
        }
        // A gap in the queue shorter than twice the standing wait (folly's CoDel sheds at twice
        // its target, too) is the instant between a wave of rejections and their retries, not
        // the end of the overload.
        self.standing.on_queue(now, self.standing_wait * 2);
        if self.is_standing(now) && self.standing_wait < self.max_wait {
            (self.standing_wait, Reason::Shed)
        } else {
            (self.max_wait, Reason::Timeout)
        }
    }

    fn is_standing(&self, now: Instant) -> bool {
        // Half of `max_wait` by default: the first wave of a sustained overload is a burst too,
        // and every request it admits has waited up to `standing_after`. Half keeps those few
        // first waiters out of the p99 of a short overload, and still absorbs any burst whose
        // queue drains within half the wait it was promised.
        let after = self.standing_after.unwrap_or(self.max_wait / 2);
        self.standing.is_standing(now, after)
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
    ) -> Option<Result<Option<Measure>, Rejection>> {
        let outcome = match self.waiters.verdict(index) {
            Verdict::Waiting => return None,
            Verdict::Admitted => {
                self.admitted += 1;
                self.queue_wait.record(since.elapsed());
                Ok(self
                    .algorithm
                    .as_ref()
                    .map(|_| Measure::start(self.in_flight)))
            }
            Verdict::Rejected(reason) => Err(self.rejection(reason)),
        };
        self.waiters.remove(index);
        Some(outcome)
    }

    /// A queued waiter's deadline passed: it is turned away for `reason`, unless it was decided
    /// meanwhile.
    pub(crate) fn time_out(&mut self, index: usize, reason: Reason) {
        if self.waiters.verdict(index) == Verdict::Waiting {
            drop(self.waiters.decide(index, Verdict::Rejected(reason)));
            self.rejected.add(reason);
        }
    }

    /// A queued waiter goes away (its future was dropped). Returns what to wake.
    pub(crate) fn leave(&mut self, index: usize) -> Option<Released> {
        let verdict = self.waiters.verdict(index);
        self.waiters.remove(index);
        // Admitted but never collected: hand the permit on.
        if verdict == Verdict::Admitted {
            self.release(None)
        } else {
            None
        }
    }

    /// A permit comes back, with what its request taught if the limit is adaptive. Returns what
    /// to wake, if anything.
    #[inline]
    pub(crate) fn release(&mut self, sample: Option<Sample>) -> Option<Released> {
        debug_assert!(self.in_flight > 0, "released more permits than were taken");
        self.in_flight -= 1;
        if let (Some(algorithm), Some(sample)) = (self.algorithm.as_mut(), sample) {
            self.limit = algorithm.update(&sample).max(1);
        }
        let drained = self.in_flight == 0 && self.drain_watchers > 0;
        if self.waiters.is_empty() {
            // The common case, kept short: capacity goes idle, nobody to wake.
            if self.queue != Queue::Fifo {
                self.standing.on_idle();
            }
            return drained.then(|| Released {
                wakers: Wakers::default(),
                drained,
            });
        }
        let mut wakers = Wakers::default();
        self.admit_waiters(&mut wakers);
        Some(Released { wakers, drained })
    }

    /// Hands free capacity to waiters, in the order of the queue discipline.
    #[inline(never)]
    fn admit_waiters(&mut self, wakers: &mut Wakers) {
        while self.in_flight < self.limit && !self.closed {
            let Some(index) = self.next_waiter(wakers) else {
                if self.queue != Queue::Fifo {
                    self.standing.on_idle();
                }
                return;
            };
            self.in_flight += 1;
            wakers.push(self.waiters.decide(index, Verdict::Admitted));
        }
    }

    /// The waiter to admit next, if any. While the queue stands, LIFO and CoDel first shed the
    /// waiters that have waited longer than `standing_wait` (the oldest are at the front), then
    /// LIFO takes the newest and CoDel the oldest of the rest.
    fn next_waiter(&mut self, wakers: &mut Wakers) -> Option<usize> {
        let (front, _) = self.waiters.front()?;
        if self.queue == Queue::Fifo {
            return Some(front);
        }
        let now = Instant::now();
        if !self.is_standing(now) {
            return Some(front);
        }
        while let Some((index, since)) = self.waiters.front() {
            if now.saturating_duration_since(since) <= self.standing_wait {
                break;
            }
            self.rejected.add(Reason::Shed);
            wakers.push(self.waiters.decide(index, Verdict::Rejected(Reason::Shed)));
        }
        let next = match self.queue {
            Queue::Lifo => self.waiters.back(),
            _ => self.waiters.front(),
        };
        next.map(|(index, _)| index)
    }

    pub(crate) fn set_limit(&mut self, limit: usize) -> Wakers {
        self.limit = limit;
        let mut wakers = Wakers::default();
        self.admit_waiters(&mut wakers);
        wakers
    }

    pub(crate) fn set_algorithm(&mut self, algorithm: Box<dyn LimitAlgorithm>) -> Wakers {
        let limit = algorithm.initial_limit().max(1);
        self.algorithm = Some(algorithm);
        self.set_limit(limit)
    }

    pub(crate) fn close(&mut self) -> Wakers {
        self.closed = true;
        let mut wakers = Wakers::default();
        while let Some((index, _)) = self.waiters.front() {
            self.rejected.add(Reason::Closed);
            wakers.push(
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
        self.retry_after_secs = retry_after_secs(retry_after);
    }

    pub(crate) fn set_queue(&mut self, queue: Queue) {
        self.queue = queue;
        self.standing = Standing::default();
    }

    pub(crate) fn set_standing_after(&mut self, after: Duration) {
        self.standing_after = Some(after);
    }

    pub(crate) fn set_standing_wait(&mut self, wait: Duration) {
        self.standing_wait = wait;
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut queue_wait = self.queue_wait;
        queue_wait.record_zeros(self.admitted - queue_wait.count());
        Snapshot {
            limit: self.limit,
            in_flight: self.in_flight,
            queued: self.waiters.len(),
            closed: self.closed,
            max_wait: self.max_wait,
            max_queue: self.max_queue,
            queue: self.queue,
            adaptive: self.algorithm.is_some(),
            admitted: self.admitted,
            rejected: self.rejected,
            queue_wait,
        }
    }
}
