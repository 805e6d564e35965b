//! The permit an admitted request holds until it is done.

use std::fmt;
use std::sync::Arc;

use super::state::Shared;

/// The right to be in flight: one of the gate's `limit` slots, given back when dropped.
///
/// [`GateService`](crate::GateService) moves the permit into the response body, so a request
/// counts against the limit until its body has been sent or dropped. Dropping a permit admits the
/// next waiter in the queue.
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
}

impl Permit {
    /// Wraps a permit the state has already counted.
    pub(crate) fn counted(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}
