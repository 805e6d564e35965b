//! The pool's `floodgate_demo_jobs_*` series, read from [`JobPool::stats`] at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::pool::JobPool;
use crate::metrics::{counter, gauge};

/// Collects the pool's series.
#[derive(Debug)]
pub(crate) struct JobsCollector {
    pool: JobPool,
}

impl JobsCollector {
    pub(crate) fn new(pool: JobPool) -> Self {
        Self { pool }
    }
}

impl Collector for JobsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.pool.stats();
        for (name, help, value) in [
            (
                "floodgate_demo_jobs_workers",
                "Workers of the /jobs pool.",
                stats.workers,
            ),
            (
                "floodgate_demo_jobs_workers_busy",
                "Workers running a job now.",
                stats.busy,
            ),
            (
                "floodgate_demo_jobs_queue_capacity",
                "Places in the /jobs queue.",
                stats.queue_capacity,
            ),
            (
                "floodgate_demo_jobs_queued",
                "Jobs waiting for a worker now (the queue depth).",
                stats.queued,
            ),
            (
                "floodgate_demo_jobs_results",
                "Finished jobs whose results are kept now.",
                stats.results,
            ),
        ] {
            gauge(&mut encoder, name, help, value)?;
        }
        counter(
            &mut encoder,
            "floodgate_demo_jobs_accepted",
            "Jobs accepted into the queue (202).",
            stats.accepted,
        )?;

        let mut by_outcome = encoder.encode_descriptor(
            "floodgate_demo_jobs",
            "Jobs by outcome: done, failed, cancelled (queued at shutdown), rejected (503).",
            None,
            MetricType::Counter,
        )?;
        for (outcome, count) in [
            ("done", stats.done),
            ("failed", stats.failed),
            ("cancelled", stats.cancelled),
            ("rejected", stats.rejected),
        ] {
            ConstCounter::new(count).encode(by_outcome.encode_family(&[("outcome", outcome)])?)?;
        }
        Ok(())
    }
}
