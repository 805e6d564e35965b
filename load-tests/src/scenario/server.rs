//! One variant's demo app, served in-process on an ephemeral loopback port by its own runtime.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use floodgate_demo::{App, Config};
use tokio::sync::oneshot;

use crate::Error;

/// A running demo app; [`VariantServer::stop`] shuts it down and joins its thread.
#[derive(Debug)]
pub(crate) struct VariantServer {
    pub(crate) addr: SocketAddr,
    app: App,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// The gate's queue after the load: what was still in flight and queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub(crate) in_flight: usize,
    pub(crate) queued: usize,
}

impl VariantServer {
    /// Builds the app for `config` and serves it on `127.0.0.1:0` (two runtime threads).
    pub(crate) fn start(config: &Config) -> Result<Self, Error> {
        let listener = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|err| Error::Demo(format!("cannot listen on 127.0.0.1: {err}")))?;
        let addr = listener
            .local_addr()
            .map_err(|err| Error::Demo(format!("no local address: {err}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| Error::Demo(format!("cannot start a runtime: {err}")))?;
        let app = App::new(config);
        let served = app.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = floodgate_demo::serve(listener, served, async {
                    let _ = stopped.await;
                })
                .await;
            });
            // Requests an ungated backend still holds are of no interest any more.
            runtime.shutdown_background();
        });
        Ok(Self {
            addr,
            app,
            stop,
            thread,
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

    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
