//! End-to-end tests: the load generator against in-test axum servers on 127.0.0.1:0.
//!
//! Every run is bounded (`-n`, or a short `-d`); tolerances on rates are wide, because the
//! machine is shared and small.

use std::net::TcpListener as StdListener;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::IntoResponse;
use axum::routing::get;
use floodgate_load::server_thread::ServerThread;
use floodgate_load::{EngineKind, LoadOpts, Report, load};

/// `router` served on 127.0.0.1:0 by a thread of its own; stopped when dropped.
fn serve(router: Router) -> ServerThread {
    ServerThread::start(|listener, shutdown| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    })
    .expect("a server on 127.0.0.1:0")
}

/// A server whose `/` waits `delay` and answers 200.
fn delayed(delay: Duration) -> ServerThread {
    serve(Router::new().route(
        "/",
        get(move || async move {
            tokio::time::sleep(delay).await;
            "done"
        }),
    ))
}

fn opts(url: &str) -> LoadOpts {
    let mut opts = LoadOpts::new(url.parse().unwrap());
    opts.no_progress = true;
    opts
}

fn assert_consistent(report: &Report) {
    let responses: u64 = report.status.values().sum();
    assert_eq!(
        responses + report.errors.total(),
        report.requests,
        "{report:#?}"
    );
}

#[test]
fn closed_loop_rate_is_concurrency_over_delay_with_both_engines() {
    let server = delayed(Duration::from_millis(20));
    let mut reports = Vec::new();
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut opts = opts(&server.url("/"));
        opts.engine = engine;
        opts.concurrency = 8;
        opts.requests = Some(200);
        let report = load(&opts).unwrap();
        assert_consistent(&report);
        // 8 workers / 20 ms = 400 req/s at most; well below only on a very busy machine.
        assert!(
            (100.0..=420.0).contains(&report.rps),
            "{engine:?}: {} req/s",
            report.rps
        );
        let p50 = report.success_latency_ms.p50.unwrap();
        assert!((20.0..200.0).contains(&p50), "{engine:?}: p50 {p50} ms");
        reports.push(report);
    }
    let [hyper, reqwest] = &reports[..] else {
        unreachable!()
    };
    assert_eq!(
        (hyper.engine.as_str(), reqwest.engine.as_str()),
        ("hyper", "reqwest")
    );
    for report in &reports {
        assert_eq!(report.requests, 200);
        assert_eq!(report.status_count(200), 200);
        assert_eq!(report.errors.total(), 0);
        assert_eq!(report.aborted, 0);
    }
}

#[test]
fn duration_bounds_the_run_and_cancels_what_is_in_flight() {
    let server = delayed(Duration::from_millis(300));
    let mut opts = opts(&server.url("/"));
    opts.concurrency = 4;
    opts.duration = Some(Duration::from_millis(500));
    let report = load(&opts).unwrap();
    // Each worker finishes one request (300 ms), then its second is cut off at 500 ms.
    assert_eq!(report.requests, 4, "{report:#?}");
    assert_eq!(report.aborted, 4);
    assert!(
        (0.45..1.5).contains(&report.duration_s),
        "{}",
        report.duration_s
    );
}

/// Open loop against a server that stalls once for a second: the latency from the scheduled
/// start must show the stall in its p99, the service time must not (coordinated omission).
#[test]
fn open_loop_latency_includes_a_stall_that_service_time_hides() {
    let served = Arc::new(AtomicU64::new(0));
    let server = serve(Router::new().route(
        "/",
        get(move || {
            let served = Arc::clone(&served);
            async move {
                if served.fetch_add(1, Ordering::SeqCst) == 50 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                "ok"
            }
        }),
    ));
    let mut opts = opts(&server.url("/"));
    opts.rate = Some(200.0);
    opts.concurrency = 1;
    opts.requests = Some(400);
    let report = load(&opts).unwrap();
    assert_consistent(&report);
    assert_eq!(report.requests, 400);
    assert_eq!(report.mode, floodgate_load::ModeName::Open);
    assert_eq!(report.target_rate, Some(200.0));
    // About 200 starts were due during the stall: their latency runs from 1 s down to 0.
    let p99 = report.latency_ms.p99.unwrap();
    assert!(
        p99 >= 500.0,
        "corrected p99 {p99} ms should include the stall"
    );
    let service_p99 = report.service_time_ms.p99.unwrap();
    assert!(service_p99 < 200.0, "service-time p99 {service_p99} ms");
    assert!(report.service_time_ms.max.unwrap() >= 1000.0);
    assert!(
        report.late_starts >= 100,
        "late starts {}",
        report.late_starts
    );
}

#[test]
fn retry_after_makes_the_client_back_off() {
    let server = serve(Router::new().route(
        "/",
        get(|| async {
            let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }),
    ));
    // Closed loop: each of two workers is told to wait a second after every request.
    let mut closed = opts(&server.url("/"));
    closed.concurrency = 2;
    closed.duration = Some(Duration::from_millis(1500));
    closed.respect_retry_after = true;
    let backing_off = load(&closed).unwrap();
    assert!(
        (2..=6).contains(&backing_off.requests),
        "{}",
        backing_off.requests
    );
    assert_eq!(backing_off.rejected(), backing_off.requests);
    assert!(backing_off.rejected_latency_ms.p50.is_some());

    // Open loop, one client: starts inside its back-off window are skipped and counted as
    // deferred.
    let mut open = opts(&server.url("/"));
    open.rate = Some(100.0);
    open.duration = Some(Duration::from_millis(800));
    open.respect_retry_after = true;
    open.clients = Some(1);
    let deferred = load(&open).unwrap();
    assert!(deferred.requests <= 5, "{}", deferred.requests);
    assert!(deferred.deferred >= 60, "{}", deferred.deferred);
    assert_eq!(deferred.requests + deferred.deferred, 80);
    assert_eq!(deferred.clients, Some(1));

    // Ten clients, each due every 100 ms: each sends its first request, is told to wait a
    // second, and skips the rest of the run (unless its 503 took over 100 ms to arrive); the
    // others are not held back by it.
    open.clients = Some(10);
    let population = load(&open).unwrap();
    assert!((10..=20).contains(&population.requests), "{population:#?}");
    assert_eq!(population.requests + population.deferred, 80);
    assert_eq!(population.clients, Some(10));
    open.clients = None;

    // Without the flag the same open loop sends everything.
    open.respect_retry_after = false;
    let ignoring = load(&open).unwrap();
    assert!(ignoring.requests >= 60, "{}", ignoring.requests);
    assert_eq!(ignoring.deferred, 0);
}

#[test]
fn errors_are_classified() {
    // A port nobody listens on: every request is a connect error.
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut refused = opts(&format!("http://127.0.0.1:{port}/"));
        refused.engine = engine;
        refused.concurrency = 2;
        refused.requests = Some(6);
        let report = load(&refused).unwrap();
        assert_eq!(report.requests, 6, "{engine:?}");
        assert_eq!(report.errors.connect, 6, "{engine:?}: {:?}", report.errors);
        assert_eq!(report.success_rate, 0.0);
        assert_eq!(report.error_rate, 1.0);
    }

    let slow = delayed(Duration::from_secs(2));
    let mut timing_out = opts(&slow.url("/"));
    timing_out.concurrency = 2;
    timing_out.requests = Some(2);
    timing_out.timeout = Duration::from_millis(100);
    let report = load(&timing_out).unwrap();
    assert_eq!(report.errors.timeout, 2, "{:?}", report.errors);
    assert_consistent(&report);
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let server = serve(Router::new().route(
        "/echo",
        axum::routing::post(|headers: axum::http::HeaderMap, body: String| async move {
            let tagged = headers.get("x-test").is_some_and(|v| v == "yes");
            if tagged && body == "hello" {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            }
        }),
    ));
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut post = opts(&server.url("/echo?q=1"));
        post.engine = engine;
        post.method = axum::http::Method::POST;
        post.headers = vec![floodgate_load::cli::parse_header("X-Test: yes").unwrap()];
        post.body = Some("hello".to_owned());
        post.concurrency = 2;
        post.requests = Some(10);
        let report = load(&post).unwrap();
        assert_eq!(
            report.status_count(200),
            10,
            "{engine:?}: {:?}",
            report.status
        );
    }
}

fn floodgate_load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(args)
        .output()
        .expect("run floodgate-load")
}

#[test]
fn binary_writes_consistent_json() {
    let count = Arc::new(AtomicU64::new(0));
    let server = serve(Router::new().route(
        "/",
        get(move || {
            let count = Arc::clone(&count);
            async move {
                // Every third request is rejected.
                if count.fetch_add(1, Ordering::SeqCst) % 3 == 0 {
                    (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "1")]).into_response()
                } else {
                    "ok".into_response()
                }
            }
        }),
    ));
    let out = floodgate_load(&["-n", "30", "-c", "3", "--json", "-", &server.url("/")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for field in [
        "url",
        "engine",
        "mode",
        "target_rate",
        "duration_s",
        "requests",
        "rps",
        "status",
        "errors",
        "success_rps",
        "success_rate",
        "latency_ms",
        "success_latency_ms",
        "rejected_latency_ms",
    ] {
        assert!(json.get(field).is_some(), "missing {field}: {json}");
    }
    assert_eq!(json["requests"], 30);
    assert_eq!(json["status"]["200"], 20);
    assert_eq!(json["status"]["503"], 10);
    let statuses: u64 = json["status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let errors: u64 = json["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(statuses + errors, 30);
    assert_eq!(json["engine"], "hyper");
    assert_eq!(json["mode"], "closed");
    assert!(json["target_rate"].is_null());
    assert!((json["success_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    for stat in ["min", "mean", "p50", "p90", "p95", "p99", "p999", "max"] {
        assert!(json["rejected_latency_ms"][stat].is_number(), "{stat}");
    }
    // With `--json -` the text summary goes to stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Status codes"), "{stderr}");
}

#[test]
fn binary_exit_codes() {
    let server = delayed(Duration::ZERO);
    let url = server.url("/");
    let run = |extra: &[&str]| {
        let mut args = vec!["-n", "20", "-c", "2"];
        args.extend_from_slice(extra);
        args.push(&url);
        floodgate_load(&args)
    };

    let ok = run(&["--fail-if", "p99<10s", "--fail-if", "success_rate>=0.99"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("ok     p99<10s"), "{stdout}");

    let violated = run(&["--fail-if", "rps>10M"]);
    assert_eq!(violated.status.code(), Some(3), "{violated:?}");
    assert!(String::from_utf8_lossy(&violated.stderr).contains("rps>10M"));

    let bad_expr = run(&["--fail-if", "p99<<1ms"]);
    assert_eq!(bad_expr.status.code(), Some(2), "{bad_expr:?}");
    assert!(String::from_utf8_lossy(&bad_expr.stderr).contains("p99<<1ms"));

    let bad_count = floodgate_load(&["-n", "ten", &url]);
    assert_eq!(bad_count.status.code(), Some(2));

    let no_url = floodgate_load(&[]);
    assert_eq!(no_url.status.code(), Some(2));

    let hyper_https = floodgate_load(&["--engine", "hyper", "-n", "1", "https://127.0.0.1:1/"]);
    assert_eq!(hyper_https.status.code(), Some(2), "{hyper_https:?}");
    assert!(String::from_utf8_lossy(&hyper_https.stderr).contains("plain http://"));
}

/// A server whose `/` answers 200 and counts its requests in `count`.
fn counting(count: &Arc<AtomicU64>) -> ServerThread {
    let count = Arc::clone(count);
    serve(Router::new().route(
        "/",
        get(move || async move {
            count.fetch_add(1, Ordering::Relaxed);
            "done"
        }),
    ))
}

#[test]
fn several_urls_share_the_requests_round_robin_with_both_engines() {
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let counts: Vec<_> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let servers: Vec<_> = counts.iter().map(counting).collect();
        let mut opts = opts(&servers[0].url("/"));
        opts.urls = servers
            .iter()
            .map(|s| s.url("/").parse().unwrap())
            .collect();
        opts.engine = engine;
        opts.concurrency = 4;
        opts.requests = Some(300);
        let report = load(&opts).unwrap();
        assert_consistent(&report);
        assert_eq!(
            report.status.get("200"),
            Some(&300),
            "{engine:?}: {report:#?}"
        );
        let served: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        // One each in turn: exactly a third each.
        assert_eq!(served, [100, 100, 100], "{engine:?}");
        let urls: Vec<_> = servers.iter().map(|s| s.url("/")).collect();
        assert_eq!(report.url, urls.join(" "));
    }
}

#[test]
fn the_command_line_takes_several_urls() {
    let count = Arc::new(AtomicU64::new(0));
    let (one, two) = (counting(&count), counting(&count));
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-n", "10", "-c", "2", "--no-progress", "--json", "-"])
        .args([one.url("/"), two.url("/")])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(count.load(Ordering::Relaxed), 10);
    let bad = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-n", "1", &one.url("/"), "ftp://x/"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ftp://x/"));
}
