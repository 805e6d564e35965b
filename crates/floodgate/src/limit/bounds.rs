//! The `[min, max]` range every adaptive algorithm keeps its limit in, and the checks on it.

/// The initial limit and the `[min, max]` range of an adaptive algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    initial: usize,
    min: usize,
    max: usize,
}

impl Bounds {
    pub(super) const fn new(initial: usize, min: usize, max: usize) -> Self {
        Self { initial, min, max }
    }

    pub(super) fn with_initial(self, initial: usize) -> Self {
        assert!(
            initial >= 1,
            "floodgate: initial_limit must be at least 1, got 0"
        );
        Self { initial, ..self }
    }

    pub(super) fn with_min(self, min: usize) -> Self {
        assert!(min >= 1, "floodgate: min_limit must be at least 1, got 0");
        assert!(
            min <= self.max,
            "floodgate: min_limit {min} is above max_limit {}; raise max_limit first",
            self.max
        );
        Self { min, ..self }
    }

    pub(super) fn with_max(self, max: usize) -> Self {
        assert!(
            max >= self.min,
            "floodgate: max_limit {max} is below min_limit {}; lower min_limit first",
            self.min
        );
        Self { max, ..self }
    }

    /// The initial limit, moved into `[min, max]`.
    pub(super) fn initial(&self) -> usize {
        self.initial.clamp(self.min, self.max)
    }

    pub(super) fn min(&self) -> usize {
        self.min
    }

    /// `limit` moved into `[min, max]`.
    pub(super) fn fit(&self, limit: usize) -> usize {
        limit.clamp(self.min, self.max)
    }

    /// `limit` moved into `[min, max]`.
    pub(super) fn clamp(&self, limit: f64) -> f64 {
        limit.clamp(self.min as f64, self.max as f64)
    }

    /// The whole limit the gate uses for a fractional estimate (truncated, as Netflix's
    /// `(int) estimatedLimit`), in `[min, max]`.
    pub(super) fn whole(&self, limit: f64) -> usize {
        self.fit(limit as usize)
    }
}

/// Panics unless `value` is in `(0, 1]`.
pub(super) fn assert_fraction(name: &str, value: f64) {
    assert!(
        value > 0.0 && value <= 1.0,
        "floodgate: {name} must be in (0, 1], got {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_is_clamped_into_the_range() {
        let bounds = Bounds::new(20, 1, 200);
        assert_eq!(bounds.initial(), 20);
        assert_eq!(bounds.with_max(10).initial(), 10);
        assert_eq!(bounds.with_min(30).initial(), 30);
    }

    #[test]
    fn whole_truncates_and_clamps() {
        let bounds = Bounds::new(20, 2, 50);
        assert_eq!(bounds.whole(7.9), 7);
        assert_eq!(bounds.whole(0.5), 2);
        assert_eq!(bounds.whole(80.0), 50);
        assert_eq!(bounds.clamp(80.0), 50.0);
        assert_eq!(bounds.clamp(1.0), 2.0);
    }

    #[test]
    #[should_panic(expected = "min_limit must be at least 1")]
    fn zero_min_panics() {
        let _ = Bounds::new(20, 1, 200).with_min(0);
    }

    #[test]
    #[should_panic(expected = "min_limit 300 is above max_limit 200")]
    fn min_above_max_panics() {
        let _ = Bounds::new(20, 1, 200).with_min(300);
    }

    #[test]
    #[should_panic(expected = "max_limit 4 is below min_limit 8")]
    fn max_below_min_panics() {
        let _ = Bounds::new(20, 8, 200).with_max(4);
    }

    #[test]
    #[should_panic(expected = "initial_limit must be at least 1")]
    fn zero_initial_panics() {
        let _ = Bounds::new(20, 1, 200).with_initial(0);
    }

    #[test]
    #[should_panic(expected = "smoothing must be in (0, 1], got 1.5")]
    fn fraction_above_one_panics() {
        assert_fraction("smoothing", 1.5);
    }

    #[test]
    #[should_panic(expected = "got NaN")]
    fn nan_fraction_panics() {
        assert_fraction("smoothing", f64::NAN);
    }
}
