//! The rate limit's side of the Redis store: one connection for all requests, the call with
//! its timeout, and the health that decides when to fall back.

use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::health::{Health, Route};
use super::script::{self, Verdict};
use super::{Connection, Fallback, RedisStore};
use crate::rate_limit::quota::Quota;

/// A rate limit's Redis store in use: built from a [`RedisStore`] and the layer's quota.
pub(crate) struct Remote<K> {
    connection: Connection,
    /// Made on the first request (making one needs a runtime).
    manager: OnceLock<ConnectionManager>,
    /// The keys' prefix: the store's prefix and the quota's name.
    prefix: Vec<u8>,
    write_key: fn(&K, &mut Vec<u8>),
    timeout: Duration,
    fallback: Fallback,
    /// The script's arguments for the quota (microseconds).
    interval: u64,
    tolerance: u64,
    health: Health,
}

/// What became of one call to Redis.
pub(crate) enum Answer {
    Decided(Verdict),
    /// Redis failed (error, timeout, garbage): decide by the fallback.
    Failed,
}

impl<K> Remote<K> {
    pub(crate) fn new(store: &RedisStore, quota: &Quota, write_key: fn(&K, &mut Vec<u8>)) -> Self {
        let (interval, tolerance) =
            script::arguments(quota.emission_interval(), quota.burst_size());
        let mut prefix = store.prefix.clone().into_bytes();
        prefix.extend_from_slice(quota.name().as_bytes());
        prefix.push(b':');
        Self {
            connection: store.connection.clone(),
            manager: OnceLock::new(),
            prefix,
            write_key,
            timeout: store.timeout,
            fallback: store
                .fallback
                .clone()
                .unwrap_or_else(|| Fallback::Local(quota.clone())),
            interval,
            tolerance,
            health: Health::new(store.min_backoff, store.max_backoff),
        }
    }

    /// The quota of the local buckets: the fallback's, or the layer's.
    pub(crate) fn local_quota<'a>(&'a self, quota: &'a Quota) -> &'a Quota {
        match &self.fallback {
            Fallback::Local(local) => local,
            _ => quota,
        }
    }

    pub(crate) fn fallback(&self) -> &Fallback {
        &self.fallback
    }

    /// Where the request arriving at `now` (nanoseconds on the limiter's clock) is decided.
    pub(crate) fn route(&self, now: u64) -> Route {
        self.health.route(now)
    }

    /// The Redis key of a bucket (`None`: the limit's one global or shared bucket).
    pub(crate) fn key(&self, key: Option<&K>) -> Vec<u8> {
        let mut redis_key = self.prefix.clone();
        match key {
            Some(key) => (self.write_key)(key, &mut redis_key),
            None => redis_key.push(b'*'),
        }
        redis_key
    }

    /// Asks Redis for a token from `key`'s bucket, within the timeout. `now` (nanoseconds on
    /// the limiter's clock) is when a failure happened, for the backoff.
    pub(crate) async fn check(&self, key: &[u8], probe: bool, now: impl Fn() -> u64) -> Answer {
        let outcome = match self.manager() {
            Ok(mut manager) => {
                let mut invocation = script::SCRIPT.key(key);
                invocation.arg(self.interval).arg(self.tolerance);
                let call = invocation.invoke_async::<Vec<i64>>(&mut manager);
                match tokio::time::timeout(self.timeout, call).await {
                    Ok(Ok(answer)) => Verdict::parse(&answer)
                        .ok_or_else(|| format!("the rate limit script answered {answer:?}")),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no answer within {:?}", self.timeout)),
                }
            }
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(verdict) => {
                if self.health.answered(probe) {
                    tracing::info!(
                        "floodgate: Redis answers again; the rate limit is global again"
                    );
                }
                Answer::Decided(verdict)
            }
            Err(error) => {
                if self.health.failed(now(), probe) {
                    tracing::warn!(
                        %error,
                        fallback = ?self.fallback,
                        "floodgate: the rate limit's Redis store failed; deciding by the fallback \
                         until it answers again"
                    );
                }
                Answer::Failed
            }
        }
    }

    /// The connection, made on first use.
    fn manager(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        let manager = match &self.connection {
            Connection::Manager(manager) => manager.clone(),
            Connection::Client(client) => {
                // Reconnect quickly and give up soon: while Redis is away the probes, with their
                // own backoff, ask for new connections.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100))
                    .set_connection_timeout(Some(Duration::from_secs(1)));
                ConnectionManager::new_lazy_with_config(client.clone(), config)?
            }
        };
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    pub(crate) fn is_down(&self) -> bool {
        self.health.is_down()
    }

    pub(crate) fn errors(&self) -> u64 {
        self.health.errors()
    }
}
