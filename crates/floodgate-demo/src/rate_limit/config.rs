//! The rate limit's flags: `--rate`, `--burst`, `--rate-key`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use floodgate::Quota;
use floodgate::rate_limit::redis::{Fallback, RedisStore};

use super::KeySpec;

use crate::parse;

/// The largest `--rate`, in requests per second: far beyond what the demo can serve.
pub(crate) const MAX_RATE: u32 = 1_000_000;

/// The largest `--burst`: far beyond any demo, and small enough that a full bucket at the
/// slowest rate (0.001/s) stays within governor's 64-bit nanosecond arithmetic.
pub(crate) const MAX_BURST: u32 = 1_000_000;

/// Decimal places a `--rate` may have: rates down to one request in 1000 s.
const MAX_DECIMALS: usize = 3;

/// The token-bucket rate limit in front of `/slow` and `/fast` (flattened into
/// [`Config`](crate::Config)); off unless `--rate` is given.
///
/// The rate limit runs before the gate: a request over the rate is answered `429 Too Many
/// Requests` at once (with `Retry-After` and the `RateLimit-Policy`/`RateLimit` fields) and never
/// takes a permit of the gate. Admitted responses carry the `RateLimit` fields too, so a client
/// can see how many requests it has left.
///
/// ```
/// use floodgate_demo::KeySpec;
/// use floodgate_demo::{App, Config, Rate, RateLimitConfig};
///
/// let app = App::new(&Config {
///     rate_limit: RateLimitConfig {
///         rate: Some(Rate::per_second(50)),
///         burst: Some(10),
///         rate_key: KeySpec::PeerIp,
///         ..RateLimitConfig::default()
///     },
///     ..Config::default()
/// });
/// let limiter = app.rate_limiter().unwrap();
/// assert_eq!(limiter.quota().burst_size(), 10);
///
/// // Without --burst, the bucket holds one second's worth of requests.
/// let config = RateLimitConfig { rate: Some("2.5".parse().unwrap()), ..Default::default() };
/// assert_eq!(config.burst_size(), Some(3));
/// assert!(RateLimitConfig::default().quota().is_none(), "off by default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RateLimitConfig {
    /// Rate limit for /slow and /fast, in requests per second (per key): a whole number or a
    /// decimal like 2.5 or 0.1; requests over it get 429 with Retry-After [default: off].
    #[arg(
        long,
        env = "FLOODGATE_RATE",
        value_name = "R",
        help_heading = "Rate limit (before the gate)"
    )]
    pub rate: Option<Rate>,

    /// Requests a client may send at once before --rate applies (the bucket size); needs --rate
    /// [default: one second's worth: R rounded up].
    #[arg(
        long,
        env = "FLOODGATE_BURST",
        requires = "rate",
        value_parser = burst,
        value_name = "B",
        help_heading = "Rate limit (before the gate)"
    )]
    pub burst: Option<u32>,

    /// Who shares a bucket: `global` (everybody), `ip` (each peer address), or `header:NAME`
    /// (each value of header NAME; requests without it share one bucket); needs --rate.
    #[arg(
        long,
        env = "FLOODGATE_RATE_KEY",
        requires = "rate",
        default_value = "global",
        value_name = "KEY",
        help_heading = "Rate limit (before the gate)"
    )]
    pub rate_key: KeySpec,

    /// Keep the rate limit's buckets in Redis at this URL (`redis://HOST:PORT/DB`), shared by
    /// every replica given the same URL; needs --rate [default: in this process].
    #[arg(
        long,
        env = "FLOODGATE_REDIS_URL",
        requires = "rate",
        value_name = "URL",
        help_heading = "Rate limit (before the gate)"
    )]
    pub redis_url: Option<RedisUrl>,

    /// What decides while Redis does not answer: `local` (each replica on its own, at
    /// 1/--rate-replicas of the rate), `allow` (everything passes) or `deny` (everything gets
    /// 429); needs --redis-url.
    #[arg(
        long,
        env = "FLOODGATE_RATE_FALLBACK",
        requires = "redis_url",
        default_value = "local",
        value_name = "MODE",
        help_heading = "Rate limit (before the gate)"
    )]
    pub rate_fallback: RateFallback,

    /// How many replicas share the Redis quota: the local fallback gives each 1/N of --rate and
    /// of --burst; needs --redis-url.
    #[arg(
        long,
        env = "FLOODGATE_RATE_REPLICAS",
        requires = "redis_url",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        value_name = "N",
        help_heading = "Rate limit (before the gate)"
    )]
    pub rate_replicas: u32,
}

/// A `--redis-url`, checked to be a Redis URL (the connection is made on the first request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// The URL without its password, for logs: `redis://user:***@host/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        let credentials = url.find("://").map(|scheme| scheme + 3).and_then(|start| {
            let at = start + url[start..].find('@')?;
            let colon = start + url[start..at].find(':')?;
            Some((colon + 1, at))
        });
        match credentials {
            Some((start, end)) => write!(f, "{}***{}", &url[..start], &url[end..]),
            None => f.write_str(url),
        }
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        RedisStore::open(url)
            .map(|_| RedisUrl(url.to_owned()))
            .map_err(|error| format!("{url:?} is not a Redis URL ({error})"))
    }
}

/// `--rate-fallback`: what decides while Redis does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RateFallback {
    /// Each replica limits on its own, with its share of the quota.
    #[default]
    Local,
    /// Every request passes.
    Allow,
    /// Every request gets 429.
    Deny,
}

impl Default for RateLimitConfig {
    /// The flags' defaults: no rate limit (and a global key, were there one).
    fn default() -> Self {
        Self {
            rate: None,
            burst: None,
            rate_key: KeySpec::Global,
            redis_url: None,
            rate_fallback: RateFallback::Local,
            rate_replicas: 1,
        }
    }
}

impl RateLimitConfig {
    /// Whether `--rate` is set.
    pub fn is_on(&self) -> bool {
        self.rate.is_some()
    }

    /// The bucket size: `--burst`, or one second's worth of requests (the rate rounded up, at
    /// least 1). `None` when the rate limit is off.
    pub fn burst_size(&self) -> Option<u32> {
        let rate = self.rate?;
        Some(self.burst.unwrap_or_else(|| rate.one_second_worth()))
    }

    /// The rate limit's [`Quota`], or `None` when it is off.
    pub fn quota(&self) -> Option<Quota> {
        let rate = self.rate?;
        let burst = self.burst_size()?;
        Some(rate.quota().burst(burst))
    }
}

impl RateLimitConfig {
    /// The Redis store of `--redis-url`, with the fallback of `--rate-fallback` and
    /// `--rate-replicas`; `None` when the buckets are local (or the rate limit is off).
    pub fn store(&self) -> Option<RedisStore> {
        let url = self.redis_url.as_ref()?;
        let quota = self.quota()?;
        let store = RedisStore::open(url.as_str()).expect("checked when parsed");
        let fallback = match self.rate_fallback {
            RateFallback::Local => {
                Fallback::Local(quota.share(1.0 / f64::from(self.rate_replicas)))
            }
            RateFallback::Allow => Fallback::Allow,
            RateFallback::Deny => Fallback::Deny,
        };
        Some(store.fallback(fallback))
    }
}

impl fmt::Display for RateLimitConfig {
    /// `off`, or the settings in one word, for the startup log line: `50/s,burst=10,key=ip`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.rate, self.burst_size()) {
            (Some(rate), Some(burst)) => {
                write!(f, "{rate}/s,burst={burst},key={}", self.rate_key)?;
                if let Some(url) = &self.redis_url {
                    let fallback = format!("{:?}", self.rate_fallback).to_lowercase();
                    write!(f, ",redis={url},fallback={fallback}")?;
                }
                Ok(())
            }
            _ => f.write_str("off"),
        }
    }
}

/// A `--rate`: requests per second, a whole number or a decimal with up to three decimal
/// places, from 0.001 to 1,000,000.
///
/// Kept as an exact fraction (`2.5` is 5 requests per 2 seconds), so that the bucket's emission
/// interval and the `RateLimit-Policy` field (`q=5;w=2`) carry no rounding error.
///
/// ```
/// use std::time::Duration;
/// use floodgate_demo::Rate;
///
/// let rate: Rate = "2.5".parse().unwrap();
/// assert_eq!(rate.quota().emission_interval(), Duration::from_millis(400));
/// assert_eq!(rate.to_string(), "2.5");
/// assert_eq!(Rate::per_second(50).quota().rate(), (50, Duration::from_secs(1)));
/// assert!("0".parse::<Rate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per `per_secs` seconds, in lowest terms.
    requests: u32,
    per_secs: u32,
}

impl Rate {
    /// `requests` per second.
    ///
    /// # Panics
    ///
    /// If `requests` is 0 or more than 1,000,000.
    pub fn per_second(requests: u32) -> Self {
        assert!(
            (1..=MAX_RATE).contains(&requests),
            "a rate must be from 1 to {MAX_RATE} requests per second"
        );
        Self {
            requests,
            per_secs: 1,
        }
    }

    /// The requests per second, as a float (for metrics).
    pub fn as_f64(self) -> f64 {
        f64::from(self.requests) / f64::from(self.per_secs)
    }

    /// The steady rate as a [`Quota`] (its burst is set by [`RateLimitConfig::quota`]).
    pub fn quota(self) -> Quota {
        Quota::new(self.requests, Duration::from_secs(self.per_secs.into()))
    }

    /// One second's worth of requests, rounded up: the default burst.
    fn one_second_worth(self) -> u32 {
        self.requests.div_ceil(self.per_secs).max(1)
    }
}

impl FromStr for Rate {
    type Err = ParseRateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem| ParseRateError { problem };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
            return Err(error(Problem::NotANumber));
        }
        if fraction.len() > MAX_DECIMALS {
            return Err(error(Problem::TooPrecise));
        }
        // In thousandths of a request per second, exact.
        let scale = 10_u64.pow(MAX_DECIMALS as u32);
        let whole: u64 = whole.parse().map_err(|_| error(Problem::TooLarge))?;
        let fraction: u64 = if fraction.is_empty() {
            0
        } else {
            let padding = 10_u64.pow((MAX_DECIMALS - fraction.len()) as u32);
            fraction.parse::<u64>().expect("1 to 3 digits") * padding
        };
        let thousandths = whole
            .checked_mul(scale)
            .and_then(|whole| whole.checked_add(fraction))
            .ok_or(error(Problem::TooLarge))?;
        if thousandths == 0 {
            return Err(error(Problem::Zero));
        }
        if thousandths > u64::from(MAX_RATE) * scale {
            return Err(error(Problem::TooLarge));
        }
        let common = gcd(thousandths, scale);
        let narrow = |value: u64| u32::try_from(value / common).expect("at most 10^9");
        Ok(Self {
            requests: narrow(thousandths),
            per_secs: narrow(scale),
        })
    }
}

impl fmt::Display for Rate {
    /// The rate in requests per second, as a decimal: `50`, `2.5`, `0.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.requests / self.per_secs;
        let remainder = self.requests % self.per_secs;
        if remainder == 0 {
            return write!(f, "{whole}");
        }
        // `per_secs` divides 1000, so three decimals are exact.
        let thousandths = u64::from(remainder) * 1000 / u64::from(self.per_secs);
        let decimals = format!("{thousandths:03}");
        write!(f, "{whole}.{}", decimals.trim_end_matches('0'))
    }
}

/// The text given for a [`Rate`] is not a rate from 0.001 to 1,000,000 requests per second with
/// at most three decimal places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRateError {
    problem: Problem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    NotANumber,
    TooPrecise,
    Zero,
    TooLarge,
}

impl fmt::Display for ParseRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::NotANumber => {
                f.write_str("not a rate in requests per second (expected a number like 50 or 2.5)")
            }
            Problem::TooPrecise => write!(f, "at most {MAX_DECIMALS} decimal places"),
            Problem::Zero => f.write_str("must be more than 0"),
            Problem::TooLarge => write!(f, "must be at most {MAX_RATE}"),
        }
    }
}

impl std::error::Error for ParseRateError {}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A `--burst`: from 1 to [`MAX_BURST`].
fn burst(value: &str) -> Result<u32, String> {
    let burst = parse::at_least_one(value)?;
    u32::try_from(burst)
        .ok()
        .filter(|burst| *burst <= MAX_BURST)
        .ok_or_else(|| format!("must be at most {MAX_BURST}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use http::HeaderName;

    use crate::config::Cli;

    use super::*;

    fn parse(args: &[&str]) -> Result<RateLimitConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("floodgate-demo").chain(args.iter().copied()))
            .map(|cli| cli.config.rate_limit)
    }

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    #[test]
    fn off_by_default() {
        let config = parse(&[]).unwrap();
        assert_eq!(config, RateLimitConfig::default());
        assert!(!config.is_on());
        assert_eq!(config.quota(), None);
        assert_eq!(config.to_string(), "off");
    }

    #[test]
    fn flags_set_rate_burst_and_key() {
        let config = parse(&["--rate", "50", "--burst", "10", "--rate-key", "ip"]).unwrap();
        assert_eq!(
            config,
            RateLimitConfig {
                rate: Some(Rate::per_second(50)),
                burst: Some(10),
                rate_key: KeySpec::PeerIp,
                ..RateLimitConfig::default()
            }
        );
        let quota = config.quota().unwrap();
        assert_eq!(quota.emission_interval(), Duration::from_millis(20));
        assert_eq!(quota.burst_size(), 10);
        assert_eq!(config.to_string(), "50/s,burst=10,key=ip");

        let config = parse(&["--rate=7", "--rate-key=header:X-Api-Key"]).unwrap();
        assert_eq!(
            config.rate_key,
            KeySpec::Header(HeaderName::from_static("x-api-key"))
        );
        assert_eq!(config.to_string(), "7/s,burst=7,key=header:x-api-key");
    }

    #[test]
    fn the_default_burst_is_one_second_worth_rounded_up() {
        for (text, burst) in [("50", 50), ("2.5", 3), ("0.5", 1), ("0.001", 1)] {
            let config = parse(&["--rate", text]).unwrap();
            assert_eq!(config.burst_size(), Some(burst), "--rate {text}");
            assert_eq!(config.quota().unwrap().burst_size(), burst, "--rate {text}");
        }
    }

    #[test]
    fn rates_are_exact_fractions() {
        let interval = |text: &str| rate(text).quota().emission_interval();
        assert_eq!(interval("1"), Duration::from_secs(1));
        assert_eq!(interval("2.5"), Duration::from_millis(400));
        assert_eq!(interval("0.1"), Duration::from_secs(10));
        assert_eq!(interval("0.001"), Duration::from_secs(1000));
        assert_eq!(interval("1000000"), Duration::from_micros(1));
        assert_eq!(rate("2.5").quota().rate(), (5, Duration::from_secs(2)));
        assert_eq!(rate("0.250").quota().rate(), (1, Duration::from_secs(4)));
        assert_eq!(rate("50.0"), Rate::per_second(50));
        assert_eq!(rate("007"), Rate::per_second(7));
        assert_eq!(rate("2.5").as_f64(), 2.5);
    }

    #[test]
    fn rates_display_as_they_were_given() {
        for text in [
            "1",
            "50",
            "2.5",
            "0.1",
            "0.125",
            "0.001",
            "999999.999",
            "1000000",
        ] {
            assert_eq!(rate(text).to_string(), text);
        }
        assert_eq!(rate("2.50").to_string(), "2.5");
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        for (text, problem) in [
            ("0", "more than 0"),
            ("0.000", "more than 0"),
            ("0.0001", "decimal places"),
            ("1000000.001", "at most 1000000"),
            ("99999999999999999999999", "at most 1000000"),
            ("", "expected a number"),
            ("fast", "expected a number"),
            ("-5", "expected a number"),
            ("+5", "expected a number"),
            ("5.", "expected a number"),
            (".5", "expected a number"),
            ("1e3", "expected a number"),
            ("inf", "expected a number"),
            ("NaN", "expected a number"),
            ("2.5.1", "expected a number"),
            (" 5", "expected a number"),
        ] {
            let error = text.parse::<Rate>().unwrap_err();
            assert!(error.to_string().contains(problem), "{text:?}: {error}");
        }
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--rate", "0"][..], "--rate"),
            (&["--rate=-1"], "--rate"),
            (&["--rate", "lots"], "--rate"),
            (&["--rate", "50", "--burst", "0"], "--burst"),
            (&["--rate", "50", "--burst", "1000001"], "--burst"),
            (&["--rate", "50", "--burst", "2.5"], "--burst"),
            (&["--rate", "50", "--rate-key", "cookie"], "--rate-key"),
            (&["--rate", "50", "--rate-key", "header:"], "--rate-key"),
            (&["--rate", "50", "--redis-url", "http://x/"], "--redis-url"),
            (&["--rate", "50", "--redis-url", "redis://"], "--redis-url"),
            (
                &[
                    "--rate",
                    "50",
                    "--redis-url",
                    "redis://h/",
                    "--rate-fallback",
                    "maybe",
                ],
                "--rate-fallback",
            ),
            (
                &[
                    "--rate",
                    "50",
                    "--redis-url",
                    "redis://h/",
                    "--rate-replicas",
                    "0",
                ],
                "--rate-replicas",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn burst_and_key_need_a_rate() {
        for args in [&["--burst", "10"][..], &["--rate-key", "ip"]] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let message = err.to_string();
            assert!(message.contains(args[0]), "{args:?}: {message}");
            assert!(message.contains("--rate <R>"), "{args:?}: {message}");
        }
    }

    #[test]
    fn redis_flags_put_the_buckets_in_redis_with_a_fallback() {
        assert!(parse(&["--rate", "50"]).unwrap().store().is_none());
        let args = [
            "--rate",
            "90",
            "--burst",
            "30",
            "--redis-url",
            "redis://127.0.0.1:6379/",
        ];
        let config = parse(&args).unwrap();
        assert_eq!(config.rate_fallback, RateFallback::Local);
        assert_eq!(config.rate_replicas, 1);
        assert_eq!(
            config.to_string(),
            "90/s,burst=30,key=global,redis=redis://127.0.0.1:6379/,fallback=local"
        );
        let store = format!("{:?}", config.store().unwrap());
        assert!(
            store.contains("Local(Quota { count: 90, per: 1s, burst: 30"),
            "{store}"
        );

        let mut three = args.to_vec();
        three.extend(["--rate-replicas", "3"]);
        let store = format!("{:?}", parse(&three).unwrap().store().unwrap());
        assert!(
            store.contains("Local(Quota { count: 90, per: 3s, burst: 10"),
            "{store}"
        );

        let mut deny = args.to_vec();
        deny.extend(["--rate-fallback", "deny"]);
        let store = format!("{:?}", parse(&deny).unwrap().store().unwrap());
        assert!(store.contains("fallback: Some(Deny)"), "{store}");
    }

    #[test]
    fn redis_urls_are_logged_without_their_password() {
        let shown = |url: &str| url.parse::<RedisUrl>().unwrap().to_string();
        assert_eq!(shown("redis://:secret@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(shown("redis://app:secret@h/"), "redis://app:***@h/");
        assert_eq!(shown("redis://h:6379/"), "redis://h:6379/");
    }

    #[test]
    fn redis_flags_need_a_rate_and_a_url() {
        for (args, needs) in [
            (&["--redis-url", "redis://h/"][..], "--rate <R>"),
            (
                &["--rate", "5", "--rate-fallback", "allow"],
                "--redis-url <URL>",
            ),
            (
                &["--rate", "5", "--rate-replicas", "3"],
                "--redis-url <URL>",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(needs), "{args:?}: {err}");
        }
    }
}
