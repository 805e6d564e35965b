//! The HTTP/1.1 and h2c server: hyper-util's auto connection builder with the limits
//! `axum::serve` does not expose, an accept loop that survives accept errors, and graceful
//! shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::ConnectInfo;
use humantime::format_duration;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::Layer;
use tracing::{debug, error, info, warn};

use crate::App;

/// The largest request head (request line and headers) accepted; larger ones are answered
/// `431 Request Header Fields Too Large` and the connection is closed.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The largest request body accepted; larger ones are answered `413 Content Too Large`.
/// `POST /ingest` streams its body and has a limit of its own, `--ingest-max-bytes`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The most requests (streams) one HTTP/2 connection may have open at once; each is admitted
/// by the gate like a request on a connection of its own.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// How long the accept loop pauses after an accept error that is not about one connection
/// (out of file descriptors, say), so that it does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully.
///
/// Each connection speaks HTTP/1.1 or, if it opens with the HTTP/2 preface, h2c (HTTP/2 with
/// prior knowledge: hyper-util's auto builder), so that gRPC clients and `floodgate-load
/// --http2` reach the same routes. The gate admits requests, so on HTTP/2 it limits streams,
/// not connections; a stream the client resets (`RST_STREAM`) while queued leaves the queue at
/// once; one connection may have at most [`MAX_CONCURRENT_STREAMS`] streams open. With the
/// hardening of the demo: an HTTP/1.1 request head must arrive within `--header-timeout` (or
/// the connection is closed), and a request head (HTTP/1.1) or header list (HTTP/2) may be at
/// most [`MAX_HEADER_BYTES`] (`431`); bodies are capped by the app at [`MAX_BODY_BYTES`]
/// (`413`; `--ingest-max-bytes` for `/ingest`); malformed requests get `400` and the connection
/// is closed, and so do HTTP/1.1 requests without a `Host` and requests with two or an invalid
/// one (RFC 9112 §3.2, which hyper leaves to the application). Accepted sockets use `TCP_NODELAY`. Accept errors are logged and never end the
/// loop. Every request carries its peer address as axum's
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), as with axum's
/// `into_make_service_with_connect_info`: the admin route
/// (`POST /admin/backend-capacity`) answers loopback peers only, and refuses requests without
/// one, such as those sent to the [`Router`](axum::Router) in-process; `--rate-key ip` keys the
/// rate limit by it.
///
/// On `shutdown`: stop accepting, [close](floodgate::Gate::close) the gates (new and queued
/// requests get `503` at once), refuse new jobs and cancel the queued ones (their ids are
/// logged), ask every connection to finish its request in flight and close, and wait for that
/// and for the running jobs at most `--shutdown-grace`; connections still open after it are
/// dropped, and jobs still running are interrupted (CPU work included: it stops within
/// microseconds) and end as `cancelled`. Returns once every connection is gone.
///
/// ```
/// use floodgate_demo::{App, Config, serve};
/// use tokio::net::TcpListener;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("http://{}/slow", listener.local_addr()?);
/// let app = App::new(&Config { max_concurrency: 4, ..Config::default() });
/// let gate = app.gate().cloned();
///
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(serve(listener, app, async {
///     stopped.await.ok();
/// }));
/// // ... send load to `url`, watch `gate.snapshot()` ...
/// stop.send(()).ok();
/// server.await.unwrap()?;
/// assert!(gate.unwrap().is_closed());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Only if the listener's local address cannot be read; everything after that is logged.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let addr = listener.local_addr()?;
    log_startup(addr, &app);

    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config().header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    // RFC 9112 §3.2's Host rule, which hyper does not enforce.
    let router = app
        .router()
        .layer(axum::middleware::from_fn(crate::host::require_host));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let limit = app.connection_limit().clone();
    // A free connection slot, taken before accepting: at `--max-connections`, the loop stops
    // accepting and the excess waits in the kernel's backlog, costing no file descriptor.
    let mut slot = None;

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Reap finished connections, so the set only holds live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            acquired = limit.acquire(), if slot.is_none() => slot = Some(acquired),
            accepted = listener.accept(), if slot.is_some() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        on_accept_error(err).await;
                        continue;
                    }
                };
                if let Err(err) = stream.set_nodelay(true) {
                    debug!(%peer, %err, "cannot set TCP_NODELAY");
                }
                let stream = slot.take().expect("accepted with a slot").wrap(stream);
                // What axum's `into_make_service_with_connect_info` does: the peer address,
                // for handlers that extract `ConnectInfo<SocketAddr>` (the admin routes) and
                // for `--rate-key ip`.
                let service = Extension(ConnectInfo(peer)).layer(router.clone());
                let service = TowerToHyperService::new(service);
                let connection = http.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    if let Err(err) = connection.await {
                        debug!(%peer, %err, "connection ended with an error");
                    }
                });
            }
        }
    }

    drop(listener);
    if let Some(gate) = app.gate() {
        gate.close();
    }
    app.ingest_gate().close();
    let grace = app.config().shutdown_grace;
    info!(
        connections = graceful.count(),
        grace = %format_duration(grace),
        "shutting down: stopped accepting, draining requests in flight"
    );
    let drained = async { tokio::join!(graceful.shutdown(), app.jobs().shutdown()) };
    match tokio::time::timeout(grace, drained).await {
        Ok(_) => info!("shutdown complete"),
        Err(_) => {
            let jobs = app.jobs().stats();
            warn!(
                connections = connections.len(),
                jobs_running = jobs.busy,
                jobs_queued = jobs.queued,
                "shutdown grace period over, dropping the connections still open and \
                 interrupting the jobs still running"
            );
            // CPU jobs run on blocking threads, which the runtime waits for when it shuts down:
            // without this, a long one would keep the process alive well past the grace.
            app.jobs().interrupt();
        }
    }
    connections.shutdown().await;
    Ok(())
}

fn log_startup(addr: SocketAddr, app: &App) {
    let config = app.config();
    info!(
        %addr,
        limiter = %config.limiter,
        max_concurrency = config.max_concurrency,
        limit_algorithm = %config.adaptive.limit_algorithm,
        queue = %config.adaptive.queue,
        rate_limit = %config.rate_limit,
        priority_header = config.classes.priority_header.as_ref().map_or("off", |h| h.as_str()),
        deadline_header = config.classes.deadline_header.as_ref().map_or("off", |h| h.as_str()),
        critical_reserve = config.classes.critical_reserve,
        release_at = %config.release_at,
        max_streams = config.max_streams,
        max_wait = %format_duration(config.max_wait),
        max_queue = config.max_queue,
        retry_after = %format_duration(config.retry_after),
        delay = %format_duration(config.delay),
        max_slow_ms = config.max_slow_ms,
        backend_capacity = config.backend_capacity,
        header_timeout = %format_duration(config.header_timeout),
        max_connections = config.max_connections,
        idle_timeout = %format_duration(config.idle_timeout),
        shutdown_grace = %format_duration(config.shutdown_grace),
        workers = config.jobs.workers,
        job_queue = config.jobs.job_queue,
        batch_size = config.ingest.batch_size,
        batch_timeout = %format_duration(config.ingest.batch_timeout),
        sink_delay = %format_duration(config.ingest.sink_delay),
        ingest_concurrency = config.ingest.concurrency,
        ingest_max_bytes = config.ingest.max_bytes,
        ingest_min_rate = config.ingest.min_rate,
        "floodgate-demo listening"
    );
}

/// Errors about one connection (it went away before we took it) are skipped; anything else
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, ...) is logged and followed by a short pause.
async fn on_accept_error(err: io::Error) {
    if is_connection_error(&err) {
        debug!(%err, "accept: connection gone before it was accepted");
        return;
    }
    error!(%err, backoff = ?ACCEPT_BACKOFF, "accept failed, retrying after a pause");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_connection_errors_skip_the_pause() {
        let error = |kind| io::Error::from(kind);
        assert!(is_connection_error(&error(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(is_connection_error(&error(io::ErrorKind::ConnectionReset)));
        // What EMFILE looks like: no specific kind, an OS error code.
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
        assert!(!is_connection_error(&error(io::ErrorKind::OutOfMemory)));
    }

    #[tokio::test(start_paused = true)]
    async fn accept_errors_pause_only_when_not_about_one_connection() {
        let start = tokio::time::Instant::now();
        on_accept_error(io::Error::from(io::ErrorKind::ConnectionReset)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        on_accept_error(io::Error::from_raw_os_error(24)).await;
        assert_eq!(start.elapsed(), ACCEPT_BACKOFF);
    }
}
