//! `floodgate-load --report`: a short run against the demo app (which has `/metrics`) writes one
//! self-contained HTML page with its charts.

use std::process::Command;

use floodgate_demo::{App, Config};
use floodgate_load::server_thread::ServerThread;

#[test]
fn a_short_run_writes_a_self_contained_page() {
    let server = ServerThread::start(|listener, shutdown| async move {
        let app = App::new(&Config::default());
        floodgate_demo::serve(listener, app, shutdown)
            .await
            .unwrap();
    })
    .unwrap();
    let addr = server.addr();

    let page = std::env::temp_dir().join(format!("floodgate-report-{}.html", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-c", "4", "-d", "2500ms", "--no-progress", "--report"])
        .arg(&page)
        .arg(format!("http://{addr}/fast"))
        .output()
        .unwrap();
    server.stop();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Responses by outcome, success latency, and in flight/limit from the demo's /metrics.
    assert_eq!(html.matches("<svg").count(), 3, "{html}");
    assert!(html.contains("responses per second by outcome"));
    assert!(html.contains("latency of successful requests"));
    assert!(html.contains("in flight and limit"));
    assert!(html.matches("<polyline").count() >= 5, "{html}");
    // Nothing is fetched when the page opens: no script, stylesheet, image or font references,
    // and the only URLs are the SVG namespace (a name, never fetched) and the target in the text.
    for reference in [
        "src=", "href=", "url(", "@import", "<script", "<link", "https://",
    ] {
        assert!(!html.contains(reference), "{reference} in the page");
    }
    let urls = html.matches("http://").count();
    let namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    let target = html.matches(&format!("http://{addr}/fast")).count();
    assert_eq!(urls, namespaces + target, "{html}");
}
