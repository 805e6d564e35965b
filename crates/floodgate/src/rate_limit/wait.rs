//! Waiting for a token (wait mode): the waiter counts, and the waiting future.
//!
//! A waiter does not reserve a token: it sleeps until its turn, then checks the bucket again,
//! so a waiter whose client goes away consumes nothing. Its turn is the next token's arrival
//! plus one emission interval per waiter already waiting on the same bucket, which keeps the
//! waiters from all waking for the same token, and lets a request that could not get a token
//! within `max_wait` anyway be turned away at once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::nanos::Nanos;

use super::key::KeyExtractor;
use super::rejection::Rejection;
use super::state::{Admitted, Shared};

/// How many requests wait on each bucket.
#[derive(Debug)]
pub(crate) struct Waiters<K> {
    counts: Mutex<Counts<K>>,
}

#[derive(Debug)]
struct Counts<K> {
    total: usize,
    shared: usize,
    keyed: HashMap<K, usize>,
}

impl<K: Hash + Eq + Clone> Waiters<K> {
    pub(crate) fn new() -> Self {
        Self {
            counts: Mutex::new(Counts {
                total: 0,
                shared: 0,
                keyed: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts<K>> {
        // The counts stay consistent whatever panicked while the lock was held.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a waiter in; returns how many were already waiting on its bucket.
    pub(crate) fn enter(&self, key: Option<&K>) -> usize {
        let mut counts = self.lock();
        counts.total += 1;
        let count = match key {
            None => &mut counts.shared,
            Some(key) => counts.keyed.entry(key.clone()).or_insert(0),
        };
        *count += 1;
        *count - 1
    }

    /// Counts a waiter out.
    pub(crate) fn leave(&self, key: Option<&K>) {
        let mut counts = self.lock();
        counts.total -= 1;
        match key {
            None => counts.shared -= 1,
            Some(key) => {
                if let Some(count) = counts.keyed.get_mut(key) {
                    *count -= 1;
                    if *count == 0 {
                        counts.keyed.remove(key);
                    }
                }
            }
        }
    }

    /// Requests waiting now, on all buckets.
    pub(crate) fn total(&self) -> usize {
        self.lock().total
    }
}

/// A request counted in as a waiter; counted out when dropped.
pub(crate) struct WaitTicket<E: KeyExtractor> {
    shared: Arc<Shared<E>>,
    key: Option<E::Key>,
    /// When to check the bucket first.
    turn: Nanos,
    /// When to give up (the arrival time plus `max_wait`).
    deadline: Nanos,
}

/// The waiting future: admitted when a token comes, rejected when none can come in time.
#[allow(unreachable_pub)]
pub type Wait = Pin<Box<dyn Future<Output = Result<Admitted, Rejection>> + Send>>;

impl<E: KeyExtractor> WaitTicket<E> {
    /// Counts a waiter in on `key`'s bucket. `earliest` is the next token's arrival.
    pub(crate) fn new(
        shared: &Arc<Shared<E>>,
        key: Option<E::Key>,
        earliest: Nanos,
        deadline: Nanos,
    ) -> Self {
        let ahead = shared.waiters().enter(key.as_ref());
        let turn = earliest + shared.emission_interval() * ahead as u64;
        Self {
            shared: Arc::clone(shared),
            key,
            turn,
            deadline,
        }
    }

    /// When this waiter would check the bucket first.
    pub(crate) fn turn(&self) -> Nanos {
        self.turn
    }

    /// Whether the turn comes by the deadline.
    pub(crate) fn in_time(&self) -> bool {
        self.turn <= self.deadline
    }

    /// Sleeps until the turn, then until a token is there or cannot come by the deadline.
    /// Never sleeps past the deadline; dropping the future consumes nothing.
    pub(crate) fn wait(self) -> Wait {
        Box::pin(async move {
            let mut turn = self.turn;
            loop {
                tokio::time::sleep_until(self.shared.instant(turn)).await;
                match self.shared.try_acquire(self.key.as_ref()) {
                    Ok(admitted) => return Ok(admitted),
                    // Somebody else took it: wait for the next one, if it comes in time.
                    Err(earliest) if earliest <= self.deadline => turn = earliest,
                    Err(earliest) => {
                        let wait = Duration::from(earliest.saturating_sub(self.shared.now()));
                        return Err(self.shared.reject(wait));
                    }
                }
            }
        })
    }
}

impl<E: KeyExtractor> Drop for WaitTicket<E> {
    fn drop(&mut self) {
        self.shared.waiters().leave(self.key.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_waiters_per_bucket() {
        let waiters = Waiters::<u32>::new();
        assert_eq!(waiters.enter(None), 0);
        assert_eq!(waiters.enter(None), 1);
        assert_eq!(waiters.enter(Some(&7)), 0);
        assert_eq!(waiters.enter(Some(&7)), 1);
        assert_eq!(waiters.enter(Some(&8)), 0);
        assert_eq!(waiters.total(), 5);
        waiters.leave(Some(&7));
        waiters.leave(Some(&7));
        waiters.leave(None);
        assert_eq!(waiters.enter(Some(&7)), 0);
        assert_eq!(waiters.enter(None), 1);
        assert_eq!(waiters.total(), 4);
        // A bucket nobody waits on leaves no entry behind.
        waiters.leave(Some(&7));
        waiters.leave(Some(&8));
        assert!(waiters.lock().keyed.is_empty());
    }
}
