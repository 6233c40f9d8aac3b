//! Buckets shared by every replica, in the Redis tier: one key per bucket
//! holding its TAT in microseconds of Redis's own clock (`TIME`), so the
//! replicas' clocks do not matter. The GCRA step runs in one Lua script,
//! atomically, called by its SHA-1 (`EVALSHA`) and sent whole (`EVAL`) only
//! when Redis does not know it yet.
//!
//! Redis never holds traffic up: every call has the tier's timeout, and a
//! failure opens a short circuit ([`SKIP_FOR`]) during which Redis is not
//! asked at all and every limit that shares through it lets requests pass
//! (fail open). After it one request probes; the others keep passing until
//! the probe has answered.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::gcra::Gcra;
use crate::config::RedisTier;

/// How long a failure keeps Redis out of the path.
pub(super) const SKIP_FOR: Duration = Duration::from_secs(1);

/// KEYS[1]: the bucket. ARGV[1]: interval, ARGV[2]: capacity (µs).
/// Returns {1, 0} when a token was taken, {0, µs until one is back} when not.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local nxt = tat + interval
local allowed_from = nxt - capacity
if now < allowed_from then
  return {0, allowed_from - now}
end
redis.call('SET', KEYS[1], nxt, 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return {1, 0}
";

pub struct RedisBuckets {
    client: redis::Client,
    timeout: Duration,
    prefix: String,
    /// The script's SHA-1, hex, for `EVALSHA`.
    sha: String,
    /// Connected manager; it reconnects by itself once it exists.
    manager: Mutex<Option<ConnectionManager>>,
    connecting: AtomicBool,
    /// Signalled when a connect attempt ends.
    connected: tokio::sync::Notify,
    epoch: Instant,
    /// Milliseconds after `epoch` until which Redis is not asked (0: ask).
    skip_until: AtomicU64,
    /// Calls that failed or timed out (connects included).
    pub errors: AtomicU64,
}

impl std::fmt::Debug for RedisBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuckets")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What Redis said.
pub(super) enum Answer {
    Taken,
    /// Microseconds until a token is back.
    Empty(u64),
}

impl RedisBuckets {
    pub fn new(tier: &RedisTier) -> Result<Arc<RedisBuckets>, String> {
        let client =
            redis::Client::open(tier.url.as_str()).map_err(|e| format!("bad redis URL: {e}"))?;
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, SCRIPT.as_bytes());
        let sha = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Arc::new(RedisBuckets {
            client,
            timeout: tier.timeout,
            prefix: tier.prefix.clone(),
            sha,
            manager: Mutex::new(None),
            connecting: AtomicBool::new(false),
            connected: tokio::sync::Notify::new(),
            epoch: Instant::now(),
            skip_until: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }))
    }

    /// The Redis key of bucket `key` of limit `limit`.
    pub(super) fn key(&self, limit: &str, key: u128) -> String {
        format!("{}:ratelimit:v1:{limit}:{key:032x}", self.prefix)
    }

    /// Takes a token; `None` when Redis was not asked or did not answer in
    /// time (the caller lets the request pass).
    pub(super) async fn take(self: &Arc<Self>, key: &str, rate: &Gcra) -> Option<Answer> {
        if !self.may_ask() {
            return None;
        }
        let mut conn = self.connection().await?;
        let interval = (rate.interval_ns / 1000).max(1);
        let capacity = (rate.capacity_ns / 1000).max(interval);
        let call = async {
            let by_sha = redis::cmd("EVALSHA")
                .arg(&self.sha)
                .arg(1)
                .arg(key)
                .arg(interval)
                .arg(capacity)
                .query_async::<(i64, i64)>(&mut conn)
                .await;
            match by_sha {
                Err(e) if e.code() == Some("NOSCRIPT") => {
                    redis::cmd("EVAL")
                        .arg(SCRIPT)
                        .arg(1)
                        .arg(key)
                        .arg(interval)
                        .arg(capacity)
                        .query_async::<(i64, i64)>(&mut conn)
                        .await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((1, _))) => {
                self.ok();
                Some(Answer::Taken)
            }
            Ok(Ok((_, wait))) => {
                self.ok();
                Some(Answer::Empty(u64::try_from(wait).unwrap_or(0)))
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

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether to ask Redis now: yes unless a failure is recent; once it is
    /// not, one caller (the one that moves the deadline on) probes.
    fn may_ask(&self) -> bool {
        let until = self.skip_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= until
            && self
                .skip_until
                .compare_exchange(
                    until,
                    now + SKIP_FOR.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    fn failed(&self, why: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let until = (self.now_ms() + SKIP_FOR.as_millis() as u64).max(1);
        if self.skip_until.swap(until, Ordering::AcqRel) == 0 {
            tracing::warn!(error = %why, "redis unavailable for rate limits; requests pass unlimited by the shared limits until it is back");
        }
    }

    fn ok(&self) {
        if self.skip_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("redis is back for rate limits");
        }
    }

    /// A connection, waiting up to the timeout for a connect (at most one in
    /// flight, in the background, so a slow connect never holds more than
    /// the timeout).
    async fn connection(self: &Arc<Self>) -> Option<ConnectionManager> {
        let connected = self.connected.notified();
        tokio::pin!(connected);
        connected.as_mut().enable();
        if let Some(conn) = self.current() {
            return Some(conn);
        }
        if !self.connecting.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            tokio::spawn(async move {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(this.timeout))
                    .set_number_of_retries(1);
                match ConnectionManager::new_with_config(this.client.clone(), config).await {
                    Ok(manager) => {
                        *this.manager.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(manager);
                    }
                    Err(e) => this.failed(&e.to_string()),
                }
                this.connecting.store(false, Ordering::Release);
                this.connected.notify_waiters();
            });
        }
        if tokio::time::timeout(self.timeout, connected).await.is_err() {
            self.failed("connecting timed out");
            return None;
        }
        self.current()
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.manager
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
