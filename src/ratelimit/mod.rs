//! Rate limits: token buckets (GCRA, `gcra.rs`) per client key in front of
//! the engine, and per upstream in its guards.
//!
//! A [`Limiter`] is one configured limit: its rate, its buckets (in this
//! process, `memory.rs`, or shared by every replica through Redis,
//! `redis.rs`) and its counters, which `/metrics` reads. What a client key
//! is (a header, the IP behind trusted proxies, the operation name) is
//! worked out in `client.rs`. Nothing here knows GraphQL.

mod client;
mod gcra;
mod memory;
mod redis;

pub use client::{ClientLimits, Refused};
pub use redis::RedisBuckets;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimitPolicy;
use gcra::Gcra;

/// Whether a request (or call) may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit: a token is back after this long.
    Refused(Duration),
}

/// A limit's counters, read at scrape time.
#[derive(Debug, Default)]
pub struct LimitStats {
    pub allowed: AtomicU64,
    pub refused: AtomicU64,
    /// Let through without a decision: the shared tier was down or slow.
    pub failed_open: AtomicU64,
}

enum Store {
    /// One bucket for everything (an upstream's).
    Single(memory::Bucket),
    /// A bucket per key, in memory.
    Keyed(memory::Keyed),
    /// A bucket per key in Redis.
    Shared(Arc<RedisBuckets>),
}

/// One configured limit.
pub struct Limiter {
    /// `client:ip`, `client:header:x-api-key`, `upstream:pricing`: its name
    /// in metrics and in Redis keys.
    pub name: Arc<str>,
    pub policy: RateLimitPolicy,
    rate: Gcra,
    store: Store,
    epoch: Instant,
    pub stats: LimitStats,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limit with one bucket (`keyed: None`) or a bucket per key, at most
    /// `max_keys` in memory. With `shared` in the policy, the buckets are
    /// `redis`'s (the loader has made sure there is a Redis tier).
    pub fn new(
        name: String,
        policy: &RateLimitPolicy,
        max_keys: Option<u64>,
        redis: Option<&Arc<RedisBuckets>>,
    ) -> Limiter {
        let store = match (policy.shared.then_some(redis).flatten(), max_keys) {
            (Some(redis), _) => Store::Shared(redis.clone()),
            (None, Some(max)) => Store::Keyed(memory::Keyed::new(max, policy.refill())),
            (None, None) => Store::Single(memory::Bucket::default()),
        };
        Limiter {
            name: Arc::from(name),
            rate: Gcra::new(policy),
            policy: policy.clone(),
            store,
            epoch: Instant::now(),
            stats: LimitStats::default(),
        }
    }

    /// Takes a token from `key`'s bucket (any key, for a single bucket).
    pub async fn check(&self, key: &[u8]) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let taken = match &self.store {
            Store::Single(bucket) => bucket.take(&self.rate, now),
            Store::Keyed(buckets) => buckets.take(hash(key), &self.rate, now),
            Store::Shared(redis) => {
                let key = redis.key(&self.name, hash(key));
                match redis.take(&key, &self.rate).await {
                    Some(redis::Answer::Taken) => Ok(()),
                    Some(redis::Answer::Empty(micros)) => Err(micros.saturating_mul(1000)),
                    None => {
                        self.stats.failed_open.fetch_add(1, Ordering::Relaxed);
                        return Decision::Allowed;
                    }
                }
            }
        };
        match taken {
            Ok(()) => {
                self.stats.allowed.fetch_add(1, Ordering::Relaxed);
                Decision::Allowed
            }
            Err(wait) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Decision::Refused(Duration::from_nanos(wait))
            }
        }
    }

    /// Buckets kept in this process (0 for shared ones).
    pub fn keys_in_memory(&self) -> u64 {
        match &self.store {
            Store::Single(_) => 1,
            Store::Keyed(buckets) => buckets.len(),
            Store::Shared(_) => 0,
        }
    }

    /// The Redis tier's buckets, if this limit is shared.
    pub fn shared(&self) -> Option<&Arc<RedisBuckets>> {
        match &self.store {
            Store::Shared(redis) => Some(redis),
            _ => None,
        }
    }

    /// `100 per 1s, burst 200`, for messages.
    pub fn describe(&self) -> String {
        let p = &self.policy;
        format!(
            "{} per {}, burst {}",
            p.rate,
            humantime::format_duration(p.per),
            p.burst
        )
    }
}

/// A key's bucket id: the first half of its SHA-256, so key values of any
/// length (a header) take the same room, and none can be crafted to share
/// another's bucket.
fn hash(key: &[u8]) -> u128 {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    let mut half = [0u8; 16];
    half.copy_from_slice(&digest.as_ref()[..16]);
    u128::from_le_bytes(half)
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}
