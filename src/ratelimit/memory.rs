//! Buckets kept in this process: one atomic TAT each, taken with a
//! compare-and-swap loop (no lock). Keyed buckets live in a moka cache
//! bounded by key count and evicted after they have been idle long enough
//! to be full again, so forgetting one never gives a client more than a
//! fresh bucket would: memory follows the clients active within one refill
//! time, at most `maxKeys`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::gcra::Gcra;

/// One bucket's TAT, in nanoseconds after the limiter's epoch.
#[derive(Debug, Default)]
pub(super) struct Bucket(AtomicU64);

impl Bucket {
    /// `Ok(())` or `Err(nanoseconds until a token is back)`.
    pub(super) fn take(&self, rate: &Gcra, now: u64) -> Result<(), u64> {
        let mut tat = self.0.load(Ordering::Acquire);
        loop {
            let next = rate.take(tat, now)?;
            match self
                .0
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

/// Buckets by key hash.
pub(super) struct Keyed {
    buckets: moka::sync::Cache<u128, Arc<Bucket>>,
}

impl Keyed {
    pub(super) fn new(max_keys: u64, refill: Duration) -> Keyed {
        Keyed {
            buckets: moka::sync::Cache::builder()
                .max_capacity(max_keys)
                // Idle this long, a bucket is full: the same as none.
                .time_to_idle(refill.max(Duration::from_millis(1)))
                .build(),
        }
    }

    pub(super) fn take(&self, key: u128, rate: &Gcra, now: u64) -> Result<(), u64> {
        self.buckets.get_with(key, Arc::default).take(rate, now)
    }

    /// Buckets held now (after pending evictions have run).
    pub(super) fn len(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimitPolicy;

    fn rate() -> Gcra {
        Gcra::new(&RateLimitPolicy {
            rate: 1,
            per: Duration::from_secs(1),
            burst: 1,
            shared: false,
        })
    }

    #[test]
    fn keys_have_buckets_of_their_own() {
        let keyed = Keyed::new(100, Duration::from_secs(1));
        let rate = rate();
        assert!(keyed.take(1, &rate, 10).is_ok());
        assert!(keyed.take(1, &rate, 10).is_err());
        assert!(keyed.take(2, &rate, 10).is_ok());
    }

    #[test]
    fn many_keys_stay_within_max_keys() {
        let keyed = Keyed::new(50, Duration::from_secs(60));
        let rate = rate();
        for key in 0..5_000u128 {
            let _ = keyed.take(key, &rate, 10);
        }
        assert!(keyed.len() <= 50, "{} buckets kept", keyed.len());
    }

    #[test]
    fn concurrent_takes_never_hand_out_more_than_the_burst() {
        let bucket = Arc::new(Bucket::default());
        let rate = Gcra::new(&RateLimitPolicy {
            rate: 100,
            per: Duration::from_secs(3600),
            burst: 100,
            shared: false,
        });
        let granted: u32 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let bucket = bucket.clone();
                    s.spawn(move || (0..1000).filter(|_| bucket.take(&rate, 7).is_ok()).count())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_or(0, |n| n as u32))
                .sum()
        });
        assert_eq!(granted, 100);
    }
}
