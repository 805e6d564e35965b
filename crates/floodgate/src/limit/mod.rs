//! Concurrency limit algorithms: how many requests the gate lets through at once.
//!
//! A [`LimitAlgorithm`] is pure code: it learns from one [`Sample`] per finished request (its
//! latency, the requests in flight when it was admitted, whether it was dropped) and answers
//! with the new limit. The gate feeds it and resizes itself live. The adaptive algorithms follow
//! Netflix's [concurrency-limits], with the fixes described on each type.
//!
//! ```
//! use std::time::Duration;
//! use floodgate::GateLayer;
//! use floodgate::limit::{Aimd, LimitAlgorithm, Sample};
//!
//! // On a gate: the limit given to `new` is the ceiling, the algorithm moves below it.
//! let gate = GateLayer::new(256).limit_algorithm(Aimd::new().initial_limit(20));
//! assert_eq!(gate.gate().snapshot().limit, 20);
//!
//! // On its own: a pure state machine, fed one sample per finished request.
//! let mut aimd = Aimd::new().initial_limit(20);
//! let dropped = Sample::new(Duration::from_millis(30), 20, true);
//! assert!(aimd.update(&dropped) < 20, "a drop backs off");
//! ```
//!
//! # Which algorithm
//!
//! | algorithm | listens to | use it when | mind |
//! |---|---|---|---|
//! | [`Fixed`] | nothing | the capacity behind the gate is known and stable: a pool of 32 database connections | set too high, requests queue behind the pool; too low, capacity idles |
//! | [`Aimd`] | drops, and latency over a timeout | overload shows as errors or timeouts, or you know what "too slow" is | set [`timeout`](Aimd::timeout) to 1.5–2 × the usual latency; the limit saws between 90% and 100% of what it found |
//! | [`Gradient2`] | latency against its long-term average | the general choice: you do not know the capacity, and latency varies | a probe halves the limit for one round trip now and then |
//! | [`Vegas`] | latency against the lowest latency seen | latency is steady and you want the shortest queue | reads latency noise as queue; its thresholds count requests, so lower [`alpha`](Vegas::alpha) and [`beta`](Vegas::beta) for a backend of a few slots |
//! | [`Adaptive`] | latency against a measured no-load latency | you want no setting at all, and no queue in the backend ([`GateLayer::adaptive`](crate::GateLayer::adaptive)) | one gate per kind of route: a no-load latency is one number; it measures at half the limit now and then; short runs pay its start (BENCHMARKS.md) |
//!
//! In plain words: if you know the capacity, use [`Fixed`]. If you do not, start with
//! [`Adaptive`] (`GateLayer::adaptive()`): it needs no number and settles at the capacity with
//! no queue behind the gate; [`Gradient2`] tolerates latency that varies more from request to
//! request, with a queue.
//! Use [`Aimd`] when the backend says "overloaded" through errors or timeouts rather than through
//! latency. Use [`Vegas`] for a backend whose latency barely varies, where it keeps the queue
//! shortest. Every adaptive algorithm keeps its limit within `[min_limit, max_limit]`: set
//! `max_limit` to the most the service can ever take, as a safety net.
//!
//! In a simulated backend of `C` slots with service time `d`, offered three times what it can
//! serve (`tests/limit_simulation.rs`), each adaptive algorithm settles with a goodput of at
//! least 90% of `C / d` and a latency p99 under `2 d`, for `C` of 4, 16 and 64, and follows the
//! capacity down within a few windows of 100 samples when it halves. A fixed limit of `4 C`
//! serves as much, at four times the latency.
//!
//! # One sample per response
//!
//! The gate calls [`LimitAlgorithm::update`] on every response, and a response reports on the
//! limit of one round trip ago. Applied to every response, Netflix's rules overshoot: growth
//! compounds within a round trip, and one overload is punished once per response that saw it.
//! So the adaptive algorithms read each sample as news about the limit it was admitted under
//! (`Sample::in_flight`): they grow only on a sample admitted at the current limit, and shrink
//! only on one not admitted under a higher limit that was already cut, one step per round trip,
//! as TCP does.
//!
//! [concurrency-limits]: https://github.com/Netflix/concurrency-limits

use std::fmt;
use std::time::Duration;

mod adaptive;
mod aimd;
mod bounds;
mod fixed;
mod gradient2;
mod probe;
mod vegas;

pub use self::adaptive::Adaptive;
pub use self::aimd::Aimd;
pub use self::fixed::Fixed;
pub use self::gradient2::Gradient2;
pub use self::vegas::Vegas;

/// One finished request, as a limit algorithm sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sample {
    /// From admission to the end of the response.
    pub latency: Duration,
    /// Requests in flight when this one was admitted, itself included.
    pub in_flight: usize,
    /// The request was dropped: a server error or a timeout, by the gate's classification.
    pub dropped: bool,
}

impl Sample {
    /// A sample of a request that took `latency`, started with `in_flight` requests in flight
    /// (itself included), and succeeded (`dropped == false`) or not.
    pub fn new(latency: Duration, in_flight: usize, dropped: bool) -> Self {
        Self {
            latency,
            in_flight,
            dropped,
        }
    }
}

/// An algorithm that sets the concurrency limit from measured latency and outcomes.
///
/// Implementations are plain state machines with no clock and no I/O, so they can be tested on
/// synthetic samples and simulated in virtual time.
pub trait LimitAlgorithm: fmt::Debug + Send + 'static {
    /// The limit to start with.
    fn initial_limit(&self) -> usize;

    /// Learns from one finished request and returns the new limit (at least 1).
    fn update(&mut self, sample: &Sample) -> usize;
}
