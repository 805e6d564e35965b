//! The pipeline behind `/ingest`: body chunks → **parse** → **batch** → a deliberately slow
//! **sink**, one task per stage, joined by bounded channels.
//!
//! Every channel is small, so when the sink falls behind, each stage in turn waits to hand
//! over its output, and [`Pipeline::push`] waits too: the handler stops reading the body,
//! hyper stops reading the socket, the kernel's receive buffer fills and TCP's window closes on
//! the client. What one upload holds in memory is bounded by the channels, not by the body:
//! about [`CHUNKS_IN_FLIGHT`] chunks of the body and three batches (one being built, one
//! waiting, one in the sink).
//!
//! The tasks live in a [`JoinSet`] owned by the [`Pipeline`]: dropping the pipeline (the
//! client went away and hyper dropped the handler) aborts them all.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::metrics::{IngestStats, LiveTask, Progress, Totals};
use super::record::{self, LineSplitter, MAX_RECORD_BYTES, Parsed};

/// Body chunks waiting for the parser.
const CHUNKS_IN_FLIGHT: usize = 2;
/// Parsed chunks (the records of one body chunk each) waiting for the batcher.
const PARSED_IN_FLIGHT: usize = 2;
/// Full batches waiting for the sink.
const BATCHES_IN_FLIGHT: usize = 1;

/// How the pipeline batches and how slow its sink is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipelineSettings {
    pub(crate) batch_size: usize,
    /// A batch goes to the sink this long after its first record at the latest.
    pub(crate) batch_timeout: Duration,
    /// The sink's time per batch.
    pub(crate) sink_delay: Duration,
}

/// A stage ended early: the pipeline cannot take more input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Broken;

/// One upload's running pipeline.
#[derive(Debug)]
pub(crate) struct Pipeline {
    input: mpsc::Sender<Bytes>,
    // Aborts every stage when dropped.
    tasks: JoinSet<()>,
    progress: Arc<Progress>,
}

impl Pipeline {
    /// Starts the stages. Must be called within a tokio runtime.
    pub(crate) fn spawn(settings: PipelineSettings, stats: &Arc<IngestStats>) -> Self {
        let progress = Arc::new(Progress::new(Arc::clone(stats)));
        let (input, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let (parsed_tx, parsed_rx) = mpsc::channel(PARSED_IN_FLIGHT);
        let (batches_tx, batches_rx) = mpsc::channel(BATCHES_IN_FLIGHT);

        let mut tasks = JoinSet::new();
        let parser = parse(chunks, parsed_tx, Arc::clone(&progress));
        spawn_stage(&mut tasks, stats, parser);
        spawn_stage(&mut tasks, stats, batch(parsed_rx, batches_tx, settings));
        let sinker = sink(batches_rx, settings.sink_delay, Arc::clone(&progress));
        spawn_stage(&mut tasks, stats, sinker);

        Self {
            input,
            tasks,
            progress,
        }
    }

    /// Hands one chunk of the body to the parser, waiting while the pipeline is full: this
    /// wait is the backpressure.
    ///
    /// # Errors
    ///
    /// If a stage has ended (only a failing stage does, before the input ends).
    pub(crate) async fn push(&self, chunk: Bytes) -> Result<(), Broken> {
        self.progress.read(chunk.len());
        self.input.send(chunk).await.map_err(|_| Broken)
    }

    /// Ends the input, and waits until the sink has stored the last batch.
    ///
    /// # Errors
    ///
    /// If a stage failed (panicked).
    pub(crate) async fn finish(self) -> Result<Totals, Broken> {
        let Self {
            input,
            mut tasks,
            progress,
        } = self;
        drop(input);
        while let Some(ended) = tasks.join_next().await {
            if ended.is_err() {
                return Err(Broken);
            }
        }
        Ok(progress.totals())
    }

    /// Stops every stage at once (what is still in the pipeline is dropped) and waits until
    /// they are gone; returns what got through.
    pub(crate) async fn abort(mut self) -> Totals {
        self.tasks.shutdown().await;
        self.progress.totals()
    }
}

/// Spawns one stage, counted in the live tasks until its future is gone.
fn spawn_stage<F>(tasks: &mut JoinSet<()>, stats: &Arc<IngestStats>, stage: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let live = LiveTask::enter(stats);
    tasks.spawn(async move {
        let _live = live;
        stage.await;
    });
}

/// Splits chunks into lines, keeps the records (JSON objects), counts the malformed lines.
async fn parse(
    mut chunks: mpsc::Receiver<Bytes>,
    output: mpsc::Sender<Vec<Bytes>>,
    progress: Arc<Progress>,
) {
    let mut lines = LineSplitter::new(MAX_RECORD_BYTES);
    let mut malformed = Vec::new();
    while let Some(chunk) = chunks.recv().await {
        let mut records = Vec::new();
        lines.push(chunk, |line| keep(line, &mut records, &mut malformed));
        progress.malformed(&std::mem::take(&mut malformed));
        if !records.is_empty() && output.send(records).await.is_err() {
            return;
        }
    }
    let mut records = Vec::new();
    lines.finish(|line| keep(line, &mut records, &mut malformed));
    progress.malformed(&malformed);
    if !records.is_empty() {
        // The batcher only ends early if it fails; there is nothing left to do then.
        let _ = output.send(records).await;
    }
}

fn keep(line: record::Line, records: &mut Vec<Bytes>, malformed: &mut Vec<u64>) {
    match record::parse(line.content) {
        Parsed::Record(record) => records.push(record),
        Parsed::Malformed => malformed.push(line.number),
        Parsed::Blank => {}
    }
}

/// Groups records into batches of `batch_size`, handing a batch to the sink when it is full or
/// `batch_timeout` after its first record, whichever comes first.
async fn batch(
    mut input: mpsc::Receiver<Vec<Bytes>>,
    output: mpsc::Sender<Vec<Bytes>>,
    settings: PipelineSettings,
) {
    let mut batch = Vec::new();
    // When the batch must go, full or not; set by its first record.
    let mut deadline: Option<Instant> = None;
    loop {
        let records = tokio::select! {
            records = input.recv() => records,
            () = sleep_until(deadline) => {
                deadline = None;
                if output.send(std::mem::take(&mut batch)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(records) = records else { break };
        for record in records {
            if batch.is_empty() {
                deadline = Some(Instant::now() + settings.batch_timeout);
            }
            batch.push(record);
            if batch.len() >= settings.batch_size {
                deadline = None;
                if output.send(std::mem::take(&mut batch)).await.is_err() {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = output.send(batch).await;
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The deliberately slow sink: "stores" each batch by sleeping `delay` (like a write to a
/// database that takes its time), then counts it.
async fn sink(mut batches: mpsc::Receiver<Vec<Bytes>>, delay: Duration, progress: Arc<Progress>) {
    while let Some(batch) = batches.recv().await {
        tokio::time::sleep(delay).await;
        progress.sunk(batch.len());
    }
}
