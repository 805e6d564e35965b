//! Priority classes and deadlines, polled by hand on a paused clock.

use std::time::Duration;

use tokio::time::advance;
use tokio_test::task::{Spawn, spawn};
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};

use super::*;

const MAX_WAIT: Duration = Duration::from_millis(100);

fn config(limit: usize) -> GateConfig {
    GateConfig::new(limit).max_wait(MAX_WAIT)
}

fn acquire(gate: &Gate, priority: Priority) -> Spawn<Acquire> {
    spawn(gate.acquire().priority(priority))
}

fn by_deadline(gate: &Gate, after: Duration) -> Spawn<Acquire> {
    spawn(gate.acquire().deadline(Deadline::after(after)))
}

#[tokio::test(start_paused = true)]
async fn higher_classes_are_served_first() {
    let gate = config(1).build();
    let mut held = Some(assert_ready_ok!(acquire(&gate, Priority::Default).poll()));
    let mut sheddable = acquire(&gate, Priority::Sheddable);
    let mut default = acquire(&gate, Priority::Default);
    let mut critical = acquire(&gate, Priority::Critical);
    for waiter in [&mut sheddable, &mut default, &mut critical] {
        assert_pending!(waiter.poll());
    }
    let queued = gate.snapshot().classes;
    assert_eq!(
        (
            queued.critical.queued,
            queued.default.queued,
            queued.sheddable.queued
        ),
        (1, 1, 1)
    );

    drop(held.take());
    assert_pending!(sheddable.poll());
    assert_pending!(default.poll());
    held = Some(assert_ready_ok!(critical.poll()));
    drop(held.take());
    assert_pending!(sheddable.poll());
    held = Some(assert_ready_ok!(default.poll()));
    drop(held.take());
    let _last = assert_ready_ok!(sheddable.poll());

    let classes = gate.snapshot().classes;
    assert_eq!(
        (
            classes.critical.admitted,
            classes.default.admitted,
            classes.sheddable.admitted
        ),
        (1, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_evicts_the_newest_waiter_of_the_lowest_class() {
    let gate = config(1).max_queue(2).build();
    let held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut first = acquire(&gate, Priority::Sheddable);
    let mut second = acquire(&gate, Priority::Sheddable);
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    let mut critical = acquire(&gate, Priority::Critical);
    assert_pending!(critical.poll());
    assert!(second.is_woken());
    assert_eq!(assert_ready_err!(second.poll()).reason(), Reason::Evicted);
    assert_pending!(first.poll(), "the oldest sheddable waiter keeps its place");

    // A default request evicts the last sheddable one; a sheddable one finds no room.
    let mut default = acquire(&gate, Priority::Default);
    assert_pending!(default.poll());
    assert_eq!(assert_ready_err!(first.poll()).reason(), Reason::Evicted);
    let full = assert_ready_err!(acquire(&gate, Priority::Sheddable).poll());
    assert_eq!(full.reason(), Reason::QueueFull);
    // Nor does a critical one, with nobody lower left to evict.
    let full = assert_ready_err!(acquire(&gate, Priority::Default).poll());
    assert_eq!(full.reason(), Reason::QueueFull);

    drop(held);
    let _permit = assert_ready_ok!(critical.poll());
    let snapshot = gate.snapshot();
    assert_eq!(snapshot.classes.sheddable.rejected.evicted, 2);
    assert_eq!(snapshot.classes.sheddable.rejected.queue_full, 1);
    assert_eq!(snapshot.classes.default.rejected.queue_full, 1);
    assert_eq!(snapshot.rejected.evicted, 2);
    assert_eq!(snapshot.classes.critical.rejected.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_reserved_share_is_left_to_higher_classes() {
    // Of 4 slots, 1 is kept for critical requests and 1 more for default and critical ones.
    let gate = config(4)
        .reserve(Priority::Critical, 0.25)
        .reserve(Priority::Default, 0.25)
        .build();
    let a = assert_ready_ok!(acquire(&gate, Priority::Sheddable).poll());
    let _b = assert_ready_ok!(acquire(&gate, Priority::Sheddable).poll());
    let mut sheddable = acquire(&gate, Priority::Sheddable);
    assert_pending!(sheddable.poll(), "2 of 4 in flight: the rest is reserved");
    let _c = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut default = acquire(&gate, Priority::Default);
    assert_pending!(default.poll(), "3 of 4: the last one is critical's");
    let critical = assert_ready_ok!(acquire(&gate, Priority::Critical).poll());
    assert_eq!(gate.snapshot().in_flight, 4);

    // Two freed slots: the default waiter may have the third, the sheddable one nothing more.
    drop(critical);
    assert_pending!(default.poll(), "3 in flight: the default class's ceiling");
    drop(a);
    let _d = assert_ready_ok!(default.poll());
    assert_pending!(sheddable.poll());
    assert_eq!(gate.snapshot().in_flight, 3);
}

#[tokio::test(start_paused = true)]
async fn critical_requests_in_flight_do_not_shrink_the_others_share() {
    // Of 4 slots, 1 is kept for critical requests: the others may hold 3 together, whatever
    // the critical ones hold.
    let gate = config(4).reserve(Priority::Critical, 0.25).build();
    let _critical = assert_ready_ok!(acquire(&gate, Priority::Critical).poll());
    let _held: Vec<_> = (0..3)
        .map(|_| assert_ready_ok!(acquire(&gate, Priority::Default).poll()))
        .collect();
    let classes = gate.snapshot().classes;
    assert_eq!(
        (classes.critical.in_flight, classes.default.in_flight),
        (1, 3)
    );
    let mut fourth = acquire(&gate, Priority::Default);
    assert_pending!(fourth.poll(), "the default class holds its 3");
}

#[tokio::test(start_paused = true)]
async fn sheddable_requests_wait_half_as_long_by_default() {
    let gate = config(1).build();
    let _held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut sheddable = acquire(&gate, Priority::Sheddable);
    let mut default = acquire(&gate, Priority::Default);
    assert_pending!(sheddable.poll());
    assert_pending!(default.poll());
    advance(MAX_WAIT / 2).await;
    assert_eq!(
        assert_ready_err!(sheddable.poll()).reason(),
        Reason::Timeout
    );
    assert_pending!(default.poll());
    advance(MAX_WAIT / 2).await;
    assert_eq!(assert_ready_err!(default.poll()).reason(), Reason::Timeout);

    let custom = config(1)
        .class_max_wait(Priority::Sheddable, MAX_WAIT * 2)
        .build();
    let _held = assert_ready_ok!(acquire(&custom, Priority::Default).poll());
    let mut sheddable = acquire(&custom, Priority::Sheddable);
    assert_pending!(sheddable.poll());
    advance(MAX_WAIT).await;
    assert_pending!(sheddable.poll());
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_sheds_the_lowest_class_never_a_higher_one() {
    let gate = config(1)
        .queue(Queue::Codel)
        .standing_after(Duration::from_millis(10))
        .standing_wait(Duration::from_millis(5))
        .build();
    let held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut sheddable = acquire(&gate, Priority::Sheddable);
    assert_pending!(sheddable.poll());
    advance(Duration::from_millis(20)).await;

    // The queue stands: a critical newcomer keeps its whole wait while a sheddable one waits...
    let mut critical = acquire(&gate, Priority::Critical);
    assert_pending!(critical.poll());
    advance(Duration::from_millis(20)).await;
    assert_pending!(critical.poll(), "not shed after the standing wait");
    assert_pending!(
        sheddable.poll(),
        "sheddable requests wait 50 ms, and 40 ms have passed"
    );

    // ...and the freed permit goes to it, while the stale sheddable waiter is shed.
    drop(held);
    let permit = assert_ready_ok!(critical.poll());
    assert_pending!(
        sheddable.poll(),
        "only the lowest class is shed, when it is served"
    );
    drop(permit);
    assert_eq!(assert_ready_err!(sheddable.poll()).reason(), Reason::Shed);
    let classes = gate.snapshot().classes;
    assert_eq!(classes.critical.rejected.total(), 0);
    assert_eq!(classes.sheddable.rejected.shed, 1);
}

#[tokio::test(start_paused = true)]
async fn close_turns_away_every_class() {
    let gate = config(1).build();
    let _held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut waiters: Vec<_> = Priority::ALL
        .into_iter()
        .map(|priority| acquire(&gate, priority))
        .collect();
    for waiter in &mut waiters {
        assert_pending!(waiter.poll());
    }
    gate.close();
    for waiter in &mut waiters {
        assert_eq!(assert_ready_err!(waiter.poll()).reason(), Reason::Closed);
    }
    assert_eq!(gate.snapshot().rejected.closed, 3);
}

#[tokio::test(start_paused = true)]
async fn a_request_past_its_deadline_is_turned_away_at_once() {
    let gate = config(4).deadlines().build();
    let rejection = assert_ready_err!(by_deadline(&gate, Duration::ZERO).poll());
    assert_eq!(rejection.reason(), Reason::Deadline);
    assert_eq!(gate.snapshot().rejected.deadline, 1);
    assert_eq!(gate.snapshot().in_flight, 0, "no capacity was spent on it");
}

#[tokio::test(start_paused = true)]
async fn the_gate_learns_the_service_time_and_turns_away_who_cannot_finish() {
    let gate = config(1)
        .max_wait(Duration::from_secs(1))
        .deadlines()
        .build();
    assert_eq!(gate.snapshot().expected_service_time, Some(Duration::ZERO));
    let permit = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    advance(Duration::from_millis(80)).await;
    drop(permit);
    assert_eq!(
        gate.snapshot().expected_service_time,
        Some(Duration::from_millis(80))
    );

    // 50 ms left, 80 ms of work: turned away at once, though a slot is free.
    let rejection = assert_ready_err!(by_deadline(&gate, Duration::from_millis(50)).poll());
    assert_eq!(rejection.reason(), Reason::Deadline);

    // 200 ms left and the gate full: waits at most 200 - 80 = 120 ms, not the 1 s max_wait.
    let _held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut waiter = by_deadline(&gate, Duration::from_millis(200));
    assert_pending!(waiter.poll());
    advance(Duration::from_millis(119)).await;
    assert_pending!(waiter.poll());
    advance(Duration::from_millis(1)).await;
    assert_eq!(assert_ready_err!(waiter.poll()).reason(), Reason::Deadline);
    assert_eq!(gate.snapshot().rejected.deadline, 2);
}

#[tokio::test(start_paused = true)]
async fn without_learning_a_deadline_still_caps_the_wait() {
    let gate = config(1).max_wait(Duration::from_secs(1)).build();
    let _held = assert_ready_ok!(acquire(&gate, Priority::Default).poll());
    let mut waiter = by_deadline(&gate, Duration::from_millis(30));
    assert_pending!(waiter.poll());
    advance(Duration::from_millis(30)).await;
    assert_eq!(assert_ready_err!(waiter.poll()).reason(), Reason::Deadline);
    assert_eq!(gate.snapshot().expected_service_time, None);
}
