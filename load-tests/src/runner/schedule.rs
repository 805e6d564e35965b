//! The open-loop schedule: start `i` is due at `t0 + i / rate`, computed from `t0` every time
//! (never a chain of sleeps, whose errors would add up).

use std::time::Duration;

use tokio::time::Instant;

/// One thread's share of the schedule: starts `first`, `first + stride`, `first + 2 * stride`...
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    t0: Instant,
    rate: f64,
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
            next: first,
            stride,
            limit,
            end,
        }
    }

    /// When start `index` is due.
    pub(crate) fn due(&self, index: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(index as f64 / self.rate)
    }

    /// The next start's due time, or `None` once the schedule is over.
    pub(crate) fn peek(&self) -> Option<Instant> {
        if self.limit.is_some_and(|limit| self.next >= limit) {
            return None;
        }
        let due = self.due(self.next);
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
        assert_eq!(s.due(3000), t0 + Duration::from_secs(1000));
        assert_eq!(s.due(1), t0 + Duration::from_nanos(333_333_333));
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

    #[test]
    fn nothing_starts_at_or_after_the_end() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100.0, 0, 1, None, Some(t0 + ms(50)));
        let starts = std::iter::from_fn(|| s.pop_due(t0 + Duration::from_secs(9))).count();
        assert_eq!(starts, 5); // 0, 10, 20, 30, 40 ms
        assert_eq!(s.peek(), None);
    }
}
