//! The limit controller: the adaptive limit's algorithm, fed outside the admission lock.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::limit::{LimitAlgorithm, Sample};

/// A [`LimitAlgorithm`] behind a lock of its own, so that learning from a sample never holds up
/// admissions and a panicking algorithm cannot leave the admission state half-changed.
pub(crate) struct Controller {
    algorithm: Mutex<Box<dyn LimitAlgorithm>>,
}

impl Controller {
    pub(crate) fn new(algorithm: Box<dyn LimitAlgorithm>) -> Self {
        Self {
            algorithm: Mutex::new(algorithm),
        }
    }

    pub(crate) fn initial_limit(&self) -> usize {
        self.algorithm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .initial_limit()
    }

    /// Learns from one finished request; returns the new limit.
    pub(crate) fn update(&self, sample: &Sample) -> usize {
        self.algorithm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(sample)
    }
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.algorithm.try_lock() {
            Ok(algorithm) => f.debug_tuple("Controller").field(&*algorithm).finish(),
            Err(_) => f.write_str("Controller(<updating>)"),
        }
    }
}
