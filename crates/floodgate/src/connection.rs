//! Backpressure at the connection level: at most `max` open connections, and no connection that
//! lingers without progress.
//!
//! A request limit bounds the work; it does not bound the connections, and every connection
//! costs a file descriptor and buffers whether or not it carries a request. A client that opens
//! connections and never reads the answers (or never sends anything) holds them until some
//! timeout, and enough of them exhaust the process's descriptors: `accept` then fails with
//! `EMFILE` and nobody, health checks included, gets in.
//!
//! [`ConnectionLimit`] stops *accepting* at `max` open connections: the excess waits in the
//! kernel's listen backlog, costing the process nothing, and is accepted as soon as a connection
//! closes. Each accepted connection is wrapped in a [`LimitedIo`], which gives its slot back when
//! dropped and, with [`idle_timeout`](ConnectionLimit::idle_timeout), fails the connection when
//! it makes no progress for that long: a peer that does not read what it is sent (a write that
//! cannot proceed), or an idle keep-alive connection after its last answer. A connection whose
//! request is still being handled is never timed out for the handler's sake.
//!
//! With your own accept loop:
//!
//! ```
//! use std::time::Duration;
//! use floodgate::connection::ConnectionLimit;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let limit = ConnectionLimit::new(2).idle_timeout(Duration::from_secs(10));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await });
//!
//! let slot = limit.acquire().await;            // waits while 2 connections are open
//! let (stream, _peer) = listener.accept().await?;
//! let stream = slot.wrap(stream);              // the slot comes back when `stream` is dropped
//! assert_eq!(limit.open(), 1);
//! drop(stream);
//! assert_eq!(limit.open(), 0);
//! # client.await.unwrap()?; Ok(()) }
//! ```
//!
//! With `axum::serve` (feature `axum`), wrap the listener:
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # async fn serve() -> std::io::Result<()> {
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use floodgate::connection::ConnectionLimit;
//!
//! let app: Router = Router::new().route("/", get(|| async { "hi" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limit = ConnectionLimit::new(1024).idle_timeout(Duration::from_secs(30));
//! axum::serve(limit.listener(listener), app).await
//! # }
//! ```
//!
//! The open connections are counted by a [`Gate`] (named `connections`, see
//! [`ConnectionLimit::gate`]); [`PrometheusText::connections`](crate::metrics::PrometheusText::connections)
//! reports them as `floodgate_connections_open` against `floodgate_connections_max`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::gate::{Gate, GateConfig, Permit};

/// At most `max` open connections: see the [module docs](self).
///
/// Cheap to clone: clones share the limit.
#[derive(Clone)]
pub struct ConnectionLimit {
    gate: Gate,
    idle_timeout: Option<Duration>,
}

impl ConnectionLimit {
    /// At most `max` connections open at once.
    ///
    /// # Panics
    ///
    /// If `max` is zero.
    pub fn new(max: usize) -> Self {
        let gate = GateConfig::new(max)
            // The accept loop waits for a slot as long as it takes: the excess waits in the
            // kernel's backlog, not in the process.
            .max_wait(Duration::MAX)
            .name("connections")
            .build();
        Self {
            gate,
            idle_timeout: None,
        }
    }

    /// Fails a connection that makes no progress for `timeout`: a write the peer does not read,
    /// or, once the last answer is sent, no new request. `None` (the default): no timeout.
    ///
    /// A long-lived response (server-sent events, long polling) must then send something at
    /// least every `timeout`.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Waits for a free slot, then hands it out: accept one connection and
    /// [`wrap`](ConnectionSlot::wrap) it.
    pub async fn acquire(&self) -> ConnectionSlot {
        loop {
            if let Ok(permit) = self.gate.acquire().await {
                return ConnectionSlot {
                    permit,
                    idle_timeout: self.idle_timeout,
                };
            }
            // Only a closed gate turns a waiter away, and nobody closes this one; should it
            // happen anyway, wait for a connection to close rather than spin.
            self.gate.drained().await;
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.gate.snapshot().in_flight
    }

    /// The gate that counts the open connections (for stats and metrics).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Wraps an `axum::serve` listener: accepts only while fewer than `max` connections are
    /// open, and hands out [`LimitedIo`] connections. Needs the `axum` feature.
    #[cfg(feature = "axum")]
    pub fn listener<L>(&self, listener: L) -> LimitedListener<L> {
        LimitedListener {
            inner: listener,
            limit: self.clone(),
        }
    }
}

impl fmt::Debug for ConnectionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.gate.snapshot();
        f.debug_struct("ConnectionLimit")
            .field("max", &snapshot.limit)
            .field("open", &snapshot.in_flight)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// A free connection slot: [`wrap`](ConnectionSlot::wrap) the connection it was taken for.
#[derive(Debug)]
#[must_use = "a slot is held until the connection it wraps is dropped"]
pub struct ConnectionSlot {
    permit: Permit,
    idle_timeout: Option<Duration>,
}

impl ConnectionSlot {
    /// The connection, holding this slot until it is dropped.
    pub fn wrap<Io>(self, io: Io) -> LimitedIo<Io> {
        LimitedIo {
            io,
            _slot: self.permit,
            idle: self.idle_timeout.map(Idle::new),
        }
    }
}

pin_project! {
    /// A connection that holds a slot of its [`ConnectionLimit`] until it is dropped, and fails
    /// with [`io::ErrorKind::TimedOut`] when it makes no progress for the idle timeout.
    pub struct LimitedIo<Io> {
        #[pin]
        io: Io,
        // Only held: dropping it frees the slot.
        _slot: Permit,
        idle: Option<Idle>,
    }
}

impl<Io> LimitedIo<Io> {
    /// The wrapped connection.
    pub fn get_ref(&self) -> &Io {
        &self.io
    }
}

impl<Io> fmt::Debug for LimitedIo<Io> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedIo")
            .field("idle_timeout", &self.idle.as_ref().map(|idle| idle.after))
            .finish_non_exhaustive()
    }
}

/// The idle timer of one connection.
struct Idle {
    after: Duration,
    timer: Pin<Box<Sleep>>,
    /// The peer owes the next move: nothing was read since the server last wrote (or since the
    /// connection opened). While the server owes it (a request is being handled), reads are not
    /// timed out.
    peer_owes: bool,
}

impl Idle {
    fn new(after: Duration) -> Self {
        Self {
            after,
            timer: Box::pin(tokio::time::sleep_until(deadline(after))),
            peer_owes: true,
        }
    }

    fn progress(&mut self) {
        self.timer.as_mut().reset(deadline(self.after));
    }

    /// `Ready` with the error once the timer ran out.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(self.timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "floodgate: no progress on the connection for {:?}",
                self.after
            ),
        ))
    }
}

fn deadline(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

impl Idle {
    /// What a pending read or write turns into: still pending, or the timeout's error.
    fn stalled<T>(idle: Option<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match idle {
            Some(idle) => idle.poll_expired(cx).map(Err),
            None => Poll::Pending,
        }
    }

    /// A write's outcome: progress makes the peer owe the next move; a write that cannot
    /// proceed (the peer does not read) is timed out too.
    fn after_write(
        idle: &mut Option<Self>,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(written)) => {
                if let Some(idle) = idle.as_mut().filter(|_| written > 0) {
                    idle.progress();
                    idle.peer_owes = true;
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending => Self::stalled(idle.as_mut(), cx),
            other => other,
        }
    }
}

impl<Io: AsyncRead> AsyncRead for LimitedIo<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(idle) = this.idle.as_mut().filter(|_| buf.filled().len() > before) {
                    idle.progress();
                    idle.peer_owes = false;
                }
                Poll::Ready(Ok(()))
            }
            // While the server owes the answer, waiting for the peer is not idleness.
            Poll::Pending => Idle::stalled(this.idle.as_mut().filter(|idle| idle.peer_owes), cx),
            other => other,
        }
    }
}

impl<Io: AsyncWrite> AsyncWrite for LimitedIo<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write(cx, data);
        Idle::after_write(this.idle, cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write_vectored(cx, bufs);
        Idle::after_write(this.idle, cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        match this.io.poll_flush(cx) {
            Poll::Pending => Idle::stalled(this.idle.as_mut(), cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// An `axum::serve` listener that accepts only while fewer than the limit's `max` connections
/// are open. Made by [`ConnectionLimit::listener`]; needs the `axum` feature.
#[cfg(feature = "axum")]
#[derive(Debug)]
pub struct LimitedListener<L> {
    inner: L,
    limit: ConnectionLimit,
}

#[cfg(feature = "axum")]
impl<L> axum::serve::Listener for LimitedListener<L>
where
    L: axum::serve::Listener,
{
    type Io = LimitedIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = self.limit.acquire().await;
        let (io, addr) = self.inner.accept().await;
        (slot.wrap(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_come_back_when_connections_close() {
        let limit = ConnectionLimit::new(2);
        let (a, _peer_a) = duplex(64);
        let (b, _peer_b) = duplex(64);
        let a = limit.acquire().await.wrap(a);
        let _b = limit.acquire().await.wrap(b);
        assert_eq!(limit.open(), 2);

        let mut third = tokio_test::task::spawn(limit.acquire());
        tokio_test::assert_pending!(third.poll(), "the third waits: it stays in the backlog");
        drop(a);
        assert!(third.is_woken());
        let _slot = tokio_test::assert_ready!(third.poll());
        assert_eq!(limit.open(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_is_cut_off() {
        let limit = ConnectionLimit::new(1).idle_timeout(Duration::from_secs(5));
        // A pipe of 16 bytes: the 17th byte waits for the peer to read.
        let (server, _peer) = duplex(16);
        let mut server = limit.acquire().await.wrap(server);
        let start = Instant::now();
        let error = server.write_all(&[0; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        drop(server);
        assert_eq!(
            limit.open(),
            0,
            "a timed-out connection gives its slot back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_cut_off_but_a_busy_one_is_not() {
        let limit = ConnectionLimit::new(2).idle_timeout(Duration::from_secs(5));
        let (server, mut peer) = duplex(1024);
        let mut server = limit.acquire().await.wrap(server);

        // The peer sends a request: from now on the server owes the answer, and waiting for
        // more from the peer (as hyper does, to notice a disconnect) is not idleness.
        peer.write_all(b"request").await.unwrap();
        let mut buf = [0; 7];
        server.read_exact(&mut buf).await.unwrap();
        let mut more = tokio_test::task::spawn(async {
            let mut byte = [0; 1];
            server.read(&mut byte).await
        });
        tokio::time::advance(Duration::from_secs(60)).await;
        tokio_test::assert_pending!(more.poll(), "the handler may take its time");
        drop(more);

        // The server answers; now the peer owes the next request, for at most 5 s.
        server.write_all(b"answer").await.unwrap();
        let start = Instant::now();
        let mut byte = [0; 1];
        let error = server.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_timeout_nothing_times_out() {
        let limit = ConnectionLimit::new(1);
        let (server, _peer) = duplex(16);
        let mut server = limit.acquire().await.wrap(server);
        let mut write = tokio_test::task::spawn(server.write_all(&[0; 64]));
        tokio::time::advance(Duration::from_secs(3600)).await;
        tokio_test::assert_pending!(write.poll());
    }
}
