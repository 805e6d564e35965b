//! The `/jobs` worker pool's flags.

use clap::Args;

use crate::parse;

/// The largest `--workers`: tokio's default limit of blocking threads, so that every worker
/// running a CPU job has a thread of its own instead of queueing, unseen, in tokio's pool.
pub(crate) const MAX_WORKERS: usize = 512;

/// The largest `--job-queue`: far beyond any demo, and a bound on the pool's memory.
pub(crate) const MAX_JOB_QUEUE: usize = 1_000_000;

/// Settings of the `/jobs` worker pool (flattened into [`Config`](crate::Config)).
///
/// A job submission that finds the queue full waits up to `--max-wait` for a place, then is
/// answered `503` with `--retry-after`, as the gate answers requests.
///
/// ```
/// use floodgate_demo::{Config, JobsConfig};
///
/// let config = Config {
///     jobs: JobsConfig { workers: 2, job_queue: 8 },
///     ..Config::default()
/// };
/// assert_eq!(JobsConfig::default(), JobsConfig { workers: 4, job_queue: 64 });
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct JobsConfig {
    /// Workers of the /jobs pool: jobs that run at once (at most 512).
    #[arg(
        long,
        env = "FLOODGATE_WORKERS",
        default_value_t = 4,
        value_parser = workers,
        value_name = "N",
        help_heading = "Job pool (/jobs)"
    )]
    pub workers: usize,

    /// Jobs that may wait for a worker; a submission finding the queue full waits up to
    /// --max-wait, then is answered 503.
    #[arg(
        long,
        env = "FLOODGATE_JOB_QUEUE",
        default_value_t = 64,
        value_parser = job_queue,
        value_name = "N",
        help_heading = "Job pool (/jobs)"
    )]
    pub job_queue: usize,
}

impl Default for JobsConfig {
    /// The flags' defaults: 4 workers, 64 places in the queue.
    fn default() -> Self {
        Self {
            workers: 4,
            job_queue: 64,
        }
    }
}

fn workers(value: &str) -> Result<usize, String> {
    count_up_to(value, MAX_WORKERS)
}

fn job_queue(value: &str) -> Result<usize, String> {
    count_up_to(value, MAX_JOB_QUEUE)
}

/// A count from 1 to `max`.
fn count_up_to(value: &str, max: usize) -> Result<usize, String> {
    let count = parse::at_least_one(value)?;
    if count > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    use super::*;

    fn parse(args: &[&str]) -> Result<JobsConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("floodgate-demo").chain(args.iter().copied()))
            .map(|cli| cli.config.jobs)
    }

    #[test]
    fn flags_set_the_pool() {
        assert_eq!(parse(&[]).unwrap(), JobsConfig::default());
        assert_eq!(
            parse(&["--workers=2", "--job-queue", "8"]).unwrap(),
            JobsConfig {
                workers: 2,
                job_queue: 8
            }
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--workers", "0"][..], "--workers"),
            (&["--workers", "513"], "--workers"),
            (&["--job-queue", "0"], "--job-queue"),
            (&["--job-queue", "lots"], "--job-queue"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }
}
