//! The process's shutdown signals: SIGTERM or ctrl-c (SIGINT), the first to drain gracefully,
//! the second to give up on the drain.

use std::future::Future;
use std::io;

use tokio::sync::watch;

/// Resolves on the first SIGTERM or ctrl-c, for [`serve`](crate::serve)'s `shutdown`.
///
/// The signal handlers are installed by this call, not on the first poll, so a signal that
/// arrives before the server polls the future is not lost (nor does it kill the process).
/// Must be called within a tokio runtime. To act on a second signal too, use
/// [`ShutdownSignals`].
///
/// # Errors
///
/// If a signal handler cannot be installed.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(ShutdownSignals::install()?.first())
}

/// SIGTERM and ctrl-c, counted: the [first](Self::first) asks for a graceful shutdown, the
/// [second](Self::second) (while the drain is under way) for an exit at once. Clones share the
/// count.
///
/// ```no_run
/// use floodgate_demo::{App, Config, ShutdownSignals, serve};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let signals = ShutdownSignals::install()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// tokio::select! {
///     served = serve(listener, App::new(&Config::default()), signals.first()) => served?,
///     () = signals.second() => eprintln!("asked twice: not waiting for the drain"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownSignals {
    received: watch::Receiver<u32>,
}

impl ShutdownSignals {
    /// Installs the signal handlers now (so no signal is lost before the first poll) and
    /// counts the signals on a task of the current runtime. Must be called within a tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// If a signal handler cannot be installed.
    pub fn install() -> io::Result<Self> {
        let mut signals = imp::Signals::install()?;
        let (count, received) = watch::channel(0_u32);
        tokio::spawn(async move {
            // Ends once nobody is listening any more.
            while !count.is_closed() {
                let name = tokio::select! {
                    name = signals.recv() => name,
                    () = count.closed() => return,
                };
                count.send_modify(|count| *count = count.saturating_add(1));
                if *count.borrow() == 1 {
                    tracing::info!(signal = name, "shutdown requested");
                } else {
                    tracing::warn!(
                        signal = name,
                        "shutdown requested again: not waiting any more"
                    );
                }
            }
        });
        Ok(Self { received })
    }

    /// Resolves on the first SIGTERM or ctrl-c.
    pub fn first(&self) -> impl Future<Output = ()> + Send + use<> {
        self.nth(1)
    }

    /// Resolves on the second SIGTERM or ctrl-c (either kind, in any order).
    pub fn second(&self) -> impl Future<Output = ()> + Send + use<> {
        self.nth(2)
    }

    fn nth(&self, n: u32) -> impl Future<Output = ()> + Send + use<> {
        let mut received = self.received.clone();
        async move {
            if received.wait_for(|&count| count >= n).await.is_err() {
                // The counting task is gone (its runtime is shutting down): no signal will come.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(unix)]
mod imp {
    use std::io;

    use tokio::signal::unix::{Signal, SignalKind, signal};

    pub(super) struct Signals {
        terminate: Signal,
        interrupt: Signal,
    }

    impl Signals {
        pub(super) fn install() -> io::Result<Self> {
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }

        /// The next signal's name.
        pub(super) async fn recv(&mut self) -> &'static str {
            tokio::select! {
                Some(()) = self.terminate.recv() => "SIGTERM",
                Some(()) = self.interrupt.recv() => "SIGINT",
                else => std::future::pending().await,
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;

    pub(super) struct Signals;

    impl Signals {
        pub(super) fn install() -> io::Result<Self> {
            Ok(Self)
        }

        /// The next signal's name.
        pub(super) async fn recv(&mut self) -> &'static str {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "ctrl-c",
                Err(err) => {
                    tracing::error!(%err, "cannot listen for ctrl-c");
                    std::future::pending().await
                }
            }
        }
    }
}
