//! Every job's state, from submission to its result, in bounded memory.
//!
//! Queued and running jobs are bounded by the pool (`--job-queue` plus `--workers`); finished
//! ones (done, failed, cancelled) are kept for [`Retention::ttl`] and at most
//! [`Retention::max_results`] of them, oldest evicted first. Eviction happens on every access,
//! so no timer task is needed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::work::{Output, Work, WorkKind};

/// How long finished jobs' results are kept, at most.
pub const JOB_RESULT_TTL: Duration = Duration::from_secs(10 * 60);

/// How many finished jobs' results are kept, at most; the oldest go first.
pub const MAX_JOB_RESULTS: usize = 10_000;

use super::id::IdGenerator;
pub(crate) use super::id::JobId;

/// How long and how many finished jobs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) ttl: Duration,
    pub(crate) max_results: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            ttl: JOB_RESULT_TTL,
            max_results: MAX_JOB_RESULTS,
        }
    }
}

/// A job as `POST /jobs` and `GET /jobs/{id}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JobView {
    pub(crate) id: JobId,
    pub(crate) work: WorkKind,
    pub(crate) ms: u64,
    /// `status`, and `result` or `error` with it.
    #[serde(flatten)]
    pub(crate) state: JobState,
}

/// Where a job is (the `status` field, with its details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub(crate) enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is doing it.
    Running,
    /// Finished.
    Done { result: JobResult },
    /// Its work failed (a CPU job's thread panicked or was cancelled).
    Failed { error: String },
    /// Still queued when the server shut down (never run), or still running when the
    /// shutdown's grace period ended (interrupted).
    Cancelled,
}

/// What a finished job reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct JobResult {
    /// Time in the queue, waiting for a worker.
    pub(crate) waited_ms: u64,
    /// Time a worker spent on it.
    pub(crate) ran_ms: u64,
    /// Rounds computed, for CPU work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rounds: Option<u64>,
}

#[derive(Debug)]
struct Entry {
    work: Work,
    state: JobState,
    queued_at: Instant,
    started_at: Option<Instant>,
}

/// The jobs' states: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct JobStore {
    retention: Retention,
    ids: IdGenerator,
    jobs: HashMap<JobId, Entry>,
    /// Finished jobs, oldest first (finish times never decrease: they are taken under the
    /// store's lock, from a monotonic clock).
    finished: VecDeque<(Instant, JobId)>,
    closed: bool,
}

impl JobStore {
    pub(crate) fn new(retention: Retention) -> Self {
        Self {
            retention,
            ids: IdGenerator::new(),
            jobs: HashMap::new(),
            finished: VecDeque::new(),
            closed: false,
        }
    }

    /// Records a new job as queued; returns its id.
    pub(crate) fn insert(&mut self, work: Work) -> JobId {
        let now = Instant::now();
        self.evict(now);
        let id = loop {
            let id = self.ids.next_id();
            if !self.jobs.contains_key(&id) {
                break id;
            }
        };
        let entry = Entry {
            work,
            state: JobState::Queued,
            queued_at: now,
            started_at: None,
        };
        self.jobs.insert(id, entry);
        id
    }

    /// A worker took the job.
    pub(crate) fn start(&mut self, id: JobId) {
        if let Some(entry) = self.jobs.get_mut(&id) {
            entry.state = JobState::Running;
            entry.started_at = Some(Instant::now());
        }
    }

    /// The job's work ended with `outcome`.
    pub(crate) fn finish(&mut self, id: JobId, outcome: Result<Output, String>) {
        let now = Instant::now();
        let Some(entry) = self.jobs.get_mut(&id) else {
            return;
        };
        let started_at = entry.started_at.unwrap_or(now);
        entry.state = match outcome {
            Ok(output) => JobState::Done {
                result: JobResult {
                    waited_ms: millis(started_at - entry.queued_at),
                    ran_ms: millis(now - started_at),
                    rounds: output.rounds,
                },
            },
            Err(error) => JobState::Failed { error },
        };
        self.retire(id, now);
    }

    /// The job was still queued at shutdown and will never run, or was interrupted.
    pub(crate) fn cancel(&mut self, id: JobId) {
        if let Some(entry) = self.jobs.get_mut(&id) {
            entry.state = JobState::Cancelled;
            self.retire(id, Instant::now());
        }
    }

    /// The job's state, unless it is unknown or its result has been evicted.
    pub(crate) fn get(&mut self, id: JobId) -> Option<JobView> {
        self.evict(Instant::now());
        self.jobs.get(&id).map(|entry| JobView {
            id,
            work: entry.work.kind,
            ms: millis(entry.work.duration),
            state: entry.state.clone(),
        })
    }

    /// Finished jobs kept now.
    pub(crate) fn results(&self) -> usize {
        self.finished.len()
    }

    /// Refuses new jobs from now on (shutdown).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    fn retire(&mut self, id: JobId, now: Instant) {
        self.finished.push_back((now, id));
        self.evict(now);
    }

    /// Drops the results older than the TTL, then the oldest beyond the count.
    fn evict(&mut self, now: Instant) {
        while let Some(&(finished_at, id)) = self.finished.front() {
            let expired = now.duration_since(finished_at) >= self.retention.ttl;
            if !expired && self.finished.len() <= self.retention.max_results {
                break;
            }
            self.finished.pop_front();
            self.jobs.remove(&id);
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::*;

    fn sleep_ms(ms: u64) -> Work {
        Work::new(WorkKind::Sleep, Some(ms), Duration::ZERO)
    }

    fn status(store: &mut JobStore, id: JobId) -> Option<JobState> {
        store.get(id).map(|view| view.state)
    }

    fn done(store: &mut JobStore, id: JobId) {
        store.start(id);
        store.finish(id, Ok(Output { rounds: None }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_goes_from_queued_to_running_to_done() {
        let mut store = JobStore::new(Retention::default());
        let id = store.insert(sleep_ms(250));
        assert_eq!(
            store.get(id),
            Some(JobView {
                id,
                work: WorkKind::Sleep,
                ms: 250,
                state: JobState::Queued,
            })
        );

        advance(Duration::from_millis(40)).await;
        store.start(id);
        assert_eq!(status(&mut store, id), Some(JobState::Running));

        advance(Duration::from_millis(250)).await;
        store.finish(id, Ok(Output { rounds: Some(7) }));
        let result = JobResult {
            waited_ms: 40,
            ran_ms: 250,
            rounds: Some(7),
        };
        assert_eq!(status(&mut store, id), Some(JobState::Done { result }));
        assert_eq!(store.results(), 1);
        assert_ne!(store.insert(sleep_ms(1)), id, "ids are never reused");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_and_cancellations_are_results_too() {
        let mut store = JobStore::new(Retention::default());
        let (failed, cancelled) = (store.insert(sleep_ms(1)), store.insert(sleep_ms(1)));
        store.start(failed);
        store.finish(failed, Err("boom".to_owned()));
        store.cancel(cancelled);
        assert_eq!(
            status(&mut store, failed),
            Some(JobState::Failed {
                error: "boom".to_owned()
            })
        );
        assert_eq!(status(&mut store, cancelled), Some(JobState::Cancelled));
        assert_eq!(store.results(), 2);
        assert_eq!(status(&mut store, IdGenerator::new().next_id()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn results_expire_after_the_ttl_but_unfinished_jobs_never_do() {
        let ttl = Duration::from_secs(60);
        let mut store = JobStore::new(Retention {
            ttl,
            max_results: 100,
        });
        let finished = store.insert(sleep_ms(1));
        done(&mut store, finished);
        let queued = store.insert(sleep_ms(1));

        advance(ttl - Duration::from_millis(1)).await;
        assert!(store.get(finished).is_some(), "kept for the whole TTL");
        advance(Duration::from_millis(1)).await;
        assert_eq!(store.get(finished), None);
        assert_eq!(store.results(), 0);

        advance(10 * ttl).await;
        assert_eq!(status(&mut store, queued), Some(JobState::Queued));
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_count_the_oldest_results_go_first() {
        let mut store = JobStore::new(Retention {
            ttl: Duration::from_secs(3600),
            max_results: 3,
        });
        let ids: Vec<JobId> = (0..5).map(|_| store.insert(sleep_ms(1))).collect();
        // Finish them out of submission order: eviction follows finishing order.
        for &id in &[ids[4], ids[0], ids[3], ids[1]] {
            advance(Duration::from_secs(1)).await;
            done(&mut store, id);
        }
        assert_eq!(store.results(), 3);
        assert_eq!(store.get(ids[4]), None, "finished first, evicted first");
        for id in [ids[0], ids[3], ids[1]] {
            assert!(store.get(id).is_some(), "job {id}");
        }
        assert_eq!(status(&mut store, ids[2]), Some(JobState::Queued));
        assert_eq!(store.jobs.len(), 4, "three results and one queued job");
    }
}
