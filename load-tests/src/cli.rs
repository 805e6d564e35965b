//! Command-line options (clap derive) and their value parsers.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use http::Method;
use http::header::{HeaderName, HeaderValue};
use reqwest::Url;

use crate::threshold::Threshold;

/// An HTTP load generator that tells the truth under overload.
///
/// Closed loop (`-c`): N workers, each sends, waits for the response, and sends again. Open loop
/// (`-r`): requests start on a fixed schedule whatever the server does, and latency counts from the
/// scheduled start, so a stalled server is not hidden (no coordinated omission). A closed loop
/// cannot see a stall that way; its report adds a corrected view (as wrk) and a warning.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "floodgate-load",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Opts {
    /// Something other than a plain load test.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The load test (when no subcommand is given).
    #[command(flatten)]
    pub load: LoadOpts,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Start the floodgate demo app in-process and show, in about 20 seconds, what the gate does
    /// under overload: under capacity, 4x over capacity with the gate (FIFO queue, then CoDel),
    /// the same without it. The story is the built-in scenario `load-tests/scenarios/demo.toml`.
    Demo(DemoOpts),
    /// Run a scenario file (`load-tests/scenarios/*.toml`): the demo app behind each limiter it
    /// names, in-process, the same load profile for each (or the phases a variant names), and a
    /// markdown table to compare them.
    Scenario(crate::scenario::ScenarioOpts),
}

/// Options of `floodgate-load demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoOpts {
    /// Also write the report of every phase as JSON to PATH (`-` for stdout; the table then goes
    /// to stderr).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Options of a load test.
#[derive(Debug, Clone, Args)]
pub struct LoadOpts {
    /// The target, `http://` or `https://`. Several targets (the replicas of one service) get
    /// the requests in turn, round-robin, one each.
    #[arg(value_name = "URL", value_parser = parse_url, required = true, num_args = 1..)]
    pub urls: Vec<Url>,

    /// Requests in flight at most. Closed loop: this many workers, each sending its next request
    /// when the last one is done. Open loop: the cap on requests in flight.
    #[arg(short = 'c', long, value_name = "N", default_value = "50", value_parser = parse_concurrency)]
    pub concurrency: usize,

    /// Open loop: start R requests per second on a fixed schedule (t0 + i/R), whatever the
    /// server does; latency counts from the scheduled start. Accepts `20k`.
    #[arg(short = 'r', long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Run for this long (`10s`, `1m30s`); requests still in flight at the end are cancelled and
    /// reported as aborted, open-loop starts not sent by then as missed; both count in the
    /// latencies at their lower bound. The default when `-n` is not given: 10s.
    #[arg(short = 'd', long, value_name = "DUR", value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Send this many requests (`10k` is 10000), and let each finish.
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_count)]
    pub requests: Option<u64>,

    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET", value_parser = parse_method)]
    pub method: Method,

    /// A request header, `'Name: value'`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// The request body.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,

    /// The request body, read from a file once and sent by every request (at most 64 MiB: it
    /// is held in memory; for larger uploads use `--body-ndjson-mb`).
    #[arg(long, value_name = "PATH", value_parser = parse_body_file)]
    pub body_file: Option<Bytes>,

    /// A generated body of N megabytes (10^6 bytes) of newline-delimited JSON records of 100
    /// bytes each, `{"id":0,"pad":"xx…"}`, produced while it is sent (never held in memory
    /// whole); `Content-Type: application/x-ndjson` unless `-H` sets one. For `POST /ingest`.
    #[arg(long, value_name = "N", value_parser = parse_body_mb, conflicts_with_all = ["body", "body_file"])]
    pub body_ndjson_mb: Option<u64>,

    /// Give up on a request after this long; it counts as a timeout error.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// HTTP engine: raw hyper HTTP/1.1 connections (the fast path, plain http only) or reqwest
    /// (https, HTTP/2, proxies); auto picks hyper where it can.
    #[arg(long, value_enum, default_value_t = EngineKind::Auto)]
    pub engine: EngineKind,

    /// HTTP/2 only: h2c with prior knowledge for http:// (TLS with ALPN h2 for https://), many
    /// requests as streams on each connection (hyper: one connection per 64 workers of a
    /// runtime thread; reqwest: one per host and thread).
    #[arg(long)]
    pub http2: bool,

    /// On a 503 or 429 with Retry-After, back off as told: in closed loop the worker waits that
    /// long; in open loop the client that got it skips its starts that fall in the window
    /// (counted as deferred), the other clients go on (see `--clients`).
    #[arg(long)]
    pub respect_retry_after: bool,

    /// Open loop: the simulated client population; start i belongs to client i mod N, so each
    /// client starts R/N requests per second, and `--respect-retry-after` pauses only the client
    /// that was told to. Default: one client per slot (`-c`). `--clients 1` is one client that
    /// pauses everything.
    #[arg(long, value_name = "N", value_parser = parse_concurrency, requires = "rate")]
    pub clients: Option<usize>,

    /// Write the JSON report to PATH (`-` for stdout; the text summary then goes to stderr).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Fail (exit code 3) unless EXPR holds, e.g. `p99<250ms`, `success_rate>=0.95`, `rps>=100`,
    /// `error_rate<0.01`; repeatable.
    ///
    /// Metrics: rps, success_rps, requests, success_rate, error_rate, rejected_rate; in open loop
    /// achieved_rate, late_starts, missed (due starts never sent), aborted (in flight at the
    /// end); the latencies min, mean, p50, p90, p95, p99, p999, max, also as success_p99,
    /// rejected_p99, corrected_p99 (closed loop: corrected for coordinated omission) and so on
    /// (latencies count unfinished requests at their lower bound).
    /// Operators: <, <=, >, >=. Latencies take a unit (us, ms, s); rates take 0.95 or 95%.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<Threshold>,

    /// No progress bar (there is none anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Write a self-contained HTML page (no script, nothing fetched when opened) with charts of
    /// the run over time: responses per second by outcome, success latency percentiles, and the
    /// server's in-flight count and limit when its `/metrics` is reachable.
    #[arg(long, value_name = "PATH.html")]
    pub report: Option<PathBuf>,
}

impl LoadOpts {
    /// Options for `url` with every default, as if given alone on the command line.
    pub fn new(url: Url) -> Self {
        let mut opts = Opts::parse_from(["floodgate-load", url.as_str()]).load;
        opts.urls = vec![url];
        opts
    }

    /// The first target (the one whose `/metrics` an HTML report charts).
    pub fn url(&self) -> Option<&Url> {
        self.urls.first()
    }
}

/// Which HTTP engine sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// hyper for plain http:// without a proxy, reqwest otherwise.
    Auto,
    /// One raw hyper HTTP/1.1 connection per worker.
    Hyper,
    /// reqwest: https, HTTP/2, proxies from the environment.
    Reqwest,
}

/// Parses an `http://` or `https://` URL.
pub fn parse_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err("the URL has no host".to_owned()),
        other => Err(format!(
            "unsupported scheme {other}:// (use http:// or https://)"
        )),
    }
}

/// Parses a duration with a unit: `250ms`, `10s`, `1m30s` (humantime); zero is refused.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value.trim()).map_err(|err| err.to_string())?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// Parses a number with an optional `k` (thousand) or `m` (million) suffix, and `_` separators:
/// `1500`, `10k`, `1.5k`, `2M`, `10_000`.
pub fn parse_scaled(value: &str) -> Result<f64, String> {
    let cleaned: String = value.trim().chars().filter(|&c| c != '_').collect();
    let (digits, factor) = match cleaned.char_indices().last() {
        Some((i, 'k' | 'K')) => (&cleaned[..i], 1e3),
        Some((i, 'm' | 'M')) => (&cleaned[..i], 1e6),
        _ => (cleaned.as_str(), 1.0),
    };
    let number: f64 = digits
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0 && !digits.starts_with('+'))
        .ok_or_else(|| format!("not a number: {value:?} (examples: 100, 10k, 1.5k, 2M)"))?;
    Ok(number * factor)
}

/// Parses a whole count such as `10000` or `10k`; zero is refused.
pub fn parse_count(value: &str) -> Result<u64, String> {
    let number = parse_scaled(value)?;
    if number.fract() != 0.0 || number > u64::MAX as f64 {
        return Err(format!("not a whole number: {value:?}"));
    }
    if number == 0.0 {
        return Err("must be at least 1".to_owned());
    }
    Ok(number as u64)
}

/// Parses `-c`: a count that fits in memory (at most a million in flight).
pub fn parse_concurrency(value: &str) -> Result<usize, String> {
    let count = parse_count(value)?;
    if count > 1_000_000 {
        return Err(format!("{count} is too many (at most 1M)"));
    }
    Ok(count as usize)
}

/// Parses a rate in requests per second: `500`, `20k`, `0.5`; must be positive.
pub fn parse_rate(value: &str) -> Result<f64, String> {
    let rate = parse_scaled(value)?;
    if rate <= 0.0 {
        return Err("must be greater than zero".to_owned());
    }
    if rate > 10e6 {
        return Err(format!(
            "{rate} per second is more than this tool can start (10M)"
        ));
    }
    Ok(rate)
}

/// Parses an HTTP method; standard ones are upper-cased (`get` is `GET`).
pub fn parse_method(value: &str) -> Result<Method, String> {
    let upper = value.to_ascii_uppercase();
    let known = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    let name = if known.contains(&upper.as_str()) {
        upper.as_str()
    } else {
        value
    };
    Method::from_bytes(name.as_bytes()).map_err(|_| format!("not an HTTP method: {value:?}"))
}

/// Parses a header given as `Name: value`.
pub fn parse_header(value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, val) = value
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got {value:?}"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("not a valid header name: {:?}", name.trim()))?;
    let val = HeaderValue::from_str(val.trim())
        .map_err(|_| format!("not a valid value for header {name}: {:?}", val.trim()))?;
    Ok((name, val))
}

/// The largest `--body-file`: the file is held in memory for the whole run.
pub const MAX_BODY_FILE: u64 = 64 * 1024 * 1024;

/// Reads a request body from a file of at most [`MAX_BODY_FILE`] bytes.
pub fn parse_body_file(path: &str) -> Result<Bytes, String> {
    let file = std::fs::File::open(path).map_err(|err| format!("cannot read {path}: {err}"))?;
    let len = file
        .metadata()
        .map_err(|err| format!("cannot read {path}: {err}"))?
        .len();
    if len > MAX_BODY_FILE {
        return Err(format!(
            "{path} is {len} bytes, more than the 64 MiB a body file may have (it is held in \
             memory); for a large upload use --body-ndjson-mb"
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while it is read.
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_BODY_FILE + 1),
        &mut bytes,
    )
    .map_err(|err| format!("cannot read {path}: {err}"))?;
    if bytes.len() as u64 > MAX_BODY_FILE {
        return Err(format!("{path} grew past 64 MiB while it was read"));
    }
    Ok(Bytes::from(bytes))
}

/// Parses `--body-ndjson-mb`: whole megabytes, 1 to 1000000 (a terabyte).
pub fn parse_body_mb(value: &str) -> Result<u64, String> {
    let mb = parse_count(value)?;
    if mb > 1_000_000 {
        return Err(format!("{mb} MB is too much (at most 1000000, a terabyte)"));
    }
    Ok(mb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Opts::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
        assert!(parse_duration("10").unwrap_err().contains("unit needed"));
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1500"), Ok(1500));
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("1.5K"), Ok(1500));
        assert_eq!(parse_count("2M"), Ok(2_000_000));
        assert_eq!(parse_count("10_000"), Ok(10_000));
        assert!(parse_count("1.5").unwrap_err().contains("whole"));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(parse_count("-3").unwrap_err().contains("not a number"));
        assert!(parse_count("ten").unwrap_err().contains("not a number"));
        assert!(parse_count("k").is_err());
        assert!(parse_concurrency("2M").unwrap_err().contains("too many"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20k"), Ok(20_000.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("inf").is_err());
        assert!(parse_rate("NaN").is_err());
    }

    #[test]
    fn headers() {
        let (name, value) = parse_header("X-Api-Key: abc: def").unwrap();
        assert_eq!(name, "x-api-key");
        assert_eq!(value, "abc: def");
        let (_, empty) = parse_header("X-Empty:").unwrap();
        assert_eq!(empty, "");
        assert!(parse_header("NoColon").unwrap_err().contains("Name: value"));
        assert!(
            parse_header("Bad Name: x")
                .unwrap_err()
                .contains("header name")
        );
        assert!(parse_header("X: a\nb").unwrap_err().contains("value"));
    }

    #[test]
    fn methods_and_urls() {
        assert_eq!(parse_method("post"), Ok(Method::POST));
        assert_eq!(parse_method("PURGE").unwrap().as_str(), "PURGE");
        assert!(parse_method("GE T").is_err());
        assert!(parse_url("http://127.0.0.1:8080/slow").is_ok());
        assert!(parse_url("ftp://host/").unwrap_err().contains("scheme"));
        assert!(parse_url("localhost:8080").is_err());
        assert!(parse_url("nope").is_err());
    }

    #[test]
    fn options_parse_and_conflict() {
        let opts = Opts::try_parse_from([
            "floodgate-load",
            "-c",
            "64",
            "-r",
            "1k",
            "-n",
            "10k",
            "-H",
            "X-A: 1",
            "--fail-if",
            "p99<250ms",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert!(opts.command.is_none());
        assert_eq!(opts.load.concurrency, 64);
        assert_eq!(opts.load.rate, Some(1000.0));
        assert_eq!(opts.load.requests, Some(10_000));
        assert_eq!(opts.load.timeout, Duration::from_secs(30));
        assert_eq!(opts.load.fail_if.len(), 1);

        let both = Opts::try_parse_from(["floodgate-load", "-d", "1s", "-n", "5", "http://a/"]);
        assert!(both.is_err());
        let missing = Opts::try_parse_from(["floodgate-load"]);
        assert!(missing.is_err());
        let demo = Opts::try_parse_from(["floodgate-load", "demo"]).unwrap();
        assert!(matches!(demo.command, Some(Command::Demo(_))));
        let clients =
            Opts::try_parse_from(["floodgate-load", "-r", "9", "--clients", "2k", "http://a/"]);
        assert_eq!(clients.unwrap().load.clients, Some(2000));
        let closed = Opts::try_parse_from(["floodgate-load", "--clients", "8", "http://a/"]);
        assert_eq!(
            closed.unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let bad = Opts::try_parse_from(["floodgate-load", "--fail-if", "p99<<1", "http://a/"]);
        assert_eq!(
            bad.unwrap_err().kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }

    #[test]
    fn body_options() {
        let parse = |args: &[&str]| {
            Opts::try_parse_from(["floodgate-load"].iter().chain(args).chain(&["http://a/"]))
        };
        let ndjson = parse(&["-m", "POST", "--body-ndjson-mb", "50"]).unwrap();
        assert_eq!(ndjson.load.body_ndjson_mb, Some(50));
        assert_eq!(ndjson.load.method, Method::POST);
        for conflict in [
            &["--body", "x", "--body-ndjson-mb", "1"][..],
            &["--body-file", "Cargo.toml", "--body-ndjson-mb", "1"],
            &["--body", "x", "--body-file", "Cargo.toml"],
        ] {
            let err = parse(conflict).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
            assert_eq!(err.exit_code(), 2);
        }
        for bad in ["0", "1.5", "2M", "lots"] {
            let err = parse(&["--body-ndjson-mb", bad]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let missing = parse(&["--body-file", "/no/such/file"]).unwrap_err();
        assert!(missing.to_string().contains("cannot read /no/such/file"));
        let file = parse(&["--body-file", "Cargo.toml"]).unwrap();
        let expected = std::fs::read("Cargo.toml").unwrap();
        assert_eq!(file.load.body_file.as_deref(), Some(&expected[..]));
    }

    #[test]
    fn a_body_file_over_the_limit_is_refused() {
        let path = std::env::temp_dir().join(format!("floodgate-load-big-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: no disk space is used.
        file.set_len(MAX_BODY_FILE + 1).unwrap();
        let err = parse_body_file(path.to_str().unwrap()).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            err.contains("64 MiB") && err.contains("--body-ndjson-mb"),
            "{err}"
        );
        assert!(err.contains(path.to_str().unwrap()));
    }

    #[test]
    fn defaults_for_a_url() {
        let opts = LoadOpts::new(Url::parse("http://127.0.0.1:9/").unwrap());
        assert_eq!(opts.concurrency, 50);
        assert_eq!(opts.engine, EngineKind::Auto);
        assert_eq!(opts.duration, None);
    }
}
