//! One variant's demo app, served in-process on an ephemeral loopback port by a
//! [`ServerThread`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floodgate_demo::{App, Config};

use crate::Error;
use crate::server_thread::ServerThread;

/// A running demo app; [`VariantServer::stop`] shuts it down and joins its thread.
#[derive(Debug)]
pub(crate) struct VariantServer {
    pub(crate) addr: SocketAddr,
    app: App,
    server: ServerThread,
}

/// The gate's queue after the load: what was still in flight and queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub(crate) in_flight: usize,
    pub(crate) queued: usize,
}

impl VariantServer {
    /// Builds the app for `config` and serves it on `127.0.0.1:0`.
    pub(crate) fn start(config: &Config) -> Result<Self, Error> {
        let app = App::new(config);
        let served = app.clone();
        let server = ServerThread::start(move |listener, shutdown| async move {
            let _ = floodgate_demo::serve(listener, served, shutdown).await;
        })
        .map_err(|err| Error::Demo(format!("cannot serve on 127.0.0.1: {err}")))?;
        Ok(Self {
            addr: server.addr(),
            app,
            server,
        })
    }

    /// Waits up to `patience` for the gate to drain; what it still holds then. `None` when the
    /// variant has no floodgate gate.
    pub(crate) fn drain(&self, patience: Duration) -> Option<Leftover> {
        let gate = self.app.gate()?;
        let deadline = Instant::now() + patience;
        loop {
            let snapshot = gate.snapshot();
            let left = Leftover {
                in_flight: snapshot.in_flight,
                queued: snapshot.queued,
            };
            if (left.in_flight == 0 && left.queued == 0) || Instant::now() >= deadline {
                return Some(left);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and joins its thread.
    pub(crate) fn stop(self) {
        self.server.stop();
    }
}
