//! GCRA in one atomic server-side step: the Lua script, its arguments, and its answer.
//!
//! The same arithmetic as governor's (the local buckets), in microseconds on the Redis server's
//! clock (`TIME`), so replicas whose clocks disagree still share one bucket correctly. A key
//! holds the bucket's theoretical arrival time (TAT) and expires when the bucket is full
//! again, so an idle key costs nothing.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

/// `KEYS[1]`: the bucket. `ARGV[1]`: the emission interval `t`, `ARGV[2]`: the burst tolerance
/// `tau = t × (burst − 1)`, both in microseconds. Returns `{1, remaining}` for a request
/// admitted with `remaining` more requests allowed at once, or `{0, wait}` with the wait in
/// microseconds until the next token.
const GCRA: &str = r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if now < tat - tau then
  return {0, tat - tau - now}
end
local next = math.max(tat, now) + t
local ttl = math.ceil((next - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', ttl)
return {1, math.floor(math.min(now + tau + t - next, tau + t) / t)}
";

/// The script, hashed once: called by its SHA (`EVALSHA`), loaded on the first `NOSCRIPT`.
pub(super) static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

/// The script's arguments for a quota: the emission interval and the burst tolerance in
/// microseconds (the interval at least 1 µs: the store's resolution).
pub(super) fn arguments(emission_interval: Duration, burst: u32) -> (u64, u64) {
    let t = u64::try_from(emission_interval.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    (t, t.saturating_mul(u64::from(burst) - 1))
}

/// What Redis decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted; this many more requests would be admitted at once.
    Admitted { remaining: u32 },
    /// Over the rate; the next token comes after this wait.
    Limited { wait: Duration },
}

impl Verdict {
    /// Reads the script's answer; anything else is garbage (`None`).
    pub(super) fn parse(answer: &[i64]) -> Option<Self> {
        match *answer {
            [1, remaining] => Some(Self::Admitted {
                remaining: u32::try_from(remaining).ok()?,
            }),
            [0, wait] => Some(Self::Limited {
                wait: Duration::from_micros(u64::try_from(wait).ok()?),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_microseconds_with_the_burst_tolerance() {
        assert_eq!(arguments(Duration::from_millis(20), 10), (20_000, 180_000));
        assert_eq!(arguments(Duration::from_millis(20), 1), (20_000, 0));
        // Faster than a token per microsecond: the store's resolution.
        assert_eq!(arguments(Duration::from_nanos(10), 3), (1, 2));
    }

    #[test]
    fn parses_the_two_answers_and_refuses_anything_else() {
        assert_eq!(
            Verdict::parse(&[1, 4]),
            Some(Verdict::Admitted { remaining: 4 })
        );
        assert_eq!(
            Verdict::parse(&[0, 1500]),
            Some(Verdict::Limited {
                wait: Duration::from_micros(1500)
            })
        );
        assert_eq!(Verdict::parse(&[2, 0]), None);
        assert_eq!(Verdict::parse(&[0, -1]), None);
        assert_eq!(Verdict::parse(&[1]), None);
        assert_eq!(Verdict::parse(&[1, 2, 3]), None);
    }
}
