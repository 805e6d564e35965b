//! What `/ingest` counts: over the app's life ([`IngestStats`], the `floodgate_demo_ingest_*`
//! series) and per upload ([`Progress`], the answer's numbers).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::metrics::{counter, gauge};

/// How many malformed line numbers an answer lists (the count is always complete).
pub(crate) const MAX_REPORTED_LINES: usize = 10;

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The whole body went through the pipeline.
    Complete,
    /// Larger than `--ingest-max-bytes` (413).
    TooLarge,
    /// The client sent nothing for too long (408).
    Idle,
    /// The client sent slower than `--ingest-min-rate` (408).
    TooSlow,
    /// The body broke off: the client went away, or sent a broken body.
    Aborted,
    /// A pipeline stage failed (a bug; 500).
    Failed,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Complete,
        Outcome::TooLarge,
        Outcome::Idle,
        Outcome::TooSlow,
        Outcome::Aborted,
        Outcome::Failed,
    ];

    const fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::TooLarge => "too_large",
            Outcome::Idle => "idle",
            Outcome::TooSlow => "too_slow",
            Outcome::Aborted => "aborted",
            Outcome::Failed => "failed",
        }
    }
}

/// Counts over every upload.
#[derive(Debug, Default)]
pub(crate) struct IngestStats {
    /// Uploads being processed now.
    active: AtomicUsize,
    /// Pipeline tasks alive now.
    tasks: AtomicUsize,
    bytes: AtomicU64,
    records: AtomicU64,
    batches: AtomicU64,
    malformed: AtomicU64,
    outcomes: [AtomicU64; Outcome::ALL.len()],
}

/// A snapshot of [`IngestStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IngestSnapshot {
    pub(crate) active: usize,
    pub(crate) tasks: usize,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    pub(crate) batches: u64,
    pub(crate) malformed: u64,
}

impl IngestStats {
    pub(crate) fn snapshot(&self) -> IngestSnapshot {
        IngestSnapshot {
            active: self.active.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn ended(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }
}

/// Counts an upload as active for as long as it lives.
#[derive(Debug)]
pub(crate) struct ActiveUpload(Arc<IngestStats>);

impl ActiveUpload {
    pub(crate) fn enter(stats: &Arc<IngestStats>) -> Self {
        stats.active.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(stats))
    }
}

impl Drop for ActiveUpload {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a pipeline task as alive for as long as its future exists: moved into the task, it
/// drops when the task returns or is aborted.
#[derive(Debug)]
pub(crate) struct LiveTask(Arc<IngestStats>);

impl LiveTask {
    pub(crate) fn enter(stats: &Arc<IngestStats>) -> Self {
        stats.tasks.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(stats))
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One upload's numbers, as its answer reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    pub(crate) batches: u64,
    pub(crate) malformed: u64,
    /// The first [`MAX_REPORTED_LINES`] malformed lines' numbers.
    pub(crate) malformed_lines: Vec<u64>,
}

/// One upload's numbers as its stages update them, added to the app's [`IngestStats`] as they
/// go (so `/metrics` shows an upload's progress while it runs).
#[derive(Debug)]
pub(crate) struct Progress {
    stats: Arc<IngestStats>,
    totals: Mutex<Totals>,
}

impl Progress {
    pub(crate) fn new(stats: Arc<IngestStats>) -> Self {
        Self {
            stats,
            totals: Mutex::new(Totals::default()),
        }
    }

    /// `bytes` more of the body were read.
    pub(crate) fn read(&self, bytes: usize) {
        let bytes = bytes as u64;
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.update(|totals| totals.bytes += bytes);
    }

    /// These lines were malformed.
    pub(crate) fn malformed(&self, lines: &[u64]) {
        if lines.is_empty() {
            return;
        }
        let count = lines.len() as u64;
        self.stats.malformed.fetch_add(count, Ordering::Relaxed);
        self.update(|totals| {
            totals.malformed += count;
            let room = MAX_REPORTED_LINES.saturating_sub(totals.malformed_lines.len());
            totals
                .malformed_lines
                .extend(lines.iter().take(room).copied());
        });
    }

    /// The sink stored a batch of `records`.
    pub(crate) fn sunk(&self, records: usize) {
        let records = records as u64;
        self.stats.records.fetch_add(records, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.update(|totals| {
            totals.records += records;
            totals.batches += 1;
        });
    }

    pub(crate) fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut Totals)) {
        change(&mut self.totals.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The `floodgate_demo_ingest_*` series.
#[derive(Debug)]
pub(crate) struct IngestCollector {
    stats: Arc<IngestStats>,
}

impl IngestCollector {
    pub(crate) fn new(stats: Arc<IngestStats>) -> Self {
        Self { stats }
    }
}

impl Collector for IngestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let now = self.stats.snapshot();
        gauge(
            &mut encoder,
            "floodgate_demo_ingest_active",
            "Uploads being processed by /ingest now.",
            now.active,
        )?;
        gauge(
            &mut encoder,
            "floodgate_demo_ingest_tasks",
            "Pipeline stage tasks of /ingest alive now.",
            now.tasks,
        )?;
        for (name, help, value) in [
            (
                "floodgate_demo_ingest_bytes",
                "Body bytes read by /ingest.",
                now.bytes,
            ),
            (
                "floodgate_demo_ingest_records",
                "Records stored by the /ingest sink.",
                now.records,
            ),
            (
                "floodgate_demo_ingest_batches",
                "Batches stored by the /ingest sink.",
                now.batches,
            ),
            (
                "floodgate_demo_ingest_malformed",
                "Malformed lines skipped by /ingest.",
                now.malformed,
            ),
        ] {
            counter(&mut encoder, name, help, value)?;
        }
        let mut uploads = encoder.encode_descriptor(
            "floodgate_demo_ingest_uploads",
            "Uploads to /ingest by outcome: complete, too_large, idle, too_slow, aborted, failed.",
            None,
            MetricType::Counter,
        )?;
        for outcome in Outcome::ALL {
            ConstCounter::new(self.stats.outcome(outcome))
                .encode(uploads.encode_family(&[("outcome", outcome.as_str())])?)?;
        }
        Ok(())
    }
}
