//! The binary: graceful shutdown on SIGTERM, exit codes for bad flags.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{
    DemoProcess, PATIENCE, client, demo_command, eventually, scrape, send_signal,
};

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_0() {
    let mut demo = DemoProcess::start(&[
        "--max-concurrency",
        "4",
        "--delay",
        "800ms",
        "--shutdown-grace",
        "10s",
    ]);
    let client = client();
    let in_flight: Vec<_> = (0..4)
        .map(|_| tokio::spawn(client.get(demo.url("/slow")).send()))
        .collect();
    let base = demo.url("");
    eventually("four requests are in flight", || {
        let (client, base) = (client.clone(), base.clone());
        async move { scrape(&client, &base).await[r#"floodgate_in_flight{gate="default"}"#] == 4.0 }
    })
    .await;

    send_signal(demo.pid(), "TERM");
    eventually("the demo is shutting down", || {
        let log = demo.log();
        async move { log.iter().any(|line| line.contains("shutting down")) }
    })
    .await;

    // A new request is refused: no connection, or 503 with Retry-After.
    match client.get(demo.url("/fast")).send().await {
        Err(err) => assert!(err.is_connect() || err.is_request(), "{err}"),
        Ok(response) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
    }

    for request in in_flight {
        let response = request
            .await
            .unwrap()
            .expect("requests in flight are answered");
        assert_eq!(response.status(), 200);
    }
    let status = demo.exit_status().await;
    assert_eq!(status.code(), Some(0), "log: {:?}", demo.log());
}

/// Waits until the demo's `/jobs` pool has `busy` workers running a job.
async fn wait_for_busy_workers(demo: &DemoProcess, client: &reqwest::Client, busy: f64) {
    let base = demo.url("");
    eventually("the jobs run", || {
        let (client, base) = (client.clone(), base.clone());
        async move { scrape(&client, &base).await["floodgate_demo_jobs_workers_busy"] == busy }
    })
    .await;
}

#[tokio::test]
async fn sigterm_with_a_cpu_job_running_exits_within_the_grace() {
    // A CPU job runs on a blocking thread, which the runtime's drop would wait for: 9 s here.
    let mut demo = DemoProcess::start(&["--workers", "1", "--shutdown-grace", "2s"]);
    let client = client();
    let response = client
        .post(demo.url("/jobs?work=cpu&ms=9000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for_busy_workers(&demo, &client, 1.0).await;

    let start = Instant::now();
    send_signal(demo.pid(), "TERM");
    let status = demo.exit_status().await;
    let took = start.elapsed();
    eprintln!("exit {took:?} after SIGTERM, with a 9 s CPU job running and a 2 s grace");
    assert_eq!(status.code(), Some(0), "log: {:?}", demo.log());
    assert!(
        took >= Duration::from_secs(2),
        "the grace was not waited for: {took:?}"
    );
    // Generous: the grace, plus the interrupt and the exit on a busy machine.
    assert!(
        took < Duration::from_secs(6),
        "exit took {took:?}; log: {:?}",
        demo.log()
    );
    eventually("the interrupt is logged", || {
        let log = demo.log();
        async move {
            log.iter()
                .any(|line| line.contains("interrupting the jobs still running"))
        }
    })
    .await;
}

#[tokio::test]
async fn a_second_signal_during_the_drain_exits_at_once() {
    let mut demo = DemoProcess::start(&["--workers", "1", "--shutdown-grace", "60s"]);
    let client = client();
    // Both would hold the drain for the whole grace: a request in flight, and a CPU job.
    let slow = tokio::spawn(client.get(demo.url("/slow?ms=60000")).send());
    let response = client
        .post(demo.url("/jobs?work=cpu&ms=30000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for_busy_workers(&demo, &client, 1.0).await;
    let base = demo.url("");
    eventually("the request is in flight", || {
        let (client, base) = (client.clone(), base.clone());
        async move { scrape(&client, &base).await[r#"floodgate_in_flight{gate="default"}"#] == 1.0 }
    })
    .await;

    send_signal(demo.pid(), "TERM");
    eventually("the demo is draining", || {
        let log = demo.log();
        async move { log.iter().any(|line| line.contains("shutting down")) }
    })
    .await;
    let start = Instant::now();
    send_signal(demo.pid(), "INT");
    let status = demo.exit_status().await;
    let took = start.elapsed();
    eprintln!("exit {took:?} after the second signal");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert_eq!(status.code(), Some(1), "log: {:?}", demo.log());
    slow.abort();
}

/// Runs the binary to completion (killed after [`PATIENCE`]): its exit code and stderr.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = demo_command()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("{args:?} {env:?}: still running");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    // A valid --addr first, so that an invocation parsed by mistake would not take port 8080.
    let flags = [
        (&["--max-concurrency", "0"][..], "--max-concurrency"),
        (&["--max-wait", "banana"], "--max-wait"),
        (&["--addr", "nowhere"], "--addr"),
        (&["--limiter", "nginx"], "--limiter"),
        (&["--delay", "1000h"], "--delay"),
        (&["--workers", "0"], "--workers"),
        (&["--ingest-max-bytes", "lots"], "--ingest-max-bytes"),
        (&["--ingest-min-rate", "0"], "--ingest-min-rate"),
        (&["--max-slow-ms", "60001"], "--max-slow-ms"),
    ];
    for (args, flag) in flags {
        let args = [&["--addr", "127.0.0.1:0"], args].concat();
        let (code, stderr) = run_to_exit(&args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    let env = [("FLOODGATE_MAX_CONCURRENCY", "0")];
    let (code, stderr) = run_to_exit(&["--addr", "127.0.0.1:0"], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--max-concurrency"), "{stderr}");
}

#[tokio::test]
async fn healthcheck_exits_0_on_a_healthy_server_and_1_without_one() {
    let demo = DemoProcess::start(&[]);
    let addr = demo.addr.to_string();
    let port = demo.addr.port().to_string();

    // As in the container: the listen address from the environment, unspecified host.
    let listen_all = format!("0.0.0.0:{port}");
    let (code, stderr) = run_to_exit(&["healthcheck"], &[("FLOODGATE_ADDR", &listen_all)]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = run_to_exit(&["--addr", &addr, "healthcheck"], &[]);
    assert_eq!(code, Some(0), "{stderr}");

    drop(demo);
    let (code, stderr) = run_to_exit(&["--addr", &addr, "healthcheck"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
}
