//! `--limit-algorithm` and `--queue`: the gate's limit follows measured latency, and its queue
//! stops punishing everybody under sustained overload.
//!
//! With an adaptive algorithm, `--max-concurrency` is the ceiling (the algorithm's
//! `max_limit`), and `floodgate_limit` in `/metrics` shows the live limit. What the demo sets
//! beyond the library's defaults, as the limit module and its simulation recommend:
//!
//! | algorithm | settings |
//! |---|---|
//! | `aimd` | `max_limit` = `--max-concurrency`; `timeout` = `--aimd-timeout`, by default 1.5 × `--delay` (the library's 5 s would never fire in front of a 50 ms backend) |
//! | `gradient2` | `max_limit` = `--max-concurrency`; otherwise Netflix's defaults |
//! | `vegas` | `max_limit` = `--max-concurrency`; `alpha = beta = 2`: the default thresholds (3 and 6 requests) queue more than a small backend of 4 or 8 slots serves in a round trip |
//! | `adaptive` | nothing: the library's zero-configuration [`Adaptive`](floodgate::limit::Adaptive) (`--max-concurrency` stays the gate's ceiling) |
//!
//! Every algorithm but `adaptive` starts at its initial limit of 20, or at the ceiling if that
//! is lower; `adaptive` starts at 3 in flight, measuring the no-load latency. A
//! response counts as a drop for the algorithm when it is a `5xx` (the gate's default): the
//! simulated backend never fails, so here the delay-based algorithms see latency and AIMD sees
//! requests slower than its timeout.

mod config;

use floodgate::GateLayer;
use floodgate::limit::{Adaptive, Aimd, Gradient2, Vegas};

pub use self::config::{AdaptiveConfig, Algorithm};
use crate::config::Config;

/// Vegas's `alpha` and `beta`, in requests queued: small, for backends of a few slots.
const VEGAS_QUEUE: usize = 2;

/// Sets the queue discipline and, for an adaptive `--limit-algorithm`, the algorithm, with
/// `--max-concurrency` as its ceiling.
pub(crate) fn configure<R, P>(layer: GateLayer<R, P>, config: &Config) -> GateLayer<R, P> {
    let adaptive = &config.adaptive;
    let ceiling = config.max_concurrency;
    let layer = layer.queue(adaptive.queue);
    match adaptive.limit_algorithm {
        Algorithm::Fixed => layer,
        Algorithm::Aimd => layer.limit_algorithm(
            Aimd::new()
                .max_limit(ceiling)
                .timeout(adaptive.aimd_timeout_for(config.delay)),
        ),
        Algorithm::Gradient2 => layer.limit_algorithm(Gradient2::new().max_limit(ceiling)),
        Algorithm::Vegas => layer.limit_algorithm(
            Vegas::new()
                .alpha(VEGAS_QUEUE)
                .beta(VEGAS_QUEUE)
                .max_limit(ceiling),
        ),
        Algorithm::Adaptive => layer.limit_algorithm(Adaptive::new()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use floodgate::Queue;

    use super::*;
    use crate::App;

    fn config(limit_algorithm: Algorithm, queue: Queue, max_concurrency: usize) -> Config {
        Config {
            max_concurrency,
            adaptive: AdaptiveConfig {
                limit_algorithm,
                queue,
                ..AdaptiveConfig::default()
            },
            ..Config::default()
        }
    }

    #[test]
    fn the_gate_gets_the_algorithm_and_queue_of_the_config() {
        for algorithm in [
            Algorithm::Fixed,
            Algorithm::Aimd,
            Algorithm::Gradient2,
            Algorithm::Vegas,
            Algorithm::Adaptive,
        ] {
            for queue in [Queue::Fifo, Queue::Lifo, Queue::Codel] {
                for ceiling in [1, 8, 256] {
                    let app = App::new(&config(algorithm, queue, ceiling));
                    let snapshot = app.gate().unwrap().snapshot();
                    let case = format!("{algorithm} {queue} {ceiling}");
                    assert_eq!(snapshot.queue, queue, "{case}");
                    assert_eq!(snapshot.adaptive, algorithm.is_adaptive(), "{case}");
                    let expected = match algorithm {
                        Algorithm::Fixed => ceiling,
                        Algorithm::Adaptive => ceiling.min(3),
                        _ => ceiling.min(20),
                    };
                    assert_eq!(snapshot.limit, expected, "{case}");
                }
            }
        }
    }

    /// AIMD with a timeout of 1.5 × 100 ms: a request of 200 ms backs the limit off.
    #[tokio::test(start_paused = true)]
    async fn aimd_times_out_relative_to_the_delay() {
        let app = App::new(&Config {
            delay: Duration::from_millis(100),
            ..config(Algorithm::Aimd, Queue::Fifo, 10)
        });
        let gate = app.gate().unwrap();
        let slow = |ms| async move {
            let permit = gate.acquire().await.unwrap();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            drop(permit);
        };
        slow(140).await;
        assert_eq!(gate.snapshot().limit, 10, "within the timeout");
        slow(160).await;
        assert_eq!(gate.snapshot().limit, 9, "floor(10 × 0.9)");
    }
}
