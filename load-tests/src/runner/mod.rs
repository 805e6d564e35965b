//! Drives an [`Engine`]: threads, runtimes, the closed and the open loop.
//!
//! One `current_thread` runtime per core, each with its share of the load workers and its own
//! [`Recorder`]; the recorders are merged when every thread is done. Workers on a thread share
//! its recorder through a `RefCell`, so recording takes no lock.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Duration;

use tokio::task::LocalSet;
use tokio::time::Instant;

use crate::engine::{Engine, EngineError, ErrorKind, Outcome, Worker};
use crate::progress::Progress;
use crate::stats::{Recorder, Sample};

mod closed;
mod open;
mod schedule;

use self::schedule::Schedule;

/// An open-loop start that begins more than this behind its schedule counts as late. Twice the
/// timer's resolution: a batch released on a timer tick is up to one tick behind by design.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(2);

/// How a run sends its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// `concurrency` workers, each sending its next request when the last one is done.
    Closed,
    /// Requests start at `rate` per second on a fixed schedule, at most `concurrency` in flight;
    /// with `ramp_to`, the rate goes from `rate` to `ramp_to` in a straight line over the run's
    /// duration (with `-n`, it stays at `rate`).
    Open { rate: f64, ramp_to: Option<f64> },
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// No new request after this long; requests still in flight then are cancelled.
    Duration(Duration),
    /// This many requests, each allowed to finish.
    Requests(u64),
}

/// Everything the runner needs besides the engine.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) mode: Mode,
    pub(crate) concurrency: usize,
    pub(crate) length: Length,
    pub(crate) timeout: Duration,
    pub(crate) respect_retry_after: bool,
    /// Open loop: the simulated client population, start `i` belonging to client `i % clients`;
    /// `None`: one client per slot (`concurrency`).
    pub(crate) clients: Option<usize>,
    /// Runtime threads; `None`: one per core (never more than `concurrency`).
    pub(crate) threads: Option<usize>,
}

impl Plan {
    fn threads(&self) -> usize {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        self.threads
            .unwrap_or(cores)
            .clamp(1, self.concurrency.max(1))
    }
}

/// What a run recorded, merged over its threads.
#[derive(Debug)]
pub(crate) struct RunStats {
    pub(crate) recorder: Recorder,
    /// From the start of the run until its last request finished (or was cancelled).
    pub(crate) elapsed: Duration,
}

/// Per-thread view of the run, shared by the thread's workers.
#[derive(Debug)]
struct ThreadCtx {
    t0: Instant,
    /// `-d`: no new request from then on, and in-flight ones are cancelled.
    end: Option<Instant>,
    timeout: Duration,
    respect_retry_after: bool,
    /// Open loop: each simulated client's back-off window.
    backoff: Arc<Backoff>,
    /// Closed loop with `-n`: the requests left to send, shared by all threads.
    budget: Option<Arc<Budget>>,
    recorder: RefCell<Recorder>,
    progress: Option<Arc<AtomicU64>>,
}

impl ThreadCtx {
    /// Sends one request with the run's deadlines and records what happened. `scheduled` is when
    /// the request should have started (open loop), `started` when it did.
    async fn exchange<W: Worker>(
        &self,
        worker: &mut W,
        scheduled: Instant,
        started: Instant,
    ) -> Option<Outcome> {
        let timeout_at = started + self.timeout;
        let (deadline, cut_by_end) = match self.end {
            Some(end) if end < timeout_at => (end, true),
            _ => (timeout_at, false),
        };
        let outcome = match tokio::time::timeout_at(deadline, worker.send()).await {
            Ok(outcome) => outcome,
            Err(_) if cut_by_end => {
                self.recorder
                    .borrow_mut()
                    .record_aborted(deadline.saturating_duration_since(scheduled));
                return None;
            }
            Err(_) => Err(ErrorKind::Timeout),
        };
        let done = Instant::now();
        self.recorder.borrow_mut().record(Sample {
            at: done - self.t0,
            latency: done - scheduled,
            service: done - started,
            outcome: &outcome,
        });
        if let Some(progress) = &self.progress {
            progress.fetch_add(1, Ordering::Relaxed);
        }
        Some(outcome)
    }

    /// Records that the start due at `due` was never sent before the end of the run.
    fn missed(&self, due: Instant) {
        let end = self.end.expect("only a run with an end misses starts");
        self.recorder
            .borrow_mut()
            .record_missed(end.saturating_duration_since(due));
    }

    fn is_over(&self, now: Instant) -> bool {
        self.end.is_some_and(|end| now >= end)
    }
}

/// The back-off windows of `--respect-retry-after` in open loop, one per simulated client,
/// shared by all threads: a `Retry-After` pauses only the client that got it.
#[derive(Debug)]
struct Backoff {
    t0: Instant,
    /// Per client, microseconds after `t0` until which its starts are skipped.
    until_us: Box<[AtomicU64]>,
}

impl Backoff {
    fn new(t0: Instant, clients: usize) -> Self {
        Self {
            t0,
            until_us: (0..clients.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The client that start `index` of the schedule belongs to.
    fn client(&self, index: u64) -> &AtomicU64 {
        let clients = self.until_us.len() as u64;
        &self.until_us[usize::try_from(index % clients).expect("fewer clients than usize::MAX")]
    }

    /// Pauses the client of start `index` until `until` (never shortens a pause).
    fn extend_to(&self, index: u64, until: Instant) {
        let us = (until - self.t0).as_micros();
        self.client(index)
            .fetch_max(u64::try_from(us).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether start `index`, due `at`, falls in its client's pause.
    fn covers(&self, index: u64, at: Instant) -> bool {
        let us = u64::try_from((at - self.t0).as_micros()).unwrap_or(u64::MAX);
        us < self.client(index).load(Ordering::Relaxed)
    }
}

/// The `-n` budget of a closed-loop run.
#[derive(Debug)]
struct Budget {
    total: u64,
    taken: AtomicU64,
}

impl Budget {
    fn take(&self) -> bool {
        self.taken.fetch_add(1, Ordering::Relaxed) < self.total
    }
}

/// Runs `plan` with `engine` and returns the merged statistics.
pub(crate) fn run<E: Engine>(
    engine: &E,
    plan: &Plan,
    progress: &Progress,
) -> Result<RunStats, EngineError> {
    let threads = plan.threads();
    let start_line = StartLine::new(threads, plan.clients.unwrap_or(plan.concurrency));
    let budget = match (plan.mode, plan.length) {
        (Mode::Closed, Length::Requests(total)) => Some(Arc::new(Budget {
            total,
            taken: AtomicU64::new(0),
        })),
        _ => None,
    };

    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let seat = Seat {
                    index,
                    threads,
                    budget: budget.clone(),
                    progress: progress.counter(),
                };
                let start_line = &start_line;
                scope.spawn(move || run_thread(engine, plan, seat, start_line))
            })
            .collect();

        let t0 = start_line.go();
        progress.follow(t0, || handles.iter().all(|h| h.is_finished()));

        let mut merged = Recorder::new();
        let mut last = t0;
        let mut failure = None;
        for handle in handles {
            match handle.join().expect("runner threads do not panic") {
                Ok((recorder, finished)) => {
                    merged.merge(&recorder);
                    last = last.max(finished);
                }
                Err(err) => failure = Some(err),
            }
        }
        progress.finish();
        match failure {
            Some(err) => Err(err),
            None => Ok(RunStats {
                recorder: merged,
                elapsed: last - t0,
            }),
        }
    })
}

/// Where the runner threads wait until every one is set up, and learn the common start.
#[derive(Debug)]
struct StartLine {
    barrier: Barrier,
    start: OnceLock<(Instant, Arc<Backoff>)>,
    /// The open loop's client population.
    clients: usize,
}

impl StartLine {
    fn new(threads: usize, clients: usize) -> Self {
        Self {
            barrier: Barrier::new(threads + 1),
            start: OnceLock::new(),
            clients,
        }
    }

    /// The coordinating thread: sets `t0` to now and lets the runner threads go.
    fn go(&self) -> Instant {
        let t0 = Instant::now();
        self.start
            .set((t0, Arc::new(Backoff::new(t0, self.clients))))
            .expect("one start per run");
        self.barrier.wait();
        t0
    }

    /// A runner thread: waits for the others and the go, then returns `t0` and the back-off.
    fn wait(&self) -> (Instant, Arc<Backoff>) {
        self.barrier.wait();
        self.start.get().cloned().expect("set before the barrier")
    }
}

/// A runner thread's place in the run.
#[derive(Debug)]
struct Seat {
    index: usize,
    threads: usize,
    budget: Option<Arc<Budget>>,
    progress: Option<Arc<AtomicU64>>,
}

/// One runner thread: its own runtime and engine copy, its share of the workers (or of the
/// schedule), its own recorder. Returns the recorder and when the thread's last request ended.
fn run_thread<E: Engine>(
    engine: &E,
    plan: &Plan,
    seat: Seat,
    start_line: &StartLine,
) -> Result<(Recorder, Instant), EngineError> {
    let setup = || -> Result<_, EngineError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| EngineError::Client(format!("tokio runtime: {err}")))?;
        let engine = {
            let _guard = runtime.enter();
            engine.for_thread()?
        };
        Ok((runtime, engine))
    };
    let setup = setup();
    // Every thread reaches the start line, even a failed one, or the others would wait forever.
    let (t0, backoff) = start_line.wait();
    let (runtime, engine) = setup?;

    let end = match plan.length {
        Length::Duration(d) => Some(t0 + d),
        Length::Requests(_) => None,
    };
    let ctx = Rc::new(ThreadCtx {
        t0,
        end,
        timeout: plan.timeout,
        respect_retry_after: plan.respect_retry_after,
        backoff,
        budget: seat.budget,
        recorder: RefCell::new(Recorder::new()),
        progress: seat.progress,
    });
    let workers = share(plan.concurrency, seat.threads, seat.index);
    let local = LocalSet::new();
    local.block_on(&runtime, async {
        match plan.mode {
            Mode::Closed => closed::run(&engine, Rc::clone(&ctx), workers).await,
            Mode::Open { rate, ramp_to } => {
                let limit = match plan.length {
                    Length::Requests(n) => Some(n),
                    Length::Duration(_) => None,
                };
                let mut schedule = Schedule::new(
                    t0,
                    rate.max(f64::MIN_POSITIVE),
                    seat.index as u64,
                    seat.threads as u64,
                    limit,
                    end,
                );
                if let (Some(to), Length::Duration(over)) = (ramp_to, plan.length) {
                    schedule = schedule.ramp(rate, to, over);
                }
                open::run(&engine, Rc::clone(&ctx), workers, schedule).await;
            }
        }
    });
    let finished = Instant::now();
    // Drops the workers' tasks and their connections before the recorder is taken.
    drop(local);
    let recorder = ctx.recorder.replace(Recorder::new());
    Ok((recorder, finished))
}

/// Thread `index`'s part of `total` split over `threads` (the first ones take the remainder).
fn share(total: usize, threads: usize, index: usize) -> usize {
    total / threads + usize::from(index < total % threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, threads) in [(1, 1), (64, 2), (65, 2), (7, 3), (2, 2)] {
            let shares: Vec<_> = (0..threads).map(|i| share(total, threads, i)).collect();
            assert_eq!(shares.iter().sum::<usize>(), total, "{shares:?}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn threads_never_exceed_concurrency() {
        let plan = |concurrency, threads| Plan {
            mode: Mode::Closed,
            concurrency,
            length: Length::Requests(1),
            timeout: Duration::from_secs(1),
            respect_retry_after: false,
            clients: None,
            threads,
        };
        assert_eq!(plan(1, None).threads(), 1);
        assert_eq!(plan(1, Some(4)).threads(), 1);
        assert_eq!(plan(8, Some(4)).threads(), 4);
    }

    #[test]
    fn backoff_window() {
        let t0 = Instant::now();
        let backoff = Backoff::new(t0, 1);
        assert!(!backoff.covers(0, t0));
        backoff.extend_to(0, t0 + Duration::from_secs(1));
        backoff.extend_to(0, t0 + Duration::from_millis(10)); // never shrinks
        assert!(backoff.covers(0, t0 + Duration::from_millis(999)));
        assert!(backoff.covers(7, t0 + Duration::from_millis(999)));
        assert!(!backoff.covers(0, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn backoff_pauses_only_the_client_that_was_told() {
        let t0 = Instant::now();
        let backoff = Backoff::new(t0, 3);
        // Start 4 belongs to client 1, like starts 1, 7, 10...
        backoff.extend_to(4, t0 + Duration::from_secs(1));
        let later = t0 + Duration::from_millis(500);
        let paused: Vec<u64> = (0..9).filter(|&i| backoff.covers(i, later)).collect();
        assert_eq!(paused, [1, 4, 7]);
        assert_eq!(Backoff::new(t0, 0).until_us.len(), 1);
    }

    #[test]
    fn budget_hands_out_exactly_its_total() {
        let budget = Budget {
            total: 3,
            taken: AtomicU64::new(0),
        };
        let taken = (0..10).filter(|_| budget.take()).count();
        assert_eq!(taken, 3);
    }
}
