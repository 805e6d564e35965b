//! Why a request was turned away, and the default `503` answer.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, StatusCode};

/// The reason the gate turned a request away.
///
/// The string forms ([`Reason::as_str`]) are the `reason` label of the
/// `floodgate_rejected_total` metric.
///
/// ```
/// use floodgate::Reason;
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
    /// Shed by the queue discipline ([`Queue::Lifo`](crate::Queue::Lifo) or
    /// [`Queue::Codel`](crate::Queue::Codel)): the queue was standing, and the request waited
    /// longer than the short wait allowed then.
    Shed,
}

impl Reason {
    /// Every reason, in a stable order (for pre-registering metric labels).
    pub const ALL: [Reason; 4] = [
        Reason::Timeout,
        Reason::QueueFull,
        Reason::Closed,
        Reason::Shed,
    ];

    /// The reason as a short `snake_case` label: `timeout`, `queue_full`, `closed` or `shed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::QueueFull => "queue_full",
            Reason::Closed => "closed",
            Reason::Shed => "shed",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the gate turned away: the reason, and when the client should try again.
///
/// [`GateService`](crate::GateService) turns a `Rejection` into a `503 Service Unavailable`
/// response, by default with a short plain-text body, or with the closure given to
/// [`GateLayer::on_reject`](crate::GateLayer::on_reject). Outside HTTP,
/// [`Gate::acquire`](crate::Gate::acquire) returns it as an error.
///
/// ```
/// use floodgate::{Gate, Reason};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = Gate::new(1);
/// gate.set_max_queue(0);
/// let _held = gate.acquire().await.unwrap();
/// let rejection = gate.acquire().await.unwrap_err();
/// assert_eq!(rejection.reason(), Reason::QueueFull);
/// assert_eq!(rejection.retry_after_secs(), 1);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    retry_after_secs: u64,
}

impl Rejection {
    pub(crate) fn new(reason: Reason, retry_after_secs: u64) -> Self {
        Self {
            reason,
            retry_after_secs,
        }
    }

    /// Why the request was turned away.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The status code of the default response: `503 Service Unavailable`.
    pub fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The `Retry-After` delay in whole seconds, never less than 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs
    }

    /// The `Retry-After` delay.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs)
    }

    /// The `Retry-After` header value (delay-seconds form).
    pub fn retry_after_header(&self) -> HeaderValue {
        HeaderValue::from(self.retry_after_secs)
    }

    /// The short plain-text body of the default response.
    pub fn message(&self) -> &'static str {
        match self.reason {
            Reason::Timeout => {
                "service overloaded: no capacity within the wait limit, retry later\n"
            }
            Reason::QueueFull => "service overloaded: wait queue full, retry later\n",
            Reason::Closed => "service shutting down, retry later\n",
            Reason::Shed => "service overloaded: request shed from a standing queue, retry later\n",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request rejected ({}), retry after {}s",
            self.reason, self.retry_after_secs
        )
    }
}

impl std::error::Error for Rejection {}

/// A delay as `Retry-After` sends it: whole seconds, rounded up, at least 1.
///
/// The rule every floodgate rejection follows (the gate's 503s and the rate limit's 429s), for
/// answers built elsewhere that should say the same.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(floodgate::retry_after_secs(Duration::ZERO), 1);
/// assert_eq!(floodgate::retry_after_secs(Duration::from_millis(1001)), 2);
/// ```
pub fn retry_after_secs(delay: Duration) -> u64 {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn header_is_delay_seconds() {
        let rejection = Rejection::new(Reason::Timeout, 7);
        assert_eq!(rejection.retry_after_header(), "7");
        assert_eq!(rejection.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
