//! The admission gate: a concurrency limit with a bounded, cancellable wait queue.
//!
//! [`Gate`] is the shared state behind [`GateLayer`](crate::GateLayer) and a handle to it. It can
//! also be used on its own, around any async work:
//!
//! ```
//! use std::time::Duration;
//! use floodgate::{Gate, Reason};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let gate = Gate::new(1);
//! gate.set_max_wait(Duration::from_millis(10));
//!
//! let permit = gate.acquire().await.expect("a free slot");
//! // The only slot is taken: the next caller waits 10ms, then is turned away.
//! let rejection = gate.acquire().await.unwrap_err();
//! assert_eq!(rejection.reason(), Reason::Timeout);
//!
//! drop(permit);
//! assert!(gate.acquire().await.is_ok());
//! # }
//! ```

mod acquire;
mod discipline;
mod histogram;
mod permit;
mod snapshot;
pub(crate) mod state;
mod waiters;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::acquire::Acquire;
pub use self::discipline::Queue;
pub use self::histogram::WaitHistogram;
pub use self::permit::Permit;
pub use self::snapshot::{RejectedCounts, Snapshot};
use self::state::{Entry, Shared};
use crate::Rejection;
use crate::limit::LimitAlgorithm;

/// A concurrency limit with a bounded wait: at most `limit` holders of a [`Permit`] at once,
/// at most `max_queue` waiters, each waiting at most `max_wait`, admitted first come, first served.
///
/// `Gate` is a cheap handle (an `Arc`): clones share one gate. [`GateLayer::gate`] hands out the
/// gate of a layer, for stats ([`snapshot`](Gate::snapshot)), live changes
/// ([`set_limit`](Gate::set_limit)) and shutdown ([`close`](Gate::close),
/// [`drained`](Gate::drained)).
///
/// Defaults: `max_wait` 100 ms, `max_queue` 1024, `Retry-After` 1 s.
///
/// [`GateLayer::gate`]: crate::GateLayer::gate
#[derive(Clone)]
pub struct Gate {
    shared: Arc<Shared>,
}

/// How a request entered the gate, for the service's fast path.
#[derive(Debug)]
pub(crate) enum Admission {
    Admitted(Permit),
    Rejected(Rejection),
    Queued(Acquire),
}

impl Gate {
    /// Creates a gate that lets `limit` requests through at once.
    ///
    /// # Panics
    ///
    /// If `limit` is zero: a gate that admits nobody is a configuration mistake.
    ///
    /// ```
    /// let gate = floodgate::Gate::new(64);
    /// assert_eq!(gate.snapshot().limit, 64);
    /// ```
    pub fn new(limit: usize) -> Self {
        assert_limit(limit);
        Self {
            shared: Arc::new(Shared::new(limit)),
        }
    }

    /// Waits for a permit, at most `max_wait`.
    ///
    /// Resolves at once if a slot is free and nobody is queued; turns the caller away at once if
    /// the gate is closed or the queue is full; otherwise queues. Dropping the future leaves the
    /// queue.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let gate = floodgate::Gate::new(4);
    /// let permit = gate.acquire().await.unwrap();
    /// # drop(permit);
    /// # }
    /// ```
    pub fn acquire(&self) -> Acquire {
        Acquire::new(Arc::clone(&self.shared))
    }

    /// Enters the gate without a waker: admitted or rejected at once, or queued with the waker
    /// still to be set by the first poll of the returned future.
    #[inline]
    pub(crate) fn admit(&self) -> Admission {
        let entry = self.shared.lock().enter(None);
        match entry {
            Entry::Admitted(measure) => {
                Admission::Admitted(Permit::counted(Arc::clone(&self.shared), measure))
            }
            Entry::Rejected(rejection) => Admission::Rejected(rejection),
            Entry::Queued {
                index,
                since,
                deadline,
                on_timeout,
            } => Admission::Queued(Acquire::queued(
                Arc::clone(&self.shared),
                index,
                since,
                deadline,
                on_timeout,
            )),
        }
    }

    /// The gate's settings, load and counters, read at one instant.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.lock().snapshot()
    }

    /// Changes the concurrency limit, live.
    ///
    /// Raising it admits queued waiters at once. Lowering it takes nothing back: requests in
    /// flight finish, and nobody new is admitted until fewer than `limit` are in flight.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    ///
    /// ```
    /// let gate = floodgate::Gate::new(8);
    /// gate.set_limit(2);
    /// assert_eq!(gate.snapshot().limit, 2);
    /// ```
    pub fn set_limit(&self, limit: usize) {
        assert_limit(limit);
        let wakers = self.shared.lock().set_limit(limit);
        wakers.wake();
    }

    /// Lets `algorithm` set the limit from now on, starting at its initial limit: every finished
    /// request reports its latency, the in-flight count at its start and whether it was dropped
    /// (see [`Permit::mark_dropped`]), and the gate resizes live.
    ///
    /// [`set_limit`](Gate::set_limit) still works, until the algorithm's next update.
    ///
    /// ```
    /// use floodgate::{Aimd, Gate};
    ///
    /// let gate = Gate::new(1);
    /// gate.set_limit_algorithm(Aimd::new().initial_limit(10).max_limit(64));
    /// assert_eq!(gate.snapshot().limit, 10);
    /// assert!(gate.snapshot().adaptive);
    /// ```
    pub fn set_limit_algorithm(&self, algorithm: impl LimitAlgorithm) {
        let wakers = self.shared.lock().set_algorithm(Box::new(algorithm));
        wakers.wake();
    }

    /// Sets the queue discipline: [`Queue::Fifo`] (the default), [`Queue::Lifo`] or
    /// [`Queue::Codel`]. Applies to waiters admitted from now on.
    pub fn set_queue(&self, queue: Queue) {
        self.shared.lock().set_queue(queue);
    }

    /// For [`Queue::Lifo`] and [`Queue::Codel`]: how long an overload episode (requests
    /// queueing, no idle capacity) must last before the queue counts as standing. Default: half
    /// of `max_wait`, so that a burst whose queue drains within that is absorbed whole, while the
    /// first wave of a sustained overload does not linger in the latency tail.
    pub fn set_standing_after(&self, after: Duration) {
        self.shared.lock().set_standing_after(after);
    }

    /// For [`Queue::Lifo`] and [`Queue::Codel`]: the longest a request may wait while the queue
    /// stands (default 5 ms, CoDel's target). Waiters turned away then count as
    /// [`Reason::Shed`](crate::Reason::Shed).
    pub fn set_standing_wait(&self, wait: Duration) {
        self.shared.lock().set_standing_wait(wait);
    }

    /// Sets how long a request may wait for a permit before it is turned away
    /// ([`Reason::Timeout`](crate::Reason::Timeout)). Zero: never wait. Applies to requests that
    /// arrive afterwards.
    pub fn set_max_wait(&self, max_wait: Duration) {
        self.shared.lock().set_max_wait(max_wait);
    }

    /// Sets how many requests may wait at once; more are turned away at once
    /// ([`Reason::QueueFull`](crate::Reason::QueueFull)). Zero: never wait.
    pub fn set_max_queue(&self, max_queue: usize) {
        self.shared.lock().set_max_queue(max_queue);
    }

    /// Sets the delay that rejections ask clients to wait (`Retry-After`). It is sent in whole
    /// seconds, rounded up, and never less than one second.
    pub fn set_retry_after(&self, retry_after: Duration) {
        self.shared.lock().set_retry_after(retry_after);
    }

    /// Closes the gate for good: queued and new requests are turned away
    /// ([`Reason::Closed`](crate::Reason::Closed)); requests in flight finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let gate = floodgate::Gate::new(4);
    /// let in_flight = gate.acquire().await.unwrap();
    /// gate.close();
    /// assert!(gate.acquire().await.is_err());
    /// drop(in_flight);
    /// gate.drained().await;
    /// # }
    /// ```
    pub fn close(&self) {
        let wakers = self.shared.lock().close();
        wakers.wake();
    }

    /// Whether [`close`](Gate::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().snapshot().closed
    }

    /// Resolves when no request is in flight (at once, if none is now).
    ///
    /// With [`close`](Gate::close), this is a graceful shutdown: close, then await `drained`,
    /// bounded by a grace period of your choice.
    pub fn drained(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let _watch = DrainWatch::new(&shared);
            loop {
                let notified = shared.drained.notified();
                let mut notified = std::pin::pin!(notified);
                // Registered before the check, so a release between check and await is not lost.
                notified.as_mut().enable();
                if shared.lock().in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        }
    }
}

/// Counts a waiting `drained` future, so that releases notify only when somebody listens.
struct DrainWatch<'a> {
    shared: &'a Shared,
}

impl<'a> DrainWatch<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.lock().drain_watchers += 1;
        Self { shared }
    }
}

impl Drop for DrainWatch<'_> {
    fn drop(&mut self) {
        self.shared.lock().drain_watchers -= 1;
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gate").field(&self.snapshot()).finish()
    }
}

fn assert_limit(limit: usize) {
    assert!(
        limit >= 1,
        "floodgate: the concurrency limit must be at least 1"
    );
}

#[cfg(test)]
mod tests;
