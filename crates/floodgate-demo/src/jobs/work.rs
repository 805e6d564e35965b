//! What a job does: simulated work of a given length, either waiting (like a call to another
//! service) or computing (CPU-bound, on a blocking thread, never on the async runtime).

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

impl Work {
    /// Work of `kind` for `ms` milliseconds (capped at [`MAX_JOB_MS`]), or `default` without
    /// `ms`.
    pub(crate) fn new(kind: WorkKind, ms: Option<u64>, default: Duration) -> Self {
        let duration = ms.map_or(default, |ms| Duration::from_millis(ms.min(MAX_JOB_MS)));
        Self { kind, duration }
    }

    /// Does the work.
    ///
    /// # Errors
    ///
    /// If the blocking thread of CPU work panicked or was cancelled (the runtime shutting down).
    pub(crate) async fn run(self) -> Result<Output, String> {
        match self.kind {
            WorkKind::Sleep => {
                tokio::time::sleep(self.duration).await;
                Ok(Output { rounds: None })
            }
            WorkKind::Cpu => {
                let duration = self.duration;
                tokio::task::spawn_blocking(move || compute_for(duration))
                    .await
                    .map(|rounds| Output {
                        rounds: Some(rounds),
                    })
                    .map_err(|err| format!("the job's thread failed: {err}"))
            }
        }
    }
}

/// Keeps one CPU busy for `duration` of wall-clock time (a xorshift loop, looking at the clock
/// every few thousand rounds); returns the number of rounds.
fn compute_for(duration: Duration) -> u64 {
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
        if std::time::Instant::now() >= deadline {
            return rounds;
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
        assert_eq!(work.run().await, Ok(Output { rounds: None }));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cpu_work_leaves_the_runtime_free() {
        // On a single-threaded runtime, CPU work done inline would finish before the timer
        // below could fire; on a blocking thread it is still running when it does.
        let work = Work::new(WorkKind::Cpu, Some(1000), Duration::ZERO);
        let job = tokio::spawn(work.run());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !job.is_finished(),
            "the CPU work ran on the runtime's thread"
        );
        let output = job.await.unwrap().unwrap();
        assert!(output.rounds.unwrap() > 0);
    }
}
