//! The gate's `--limit-algorithm` and `--queue` flags.

use std::fmt;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use floodgate::Queue;

use crate::parse;

/// How the gate in front of `/slow` and `/fast` sets its limit and orders its queue (flattened
/// into [`Config`](crate::Config)).
///
/// With an adaptive [`Algorithm`], `--max-concurrency` is the ceiling of the limit (the
/// algorithm's `max_limit`), and the limit starts at the algorithm's own initial limit (20),
/// or at the ceiling if that is lower.
///
/// ```
/// use floodgate::Queue;
/// use floodgate_demo::{AdaptiveConfig, Algorithm, App, Config};
///
/// let app = App::new(&Config {
///     max_concurrency: 256,
///     adaptive: AdaptiveConfig {
///         limit_algorithm: Algorithm::Gradient2,
///         queue: Queue::Codel,
///         ..AdaptiveConfig::default()
///     },
///     ..Config::default()
/// });
/// let snapshot = app.gate().unwrap().snapshot();
/// assert!(snapshot.adaptive);
/// assert_eq!((snapshot.limit, snapshot.queue), (20, Queue::Codel));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct AdaptiveConfig {
    /// How the gate sets its limit: fixed at --max-concurrency, or adaptive (AIMD, Gradient2,
    /// Vegas) with --max-concurrency as the ceiling.
    #[arg(
        long,
        env = "FLOODGATE_LIMIT_ALGORITHM",
        value_enum,
        default_value_t = Algorithm::Fixed,
        value_name = "ALGORITHM",
        help_heading = "Admission"
    )]
    pub limit_algorithm: Algorithm,

    /// The gate's queue discipline. fifo: first come, first served. lifo and codel: once the
    /// queue has stood for half of --max-wait (sustained overload, not a burst), requests wait at most
    /// 5 ms; lifo serves the newest first, codel sheds those that waited longer.
    #[arg(
        long,
        env = "FLOODGATE_QUEUE",
        default_value = "fifo",
        value_parser = queue(),
        value_name = "QUEUE",
        help_heading = "Admission"
    )]
    pub queue: Queue,

    /// For --limit-algorithm aimd: a request slower than this counts as overload, and the limit
    /// backs off [default: 1.5 × --delay].
    #[arg(
        long,
        env = "FLOODGATE_AIMD_TIMEOUT",
        value_parser = parse::positive_duration,
        value_name = "DURATION",
        help_heading = "Admission"
    )]
    pub aimd_timeout: Option<Duration>,
}

impl Default for AdaptiveConfig {
    /// The flags' defaults: a fixed limit, a FIFO queue, the AIMD timeout from `--delay`.
    fn default() -> Self {
        Self {
            limit_algorithm: Algorithm::Fixed,
            queue: Queue::Fifo,
            aimd_timeout: None,
        }
    }
}

impl AdaptiveConfig {
    /// The AIMD timeout: `--aimd-timeout`, or 1.5 × `delay` (at least 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate_demo::AdaptiveConfig;
    ///
    /// let config = AdaptiveConfig::default();
    /// let ms = Duration::from_millis;
    /// assert_eq!(config.aimd_timeout_for(ms(50)), ms(75));
    /// ```
    pub fn aimd_timeout_for(&self, delay: Duration) -> Duration {
        self.aimd_timeout
            .unwrap_or_else(|| delay.mul_f64(1.5).max(Duration::from_millis(1)))
    }
}

/// A `--limit-algorithm`: which [`floodgate::limit::LimitAlgorithm`] sets the gate's limit:
/// [`Fixed`](floodgate::limit::Fixed), [`Aimd`](floodgate::limit::Aimd), [`Gradient2`](floodgate::limit::Gradient2),
/// [`Vegas`](floodgate::limit::Vegas) or [`Adaptive`](floodgate::limit::Adaptive).
///
/// (The variants' docs are the `--help` text, hence plain.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, ValueEnum)]
pub enum Algorithm {
    /// The limit is --max-concurrency, for ever.
    #[default]
    Fixed,
    /// AIMD: one more per round trip while the limit is used up, ×0.9 on a 5xx or a request
    /// slower than --aimd-timeout.
    Aimd,
    /// Gradient2: follows latency against its long-term average; the general choice.
    #[value(name = "gradient2")]
    Gradient2,
    /// Vegas: keeps the queue it estimates from the no-load latency at about 2 requests
    /// (alpha = beta = 2, for small backends).
    Vegas,
    /// Adaptive: no setting; measures the no-load latency (at 3 in flight, now and then) and
    /// keeps the 90th percentile latency within 10 % of it.
    Adaptive,
}

impl Algorithm {
    /// The flag value: `fixed`, `aimd`, `gradient2`, `vegas` or `adaptive`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Fixed => "fixed",
            Algorithm::Aimd => "aimd",
            Algorithm::Gradient2 => "gradient2",
            Algorithm::Vegas => "vegas",
            Algorithm::Adaptive => "adaptive",
        }
    }

    /// Whether the algorithm moves the limit.
    pub const fn is_adaptive(self) -> bool {
        !matches!(self, Algorithm::Fixed)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `fifo`, `lifo` or `codel`, listed in `--help` and in the error for anything else.
fn queue() -> impl TypedValueParser<Value = Queue> {
    PossibleValuesParser::new([Queue::Fifo, Queue::Lifo, Queue::Codel].map(Queue::as_str))
        .try_map(|name| name.parse::<Queue>())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    use super::*;

    fn parse(args: &[&str]) -> Result<AdaptiveConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("floodgate-demo").chain(args.iter().copied()))
            .map(|cli| cli.config.adaptive)
    }

    #[test]
    fn defaults_are_a_fixed_limit_and_a_fifo_queue() {
        assert_eq!(parse(&[]).unwrap(), AdaptiveConfig::default());
    }

    #[test]
    fn flags_set_the_algorithm_queue_and_timeout() {
        for (name, algorithm) in [
            ("fixed", Algorithm::Fixed),
            ("aimd", Algorithm::Aimd),
            ("gradient2", Algorithm::Gradient2),
            ("vegas", Algorithm::Vegas),
            ("adaptive", Algorithm::Adaptive),
        ] {
            let config = parse(&["--limit-algorithm", name]).unwrap();
            assert_eq!(config.limit_algorithm, algorithm, "{name}");
            assert_eq!(algorithm.as_str(), name);
            assert_eq!(algorithm.to_string(), name);
        }
        for (name, queue) in [
            ("fifo", Queue::Fifo),
            ("lifo", Queue::Lifo),
            ("codel", Queue::Codel),
        ] {
            assert_eq!(parse(&["--queue", name]).unwrap().queue, queue, "{name}");
        }
        assert_eq!(
            parse(&[
                "--limit-algorithm=aimd",
                "--queue=codel",
                "--aimd-timeout=80ms"
            ])
            .unwrap(),
            AdaptiveConfig {
                limit_algorithm: Algorithm::Aimd,
                queue: Queue::Codel,
                aimd_timeout: Some(Duration::from_millis(80)),
            }
        );
    }

    #[test]
    fn value_names_match_the_variants() {
        for algorithm in Algorithm::value_variants() {
            let name = algorithm.to_possible_value().unwrap();
            assert_eq!(name.get_name(), algorithm.as_str());
        }
    }

    #[test]
    fn bad_values_name_the_flag_and_the_choices() {
        for (args, flag, hint) in [
            (
                &["--limit-algorithm", "bbr"][..],
                "--limit-algorithm",
                "gradient2",
            ),
            (
                &["--limit-algorithm", "Gradient-2"],
                "--limit-algorithm",
                "vegas",
            ),
            (&["--queue", "random"], "--queue", "codel"),
            (&["--queue", ""], "--queue", "lifo"),
            (
                &["--aimd-timeout", "0s"],
                "--aimd-timeout",
                "more than zero",
            ),
            (&["--aimd-timeout", "soon"], "--aimd-timeout", "duration"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let message = err.to_string();
            assert!(message.contains(flag), "{args:?}: {message}");
            assert!(message.contains(hint), "{args:?}: {message}");
        }
    }

    #[test]
    fn the_aimd_timeout_defaults_to_one_and_a_half_delays() {
        let ms = Duration::from_millis;
        let config = AdaptiveConfig::default();
        assert_eq!(config.aimd_timeout_for(ms(200)), ms(300));
        assert_eq!(config.aimd_timeout_for(Duration::ZERO), ms(1));
        let config = AdaptiveConfig {
            aimd_timeout: Some(ms(40)),
            ..config
        };
        assert_eq!(config.aimd_timeout_for(ms(200)), ms(40));
    }
}
