//! The buckets' time source: tokio's clock, so that waiting and refilling agree, and paused
//! time (`tokio::time::pause`) freezes the buckets too.

use std::time::Duration;

use governor::nanos::Nanos;
use tokio::time::Instant;

/// A governor clock reading [`tokio::time::Instant`], as nanoseconds since the limiter was made.
///
/// Waiters sleep with `tokio::time::sleep_until` on the same clock the buckets refill by, so a
/// waiter woken at a token's arrival finds the token there; and under a paused tokio clock the
/// buckets are exact to the nanosecond, which makes rate tests deterministic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    base: Instant,
}

impl TokioClock {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }

    /// The tokio instant of a reading.
    pub(crate) fn instant(&self, at: Nanos) -> Instant {
        self.base + Duration::from(at)
    }
}

impl governor::clock::Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        // `elapsed` saturates at zero, so the readings never go backwards past the base.
        Nanos::from(self.base.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::Clock;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time_exactly() {
        let clock = TokioClock::new();
        assert_eq!(clock.now(), Nanos::new(0));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), Nanos::new(1_500_000_000));
        assert_eq!(
            clock.instant(clock.now()),
            clock.base + Duration::from_millis(1500)
        );
    }
}
