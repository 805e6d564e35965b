//! Queue disciplines: in which order waiters get permits, and when the gate stops letting them
//! wait long.

use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use super::rejection::Reason;
use super::waiters::{Verdict, WaiterList};

/// In which order queued requests are admitted, and how the queue behaves under sustained
/// overload.
///
/// Under sustained overload a plain FIFO queue never drains: every admitted request has waited
/// almost `max_wait`, and every rejected one waited all of it. The other two disciplines tell a
/// burst from sustained overload by how long the queue has *stood* (not been empty: by default
/// for half of `max_wait`), and while it stands, give waiters only a short wait (`standing_wait`,
/// 5 ms by default): a short burst is still absorbed whole, while under sustained
/// overload admitted requests barely wait and rejected ones hear so at once. This is the
/// CoDel-plus-adaptive-LIFO queue of Facebook's "Fail at Scale" (ACM Queue, 2015).
///
/// ```
/// use std::time::Duration;
/// use floodgate::{GateLayer, Queue};
/// use floodgate::gate::GateConfig;
///
/// let gate = GateLayer::new(8)
///     .max_wait(Duration::from_millis(100))
///     .queue(Queue::Codel)
///     .standing_wait(Duration::from_millis(5));
/// assert_eq!(gate.gate().snapshot().queue, Queue::Codel);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Queue {
    /// First come, first served, each waiter waiting up to `max_wait` (the default).
    #[default]
    Fifo,
    /// Adaptive LIFO: first come, first served while the queue is short-lived; while it stands,
    /// newest first, waiters older than `standing_wait` are shed, and new waiters wait at most
    /// `standing_wait`.
    Lifo,
    /// CoDel: first come, first served; while the queue stands, waiters that have waited longer
    /// than `standing_wait` are shed instead of admitted, and new waiters wait at most
    /// `standing_wait`.
    Codel,
}

impl Queue {
    /// The discipline's name: `fifo`, `lifo` or `codel`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Queue::Fifo => "fifo",
            Queue::Lifo => "lifo",
            Queue::Codel => "codel",
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Queue {
    type Err = String;

    /// Parses `fifo`, `lifo` or `codel` (any case).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "fifo" => Ok(Queue::Fifo),
            "lifo" => Ok(Queue::Lifo),
            "codel" => Ok(Queue::Codel),
            _ => Err(format!(
                "unknown queue discipline `{name}`: expected fifo, lifo or codel"
            )),
        }
    }
}

/// The queue discipline as one component of the gate's core, with three hooks: a request
/// queues ([`wait_for_newcomer`](Discipline::wait_for_newcomer)), capacity goes idle
/// ([`on_idle`](Discipline::on_idle)), and a permit is free for a waiter
/// ([`next_waiter`](Discipline::next_waiter)). FIFO needs none of its state.
#[derive(Debug)]
pub(crate) struct Discipline {
    queue: Queue,
    standing_after: Duration,
    standing_wait: Duration,
    standing: Standing,
}

impl Discipline {
    pub(crate) fn new(queue: Queue, standing_after: Duration, standing_wait: Duration) -> Self {
        Self {
            queue,
            standing_after,
            standing_wait,
            standing: Standing::default(),
        }
    }

    /// How long a request queueing at `now` may wait (at most `max_wait`, its class's), and the
    /// reason if that runs out. While a lower class waits, the newcomer keeps its whole wait:
    /// the lower class is shed first.
    pub(crate) fn wait_for_newcomer(
        &mut self,
        now: Instant,
        max_wait: Duration,
        lower_class_waits: bool,
    ) -> (Duration, Reason) {
        if self.queue == Queue::Fifo {
            return (max_wait, Reason::Timeout);
        }
        // A gap in the queue shorter than twice the standing wait (folly's CoDel sheds at twice
        // its target, too) is the instant between a wave of rejections and their retries, not
        // the end of the overload.
        self.standing
            .on_queue(now, self.standing_wait.saturating_mul(2));
        if !lower_class_waits && self.is_standing(now) && self.standing_wait < max_wait {
            (self.standing_wait, Reason::Shed)
        } else {
            (max_wait, Reason::Timeout)
        }
    }

    /// Whether the discipline must hear of capacity going idle: an overload episode is on and
    /// has not seen idle capacity yet. While it must, permits come back through the lock.
    pub(crate) fn wants_idle(&self) -> bool {
        self.queue != Queue::Fifo && self.standing.is_busy()
    }

    /// Capacity went idle: a permit came back, or was free, with nobody waiting.
    pub(crate) fn on_idle(&mut self) {
        if self.queue != Queue::Fifo {
            self.standing.on_idle();
        }
    }

    /// The waiter of one class to admit next, if any. While the queue stands, LIFO and CoDel
    /// first shed the waiters that have waited longer than `standing_wait` (if `shed_stale`:
    /// the class is the lowest that waits; the oldest are at the front; each one's waker goes to
    /// `on_shed`), then LIFO takes the newest and CoDel the oldest of the rest.
    pub(crate) fn next_waiter(
        &mut self,
        waiters: &mut WaiterList,
        shed_stale: bool,
        mut on_shed: impl FnMut(Option<Waker>),
    ) -> Option<usize> {
        let (front, _) = waiters.front()?;
        if self.queue == Queue::Fifo {
            return Some(front);
        }
        let now = Instant::now();
        if !self.is_standing(now) {
            return Some(front);
        }
        while let Some((index, since)) = waiters.front().filter(|_| shed_stale) {
            if now.saturating_duration_since(since) <= self.standing_wait {
                break;
            }
            on_shed(waiters.decide(index, Verdict::Rejected(Reason::Shed)));
        }
        let next = match self.queue {
            Queue::Lifo => waiters.back(),
            _ => waiters.front(),
        };
        next.map(|(index, _)| index)
    }

    fn is_standing(&self, now: Instant) -> bool {
        self.standing.is_standing(now, self.standing_after)
    }
}

/// Tells a burst from a standing queue.
///
/// An overload episode starts when a request has to queue and ends when capacity goes idle
/// (a permit is released with nobody waiting). The queue *stands* once an episode has lasted
/// `standing_after`. A moment of idle capacity shorter than `grace` (twice the standing wait)
/// does not end the episode:
/// under overload, rejected clients retry at once, and the instant between a wave of rejections
/// and their retries must not make the gate forget that it is overloaded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Standing {
    episode_since: Option<Instant>,
    idle_since: Option<Instant>,
}

impl Standing {
    /// A request has to queue at `now`: starts or continues an episode.
    pub(crate) fn on_queue(&mut self, now: Instant, grace: Duration) {
        let continues = match (self.episode_since, self.idle_since) {
            (Some(_), None) => true,
            (Some(_), Some(idle)) => now.saturating_duration_since(idle) <= grace,
            (None, _) => false,
        };
        if !continues {
            self.episode_since = Some(now);
        }
        self.idle_since = None;
    }

    /// Capacity went idle: nobody was waiting for a released permit.
    pub(crate) fn on_idle(&mut self) {
        if self.episode_since.is_some() && self.idle_since.is_none() {
            self.idle_since = Some(Instant::now());
        }
    }

    /// An episode is on and no idle capacity has been seen since it started.
    pub(crate) fn is_busy(&self) -> bool {
        self.episode_since.is_some() && self.idle_since.is_none()
    }

    /// Whether the queue has stood for `standing_after` at `now`.
    pub(crate) fn is_standing(&self, now: Instant, standing_after: Duration) -> bool {
        match (self.episode_since, self.idle_since) {
            (Some(since), None) => now.saturating_duration_since(since) >= standing_after,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_millis(100);
    const GRACE: Duration = Duration::from_millis(5);

    #[test]
    fn parses_names() {
        assert_eq!("LIFO".parse::<Queue>(), Ok(Queue::Lifo));
        assert_eq!("codel".parse::<Queue>(), Ok(Queue::Codel));
        assert!("random".parse::<Queue>().unwrap_err().contains("random"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_stands_once_an_episode_lasts_long_enough() {
        let mut standing = Standing::default();
        let start = Instant::now();
        assert!(!standing.is_standing(start, AFTER));
        standing.on_queue(start, GRACE);
        assert!(!standing.is_standing(start + AFTER / 2, AFTER));
        standing.on_queue(start + AFTER / 2, GRACE);
        assert!(standing.is_standing(start + AFTER, AFTER));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_capacity_ends_the_episode_unless_it_is_a_blip() {
        let mut standing = Standing::default();
        let start = Instant::now();
        standing.on_queue(start, GRACE);
        tokio::time::advance(AFTER).await;

        // A blip: idle for 1ms, then queueing again. Still the same episode.
        standing.on_idle();
        assert!(!standing.is_standing(Instant::now(), AFTER), "idle now");
        tokio::time::advance(Duration::from_millis(1)).await;
        standing.on_queue(Instant::now(), GRACE);
        assert!(standing.is_standing(Instant::now(), AFTER));

        // Idle for longer than the grace: a new episode starts, not standing yet.
        standing.on_idle();
        tokio::time::advance(GRACE * 2).await;
        standing.on_queue(Instant::now(), GRACE);
        assert!(!standing.is_standing(Instant::now(), AFTER));
    }
}
