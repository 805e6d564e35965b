//! Request bodies end to end: `--body-file` and `--body-ndjson-mb` against an in-test server on
//! 127.0.0.1:0 that reads every body as a stream and checks what arrived.
//!
//! Uploads are small (a few MB) and runs bounded by `-n`, so the whole file takes about a second.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use floodgate_load::server_thread::ServerThread;
use floodgate_load::{EngineKind, LoadOpts, load};
use http_body_util::BodyExt;

/// What the server saw of one request body.
#[derive(Debug, Clone, Default, PartialEq)]
struct Upload {
    content_length: Option<u64>,
    content_type: Option<String>,
    bytes: u64,
    /// Complete lines (ending in `\n`).
    lines: u64,
    /// Lines that are a JSON object whose `id` is the line's index.
    valid_records: u64,
    /// Bytes after the last newline.
    trailing: u64,
    /// The first 1 MB of the body, to compare small bodies byte for byte.
    head: Vec<u8>,
}

type Uploads = Arc<Mutex<Vec<Upload>>>;

/// Reads the body frame by frame, never whole, and records what it saw.
async fn receive(State(uploads): State<Uploads>, headers: HeaderMap, body: Body) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut upload = Upload {
        content_length: header("content-length").and_then(|v| v.parse().ok()),
        content_type: header("content-type").map(str::to_owned),
        ..Upload::default()
    };
    let mut line = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return StatusCode::BAD_REQUEST;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        upload.bytes += data.len() as u64;
        let room = (1_000_000 - upload.head.len()).min(data.len());
        upload.head.extend_from_slice(&data[..room]);
        for &byte in data.iter() {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            let record: Option<serde_json::Value> = serde_json::from_slice(&line).ok();
            if record.is_some_and(|r| r.is_object() && r["id"] == upload.lines) {
                upload.valid_records += 1;
            }
            upload.lines += 1;
            line.clear();
        }
    }
    upload.trailing = line.len() as u64;
    uploads.lock().unwrap().push(upload);
    StatusCode::OK
}

/// The upload server on its own thread and runtime; stopped when dropped.
struct Server {
    server: ServerThread,
    uploads: Uploads,
}

impl Server {
    fn start() -> Self {
        let uploads = Uploads::default();
        let router = Router::new()
            .route("/upload", post(receive))
            .with_state(Arc::clone(&uploads));
        let server = ServerThread::start(|listener, shutdown| async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        })
        .expect("a server on 127.0.0.1:0");
        Self { server, uploads }
    }

    fn url(&self) -> String {
        self.server.url("/upload")
    }

    /// The uploads received so far, and forget them.
    fn take_uploads(&self) -> Vec<Upload> {
        std::mem::take(&mut self.uploads.lock().unwrap())
    }
}

/// `-m POST -n requests -c 2 --no-progress` with `engine`.
fn post_opts(server: &Server, engine: EngineKind, requests: u64) -> LoadOpts {
    let mut opts = LoadOpts::new(server.url().parse().unwrap());
    opts.method = axum::http::Method::POST;
    opts.engine = engine;
    opts.requests = Some(requests);
    opts.concurrency = 2;
    opts.no_progress = true;
    opts
}

#[test]
fn a_generated_ndjson_body_arrives_complete_with_both_engines() {
    let server = Server::start();
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut opts = post_opts(&server, engine, 3);
        opts.body_ndjson_mb = Some(2);
        let report = load(&opts).unwrap();
        assert_eq!(report.status_count(200), 3, "{engine:?}: {:?}", report);
        assert_eq!(report.bytes_sent, 6_000_000, "{engine:?}");
        assert!(report.upload_mb_per_s > 0.0, "{engine:?}");

        let uploads = server.take_uploads();
        assert_eq!(uploads.len(), 3, "{engine:?}");
        for upload in uploads {
            assert_eq!(upload.bytes, 2_000_000, "{engine:?}");
            assert_eq!(upload.content_length, Some(2_000_000), "{engine:?}");
            assert_eq!(
                upload.content_type.as_deref(),
                Some("application/x-ndjson"),
                "{engine:?}"
            );
            assert_eq!(upload.lines, 20_000, "{engine:?}");
            assert_eq!(upload.valid_records, 20_000, "{engine:?}");
            assert_eq!(upload.trailing, 0, "{engine:?}");
        }
    }
}

#[test]
fn a_content_type_from_the_command_line_wins() {
    let server = Server::start();
    let mut opts = post_opts(&server, EngineKind::Hyper, 1);
    opts.body_ndjson_mb = Some(1);
    opts.headers = vec![floodgate_load::cli::parse_header("Content-Type: text/plain").unwrap()];
    load(&opts).unwrap();
    let uploads = server.take_uploads();
    assert_eq!(uploads[0].content_type.as_deref(), Some("text/plain"));
    assert_eq!(uploads[0].bytes, 1_000_000);
}

#[test]
fn a_body_file_arrives_intact_with_both_engines() {
    // Every byte value, not only text, over several of hyper's write chunks.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let path = std::env::temp_dir().join(format!("floodgate-load-body-{}", std::process::id()));
    std::fs::write(&path, &content).unwrap();
    let body = floodgate_load::cli::parse_body_file(path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    let body = body.unwrap();

    let server = Server::start();
    for engine in [EngineKind::Hyper, EngineKind::Reqwest] {
        let mut opts = post_opts(&server, engine, 4);
        opts.body_file = Some(body.clone());
        let report = load(&opts).unwrap();
        assert_eq!(report.status_count(200), 4, "{engine:?}: {:?}", report);
        assert_eq!(report.bytes_sent, 4 * content.len() as u64, "{engine:?}");
        let uploads = server.take_uploads();
        assert_eq!(uploads.len(), 4, "{engine:?}");
        for upload in uploads {
            assert_eq!(upload.content_length, Some(content.len() as u64));
            assert!(
                upload.head == content,
                "{engine:?}: the body changed on the way"
            );
        }
    }
}

#[test]
fn a_run_without_a_body_sends_none() {
    let server = Server::start();
    let report = load(&post_opts(&server, EngineKind::Hyper, 2)).unwrap();
    assert_eq!(report.bytes_sent, 0);
    assert_eq!(report.upload_mb_per_s, 0.0);
    let uploads = server.take_uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads.iter().all(|u| u.bytes == 0));
}

#[test]
fn the_binary_reports_bytes_sent_and_refuses_two_bodies() {
    let server = Server::start();
    let url = server.url();
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["-m", "POST", "--body-ndjson-mb", "1", "-n", "2", "-c", "1"])
        .args(["--no-progress", "--json", "-", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["bytes_sent"], 2_000_000);
    assert!(json["upload_mb_per_s"].as_f64().unwrap() > 0.0);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("Uploaded"), "{summary}");

    let conflict = Command::new(env!("CARGO_BIN_EXE_floodgate-load"))
        .args(["--body", "x", "--body-ndjson-mb", "1", &url])
        .output()
        .unwrap();
    assert_eq!(conflict.status.code(), Some(2), "{conflict:?}");
    let message = String::from_utf8_lossy(&conflict.stderr);
    assert!(message.contains("--body-ndjson-mb"), "{message}");
    assert_eq!(server.take_uploads().len(), 2);
}
