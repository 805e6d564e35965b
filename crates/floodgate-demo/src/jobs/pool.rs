//! The worker pool: `--workers` tasks take jobs, first come first served, from a queue of
//! `--job-queue` places (a bounded tokio channel). A submission that finds every place taken
//! waits at most `max_wait` for one, then is turned away: the queue, not the client, decides
//! how much work is pending.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::store::{JobId, JobStore, JobView, Retention};
use super::work::{Interrupt, Unfinished, Work};

/// The pool's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolSettings {
    pub(crate) workers: usize,
    pub(crate) queue: usize,
    /// How long a submission may wait for a place in a full queue.
    pub(crate) max_wait: Duration,
    pub(crate) retention: Retention,
}

/// Why a job was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// The queue stayed full for the whole wait.
    QueueFull,
    /// The pool is shutting down.
    ShuttingDown,
}

/// The pool's load and what happened to its jobs so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PoolStats {
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    /// Jobs waiting for a worker now.
    pub(crate) queued: usize,
    /// Workers running a job now.
    pub(crate) busy: usize,
    /// Finished jobs whose results are kept now.
    pub(crate) results: usize,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
}

/// A bounded worker pool with bounded result storage. Clones share the pool.
///
/// The worker tasks start with the first submission (so the pool can be built outside a
/// runtime), and end when [`shutdown`](Self::shutdown) is called or every clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct JobPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: PoolSettings,
    // Only here, never in a worker: when the last pool handle goes, the channel closes and the
    // workers end.
    sender: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    /// `None` until the workers are started.
    workers: Mutex<Option<Vec<JoinHandle<()>>>>,
}

/// What the workers share with the pool.
#[derive(Debug)]
struct Shared {
    store: Mutex<JobStore>,
    queue: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    stop: watch::Sender<bool>,
    /// Stops the running jobs' work, once shutdown's grace period is over.
    interrupt: Interrupt,
    queued: AtomicUsize,
    busy: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
}

#[derive(Debug)]
struct Job {
    id: JobId,
    work: Work,
}

impl JobPool {
    pub(crate) fn new(settings: PoolSettings) -> Self {
        let (sender, receiver) = mpsc::channel(settings.queue);
        let shared = Shared {
            store: Mutex::new(JobStore::new(settings.retention)),
            queue: tokio::sync::Mutex::new(receiver),
            stop: watch::Sender::new(false),
            interrupt: Interrupt::default(),
            queued: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        };
        Self {
            inner: Arc::new(Inner {
                settings,
                sender,
                shared: Arc::new(shared),
                workers: Mutex::new(None),
            }),
        }
    }

    /// Queues `work`, waiting at most `max_wait` for a place; returns the job's id.
    ///
    /// Must be called within a tokio runtime (the first call starts the workers on it).
    ///
    /// # Errors
    ///
    /// [`Rejected::QueueFull`] if no place came free in time, [`Rejected::ShuttingDown`] once
    /// [`shutdown`](Self::shutdown) has begun.
    pub(crate) async fn submit(&self, work: Work) -> Result<JobId, Rejected> {
        let result = self.enqueue(work).await;
        let counter = match result {
            Ok(_) => &self.inner.shared.accepted,
            Err(_) => &self.inner.shared.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn enqueue(&self, work: Work) -> Result<JobId, Rejected> {
        if self.inner.shared.store().is_closed() {
            return Err(Rejected::ShuttingDown);
        }
        self.start_workers();
        let place = tokio::time::timeout(self.inner.settings.max_wait, self.inner.sender.reserve());
        let place = match place.await {
            Ok(Ok(place)) => place,
            Ok(Err(_closed)) => return Err(Rejected::ShuttingDown),
            Err(_elapsed) => return Err(Rejected::QueueFull),
        };
        // Queued under the store's lock, so that shutdown, which closes the store under the same
        // lock before it drains the queue, sees every job that got in.
        let mut store = self.inner.shared.store();
        if store.is_closed() {
            return Err(Rejected::ShuttingDown);
        }
        let id = store.insert(work);
        self.inner.shared.queued.fetch_add(1, Ordering::Relaxed);
        place.send(Job { id, work });
        Ok(id)
    }

    /// The job's state, unless it is unknown or its result has been evicted.
    pub(crate) fn status(&self, id: JobId) -> Option<JobView> {
        self.inner.shared.store().get(id)
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let shared = &self.inner.shared;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PoolStats {
            workers: self.inner.settings.workers,
            queue_capacity: self.inner.settings.queue,
            queued: shared.queued.load(Ordering::Relaxed),
            busy: shared.busy.load(Ordering::Relaxed),
            results: shared.store().results(),
            accepted: count(&shared.accepted),
            rejected: count(&shared.rejected),
            done: count(&shared.done),
            failed: count(&shared.failed),
            cancelled: count(&shared.cancelled),
        }
    }

    /// Shuts the pool down: refuses new jobs, cancels the queued ones (logging their ids), and
    /// waits for the running ones to finish.
    ///
    /// Cancelled jobs show as `cancelled` to `GET /jobs/{id}`; the log says how many there were
    /// before any wait, so a shutdown cut short by its grace period loses nothing silently,
    /// and lists the first few ids (a full queue's would make a line of hundreds of KB).
    pub(crate) async fn shutdown(&self) {
        let shared = &self.inner.shared;
        shared.store().close();
        shared.stop.send_replace(true);
        let cancelled = {
            // The workers let go of the queue as soon as they see the stop.
            let mut queue = shared.queue.lock().await;
            queue.close();
            let mut store = shared.store();
            let mut cancelled = Vec::new();
            while let Ok(job) = queue.try_recv() {
                store.cancel(job.id);
                shared.queued.fetch_sub(1, Ordering::Relaxed);
                shared.cancelled.fetch_add(1, Ordering::Relaxed);
                cancelled.push(job.id);
            }
            cancelled
        };
        let running = shared.busy.load(Ordering::Relaxed);
        if !cancelled.is_empty() {
            warn!(
                cancelled = cancelled.len(),
                ids = %IdSample(&cancelled),
                running,
                "job pool shutting down: cancelled the jobs still queued"
            );
        } else if running > 0 {
            info!(running, "job pool shutting down: no job was queued");
        }
        let workers = self.inner.workers().take().unwrap_or_default();
        for worker in workers {
            // A worker only ends by returning (or with the runtime).
            let _ = worker.await;
        }
        if running > 0 {
            info!(
                finished = running,
                "job pool stopped: running jobs finished"
            );
        }
    }

    /// Stops the running jobs at once (shutdown, when its grace period is over): they end as
    /// `cancelled`, CPU work included, so that no blocking thread holds up the process's exit.
    /// Returns how many were running.
    pub(crate) fn interrupt(&self) -> usize {
        let shared = &self.inner.shared;
        let running = shared.busy.load(Ordering::Relaxed);
        if running > 0 {
            warn!(running, "job pool: interrupting the jobs still running");
        }
        shared.interrupt.raise();
        running
    }

    /// Spawns the workers on the current runtime, once.
    fn start_workers(&self) {
        let mut workers = self.inner.workers();
        if workers.is_none() {
            let handles = (0..self.inner.settings.workers)
                .map(|_| {
                    let shared = Arc::clone(&self.inner.shared);
                    tokio::spawn(worker(shared))
                })
                .collect();
            *workers = Some(handles);
        }
    }
}

impl Inner {
    fn workers(&self) -> MutexGuard<'_, Option<Vec<JoinHandle<()>>>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, JobStore> {
        // The store's methods do not panic; should one, its state is still consistent enough
        // to serve status requests.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one job, keeping the store and the counts up to date.
    async fn run(&self, job: Job) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        let _busy = Busy::enter(&self.busy);
        self.store().start(job.id);
        let counter = match job.work.run(&self.interrupt).await {
            Ok(output) => {
                self.store().finish(job.id, Ok(output));
                debug!(id = %job.id, "job finished");
                &self.done
            }
            Err(Unfinished::Interrupted) => {
                self.store().cancel(job.id);
                debug!(id = %job.id, "job interrupted");
                &self.cancelled
            }
            Err(Unfinished::Failed(err)) => {
                warn!(id = %job.id, %err, "job failed");
                self.store().finish(job.id, Err(err));
                &self.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One worker: takes a job, runs it, repeats; ends on the pool's stop (between jobs, never
/// during one) or when the pool is gone.
async fn worker(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let job = tokio::select! {
            biased;
            _ = stop.wait_for(|stopping| *stopping) => return,
            job = next_job(&shared.queue) => job,
        };
        let Some(job) = job else { return };
        shared.run(job).await;
    }
}

/// The next job, waiting for the queue (one worker waits on it at a time).
async fn next_job(queue: &tokio::sync::Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    queue.lock().await.recv().await
}

/// How many job ids a log line lists at most; the count beside them is always complete.
const LOGGED_IDS: usize = 5;

/// Job ids for a log line: the first [`LOGGED_IDS`], then how many more.
struct IdSample<'a>(&'a [JobId]);

impl std::fmt::Display for IdSample<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(LOGGED_IDS)];
        f.write_str("[")?;
        for (i, id) in shown.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
        }
        let more = self.0.len() - shown.len();
        if more > 0 {
            write!(f, ", and {more} more")?;
        }
        f.write_str("]")
    }
}

/// Counts a worker as busy for as long as it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::super::store::JobState;
    use super::super::work::WorkKind;
    use super::*;

    fn pool(workers: usize, queue: usize, max_wait: Duration) -> JobPool {
        JobPool::new(PoolSettings {
            workers,
            queue,
            max_wait,
            retention: Retention::default(),
        })
    }

    fn sleep_ms(ms: u64) -> Work {
        Work::new(WorkKind::Sleep, Some(ms), Duration::ZERO)
    }

    fn status(pool: &JobPool, id: JobId) -> JobState {
        pool.status(id).expect("the job is known").state
    }

    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn logged_ids_are_a_bounded_sample() {
        let mut store = JobStore::new(Retention::default());
        let ids: Vec<JobId> = (0..1000).map(|_| store.insert(sleep_ms(1))).collect();
        let line = IdSample(&ids).to_string();
        assert!(line.len() < 250, "{line}");
        assert!(line.starts_with(&format!("[{}, ", ids[0])), "{line}");
        assert!(line.ends_with(", and 995 more]"), "{line}");
        assert!(!line.contains(&ids[LOGGED_IDS].to_string()), "{line}");
        let two = IdSample(&ids[..2]).to_string();
        assert_eq!(two, format!("[{}, {}]", ids[0], ids[1]));
        assert_eq!(IdSample(&[]).to_string(), "[]");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_turns_submissions_away_after_max_wait() {
        let pool = pool(1, 1, Duration::from_millis(100));
        let running = pool.submit(sleep_ms(10_000)).await.unwrap();
        settle().await;
        let queued = pool.submit(sleep_ms(10)).await.unwrap();
        assert_eq!(status(&pool, running), JobState::Running);
        assert_eq!(status(&pool, queued), JobState::Queued);

        let start = Instant::now();
        assert_eq!(pool.submit(sleep_ms(10)).await, Err(Rejected::QueueFull));
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        let stats = pool.stats();
        assert_eq!(
            (stats.busy, stats.queued, stats.accepted, stats.rejected),
            (1, 1, 2, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_that_frees_up_within_the_wait_is_taken() {
        let pool = pool(1, 1, Duration::from_secs(1));
        pool.submit(sleep_ms(500)).await.unwrap();
        settle().await;
        pool.submit(sleep_ms(500)).await.unwrap();

        let start = Instant::now();
        let third = pool.submit(sleep_ms(500)).await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(500),
            "when the first ended"
        );
        assert_eq!(status(&pool, third), JobState::Queued);
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_go_from_queued_to_running_to_done_in_order() {
        let pool = pool(1, 8, Duration::ZERO);
        let first = pool.submit(sleep_ms(100)).await.unwrap();
        let second = pool.submit(sleep_ms(300)).await.unwrap();
        settle().await;
        assert_eq!(status(&pool, first), JobState::Running);
        assert_eq!(status(&pool, second), JobState::Queued);

        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(matches!(status(&pool, first), JobState::Done { .. }));
        assert_eq!(status(&pool, second), JobState::Running);

        tokio::time::sleep(Duration::from_millis(300)).await;
        let JobState::Done { result } = status(&pool, second) else {
            panic!("the second job is done");
        };
        assert_eq!((result.waited_ms, result.ran_ms), (100, 300));
        let stats = pool.stats();
        assert_eq!((stats.done, stats.results, stats.busy), (2, 2, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn workers_run_jobs_side_by_side() {
        let pool = pool(3, 8, Duration::ZERO);
        let ids: Vec<JobId> = submit_many(&pool, 4).await;
        settle().await;
        assert_eq!((pool.stats().busy, pool.stats().queued), (3, 1));
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert_eq!(status(&pool, ids[3]), JobState::Running);
        assert_eq!(pool.stats().done, 3);
    }

    async fn submit_many(pool: &JobPool, count: usize) -> Vec<JobId> {
        let mut ids = Vec::new();
        for _ in 0..count {
            ids.push(pool.submit(sleep_ms(1000)).await.unwrap());
        }
        ids
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_the_queued_jobs_and_finishes_the_running_ones() {
        let pool = pool(1, 4, Duration::from_secs(5));
        let running = pool.submit(sleep_ms(1000)).await.unwrap();
        settle().await;
        let queued = [
            pool.submit(sleep_ms(10)).await.unwrap(),
            pool.submit(sleep_ms(10)).await.unwrap(),
        ];

        let start = Instant::now();
        let shutdown = tokio::spawn({
            let pool = pool.clone();
            async move { pool.shutdown().await }
        });
        settle().await;
        for id in queued {
            assert_eq!(status(&pool, id), JobState::Cancelled);
        }
        assert_eq!(status(&pool, running), JobState::Running);
        assert_eq!(pool.submit(sleep_ms(1)).await, Err(Rejected::ShuttingDown));

        shutdown.await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "the running job finished"
        );
        assert!(matches!(status(&pool, running), JobState::Done { .. }));
        let stats = pool.stats();
        assert_eq!(
            (stats.done, stats.cancelled, stats.rejected, stats.queued),
            (1, 2, 1, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_ends_the_running_jobs_as_cancelled_and_lets_shutdown_return() {
        let pool = pool(2, 4, Duration::ZERO);
        let running = [
            pool.submit(sleep_ms(60_000)).await.unwrap(),
            pool.submit(sleep_ms(60_000)).await.unwrap(),
        ];
        settle().await;
        let shutdown = tokio::spawn({
            let pool = pool.clone();
            async move { pool.shutdown().await }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!shutdown.is_finished(), "waits for the running jobs");

        let start = Instant::now();
        assert_eq!(pool.interrupt(), 2);
        shutdown.await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        for id in running {
            assert_eq!(status(&pool, id), JobState::Cancelled);
        }
        let stats = pool.stats();
        assert_eq!((stats.cancelled, stats.done, stats.busy), (2, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_submission_waiting_for_a_place_is_refused_at_shutdown() {
        let pool = pool(1, 1, Duration::from_secs(60));
        pool.submit(sleep_ms(1000)).await.unwrap();
        settle().await;
        pool.submit(sleep_ms(1000)).await.unwrap();
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.submit(sleep_ms(1)).await }
        });
        settle().await;

        let start = Instant::now();
        pool.shutdown().await;
        assert_eq!(waiting.await.unwrap(), Err(Rejected::ShuttingDown));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(pool.stats().cancelled, 1);
    }

    #[tokio::test]
    async fn shutdown_without_any_job_returns_at_once() {
        pool(2, 2, Duration::ZERO).shutdown().await;
    }
}
