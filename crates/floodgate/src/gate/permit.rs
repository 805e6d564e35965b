//! The permit an admitted request holds until it is done.

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use super::state::Shared;
use crate::limit::Sample;

/// The right to be in flight: one of the gate's `limit` slots, given back when dropped.
///
/// [`GateService`](crate::GateService) moves the permit into the response body, so a request
/// counts against the limit until its body has been sent or dropped. Dropping a permit admits the
/// next waiter in the queue.
///
/// With an adaptive limit, dropping the permit also reports the request's latency to the
/// [`LimitAlgorithm`](crate::LimitAlgorithm); call [`mark_dropped`](Permit::mark_dropped) first
/// if the request failed in a way that signals overload.
///
/// ```
/// use floodgate::Gate;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = Gate::new(1);
/// let permit = gate.acquire().await.unwrap();
/// assert_eq!(gate.snapshot().in_flight, 1);
/// drop(permit);
/// assert_eq!(gate.snapshot().in_flight, 0);
/// # }
/// ```
#[must_use = "the request is admitted only while the permit is held"]
pub struct Permit {
    shared: Arc<Shared>,
    measure: Option<Measure>,
    dropped: bool,
}

/// When a measured request was admitted, and how many were in flight then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measure {
    at: Instant,
    in_flight: usize,
}

impl Measure {
    pub(crate) fn start(in_flight: usize) -> Self {
        Self {
            at: Instant::now(),
            in_flight,
        }
    }
}

impl Permit {
    /// Wraps a permit the state has already counted.
    #[inline]
    pub(crate) fn counted(shared: Arc<Shared>, measure: Option<Measure>) -> Self {
        Self {
            shared,
            measure,
            dropped: false,
        }
    }

    /// Tells the limit algorithm that this request was dropped (a server error, a timeout):
    /// a sign of overload. Without an adaptive limit this does nothing.
    pub fn mark_dropped(&mut self) {
        self.dropped = true;
    }

    /// Whether the gate measures this request for an adaptive limit.
    pub(crate) fn is_measured(&self) -> bool {
        self.measure.is_some()
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        let sample = self
            .measure
            .map(|measure| Sample::new(measure.at.elapsed(), measure.in_flight, self.dropped));
        self.shared.release(sample);
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("measured", &self.measure.is_some())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}
