//! The demo's settings: the command line (clap derive, each flag also read from a
//! `FLOODGATE_*` environment variable) and [`Config::default`] for building the app in code.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adaptive::AdaptiveConfig;
use crate::classes::ClassesConfig;
use crate::ingest::IngestConfig;
use crate::jobs::JobsConfig;
use crate::parse;
use crate::rate_limit::RateLimitConfig;

/// The `floodgate-demo` command line: the server's [`Config`], or a subcommand.
#[derive(Debug, Clone, Parser)]
#[command(name = "floodgate-demo", version, about, long_about = None)]
pub struct Cli {
    /// What to run instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands of `floodgate-demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Asks the server at `--addr` (FLOODGATE_ADDR) for `/healthz`: exits 0 if it answers 200
    /// within 2 seconds, 1 otherwise. For container health checks, where there is no curl.
    Healthcheck,
}

/// Settings of the demo server.
///
/// Every field is a command-line flag with an environment variable of the same name
/// (`--max-wait`, `FLOODGATE_MAX_WAIT`); [`Config::default`] gives the flags' defaults, so code
/// that builds the app in-process sets only what it needs:
///
/// ```
/// use std::time::Duration;
/// use floodgate_demo::{Config, Limiter};
///
/// let config = Config {
///     max_concurrency: 4,
///     delay: Duration::from_millis(100),
///     limiter: Limiter::None,
///     ..Config::default()
/// };
/// assert_eq!(config.max_wait, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq, Args)]
pub struct Config {
    /// Listen address.
    #[arg(
        long,
        env = "FLOODGATE_ADDR",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        help_heading = "Server"
    )]
    pub addr: SocketAddr,

    /// Drain time after SIGTERM or ctrl-c: requests in flight get this long to finish.
    #[arg(
        long,
        env = "FLOODGATE_SHUTDOWN_GRACE",
        default_value = "10s",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Server"
    )]
    pub shutdown_grace: Duration,

    /// A client must send its whole request head within this time, or it is disconnected.
    #[arg(
        long,
        env = "FLOODGATE_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = parse::positive_duration,
        value_name = "DURATION",
        help_heading = "Server"
    )]
    pub header_timeout: Duration,

    /// At most this many connections open at once: the excess waits in the kernel's listen
    /// backlog until one closes (keep it below the process's file descriptor limit).
    #[arg(
        long,
        env = "FLOODGATE_MAX_CONNECTIONS",
        default_value = "512",
        value_parser = parse::at_least_one,
        value_name = "N",
        help_heading = "Server"
    )]
    pub max_connections: usize,

    /// A connection that makes no progress for this long is closed: a client that does not read
    /// its answers, or an idle keep-alive connection after its last answer.
    #[arg(
        long,
        env = "FLOODGATE_IDLE_TIMEOUT",
        default_value = "30s",
        value_parser = parse::positive_duration,
        value_name = "DURATION",
        help_heading = "Server"
    )]
    pub idle_timeout: Duration,

    /// What guards /slow and /fast: floodgate's gate, nothing, tower's ConcurrencyLimit (waits
    /// forever), or tower's LoadShed over ConcurrencyLimit (never waits). For side-by-side
    /// comparison.
    #[arg(
        long,
        env = "FLOODGATE_LIMITER",
        value_enum,
        default_value_t = Limiter::Gate,
        value_name = "LIMITER",
        help_heading = "Admission"
    )]
    pub limiter: Limiter,

    /// Requests in flight at once on /slow and /fast (the gate's limit, also used by the tower
    /// limiters); at least 1.
    #[arg(
        long,
        env = "FLOODGATE_MAX_CONCURRENCY",
        default_value_t = 64,
        value_parser = parse::at_least_one,
        value_name = "N",
        help_heading = "Admission"
    )]
    pub max_concurrency: usize,

    /// How long a request may wait for a permit before it is answered 503; 0s: never wait.
    #[arg(
        long,
        env = "FLOODGATE_MAX_WAIT",
        default_value = "100ms",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Admission"
    )]
    pub max_wait: Duration,

    /// How many requests may wait for a permit at once; more are answered 503 at once.
    #[arg(
        long,
        env = "FLOODGATE_MAX_QUEUE",
        default_value_t = 1024,
        value_name = "N",
        help_heading = "Admission"
    )]
    pub max_queue: usize,

    /// Retry-After of 503 answers, sent in whole seconds (rounded up, at least 1).
    #[arg(
        long,
        env = "FLOODGATE_RETRY_AFTER",
        default_value = "1s",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Admission"
    )]
    pub retry_after: Duration,

    /// Work time of /slow: how long a request holds its backend slot (`?ms=N` overrides it).
    #[arg(
        long,
        env = "FLOODGATE_DELAY",
        default_value = "200ms",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Simulated backend"
    )]
    pub delay: Duration,

    /// The longest work time a client may ask of /slow with `?ms=N` (larger values are capped
    /// to it), in milliseconds, at most 60000: a client holds a permit this long at most.
    #[arg(
        long,
        env = "FLOODGATE_MAX_SLOW_MS",
        default_value_t = crate::MAX_SLOW_MS,
        value_parser = parse::max_slow_ms,
        value_name = "MS",
        help_heading = "Simulated backend"
    )]
    pub max_slow_ms: u64,

    /// Slots of the simulated backend behind /slow (a FIFO pool, like a database pool).
    #[arg(
        long,
        env = "FLOODGATE_BACKEND_CAPACITY",
        default_value_t = 64,
        value_parser = parse::backend_capacity,
        value_name = "N",
        help_heading = "Simulated backend"
    )]
    pub backend_capacity: usize,

    /// For the streaming route (`/stream`): give the gate's permit back when the response
    /// `headers` are produced, or hold it to the end of the `body` (an open stream then counts
    /// against --max-concurrency for its whole life).
    #[arg(
        long,
        env = "FLOODGATE_RELEASE_AT",
        value_enum,
        default_value_t = ReleaseAt::Body,
        value_name = "WHEN",
        help_heading = "Admission"
    )]
    pub release_at: ReleaseAt,

    /// Streams open at once on /stream, whatever --release-at says (a second gate, holding its
    /// permit to the end of the stream; the next stream gets 503 at once).
    #[arg(
        long,
        env = "FLOODGATE_MAX_STREAMS",
        default_value_t = 256,
        value_parser = parse::at_least_one,
        value_name = "N",
        help_heading = "Admission"
    )]
    pub max_streams: usize,

    /// The gate's limit algorithm and queue discipline (`--limit-algorithm`, `--queue`, ...).
    #[command(flatten)]
    pub adaptive: AdaptiveConfig,

    /// The gate's request classes and deadlines (`--priority-header`, `--deadline-header`,
    /// `--critical-reserve`).
    #[command(flatten)]
    pub classes: ClassesConfig,

    /// The rate limit before the gate (`--rate`, `--burst`, `--rate-key`); off by default.
    #[command(flatten)]
    pub rate_limit: RateLimitConfig,

    /// The `/jobs` worker pool (`--workers`, `--job-queue`).
    #[command(flatten)]
    pub jobs: JobsConfig,

    /// The `/ingest` pipeline (`--batch-size`, `--sink-delay`, ...).
    #[command(flatten)]
    pub ingest: IngestConfig,
}

impl Default for Config {
    /// The flags' defaults (as in `floodgate-demo --help`), without reading the environment.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            shutdown_grace: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
            idle_timeout: Duration::from_secs(30),
            limiter: Limiter::Gate,
            max_concurrency: 64,
            max_wait: Duration::from_millis(100),
            max_queue: 1024,
            retry_after: Duration::from_secs(1),
            delay: Duration::from_millis(200),
            max_slow_ms: crate::MAX_SLOW_MS,
            backend_capacity: 64,
            release_at: ReleaseAt::Body,
            max_streams: 256,
            adaptive: AdaptiveConfig::default(),
            classes: ClassesConfig::default(),
            rate_limit: RateLimitConfig::default(),
            jobs: JobsConfig::default(),
            ingest: IngestConfig::default(),
        }
    }
}

/// When `/stream` gives the gate's permit back (`--release-at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum ReleaseAt {
    /// At the end of the response body: an open stream holds its permit.
    #[default]
    Body,
    /// When the response head is produced: opening a stream counts, keeping it open does not.
    Headers,
}

impl ReleaseAt {
    /// The library's setting.
    pub(crate) fn into_library(self) -> floodgate::gate::ReleaseAt {
        match self {
            ReleaseAt::Body => floodgate::gate::ReleaseAt::Body,
            ReleaseAt::Headers => floodgate::gate::ReleaseAt::Headers,
        }
    }

    /// The flag value: `body` or `headers`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseAt::Body => "body",
            ReleaseAt::Headers => "headers",
        }
    }
}

impl fmt::Display for ReleaseAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What guards the gated routes (`--limiter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum Limiter {
    /// floodgate's `GateLayer`: `--max-concurrency` in flight, a bounded wait, 503 +
    /// Retry-After for the rest.
    #[default]
    Gate,
    /// No limiter: overload queues up in the backend pool, latency grows without bound.
    None,
    /// tower's `ConcurrencyLimit`: `--max-concurrency` in flight, the rest wait forever.
    TowerLimit,
    /// tower's `LoadShed` over `ConcurrencyLimit`: `--max-concurrency` in flight, the rest get
    /// 503 + Retry-After at once, without waiting.
    TowerShed,
}

impl Limiter {
    /// The flag value: `gate`, `none`, `tower-limit` or `tower-shed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Limiter::Gate => "gate",
            Limiter::None => "none",
            Limiter::TowerLimit => "tower-limit",
            Limiter::TowerShed => "tower-shed",
        }
    }
}

impl fmt::Display for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("floodgate-demo").chain(args.iter().copied()))
    }

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_flags() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.config, Config::default());
    }

    #[test]
    fn flags_set_every_field() {
        let cli = parse(&[
            "--addr=0.0.0.0:9000",
            "--shutdown-grace=3s",
            "--header-timeout=500ms",
            "--max-connections=32",
            "--idle-timeout=2s",
            "--limiter=tower-shed",
            "--max-concurrency=4",
            "--max-wait=50ms",
            "--max-queue=0",
            "--retry-after=2s",
            "--delay=1s",
            "--max-slow-ms=2000",
            "--backend-capacity=8",
            "--priority-header=x-class",
            "--deadline-header=",
            "--critical-reserve=0.25",
            "--sheddable-max-wait=5ms",
            "--release-at=headers",
            "--max-streams=3",
        ])
        .unwrap();
        assert_eq!(
            cli.config,
            Config {
                addr: "0.0.0.0:9000".parse().unwrap(),
                shutdown_grace: Duration::from_secs(3),
                header_timeout: Duration::from_millis(500),
                max_connections: 32,
                idle_timeout: Duration::from_secs(2),
                limiter: Limiter::TowerShed,
                max_concurrency: 4,
                max_wait: Duration::from_millis(50),
                max_queue: 0,
                retry_after: Duration::from_secs(2),
                delay: Duration::from_secs(1),
                max_slow_ms: 2000,
                backend_capacity: 8,
                release_at: ReleaseAt::Headers,
                max_streams: 3,
                adaptive: AdaptiveConfig::default(),
                classes: ClassesConfig {
                    priority_header: Some(http::HeaderName::from_static("x-class")),
                    deadline_header: None,
                    critical_reserve: 0.25,
                    sheddable_max_wait: Some(Duration::from_millis(5)),
                },
                rate_limit: RateLimitConfig::default(),
                jobs: JobsConfig::default(),
                ingest: IngestConfig::default(),
            }
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--max-concurrency", "0"][..], "--max-concurrency"),
            (&["--max-wait", "banana"], "--max-wait"),
            (&["--addr", "localhost"], "--addr"),
            (&["--header-timeout", "0s"], "--header-timeout"),
            (&["--max-connections", "0"], "--max-connections"),
            (&["--idle-timeout", "0s"], "--idle-timeout"),
            (&["--backend-capacity", "0"], "--backend-capacity"),
            (&["--max-queue=-1"], "--max-queue"),
            (&["--limiter", "nginx"], "--limiter"),
            (&["--max-slow-ms", "60001"], "--max-slow-ms"),
            (&["--max-slow-ms", "1s"], "--max-slow-ms"),
            (&["--priority-header", "x priority"], "--priority-header"),
            (&["--deadline-header", "a:b"], "--deadline-header"),
            (&["--critical-reserve", "1"], "--critical-reserve"),
            (&["--critical-reserve", "lots"], "--critical-reserve"),
            (&["--release-at", "trailers"], "--release-at"),
            (&["--max-streams", "0"], "--max-streams"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn limiter_names_round_trip() {
        for limiter in Limiter::value_variants() {
            let name = limiter.to_possible_value().unwrap();
            assert_eq!(name.get_name(), limiter.as_str());
            assert_eq!(limiter.to_string(), limiter.as_str());
        }
    }

    #[test]
    fn healthcheck_is_a_subcommand() {
        let cli = parse(&["healthcheck"]).unwrap();
        assert_eq!(cli.command, Some(Command::Healthcheck));
    }
}
