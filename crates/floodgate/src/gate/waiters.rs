//! The queue of requests waiting for a permit.
//!
//! A doubly linked list threaded through a slab: a waiter joins at the back, is admitted from the
//! front (FIFO) or the back (LIFO), and can leave from anywhere in O(1) when its client goes away.
//! Slots are reused, so a steady stream of waiters allocates nothing once the slab has grown.
//!
//! A slot outlives its place in the list: when the gate admits or rejects a waiter it unlinks the
//! node and leaves the verdict in the slot; the waiter's future reads the verdict and frees the slot.
//! Only that future ever frees its slot, so an index can never point at somebody else's waiter.

use std::task::Waker;
use tokio::time::Instant;

use super::rejection::Reason;

/// Where a waiter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still in the queue.
    Waiting,
    /// Admitted: the gate has counted a permit for this waiter, which must take or release it.
    Admitted,
    /// Turned away while queued (the gate closed, or the queue discipline shed it).
    Rejected(Reason),
}

#[derive(Debug)]
enum Slot {
    Linked {
        prev: Option<usize>,
        next: Option<usize>,
        waker: Option<Waker>,
        since: Instant,
    },
    Decided(Verdict),
    Vacant {
        next_free: Option<usize>,
    },
}

/// A FIFO/LIFO queue of wakers with O(1) removal by index.
#[derive(Debug, Default)]
pub(crate) struct WaiterList {
    slots: Vec<Slot>,
    head: Option<usize>,
    tail: Option<usize>,
    free: Option<usize>,
    len: usize,
}

impl WaiterList {
    /// Number of waiters still queued (decided slots not yet collected do not count).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a waiter at the back and returns its index.
    pub(crate) fn push_back(&mut self, waker: Option<Waker>, since: Instant) -> usize {
        let node = Slot::Linked {
            prev: self.tail,
            next: None,
            waker,
            since,
        };
        let index = match self.free {
            Some(index) => {
                let Slot::Vacant { next_free } = self.slots[index] else {
                    unreachable!("free list points at an occupied slot");
                };
                self.free = next_free;
                self.slots[index] = node;
                index
            }
            None => {
                self.slots.push(node);
                self.slots.len() - 1
            }
        };
        match self.tail {
            Some(tail) => self.set_next(tail, Some(index)),
            None => self.head = Some(index),
        }
        self.tail = Some(index);
        self.len += 1;
        index
    }

    /// The waiter that has waited longest, and since when.
    pub(crate) fn front(&self) -> Option<(usize, Instant)> {
        let index = self.head?;
        Some((index, self.since(index)))
    }

    /// The waiter that arrived last, and since when.
    pub(crate) fn back(&self) -> Option<(usize, Instant)> {
        let index = self.tail?;
        Some((index, self.since(index)))
    }

    /// Where the waiter at `index` stands.
    pub(crate) fn verdict(&self, index: usize) -> Verdict {
        match &self.slots[index] {
            Slot::Linked { .. } => Verdict::Waiting,
            Slot::Decided(verdict) => *verdict,
            Slot::Vacant { .. } => unreachable!("verdict asked of a vacant slot"),
        }
    }

    /// Stores the waker to call when the waiter at `index` is decided.
    pub(crate) fn set_waker(&mut self, index: usize, new: &Waker) {
        if let Slot::Linked { waker, .. } = &mut self.slots[index] {
            match waker {
                Some(old) if old.will_wake(new) => {}
                _ => *waker = Some(new.clone()),
            }
        }
    }

    /// Takes the queued waiter at `index` out of the queue with a verdict, and returns its waker
    /// (to be woken after the gate's lock is released).
    pub(crate) fn decide(&mut self, index: usize, verdict: Verdict) -> Option<Waker> {
        debug_assert_ne!(verdict, Verdict::Waiting);
        let Slot::Linked {
            prev, next, waker, ..
        } = std::mem::replace(&mut self.slots[index], Slot::Decided(verdict))
        else {
            unreachable!("decide called on a waiter that is not queued");
        };
        match prev {
            Some(prev) => self.set_next(prev, next),
            None => self.head = next,
        }
        match next {
            Some(next) => self.set_prev(next, prev),
            None => self.tail = prev,
        }
        self.len -= 1;
        waker
    }

    /// Frees the slot at `index` for reuse. A queued waiter is unlinked first.
    pub(crate) fn remove(&mut self, index: usize) {
        if matches!(self.slots[index], Slot::Linked { .. }) {
            // The waker belongs to the caller, who is going away: nobody to wake.
            drop(self.decide(index, Verdict::Rejected(Reason::Timeout)));
        }
        self.slots[index] = Slot::Vacant {
            next_free: self.free,
        };
        self.free = Some(index);
    }

    fn since(&self, index: usize) -> Instant {
        match self.slots[index] {
            Slot::Linked { since, .. } => since,
            _ => unreachable!("queue links to a slot that is not queued"),
        }
    }

    fn set_next(&mut self, index: usize, to: Option<usize>) {
        if let Slot::Linked { next, .. } = &mut self.slots[index] {
            *next = to;
        }
    }

    fn set_prev(&mut self, index: usize, to: Option<usize>) {
        if let Slot::Linked { prev, .. } = &mut self.slots[index] {
            *prev = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_with(n: usize) -> (WaiterList, Vec<usize>) {
        let mut list = WaiterList::default();
        let now = Instant::now();
        let keys = (0..n)
            .map(|_| list.push_back(Some(Waker::noop().clone()), now))
            .collect();
        (list, keys)
    }

    fn drain_front(list: &mut WaiterList) -> Vec<usize> {
        let mut order = Vec::new();
        while let Some((index, _)) = list.front() {
            list.decide(index, Verdict::Admitted);
            order.push(index);
        }
        order
    }

    #[test]
    fn front_is_first_in_tail_is_last_in() {
        let (list, keys) = list_with(3);
        assert_eq!(list.len(), 3);
        assert_eq!(list.front().unwrap().0, keys[0]);
        assert_eq!(list.tail, Some(keys[2]));
    }

    #[test]
    fn removing_from_the_middle_keeps_order() {
        let (mut list, keys) = list_with(4);
        list.remove(keys[1]);
        assert_eq!(list.len(), 3);
        assert_eq!(drain_front(&mut list), vec![keys[0], keys[2], keys[3]]);
        assert!(list.is_empty());
    }

    #[test]
    fn decided_waiters_keep_their_verdict_until_removed() {
        let (mut list, keys) = list_with(2);
        list.decide(keys[1], Verdict::Rejected(Reason::Closed));
        assert_eq!(list.verdict(keys[0]), Verdict::Waiting);
        assert_eq!(list.verdict(keys[1]), Verdict::Rejected(Reason::Closed));
        assert_eq!(list.len(), 1);
        assert_eq!(list.tail, Some(keys[0]));
    }

    #[test]
    fn slots_are_reused() {
        let (mut list, keys) = list_with(3);
        for key in &keys {
            list.remove(*key);
        }
        let now = Instant::now();
        for _ in 0..3 {
            list.push_back(Some(Waker::noop().clone()), now);
        }
        assert_eq!(list.slots.len(), 3);
        assert_eq!(list.len(), 3);
    }
}
