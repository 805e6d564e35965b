//! `floodgate-load`: an HTTP load generator that tells the truth under overload.
//!
//! - **Closed loop** (`-c N`): N workers, each sends a request, waits for the whole response, and
//!   sends the next one. A stalled server stalls the workers too, so the plain latencies
//!   under-count the stall (coordinated omission); the report adds a view corrected as wrk does
//!   (`corrected_latency_ms`) and a warning when the throughput shows a stall.
//! - **Open loop** (`-r R`): requests start on a fixed schedule, `t0 + i/R`, whatever the server
//!   does, with at most `-c` in flight. Latency counts from the *scheduled* start, so a server that
//!   stalls cannot hide it by slowing the client down (no coordinated omission); starts that ran
//!   late are counted, and so are starts never sent (`missed`); requests that never finished
//!   count in the latencies at their lower bound, the end of the run minus the scheduled start.
//! - Two HTTP engines behind one small trait: raw hyper HTTP/1.1 connections (the fast path for
//!   plain `http://`) and reqwest (https, HTTP/2, proxies).
//! - HDR-histogram percentiles for all responses, for 2xx and for rejections (503 and 429), a JSON
//!   report, `--fail-if` thresholds for CI (exit code 3), and `--respect-retry-after`, the client
//!   half of backpressure.
//!
//! The binary is a thin `main` over [`run`]; [`load`] runs a load test and hands back its
//! [`Report`] without printing anything:
//!
//! ```no_run
//! use floodgate_load::{LoadOpts, load};
//!
//! let mut opts = LoadOpts::new("http://127.0.0.1:8080/fast".parse()?);
//! opts.concurrency = 64;
//! opts.requests = Some(10_000);
//! let report = load(&opts)?;
//! println!("{} req/s, p99 {:?} ms", report.rps, report.latency_ms.p99);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::Url;

mod body;
mod chart;
pub mod cli;
mod demo;
mod engine;
mod html;
mod log_histogram;
pub mod printer;
mod progress;
mod report;
mod rss;
mod runner;
mod scenario;
mod scrape;
pub mod server_thread;
mod stats;
mod threshold;

pub use crate::cli::{Command, DemoOpts, EngineKind, LoadOpts, Opts};
pub use crate::engine::EngineError;
pub use crate::report::{ModeName, RampReport, Report, StallReport};
pub use crate::scenario::{
    Level, Load, Phase, Scenario, ScenarioError, ScenarioOpts, ServerSettings, Shape, Variant,
};
pub use crate::stats::{ErrorCounts, LatencySummary, Second};
pub use crate::threshold::{Check, Threshold, ThresholdError};

use crate::body::BodySpec;
use crate::engine::{Engine, HyperEngine, HyperH2Engine, RequestSpec, ReqwestEngine, proxied};
use crate::progress::Progress;
use crate::report::RunInfo;
use crate::runner::{Length, Mode, Plan};

/// The run length when neither `-d` nor `-n` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How a completed run ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything ran and every threshold held: exit code 0.
    Success,
    /// A `--fail-if` threshold was violated: exit code 3.
    ThresholdViolated,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::ThresholdViolated => ExitCode::from(3),
        }
    }
}

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options do not make sense together (exit code 2, like clap's own errors).
    #[error("{0}")]
    Usage(String),
    /// The HTTP engine could not be set up.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Writing the summary or the JSON report failed.
    #[error("cannot write {what}: {source}")]
    Output {
        /// What was being written.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The demo server failed.
    #[error("demo: {0}")]
    Demo(String),
}

impl Error {
    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Runs what the command line asks for, printing the results; the binary's whole `main`.
pub fn run(opts: Opts) -> Result<Exit, Error> {
    match opts.command {
        Some(Command::Demo(demo)) => demo::run(&demo),
        Some(Command::Scenario(scenario)) => scenario::run(&scenario),
        None => run_load(&opts.load),
    }
}

/// A load test with its summary, thresholds and JSON report.
fn run_load(opts: &LoadOpts) -> Result<Exit, Error> {
    let scraper = opts
        .report
        .as_ref()
        .and_then(|_| opts.url().and_then(scrape::Scraper::start));
    let loaded = load(opts);
    let gauges = scraper.map(scrape::Scraper::stop).unwrap_or_default();
    let report = loaded?;
    if let Some(path) = &opts.report {
        html::write_run_page(path, &report, gauges).map_err(|source| Error::Output {
            what: path.display().to_string(),
            source,
        })?;
    }
    let checks: Vec<Check> = opts.fail_if.iter().map(|t| t.check(&report)).collect();
    let json_to_stdout = opts.json.as_deref() == Some(Path::new("-"));
    let text = |w: &mut dyn Write| -> io::Result<()> {
        let mut w = w;
        printer::print_summary(&mut w, &report)?;
        printer::print_checks(&mut w, &checks)?;
        w.flush()
    };
    let written = if json_to_stdout {
        text(&mut io::stderr().lock())
    } else {
        text(&mut io::stdout().lock())
    };
    written.map_err(|source| Error::Output {
        what: "the summary".to_owned(),
        source,
    })?;
    if let Some(path) = &opts.json {
        write_json_to(path, &report)?;
    }
    if checks.iter().all(|c| c.passed) {
        Ok(Exit::Success)
    } else {
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.threshold.to_string())
            .collect();
        eprintln!("floodgate-load: threshold violated: {}", failed.join(", "));
        Ok(Exit::ThresholdViolated)
    }
}

/// Writes `value` as JSON to `path`, or to stdout for `-`.
fn write_json_to(path: &Path, value: &impl serde::Serialize) -> Result<(), Error> {
    let error = |source| Error::Output {
        what: path.display().to_string(),
        source,
    };
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        printer::write_json(&mut out, value).map_err(error)
    } else {
        let mut file = BufWriter::new(File::create(path).map_err(error)?);
        printer::write_json(&mut file, value)
            .and_then(|()| file.flush())
            .map_err(error)
    }
}

/// Runs the load test described by `opts` and returns its report, printing nothing (except the
/// progress bar, when enabled and stderr is a terminal). `--json` and `--fail-if` are ignored
/// here; [`run`] handles them.
pub fn load(opts: &LoadOpts) -> Result<Report, Error> {
    if opts.urls.is_empty() {
        return Err(Error::Usage("a URL is required".to_owned()));
    }
    let spec = RequestSpec {
        urls: opts.urls.clone(),
        method: opts.method.clone(),
        headers: request_headers(opts),
        body: body_spec(opts),
        http2: opts.http2,
    };
    let plan = Plan {
        mode: match opts.rate {
            Some(rate) => Mode::Open {
                rate,
                ramp_to: None,
            },
            None => Mode::Closed,
        },
        concurrency: opts.concurrency,
        length: match opts.requests {
            Some(n) => Length::Requests(n),
            None => Length::Duration(opts.duration.unwrap_or(DEFAULT_DURATION)),
        },
        timeout: opts.timeout,
        respect_retry_after: opts.respect_retry_after,
        clients: opts.clients,
        threads: None,
    };
    let progress = Progress::new(!opts.no_progress, plan.length);
    // One engine for every URL: hyper only if each of them may use it.
    let kinds = opts
        .urls
        .iter()
        .map(|url| choose_engine(opts.engine, url))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = if kinds.iter().all(|kind| *kind == EngineKind::Hyper) {
        EngineKind::Hyper
    } else {
        EngineKind::Reqwest
    };
    let urls = opts
        .urls
        .iter()
        .map(Url::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    match (engine, spec.http2) {
        (EngineKind::Hyper, false) => {
            run_with(&HyperEngine::new(&spec)?, &spec, urls, &plan, &progress)
        }
        (EngineKind::Hyper, true) => {
            run_with(&HyperH2Engine::new(&spec)?, &spec, urls, &plan, &progress)
        }
        _ => run_with(&ReqwestEngine::new(&spec)?, &spec, urls, &plan, &progress),
    }
}

/// The body of every request, from `--body`, `--body-file` or `--body-ndjson-mb` (clap lets
/// at most one through).
fn body_spec(opts: &LoadOpts) -> BodySpec {
    match (&opts.body, &opts.body_file, opts.body_ndjson_mb) {
        (Some(text), _, _) => Bytes::from(text.clone()).into(),
        (None, Some(bytes), _) => bytes.clone().into(),
        (None, None, Some(mb)) => BodySpec::ndjson_mb(mb),
        (None, None, None) => BodySpec::Empty,
    }
}

/// The `-H` headers, plus `Content-Type: application/x-ndjson` for a generated body unless `-H`
/// names one.
fn request_headers(opts: &LoadOpts) -> HeaderMap {
    let mut headers: HeaderMap = opts.headers.iter().cloned().collect();
    if opts.body_ndjson_mb.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
    }
    headers
}

/// Runs `plan` with an engine and builds the report.
fn run_with<E: Engine>(
    engine: &E,
    spec: &RequestSpec,
    urls: String,
    plan: &Plan,
    progress: &Progress,
) -> Result<Report, Error> {
    let stats = runner::run(engine, plan, progress)?;
    let info = RunInfo {
        url: urls,
        engine: E::NAME,
        http_version: if spec.http2 { "HTTP/2" } else { "HTTP/1.1" },
        mode: plan.mode,
        concurrency: plan.concurrency,
        clients: plan.clients,
    };
    Ok(Report::new(info, &stats).with_bytes_sent(engine.bytes_sent()))
}

/// Resolves `auto`: hyper for plain http:// that no proxy intercepts, reqwest otherwise.
fn choose_engine(kind: EngineKind, url: &Url) -> Result<EngineKind, Error> {
    let plain_http = url.scheme() == "http";
    match kind {
        EngineKind::Hyper if !plain_http => Err(Error::Usage(format!(
            "--engine hyper speaks plain http:// only, not {}:// (use --engine reqwest or auto)",
            url.scheme()
        ))),
        EngineKind::Hyper | EngineKind::Reqwest => Ok(kind),
        EngineKind::Auto if plain_http && !proxied(url) => Ok(EngineKind::Hyper),
        EngineKind::Auto => Ok(EngineKind::Reqwest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_hyper_for_plain_http() {
        let http: Url = "http://127.0.0.1:1/".parse().unwrap();
        let https: Url = "https://127.0.0.1:1/".parse().unwrap();
        assert_eq!(
            choose_engine(EngineKind::Auto, &https).unwrap(),
            EngineKind::Reqwest
        );
        assert_eq!(
            choose_engine(EngineKind::Reqwest, &http).unwrap(),
            EngineKind::Reqwest
        );
        assert_eq!(
            choose_engine(EngineKind::Hyper, &http).unwrap(),
            EngineKind::Hyper
        );
        let err = choose_engine(EngineKind::Hyper, &https).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("plain http://"));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(ExitCode::from(Exit::Success), ExitCode::SUCCESS);
        assert_eq!(ExitCode::from(Exit::ThresholdViolated), ExitCode::from(3));
        assert_eq!(Error::Demo("x".into()).exit_code(), 1);
    }
}
