//! The simulated backend behind `/slow`: a pool of finite capacity, like a database pool.
//!
//! A bare `sleep` would have infinite capacity and show nothing. Here every request takes one of
//! `capacity` slots, first come first served, and holds it for its work time. Without a gate in
//! front, overload queues up in this pool and latency grows without bound.
//!
//! The capacity can change at runtime ([`Backend::resize`], behind `POST
//! /admin/backend-capacity`), as a real backend's does when it loses a replica: raising it hands
//! slots to the queue at once; lowering it takes no slot away from a request holding one, the
//! pool just does not give the surplus back until it is down to the new capacity.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// A FIFO pool of `capacity` slots. Clones share the pool.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    // tokio's semaphore is fair: waiters get slots in arrival order.
    slots: Semaphore,
    size: Mutex<Size>,
    waiting: AtomicUsize,
}

/// The capacity, and the slots still owed after it was lowered below the slots in use.
///
/// Slots held plus slots free is always `capacity + debt`; a slot given back while `debt > 0`
/// is forgotten instead of freed, and pays one off.
#[derive(Debug, Clone, Copy)]
struct Size {
    capacity: usize,
    debt: usize,
}

/// The backend's load at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendLoad {
    pub(crate) capacity: usize,
    /// Slots held now (more than `capacity` for a while after it was lowered).
    pub(crate) busy: usize,
    /// Requests waiting for a slot now.
    pub(crate) waiting: usize,
}

impl Backend {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            pool: Arc::new(Pool {
                slots: Semaphore::new(capacity),
                size: Mutex::new(Size { capacity, debt: 0 }),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Waits for a slot, then holds it for `work`. Cancel-safe: dropping the future leaves the
    /// queue or gives the slot back.
    pub(crate) async fn work(&self, work: Duration) {
        let _slot = {
            let _waiting = Waiting::enter(&self.pool.waiting);
            Slot {
                permit: Some(
                    self.pool
                        .slots
                        .acquire()
                        .await
                        .expect("the backend pool is never closed"),
                ),
                pool: &self.pool,
            }
        };
        tokio::time::sleep(work).await;
    }

    /// Sets the capacity to `capacity` slots (at least 1), live; returns the previous one.
    ///
    /// Raising it admits waiting requests at once. Lowering it removes free slots at once and
    /// takes the others back as their holders finish: requests in flight are not disturbed.
    pub(crate) fn resize(&self, capacity: usize) -> usize {
        debug_assert!(capacity >= 1, "a backend needs a slot");
        let mut size = self.pool.size();
        let previous = size.capacity;
        if capacity > previous {
            let more = capacity - previous;
            let repaid = more.min(size.debt);
            size.debt -= repaid;
            self.pool.slots.add_permits(more - repaid);
        } else {
            let fewer = previous - capacity;
            let forgotten = self.pool.slots.forget_permits(fewer);
            size.debt += fewer - forgotten;
        }
        size.capacity = capacity;
        previous
    }

    pub(crate) fn load(&self) -> BackendLoad {
        let size = self.pool.size();
        let busy = (size.capacity + size.debt).saturating_sub(self.pool.slots.available_permits());
        BackendLoad {
            capacity: size.capacity,
            busy,
            waiting: self.pool.waiting.load(Ordering::Relaxed),
        }
    }
}

impl Pool {
    fn size(&self) -> MutexGuard<'_, Size> {
        // The critical sections cannot panic halfway; the data is consistent either way.
        self.size.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A slot held; given back on drop, or forgotten if the pool owes slots after a resize.
struct Slot<'a> {
    permit: Option<SemaphorePermit<'a>>,
    pool: &'a Pool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Under the lock, so that a concurrent resize sees either the debt or the free slot.
        let mut size = self.pool.size();
        if size.debt > 0 {
            size.debt -= 1;
            permit.forget();
        } else {
            drop(permit);
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

    /// Starts `count` requests of `work` each, one after the other (so they queue in order);
    /// each returns when it finished, from `start`.
    async fn start_work(
        backend: &Backend,
        count: usize,
        work: Duration,
        start: Instant,
    ) -> Vec<tokio::task::JoinHandle<Duration>> {
        let mut handles = Vec::new();
        for _ in 0..count {
            let backend = backend.clone();
            handles.push(tokio::spawn(async move {
                backend.work(work).await;
                start.elapsed()
            }));
            settle().await;
        }
        handles
    }

    async fn finish_times(handles: Vec<tokio::task::JoinHandle<Duration>>) -> Vec<u64> {
        let mut done = Vec::new();
        for handle in handles {
            done.push(handle.await.unwrap().as_millis() as u64);
        }
        done
    }

    fn load(capacity: usize, busy: usize, waiting: usize) -> BackendLoad {
        BackendLoad {
            capacity,
            busy,
            waiting,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn raising_the_capacity_admits_waiting_requests_at_once() {
        let backend = Backend::new(1);
        let start = Instant::now();
        let handles = start_work(&backend, 4, Duration::from_millis(100), start).await;
        assert_eq!(backend.load(), load(1, 1, 3));

        assert_eq!(backend.resize(3), 1);
        settle().await;
        assert_eq!(backend.load(), load(3, 3, 1));
        // The holder keeps its slot; two waiters start now, the last when a slot frees up.
        assert_eq!(finish_times(handles).await, [100, 100, 100, 200]);
        assert_eq!(backend.load(), load(3, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn lowering_the_capacity_spares_the_holders_and_is_honoured_after_them() {
        let backend = Backend::new(4);
        let start = Instant::now();
        let holders = start_work(&backend, 3, Duration::from_millis(100), start).await;
        assert_eq!(backend.load(), load(4, 3, 0));

        // One slot is free and goes at once; two more are owed by the holders.
        assert_eq!(backend.resize(1), 4);
        assert_eq!(backend.load(), load(1, 3, 0));
        let waiters = start_work(&backend, 3, Duration::from_millis(100), start).await;
        assert_eq!(backend.load(), load(1, 3, 3));

        // The holders finish undisturbed; from then on one request at a time.
        assert_eq!(finish_times(holders).await, [100, 100, 100]);
        assert_eq!(finish_times(waiters).await, [200, 300, 400]);
        assert_eq!(backend.load(), load(1, 0, 0));
        assert_eq!(backend.pool.slots.available_permits(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn raising_while_slots_are_owed_pays_the_debt_first() {
        let backend = Backend::new(4);
        let start = Instant::now();
        let holders = start_work(&backend, 4, Duration::from_millis(100), start).await;
        assert_eq!(backend.resize(1), 4);
        assert_eq!(backend.resize(2), 1);
        assert_eq!(backend.load(), load(2, 4, 0));
        let waiters = start_work(&backend, 4, Duration::from_millis(100), start).await;

        assert_eq!(finish_times(holders).await, [100; 4]);
        assert_eq!(finish_times(waiters).await, [200, 200, 300, 300]);
        assert_eq!(backend.pool.slots.available_permits(), 2);
        assert_eq!(backend.load(), load(2, 0, 0));
    }

    #[tokio::test]
    async fn lowering_an_idle_pool_takes_effect_at_once() {
        let backend = Backend::new(8);
        assert_eq!(backend.resize(3), 8);
        assert_eq!(backend.load(), load(3, 0, 0));
        assert_eq!(backend.pool.slots.available_permits(), 3);
        assert_eq!(backend.resize(3), 3);
        assert_eq!(backend.pool.slots.available_permits(), 3);
    }
}
