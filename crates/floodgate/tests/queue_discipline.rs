//! Queue disciplines in virtual time: bursts are absorbed by every discipline, while under
//! sustained overload LIFO and CoDel keep admitted requests fresh and reject the rest at once.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use floodgate::Queue;
use floodgate::gate::{Gate, GateConfig, Reason};
use tokio::time::{Instant, sleep};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};

const ALL: [Queue; 3] = [Queue::Fifo, Queue::Lifo, Queue::Codel];
const SECOND: Duration = Duration::from_secs(1);

fn config(limit: usize, max_wait: Duration, queue: Queue) -> GateConfig {
    GateConfig::new(limit).max_wait(max_wait).queue(queue)
}

fn gate(limit: usize, max_wait: Duration, queue: Queue) -> Gate {
    config(limit, max_wait, queue).build()
}

/// Limit 4, max-wait 1 s: twelve simultaneous 200 ms requests all get in (the last ones after
/// 400 ms), whatever the discipline.
#[tokio::test(start_paused = true)]
async fn a_burst_shorter_than_max_wait_is_absorbed_whole() {
    for queue in ALL {
        let gate = gate(4, Duration::from_secs(1), queue);
        let start = Instant::now();
        let requests = (0..12).map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let permit = gate.acquire().await?;
                let admitted_after = start.elapsed();
                sleep(Duration::from_millis(200)).await;
                drop(permit);
                Ok::<_, floodgate::gate::Rejection>(admitted_after)
            })
        });
        let mut waits = Vec::new();
        for request in requests.collect::<Vec<_>>() {
            waits.push(request.await.unwrap().expect("absorbed"));
        }
        waits.sort();
        assert_eq!(waits[11], Duration::from_millis(400), "{queue}");
        assert_eq!(gate.snapshot().rejected.total(), 0, "{queue}");
    }
}

/// Limit 1 held for 2 s, max-wait 200 ms: the one waiter is turned away after 200 ms.
#[tokio::test(start_paused = true)]
async fn a_lone_waiter_gets_its_full_max_wait() {
    for queue in ALL {
        let gate = gate(1, Duration::from_millis(200), queue);
        let held = gate.acquire().await.unwrap();
        let start = Instant::now();
        let rejection = gate.acquire().await.unwrap_err();
        assert_eq!(rejection.reason(), Reason::Timeout, "{queue}");
        assert_eq!(start.elapsed(), Duration::from_millis(200), "{queue}");
        drop(held);
    }
}

#[derive(Debug, Default)]
struct Outcomes {
    success_waits: Vec<Duration>,
    rejection_waits: Vec<Duration>,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Limit 8, 50 ms of work, max-wait 100 ms, 64 clients in a closed loop (4× the capacity of
/// 160/s) for `warm_up + measured`; statistics from the end of the warm-up on.
async fn sustained_overload(
    queue: Queue,
    warm_up: Duration,
    measured: Duration,
) -> (Outcomes, u64) {
    let gate = gate(8, Duration::from_millis(100), queue);
    let start = Instant::now();
    let end = start + warm_up + measured;
    let outcomes = Rc::new(RefCell::new(Outcomes::default()));
    let local = tokio::task::LocalSet::new();
    for _ in 0..64 {
        let (gate, outcomes) = (gate.clone(), outcomes.clone());
        local.spawn_local(async move {
            while Instant::now() < end {
                let asked = Instant::now();
                let measured = asked >= start + warm_up;
                match gate.acquire().await {
                    Ok(permit) => {
                        if measured {
                            outcomes.borrow_mut().success_waits.push(asked.elapsed());
                        }
                        sleep(Duration::from_millis(50)).await;
                        drop(permit);
                    }
                    Err(_) if measured => {
                        outcomes.borrow_mut().rejection_waits.push(asked.elapsed())
                    }
                    Err(_) => {}
                }
                // A client round trip, so that retries are not all at the same instant.
                sleep(Duration::from_micros(200)).await;
            }
        });
    }
    local.await;
    let mut outcomes = Rc::try_unwrap(outcomes).unwrap().into_inner();
    println!(
        "{queue:>5}: goodput {:.0}/s, success wait p50 {:?} p99 {:?}, 503 after p50 {:?} ({} rejections)",
        outcomes.success_waits.len() as f64 / measured.as_secs_f64(),
        percentile(&mut outcomes.success_waits, 0.5),
        percentile(&mut outcomes.success_waits, 0.99),
        percentile(&mut outcomes.rejection_waits, 0.5),
        outcomes.rejection_waits.len(),
    );
    (outcomes, gate.snapshot().rejected.shed)
}

#[tokio::test(start_paused = true)]
async fn under_sustained_overload_fifo_makes_everyone_wait() {
    let (mut outcomes, shed) = sustained_overload(Queue::Fifo, SECOND, 2 * SECOND).await;
    let successes = outcomes.success_waits.len() as f64 / 2.0;
    assert!(successes >= 0.9 * 160.0, "goodput {successes}/s");
    assert!(percentile(&mut outcomes.success_waits, 0.5) >= Duration::from_millis(90));
    assert!(percentile(&mut outcomes.rejection_waits, 0.5) >= Duration::from_millis(100));
    assert_eq!(shed, 0);
}

#[tokio::test(start_paused = true)]
async fn under_sustained_overload_lifo_and_codel_keep_waits_short() {
    for queue in [Queue::Lifo, Queue::Codel] {
        let (mut outcomes, shed) = sustained_overload(queue, SECOND, 2 * SECOND).await;
        let successes = outcomes.success_waits.len() as f64 / 2.0;
        assert!(successes >= 0.9 * 160.0, "{queue}: goodput {successes}/s");
        // Success latency = wait + 50 ms of work: p99 ≤ 65 ms means waits ≤ 15 ms.
        let p99 = percentile(&mut outcomes.success_waits, 0.99);
        assert!(
            p99 <= Duration::from_millis(15),
            "{queue}: p99 wait {p99:?}"
        );
        let median = percentile(&mut outcomes.rejection_waits, 0.5);
        assert!(
            median <= Duration::from_millis(10),
            "{queue}: median 503 {median:?}"
        );
        assert!(shed > 0, "{queue}: rejections count as shed");
    }
}

/// The first wave of a sustained overload looks like a burst and is queued first come, first
/// served until the queue stands; over a 10 s run from a cold start, those few waits stay out of
/// the p99.
#[tokio::test(start_paused = true)]
async fn from_a_cold_start_the_first_wave_stays_out_of_the_tail() {
    for queue in [Queue::Lifo, Queue::Codel] {
        let (mut outcomes, _) = sustained_overload(queue, Duration::ZERO, 10 * SECOND).await;
        let p99 = percentile(&mut outcomes.success_waits, 0.99);
        assert!(
            p99 <= Duration::from_millis(15),
            "{queue}: p99 wait {p99:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_standing_lifo_queue_serves_the_newest_first() {
    let gate = config(1, Duration::from_millis(100), Queue::Lifo)
        .standing_after(Duration::from_millis(10))
        .standing_wait(Duration::from_millis(50))
        .build();
    let held = gate.acquire().await.unwrap();
    let mut old = spawn(gate.acquire());
    assert_pending!(old.poll());
    tokio::time::advance(Duration::from_millis(20)).await; // the queue now stands
    let mut new = spawn(gate.acquire());
    assert_pending!(new.poll());
    drop(held);
    let _permit = assert_ready_ok!(new.poll());
    assert_pending!(old.poll());
}

#[tokio::test(start_paused = true)]
async fn a_standing_codel_queue_sheds_stale_waiters_instead_of_admitting_them() {
    let gate = config(1, Duration::from_millis(100), Queue::Codel)
        .standing_after(Duration::from_millis(10))
        .standing_wait(Duration::from_millis(5))
        .build();
    let held = gate.acquire().await.unwrap();
    let mut stale = spawn(gate.acquire());
    assert_pending!(stale.poll());
    tokio::time::advance(Duration::from_millis(20)).await;
    let mut fresh = spawn(gate.acquire());
    assert_pending!(fresh.poll());

    drop(held);
    assert_eq!(assert_ready_err!(stale.poll()).reason(), Reason::Shed);
    let _permit = assert_ready_ok!(fresh.poll());
    assert_eq!(gate.snapshot().rejected.shed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_gives_newcomers_only_the_short_wait() {
    let gate = config(1, Duration::from_millis(100), Queue::Codel)
        .standing_after(Duration::from_millis(10))
        .build();
    let _held = gate.acquire().await.unwrap();
    let mut first = spawn(gate.acquire());
    assert_pending!(first.poll());
    tokio::time::advance(Duration::from_millis(20)).await;

    let start = Instant::now();
    let rejection = gate.acquire().await.unwrap_err();
    assert_eq!(rejection.reason(), Reason::Shed);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
}
