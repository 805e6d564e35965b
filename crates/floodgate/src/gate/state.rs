//! The admission core: the limit, the in-flight count, the waiters, and whether the gate is
//! closed. Nothing else.
//!
//! # Two paths
//!
//! The in-flight count lives in one atomic word with a `LOCKED` flag (and, in its upper half,
//! the low 32 bits of the admission counter, so that counting an admission costs nothing
//! extra). While the flag is clear,
//! nobody waits and nothing needs to hear of a release, so a request is admitted by one
//! compare-and-swap (if fewer than `limit` are in flight) and a permit comes back by another:
//! no lock. Whenever a request has to queue, the gate is closed, someone awaits
//! [`Gate::drained`](super::Gate::drained), or the queue discipline must hear of idle capacity,
//! the flag is set, and every admission and release goes through the mutex instead (as
//! tokio's semaphore hands permits to waiters under its lock).
//!
//! The flag is set and cleared only under the mutex, and while it is set the fast path never
//! writes the word: a lock holder first sets the flag (`freeze`), then reads and changes the
//! count as if it owned it, then clears the flag again if nothing needs the lock (`thaw`). A
//! fast-path CAS that raced with `freeze` fails, because the word changed, and takes the lock.
//! So a newcomer never overtakes a waiter: once somebody waits, nobody is admitted but through
//! the queue.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::GateConfig;
use super::controller::Controller;
use super::deadline::ServiceTime;
use super::discipline::Discipline;
use super::histogram::WaitRecorder;
use super::priority::Priority;
use super::rejection::{Reason, Rejection};
use super::snapshot::{ClassSnapshots, RejectedCounts, Snapshot};
use super::waiters::{Verdict, WaiterList};

/// The largest limit the in-flight bits of the state word can count up to.
pub(crate) const MAX_LIMIT: usize = (1 << 30) - 1;

/// Set while admissions and releases must go through the lock.
const LOCKED: u64 = 1;
/// One request in flight, in the state word (bits 1 to 31).
const ONE: u64 = 2;
/// The in-flight bits.
const IN_FLIGHT: u64 = 0xFFFF_FFFE;
/// One admission, in the state word (bits 32 to 63: the admission counter modulo 2^32).
const ADMITTED: u64 = 1 << 32;

/// The in-flight count of a state word.
fn in_flight(state: u64) -> usize {
    ((state & IN_FLIGHT) / ONE) as usize
}

/// What a gate shares between all its handles, services and permits.
#[derive(Debug)]
pub(crate) struct Core {
    /// `admitted mod 2^32 * ADMITTED | in_flight * ONE | LOCKED`.
    state: AtomicU64,
    /// How often the admission bits of `state` wrapped around.
    admitted_wraps: AtomicU64,
    /// The largest admission count a snapshot reported, to tell a wrap not yet counted.
    admitted_reported: AtomicU64,
    limit: AtomicUsize,
    queue: Mutex<Queued>,
    /// Woken when the in-flight count drops to zero while somebody awaits `drained`.
    drained: Notify,
    /// Rejections by class and reason.
    rejected: [[AtomicU64; Reason::ALL.len()]; Priority::ALL.len()],
    /// Admissions by class, counted for critical and sheddable requests only (the default
    /// class's count is the rest of `admitted`, so that most requests count nothing extra).
    admitted_by_class: [AtomicU64; Priority::ALL.len()],
    /// Permits held by class, for critical and sheddable requests only (the default class's
    /// count is the rest of the in-flight count): what a reserved share is checked against.
    in_flight_by_class: [AtomicUsize; Priority::ALL.len()],
    /// The expected service time, learned if the gate reads deadlines.
    service_time: ServiceTime,
    queue_wait: WaitRecorder,
    /// Sets the limit from samples; `None` for a fixed limit (then nothing is measured).
    controller: Option<Controller>,
    /// The settings (read-only).
    config: GateConfig,
}

/// What only the lock holder touches.
#[derive(Debug)]
pub(crate) struct Queued {
    /// One queue per class, by [`Priority::index`].
    waiters: [WaiterList; Priority::ALL.len()],
    discipline: Discipline,
    closed: bool,
    /// How many `drained` futures wait, so that releases notify only then.
    drain_watchers: usize,
}

impl Queued {
    /// Whether admissions and releases may skip the lock.
    fn lock_free(&self) -> bool {
        self.is_empty() && !self.closed && self.drain_watchers == 0 && !self.discipline.wants_idle()
    }

    /// Waiters of every class.
    fn len(&self) -> usize {
        self.waiters.iter().map(WaiterList::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.waiters.iter().all(WaiterList::is_empty)
    }

    fn class(&mut self, priority: Priority) -> &mut WaiterList {
        &mut self.waiters[priority.index()]
    }

    /// The highest class that has waiters.
    fn highest_waiting(&self) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|priority| !self.waiters[priority.index()].is_empty())
    }

    /// The lowest class that has waiters.
    fn lowest_waiting(&self) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .rev()
            .find(|priority| !self.waiters[priority.index()].is_empty())
    }
}

/// What the gate knows of a request as it arrives.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Arrival {
    pub(crate) priority: Priority,
    /// When its client stops waiting for the answer, if it said so.
    pub(crate) deadline: Option<Instant>,
}

/// How a request entered the gate.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Admitted at once, with this many in flight (itself included).
    Admitted(usize),
    /// Turned away at once.
    Rejected(Rejection),
    /// Queued.
    Queued(Ticket),
}

/// A waiter's place in the queue: its class and slot, since when it waits, and when (`None`:
/// never) it is turned away, for which reason, if still waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub(crate) priority: Priority,
    pub(crate) index: usize,
    pub(crate) since: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) on_timeout: Reason,
}

/// Wakers to call once the lock is released: usually none or one, so the first is kept inline.
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct Wakers {
    first: Option<Waker>,
    rest: Vec<Waker>,
    drained: bool,
}

impl Wakers {
    fn push(&mut self, waker: Option<Waker>) {
        match (&self.first, waker) {
            (_, None) => {}
            (None, waker) => self.first = waker,
            (Some(_), Some(waker)) => self.rest.push(waker),
        }
    }

    /// Wakes everybody, and the `drained` futures if the gate drained.
    pub(crate) fn wake(self, core: &Core) {
        if let Some(first) = self.first {
            first.wake();
            self.rest.into_iter().for_each(Waker::wake);
        }
        if self.drained {
            core.drained.notify_waiters();
        }
    }
}

/// The lock, held: the core's locked path.
pub(crate) struct Locked<'a> {
    core: &'a Core,
    queue: MutexGuard<'a, Queued>,
}

impl Core {
    pub(crate) fn new(config: GateConfig) -> Self {
        let discipline = Discipline::new(
            config.queue,
            config.standing_after_or_default(),
            config.standing_wait,
        );
        let controller = config
            .algorithm
            .clone()
            .map(|algorithm| Controller::new(algorithm.into_algorithm()));
        let limit = match &controller {
            Some(controller) => controller.initial_limit().clamp(1, config.limit),
            None => config.limit,
        };
        Self {
            state: AtomicU64::new(0),
            admitted_wraps: AtomicU64::new(0),
            admitted_reported: AtomicU64::new(0),
            limit: AtomicUsize::new(limit),
            queue: Mutex::new(Queued {
                waiters: Default::default(),
                discipline,
                closed: false,
                drain_watchers: 0,
            }),
            drained: Notify::new(),
            rejected: Default::default(),
            admitted_by_class: Default::default(),
            in_flight_by_class: Default::default(),
            service_time: ServiceTime::default(),
            queue_wait: WaitRecorder::default(),
            controller,
            config,
        }
    }

    /// Takes the lock. No code panics while holding it, but a poisoned lock is still usable:
    /// the state is consistent after every method of `Locked`.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            core: self,
            queue: self.queue.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Whether a request of `priority` stays within the shares kept for higher classes, with
    /// `in_flight` in flight: the classes at or below each reserving class hold fewer than the
    /// limit less its share (checked for `priority` and every class above it that keeps a
    /// share). Whether the limit itself has room is checked apart.
    #[inline]
    fn within_reserves(&self, priority: Priority, in_flight: usize) -> bool {
        let kept = &self.config.kept_from;
        if kept[priority.index()] == 0.0 {
            // Classes above keep nothing from this one, so nothing from those above it either.
            return true;
        }
        let limit = self.limit();
        // Rounded down, and less than the whole limit: every class may have one in flight.
        let ceiling = |class: Priority| limit - (limit as f64 * kept[class.index()]) as usize;
        let held = |class: Priority| self.in_flight_by_class[class.index()].load(Ordering::Relaxed);
        let default_and_below = in_flight.saturating_sub(held(Priority::Critical));
        match priority {
            Priority::Critical => true,
            Priority::Default => default_and_below < ceiling(Priority::Default),
            Priority::Sheddable => {
                held(Priority::Sheddable) < ceiling(Priority::Sheddable)
                    && default_and_below < ceiling(Priority::Default)
            }
        }
    }

    /// Counts a permit of class `priority` taken (for the reserved shares).
    #[inline]
    fn take_class_slot(&self, priority: Priority) {
        if priority != Priority::Default {
            self.in_flight_by_class[priority.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a permit of class `priority` given back.
    #[inline]
    pub(crate) fn give_class_slot(&self, priority: Priority) {
        if priority != Priority::Default {
            self.in_flight_by_class[priority.index()].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The fast path of admission: `Some(in_flight)` if fewer than `limit` were in flight and
    /// nobody waits.
    #[inline]
    pub(crate) fn try_admit(&self, limit: usize) -> Option<usize> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 || in_flight(state) >= limit {
                return None;
            }
            match self.state.compare_exchange_weak(
                state,
                state.wrapping_add(ONE + ADMITTED),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.count_wrap(state);
                    return Some(in_flight(state) + 1);
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// A request arrives: turned away at once if it cannot be served before its deadline,
    /// admitted by the fast path, turned away without the lock if it could not wait anyway, or
    /// decided under the lock.
    #[inline]
    pub(crate) fn enter(&self, waker: Option<&Waker>, arrival: Arrival) -> Entry {
        if arrival.deadline.is_none() {
            if let Some(in_flight) = self.try_admit_class(arrival.priority) {
                return Entry::Admitted(in_flight);
            }
        }
        self.enter_slow(waker, arrival)
    }

    /// [`enter`](Core::enter) for a request with a deadline, or one the fast path could not
    /// admit.
    #[inline(never)]
    fn enter_slow(&self, waker: Option<&Waker>, arrival: Arrival) -> Entry {
        let Arrival { priority, deadline } = arrival;
        if let Some(deadline) = deadline {
            if self.latest_start(deadline).is_none() {
                return Entry::Rejected(self.reject(Reason::Deadline, priority));
            }
            if let Some(in_flight) = self.try_admit_class(priority) {
                return Entry::Admitted(in_flight);
            }
        }
        if self.state.load(Ordering::Relaxed) & LOCKED == 0 {
            // Full, and nobody queued: a gate that never queues answers without the lock.
            if self.config.max_queue == 0 {
                return Entry::Rejected(self.reject(Reason::QueueFull, priority));
            }
            if self.config.max_wait_of(priority).is_zero() {
                return Entry::Rejected(self.reject(Reason::Timeout, priority));
            }
        }
        let (entry, wakers) = self.lock().enter(waker, arrival);
        wakers.wake(self);
        entry
    }

    /// The fast path for a request of class `priority`: within the reserved shares (read without
    /// the lock: requests admitted at the same instant on other threads may overshoot a share by
    /// as many), and under the limit.
    #[inline]
    fn try_admit_class(&self, priority: Priority) -> Option<usize> {
        let reserved = self.config.kept_from[priority.index()] != 0.0;
        if reserved && !self.within_reserves(priority, self.in_flight()) {
            return None;
        }
        let in_flight = self.try_admit(self.limit())?;
        self.take_class_slot(priority);
        self.count_admission(priority);
        Some(in_flight)
    }

    /// The last instant a request due at `deadline` may start and still finish in time (by the
    /// expected service time), if that is still ahead.
    fn latest_start(&self, deadline: Instant) -> Option<Instant> {
        deadline
            .checked_sub(self.service_time.expected())
            .filter(|latest| *latest > Instant::now())
    }

    /// Counts the admission of a request of `priority` by class (the total is counted apart).
    #[inline]
    fn count_admission(&self, priority: Priority) {
        if priority != Priority::Default {
            self.admitted_by_class[priority.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Learns from an admitted request that held its permit for `took`, if the gate reads
    /// deadlines.
    pub(crate) fn record_service_time(&self, took: std::time::Duration) {
        self.service_time.record(took);
    }

    /// The fast path of a release: `true` if the permit came back without the lock.
    #[inline]
    fn try_release(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            debug_assert!(
                state & IN_FLIGHT >= ONE,
                "released more permits than were taken"
            );
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Gives back one permit, and hands free capacity to the next waiter, if any.
    #[inline]
    pub(crate) fn release(&self) {
        if !self.try_release() {
            self.release_locked();
        }
    }

    #[inline(never)]
    fn release_locked(&self) {
        let wakers = self.lock().release();
        wakers.wake(self);
    }

    /// Counts a wrap of the admission bits, if adding one to `previous` wrapped them.
    #[inline]
    fn count_wrap(&self, previous: u64) {
        if previous >= u64::MAX - (ADMITTED - 1) {
            self.admitted_wraps.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an admission through the lock.
    fn add_admitted(&self, in_flight: u64) {
        let previous = self
            .state
            .fetch_add(in_flight + ADMITTED, Ordering::Relaxed);
        self.count_wrap(previous);
    }

    /// Requests admitted since the gate was built.
    fn admitted(&self) -> u64 {
        let wraps = self.admitted_wraps.load(Ordering::Relaxed);
        let low = self.state.load(Ordering::Relaxed) >> 32;
        let mut admitted = (wraps << 32) | low;
        let reported = self.admitted_reported.load(Ordering::Relaxed);
        if admitted < reported {
            // The bits wrapped and the wrap is not counted yet (it is, a moment later).
            admitted += ADMITTED;
        }
        self.admitted_reported
            .fetch_max(admitted, Ordering::Relaxed);
        admitted
    }

    /// The settings the gate was built with.
    pub(crate) fn config(&self) -> &GateConfig {
        &self.config
    }

    /// The adaptive limit's controller, if the limit is adaptive.
    pub(crate) fn controller(&self) -> Option<&Controller> {
        self.controller.as_ref()
    }

    /// Resolves when the in-flight count drops to zero after it is enabled (with a drain
    /// watcher counted, see [`Locked::watch_drain`]).
    pub(crate) fn drained(&self) -> tokio::sync::futures::Notified<'_> {
        self.drained.notified()
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        in_flight(self.state.load(Ordering::Acquire))
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Changes the limit and hands new capacity to waiters.
    pub(crate) fn set_limit(&self, limit: usize) {
        if self.limit.swap(limit, Ordering::Relaxed) == limit {
            return;
        }
        let wakers = self.lock().admit_waiters();
        wakers.wake(self);
    }

    /// Counts a rejection and describes it.
    pub(crate) fn reject(&self, reason: Reason, priority: Priority) -> Rejection {
        self.count_rejections(reason, priority, 1);
        self.rejection(reason)
    }

    fn count_rejections(&self, reason: Reason, priority: Priority, count: u64) {
        self.rejected[priority.index()][reason.index()].fetch_add(count, Ordering::Relaxed);
    }

    /// Describes a rejection without counting it (it was counted when decided).
    pub(crate) fn rejection(&self, reason: Reason) -> Rejection {
        Rejection::new(reason, self.config.retry_after)
    }

    /// The gate's settings, load and counters. The load (limit, in flight, queued) is read
    /// under the lock, at one instant; each counter is exact, read one after the other.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let (queued_by_class, closed) = {
            let locked = self.lock();
            (
                locked.queue.waiters.each_ref().map(WaiterList::len),
                locked.queue.closed,
            )
        };
        let admitted = self.admitted();
        let mut queue_wait = self.queue_wait.load();
        queue_wait.record_zeros(admitted.saturating_sub(queue_wait.count()));
        let mut rejected = RejectedCounts::default();
        let mut classes = ClassSnapshots::default();
        for priority in Priority::ALL {
            let class = classes.get_mut(priority);
            class.queued = queued_by_class[priority.index()];
            for reason in Reason::ALL {
                let count = self.rejected[priority.index()][reason.index()].load(Ordering::Relaxed);
                class.rejected.add(reason, count);
                rejected.add(reason, count);
            }
            class.admitted = self.admitted_by_class[priority.index()].load(Ordering::Relaxed);
            class.in_flight = self.in_flight_by_class[priority.index()].load(Ordering::Relaxed);
        }
        classes.default.admitted =
            admitted.saturating_sub(classes.critical.admitted + classes.sheddable.admitted);
        let in_flight = self.in_flight();
        classes.default.in_flight =
            in_flight.saturating_sub(classes.critical.in_flight + classes.sheddable.in_flight);
        Snapshot {
            limit: self.limit(),
            in_flight,
            queued: queued_by_class.iter().sum(),
            closed,
            max_wait: self.config.max_wait,
            max_queue: self.config.max_queue,
            queue: self.config.queue,
            adaptive: self.config.algorithm.is_some(),
            admitted,
            rejected,
            queue_wait,
            classes,
            priority_classes: self.config.priority_classes,
            expected_service_time: self.config.deadlines.then(|| self.service_time.expected()),
        }
    }
}

impl Locked<'_> {
    /// Sets the flag: from now on only the lock holder changes the count. Returns the count.
    fn freeze(&self) -> usize {
        in_flight(self.core.state.fetch_or(LOCKED, Ordering::Acquire))
    }

    /// Clears the flag if nothing needs the lock any more.
    fn thaw(&self) {
        if self.queue.lock_free() {
            self.core.state.fetch_and(!LOCKED, Ordering::Release);
        }
    }

    /// One more in flight (a waiter's permit: its admission is counted when it collects it).
    fn add_in_flight(&self) {
        self.core.state.fetch_add(ONE, Ordering::Relaxed);
    }

    /// A new request arrives: admit it, queue it (evicting a lower class's waiter from a full
    /// queue), or turn it away. Returns the evicted waiter's waker, to wake after the lock.
    fn enter(mut self, waker: Option<&Waker>, arrival: Arrival) -> (Entry, Wakers) {
        let Arrival { priority, deadline } = arrival;
        let in_flight = self.freeze();
        let core = self.core;
        let config = &core.config;
        let max_wait = config.max_wait_of(priority);
        let mut wakers = Wakers::default();
        let higher_or_same_waits = self
            .queue
            .highest_waiting()
            .is_some_and(|highest| highest >= priority);
        let entry = if self.queue.closed {
            Entry::Rejected(core.reject(Reason::Closed, priority))
        } else if in_flight < core.limit()
            && core.within_reserves(priority, in_flight)
            && !higher_or_same_waits
        {
            // Free capacity with waiters of this class or higher present is handed out at once
            // by `release` and `set_limit`, so this never lets a newcomer overtake the queue.
            core.add_admitted(ONE);
            core.take_class_slot(priority);
            core.count_admission(priority);
            Entry::Admitted(in_flight + 1)
        } else if max_wait.is_zero() {
            Entry::Rejected(core.reject(Reason::Timeout, priority))
        } else if self.queue.len() >= config.max_queue && !self.evict_below(priority, &mut wakers) {
            Entry::Rejected(core.reject(Reason::QueueFull, priority))
        } else {
            let since = Instant::now();
            let lower_class_waits = self
                .queue
                .lowest_waiting()
                .is_some_and(|lowest| lowest < priority);
            let (wait, reason) =
                self.queue
                    .discipline
                    .wait_for_newcomer(since, max_wait, lower_class_waits);
            let mut ticket = Ticket {
                priority,
                index: 0,
                since,
                deadline: since.checked_add(wait),
                on_timeout: reason,
            };
            match deadline.map(|deadline| core.latest_start(deadline)) {
                None => self.queue_up(waker, ticket),
                Some(None) => Entry::Rejected(core.reject(Reason::Deadline, priority)),
                Some(Some(latest)) => {
                    if ticket.deadline.is_none_or(|end| latest < end) {
                        ticket.deadline = Some(latest);
                        ticket.on_timeout = Reason::Deadline;
                    }
                    self.queue_up(waker, ticket)
                }
            }
        };
        self.thaw();
        (entry, wakers)
    }

    /// Puts a waiter in its class's queue.
    fn queue_up(&mut self, waker: Option<&Waker>, mut ticket: Ticket) -> Entry {
        ticket.index = self
            .queue
            .class(ticket.priority)
            .push_back(waker.cloned(), ticket.since);
        Entry::Queued(ticket)
    }

    /// Makes room for a request of `priority` in a full queue: turns away the newest waiter of
    /// the lowest class below it. `false` if no lower class waits.
    fn evict_below(&mut self, priority: Priority, wakers: &mut Wakers) -> bool {
        let Some(lowest) = self
            .queue
            .lowest_waiting()
            .filter(|lowest| *lowest < priority)
        else {
            return false;
        };
        let queue = self.queue.class(lowest);
        let (index, _) = queue.back().expect("the lowest waiting class has a waiter");
        wakers.push(queue.decide(index, Verdict::Rejected(Reason::Evicted)));
        self.core.count_rejections(Reason::Evicted, lowest, 1);
        true
    }

    /// Stores the waker to call when the waiter is decided.
    pub(crate) fn set_waker(&mut self, ticket: &Ticket, waker: &Waker) {
        self.queue
            .class(ticket.priority)
            .set_waker(ticket.index, waker);
    }

    /// Collects the verdict on a queued waiter: `None` while it waits; once decided, frees its
    /// slot and says whether it was admitted (its permit is then counted, with this many in
    /// flight) or turned away.
    pub(crate) fn collect(&mut self, ticket: &Ticket) -> Option<Result<usize, Rejection>> {
        let Ticket {
            priority,
            index,
            since,
            ..
        } = *ticket;
        let outcome = match self.queue.class(priority).verdict(index) {
            Verdict::Waiting => return None,
            Verdict::Admitted => {
                self.core.add_admitted(0);
                self.core.count_admission(priority);
                self.core.queue_wait.record(since.elapsed());
                Ok(self.core.in_flight())
            }
            Verdict::Rejected(reason) => Err(self.core.rejection(reason)),
        };
        self.queue.class(priority).remove(index);
        Some(outcome)
    }

    /// A queued waiter's deadline passed: it is turned away, unless it was decided meanwhile.
    pub(crate) fn time_out(&mut self, ticket: &Ticket) {
        let Ticket {
            priority,
            index,
            on_timeout: reason,
            ..
        } = *ticket;
        let queue = self.queue.class(priority);
        if queue.verdict(index) == Verdict::Waiting {
            drop(queue.decide(index, Verdict::Rejected(reason)));
            self.core.count_rejections(reason, priority, 1);
            self.thaw();
        }
    }

    /// A queued waiter goes away (its future was dropped). Returns what to wake.
    pub(crate) fn leave(mut self, ticket: &Ticket) -> Wakers {
        let queue = self.queue.class(ticket.priority);
        let verdict = queue.verdict(ticket.index);
        queue.remove(ticket.index);
        if verdict == Verdict::Admitted {
            // Admitted but never collected: hand the permit on.
            self.core.give_class_slot(ticket.priority);
            self.release()
        } else {
            self.thaw();
            Wakers::default()
        }
    }

    /// A permit comes back: hand it to the next waiter, or note the idle capacity.
    fn release(mut self) -> Wakers {
        self.freeze();
        self.core.state.fetch_sub(ONE, Ordering::Release);
        let mut wakers = if self.queue.is_empty() {
            self.queue.discipline.on_idle();
            Wakers::default()
        } else {
            self.admit_waiters_frozen()
        };
        wakers.drained = self.core.in_flight() == 0 && self.queue.drain_watchers > 0;
        self.thaw();
        wakers
    }

    /// Hands free capacity to waiters, in the order of the queue discipline.
    fn admit_waiters(mut self) -> Wakers {
        self.freeze();
        let wakers = self.admit_waiters_frozen();
        self.thaw();
        wakers
    }

    /// Highest class first; within a class, in the order of the queue discipline, which sheds
    /// only from the lowest class that waits.
    fn admit_waiters_frozen(&mut self) -> Wakers {
        let mut wakers = Wakers::default();
        let limit = self.core.limit();
        while !self.queue.closed {
            let in_flight = self.core.in_flight();
            let Some(priority) = self.queue.highest_waiting() else {
                if in_flight < limit {
                    self.queue.discipline.on_idle();
                }
                break;
            };
            // The highest class waiting is the least restricted: if it may not go, nobody may.
            if in_flight >= limit || !self.core.within_reserves(priority, in_flight) {
                break;
            }
            let lowest = self.queue.lowest_waiting() == Some(priority);
            let Queued {
                waiters,
                discipline,
                ..
            } = &mut *self.queue;
            let mut shed = 0;
            let next = discipline.next_waiter(&mut waiters[priority.index()], lowest, |waker| {
                shed += 1;
                wakers.push(waker);
            });
            self.core.count_rejections(Reason::Shed, priority, shed);
            // None: the whole class was shed; the next class may take the slot.
            if let Some(index) = next {
                self.add_in_flight();
                self.core.take_class_slot(priority);
                wakers.push(self.queue.class(priority).decide(index, Verdict::Admitted));
            }
        }
        wakers
    }

    /// Closes the gate for good: turns every waiter away.
    pub(crate) fn close(mut self) -> Wakers {
        self.freeze();
        self.queue.closed = true;
        let mut wakers = Wakers::default();
        for priority in Priority::ALL {
            let queue = self.queue.class(priority);
            while let Some((index, _)) = queue.front() {
                wakers.push(queue.decide(index, Verdict::Rejected(Reason::Closed)));
                self.core.count_rejections(Reason::Closed, priority, 1);
            }
        }
        wakers
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.queue.closed
    }

    /// A `drained` future starts or stops waiting.
    pub(crate) fn watch_drain(&mut self, watching: bool) {
        if watching {
            self.queue.drain_watchers += 1;
            self.freeze();
        } else {
            self.queue.drain_watchers -= 1;
            self.thaw();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core::new(GateConfig::new(4))
    }

    #[test]
    fn the_admission_count_survives_the_wrap_of_its_bits() {
        let core = core();
        core.state
            .store(u64::from(u32::MAX) << 32, Ordering::Relaxed);
        assert_eq!(core.admitted(), u64::from(u32::MAX));
        assert_eq!(core.try_admit(4), Some(1));
        assert_eq!(core.admitted(), 1 << 32, "one more, across the wrap");
        assert_eq!(core.admitted_wraps.load(Ordering::Relaxed), 1);
        core.release();
        assert_eq!(core.in_flight(), 0);
        assert_eq!(core.admitted(), 1 << 32, "a release does not count");
    }

    #[test]
    fn a_wrap_not_counted_yet_is_not_a_counter_reset() {
        let core = core();
        core.state
            .store(u64::from(u32::MAX) << 32, Ordering::Relaxed);
        assert_eq!(core.admitted(), u64::from(u32::MAX));
        // The bits wrapped; the thread that wrapped them has not counted the wrap yet.
        core.state.store(1 << 32, Ordering::Relaxed);
        assert_eq!(core.admitted(), (1 << 32) + 1);
    }

    #[test]
    fn the_fast_path_stops_at_the_limit_and_while_locked() {
        let core = core();
        for n in 1..=4 {
            assert_eq!(core.try_admit(4), Some(n));
        }
        assert_eq!(core.try_admit(4), None, "full");
        core.release();
        let locked = core.lock();
        locked.freeze();
        assert_eq!(core.try_admit(4), None, "the lock holder owns the count");
        assert!(!core.try_release(), "releases go through the lock too");
        locked.thaw();
        drop(locked);
        assert_eq!(core.try_admit(4), Some(4));
        assert_eq!(core.admitted(), 5);
    }
}
