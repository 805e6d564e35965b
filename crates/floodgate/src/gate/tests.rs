//! Behaviour of the gate itself, polled by hand on a paused clock.

use std::time::Duration;

use tokio::time::advance;
use tokio_test::task::{Spawn, spawn};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok};

use super::*;

const MAX_WAIT: Duration = Duration::from_millis(100);

fn config(limit: usize) -> GateConfig {
    GateConfig::new(limit).max_wait(MAX_WAIT)
}

fn gate(limit: usize) -> Gate {
    config(limit).build()
}

fn acquire(gate: &Gate) -> Spawn<Acquire> {
    spawn(gate.acquire())
}

#[tokio::test(start_paused = true)]
async fn admits_up_to_the_limit_and_queues_the_next() {
    let gate = gate(2);
    let _a = assert_ready_ok!(acquire(&gate).poll());
    let _b = assert_ready_ok!(acquire(&gate).poll());
    let mut c = acquire(&gate);
    assert_pending!(c.poll());
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (2, 1));
    assert_eq!(snapshot.admitted, 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_admitted_as_soon_as_a_permit_frees() {
    let gate = gate(1);
    let first = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());

    advance(MAX_WAIT / 2).await;
    drop(first);
    assert!(waiter.is_woken());
    let _permit = assert_ready_ok!(waiter.poll());
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (1, 0));
    assert_eq!(snapshot.rejected.total(), 0);
    let (_, waited_up_to_100ms) = snapshot
        .queue_wait
        .buckets()
        .find(|(bound, _)| *bound == MAX_WAIT)
        .unwrap();
    assert_eq!(
        waited_up_to_100ms, 2,
        "one immediate admission, one after 50ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_turned_away_after_max_wait() {
    let gate = config(1).retry_after(Duration::from_millis(2500)).build();
    let _held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());

    advance(MAX_WAIT - Duration::from_millis(1)).await;
    assert_pending!(waiter.poll());
    advance(Duration::from_millis(1)).await;
    assert!(waiter.is_woken());
    let rejection = assert_ready_err!(waiter.poll());
    assert_eq!(rejection.reason(), Reason::Timeout);
    assert_eq!(rejection.retry_after(), Duration::from_millis(2500));
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.queued, snapshot.rejected.timeout), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_turns_newcomers_away_at_once() {
    let gate = config(1).max_queue(2).build();
    let _held = assert_ready_ok!(acquire(&gate).poll());
    let mut queued: Vec<_> = (0..2).map(|_| acquire(&gate)).collect();
    for waiter in &mut queued {
        assert_pending!(waiter.poll());
    }
    let rejection = assert_ready_err!(acquire(&gate).poll());
    assert_eq!(rejection.reason(), Reason::QueueFull);
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.queued, snapshot.rejected.queue_full), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn zero_max_wait_never_queues() {
    let gate = config(1).max_wait(Duration::ZERO).build();
    let _held = assert_ready_ok!(acquire(&gate).poll());
    let rejection = assert_ready_err!(acquire(&gate).poll());
    assert_eq!(rejection.reason(), Reason::Timeout);
    assert_eq!(gate.snapshot().queued, 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_first_come_first_served() {
    let gate = gate(1);
    let mut held = Some(assert_ready_ok!(acquire(&gate).poll()));
    let mut waiters: Vec<_> = (0..4).map(|_| acquire(&gate)).collect();
    for waiter in &mut waiters {
        assert_pending!(waiter.poll());
    }
    for turn in 0..waiters.len() {
        drop(held.take());
        for (i, waiter) in waiters.iter_mut().enumerate().skip(turn + 1) {
            assert_pending!(waiter.poll(), "waiter {i} overtook waiter {turn}");
        }
        held = Some(assert_ready_ok!(waiters[turn].poll()));
    }
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_overtake_the_queue() {
    let gate = gate(1);
    let held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());
    drop(held);
    // The freed permit is set aside for the waiter, even before it is polled again.
    let mut newcomer = acquire(&gate);
    assert_pending!(newcomer.poll());
    let _permit = assert_ready_ok!(waiter.poll());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue_at_once() {
    let gate = config(1).max_queue(1).build();
    let held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());
    drop(waiter);
    assert_eq!(gate.snapshot().queued, 0);

    // Its place is free for somebody else, who gets the next permit.
    let mut next = acquire(&gate);
    assert_pending!(next.poll());
    drop(held);
    let _permit = assert_ready_ok!(next.poll());
    assert_eq!(gate.snapshot().rejected.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_permit_granted_to_a_cancelled_waiter_goes_to_the_next() {
    let gate = gate(1);
    let held = assert_ready_ok!(acquire(&gate).poll());
    let mut first = acquire(&gate);
    let mut second = acquire(&gate);
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held); // set aside for `first`...
    drop(first); // ...who never collects it
    assert!(second.is_woken());
    let _permit = assert_ready_ok!(second.poll());
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn raising_the_limit_admits_waiters_at_once() {
    let gate = gate(1);
    let _held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiters: Vec<_> = (0..3).map(|_| acquire(&gate)).collect();
    for waiter in &mut waiters {
        assert_pending!(waiter.poll());
    }
    gate.set_limit(3);
    let _a = assert_ready_ok!(waiters[0].poll());
    let _b = assert_ready_ok!(waiters[1].poll());
    assert_pending!(waiters[2].poll());
    let snapshot = gate.snapshot();
    assert_eq!(
        (snapshot.limit, snapshot.in_flight, snapshot.queued),
        (3, 3, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn lowering_the_limit_admits_nobody_until_below_it() {
    let gate = gate(3);
    let mut held: Vec<_> = (0..3)
        .map(|_| assert_ready_ok!(acquire(&gate).poll()))
        .collect();
    gate.set_limit(1);
    assert_eq!(gate.snapshot().in_flight, 3, "nothing is taken back");
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());

    held.pop();
    assert_pending!(waiter.poll(), "2 in flight, limit 1");
    held.pop();
    assert_pending!(waiter.poll(), "1 in flight, limit 1");
    held.pop();
    let _permit = assert_ready_ok!(waiter.poll());
    assert_eq!(gate.snapshot().in_flight, 1);
}

#[tokio::test(start_paused = true)]
async fn close_turns_away_queued_and_new_requests_and_in_flight_ones_finish() {
    let gate = gate(1);
    let held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());
    let mut drained = spawn(gate.drained());
    assert_pending!(drained.poll());

    gate.close();
    assert!(gate.is_closed());
    assert_eq!(assert_ready_err!(waiter.poll()).reason(), Reason::Closed);
    assert_eq!(
        assert_ready_err!(acquire(&gate).poll()).reason(),
        Reason::Closed
    );
    assert_pending!(drained.poll(), "one request is still in flight");

    drop(held);
    assert!(drained.is_woken());
    assert_ready!(drained.poll());
    let snapshot = gate.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.queued), (0, 0));
    assert_eq!(snapshot.rejected.closed, 2);
}

#[tokio::test(start_paused = true)]
async fn drained_resolves_at_once_when_idle() {
    let gate = gate(1);
    assert_ready!(spawn(gate.drained()).poll());
    drop(assert_ready_ok!(acquire(&gate).poll()));
    assert_ready!(spawn(gate.drained()).poll());
}

#[test]
#[should_panic(expected = "at least 1")]
fn a_zero_limit_is_refused() {
    let _ = Gate::new(0);
}

#[test]
#[should_panic(expected = "at least 1")]
fn setting_a_zero_limit_is_refused() {
    Gate::new(1).set_limit(0);
}

/// An algorithm that panics on its first sample.
#[derive(Debug, Clone)]
struct Panicking;

impl crate::limit::LimitAlgorithm for Panicking {
    fn initial_limit(&self) -> usize {
        1
    }

    fn update(&mut self, _sample: &crate::limit::Sample) -> usize {
        panic!("a broken limit algorithm");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_limit_algorithm_still_gives_the_permit_back() {
    let gate = config(4).limit_algorithm(Panicking).build();
    let held = assert_ready_ok!(acquire(&gate).poll());
    let mut waiter = acquire(&gate);
    assert_pending!(waiter.poll());

    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(held)));
    assert!(dropped.is_err(), "the algorithm panicked");
    assert!(waiter.is_woken(), "the waiter was handed the permit");
    let permit = assert_ready_ok!(waiter.poll());
    assert_eq!(gate.snapshot().in_flight, 1);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(permit)));
    assert!(dropped.is_err());
    assert_eq!(gate.snapshot().in_flight, 0, "no permit leaked");
}
