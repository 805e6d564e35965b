//! The process's shutdown signal: SIGTERM or ctrl-c (SIGINT).

use std::future::Future;
use std::io;

/// Resolves on the first SIGTERM or ctrl-c, for [`serve`](crate::serve)'s `shutdown`.
///
/// The signal handlers are installed by this call, not on the first poll, so a signal that
/// arrives before the server polls the future is not lost (nor does it kill the process).
/// Must be called within a tokio runtime.
///
/// # Errors
///
/// If a signal handler cannot be installed.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    imp::shutdown_signal()
}

#[cfg(unix)]
mod imp {
    use super::*;
    use tokio::signal::unix::{SignalKind, signal};

    pub(super) fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutdown requested");
        })
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    pub(super) fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!(signal = "ctrl-c", "shutdown requested"),
                Err(err) => {
                    tracing::error!(%err, "cannot listen for ctrl-c");
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}
