//! A server that stalls once, for a known length at a known time: the yardstick of
//! floodgate-load's accounting (BENCHMARKS.md, "Stalls").
//!
//! Run with: `cargo run --release -p floodgate-load --example stall-server -- PORT AT LEN`
//! (`AT` and `LEN` are durations such as `8.5s` and `2s`). Time counts from the first request
//! it receives; a request arriving inside `[AT, AT + LEN)` is answered at `AT + LEN`, every other
//! one at once, with `200 ok`. It listens on 127.0.0.1 only; ctrl-c stops it.

#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, at, len] = &args[..] else {
        eprintln!("usage: stall-server PORT AT LEN   (e.g. 8090 8.5s 2s)");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let duration = |text: &str| -> Duration {
        humantime::parse_duration(text).expect("a duration such as 8.5s or 500ms")
    };
    let (at, len) = (duration(at), duration(len));
    let epoch: Arc<OnceLock<Instant>> = Arc::default();
    let router = Router::new().route(
        "/",
        get(move || {
            let epoch = Arc::clone(&epoch);
            async move {
                let now = Instant::now();
                let t0 = *epoch.get_or_init(|| now);
                if (t0 + at..t0 + at + len).contains(&now) {
                    tokio::time::sleep_until(t0 + at + len).await;
                }
                "ok"
            }
        }),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind 127.0.0.1");
        eprintln!(
            "stall-server on 127.0.0.1:{port}: stalls {at:?} after the first request, for {len:?}"
        );
        axum::serve(listener, router).await.expect("serve");
    });
}
