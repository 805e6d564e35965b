//! The progress bar: on stderr, only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::runner::Length;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// A progress bar for one run, or nothing.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    length: Length,
    done: Option<Arc<AtomicU64>>,
}

impl Progress {
    /// A bar when `enabled` and stderr is a terminal; otherwise a silent stand-in.
    pub(crate) fn new(enabled: bool, length: Length) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self::hidden(length);
        }
        let (len, template) = match length {
            Length::Duration(d) => (
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                "{spinner} [{elapsed_precise}] {wide_bar} {msg}",
            ),
            Length::Requests(n) => (
                n,
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            ),
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
        Self {
            bar: Some(bar),
            length,
            done: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    /// No bar at all.
    pub(crate) fn hidden(length: Length) -> Self {
        Self {
            bar: None,
            length,
            done: None,
        }
    }

    /// The counter the workers bump per finished request, if anybody is watching.
    pub(crate) fn counter(&self) -> Option<Arc<AtomicU64>> {
        self.done.clone()
    }

    /// Redraws the bar until `finished` says the run is over.
    pub(crate) fn follow(&self, t0: Instant, finished: impl Fn() -> bool) {
        let (Some(bar), Some(done)) = (&self.bar, &self.done) else {
            return;
        };
        while !finished() {
            std::thread::sleep(TICK);
            let requests = done.load(Ordering::Relaxed);
            let elapsed = t0.elapsed();
            match self.length {
                Length::Duration(_) => {
                    bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                }
                Length::Requests(_) => bar.set_position(requests),
            }
            let rps = requests as f64 / elapsed.as_secs_f64().max(1e-3);
            bar.set_message(format!("{requests} requests, {rps:.0}/s"));
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
