//! The APQ store: documents clients registered by their SHA-256, in memory
//! (moka, weighed by bytes) and optionally in the Redis tier, which every
//! replica shares. Redis is only ever a second chance: a lookup it cannot
//! answer in time is a miss, and the client sends the query again.

use std::sync::Arc;

use moka::notification::RemovalCause;

use crate::config::PersistedQueriesSettings;
use crate::telemetry::metrics::PersistedCounters;
use crate::upstream::cache::RedisCache;

pub(crate) struct Store {
    /// Query text by lowercase hex SHA-256.
    memory: moka::sync::Cache<String, Arc<str>>,
    redis: Option<(Arc<RedisCache>, u64)>,
    counters: PersistedCounters,
}

impl Store {
    pub(crate) fn new(
        settings: &PersistedQueriesSettings,
        redis: Option<Arc<RedisCache>>,
        counters: PersistedCounters,
    ) -> Store {
        let evicted = counters.evicted.clone();
        let memory = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_hash, query: &Arc<str>| {
                // The key is the 64 hex digits of a SHA-256.
                u32::try_from(64 + query.len()).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    evicted.inc();
                }
            })
            .build();
        let ttl_ms = u64::try_from(settings.redis_ttl.as_millis()).unwrap_or(u64::MAX);
        Store {
            memory,
            redis: redis.filter(|_| settings.redis).map(|r| (r, ttl_ms)),
            counters,
        }
    }

    /// The document registered under `hash`: memory first, then Redis (its
    /// text checked against the hash, and kept in memory from then on).
    pub(crate) async fn get(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(query) = self.memory.get(hash) {
            self.counters.hit.inc();
            return Some(query);
        }
        if let Some((redis, _)) = &self.redis
            && let Some(bytes) = redis.get_bytes(redis.key_of("apq", hash)).await
            && let Ok(text) = String::from_utf8(bytes)
            && super::sha256_hex(&text) == hash
        {
            let query: Arc<str> = Arc::from(text);
            self.memory.insert(hash.to_owned(), query.clone());
            self.counters.hit.inc();
            return Some(query);
        }
        self.counters.miss.inc();
        None
    }

    /// Keeps `query` under `hash` (already checked to be its SHA-256).
    pub(crate) fn register(&self, hash: &str, query: &str) {
        if self.memory.contains_key(hash) {
            return;
        }
        self.counters.registered.inc();
        self.memory.insert(hash.to_owned(), Arc::from(query));
        // Registrations are rare (once per document and replica): keep the
        // bound exact rather than eventually.
        self.memory.run_pending_tasks();
        if let Some((redis, ttl_ms)) = &self.redis {
            redis.set_bytes_soon(
                redis.key_of("apq", hash),
                query.as_bytes().to_vec(),
                *ttl_ms,
            );
        }
    }

    /// Bytes held in memory (hash and text of every document).
    pub(crate) fn weighted_size(&self) -> u64 {
        self.memory.run_pending_tasks();
        self.memory.weighted_size()
    }
}
