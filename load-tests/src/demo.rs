//! `floodgate-load demo`: the floodgate demo app, in-process, and a short story in three phases.
//!
//! The backend behind `/slow` has 8 slots held for 50 ms each, so it serves at most 160 req/s.
//! Clients give up after 2 s, as real ones do. The load is open loop, so it keeps arriving at the
//! offered rate whatever the server does:
//!
//! 1. under capacity (80 req/s), through the gate;
//! 2. four times the capacity (640 req/s), through the gate;
//! 3. the same overload against the same app without the gate.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use floodgate_demo::{App, Config, Limiter};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::engine::{HyperEngine, RequestSpec};
use crate::printer::{ms, thousands};
use crate::progress::Progress;
use crate::report::{Report, RunInfo};
use crate::runner::{self, Length, Mode, Plan};
use crate::{DemoOpts, Error, Exit, write_json_to};

/// Slots of the simulated backend.
const BACKEND_SLOTS: usize = 8;
/// How long a request holds its slot.
const WORK: Duration = Duration::from_millis(50);
/// How long an admitted request may wait in the gate's queue (the demo server's default).
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How long a client waits for its answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// One step of the story.
#[derive(Debug, Clone, Copy)]
struct Phase {
    name: &'static str,
    gated: bool,
    /// Offered load as a multiple of the backend's capacity.
    load: f64,
    length: Duration,
}

const PHASES: [Phase; 3] = [
    Phase {
        name: "under capacity",
        gated: true,
        load: 0.5,
        length: Duration::from_secs(3),
    },
    Phase {
        name: "4x capacity, with the gate",
        gated: true,
        load: 4.0,
        length: Duration::from_secs(5),
    },
    Phase {
        name: "4x capacity, no gate",
        gated: false,
        load: 4.0,
        length: Duration::from_secs(5),
    },
];

/// The backend's capacity in requests per second.
fn capacity() -> f64 {
    BACKEND_SLOTS as f64 / WORK.as_secs_f64()
}

/// A phase and what it measured, as `--json` writes it.
#[derive(Debug, Serialize)]
struct PhaseReport {
    phase: &'static str,
    limiter: &'static str,
    report: Report,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    backend_capacity_rps: f64,
    client_timeout_s: f64,
    phases: Vec<PhaseReport>,
}

/// Runs the story and prints its table.
pub(crate) fn run(opts: &DemoOpts) -> Result<Exit, Error> {
    let json_to_stdout = opts.json.as_deref() == Some(Path::new("-"));
    let mut narration = io::stderr();
    let _ = writeln!(
        narration,
        "floodgate demo: /slow holds one of {BACKEND_SLOTS} backend slots for {} ms, so the \
         backend serves at most {} req/s.\nClients give up after {} s. The load is open loop: \
         it keeps arriving at the offered rate, whatever the server does.\n",
        WORK.as_millis(),
        thousands(capacity() as u64),
        CLIENT_TIMEOUT.as_secs()
    );
    let phases = run_story(&PHASES, &mut narration, true)?;
    let _ = writeln!(narration);

    let table = |w: &mut dyn Write| -> io::Result<()> {
        let mut w = w;
        print_table(&mut w, &phases)?;
        writeln!(w)?;
        let sentence = conclusion(&phases[1].report, &phases[2].report);
        for line in wrap(&sentence, 100) {
            writeln!(w, "{line}")?;
        }
        w.flush()
    };
    let printed = if json_to_stdout {
        table(&mut io::stderr().lock())
    } else {
        table(&mut io::stdout().lock())
    };
    printed.map_err(|source| Error::Output {
        what: "the demo table".to_owned(),
        source,
    })?;
    if let Some(path) = &opts.json {
        let report = DemoReport {
            backend_capacity_rps: capacity(),
            client_timeout_s: CLIENT_TIMEOUT.as_secs_f64(),
            phases,
        };
        write_json_to(path, &report)?;
    }
    Ok(Exit::Success)
}

/// Starts the two apps, runs `phases` one after the other, telling `narration` about each, and
/// stops the apps.
fn run_story(
    phases: &[Phase],
    narration: &mut impl Write,
    progress: bool,
) -> Result<Vec<PhaseReport>, Error> {
    let servers = Servers::start()?;
    let mut reports = Vec::with_capacity(phases.len());
    for (i, phase) in phases.iter().enumerate() {
        let offered = phase.load * capacity();
        let _ = writeln!(
            narration,
            "[{}/{}] {}: {} for {} s...",
            i + 1,
            phases.len(),
            phase.name,
            per_second(offered),
            phase.length.as_secs_f64()
        );
        let addr = if phase.gated {
            servers.gated
        } else {
            servers.ungated
        };
        match run_phase(addr, offered, phase.length, progress) {
            Ok(report) => reports.push(PhaseReport {
                phase: phase.name,
                limiter: if phase.gated { "gate" } else { "none" },
                report,
            }),
            Err(err) => {
                servers.stop();
                return Err(err);
            }
        }
    }
    servers.stop();
    Ok(reports)
}

/// Open-loop load on `/slow` of the app at `addr`.
fn run_phase(
    addr: SocketAddr,
    offered: f64,
    length: Duration,
    progress: bool,
) -> Result<Report, Error> {
    let url: reqwest::Url = format!("http://{addr}/slow").parse().expect("a valid URL");
    let engine = HyperEngine::new(&RequestSpec {
        url: url.clone(),
        method: http::Method::GET,
        headers: http::HeaderMap::new(),
        body: crate::body::BodySpec::Empty,
    })?;
    let plan = Plan {
        mode: Mode::Open { rate: offered },
        // Enough that the client never holds the load back: the backlog is the server's.
        concurrency: 4096,
        length: Length::Duration(length),
        timeout: CLIENT_TIMEOUT,
        respect_retry_after: false,
        threads: None,
    };
    let progress = Progress::new(progress, plan.length);
    let stats = runner::run(&engine, &plan, &progress)?;
    Ok(Report::new(
        RunInfo {
            url: url.to_string(),
            engine: "hyper",
            mode: plan.mode,
            concurrency: plan.concurrency,
        },
        &stats,
    ))
}

fn print_table(w: &mut impl Write, phases: &[PhaseReport]) -> io::Result<()> {
    writeln!(
        w,
        "{:<28} {:>8} {:>8} {:>7} {:>9} {:>12} {:>12}",
        "phase", "offered", "goodput", "503s", "timeouts", "success p50", "success p99"
    )?;
    for PhaseReport { phase, report, .. } in phases {
        let latency = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), human_ms);
        writeln!(
            w,
            "{:<28} {:>8} {:>8} {:>7} {:>9} {:>12} {:>12}",
            phase,
            per_second(report.target_rate.unwrap_or_default()),
            per_second(report.success_rps),
            thousands(report.rejected()),
            thousands(report.errors.timeout),
            latency(report.success_latency_ms.p50),
            latency(report.success_latency_ms.p99),
        )?;
    }
    Ok(())
}

/// The one plain sentence under the table, from the two overload phases.
///
/// A number and its unit are joined by [`GLUE`], so that [`wrap`] keeps them on one line.
fn conclusion(gated: &Report, ungated: &Report) -> String {
    let p99 = |r: &Report| {
        r.success_latency_ms
            .p99
            .map_or_else(|| "-".to_owned(), |v| human_ms(v).replace(' ', GLUE))
    };
    format!(
        "With the gate, the backend kept serving {}{GLUE}req/s with a p99 of {} ({}{GLUE}ms of \
         work, at most {}{GLUE}ms in the gate's queue) and answered the excess at once with 503 \
         and Retry-After; without it, the same overload piled up in the backend, {} requests \
         timed out, and goodput fell to {}{GLUE}req/s with a p99 of {}.",
        thousands(gated.success_rps.round() as u64),
        p99(gated),
        WORK.as_millis(),
        MAX_WAIT.as_millis(),
        thousands(ungated.errors.timeout),
        thousands(ungated.success_rps.round() as u64),
        p99(ungated),
    )
}

/// A space that [`wrap`] does not break at (it prints as a plain space).
const GLUE: &str = "\u{a0}";

/// Breaks `text` into lines of at most `width` characters at plain spaces (not at [`GLUE`],
/// which becomes a plain space).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word = word.replace(GLUE, " ");
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word);
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
    }
    lines
}

/// `640/s`: whole requests per second, with separators.
fn per_second(value: f64) -> String {
    format!("{}/s", thousands(value.round() as u64))
}

/// `149 ms`, `1.99 s`.
fn human_ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else {
        format!("{} ms", ms(value))
    }
}

/// The two apps, gated and not, served on ephemeral loopback ports by one runtime thread.
#[derive(Debug)]
struct Servers {
    gated: SocketAddr,
    ungated: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Servers {
    fn start() -> Result<Self, Error> {
        let config = |limiter| Config {
            limiter,
            max_concurrency: BACKEND_SLOTS,
            backend_capacity: BACKEND_SLOTS,
            delay: WORK,
            max_wait: MAX_WAIT,
            shutdown_grace: Duration::from_millis(100),
            ..Config::default()
        };
        let bind = || {
            StdListener::bind("127.0.0.1:0")
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|err| Error::Demo(format!("cannot listen on 127.0.0.1: {err}")))
        };
        let (gated, ungated) = (bind()?, bind()?);
        let addr = |l: &StdListener| {
            l.local_addr()
                .map_err(|err| Error::Demo(format!("no local address: {err}")))
        };
        let (gated_addr, ungated_addr) = (addr(&gated)?, addr(&ungated)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| Error::Demo(format!("cannot start a runtime: {err}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let (stop_gated, gated_stopped) = oneshot::channel::<()>();
                let (stop_ungated, ungated_stopped) = oneshot::channel::<()>();
                let serve = |listener: StdListener, app: App, stopped: oneshot::Receiver<()>| {
                    tokio::spawn(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        floodgate_demo::serve(listener, app, async {
                            let _ = stopped.await;
                        })
                        .await
                    })
                };
                let servers = [
                    serve(gated, App::new(&config(Limiter::Gate)), gated_stopped),
                    serve(ungated, App::new(&config(Limiter::None)), ungated_stopped),
                ];
                let _ = stopped.await;
                let _ = (stop_gated.send(()), stop_ungated.send(()));
                for server in servers {
                    let _ = server.await;
                }
            });
            // Requests the ungated backend still holds are of no interest any more.
            runtime.shutdown_background();
        });
        Ok(Self {
            gated: gated_addr,
            ungated: ungated_addr,
            stop,
            thread,
        })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_story_fits_in_thirty_seconds() {
        let total: Duration = PHASES.iter().map(|p| p.length).sum();
        assert!(total <= Duration::from_secs(25), "{total:?}");
        assert_eq!(capacity(), 160.0);
        assert!(PHASES[1].load == PHASES[2].load && PHASES[1].gated && !PHASES[2].gated);
    }

    #[test]
    fn latencies_read_well() {
        assert_eq!(human_ms(149.3), "149 ms");
        assert_eq!(human_ms(1991.0), "1.99 s");
        assert_eq!(human_ms(51.25), "51.2 ms");
        assert_eq!(per_second(159.6), "160/s");
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("a", 5), ["a"]);
        assert_eq!(wrap("at most 100\u{a0}ms", 9), ["at most", "100 ms"]);
    }

    /// The story in short (a second per overload phase): the gate answers the excess with 503s,
    /// the ungated app queues it, so its successful requests wait far longer.
    #[test]
    fn a_short_story_shows_the_gate_at_work() {
        let short = |phase: Phase, ms| Phase {
            length: Duration::from_millis(ms),
            ..phase
        };
        let phases = [
            short(PHASES[0], 300),
            short(PHASES[1], 1000),
            short(PHASES[2], 1000),
        ];
        let mut narration = Vec::new();
        let reports = run_story(&phases, &mut narration, false).unwrap();
        let narration = String::from_utf8(narration).unwrap();
        assert!(
            narration.contains("[3/3] 4x capacity, no gate: 640/s for 1 s"),
            "{narration}"
        );

        let (under, gated, ungated) = (&reports[0].report, &reports[1].report, &reports[2].report);
        assert_eq!(under.rejected(), 0, "{under:#?}");
        assert!(gated.rejected() > 100, "{gated:#?}");
        assert_eq!(ungated.rejected(), 0, "{ungated:#?}");
        // Gated: at most max_wait (100 ms) in the queue plus 50 ms of work. Ungated: after one
        // second at 4x, the newest requests wait about 750 ms.
        let gated_p99 = gated.success_latency_ms.p99.unwrap();
        let ungated_p99 = ungated.success_latency_ms.p99.unwrap();
        assert!(
            ungated_p99 > gated_p99 * 2.0,
            "{gated_p99} ms vs {ungated_p99} ms"
        );

        let mut table = Vec::new();
        print_table(&mut table, &reports).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("4x capacity, with the gate"), "{table}");
        assert!(conclusion(gated, ungated).starts_with("With the gate, the backend kept serving"));
    }
}
