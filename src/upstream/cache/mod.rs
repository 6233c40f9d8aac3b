//! The response cache: per upstream, in process (moka, bounded by bytes or
//! entries), optionally over a Redis tier shared by every replica.
//!
//! An entry lives for `ttl + staleIfError`: fresh while younger than `ttl`,
//! then kept only to stand in for a failed call. Keys hash the method, the
//! full rendered URL, every per-caller header sent upstream (forwarded
//! `Authorization`, cookies, tenant headers) and the body, so two callers
//! with different credentials never share an entry.

mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moka::notification::RemovalCause;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::redis::RedisCache;
use crate::config::CachePolicy;

/// A 128-bit key: the first half of the SHA-256 of the request identity, so
/// that no caller can craft a request whose key is another caller's.
pub type CacheKey = u128;

/// The key of `identity` (exact bytes, see `UpstreamRequest::identity`)
/// within `upstream`.
pub fn key(upstream: &str, identity: &[u8]) -> CacheKey {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(&(upstream.len() as u64).to_le_bytes());
    digest.update(upstream.as_bytes());
    digest.update(identity);
    let digest = digest.finish();
    let mut half = [0u8; 16];
    half.copy_from_slice(&digest.as_ref()[..16]);
    u128::from_le_bytes(half)
}

/// A cached answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub value: Arc<Value>,
    /// Milliseconds since the Unix epoch when it was fetched (wall clock, so
    /// the age is right in every replica that reads it from Redis).
    pub stored_ms: u64,
    pub ttl_ms: u64,
    pub stale_ms: u64,
    pub bytes: u32,
}

/// How usable an entry is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Past its TTL, within `staleIfError`: only for a failed call.
    Stale(Duration),
    Expired,
}

impl Entry {
    pub fn new(value: Arc<Value>, bytes: usize, ttl: Duration, stale: Duration) -> Entry {
        Entry {
            value,
            stored_ms: now_ms(),
            ttl_ms: ms(ttl),
            stale_ms: ms(stale),
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        }
    }

    pub fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.stored_ms))
    }

    pub fn freshness(&self) -> Freshness {
        let age = now_ms().saturating_sub(self.stored_ms);
        if age < self.ttl_ms {
            Freshness::Fresh
        } else if age < self.ttl_ms + self.stale_ms {
            Freshness::Stale(Duration::from_millis(age))
        } else {
            Freshness::Expired
        }
    }

    fn lifetime(&self) -> Duration {
        Duration::from_millis(
            (self.ttl_ms + self.stale_ms).saturating_sub(now_ms().saturating_sub(self.stored_ms)),
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale: AtomicU64,
    pub evictions: AtomicU64,
}

impl CacheStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct PerEntryExpiry;

impl moka::Expiry<CacheKey, Arc<Entry>> for PerEntryExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Entry>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime())
    }
}

/// One upstream's cache.
pub struct ResponseCache {
    pub policy: CachePolicy,
    memory: moka::sync::Cache<CacheKey, Arc<Entry>>,
    redis: Option<Arc<RedisCache>>,
    upstream: String,
    pub stats: Arc<CacheStats>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("upstream", &self.upstream)
            .field("entries", &self.memory.entry_count())
            .finish()
    }
}

impl ResponseCache {
    pub fn new(
        upstream: &str,
        policy: CachePolicy,
        redis: Option<Arc<RedisCache>>,
    ) -> ResponseCache {
        let stats = Arc::new(CacheStats::default());
        let evictions = stats.clone();
        let builder = moka::sync::Cache::builder()
            .expire_after(PerEntryExpiry)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
            });
        let memory = match policy.max_entries {
            Some(entries) => builder.max_capacity(entries).build(),
            None => builder
                .weigher(|_key, entry: &Arc<Entry>| entry.bytes.max(1))
                .max_capacity(policy.max_bytes)
                .build(),
        };
        ResponseCache {
            policy,
            memory,
            redis,
            upstream: upstream.to_owned(),
            stats,
        }
    }

    /// The entry for `key`: from memory when fresh there, else the newer of
    /// Redis's (another replica may have refreshed it) and memory's.
    pub async fn lookup(&self, key: CacheKey) -> Option<Arc<Entry>> {
        let kept = self.memory.get(&key);
        if kept
            .as_ref()
            .is_some_and(|e| e.freshness() == Freshness::Fresh)
        {
            return kept;
        }
        let Some(redis) = self.redis.as_ref() else {
            return kept;
        };
        let shared = match redis.get(&self.upstream, key).await {
            Some(entry) if entry.freshness() != Freshness::Expired => Arc::new(entry),
            _ => return kept,
        };
        if kept
            .as_ref()
            .is_some_and(|k| k.stored_ms >= shared.stored_ms)
        {
            return kept;
        }
        self.memory.insert(key, shared.clone());
        Some(shared)
    }

    pub fn store(&self, key: CacheKey, entry: Entry) {
        let entry = Arc::new(entry);
        if let Some(redis) = &self.redis {
            redis.set(&self.upstream, key, entry.clone());
        }
        self.memory.insert(key, entry);
    }

    /// Approximate bytes held in memory (for tests and the status page).
    pub fn weighted_size(&self) -> u64 {
        self.memory.run_pending_tasks();
        self.memory.weighted_size()
    }
}
