//! Evicting idle buckets: the background task.

use std::sync::Weak;

use super::key::KeyExtractor;
use super::state::Shared;

/// Every eviction interval, evicts idle buckets, until the limiter is dropped.
pub(super) async fn sweep<E: KeyExtractor>(limiter: Weak<Shared<E>>) {
    // If the task ends early (its runtime shuts down), the next request starts another.
    let _restart = SweepGuard(limiter.clone());
    loop {
        let Some(interval) = limiter.upgrade().map(|shared| shared.eviction_interval()) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(shared) = limiter.upgrade() else {
            return;
        };
        // A sweep walks every key: keep it off the async workers.
        if tokio::task::spawn_blocking(move || shared.evict_idle())
            .await
            .is_err()
        {
            return;
        }
    }
}

struct SweepGuard<E: KeyExtractor>(Weak<Shared<E>>);

impl<E: KeyExtractor> Drop for SweepGuard<E> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.sweep_ended();
        }
    }
}
