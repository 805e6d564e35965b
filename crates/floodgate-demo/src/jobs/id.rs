//! Job ids: 128 random-looking bits, written as 32 lowercase hex digits.
//!
//! `GET /jobs/{id}` answers anyone who knows the id, so ids must not be guessable from one
//! another (sequential ids let any client read every other client's jobs). They come from
//! SipHash, keyed with std's per-process random keys (`RandomState`), over a counter and the
//! clock: unpredictable without the keys, never repeated within the store (checked), and with no
//! dependency beyond std. They are not a cryptographic secret: an id is a capability to read
//! one job's state, nothing more.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A job's id: see the [module docs](self).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct JobId(u128);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Not 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadJobId;

impl fmt::Display for BadJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job id is 32 hex digits")
    }
}

impl FromStr for JobId {
    type Err = BadJobId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // `from_str_radix` alone would take a sign and fewer digits.
        if text.len() != 32 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(BadJobId);
        }
        u128::from_str_radix(text, 16)
            .map(JobId)
            .map_err(|_| BadJobId)
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// For the `Path` extractor: a malformed id is answered `400`.
impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Makes [`JobId`]s.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    // Random keys, chosen by std from the OS's randomness.
    keys: RandomState,
    counter: u64,
}

impl IdGenerator {
    pub(crate) fn new() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    /// A new id (the caller checks it is not in use: a collision is astronomically unlikely).
    pub(crate) fn next_id(&mut self) -> JobId {
        self.counter = self.counter.wrapping_add(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let half = |lane: u8| {
            let mut hasher = self.keys.build_hasher();
            hasher.write_u8(lane);
            hasher.write_u64(self.counter);
            hasher.write_u128(now);
            hasher.finish()
        };
        JobId(u128::from(half(0)) << 64 | u128::from(half(1)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_parse_back() {
        let mut ids = IdGenerator::new();
        let id = ids.next_id();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(text.parse(), Ok(id));
        assert_eq!(text.to_uppercase().parse(), Ok(id));
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(text));
        for bad in [
            "",
            "1",
            "seven",
            &"0".repeat(31),
            &"0".repeat(33),
            &format!("+{}", &text[1..]),
            &"g".repeat(32),
        ] {
            assert_eq!(bad.parse::<JobId>(), Err(BadJobId), "{bad:?}");
        }
    }

    #[test]
    fn ids_do_not_repeat_and_do_not_follow_each_other() {
        let mut ids = IdGenerator::new();
        let many: Vec<JobId> = (0..10_000).map(|_| ids.next_id()).collect();
        let distinct: HashSet<JobId> = many.iter().copied().collect();
        assert_eq!(distinct.len(), many.len());
        // Consecutive ids share no structure: about half of their bits differ.
        for pair in many.windows(2) {
            let differing = (pair[0].0 ^ pair[1].0).count_ones();
            assert!((20..=108).contains(&differing), "{pair:?}");
        }
        // Another generator (another server) makes other ids.
        assert_ne!(IdGenerator::new().next_id(), IdGenerator::new().next_id());
    }
}
