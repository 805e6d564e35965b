//! The load generator against a server that stalls for a known length at a known time: nothing
//! may be dropped at the edges, and a stall may not hide.
//!
//! The stall server's window opens at a known request (in open loop the schedule says when it is
//! due: request 300 at 200/s is due 1.5 s in) or a known time after its first request (closed
//! loop); a request that arrives inside the window is answered when the window ends, every other
//! one at once. Runs are bounded by `-d` (at most 3 s); the assertions count what the schedule
//! makes exact (starts due, slots stuck) and give timing figures wide margins.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use floodgate_load::server_thread::ServerThread;
use floodgate_load::{EngineKind, LoadOpts, Report, Threshold, load};
use tokio::time::Instant;

/// A stall of `len`, beginning when `from` says.
#[derive(Debug, Clone, Copy)]
struct Stall {
    from: From,
    len: Duration,
}

/// When a stall begins.
#[derive(Debug, Clone, Copy)]
enum From {
    /// This long after the first request arrived.
    Time(Duration),
    /// When request number `n` (counting from 0) arrives.
    Request(u64),
}

/// A server on 127.0.0.1:0 whose `/` stalls as `stall` says and answers 200 otherwise.
fn stall_server(stall: Stall) -> ServerThread {
    let epoch: Arc<OnceLock<Instant>> = Arc::default();
    let window: Arc<OnceLock<(Instant, Instant)>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let router = Router::new().route(
        "/",
        get(move || {
            let (epoch, window, count) =
                (Arc::clone(&epoch), Arc::clone(&window), Arc::clone(&count));
            async move {
                let now = Instant::now();
                let t0 = *epoch.get_or_init(|| now);
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (from, until) = match stall.from {
                    From::Time(at) => (t0 + at, t0 + at + stall.len),
                    From::Request(at) if n == at => *window.get_or_init(|| (now, now + stall.len)),
                    From::Request(_) => window.get().copied().unwrap_or((now, now)),
                };
                if (from..until).contains(&now) {
                    tokio::time::sleep_until(until).await;
                }
                "ok"
            }
        }),
    );
    ServerThread::start(|listener, shutdown| async move {
        // No graceful shutdown: requests still stalled are dropped with the runtime.
        tokio::select! {
            result = axum::serve(listener, router) => result.unwrap(),
            () = shutdown => {}
        }
    })
    .expect("a server on 127.0.0.1:0")
}

fn opts(server: &ServerThread) -> LoadOpts {
    let mut opts = LoadOpts::new(server.url("/").parse().unwrap());
    opts.no_progress = true;
    opts
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `-r 200 -c 20 -d 2s`, and the server stalls from request 300 (due at 1.5 s) to past the end:
/// 400 starts are due;
/// about 300 are answered at once, 20 fill the slots in the first 100 ms of the stall and are
/// still in flight at the end (aborted), and the 80 due after that are never sent (missed).
fn end_of_run_stall() -> (ServerThread, LoadOpts) {
    let server = stall_server(Stall {
        from: From::Request(300),
        len: ms(2000),
    });
    let mut opts = opts(&server);
    opts.rate = Some(200.0);
    opts.concurrency = 20;
    opts.duration = Some(ms(2000));
    (server, opts)
}

#[track_caller]
fn check(report: &Report, expr: &str) -> bool {
    expr.parse::<Threshold>().unwrap().check(report).passed
}

#[test]
fn every_due_start_is_sent_or_missed_and_unfinished_ones_count_as_lower_bounds() {
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let (_server, mut opts) = end_of_run_stall();
        opts.engine = engine;
        let report = load(&opts).unwrap();
        assert_eq!(report.engine, format!("{engine:?}").to_lowercase());
        end_of_run_stall_is_accounted_for(&report);
    }
}

fn end_of_run_stall_is_accounted_for(report: &Report) {
    // Every one of the 400 due starts is accounted for, exactly.
    assert_eq!(
        report.requests + report.aborted + report.missed + report.deferred,
        400,
        "{report:#?}"
    );
    // Requests 0 to 299 are answered, 300 to 319 take the 20 slots and stay in the stall, and
    // the 80 due after them find no slot before the end.
    assert_eq!(report.requests, 300);
    assert_eq!(report.aborted, 20, "the 20 slots stuck in the stall");
    assert_eq!(report.missed, 80);
    // A missed start lagged by up to the stall's 0.5 s inside the run (less if the stall began
    // a little late on a busy machine: the server's clock starts at its first request).
    assert!(
        (150.0..=800.0).contains(&report.max_start_lag_ms),
        "{}",
        report.max_start_lag_ms
    );
    // The unfinished requests' lower bounds: end - scheduled start, 0 to 0.5 s.
    let unfinished = report.unfinished_latency_ms;
    assert!(
        (200.0..=600.0).contains(&unfinished.max.unwrap()),
        "{unfinished:?}"
    );
    // About a quarter of the due starts never finished: p99 is theirs, not a fast response's.
    let p99 = report.latency_ms.p99.unwrap();
    assert!((200.0..=600.0).contains(&p99), "p99 {p99} ms");
    assert!(report.success_latency_ms.p99.unwrap() < 300.0);
    assert!(!check(report, "p99<50ms"));
    assert!(!check(report, "missed<1"));
    assert!(!check(report, "aborted<1"));
    assert!(check(report, "missed>=40"));
    assert!(!check(report, "achieved_rate>=190"));
    // The throughput shows the stall, up to the end of the run (no warning: open loop counts it).
    let stall = report.stall.expect("a stall");
    assert!((1.4..=1.9).contains(&stall.at_s), "{stall:?}");
    assert!((0.1..=0.6).contains(&stall.length_s), "{stall:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // The achieved rate counts sent starts only: about 320 of 400 in 2 s.
    let achieved = report.achieved_rate.unwrap();
    assert!((120.0..=180.0).contains(&achieved), "{achieved}");
}

#[test]
fn the_binary_shows_missed_and_aborted_and_fails_on_them() {
    let (server, _) = end_of_run_stall();
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-r", "200", "-c", "20", "-d", "2s", "--no-progress"])
        .args(["--fail-if", "p99<50ms", "--json", "-"])
        .arg(server.url("/"))
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{summary}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let count = |field: &str| json[field].as_u64().unwrap();
    assert_eq!(count("aborted"), 20, "{json}");
    assert!(count("missed") >= 40, "{json}");
    assert_eq!(
        count("requests") + count("aborted") + count("missed") + count("deferred"),
        400
    );
    assert!(json["unfinished_latency_ms"]["max"].as_f64().unwrap() >= 200.0);
    assert!(json["achieved_rate"].is_number());
    for line in [
        "Missed",
        "Aborted",
        "unfinished",
        "lower bound",
        "FAILED p99<50ms",
    ] {
        assert!(summary.contains(line), "{line:?} missing:\n{summary}");
    }
}

/// `-c 10 -d 3s`, the server stalls from 1 s to 2 s: the ten workers wait in the stall instead
/// of sending, so the plain latencies hold ten slow requests among thousands; the corrected
/// view (wrk's) and the warning tell the truth, about 1 s for a third of the run.
#[test]
fn a_closed_loop_stall_is_corrected_and_warned_about() {
    let server = stall_server(Stall {
        from: From::Time(ms(1000)),
        len: ms(1000),
    });
    let mut closed = opts(&server);
    closed.concurrency = 10;
    closed.duration = Some(ms(3000));
    let report = load(&closed).unwrap();

    assert!(report.requests > 1000, "{}", report.requests);
    let stall = report.stall.expect("the stall is found");
    assert!((0.9..=1.5).contains(&stall.at_s), "{stall:?}");
    assert!((0.5..=1.2).contains(&stall.length_s), "{stall:?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("coordinated omission")),
        "{:?}",
        report.warnings
    );
    // Ten requests of about a second among thousands: invisible at p99, visible at the max.
    let plain = report.latency_ms;
    assert!(plain.p99.unwrap() < 300.0, "{plain:?}");
    assert!(plain.max.unwrap() >= 900.0, "{plain:?}");
    let corrected = report
        .corrected_latency_ms
        .expect("closed loop is corrected");
    assert!(
        (400.0..=1200.0).contains(&corrected.p99.unwrap()),
        "{corrected:?}"
    );
    assert!(report.expected_interval_ms.unwrap() > 0.0);
    assert!(!check(&report, "corrected_p99<300ms"));
    assert!(check(&report, "p99<300ms"));

    // The binary prints the corrected row and the warning.
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-c", "10", "-d", "3s", "--no-progress"])
        .arg(server.url("/"))
        .output()
        .unwrap();
    // The server's stall window has passed: this run does not stall.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("    corrected"), "{stdout}");
    assert!(stdout.contains("expected interval"), "{stdout}");
    assert!(!stdout.contains("Warning"), "{stdout}");
}

/// The same closed loop without a stall: no warning (a busy machine may pause the client for a
/// tick or two, never for the half second a warning takes).
#[test]
fn a_steady_closed_loop_has_no_stall() {
    let server = stall_server(Stall {
        from: From::Time(ms(60_000)),
        len: ms(1000),
    });
    let mut closed = opts(&server);
    closed.concurrency = 4;
    closed.duration = Some(ms(1000));
    let report = load(&closed).unwrap();
    assert!(
        report.stall.is_none_or(|s| s.length_s < 0.5),
        "{:?}",
        report.timeline
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let corrected = report.corrected_latency_ms.unwrap();
    assert!(corrected.p99.unwrap() < 500.0, "{corrected:?}");
}
