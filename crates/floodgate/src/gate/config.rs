//! A gate's settings, fixed when it is built.

use std::fmt;
use std::time::Duration;

use super::Gate;
use super::discipline::Queue;
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
