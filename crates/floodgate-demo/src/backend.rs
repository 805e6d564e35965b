//! The simulated backend behind `/slow`: a pool of finite capacity, like a database pool.
//!
//! A bare `sleep` would have infinite capacity and show nothing. Here every request takes one of
//! `capacity` slots, first come first served, and holds it for its work time. Without a gate in
//! front, overload queues up in this pool and latency grows without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

/// A FIFO pool of `capacity` slots. Clones share the pool.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    // tokio's semaphore is fair: waiters get slots in arrival order.
    slots: Arc<Semaphore>,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
}

/// The backend's load at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendLoad {
    pub(crate) capacity: usize,
    /// Slots held now.
    pub(crate) busy: usize,
    /// Requests waiting for a slot now.
    pub(crate) waiting: usize,
}

impl Backend {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits for a slot, then holds it for `work`. Cancel-safe: dropping the future leaves the
    /// queue or gives the slot back.
    pub(crate) async fn work(&self, work: Duration) {
        let _slot = {
            let _waiting = Waiting::enter(&self.waiting);
            self.slots
                .acquire()
                .await
                .expect("the backend pool is never closed")
        };
        tokio::time::sleep(work).await;
    }

    pub(crate) fn load(&self) -> BackendLoad {
        BackendLoad {
            capacity: self.capacity,
            busy: self.capacity - self.slots.available_permits(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// Counts a request as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn excess_work_queues_for_a_slot_in_order() {
        let backend = Backend::new(2);
        let start = Instant::now();
        let mut finished = Vec::new();
        for i in 0..5 {
            let backend = backend.clone();
            finished.push(tokio::spawn(async move {
                backend.work(Duration::from_millis(100)).await;
                (i, start.elapsed())
            }));
            settle().await;
        }
        assert_eq!(
            backend.load(),
            BackendLoad {
                capacity: 2,
                busy: 2,
                waiting: 3
            }
        );

        let mut done = Vec::new();
        for handle in finished {
            done.push(handle.await.unwrap());
        }
        let ms = |millis| Duration::from_millis(millis);
        assert_eq!(
            done,
            [
                (0, ms(100)),
                (1, ms(100)),
                (2, ms(200)),
                (3, ms(200)),
                (4, ms(300))
            ]
        );
        assert_eq!(backend.load().busy, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_leaves_the_queue_and_frees_its_slot() {
        let backend = Backend::new(1);
        let holder = tokio::spawn({
            let backend = backend.clone();
            async move { backend.work(Duration::from_secs(1)).await }
        });
        settle().await;
        let waiter = tokio::spawn({
            let backend = backend.clone();
            async move { backend.work(Duration::from_secs(1)).await }
        });
        settle().await;
        assert_eq!((backend.load().busy, backend.load().waiting), (1, 1));

        waiter.abort();
        settle().await;
        assert_eq!((backend.load().busy, backend.load().waiting), (1, 0));

        holder.abort();
        settle().await;
        assert_eq!(backend.load().busy, 0);
    }
}
