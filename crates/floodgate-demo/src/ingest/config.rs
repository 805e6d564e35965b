//! The `/ingest` pipeline's flags.

use std::time::Duration;

use clap::Args;

use crate::parse;

/// The largest `--batch-size`: one batch is held in memory up to three times per upload.
pub(crate) const MAX_BATCH_SIZE: usize = 100_000;

/// Settings of the `/ingest` pipeline (flattened into [`Config`](crate::Config)).
///
/// The sink stores at most `batch_size / sink_delay` records per second: that is the rate the
/// server reads an upload at, once the pipeline's small buffers are full.
///
/// ```
/// use std::time::Duration;
/// use floodgate_demo::{Config, IngestConfig};
///
/// let config = Config {
///     ingest: IngestConfig {
///         batch_size: 500,
///         sink_delay: Duration::from_millis(50),
///         ..IngestConfig::default()
///     },
///     ..Config::default()
/// };
/// assert_eq!(IngestConfig::default().batch_size, 1000);
/// assert_eq!(IngestConfig::default().max_bytes, 1 << 30);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct IngestConfig {
    /// Records per batch handed to the sink (at most 100000).
    #[arg(
        long,
        env = "FLOODGATE_BATCH_SIZE",
        default_value_t = 1000,
        value_parser = batch_size,
        value_name = "N",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub batch_size: usize,

    /// A batch goes to the sink this long after its first record, even if it is not full.
    #[arg(
        long,
        env = "FLOODGATE_BATCH_TIMEOUT",
        default_value = "100ms",
        value_parser = parse::positive_duration,
        value_name = "DURATION",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub batch_timeout: Duration,

    /// Time the deliberately slow sink takes to store one batch.
    #[arg(
        long,
        env = "FLOODGATE_SINK_DELAY",
        default_value = "10ms",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub sink_delay: Duration,

    /// Uploads processed at once; more wait up to --max-wait, then are answered 503.
    #[arg(
        long = "ingest-concurrency",
        env = "FLOODGATE_INGEST_CONCURRENCY",
        default_value_t = 4,
        value_parser = parse::at_least_one,
        value_name = "N",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub concurrency: usize,

    /// The largest upload, in bytes or with a unit (500MiB, 2GB); larger ones are answered 413.
    #[arg(
        long = "ingest-max-bytes",
        env = "FLOODGATE_INGEST_MAX_BYTES",
        default_value = "1GiB",
        value_parser = byte_size,
        value_name = "SIZE",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub max_bytes: usize,

    /// The slowest upload accepted, in bytes per second (1KiB, 500B): the time the server waits
    /// for the body may not exceed 30 s plus one second per this many bytes received (time the
    /// server spends not reading, because its pipeline is full, does not count). Slower
    /// uploads are answered 408, and their permit freed.
    #[arg(
        long = "ingest-min-rate",
        env = "FLOODGATE_INGEST_MIN_RATE",
        default_value = "1KiB",
        value_parser = byte_rate,
        value_name = "BYTES_PER_SECOND",
        help_heading = "Ingest pipeline (/ingest)"
    )]
    pub min_rate: usize,
}

impl Default for IngestConfig {
    /// The flags' defaults: batches of 1000 records, flushed after 100ms, a sink taking 10ms
    /// per batch, 4 uploads at once, 1 GiB per upload, at least 1 KiB/s.
    fn default() -> Self {
        Self {
            batch_size: 1000,
            batch_timeout: Duration::from_millis(100),
            sink_delay: Duration::from_millis(10),
            concurrency: 4,
            max_bytes: 1 << 30,
            min_rate: 1024,
        }
    }
}

fn batch_size(value: &str) -> Result<usize, String> {
    let size = parse::at_least_one(value)?;
    if size > MAX_BATCH_SIZE {
        return Err(format!("must be at most {MAX_BATCH_SIZE}"));
    }
    Ok(size)
}

/// A rate in bytes per second: a [size](byte_size), optionally followed by `/s`.
fn byte_rate(value: &str) -> Result<usize, String> {
    byte_size(value.strip_suffix("/s").unwrap_or(value))
}

/// A size in bytes: a whole number, optionally followed by a unit (`B`, `KB`, `MB`, `GB`,
/// `KiB`, `MiB`, `GiB`); at least one byte.
fn byte_size(value: &str) -> Result<usize, String> {
    const EXPECTED: &str = "expected a size like 1048576, 500MiB or 2GB";
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: u64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}: {EXPECTED}")),
    };
    let bytes = number
        .checked_mul(multiplier)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| "too large".to_owned())?;
    if bytes == 0 {
        return Err("must be at least 1 byte".to_owned());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    use super::*;

    fn parse(args: &[&str]) -> Result<IngestConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("floodgate-demo").chain(args.iter().copied()))
            .map(|cli| cli.config.ingest)
    }

    #[test]
    fn flags_set_the_pipeline() {
        assert_eq!(parse(&[]).unwrap(), IngestConfig::default());
        assert_eq!(
            parse(&[
                "--batch-size=50",
                "--batch-timeout=1s",
                "--sink-delay=0s",
                "--ingest-concurrency=2",
                "--ingest-max-bytes=64MiB",
                "--ingest-min-rate=10KB/s",
            ])
            .unwrap(),
            IngestConfig {
                batch_size: 50,
                batch_timeout: Duration::from_secs(1),
                sink_delay: Duration::ZERO,
                concurrency: 2,
                max_bytes: 64 << 20,
                min_rate: 10_000,
            }
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--batch-size", "0"][..], "--batch-size"),
            (&["--batch-size", "100001"], "--batch-size"),
            (&["--batch-timeout", "0s"], "--batch-timeout"),
            (&["--sink-delay", "slow"], "--sink-delay"),
            (&["--ingest-concurrency", "0"], "--ingest-concurrency"),
            (&["--ingest-max-bytes", "1TB"], "--ingest-max-bytes"),
            (&["--ingest-min-rate", "0"], "--ingest-min-rate"),
            (&["--ingest-min-rate", "fast"], "--ingest-min-rate"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(byte_size("1048576"), Ok(1 << 20));
        assert_eq!(byte_size("512B"), Ok(512));
        assert_eq!(byte_size("10KB"), Ok(10_000));
        assert_eq!(byte_size("10kB"), Ok(10_000));
        assert_eq!(byte_size("3 MiB"), Ok(3 << 20));
        assert_eq!(byte_size("2GB"), Ok(2_000_000_000));
        assert_eq!(byte_size("1GiB"), Ok(1 << 30));
        assert_eq!(byte_rate("1KiB/s"), Ok(1024));
        assert_eq!(byte_rate("500"), Ok(500));
        assert!(byte_size("0").unwrap_err().contains("at least 1"));
        assert!(byte_size("1TB").unwrap_err().contains("unknown unit"));
        assert!(byte_size("MiB").unwrap_err().contains("expected a size"));
        assert!(byte_size("-1").unwrap_err().contains("expected a size"));
        assert!(
            byte_size("99999999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
