//! The rate and burst of a bucket, and how they are advertised.

use std::num::NonZeroU32;
use std::time::Duration;

/// A token-bucket policy: a steady rate of requests and a burst allowance.
///
/// `count` requests per `per` is the steady rate: one token comes back every `per / count`
/// (the *emission interval*, at least one nanosecond). The burst is how many tokens the bucket
/// holds, so how many requests an idle client may send at once; it defaults to `count`.
///
/// The name identifies the policy in the `RateLimit-Policy` and `RateLimit` header fields
/// (default `"default"`); give stacked rate limits different names.
///
/// ```
/// use std::time::Duration;
/// use floodgate::Quota;
///
/// let quota = Quota::per_second(50).burst(10);
/// assert_eq!(quota.emission_interval(), Duration::from_millis(20));
/// assert_eq!(quota.burst_size(), 10);
///
/// let hourly = Quota::per_hour(1000).named("hourly");
/// assert_eq!(hourly.burst_size(), 1000);
/// assert_eq!(hourly.name(), "hourly");
/// ```
///
/// # Panics
///
/// The constructors panic on a zero count or period, [`burst`](Quota::burst) on a zero burst,
/// and [`named`](Quota::named) on a name that is not printable ASCII: a bucket that admits nobody
/// is a configuration mistake, like a gate with limit 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    count: NonZeroU32,
    per: Duration,
    burst: NonZeroU32,
    name: String,
}

impl Quota {
    /// `count` requests per second, with a burst of `count`.
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute, with a burst of `count`.
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour, with a burst of `count`.
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// `count` requests per `per`, with a burst of `count`.
    ///
    /// ```
    /// use std::time::Duration;
    /// // One request every 250 ms on average, up to 4 at once.
    /// let quota = floodgate::Quota::new(4, Duration::from_secs(1));
    /// assert_eq!(quota.emission_interval(), Duration::from_millis(250));
    /// ```
    ///
    /// # Panics
    ///
    /// If `count` is zero or `per` is zero.
    pub fn new(count: u32, per: Duration) -> Self {
        let count = NonZeroU32::new(count)
            .expect("floodgate: the rate limit must allow at least 1 request per period");
        assert!(
            !per.is_zero(),
            "floodgate: the rate limit period must be longer than zero"
        );
        Self {
            count,
            per,
            burst: count,
            name: String::from("default"),
        }
    }

    /// Sets how many requests an idle client may send at once (the bucket size).
    ///
    /// # Panics
    ///
    /// If `burst` is zero.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = NonZeroU32::new(burst)
            .expect("floodgate: the rate limit burst must be at least 1 request");
        self
    }

    /// Names the policy in the `RateLimit-Policy` and `RateLimit` header fields.
    ///
    /// # Panics
    ///
    /// If `name` contains anything but printable ASCII (what a structured-field string can hold).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        assert!(
            name.bytes().all(|byte| (0x20..=0x7e).contains(&byte)),
            "floodgate: the rate limit policy name {name:?} must be printable ASCII"
        );
        self.name = name;
        self
    }

    /// A `fraction` of this quota: the same count over a period `1 / fraction` times as long,
    /// and the burst scaled down (rounded up, at least 1). For the local share of a global limit
    /// split between replicas (the Redis store's `Fallback::Local`, feature `redis`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use floodgate::Quota;
    ///
    /// let third = Quota::per_second(90).burst(30).share(1.0 / 3.0);
    /// assert_eq!(third.rate(), (90, Duration::from_secs(3)));
    /// assert_eq!(third.burst_size(), 10);
    /// ```
    ///
    /// # Panics
    ///
    /// If `fraction` is not in `(0, 1]`.
    pub fn share(mut self, fraction: f64) -> Self {
        assert!(
            fraction > 0.0 && fraction <= 1.0,
            "floodgate: a share of a quota must be in (0, 1], not {fraction}"
        );
        self.per =
            Duration::try_from_secs_f64(self.per.as_secs_f64() / fraction).unwrap_or(Duration::MAX);
        let burst = (f64::from(self.burst.get()) * fraction).ceil() as u32;
        self.burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        self
    }

    /// The requests per period of the steady rate, and the period.
    pub fn rate(&self) -> (u32, Duration) {
        (self.count.get(), self.per)
    }

    /// How many requests an idle client may send at once.
    pub fn burst_size(&self) -> u32 {
        self.burst.get()
    }

    /// The policy's name in the header fields.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time it takes one token to come back: `per / count`, at least one nanosecond and at
    /// most `u64::MAX` nanoseconds (about 584 years, what the buckets can count).
    pub fn emission_interval(&self) -> Duration {
        (self.per / self.count.get()).clamp(Duration::from_nanos(1), Duration::from_nanos(u64::MAX))
    }

    /// The quota and window of the `RateLimit-Policy` field: the steady rate, stated over a whole
    /// number of seconds (`q` requests per `w` seconds).
    pub(crate) fn policy_quota_and_window(&self) -> (u64, u64) {
        const NANOS_PER_SEC: u128 = 1_000_000_000;
        let per = self.per.as_nanos();
        let count = u128::from(self.count.get());
        if per % NANOS_PER_SEC == 0 {
            return (self.count.get().into(), (per / NANOS_PER_SEC) as u64);
        }
        // Sub-second precision is not allowed: round the window up, scale the quota down.
        let window = per.div_ceil(NANOS_PER_SEC).max(1);
        let quota = count * window * NANOS_PER_SEC / per;
        (
            u64::try_from(quota).unwrap_or(u64::MAX),
            u64::try_from(window).unwrap_or(u64::MAX),
        )
    }

    pub(crate) fn to_governor(&self) -> governor::Quota {
        governor::Quota::with_period(self.emission_interval())
            .expect("the emission interval is at least one nanosecond")
            .allow_burst(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_uses_the_configured_period_when_it_is_whole_seconds() {
        assert_eq!(Quota::per_second(50).policy_quota_and_window(), (50, 1));
        assert_eq!(Quota::per_minute(100).policy_quota_and_window(), (100, 60));
        assert_eq!(Quota::per_hour(5).policy_quota_and_window(), (5, 3600));
    }

    #[test]
    fn policy_rounds_sub_second_windows_up_and_scales_the_quota() {
        let quota = Quota::new(10, Duration::from_millis(100));
        assert_eq!(quota.policy_quota_and_window(), (100, 1));
        let quota = Quota::new(3, Duration::from_millis(1500));
        assert_eq!(quota.policy_quota_and_window(), (4, 2));
    }

    #[test]
    fn burst_defaults_to_the_count() {
        let quota = Quota::per_second(7);
        assert_eq!(quota.burst_size(), 7);
        assert_eq!(quota.burst(2).burst_size(), 2);
    }

    #[test]
    fn emission_interval_is_never_zero() {
        let quota = Quota::per_second(u32::MAX);
        assert_eq!(quota.emission_interval(), Duration::from_nanos(1));
    }

    #[test]
    #[should_panic(expected = "at least 1 request per period")]
    fn zero_rate_panics() {
        let _ = Quota::per_second(0);
    }

    #[test]
    #[should_panic(expected = "burst must be at least 1")]
    fn zero_burst_panics() {
        let _ = Quota::per_second(1).burst(0);
    }

    #[test]
    #[should_panic(expected = "printable ASCII")]
    fn non_ascii_name_panics() {
        let _ = Quota::per_second(1).named("naïve");
    }
}
