//! The permit an admitted request holds until it is done.

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use super::priority::Priority;
use super::state::Core;
use crate::limit::Sample;

/// The right to be in flight: one of the gate's `limit` slots, given back when dropped.
///
/// [`GateService`](super::GateService) moves the permit into the response body, so a request
/// counts against the limit until its body has been sent or dropped. Dropping a permit admits the
/// next waiter in the queue.
///
/// With an adaptive limit, dropping the permit also reports the request's latency to the
/// [`LimitAlgorithm`](crate::limit::LimitAlgorithm); call [`mark_dropped`](Permit::mark_dropped)
/// first if the request failed in a way that signals overload.
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
    core: Arc<Core>,
    measure: Option<Measure>,
    dropped: bool,
    priority: Priority,
}

/// When a measured request was admitted, and how many were in flight then.
#[derive(Debug, Clone, Copy)]
struct Measure {
    at: Instant,
    in_flight: usize,
}

impl Permit {
    /// Wraps a permit of class `priority` the core has already counted, admitted with
    /// `in_flight` in flight.
    #[inline]
    pub(crate) fn admitted(core: Arc<Core>, in_flight: usize, priority: Priority) -> Self {
        let measured = core.controller().is_some() || core.config().deadlines;
        let measure = measured.then(|| Measure {
            at: Instant::now(),
            in_flight,
        });
        Self {
            core,
            measure,
            dropped: false,
            priority,
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
        // Gives the slot back last, and also if the algorithm panics.
        let _release = Release(&self.core, self.priority);
        let Some(measure) = self.measure else {
            return;
        };
        let took = measure.at.elapsed();
        if self.core.config().deadlines {
            self.core.record_service_time(took);
        }
        if let Some(controller) = self.core.controller() {
            let sample = Sample::new(took, measure.in_flight, self.dropped);
            // The algorithm moves the limit below the gate's ceiling, never to zero.
            let limit = controller.update(&sample);
            self.core
                .set_limit(limit.clamp(1, self.core.config().limit));
        }
    }
}

/// Releases one permit of a class when dropped.
struct Release<'a>(&'a Core, Priority);

impl Drop for Release<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.give_class_slot(self.1);
        self.0.release();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("measured", &self.measure.is_some())
            .field("dropped", &self.dropped)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}
