//! Why the gate turned a request away: plain data, no HTTP.

use std::fmt;
use std::time::Duration;

/// The reason the gate turned a request away.
///
/// The string forms ([`Reason::as_str`]) are the `reason` label of the
/// `floodgate_rejected_total` metric.
///
/// ```
/// use floodgate::gate::Reason;
/// assert_eq!(Reason::QueueFull.as_str(), "queue_full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The request waited `max_wait` without getting a permit.
    Timeout,
    /// The wait queue already held `max_queue` requests (or `max_queue` is zero).
    QueueFull,
    /// The gate was closed (the server is shutting down).
    Closed,
    /// Shed by the queue discipline ([`Queue::Lifo`](super::Queue::Lifo) or
    /// [`Queue::Codel`](super::Queue::Codel)): the queue was standing, and the request waited
    /// longer than the short wait allowed then.
    Shed,
    /// Evicted from a full queue to make room for a request of a higher
    /// [`Priority`](super::Priority).
    Evicted,
    /// The request's deadline ([`Deadline`](super::Deadline), `grpc-timeout`, or the configured
    /// header) would pass before it could be served: it was turned away at once, or its wait,
    /// capped by the time it had left minus the expected service time, ran out.
    Deadline,
}

impl Reason {
    /// Every reason, in a stable order (for pre-registering metric labels).
    pub const ALL: [Reason; 6] = [
        Reason::Timeout,
        Reason::QueueFull,
        Reason::Closed,
        Reason::Shed,
        Reason::Evicted,
        Reason::Deadline,
    ];

    /// The reason as a short `snake_case` label: `timeout`, `queue_full`, `closed`, `shed`,
    /// `evicted` or `deadline`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::QueueFull => "queue_full",
            Reason::Closed => "closed",
            Reason::Shed => "shed",
            Reason::Evicted => "evicted",
            Reason::Deadline => "deadline",
        }
    }

    /// The position of the reason in [`Reason::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Reason::Timeout => 0,
            Reason::QueueFull => 1,
            Reason::Closed => 2,
            Reason::Shed => 3,
            Reason::Evicted => 4,
            Reason::Deadline => 5,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the gate turned away: why, and how long the client should wait before it retries.
///
/// Plain data: [`GateService`](super::GateService) turns it into a `503 Service Unavailable`
/// (see [`DefaultOnReject`](super::DefaultOnReject)), or into whatever the closure given to
/// [`GateLayer::on_reject`](super::GateLayer::on_reject) builds. Outside HTTP,
/// [`Gate::acquire`](super::Gate::acquire) returns it as an error.
///
/// ```
/// use std::time::Duration;
/// use floodgate::gate::{GateConfig, Reason};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = GateConfig::new(1).max_queue(0).build();
/// let _held = gate.acquire().await.unwrap();
/// let rejection = gate.acquire().await.unwrap_err();
/// assert_eq!(rejection.reason(), Reason::QueueFull);
/// assert_eq!(rejection.retry_after(), Duration::from_secs(1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    retry_after: Duration,
}

impl Rejection {
    pub(crate) fn new(reason: Reason, retry_after: Duration) -> Self {
        Self {
            reason,
            retry_after,
        }
    }

    /// Why the request was turned away.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// How long the client should wait before it retries (the gate's `retry_after` setting).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request rejected by the gate ({}), retry after {:?}",
            self.reason, self.retry_after
        )
    }
}

impl std::error::Error for Rejection {}
