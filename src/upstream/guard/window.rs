//! One sliding-window counter: two counts in ten buckets that together span
//! a window. The breaker counts good and failed calls in it, the retry
//! budget first attempts and retries. Lock-free: a bucket whose period has
//! passed is claimed by one caller (compare-exchange) and zeroed.
//!
//! Time is tokio's clock, so tests with paused time drive it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Buckets per window.
const BUCKETS: u64 = 10;

#[derive(Debug, Default)]
struct Bucket {
    /// Which period the counts belong to.
    period: AtomicU64,
    counts: [AtomicU64; 2],
}

#[derive(Debug)]
pub(crate) struct Window {
    epoch: Instant,
    bucket_ms: u64,
    buckets: [Bucket; BUCKETS as usize],
}

impl Window {
    /// A window spanning `span` (ten buckets of a tenth each, at least 1 ms).
    pub(crate) fn new(span: Duration) -> Window {
        let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        Window {
            epoch: Instant::now(),
            bucket_ms: (span_ms / BUCKETS).max(1),
            buckets: Default::default(),
        }
    }

    /// The current bucket period since the window was made.
    pub(crate) fn period(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) / self.bucket_ms
    }

    /// Adds one to count `which` (0 or 1) now.
    pub(crate) fn add(&self, which: usize) {
        let period = self.period();
        let bucket = &self.buckets[(period % BUCKETS) as usize];
        let seen = bucket.period.load(Ordering::Acquire);
        if seen != period
            && bucket
                .period
                .compare_exchange(seen, period, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            for count in &bucket.counts {
                count.store(0, Ordering::Release);
            }
        }
        bucket.counts[which].fetch_add(1, Ordering::AcqRel);
    }

    /// Both counts over the window.
    pub(crate) fn sums(&self) -> [u64; 2] {
        let period = self.period();
        let mut sums = [0, 0];
        for bucket in &self.buckets {
            if bucket.period.load(Ordering::Acquire) + BUCKETS > period {
                for (sum, count) in sums.iter_mut().zip(&bucket.counts) {
                    *sum += count.load(Ordering::Acquire);
                }
            }
        }
        sums
    }

    /// Forgets every count.
    pub(crate) fn clear(&self) {
        for bucket in &self.buckets {
            for count in &bucket.counts {
                count.store(0, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_age_out_bucket_by_bucket() {
        let window = Window::new(Duration::from_secs(10));
        window.add(0);
        window.add(1);
        window.add(1);
        assert_eq!(window.sums(), [1, 2]);
        tokio::time::advance(Duration::from_secs(5)).await;
        window.add(0);
        assert_eq!(window.sums(), [2, 2]);
        // The first bucket leaves the window after ten seconds.
        tokio::time::advance(Duration::from_millis(5_500)).await;
        assert_eq!(window.sums(), [1, 0]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(window.sums(), [0, 0]);
        window.add(1);
        window.clear();
        assert_eq!(window.sums(), [0, 0]);
    }
}
