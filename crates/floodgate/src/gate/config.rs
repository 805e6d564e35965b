//! A gate's settings, fixed when it is built.

use std::fmt;
use std::time::Duration;

use http::HeaderName;

use super::Gate;
use super::discipline::Queue;
use super::priority::Priority;
use crate::limit::LimitAlgorithm;

pub(crate) const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_MAX_QUEUE: usize = 1024;
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_STANDING_WAIT: Duration = Duration::from_millis(5);
pub(crate) const DEFAULT_NAME: &str = "default";

/// The settings of a [`Gate`]: a value, built with methods that take and return it, and fixed
/// once the gate is built from it.
///
/// Only the limit itself changes while a gate runs ([`Gate::set_limit`], or the adaptive limit
/// set with [`limit_algorithm`](GateConfig::limit_algorithm)); everything here is read without a
/// lock on every request. A clone of a config is independent: changing it changes no gate.
///
/// Defaults: `max_wait` 100 ms, `max_queue` 1024, `Retry-After` 1 s, a FIFO queue, a fixed
/// limit, and the name `default` (the `gate` label of its metrics).
///
/// ```
/// use std::time::Duration;
/// use floodgate::gate::GateConfig;
/// use floodgate::Queue;
///
/// let gate = GateConfig::new(64)
///     .max_wait(Duration::from_millis(50))
///     .max_queue(128)
///     .queue(Queue::Codel)
///     .name("api")
///     .build();
/// let snapshot = gate.snapshot();
/// assert_eq!((snapshot.limit, snapshot.max_queue), (64, 128));
/// assert_eq!(gate.name(), "api");
/// ```
#[derive(Clone)]
#[must_use]
pub struct GateConfig {
    pub(crate) limit: usize,
    pub(crate) max_wait: Duration,
    pub(crate) max_queue: usize,
    pub(crate) retry_after: Duration,
    pub(crate) queue: Queue,
    /// `None`: half of `max_wait`.
    pub(crate) standing_after: Option<Duration>,
    pub(crate) standing_wait: Duration,
    pub(crate) algorithm: Option<Box<dyn CloneAlgorithm>>,
    pub(crate) name: std::borrow::Cow<'static, str>,
    /// Per class: the share of the limit kept for higher classes (not usable by this one).
    pub(crate) kept_from: [f64; 3],
    /// Per class: its own longest wait, if set (else `max_wait`, halved for sheddable).
    pub(crate) class_max_wait: [Option<Duration>; 3],
    /// Whether the metrics break the gate's series down by class.
    pub(crate) priority_classes: bool,
    /// Whether the gate reads deadlines and learns its service time.
    pub(crate) deadlines: bool,
    pub(crate) deadline_header: Option<HeaderName>,
}

impl GateConfig {
    /// Settings for a gate that lets `limit` requests through at once (with an adaptive limit,
    /// the most it may ever let through), with the defaults for everything else.
    ///
    /// # Panics
    ///
    /// If `limit` is zero: a gate that admits nobody is a configuration mistake.
    pub fn new(limit: usize) -> Self {
        assert_limit(limit);
        Self {
            limit,
            max_wait: DEFAULT_MAX_WAIT,
            max_queue: DEFAULT_MAX_QUEUE,
            retry_after: DEFAULT_RETRY_AFTER,
            queue: Queue::Fifo,
            standing_after: None,
            standing_wait: DEFAULT_STANDING_WAIT,
            algorithm: None,
            name: std::borrow::Cow::Borrowed(DEFAULT_NAME),
            kept_from: [0.0; 3],
            class_max_wait: [None; 3],
            priority_classes: false,
            deadlines: false,
            deadline_header: None,
        }
    }

    /// How long a request may wait for a permit before it is turned away
    /// ([`Reason::Timeout`](super::Reason::Timeout)). Zero: never wait.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How many requests may wait at once; more are turned away at once
    /// ([`Reason::QueueFull`](super::Reason::QueueFull)). Zero: never wait.
    pub fn max_queue(mut self, max_queue: usize) -> Self {
        self.max_queue = max_queue;
        self
    }

    /// The delay rejections ask clients to wait before they retry (`Retry-After`, sent in whole
    /// seconds, rounded up, never less than one).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The queue discipline: [`Queue::Fifo`] (the default), [`Queue::Lifo`] or [`Queue::Codel`].
    pub fn queue(mut self, queue: Queue) -> Self {
        self.queue = queue;
        self
    }

    /// For [`Queue::Lifo`] and [`Queue::Codel`]: how long an overload episode (requests
    /// queueing, no idle capacity) must last before the queue counts as standing. Default: half
    /// of `max_wait`, so that a burst whose queue drains within that is absorbed whole, while the
    /// first wave of a sustained overload does not linger in the latency tail.
    pub fn standing_after(mut self, after: Duration) -> Self {
        self.standing_after = Some(after);
        self
    }

    /// For [`Queue::Lifo`] and [`Queue::Codel`]: the longest a request may wait while the queue
    /// stands (default 5 ms, CoDel's target). Waiters turned away then count as
    /// [`Reason::Shed`](super::Reason::Shed).
    pub fn standing_wait(mut self, wait: Duration) -> Self {
        self.standing_wait = wait;
        self
    }

    /// Lets `algorithm` set the limit from the latency and outcome of every request, live,
    /// starting at its initial limit. The limit given to [`new`](GateConfig::new) stays the
    /// ceiling: the gate never lets more through, whatever the algorithm says.
    ///
    /// Each gate built from this config gets its own copy of the algorithm (hence `Clone`).
    /// With an algorithm, [`Gate::set_limit`] still works, until the algorithm's next update.
    ///
    /// ```
    /// use floodgate::gate::GateConfig;
    /// use floodgate::limit::Aimd;
    ///
    /// let gate = GateConfig::new(64)
    ///     .limit_algorithm(Aimd::new().initial_limit(10).max_limit(256))
    ///     .build();
    /// assert_eq!(gate.snapshot().limit, 10);
    /// assert!(gate.snapshot().adaptive);
    /// ```
    pub fn limit_algorithm(mut self, algorithm: impl LimitAlgorithm + Clone + Sync) -> Self {
        self.algorithm = Some(Box::new(algorithm));
        self
    }

    /// The gate's name: the `gate` label of its metrics, so that several gates can report side
    /// by side (default `default`).
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reports the gate's `floodgate_admitted_total`, `floodgate_rejected_total` and
    /// `floodgate_queued` per [`Priority`] class (a `class` label), as a gate that tells classes
    /// apart should. Set by [`reserve`](GateConfig::reserve),
    /// [`class_max_wait`](GateConfig::class_max_wait) and
    /// [`GateLayer::classify`](super::GateLayer::classify); without it the series keep their
    /// labels of a gate without classes (the [`Snapshot`](super::Snapshot) has the classes
    /// either way).
    pub fn priority_classes(mut self) -> Self {
        self.priority_classes = true;
        self
    }

    /// Keeps `share` of the limit (0 to 1, rounded down to whole requests) for requests of
    /// `priority` or higher: the lower classes together hold at most the rest, whatever the
    /// higher classes hold (Netflix's partitions, without lending the reserved share), so that
    /// a flood of them leaves room for the others. With an adaptive limit the share follows the
    /// limit. Reserving for [`Priority::Sheddable`] and above (everybody) reserves nothing.
    ///
    /// The shares are checked without the lock on the fast path: requests admitted at the same
    /// instant on other threads may overshoot a share by as many (never the limit).
    ///
    /// ```
    /// use floodgate::gate::{GateConfig, Priority};
    ///
    /// // Sheddable requests hold at most 6 of 8 slots, sheddable and default ones together 7;
    /// // critical ones may take any free slot.
    /// let gate = GateConfig::new(8)
    ///     .reserve(Priority::Critical, 0.125)
    ///     .reserve(Priority::Default, 0.125)
    ///     .build();
    /// # let _ = gate;
    /// ```
    ///
    /// # Panics
    ///
    /// If `share` is not in `0..1`, or the shares reserved add up to 1 or more.
    pub fn reserve(mut self, priority: Priority, share: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&share),
            "floodgate: a reserved share must be at least 0 and less than 1, not {share}"
        );
        if priority == Priority::Sheddable {
            return self.priority_classes();
        }
        for lower in Priority::ALL.into_iter().filter(|lower| *lower < priority) {
            self.kept_from[lower.index()] += share;
        }
        assert!(
            self.kept_from[Priority::Sheddable.index()] < 1.0,
            "floodgate: the reserved shares add up to 1 or more"
        );
        self.priority_classes()
    }

    /// How long requests of `priority` may wait for a permit, instead of `max_wait`. By
    /// default sheddable requests wait half of `max_wait` (they are served after every other
    /// waiter, so under pressure a long wait mostly ends in a `503` anyway), the others
    /// `max_wait`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate::gate::{GateConfig, Priority};
    ///
    /// let config = GateConfig::new(8)
    ///     .max_wait(Duration::from_millis(100))
    ///     .class_max_wait(Priority::Sheddable, Duration::from_millis(10));
    /// # let _ = config;
    /// ```
    pub fn class_max_wait(mut self, priority: Priority, max_wait: Duration) -> Self {
        self.class_max_wait[priority.index()] = Some(max_wait);
        self.priority_classes()
    }

    /// Reads each request's deadline (its [`Deadline`](super::Deadline) extension, or a gRPC
    /// request's `grpc-timeout`) and learns the gate's expected service time (a moving average
    /// of the time from admission to the permit's return). A request whose time left is shorter
    /// than the expected service time is turned away at once
    /// ([`Reason::Deadline`](super::Reason::Deadline)): its client would throw the answer away.
    /// The others wait at most their time left minus the expected service time.
    ///
    /// Off by default: measuring costs two clock reads per request.
    pub fn deadlines(mut self) -> Self {
        self.deadlines = true;
        self
    }

    /// Reads the deadline of plain HTTP requests from header `name`: the client's time left, in
    /// whole milliseconds (gRPC requests keep `grpc-timeout`). Turns
    /// [`deadlines`](GateConfig::deadlines) on.
    ///
    /// ```
    /// use floodgate::gate::GateConfig;
    /// use http::HeaderName;
    ///
    /// let config = GateConfig::new(64)
    ///     .deadline_header(HeaderName::from_static("x-request-timeout-ms"));
    /// # let _ = config;
    /// ```
    pub fn deadline_header(mut self, name: HeaderName) -> Self {
        self.deadline_header = Some(name);
        self.deadlines()
    }

    /// The longest a request of `priority` may wait.
    pub(crate) fn max_wait_of(&self, priority: Priority) -> Duration {
        self.class_max_wait[priority.index()].unwrap_or(match priority {
            Priority::Sheddable => self.max_wait / 2,
            _ => self.max_wait,
        })
    }

    /// Builds a gate with these settings.
    pub fn build(self) -> Gate {
        Gate::with_config(self)
    }

    /// How long a queue must stand before LIFO and CoDel shorten the wait.
    pub(crate) fn standing_after_or_default(&self) -> Duration {
        self.standing_after.unwrap_or(self.max_wait / 2)
    }
}

impl fmt::Debug for GateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateConfig")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("max_wait", &self.max_wait)
            .field("max_queue", &self.max_queue)
            .field("retry_after", &self.retry_after)
            .field("queue", &self.queue)
            .field("standing_after", &self.standing_after_or_default())
            .field("standing_wait", &self.standing_wait)
            .field("algorithm", &self.algorithm)
            .field("priority_classes", &self.priority_classes)
            .field("kept_from", &self.kept_from)
            .field("class_max_wait", &self.class_max_wait)
            .field("deadlines", &self.deadlines)
            .field("deadline_header", &self.deadline_header)
            .finish()
    }
}

/// A limit algorithm that can be copied into each gate built from one config.
pub(crate) trait CloneAlgorithm: LimitAlgorithm + Sync {
    fn clone_box(&self) -> Box<dyn CloneAlgorithm>;
    fn into_algorithm(self: Box<Self>) -> Box<dyn LimitAlgorithm>;
}

impl<A: LimitAlgorithm + Clone + Sync> CloneAlgorithm for A {
    fn clone_box(&self) -> Box<dyn CloneAlgorithm> {
        Box::new(self.clone())
    }

    fn into_algorithm(self: Box<Self>) -> Box<dyn LimitAlgorithm> {
        self
    }
}

impl Clone for Box<dyn CloneAlgorithm> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

pub(crate) fn assert_limit(limit: usize) {
    assert!(
        limit > 0,
        "floodgate: the concurrency limit must be at least 1"
    );
    assert!(
        limit <= super::state::MAX_LIMIT,
        "floodgate: the concurrency limit must be at most {}",
        super::state::MAX_LIMIT
    );
}
