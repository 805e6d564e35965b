//! The rate limit's buckets in Redis, shared by every replica: [`RedisStore`] (feature `redis`).
//!
//! With N replicas behind a load balancer and a local bucket each, a key limited to 100/s gets
//! N × 100/s. Give the layer a [`RedisStore`] and every replica draws from the same bucket in
//! Redis:
//!
//! ```no_run
//! use floodgate::{Quota, RateLimitLayer};
//! use floodgate::rate_limit::{HeaderKey, redis::{Fallback, RedisStore}};
//!
//! # fn main() -> Result<(), redis::RedisError> {
//! let quota = Quota::per_second(100).burst(20);
//! let store = RedisStore::open("redis://127.0.0.1:6379/")?
//!     // If Redis is unreachable, each of the 3 replicas limits on its own to a third.
//!     .fallback(Fallback::Local(quota.clone().share(1.0 / 3.0)));
//! let layer = RateLimitLayer::keyed(quota, HeaderKey::from_static("x-api-key")).store(store);
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # How
//!
//! One Lua script runs GCRA atomically in Redis (the arithmetic of the local buckets, in
//! microseconds), on the Redis server's clock, so replicas with skewed clocks agree. The script
//! is sent once and then called by its SHA (`EVALSHA`; reloaded if Redis restarted). A bucket's
//! key holds its next arrival time and expires when the bucket is full again, so idle keys cost
//! nothing; keys are `{prefix}{policy name}:{key}` (prefix `floodgate:` by default; the policy
//! name is the quota's [`name`](crate::Quota::named)).
//!
//! A request costs one round trip (one `EVALSHA`); all requests share one multiplexed
//! connection, so concurrent calls are pipelined on it. The answer is the local limiter's:
//! `429`, `Retry-After`, the `RateLimit` fields, and waiting up to
//! [`max_wait`](crate::RateLimitLayer::max_wait) for a token.
//!
//! # Faults
//!
//! No request fails because of the store. A call that errs, takes longer than the
//! [`timeout`](RedisStore::timeout) (50 ms by default) or gets an answer that is not the
//! script's is decided by the [`Fallback`] instead: local buckets (by default), allow all, or
//! deny all. A warning is logged once, the limiter's
//! [`Snapshot::fallback`](super::Snapshot::fallback) is `true` (metric
//! `floodgate_rate_fallback`) and the failure is counted
//! ([`Snapshot::store_errors`](super::Snapshot::store_errors),
//! `floodgate_rate_store_errors_total`). While it falls back, one request per backoff period
//! (100 ms, doubling up to 2 s) tries Redis again; the first that gets an answer ends the
//! fallback.

mod health;
mod remote;
mod script;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use redis::aio::ConnectionManager;

pub(crate) use self::health::Route;
pub(crate) use self::remote::{Answer, Remote};
pub(crate) use self::script::Verdict;
use super::quota::Quota;

/// Where a [`RateLimitLayer`](crate::RateLimitLayer) keeps its buckets when they must be shared
/// by several replicas: a Redis server, and what to do when it does not answer.
///
/// A value: each setting returns a changed store. Give it to the layer with
/// [`RateLimitLayer::store`](crate::RateLimitLayer::store).
///
/// ```
/// use std::time::Duration;
/// use floodgate::rate_limit::redis::{Fallback, RedisStore};
///
/// # fn main() -> Result<(), redis::RedisError> {
/// let store = RedisStore::open("redis://127.0.0.1:6379/")? // no connection yet
///     .prefix("shop:ratelimit:")
///     .timeout(Duration::from_millis(20))
///     .fallback(Fallback::Allow);
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    timeout: Duration,
    fallback: Option<Fallback>,
    min_backoff: Duration,
    max_backoff: Duration,
}

#[derive(Clone)]
enum Connection {
    Client(redis::Client),
    Manager(ConnectionManager),
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://host:port/db`, `rediss://` needs redis's
    /// TLS features). Only the URL is checked here: the connection is made on the first request
    /// and remade whenever it breaks.
    ///
    /// # Errors
    ///
    /// If `url` is not a Redis URL.
    pub fn open(url: &str) -> redis::RedisResult<Self> {
        redis::Client::open(url).map(Self::from_client)
    }

    /// A store on the server of `client`; the connection is made on the first request.
    pub fn from_client(client: redis::Client) -> Self {
        Self::with(Connection::Client(client))
    }

    /// A store on a connection you made (and configured) yourself.
    pub fn from_manager(manager: ConnectionManager) -> Self {
        Self::with(Connection::Manager(manager))
    }

    fn with(connection: Connection) -> Self {
        Self {
            connection,
            prefix: "floodgate:".to_owned(),
            timeout: Duration::from_millis(50),
            fallback: None,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }

    /// The start of every key the limiter writes (default `floodgate:`); then come the policy
    /// name, `:` and the request's key.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a request waits for Redis before the fallback decides it (default 50 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What decides requests while Redis does not answer (default: [`Fallback::Local`] with the
    /// layer's own quota).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// How often a falling-back limiter tries Redis again: after `min`, then twice as long after
    /// each failed try, up to `max` (default 100 ms to 2 s).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = match &self.connection {
            Connection::Client(client) => client.get_connection_info().addr().to_string(),
            Connection::Manager(_) => "a connection manager".to_owned(),
        };
        f.debug_struct("RedisStore")
            .field("server", &server)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

/// What decides requests while Redis does not answer.
///
/// ```
/// use floodgate::Quota;
/// use floodgate::rate_limit::redis::Fallback;
///
/// // 3 replicas: each allows a third of the global quota on its own.
/// let quota = Quota::per_second(90).burst(30);
/// let fallback = Fallback::Local(quota.share(1.0 / 3.0));
/// assert!(matches!(fallback, Fallback::Local(ref local) if local.burst_size() == 10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// Each replica limits on its own, with local buckets of this quota (typically the global
    /// quota's share per replica: [`Quota::share`]). The layer waits up to its `max_wait` for a
    /// local token as it would for one in Redis.
    Local(Quota),
    /// Admit every request: availability over the limit. (Their responses carry no `RateLimit`
    /// fields: nothing is known of the bucket.)
    Allow,
    /// Reject every request with `429` (`Retry-After`: one emission interval): the limit over
    /// availability.
    Deny,
}

/// A key that can name a bucket in Redis: its bytes are appended to the prefix.
///
/// Implemented for the keys of the ready-made extractors (`()` for [`Global`](super::Global),
/// [`IpAddr`] for [`PeerIp`](super::PeerIp) and [`ClientIp`](super::ClientIp),
/// [`HeaderValue`](http::HeaderValue) for [`HeaderKey`](super::HeaderKey)), for strings, byte
/// strings and integers. Two keys must write the same bytes exactly when they are equal.
///
/// ```
/// use floodgate::rate_limit::redis::RedisKey;
///
/// let mut bytes = Vec::new();
/// "user-7".write_key(&mut bytes);
/// assert_eq!(bytes, b"user-7");
/// ```
pub trait RedisKey {
    /// Appends the key's bytes to `out`.
    fn write_key(&self, out: &mut Vec<u8>);
}

impl RedisKey for () {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.push(b'*');
    }
}

impl RedisKey for IpAddr {
    fn write_key(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "{self}");
    }
}

impl RedisKey for http::HeaderValue {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl RedisKey for str {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl RedisKey for String {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl RedisKey for &'static str {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl RedisKey for Vec<u8> {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl RedisKey for bytes::Bytes {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

macro_rules! integer_keys {
    ($($integer:ty),*) => {$(
        impl RedisKey for $integer {
            fn write_key(&self, out: &mut Vec<u8>) {
                use std::io::Write;
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

integer_keys!(u16, u32, u64, u128, i32, i64);

/// A layer's store setting: the store, and how to write the layer's keys (a
/// `fn(&K, &mut Vec<u8>)`, its type erased so that the settings need no key type).
#[derive(Clone, Debug)]
pub(crate) struct StoreSettings {
    store: RedisStore,
    write_key: std::sync::Arc<dyn std::any::Any + Send + Sync>,
}

impl StoreSettings {
    pub(crate) fn new<K: RedisKey + 'static>(store: RedisStore) -> Self {
        let write_key: fn(&K, &mut Vec<u8>) = K::write_key;
        Self {
            store,
            write_key: std::sync::Arc::new(write_key),
        }
    }

    /// The store in use by a limiter whose keys are `K` and quota is `quota`.
    pub(crate) fn remote<K: 'static>(&self, quota: &Quota) -> Remote<K> {
        let write_key = *self
            .write_key
            .downcast_ref::<fn(&K, &mut Vec<u8>)>()
            .expect("the store was set for this key type");
        Remote::new(&self.store, quota, write_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_write_their_bytes() {
        let mut out = Vec::new();
        IpAddr::from([10, 0, 0, 1]).write_key(&mut out);
        out.push(b'|');
        http::HeaderValue::from_static("k1").write_key(&mut out);
        out.push(b'|');
        42u64.write_key(&mut out);
        out.push(b'|');
        ().write_key(&mut out);
        assert_eq!(out, b"10.0.0.1|k1|42|*");
    }

    #[test]
    fn the_store_is_configured_by_value() {
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let changed = store.clone().prefix("x:").timeout(Duration::from_millis(5));
        assert_eq!(store.prefix, "floodgate:");
        assert_eq!(changed.prefix, "x:");
        assert_eq!(changed.timeout, Duration::from_millis(5));
        assert!(format!("{changed:?}").contains("127.0.0.1:1"));
        assert!(RedisStore::open("not a url").is_err());
    }
}
