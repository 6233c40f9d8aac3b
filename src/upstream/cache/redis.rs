//! The shared cache tier. Every operation has a short timeout; when Redis is
//! down or slow, calls go to the upstreams as if it were not there, one
//! warning is logged per outage, and the tier comes back by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{CacheKey, Entry};
use crate::config::RedisTier;

pub struct RedisCache {
    client: redis::Client,
    config: RedisTier,
    /// Connected manager; it reconnects by itself once it exists.
    manager: Mutex<Option<ConnectionManager>>,
    connecting: AtomicBool,
    /// Signalled when a connect attempt ends, for lookups waiting on it.
    connected: tokio::sync::Notify,
    healthy: AtomicBool,
}

impl RedisCache {
    pub fn new(config: &RedisTier) -> Result<Arc<RedisCache>, String> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| format!("bad redis URL: {e}"))?;
        let cache = Arc::new(RedisCache {
            client,
            config: config.clone(),
            manager: Mutex::new(None),
            connecting: AtomicBool::new(false),
            connected: tokio::sync::Notify::new(),
            healthy: AtomicBool::new(true),
        });
        Ok(cache)
    }

    fn key(&self, upstream: &str, key: CacheKey) -> String {
        format!("{}:v1:{upstream}:{key:032x}", self.config.prefix)
    }

    /// A connection, or `None` while Redis is unreachable (a connect is then
    /// started in the background, at most one at a time).
    fn connection(self: &Arc<Self>) -> Option<ConnectionManager> {
        if let Some(m) = self
            .manager
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Some(m.clone());
        }
        if !self.connecting.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            tokio::spawn(async move {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(this.config.timeout))
                    .set_number_of_retries(1);
                match ConnectionManager::new_with_config(this.client.clone(), config).await {
                    Ok(manager) => {
                        *this.manager.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(manager);
                        this.ok();
                    }
                    Err(e) => {
                        this.failed(&e.to_string());
                        this.connected.notify_waiters();
                        // Do not hammer a Redis that is down.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                this.connecting.store(false, Ordering::Release);
                this.connected.notify_waiters();
            });
        }
        None
    }

    fn failed(&self, why: &str) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %why, "redis cache tier unavailable; serving from upstreams until it is back");
        }
    }

    fn ok(&self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!("redis cache tier is back");
        }
    }

    /// A connection, waiting up to the timeout for the first connect (so a
    /// new replica's first lookups see what others stored); not while Redis
    /// is known to be down.
    async fn connection_soon(self: &Arc<Self>) -> Option<ConnectionManager> {
        let connected = self.connected.notified();
        tokio::pin!(connected);
        connected.as_mut().enable();
        if let Some(conn) = self.connection() {
            return Some(conn);
        }
        if !self.healthy.load(Ordering::Acquire) {
            return None;
        }
        tokio::time::timeout(self.config.timeout, connected)
            .await
            .ok()?;
        self.connection()
    }

    pub async fn get(self: &Arc<Self>, upstream: &str, key: CacheKey) -> Option<Entry> {
        let bytes = self.get_bytes(self.key(upstream, key)).await?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores in the background: the caller never waits for Redis.
    pub fn set(self: &Arc<Self>, upstream: &str, key: CacheKey, entry: Arc<Entry>) {
        let Ok(bytes) = serde_json::to_vec(entry.as_ref()) else {
            return;
        };
        let ttl_ms = (entry.ttl_ms + entry.stale_ms).max(1);
        self.set_bytes(self.key(upstream, key), bytes, ttl_ms);
    }

    /// The key of something else the gateway keeps in the tier (`kind`:
    /// what it is, e.g. `apq`), under the same prefix.
    pub fn key_of(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:v1:{id}", self.config.prefix)
    }

    /// The value at `key`; `None` when there is none, or Redis is down or
    /// slower than the tier's timeout.
    pub async fn get_bytes(self: &Arc<Self>, key: String) -> Option<Vec<u8>> {
        let mut conn = self.connection_soon().await?;
        let cmd = redis::cmd("GET").arg(key).clone();
        match tokio::time::timeout(
            self.config.timeout,
            cmd.query_async::<Option<Vec<u8>>>(&mut conn),
        )
        .await
        {
            Ok(Ok(bytes)) => {
                self.ok();
                bytes
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    /// Stores `bytes` at `key` for `ttl_ms`, in the background; dropped
    /// when no connection is up yet (a cached answer is fetched again).
    pub fn set_bytes(self: &Arc<Self>, key: String, bytes: Vec<u8>, ttl_ms: u64) {
        let Some(conn) = self.connection() else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move { this.write(conn, key, bytes, ttl_ms).await });
    }

    /// [`RedisCache::set_bytes`] for what is written once and not again (a
    /// persisted query): waits for the first connect, up to the timeout,
    /// rather than drop the write.
    pub fn set_bytes_soon(self: &Arc<Self>, key: String, bytes: Vec<u8>, ttl_ms: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(conn) = this.connection_soon().await {
                this.write(conn, key, bytes, ttl_ms).await;
            }
        });
    }

    async fn write(&self, mut conn: ConnectionManager, key: String, bytes: Vec<u8>, ttl_ms: u64) {
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .clone();
        match tokio::time::timeout(self.config.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => self.ok(),
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }
}
