//! clap value parsers for the values a plain type does not validate.
//!
//! Each returns a short message; clap prints it after the offending flag and value and exits
//! with code 2.

use std::time::Duration;

/// The longest duration any flag accepts. Longer ones are surely a typo, and would overflow
/// `Instant` arithmetic somewhere down the line.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest `--backend-capacity`: far beyond any demo, well within tokio's semaphore.
pub(crate) const MAX_BACKEND_CAPACITY: usize = 1_000_000;

/// A count of at least one (a limit of zero would admit nobody).
pub(crate) fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(count) => Ok(count),
        Err(err) => Err(format!("not a whole number: {err}")),
    }
}

/// A backend capacity: at least one slot, at most [`MAX_BACKEND_CAPACITY`].
pub(crate) fn backend_capacity(value: &str) -> Result<usize, String> {
    let capacity = at_least_one(value)?;
    if capacity > MAX_BACKEND_CAPACITY {
        return Err(format!("must be at most {MAX_BACKEND_CAPACITY}"));
    }
    Ok(capacity)
}

/// A `--max-slow-ms`: whole milliseconds, at most [`MAX_SLOW_MS`](crate::MAX_SLOW_MS).
pub(crate) fn max_slow_ms(value: &str) -> Result<u64, String> {
    let ms = value
        .parse::<u64>()
        .map_err(|err| format!("not a whole number of milliseconds: {err}"))?;
    if ms > crate::MAX_SLOW_MS {
        return Err(format!("must be at most {}", crate::MAX_SLOW_MS));
    }
    Ok(ms)
}

/// A humantime duration (`250ms`, `2s`, `1m 30s`), at most [`MAX_DURATION`].
pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value)
        .map_err(|err| format!("{err} (expected a duration like 250ms, 2s or 1m)"))?;
    if duration > MAX_DURATION {
        return Err("must be at most 24h".to_owned());
    }
    Ok(duration)
}

/// A [`duration`] that is not zero.
pub(crate) fn positive_duration(value: &str) -> Result<Duration, String> {
    let duration = duration(value)?;
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_start_at_one() {
        assert_eq!(at_least_one("1"), Ok(1));
        assert_eq!(at_least_one("64"), Ok(64));
        assert_eq!(at_least_one("0"), Err("must be at least 1".to_owned()));
        assert!(
            at_least_one("-1")
                .unwrap_err()
                .starts_with("not a whole number")
        );
        assert!(
            at_least_one("many")
                .unwrap_err()
                .starts_with("not a whole number")
        );
    }

    #[test]
    fn backend_capacity_is_bounded() {
        assert_eq!(backend_capacity("8"), Ok(8));
        assert!(backend_capacity("0").is_err());
        assert!(backend_capacity("1000001").is_err());
    }

    #[test]
    fn durations_are_humantime() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert_eq!(duration("24h"), Ok(MAX_DURATION));
        assert!(duration("25h").unwrap_err().contains("at most 24h"));
        assert!(
            duration("banana")
                .unwrap_err()
                .contains("expected a duration")
        );
        assert!(duration("100").is_err(), "a unit is required");
    }

    #[test]
    fn positive_durations_reject_zero() {
        assert_eq!(positive_duration("1ms"), Ok(Duration::from_millis(1)));
        assert!(
            positive_duration("0s")
                .unwrap_err()
                .contains("more than zero")
        );
    }
}
