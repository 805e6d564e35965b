//! A limit that never changes.

use super::{LimitAlgorithm, Sample};

/// A limit that never changes, whatever the samples say (Netflix's `FixedLimit`).
///
/// Use it when the capacity behind the gate is known and stable, such as a database pool of a
/// fixed size; it is also the baseline the adaptive algorithms are measured against.
///
/// ```
/// use std::time::Duration;
/// use floodgate::limit::{Fixed, LimitAlgorithm, Sample};
///
/// let mut fixed = Fixed::new(32);
/// assert_eq!(fixed.initial_limit(), 32);
/// let slow = Sample::new(Duration::from_secs(10), 32, true);
/// assert_eq!(fixed.update(&slow), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    limit: usize,
}

impl Fixed {
    /// A limit of `limit` requests in flight, for ever.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn new(limit: usize) -> Self {
        assert!(
            limit >= 1,
            "floodgate: a fixed limit must be at least 1, got 0"
        );
        Self { limit }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl LimitAlgorithm for Fixed {
    fn initial_limit(&self) -> usize {
        self.limit
    }

    fn update(&mut self, _sample: &Sample) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_changes() {
        let mut fixed = Fixed::new(8);
        for (latency_ms, in_flight, dropped) in [(1, 1, false), (5_000, 8, true), (10, 8, false)] {
            let sample = Sample::new(Duration::from_millis(latency_ms), in_flight, dropped);
            assert_eq!(fixed.update(&sample), 8);
        }
        assert_eq!(fixed.limit(), 8);
    }

    #[test]
    #[should_panic(expected = "a fixed limit must be at least 1")]
    fn zero_panics() {
        let _ = Fixed::new(0);
    }
}
