//! A server on a thread of its own with its own tokio runtime, listening on an ephemeral loopback
//! port: how `demo` and `scenario` run the demo app in-process, and how the tests run theirs.
//!
//! The load generator's runner threads have runtimes of their own, so the server must not share
//! one with them; a thread with its own multi-threaded runtime keeps the two apart.
//!
//! ```
//! use floodgate_load::server_thread::ServerThread;
//! use tokio::io::AsyncWriteExt;
//!
//! // A server that answers every connection with a fixed response, until it is stopped.
//! let server = ServerThread::start(|listener, shutdown| async move {
//!     let accept = async {
//!         while let Ok((mut stream, _)) = listener.accept().await {
//!             let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
//!         }
//!     };
//!     tokio::select! {
//!         () = accept => {}
//!         () = shutdown => {}
//!     }
//! })?;
//! assert!(server.addr().ip().is_loopback());
//! server.stop(); // also done on drop
//! # Ok::<_, std::io::Error>(())
//! ```

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Worker threads of a server's runtime: enough to serve while the client's runtimes are busy.
const WORKER_THREADS: usize = 2;

/// A server running on its own thread and runtime; stopped and joined by [`ServerThread::stop`]
/// or when dropped.
#[derive(Debug)]
pub struct ServerThread {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Resolves when the [`ServerThread`] is asked to stop (or dropped): the graceful-shutdown signal
/// to hand to the server.
#[derive(Debug)]
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A dropped sender means stop too.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl ServerThread {
    /// Binds `127.0.0.1:0` and runs `serve(listener, shutdown)` on a new thread with a runtime
    /// of its own. `serve` should return soon after `shutdown` resolves; requests still running
    /// then are dropped with the runtime (a server without a limit may hold many).
    pub fn start<F, Fut>(serve: F) -> io::Result<Self>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let listener = StdListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("server {addr}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, Shutdown(stopped)).await,
                        Err(err) => eprintln!("server {addr}: {err}"),
                    }
                });
                // Open keep-alive connections and requests still held are of no interest now.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address the server listens on (`127.0.0.1`, an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks the server to stop and waits for its thread to end.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the server was already reported on its thread.
            let _ = thread.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn serves_until_stopped_then_refuses() {
        let server = ServerThread::start(|listener, shutdown| async move {
            let accept = async {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let _ = stream.write_all(b"hello").await;
                }
            };
            tokio::select! {
                () = accept => {}
                () = shutdown => {}
            }
        })
        .unwrap();
        let addr = server.addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        assert_eq!(server.url("/x"), format!("http://{addr}/x"));
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = [0; 5];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        drop(stream);
        server.stop();
        // The listener is gone with the runtime: nothing accepts on the port any more.
        let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .and_then(|mut s| s.write_all(b"x").and_then(|()| s.read(&mut [0; 1])));
        assert!(matches!(refused, Err(_) | Ok(0)), "{refused:?}");
    }
}
