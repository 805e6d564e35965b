//! Adaptive limits and queue disciplines on a real socket: the limit backs off under sustained
//! overload, the admin route resizes the backend, the flags reach the binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use floodgate_demo::{AdaptiveConfig, Algorithm, Config};

use crate::process::run_to_exit;
use crate::support::{DemoProcess, TestServer, client, scrape};

/// How long the limit may take to back off: AIMD needs four round trips of about 125 ms.
const BACK_OFF_WITHIN: Duration = Duration::from_secs(3);
/// Scrapes, 50 ms apart, while the limit must stay near the capacity.
const SETTLED_SAMPLES: usize = 12;

/// Closed-loop clients hammering `url` until the returned flag is set (or the test ends).
fn hammer(client: &reqwest::Client, url: String, clients: usize) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..clients {
        let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = client.get(&url).send().await;
            }
        });
    }
    stop
}

/// AIMD with a ceiling of 256 in front of 8 slots of 50 ms: it starts at 20, and under
/// sustained overload requests beyond the 8 slots wait a round in the backend, take longer
/// than the timeout (75 ms), and the limit backs off towards the capacity, and stays near it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptive_limit_backs_off_towards_the_backend_capacity() {
    let server = TestServer::start(Config {
        max_concurrency: 256,
        backend_capacity: 8,
        delay: Duration::from_millis(50),
        adaptive: AdaptiveConfig {
            limit_algorithm: Algorithm::Aimd,
            ..AdaptiveConfig::default()
        },
        ..Config::default()
    })
    .await;
    let client = client();
    let base = server.url("");
    assert_eq!(
        scrape(&client, &base).await[r#"floodgate_limit{gate="default"}"#],
        20.0
    );
    assert!(server.gate().snapshot().adaptive);

    let stop = hammer(&client, server.url("/slow"), 48);
    let start = tokio::time::Instant::now();
    let mut limits = Vec::new();
    let backed_off = loop {
        let limit = scrape(&client, &base).await[r#"floodgate_limit{gate="default"}"#];
        limits.push(limit);
        if limit <= 12.0 {
            break true;
        }
        if start.elapsed() > BACK_OFF_WITHIN {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(backed_off, "the limit stayed high: {limits:?}");

    // It stays near the capacity: one more per round trip, a backoff as soon as requests
    // queue in the backend for longer than the timeout.
    let mut settled = Vec::new();
    for _ in 0..SETTLED_SAMPLES {
        tokio::time::sleep(Duration::from_millis(50)).await;
        settled.push(scrape(&client, &base).await[r#"floodgate_limit{gate="default"}"#]);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        settled.iter().all(|&limit| (1.0..=16.0).contains(&limit)),
        "the limit did not stay near the capacity: {limits:?} then {settled:?}"
    );
}

#[tokio::test]
async fn the_admin_route_resizes_the_backend_for_loopback_clients() {
    let server = TestServer::start(Config {
        backend_capacity: 4,
        ..Config::default()
    })
    .await;
    let client = client();
    let base = server.url("");
    assert_eq!(
        scrape(&client, &base).await["floodgate_demo_backend_capacity"],
        4.0
    );

    let response = client
        .post(server.url("/admin/backend-capacity?slots=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"capacity":2,"previous":4}"#
    );
    assert_eq!(
        scrape(&client, &base).await["floodgate_demo_backend_capacity"],
        2.0
    );

    let response = client
        .post(server.url("/admin/backend-capacity?slots=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Not behind the gate: it does not count as admitted.
    assert_eq!(server.gate().snapshot().admitted, 0);
}

/// The startup line of `demo`.
fn startup_line(demo: &DemoProcess) -> String {
    demo.log()
        .into_iter()
        .find(|line| line.contains("floodgate-demo listening"))
        .expect("a startup line")
}

#[tokio::test]
async fn the_binary_takes_the_algorithm_and_queue_from_flags_or_environment() {
    let demo = DemoProcess::start(&["--limit-algorithm", "gradient2", "--queue", "lifo"]);
    let startup = startup_line(&demo);
    assert!(startup.contains("limit_algorithm=gradient2"), "{startup}");
    assert!(startup.contains("queue=lifo"), "{startup}");
    let metrics = scrape(&client(), &demo.url("")).await;
    assert_eq!(
        metrics[r#"floodgate_limit{gate="default"}"#], 20.0,
        "min(20, 64)"
    );
    drop(demo);

    let env = [
        ("FLOODGATE_LIMIT_ALGORITHM", "vegas"),
        ("FLOODGATE_QUEUE", "codel"),
        ("FLOODGATE_MAX_CONCURRENCY", "8"),
    ];
    let demo = DemoProcess::start_with_env(&[], &env);
    let startup = startup_line(&demo);
    assert!(startup.contains("limit_algorithm=vegas"), "{startup}");
    assert!(startup.contains("queue=codel"), "{startup}");
    let metrics = scrape(&client(), &demo.url("")).await;
    assert_eq!(
        metrics[r#"floodgate_limit{gate="default"}"#], 8.0,
        "min(20, 8)"
    );
}

#[test]
fn bad_algorithms_and_queues_exit_2_naming_the_flag() {
    let listen = ["--addr", "127.0.0.1:0"];
    for (args, env, flag) in [
        (&["--limit-algorithm", "bbr"][..], None, "--limit-algorithm"),
        (&["--queue", "random"], None, "--queue"),
        (&["--aimd-timeout", "0s"], None, "--aimd-timeout"),
        (
            &[],
            Some(("FLOODGATE_LIMIT_ALGORITHM", "bbr")),
            "--limit-algorithm",
        ),
        (&[], Some(("FLOODGATE_QUEUE", "random")), "--queue"),
    ] {
        let args = [&listen[..], args].concat();
        let env: Vec<_> = env.into_iter().collect();
        let (code, stderr) = run_to_exit(&args, &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
