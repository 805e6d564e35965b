//! `floodgate-load scenario FILE.toml`: the demo app behind each limiter in turn, the same load
//! for each, and one table to compare them.
//!
//! For each variant the runner starts the demo app in-process on an ephemeral loopback port,
//! runs the load profile's phases (all, or those the variant names) back to back against it
//! (scraping its `/metrics` once a second), waits for the gate to drain, stops the server, and moves on to the next variant.
//! Everything runs in this one process, so the memory figures are the process's: the resident
//! set (`VmRSS`) before and after each variant and at the end of each phase, and the
//! high-water mark (`VmHWM`), which never goes down and so is the peak of all variants so far.

mod file;
mod server;
pub(crate) mod table;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

pub use self::file::{Level, Load, Phase, Scenario, ScenarioError, ServerSettings, Shape, Variant};

use self::server::{Leftover, VariantServer};
use self::table::Table;
use crate::engine::{HyperEngine, RequestSpec};
use crate::html::{self, Chart, Run};
use crate::printer::{ms, thousands};
use crate::progress::Progress;
use crate::report::{Report, RunInfo};
use crate::runner::{self, Length, Mode, Plan};
use crate::scrape::Scraper;
use crate::stats::Second;
use crate::{Error, Exit, rss};

/// Options of `floodgate-load scenario`.
#[derive(Debug, Clone, Args)]
pub struct ScenarioOpts {
    /// The scenario, a TOML file (see `load-tests/scenarios/`).
    #[arg(value_name = "FILE.toml")]
    pub file: PathBuf,

    /// Also write the markdown tables to this file.
    #[arg(long, value_name = "FILE.md")]
    pub out: Option<PathBuf>,

    /// Write a self-contained HTML page with the charts of every variant over time.
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<PathBuf>,

    /// Write every chart as a standalone SVG file into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub svg_dir: Option<PathBuf>,

    /// Write every phase's full report as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// No progress bar (there is none anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// What one phase of one variant measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PhaseResult {
    pub(crate) phase: String,
    /// Requests per second offered in open loop; `None` in closed loop.
    pub(crate) offered_rps: Option<f64>,
    /// `VmRSS` of the process when the phase ended, in bytes.
    pub(crate) rss_after: Option<u64>,
    pub(crate) report: Report,
}

/// What one variant measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VariantResult {
    pub(crate) variant: String,
    pub(crate) limiter: &'static str,
    /// The gate's queue discipline (`fifo`, `lifo`, `codel`) and limit algorithm.
    pub(crate) queue: String,
    pub(crate) limit_algorithm: &'static str,
    /// The backend's capacity on `/slow`; `None` when the load goes elsewhere.
    pub(crate) capacity_rps: Option<f64>,
    pub(crate) phases: Vec<PhaseResult>,
    /// `VmRSS` before the server started and after it stopped, in bytes.
    pub(crate) rss_before: Option<u64>,
    pub(crate) rss_after: Option<u64>,
    /// `VmHWM` after the variant: the peak of the whole process so far.
    pub(crate) peak_rss: Option<u64>,
    /// The gate's in-flight and queued count after the load stopped (and a short drain).
    pub(crate) in_flight_after: Option<usize>,
    pub(crate) queued_after: Option<usize>,
    #[serde(skip)]
    pub(crate) run: Run,
}

/// Runs the scenario in `opts.file` and writes what it asks for.
pub(crate) fn run(opts: &ScenarioOpts) -> Result<Exit, Error> {
    let scenario = Scenario::load(&opts.file).map_err(|err| Error::Usage(err.to_string()))?;
    let mut narration = io::stderr();
    let results = run_scenario(&scenario, &mut narration, !opts.no_progress)?;
    let markdown = markdown(&scenario, &results);
    let output = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Output { what, source }
    };
    io::stdout()
        .lock()
        .write_all(markdown.as_bytes())
        .map_err(output("the tables"))?;
    if let Some(path) = &opts.out {
        fs::write(path, &markdown).map_err(output(&path.display().to_string()))?;
    }
    let title = opts.file.file_stem().map_or_else(
        || "scenario".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    if let Some(path) = &opts.report {
        let page = report_page(&title, &scenario, &results);
        fs::write(path, page).map_err(output(&path.display().to_string()))?;
    }
    if let Some(dir) = &opts.svg_dir {
        write_svgs(dir, &results).map_err(output(&dir.display().to_string()))?;
    }
    if let Some(path) = &opts.json {
        crate::write_json_to(path, &results)?;
    }
    Ok(Exit::Success)
}

/// Runs every variant of `scenario` in turn, telling `narration` about each phase.
pub(crate) fn run_scenario(
    scenario: &Scenario,
    narration: &mut impl Write,
    progress: bool,
) -> Result<Vec<VariantResult>, Error> {
    let mut results = Vec::with_capacity(scenario.variants.len());
    for (i, variant) in scenario.variants.iter().enumerate() {
        let _ = writeln!(
            narration,
            "[{}/{}] {}",
            i + 1,
            scenario.variants.len(),
            variant.name
        );
        results.push(run_variant(variant, &scenario.load, narration, progress)?);
    }
    Ok(results)
}

fn run_variant(
    variant: &Variant,
    load: &Load,
    narration: &mut impl Write,
    progress: bool,
) -> Result<VariantResult, Error> {
    let rss_before = rss::current();
    let server = VariantServer::start(&variant.server.config())?;
    let url: reqwest::Url = format!("http://{}{}", server.addr, load.path)
        .parse()
        .map_err(|err| Error::Usage(format!("load.path {:?}: {err}", load.path)))?;
    let scraper = Scraper::start(&url);
    let capacity = variant.server.capacity();
    let mut phases = Vec::with_capacity(load.phases.len());
    let mut timeline = Vec::new();
    let mut failure = None;
    for phase in variant.phases_of(load) {
        let _ = writeln!(
            narration,
            "  {}: {} for {}",
            phase.name,
            describe(phase.shape, capacity),
            humantime::format_duration(phase.duration)
        );
        match run_phase(&url, phase, capacity, load.timeout, progress) {
            Ok(report) => {
                append(&mut timeline, &report.timeline, phase.duration);
                phases.push(PhaseResult {
                    phase: phase.name.clone(),
                    offered_rps: phase.shape.rate(capacity),
                    rss_after: rss::current(),
                    report,
                });
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let gauges = scraper.map(Scraper::stop).unwrap_or_default();
    // Long enough for a request admitted at the very end to finish its work.
    let left =
        server.drain(variant.server.delay + variant.server.max_wait + Duration::from_secs(2));
    server.stop();
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(VariantResult {
        variant: variant.name.clone(),
        limiter: variant.server.limiter.as_str(),
        queue: variant.server.adaptive.queue.as_str().to_owned(),
        limit_algorithm: variant.server.adaptive.limit_algorithm.as_str(),
        capacity_rps: load.path.starts_with("/slow").then_some(capacity),
        phases,
        rss_before,
        rss_after: rss::current(),
        peak_rss: rss::peak(),
        in_flight_after: left.map(|l: Leftover| l.in_flight),
        queued_after: left.map(|l| l.queued),
        run: Run {
            name: variant.name.clone(),
            timeline,
            gauges,
        },
    })
}

/// One phase against the server at `url`.
fn run_phase(
    url: &reqwest::Url,
    phase: &Phase,
    capacity: f64,
    timeout: Duration,
    progress: bool,
) -> Result<Report, Error> {
    let engine = HyperEngine::new(&RequestSpec {
        urls: vec![url.clone()],
        method: http::Method::GET,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new().into(),
        http2: false,
    })?;
    let (mode, concurrency) = match phase.shape {
        Shape::Rate { cap, .. } | Shape::TimesCapacity { cap, .. } => (
            Mode::Open {
                rate: phase.shape.rate(capacity).expect("open loop has a rate"),
                ramp_to: None,
            },
            cap,
        ),
        Shape::Ramp { cap, .. } => {
            let (from, to) = phase.shape.ramp(capacity).expect("a ramp");
            (
                Mode::Open {
                    rate: from,
                    ramp_to: Some(to),
                },
                cap,
            )
        }
        Shape::Concurrency(workers) => (Mode::Closed, workers),
    };
    let plan = Plan {
        mode,
        concurrency,
        length: Length::Duration(phase.duration),
        timeout,
        respect_retry_after: false,
        clients: None,
        threads: None,
    };
    let progress = Progress::new(progress, plan.length);
    let stats = runner::run(&engine, &plan, &progress)?;
    Ok(Report::new(
        RunInfo {
            url: url.to_string(),
            engine: "hyper",
            http_version: "HTTP/1.1",
            mode: plan.mode,
            concurrency: plan.concurrency,
            clients: plan.clients,
        },
        &stats,
    ))
}

/// Appends a phase's seconds to the variant's timeline, shifted to follow the earlier phases
/// (a phase of `length` takes that many whole seconds on the chart).
fn append(timeline: &mut Vec<Second>, phase: &[Second], length: Duration) {
    let offset = timeline.len() as u64;
    let seconds = usize::try_from(length.as_secs() + u64::from(length.subsec_nanos() > 0))
        .unwrap_or(usize::MAX);
    for second in phase.iter().take(seconds) {
        timeline.push(Second {
            t: offset + second.t,
            ..*second
        });
    }
    while timeline.len() < offset as usize + seconds {
        let t = timeline.len() as u64;
        timeline.push(Second {
            t,
            ..Second::default()
        });
    }
}

/// `640/s (4x capacity)`, `64 workers`.
fn describe(shape: Shape, capacity: f64) -> String {
    match shape {
        Shape::Concurrency(workers) => format!("closed loop, {workers} workers"),
        Shape::Ramp { .. } => {
            let (from, to) = shape.ramp(capacity).expect("a ramp");
            format!(
                "ramp from {} to {} ({:.2}x to {:.2}x capacity)",
                per_second(from),
                per_second(to),
                from / capacity,
                to / capacity
            )
        }
        open => {
            let rate = open.rate(capacity).unwrap_or_default();
            format!("{} ({:.2}x capacity)", per_second(rate), rate / capacity)
        }
    }
}

/// `640/s`.
pub(crate) fn per_second(value: f64) -> String {
    format!("{}/s", thousands(value.round() as u64))
}

/// `51.2 ms`, `1.99 s`, `-`.
pub(crate) fn latency(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) => format!("{} ms", ms(v)),
        None => "-".to_owned(),
    }
}

/// A column of the results table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Variant,
    Phase,
    Offered,
    Goodput,
    GoodputPerCapacity,
    Rejected,
    Errors,
    Timeouts,
    SuccessP50,
    SuccessP95,
    SuccessP99,
    SuccessMax,
    /// The median latency of 503 and 429 answers: how soon the excess hears "no".
    RejectedP50,
    RssAfter,
}

impl Column {
    fn header(self) -> &'static str {
        match self {
            Column::Variant => "variant",
            Column::Phase => "phase",
            Column::Offered => "offered",
            Column::Goodput => "goodput",
            Column::GoodputPerCapacity => "goodput/capacity",
            Column::Rejected => "503/429",
            Column::Errors => "errors",
            Column::Timeouts => "timeouts",
            Column::SuccessP50 => "success p50",
            Column::SuccessP95 => "success p95",
            Column::SuccessP99 => "success p99",
            Column::SuccessMax => "success max",
            Column::RejectedP50 => "503/429 p50",
            Column::RssAfter => "RSS after",
        }
    }

    fn cell(self, result: &VariantResult, phase: &PhaseResult) -> String {
        let r = &phase.report;
        match self {
            Column::Variant => result.variant.clone(),
            Column::Phase => phase.phase.clone(),
            Column::Offered => match (r.ramp, phase.offered_rps) {
                (Some(ramp), _) => format!("{} to {}", per_second(ramp.from), per_second(ramp.to)),
                (None, Some(rate)) => per_second(rate),
                (None, None) => format!("{} workers", r.concurrency),
            },
            Column::Goodput => per_second(r.success_rps),
            Column::GoodputPerCapacity => result
                .capacity_rps
                .map_or_else(|| "-".to_owned(), |c| format!("{:.2}", r.success_rps / c)),
            Column::Rejected => thousands(r.rejected()),
            Column::Errors => thousands(r.errors.total()),
            Column::Timeouts => thousands(r.errors.timeout),
            Column::SuccessP50 => latency(r.success_latency_ms.p50),
            Column::SuccessP95 => latency(r.success_latency_ms.p95),
            Column::SuccessP99 => latency(r.success_latency_ms.p99),
            Column::SuccessMax => latency(r.success_latency_ms.max),
            Column::RejectedP50 => latency(r.rejected_latency_ms.p50),
            Column::RssAfter => rss::mib(phase.rss_after),
        }
    }
}

/// The columns of `floodgate-load scenario`'s results table.
pub(crate) const SCENARIO_COLUMNS: &[Column] = &[
    Column::Variant,
    Column::Phase,
    Column::Offered,
    Column::Goodput,
    Column::GoodputPerCapacity,
    Column::Rejected,
    Column::Errors,
    Column::SuccessP50,
    Column::SuccessP95,
    Column::SuccessP99,
    Column::SuccessMax,
    Column::RssAfter,
];

/// The results table: a row per variant and phase, with `columns`.
pub(crate) fn results_table(results: &[VariantResult], columns: &[Column]) -> Table {
    let rows = results
        .iter()
        .flat_map(|result| {
            result
                .phases
                .iter()
                .map(|phase| columns.iter().map(|c| c.cell(result, phase)).collect())
        })
        .collect();
    Table {
        header: columns.iter().map(|c| c.header().to_owned()).collect(),
        rows,
    }
}

/// Memory and leftovers per variant.
fn memory_table(results: &[VariantResult]) -> Table {
    let header = [
        "variant",
        "RSS before",
        "RSS after",
        "RSS growth",
        "peak RSS so far (VmHWM)",
        "in flight / queued after the load",
    ];
    let rows = results
        .iter()
        .map(|r| {
            let growth = match (r.rss_before, r.rss_after) {
                (Some(before), Some(after)) => {
                    let delta = after as f64 - before as f64;
                    format!("{:+.1} MiB", delta / (1024.0 * 1024.0))
                }
                _ => "-".to_owned(),
            };
            let left = match (r.in_flight_after, r.queued_after) {
                (Some(in_flight), Some(queued)) => format!("{in_flight} / {queued}"),
                _ => "- (no gate)".to_owned(),
            };
            vec![
                r.variant.clone(),
                rss::mib(r.rss_before),
                rss::mib(r.rss_after),
                growth,
                rss::mib(r.peak_rss),
                left,
            ]
        })
        .collect();
    Table {
        header: header.map(str::to_owned).to_vec(),
        rows,
    }
}

/// The note under the tables: what the capacity is and what the memory figures mean.
fn notes(results: &[VariantResult]) -> String {
    let mut capacities: Vec<String> = results
        .iter()
        .filter_map(|r| r.capacity_rps.map(per_second))
        .collect();
    capacities.dedup();
    let capacity = if capacities.is_empty() {
        "Capacity (backend slots / delay) applies to /slow only. ".to_owned()
    } else {
        format!(
            "Capacity of /slow (backend slots / delay): {}. ",
            capacities.join(", ")
        )
    };
    format!(
        "{capacity}Goodput: 2xx per second. Latencies from the \
         scheduled start in open loop. Memory is the whole load-generator process (client and \
         in-process server): RSS is VmRSS, the peak is VmHWM, which only grows, so it is the peak \
         of every variant run so far.\n"
    )
}

/// Both tables and the note, in markdown.
fn markdown(scenario: &Scenario, results: &[VariantResult]) -> String {
    let mut out = String::new();
    if !scenario.description.is_empty() {
        out.push_str(&scenario.description);
        out.push_str("\n\n");
    }
    out.push_str(&results_table(results, SCENARIO_COLUMNS).markdown());
    out.push('\n');
    out.push_str(&memory_table(results).markdown());
    out.push('\n');
    out.push_str(&notes(results));
    out
}

/// The HTML page: tables, then charts comparing the variants, then each variant's charts.
fn report_page(title: &str, scenario: &Scenario, results: &[VariantResult]) -> String {
    let runs: Vec<Run> = results.iter().map(|r| r.run.clone()).collect();
    let intro = format!(
        "<p>{}</p>\n{}\n{}\n<p>{}</p>",
        crate::chart::escape(&scenario.description),
        results_table(results, SCENARIO_COLUMNS).html(),
        memory_table(results).html(),
        crate::chart::escape(&notes(results))
    );
    let mut sections = vec![("All variants".to_owned(), html::comparison_charts(&runs))];
    sections.extend(runs.iter().map(|r| (r.name.clone(), html::run_charts(r))));
    html::page(
        &format!("floodgate-load scenario: {title}"),
        &intro,
        &sections,
    )
}

/// Every chart of the report as `DIR/<name>.svg`.
fn write_svgs(dir: &Path, results: &[VariantResult]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let runs: Vec<Run> = results.iter().map(|r| r.run.clone()).collect();
    let mut charts: Vec<Chart> = html::comparison_charts(&runs);
    for run in &runs {
        charts.extend(html::run_charts(run));
    }
    for chart in charts {
        fs::write(dir.join(format!("{}.svg", chart.stem)), chart.svg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
