//! A server per test, in-process or as a child process, and small client helpers.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floodgate::Gate;
use floodgate_demo::{App, Config, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any wait for a condition may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The demo app served in-process on an ephemeral loopback port; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    gate: Option<Gate>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::new(&config);
        let gate = app.gate().cloned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, async {
            stopped.await.ok();
        }));
        Self {
            addr,
            gate,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn gate(&self) -> &Gate {
        self.gate.as_ref().expect("the server has a gate")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        self.task.abort();
    }
}

/// A plain HTTP/1.1 client that does not follow proxies from the environment.
pub fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// A client builder that ignores proxies from the environment.
///
/// In a workspace test run, cargo unifies features: the load generator turns on reqwest's
/// `rustls-no-provider`, and reqwest then refuses to build a client until a rustls crypto
/// provider is installed, even for plain `http://`. So install one first.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy()
}

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `/metrics` as a map from series (`name{labels}`, as rendered) to value.
pub async fn scrape(client: &reqwest::Client, base: &str) -> HashMap<String, f64> {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    parse_metrics(&text)
}

pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line:?}"));
            (series.to_owned(), value)
        })
        .collect()
}

/// The sum of every series of metric `name` whose labels include each of `labels` (so that a
/// series split by `class` adds up to the gate's total), and how many series that was.
pub fn sum(metrics: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> (f64, usize) {
    let wanted: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{value}\""))
        .collect();
    metrics
        .iter()
        .filter(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            let series_labels: Vec<&str> = series_labels.trim_end_matches('}').split(',').collect();
            series_name == name
                && wanted
                    .iter()
                    .all(|label| series_labels.contains(&label.as_str()))
        })
        .fold((0.0, 0), |(total, count), (_, value)| {
            (total + value, count + 1)
        })
}

/// Writes `request` on a fresh connection and reads until the server closes it (or
/// [`PATIENCE`] passes): everything the server answered.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    // A reset after the answer is fine: the server may close without reading everything.
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The `floodgate-demo` binary, running; killed on drop if it is still running.
pub struct DemoProcess {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl DemoProcess {
    /// Starts the binary on `127.0.0.1:0` with `args`, and waits for its startup line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// [`DemoProcess::start`], with `env` set in the process's environment.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(demo_command(), args, env)
    }

    /// [`DemoProcess::start`], with the process's file descriptor limit (`RLIMIT_NOFILE`) set
    /// to `max_files` (by sh's `ulimit`, which then `exec`s the binary: same pid).
    pub fn start_with_fd_limit(args: &[&str], max_files: u32) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"ulimit -n "$0" && exec "$@""#)
            .arg(max_files.to_string())
            .arg(env!("CARGO_BIN_EXE_floodgate-demo"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("FLOODGATE_") {
                command.env_remove(name);
            }
        }
        Self::spawn(command, args, &[])
    }

    fn spawn(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the demo binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        // Keeps draining stderr, so the child never blocks on a full pipe.
        std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let startup = line
                        .contains("floodgate-demo listening")
                        .then(|| listen_address(&line));
                    // Logged before `start` returns, so callers find the startup line.
                    log.lock().unwrap().push(line);
                    if let Some(addr) = startup {
                        addr_tx.send(addr).ok();
                    }
                }
            }
        });
        let mut process = Self {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            log,
        };
        process.addr = addr_rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no startup line; log: {:?}", process.log()));
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the process to exit, at most [`PATIENCE`].
    pub async fn exit_status(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the demo did not exit; log: {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// The demo binary, with no `FLOODGATE_*` variables inherited from the test's environment.
pub fn demo_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_floodgate-demo"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FLOODGATE_") {
            command.env_remove(name);
        }
    }
    command
}

/// Sends `signal` (e.g. `TERM`) to `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// The `addr=` field of the startup line.
fn listen_address(line: &str) -> SocketAddr {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no addr= in {line:?}"))
}
