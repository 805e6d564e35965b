//! [`Gate`]: the handle to a gate's shared core.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::acquire::Acquire;
use super::config::GateConfig;
use super::permit::Permit;
use super::rejection::Rejection;
use super::snapshot::Snapshot;
use super::state::{Arrival, Core, Entry};

/// A concurrency limit with a bounded wait: at most `limit` holders of a [`Permit`] at once,
/// at most `max_queue` waiters, each waiting at most `max_wait`.
///
/// `Gate` is a cheap handle (an `Arc`): clones share one gate. Its settings are fixed when it
/// is built ([`Gate::new`] with the defaults, or a [`GateConfig`]); what changes live is the
/// limit ([`set_limit`](Gate::set_limit), or an adaptive limit) and whether it is open
/// ([`close`](Gate::close), [`drained`](Gate::drained)). [`GateLayer::gate`] hands out the
/// gate of a layer.
///
/// It works around any async work, not only HTTP:
///
/// ```
/// use std::time::Duration;
/// use floodgate::gate::{GateConfig, Reason};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = GateConfig::new(1).max_wait(Duration::from_millis(10)).build();
///
/// let permit = gate.acquire().await.expect("a free slot");
/// // The only slot is taken: the next caller waits 10ms, then is turned away.
/// let rejection = gate.acquire().await.unwrap_err();
/// assert_eq!(rejection.reason(), Reason::Timeout);
///
/// drop(permit);
/// assert!(gate.acquire().await.is_ok());
/// # }
/// ```
///
/// [`GateLayer::gate`]: super::GateLayer::gate
#[derive(Clone)]
pub struct Gate {
    core: Arc<Core>,
}

/// How a request entered the gate, for the service's fast path.
#[derive(Debug)]
pub(crate) enum Admission {
    Admitted(Permit),
    Rejected(Rejection),
    Queued(Acquire),
}

impl Gate {
    /// A gate that lets `limit` requests through at once, with the default settings
    /// (`max_wait` 100 ms, `max_queue` 1024, `Retry-After` 1 s, FIFO).
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
        Self::with_config(GateConfig::new(limit))
    }

    /// A gate with these settings.
    pub fn with_config(config: GateConfig) -> Self {
        Self {
            core: Arc::new(Core::new(config)),
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
        Acquire::new(Arc::clone(&self.core))
    }

    /// Enters the gate without a waker: admitted or rejected at once, or queued with the waker
    /// still to be set by the first poll of the returned future.
    #[inline]
    pub(crate) fn admit(&self, arrival: Arrival) -> Admission {
        match self.core.enter(None, arrival) {
            Entry::Admitted(in_flight) => Admission::Admitted(Permit::admitted(
                Arc::clone(&self.core),
                in_flight,
                arrival.priority,
            )),
            Entry::Rejected(rejection) => Admission::Rejected(rejection),
            Entry::Queued(ticket) => {
                Admission::Queued(Acquire::queued(Arc::clone(&self.core), ticket))
            }
        }
    }

    /// The gate's settings, load and counters.
    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    /// The settings the gate was built with.
    pub(crate) fn config(&self) -> &GateConfig {
        self.core.config()
    }

    /// The gate's name: the `gate` label of its metrics (see [`GateConfig::name`]).
    pub fn name(&self) -> &str {
        &self.core.config().name
    }

    /// Changes the concurrency limit, live.
    ///
    /// Raising it admits queued waiters at once. Lowering it takes nothing back: requests in
    /// flight finish, and nobody new is admitted until fewer than `limit` are in flight. With an
    /// adaptive limit, the algorithm's next update sets the limit again.
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
        super::config::assert_limit(limit);
        // Not clamped to the configured limit: an operator may raise a fixed limit live.
        self.core.set_limit(limit);
    }

    /// Closes the gate for good: queued and new requests are turned away
    /// ([`Reason::Closed`](super::Reason::Closed)); requests in flight finish.
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
        let wakers = self.core.lock().close();
        wakers.wake(&self.core);
    }

    /// Whether [`close`](Gate::close) was called.
    pub fn is_closed(&self) -> bool {
        self.core.lock().is_closed()
    }

    /// Resolves when no request is in flight (at once, if none is now).
    ///
    /// With [`close`](Gate::close), this is a graceful shutdown: close, then await `drained`,
    /// bounded by a grace period of your choice.
    pub fn drained(&self) -> impl Future<Output = ()> + Send + 'static {
        let core = Arc::clone(&self.core);
        async move {
            let _watch = DrainWatch::new(&core);
            loop {
                let notified = core.drained();
                let mut notified = std::pin::pin!(notified);
                // Registered before the check, so a release between check and await is not lost.
                notified.as_mut().enable();
                if core.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        }
    }
}

/// Counts a waiting `drained` future: while one waits, releases go through the lock and notify
/// it when the last permit comes back.
struct DrainWatch<'a> {
    core: &'a Core,
}

impl<'a> DrainWatch<'a> {
    fn new(core: &'a Core) -> Self {
        core.lock().watch_drain(true);
        Self { core }
    }
}

impl Drop for DrainWatch<'_> {
    fn drop(&mut self) {
        self.core.lock().watch_drain(false);
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("name", &self.name())
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
