//! The keyed buckets' store: governor's `DashMap` of bucket states, shared with the limiter and
//! counting its keys, so that the limiter can bound their number without walking the map.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{NotKeyed, StateStore};

/// A handle to one `DashMap` of bucket states: one is the keyed limiter's store, another stays
/// with the limiter for [`contains`](KeyStore::contains) and [`len`](KeyStore::len).
#[derive(Debug)]
pub(crate) struct KeyStore<K: Hash + Eq>(Arc<Counted<K>>);

#[derive(Debug)]
struct Counted<K: Hash + Eq> {
    map: DashMapStateStore<K>,
    /// Keys in the map: counted up on insert, recounted after each eviction (so a concurrent
    /// insert may be off by a few until the next one).
    len: AtomicUsize,
}

impl<K: Hash + Eq + Clone> KeyStore<K> {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Counted {
            map: DashMapStateStore::default(),
            len: AtomicUsize::new(0),
        }))
    }

    /// Another handle to the same store.
    pub(crate) fn share(&self) -> Self {
        Self(Arc::clone(&self.0))
    }

    /// Buckets in the store now, without walking it.
    pub(crate) fn len(&self) -> usize {
        self.0.len.load(Relaxed)
    }

    /// Whether `key` has a bucket now.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.0.map.contains_key(key)
    }
}

impl<K: Hash + Eq + Clone> StateStore for KeyStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.0.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let state = self.0.map.entry(key.clone()).or_insert_with(|| {
            self.0.len.fetch_add(1, Relaxed);
            Default::default()
        });
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for KeyStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.0.map, drop_below);
        self.0.len.store(self.0.map.len(), Relaxed);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.0.map);
    }

    fn len(&self) -> usize {
        KeyStore::len(self)
    }

    fn is_empty(&self) -> bool {
        KeyStore::len(self) == 0
    }
}
