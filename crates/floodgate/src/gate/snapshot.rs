//! A point-in-time view of a gate, for stats, metrics and tests.

use std::time::Duration;

use super::discipline::Queue;
use super::histogram::WaitHistogram;
use super::priority::Priority;
use super::rejection::Reason;

/// A view of a [`Gate`](super::Gate): its settings, its current load and its counters since it
/// was created.
///
/// The load (`limit`, `in_flight`, `queued`) is read at one instant; the counters are each
/// exact, read one after the other while requests keep coming.
///
/// ```
/// use floodgate::Gate;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = Gate::new(2);
/// let _permit = gate.acquire().await.unwrap();
/// let snapshot = gate.snapshot();
/// assert_eq!((snapshot.limit, snapshot.in_flight, snapshot.queued), (2, 1, 0));
/// assert_eq!(snapshot.admitted, 1);
/// assert_eq!(snapshot.rejected.total(), 0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current concurrency limit.
    pub limit: usize,
    /// Requests holding a permit now (may exceed `limit` for a while after the limit is lowered).
    pub in_flight: usize,
    /// Requests waiting for a permit now.
    pub queued: usize,
    /// Whether [`Gate::close`](super::Gate::close) was called.
    pub closed: bool,
    /// How long a request may wait for a permit.
    pub max_wait: Duration,
    /// How many requests may wait at once.
    pub max_queue: usize,
    /// The queue discipline.
    pub queue: Queue,
    /// Whether a [`LimitAlgorithm`](crate::limit::LimitAlgorithm) sets the limit.
    pub adaptive: bool,
    /// Requests admitted since the gate was created.
    pub admitted: u64,
    /// Requests turned away since the gate was created, by reason.
    pub rejected: RejectedCounts,
    /// How long admitted requests waited for their permit.
    pub queue_wait: WaitHistogram,
    /// The queue, admissions and rejections of each [`Priority`] class (every request nobody
    /// classified is [`Priority::Default`]).
    pub classes: ClassSnapshots,
    /// Whether the gate tells classes apart in its metrics (see
    /// [`GateConfig::priority_classes`](super::GateConfig::priority_classes)).
    pub priority_classes: bool,
    /// With [`GateConfig::deadlines`](super::GateConfig::deadlines): the expected service time
    /// the gate has learned (zero before the first request ends); `None` otherwise.
    pub expected_service_time: Option<Duration>,
}

/// One [`Priority`] class's share of a gate's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassSnapshot {
    /// Requests of the class holding a permit now.
    pub in_flight: usize,
    /// Requests of the class waiting now.
    pub queued: usize,
    /// Requests of the class admitted since the gate was created.
    pub admitted: u64,
    /// Requests of the class turned away since the gate was created, by reason.
    pub rejected: RejectedCounts,
}

/// The [`ClassSnapshot`] of each [`Priority`] class.
///
/// ```
/// use floodgate::gate::{GateConfig, Priority};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = GateConfig::new(1).max_queue(0).build();
/// let _held = gate.acquire().priority(Priority::Critical).await.unwrap();
/// assert!(gate.acquire().priority(Priority::Sheddable).await.is_err());
/// let classes = gate.snapshot().classes;
/// assert_eq!(classes.get(Priority::Critical).admitted, 1);
/// assert_eq!(classes.get(Priority::Sheddable).rejected.total(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassSnapshots {
    /// [`Priority::Critical`].
    pub critical: ClassSnapshot,
    /// [`Priority::Default`].
    pub default: ClassSnapshot,
    /// [`Priority::Sheddable`].
    pub sheddable: ClassSnapshot,
}

impl ClassSnapshots {
    /// The snapshot of one class.
    pub fn get(&self, priority: Priority) -> &ClassSnapshot {
        match priority {
            Priority::Critical => &self.critical,
            Priority::Default => &self.default,
            Priority::Sheddable => &self.sheddable,
        }
    }

    pub(crate) fn get_mut(&mut self, priority: Priority) -> &mut ClassSnapshot {
        match priority {
            Priority::Critical => &mut self.critical,
            Priority::Default => &mut self.default,
            Priority::Sheddable => &mut self.sheddable,
        }
    }
}

/// Rejection counters by [`Reason`].
///
/// ```
/// use floodgate::gate::{Reason, RejectedCounts};
///
/// let counts = RejectedCounts::default();
/// assert_eq!(counts.get(Reason::Timeout), 0);
/// assert_eq!(counts.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedCounts {
    /// Waited `max_wait` without getting a permit.
    pub timeout: u64,
    /// Found the wait queue full.
    pub queue_full: u64,
    /// Arrived after, or were queued at, [`Gate::close`](super::Gate::close).
    pub closed: u64,
    /// Shed from a standing queue (LIFO and CoDel disciplines).
    pub shed: u64,
    /// Evicted from a full queue by a request of a higher priority.
    pub evicted: u64,
    /// Could not be served before their deadline.
    pub deadline: u64,
}

impl RejectedCounts {
    /// The count for one reason.
    pub fn get(&self, reason: Reason) -> u64 {
        match reason {
            Reason::Timeout => self.timeout,
            Reason::QueueFull => self.queue_full,
            Reason::Closed => self.closed,
            Reason::Shed => self.shed,
            Reason::Evicted => self.evicted,
            Reason::Deadline => self.deadline,
        }
    }

    /// All rejections, whatever the reason.
    pub fn total(&self) -> u64 {
        Reason::ALL.iter().map(|reason| self.get(*reason)).sum()
    }

    pub(crate) fn add(&mut self, reason: Reason, count: u64) {
        let counter = match reason {
            Reason::Timeout => &mut self.timeout,
            Reason::QueueFull => &mut self.queue_full,
            Reason::Closed => &mut self.closed,
            Reason::Shed => &mut self.shed,
            Reason::Evicted => &mut self.evicted,
            Reason::Deadline => &mut self.deadline,
        };
        *counter += count;
    }
}
