//! What a job does: simulated work of a given length, either waiting (like a call to another
//! service) or computing (CPU-bound, on a blocking thread, never on the async runtime).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The longest work `POST /jobs?ms=N` asks for; larger values are capped to it.
pub const MAX_JOB_MS: u64 = 60_000;

/// How a job spends its time (`?work=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WorkKind {
    /// Waits on tokio's timer: I/O-bound work, cheap for the runtime.
    #[default]
    Sleep,
    /// Computes on one of tokio's blocking threads (`spawn_blocking`): CPU-bound work, which
    /// would stall every other task of its runtime thread if it ran there.
    Cpu,
}

/// One job's simulated work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    pub(crate) kind: WorkKind,
    pub(crate) duration: Duration,
}

/// What finished work produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Output {
    /// Rounds computed by CPU work; `None` for a sleep.
    pub(crate) rounds: Option<u64>,
}

/// Why work did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unfinished {
    /// Stopped early by an [`Interrupt`] (shutdown, after its grace period).
    Interrupted,
    /// The blocking thread of CPU work panicked or was cancelled (the runtime shutting down).
    Failed(String),
}

/// Tells running work to stop early: raised at shutdown once the grace period is over, so
/// that no job, not even CPU work on a blocking thread the runtime would wait for, holds up
/// the exit. Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interrupt {
    inner: Arc<InterruptState>,
}

#[derive(Debug, Default)]
struct InterruptState {
    raised: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    /// Stops every work running now or started from now on.
    pub(crate) fn raise(&self) {
        self.inner.raised.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.inner.raised.load(Ordering::Acquire)
    }

    /// Resolves once [`raise`](Self::raise) has been called.
    pub(crate) async fn raised(&self) {
        let notified = self.inner.notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the check, so a raise in between is not missed.
        notified.as_mut().enable();
        if self.is_raised() {
            return;
        }
        notified.await;
    }
}

impl Work {
    /// Work of `kind` for `ms` milliseconds (capped at [`MAX_JOB_MS`]), or `default` without
    /// `ms`.
    pub(crate) fn new(kind: WorkKind, ms: Option<u64>, default: Duration) -> Self {
        let duration = ms.map_or(default, |ms| Duration::from_millis(ms.min(MAX_JOB_MS)));
        Self { kind, duration }
    }

    /// Does the work, unless `interrupt` is raised first.
    ///
    /// # Errors
    ///
    /// [`Unfinished::Interrupted`] if `interrupt` was raised (CPU work notices within
    /// microseconds); [`Unfinished::Failed`] if the blocking thread of CPU work panicked or was
    /// cancelled (the runtime shutting down).
    pub(crate) async fn run(self, interrupt: &Interrupt) -> Result<Output, Unfinished> {
        match self.kind {
            WorkKind::Sleep => {
                tokio::select! {
                    () = tokio::time::sleep(self.duration) => Ok(Output { rounds: None }),
                    () = interrupt.raised() => Err(Unfinished::Interrupted),
                }
            }
            WorkKind::Cpu => {
                let duration = self.duration;
                let interrupt = interrupt.clone();
                let rounds = tokio::task::spawn_blocking(move || compute_for(duration, &interrupt))
                    .await
                    .map_err(|err| Unfinished::Failed(format!("the job's thread failed: {err}")))?;
                let rounds = rounds.ok_or(Unfinished::Interrupted)?;
                Ok(Output {
                    rounds: Some(rounds),
                })
            }
        }
    }
}

/// Keeps one CPU busy for `duration` of wall-clock time (a xorshift loop, looking at the clock
/// and at `interrupt` every few thousand rounds); returns the number of rounds, or `None` if
/// interrupted.
fn compute_for(duration: Duration, interrupt: &Interrupt) -> Option<u64> {
    const ROUNDS_PER_CHECK: u64 = 4096;
    let deadline = std::time::Instant::now() + duration;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rounds = 0;
    loop {
        for _ in 0..ROUNDS_PER_CHECK {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
        }
        std::hint::black_box(state);
        rounds += ROUNDS_PER_CHECK;
        if interrupt.is_raised() {
            return None;
        }
        if std::time::Instant::now() >= deadline {
            return Some(rounds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_time_comes_from_the_query_capped() {
        let default = Duration::from_millis(200);
        let work = |ms| Work::new(WorkKind::Sleep, ms, default).duration;
        assert_eq!(work(None), default);
        assert_eq!(work(Some(5)), Duration::from_millis(5));
        assert_eq!(work(Some(u64::MAX)), Duration::from_millis(MAX_JOB_MS));
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_work_takes_its_time_on_the_timer() {
        let start = tokio::time::Instant::now();
        let work = Work::new(WorkKind::Sleep, Some(1500), Duration::ZERO);
        let interrupt = Interrupt::default();
        assert_eq!(work.run(&interrupt).await, Ok(Output { rounds: None }));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cpu_work_leaves_the_runtime_free() {
        // On a single-threaded runtime, CPU work done inline would finish before the timer
        // below could fire; on a blocking thread it is still running when it does.
        let work = Work::new(WorkKind::Cpu, Some(1000), Duration::ZERO);
        let job = tokio::spawn(async move { work.run(&Interrupt::default()).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !job.is_finished(),
            "the CPU work ran on the runtime's thread"
        );
        let output = job.await.unwrap().unwrap();
        assert!(output.rounds.unwrap() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_stops_sleep_work_at_once() {
        let interrupt = Interrupt::default();
        let work = Work::new(WorkKind::Sleep, Some(60_000), Duration::ZERO);
        let job = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { work.run(&interrupt).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = tokio::time::Instant::now();
        interrupt.raise();
        assert_eq!(job.await.unwrap(), Err(Unfinished::Interrupted));
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Raised before the work starts: it does not start.
        assert_eq!(work.run(&interrupt).await, Err(Unfinished::Interrupted));
    }

    #[tokio::test]
    async fn an_interrupt_stops_cpu_work_on_its_blocking_thread() {
        // The runtime waits for blocking threads when it shuts down: without the interrupt,
        // this one would keep the test (and the server's exit) for a minute.
        let interrupt = Interrupt::default();
        let work = Work::new(WorkKind::Cpu, Some(60_000), Duration::ZERO);
        let job = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { work.run(&interrupt).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let start = std::time::Instant::now();
        interrupt.raise();
        let ended = tokio::time::timeout(Duration::from_secs(10), job).await;
        assert_eq!(
            ended.expect("the CPU work stops").unwrap(),
            Err(Unfinished::Interrupted)
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
