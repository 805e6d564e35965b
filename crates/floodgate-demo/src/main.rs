//! `floodgate-demo`: parse the command line, set up tracing, serve until SIGTERM or ctrl-c,
//! drain for at most `--shutdown-grace`, and exit at once on a second signal.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use floodgate_demo::{App, Cli, Command, Config, ShutdownSignals, healthcheck, serve};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// How long the runtime may wait, once the server is done, for work still on its blocking
/// threads. Jobs are interrupted at the end of the grace period and stop within microseconds;
/// this bounds the exit should anything else be left.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);

/// The exit code after a second signal: the drain was cut short.
const EXIT_FORCED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("floodgate-demo: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let ended = runtime.block_on(async {
        match cli.command {
            Some(Command::Healthcheck) => match healthcheck(cli.config.addr).await {
                Ok(()) => Ended::Done,
                Err(err) => {
                    eprintln!("floodgate-demo healthcheck: {err}");
                    Ended::Failed
                }
            },
            None => {
                init_tracing();
                run(cli.config).await.unwrap_or_else(|err| {
                    tracing::error!("{err:#}");
                    Ended::Failed
                })
            }
        }
    });
    // Not the runtime's drop, which waits without bound for its blocking threads.
    match ended {
        Ended::Forced => runtime.shutdown_background(),
        Ended::Done | Ended::Failed => runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT),
    }
    match ended {
        Ended::Done => ExitCode::SUCCESS,
        Ended::Failed => ExitCode::FAILURE,
        Ended::Forced => ExitCode::from(EXIT_FORCED),
    }
}

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Served, then drained (or ran the subcommand).
    Done,
    Failed,
    /// A second signal cut the drain short.
    Forced,
}

async fn run(config: Config) -> anyhow::Result<Ended> {
    let signals = ShutdownSignals::install().context("cannot install the signal handlers")?;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tokio::select! {
        served = serve(listener, App::new(&config), signals.first()) => {
            served?;
            Ok(Ended::Done)
        }
        () = signals.second() => {
            tracing::warn!("second signal: exiting without waiting for the drain");
            Ok(Ended::Forced)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
