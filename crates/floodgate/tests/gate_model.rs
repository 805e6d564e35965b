//! Randomized check of the gate's invariants under arbitrary interleavings of arrivals,
//! completions, cancellations, limit changes and the passing of (virtual) time.

use std::time::Duration;

use floodgate::Queue;
use floodgate::gate::{Acquire, Gate, GateConfig, Permit, Reason};
use proptest::prelude::*;
use tokio::time::Instant;
use tokio_test::task::{Spawn, spawn};

const MAX_WAIT: Duration = Duration::from_millis(100);
const MAX_QUEUE: usize = 5;
const STANDING_WAIT: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
enum Op {
    Arrive,
    Complete(usize),
    Cancel(usize),
    SetLimit(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Arrive),
        3 => any::<usize>().prop_map(Op::Complete),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (1usize..=6).prop_map(Op::SetLimit),
        2 => (0u64..=120).prop_map(Op::Advance),
    ]
}

struct Waiter {
    arrival: u64,
    since: Instant,
    future: Spawn<Acquire>,
}

struct Model {
    queue: Queue,
    arrivals: u64,
    waiting: Vec<Waiter>,
    held: Vec<Permit>,
    admitted: u64,
}

impl Model {
    /// Polls every waiter; checks that FIFO admissions respect arrival order and that nobody
    /// is turned away before their wait ran out.
    fn poll_waiters(&mut self) -> Result<usize, TestCaseError> {
        let mut admitted_now = Vec::new();
        let mut still_waiting = Vec::new();
        for mut waiter in self.waiting.drain(..) {
            match waiter.future.poll() {
                std::task::Poll::Pending => {
                    prop_assert!(
                        waiter.since.elapsed() < MAX_WAIT,
                        "a waiter outlived max_wait"
                    );
                    still_waiting.push(waiter);
                }
                std::task::Poll::Ready(Ok(permit)) => {
                    admitted_now.push(waiter.arrival);
                    self.held.push(permit);
                }
                std::task::Poll::Ready(Err(rejection)) => {
                    let waited = waiter.since.elapsed();
                    match rejection.reason() {
                        Reason::Timeout => prop_assert!(waited >= MAX_WAIT, "timed out early"),
                        Reason::Shed => {
                            prop_assert!(self.queue != Queue::Fifo, "FIFO never sheds");
                            prop_assert!(waited >= STANDING_WAIT, "shed early");
                        }
                        other => prop_assert!(false, "unexpected rejection {other}"),
                    }
                }
            }
        }
        if let (Queue::Fifo, Some(last_admitted), Some(first_waiting)) =
            (self.queue, admitted_now.iter().max(), still_waiting.first())
        {
            prop_assert!(
                first_waiting.arrival > *last_admitted,
                "waiter {} was overtaken by waiter {}",
                first_waiting.arrival,
                last_admitted
            );
        }
        self.waiting = still_waiting;
        self.admitted += admitted_now.len() as u64;
        Ok(admitted_now.len())
    }
}

/// A runtime on a paused clock: time passes only when a test advances it.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// The gate of both models: a short queue that stands after 30 ms.
fn config(limit: usize, queue: Queue) -> GateConfig {
    GateConfig::new(limit)
        .max_wait(MAX_WAIT)
        .max_queue(MAX_QUEUE)
        .queue(queue)
        .standing_after(Duration::from_millis(30))
        .standing_wait(STANDING_WAIT)
}

fn any_queue() -> impl Strategy<Value = Queue> {
    prop_oneof![Just(Queue::Fifo), Just(Queue::Lifo), Just(Queue::Codel)]
}

fn check(ops: Vec<Op>, initial_limit: usize, queue: Queue) -> Result<(), TestCaseError> {
    paused_runtime().block_on(async move {
        let gate: Gate = config(initial_limit, queue).build();
        let mut model = Model {
            queue,
            arrivals: 0,
            waiting: Vec::new(),
            held: Vec::new(),
            admitted: 0,
        };

        for op in ops {
            let mut admitted = 0;
            match op {
                Op::Arrive => {
                    let mut future = spawn(gate.acquire());
                    model.arrivals += 1;
                    match future.poll() {
                        std::task::Poll::Ready(Ok(permit)) => {
                            prop_assert!(model.waiting.is_empty(), "overtook the queue");
                            model.held.push(permit);
                            model.admitted += 1;
                            admitted += 1;
                        }
                        std::task::Poll::Ready(Err(rejection)) => {
                            prop_assert_eq!(rejection.reason(), Reason::QueueFull);
                            prop_assert_eq!(model.waiting.len(), MAX_QUEUE);
                        }
                        std::task::Poll::Pending => model.waiting.push(Waiter {
                            arrival: model.arrivals,
                            since: Instant::now(),
                            future,
                        }),
                    }
                }
                Op::Complete(k) if !model.held.is_empty() => {
                    let index = k % model.held.len();
                    drop(model.held.swap_remove(index));
                }
                Op::Cancel(k) if !model.waiting.is_empty() => {
                    let index = k % model.waiting.len();
                    drop(model.waiting.remove(index));
                }
                Op::SetLimit(limit) => gate.set_limit(limit),
                Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                Op::Complete(_) | Op::Cancel(_) => {}
            }
            admitted += model.poll_waiters()?;

            let snapshot = gate.snapshot();
            if admitted > 0 {
                prop_assert!(
                    snapshot.in_flight <= snapshot.limit,
                    "admitted past the limit: {snapshot:?}"
                );
            }
            prop_assert_eq!(
                snapshot.in_flight,
                model.held.len(),
                "permits leaked or doubled"
            );
            prop_assert_eq!(snapshot.queued, model.waiting.len());
            prop_assert_eq!(snapshot.admitted, model.admitted);
            if snapshot.in_flight < snapshot.limit {
                prop_assert_eq!(snapshot.queued, 0, "idle capacity while requests wait");
            }
        }

        // Everything finishes: nothing stays in flight or queued.
        model.held.clear();
        model.poll_waiters()?;
        model.held.clear();
        tokio::time::advance(MAX_WAIT).await;
        model.poll_waiters()?;
        model.held.clear();
        let snapshot = gate.snapshot();
        prop_assert_eq!((snapshot.in_flight, snapshot.queued), (0, 0));
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_gate_keeps_its_invariants(
        ops in prop::collection::vec(op(), 1..120),
        limit in 1usize..=4,
        queue in any_queue(),
    ) {
        check(ops, limit, queue)?;
    }
}

/// With priority classes: the same conservation, plus class order (a waiter is never admitted
/// while a waiter of a higher class still waits), reserved shares (a class waits only while its
/// ceiling is reached), and the class-specific rejections.
mod classes {
    use floodgate::gate::Priority;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Arrive(Priority),
        Complete(usize),
        Cancel(usize),
        SetLimit(usize),
        Advance(u64),
    }

    fn priority() -> impl Strategy<Value = Priority> {
        prop_oneof![
            Just(Priority::Critical),
            Just(Priority::Default),
            Just(Priority::Sheddable)
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => priority().prop_map(Op::Arrive),
            3 => any::<usize>().prop_map(Op::Complete),
            1 => any::<usize>().prop_map(Op::Cancel),
            1 => (1usize..=8).prop_map(Op::SetLimit),
            2 => (0u64..=120).prop_map(Op::Advance),
        ]
    }

    struct Waiter {
        priority: Priority,
        since: Instant,
        future: Spawn<Acquire>,
    }

    /// Whether a request of `priority` may not be admitted now: the limit is reached, or (below
    /// critical) the other classes hold all but the quarter of the limit (rounded down) kept
    /// for critical requests.
    fn must_wait(priority: Priority, snapshot: &floodgate::gate::Snapshot) -> bool {
        let limit = snapshot.limit;
        let below_critical = snapshot.in_flight - snapshot.classes.critical.in_flight;
        snapshot.in_flight >= limit
            || (priority != Priority::Critical && below_critical >= limit - limit / 4)
    }

    fn check(ops: Vec<Op>, initial_limit: usize, queue: Queue) -> Result<(), TestCaseError> {
        paused_runtime().block_on(async move {
            let gate: Gate = config(initial_limit, queue)
                .reserve(Priority::Critical, 0.25)
                .build();
            let mut waiting: Vec<Waiter> = Vec::new();
            let mut held: Vec<(Priority, Permit)> = Vec::new();
            let mut admitted = [0u64; 3];
            let index = |priority: Priority| match priority {
                Priority::Critical => 0,
                Priority::Default => 1,
                Priority::Sheddable => 2,
            };

            for op in ops {
                let mut arrived = None;
                let mut admitted_now = Vec::new();
                match op {
                    Op::Arrive(priority) => {
                        arrived = Some(priority);
                        // Entered first, so that a waiter it evicts hears so below.
                        let mut future = spawn(gate.acquire().priority(priority));
                        match future.poll() {
                            std::task::Poll::Ready(Ok(permit)) => {
                                admitted_now.push(priority);
                                admitted[index(priority)] += 1;
                                held.push((priority, permit));
                            }
                            std::task::Poll::Ready(Err(rejection)) => {
                                prop_assert_eq!(rejection.reason(), Reason::QueueFull);
                                prop_assert_eq!(waiting.len(), MAX_QUEUE);
                                prop_assert!(
                                    waiting.iter().all(|w| w.priority >= priority),
                                    "a full queue holding a lower class turned a {} away",
                                    priority
                                );
                            }
                            std::task::Poll::Pending => waiting.push(Waiter {
                                priority,
                                since: Instant::now(),
                                future,
                            }),
                        }
                    }
                    Op::Complete(k) if !held.is_empty() => drop(held.swap_remove(k % held.len())),
                    Op::Cancel(k) if !waiting.is_empty() => {
                        let k = k % waiting.len();
                        drop(waiting.remove(k));
                    }
                    Op::SetLimit(limit) => gate.set_limit(limit),
                    Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    Op::Complete(_) | Op::Cancel(_) => {}
                }

                let mut still = Vec::new();
                for mut waiter in waiting.drain(..) {
                    match waiter.future.poll() {
                        std::task::Poll::Pending => still.push(waiter),
                        std::task::Poll::Ready(Ok(permit)) => {
                            admitted_now.push(waiter.priority);
                            admitted[index(waiter.priority)] += 1;
                            held.push((waiter.priority, permit));
                        }
                        std::task::Poll::Ready(Err(rejection)) => {
                            let waited = waiter.since.elapsed();
                            let max_wait = match waiter.priority {
                                Priority::Sheddable => MAX_WAIT / 2,
                                _ => MAX_WAIT,
                            };
                            match rejection.reason() {
                                Reason::Timeout => {
                                    prop_assert!(waited >= max_wait, "timed out early")
                                }
                                Reason::Shed => prop_assert!(queue != Queue::Fifo),
                                Reason::QueueFull => prop_assert!(waited.is_zero()),
                                Reason::Evicted => prop_assert!(
                                    arrived.is_some_and(|newcomer| newcomer > waiter.priority),
                                    "evicted by nobody higher"
                                ),
                                other => prop_assert!(false, "unexpected rejection {other}"),
                            }
                        }
                    }
                }
                for admitted in &admitted_now {
                    prop_assert!(
                        still.iter().all(|waiter| waiter.priority <= *admitted),
                        "a {admitted} request was admitted before a higher one"
                    );
                }
                waiting = still;

                let snapshot = gate.snapshot();
                prop_assert_eq!(snapshot.in_flight, held.len(), "permits leaked or doubled");
                prop_assert_eq!(snapshot.queued, waiting.len());
                for priority in Priority::ALL {
                    let class = snapshot.classes.get(priority);
                    prop_assert_eq!(class.admitted, admitted[index(priority)]);
                    let queued = waiting.iter().filter(|w| w.priority == priority).count();
                    prop_assert_eq!(class.queued, queued);
                    let in_flight = held.iter().filter(|p| p.0 == priority).count();
                    prop_assert_eq!(class.in_flight, in_flight);
                    if queued > 0 {
                        prop_assert!(
                            must_wait(priority, &snapshot),
                            "a {priority} request waits below its ceiling: {snapshot:?}"
                        );
                    }
                }
                if !admitted_now.is_empty() {
                    prop_assert!(snapshot.in_flight <= snapshot.limit);
                }
            }
            held.clear();
            tokio::time::advance(MAX_WAIT).await;
            for mut waiter in waiting.drain(..) {
                let _ = waiter.future.poll();
            }
            let snapshot = gate.snapshot();
            prop_assert_eq!((snapshot.in_flight, snapshot.queued), (0, 0));
            Ok(())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_gate_keeps_its_invariants_with_classes(
            ops in prop::collection::vec(op(), 1..120),
            limit in 1usize..=8,
            queue in any_queue(),
        ) {
            check(ops, limit, queue)?;
        }
    }
}
