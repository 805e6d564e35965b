//! The open-loop schedule: start `i` is due at `t0 + i / rate`, computed from `t0` every time
//! (never a chain of sleeps, whose errors would add up). A ramp changes the rate linearly,
//! `rate + accel * t`; start `i` is then due when the starts so far, `rate * t + accel * t² / 2`,
//! reach `i`.

use std::time::Duration;

use tokio::time::Instant;

/// One thread's share of the schedule: starts `first`, `first + stride`, `first + 2 * stride`...
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    t0: Instant,
    /// Starts per second at `t0`.
    rate: f64,
    /// Change of the rate per second (0 at a steady rate).
    accel: f64,
    next: u64,
    stride: u64,
    /// No start with this index or above (`-n`).
    limit: Option<u64>,
    /// No start at or after this instant (`-d`).
    end: Option<Instant>,
}

impl Schedule {
    /// `rate` is the whole run's rate; this share takes every `stride`-th start from `first`.
    pub(crate) fn new(
        t0: Instant,
        rate: f64,
        first: u64,
        stride: u64,
        limit: Option<u64>,
        end: Option<Instant>,
    ) -> Self {
        debug_assert!(rate > 0.0 && rate.is_finite() && stride > 0);
        Self {
            t0,
            rate,
            accel: 0.0,
            next: first,
            stride,
            limit,
            end,
        }
    }

    /// A ramp: the rate goes from `from` (at `t0`) to `to` (at `t0 + over`) in a straight line.
    /// `from` may be 0 (and `to` then must not be).
    pub(crate) fn ramp(mut self, from: f64, to: f64, over: Duration) -> Self {
        debug_assert!(from >= 0.0 && to >= 0.0 && from + to > 0.0 && !over.is_zero());
        self.rate = from;
        self.accel = (to - from) / over.as_secs_f64();
        self
    }

    /// When start `index` is due; `None` for a start a slowing ramp never reaches.
    pub(crate) fn due(&self, index: u64) -> Option<Instant> {
        if index == 0 {
            return Some(self.t0);
        }
        let i = index as f64;
        // The root of accel/2 * t² + rate * t - i = 0, in the form that stays exact when
        // accel is 0 (then it is i / rate) or tiny.
        let discriminant = self.rate * self.rate + 2.0 * self.accel * i;
        if discriminant < 0.0 {
            return None;
        }
        let t = 2.0 * i / (self.rate + discriminant.sqrt());
        (t.is_finite() && t >= 0.0).then(|| self.t0 + Duration::from_secs_f64(t))
    }

    /// The next start's due time, or `None` once the schedule is over.
    pub(crate) fn peek(&self) -> Option<Instant> {
        if self.limit.is_some_and(|limit| self.next >= limit) {
            return None;
        }
        let due = self.due(self.next)?;
        match self.end {
            Some(end) if due >= end => None,
            _ => Some(due),
        }
    }

    /// Takes the next start if it is due at `now`; call until `None` to release a whole batch
    /// (the timer is coarser than the interval at high rates).
    #[cfg(test)]
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Instant> {
        self.pop_indexed(now).map(|(_, due)| due)
    }

    /// [`Schedule::pop_due`] with the start's index in the whole run's schedule.
    pub(crate) fn pop_indexed(&mut self, now: Instant) -> Option<(u64, Instant)> {
        let due = self.peek().filter(|&due| due <= now)?;
        let index = self.next;
        self.next += self.stride;
        Some((index, due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn due_times_are_absolute() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 3.0, 0, 1, None, None);
        // 1/3 s does not accumulate rounding: start 3000 is exactly 1000 s after t0.
        assert_eq!(s.due(3000), Some(t0 + Duration::from_secs(1000)));
        assert_eq!(s.due(1), Some(t0 + Duration::from_nanos(333_333_333)));
    }

    #[test]
    fn releases_every_due_start_in_one_batch() {
        let t0 = Instant::now();
        // 10k/s split over two threads: this one takes starts 1, 3, 5...
        let mut s = Schedule::new(t0, 10_000.0, 1, 2, None, None);
        let batch: Vec<_> = std::iter::from_fn(|| s.pop_due(t0 + ms(1))).collect();
        // Starts 1, 3, 5, 7, 9 are due in the first millisecond (0.1 ms apart overall).
        assert_eq!(batch.len(), 5);
        assert_eq!(batch[0], t0 + Duration::from_micros(100));
        assert_eq!(batch[4], t0 + Duration::from_micros(900));
        assert_eq!(s.peek(), Some(t0 + Duration::from_micros(1100)));
        assert_eq!(s.pop_due(t0 + ms(1)), None);
    }

    #[test]
    fn indexes_are_the_whole_runs() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 1000.0, 1, 3, None, None);
        let later = t0 + ms(10);
        let indexes: Vec<u64> = std::iter::from_fn(|| s.pop_indexed(later))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(indexes, [1, 4, 7, 10]);
    }

    #[test]
    fn two_shares_cover_the_whole_schedule_once() {
        let t0 = Instant::now();
        let mut a = Schedule::new(t0, 1000.0, 0, 2, Some(10), None);
        let mut b = Schedule::new(t0, 1000.0, 1, 2, Some(10), None);
        let later = t0 + Duration::from_secs(1);
        let mut all: Vec<_> = std::iter::from_fn(|| a.pop_due(later))
            .chain(std::iter::from_fn(|| b.pop_due(later)))
            .collect();
        all.sort();
        let expected: Vec<_> = (0..10).map(|i| t0 + ms(i)).collect();
        assert_eq!(all, expected);
        assert_eq!(a.peek(), None);
    }

    /// Starts due in `[0, secs)` of `s`, counted per second.
    fn per_second(mut s: Schedule, t0: Instant, secs: u64) -> Vec<usize> {
        let starts: Vec<Instant> =
            std::iter::from_fn(|| s.pop_due(t0 + Duration::from_secs(secs))).collect();
        (0..secs)
            .map(|sec| {
                let (from, to) = (
                    t0 + Duration::from_secs(sec),
                    t0 + Duration::from_secs(sec + 1),
                );
                starts.iter().filter(|&&d| from <= d && d < to).count()
            })
            .collect()
    }

    #[test]
    fn a_ramp_raises_the_rate_in_a_straight_line() {
        let t0 = Instant::now();
        let end = Some(t0 + Duration::from_secs(10));
        // 100/s to 1000/s over 10 s: second k has 100 + 90 * (k + 0.5) starts.
        let ramp =
            Schedule::new(t0, 1.0, 0, 1, None, end).ramp(100.0, 1000.0, Duration::from_secs(10));
        let counts = per_second(ramp, t0, 10);
        let expected: Vec<usize> = (0..10).map(|k| 145 + 90 * k).collect();
        for (got, want) in counts.iter().zip(&expected) {
            assert!(got.abs_diff(*want) <= 1, "{counts:?} vs {expected:?}");
        }
        // (100 + 1000) / 2 * 10 s in all, up to the one at t0.
        assert!(counts.iter().sum::<usize>().abs_diff(5500) <= 1);
        // Down again: 1000/s to 100/s, the same counts in reverse.
        let down =
            Schedule::new(t0, 1.0, 0, 1, None, end).ramp(1000.0, 100.0, Duration::from_secs(10));
        let mut reversed = per_second(down, t0, 10);
        reversed.reverse();
        for (got, want) in reversed.iter().zip(&expected) {
            assert!(got.abs_diff(*want) <= 1, "{reversed:?} vs {expected:?}");
        }
        // From zero: 0 to 200/s over 2 s, 200 starts in all (t = sqrt(i / 50)).
        let from_zero = Schedule::new(t0, 1.0, 0, 1, None, Some(t0 + Duration::from_secs(2))).ramp(
            0.0,
            200.0,
            Duration::from_secs(2),
        );
        assert_eq!(from_zero.due(50), Some(t0 + Duration::from_secs(1)));
        assert!(
            per_second(from_zero, t0, 2)
                .iter()
                .sum::<usize>()
                .abs_diff(200)
                <= 1
        );
        // A ramp that would slow below zero never reaches the starts past its top.
        let stopping =
            Schedule::new(t0, 1.0, 0, 1, None, None).ramp(10.0, 0.0, Duration::from_secs(1));
        assert!(stopping.due(5).is_some());
        assert_eq!(stopping.due(6), None);
    }

    #[test]
    fn nothing_starts_at_or_after_the_end() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100.0, 0, 1, None, Some(t0 + ms(50)));
        let starts = std::iter::from_fn(|| s.pop_due(t0 + Duration::from_secs(9))).count();
        assert_eq!(starts, 5); // 0, 10, 20, 30, 40 ms
        assert_eq!(s.peek(), None);
    }
}
