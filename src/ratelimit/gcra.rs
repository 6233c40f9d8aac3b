//! The token bucket as GCRA (the generic cell rate algorithm): a bucket's
//! whole state is one number, the time at which it would be full again
//! (its "theoretical arrival time", TAT). Taking a token moves it one
//! interval later; a token is there while the TAT is at most one bucket's
//! worth of intervals ahead of now. One number is what makes a bucket one
//! atomic in memory and one key in Redis (the Lua script does the same sum).

use crate::config::RateLimitPolicy;

/// A bucket's rate, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// The time one token takes to come back.
    pub(crate) interval_ns: u64,
    /// The time an empty bucket takes to fill (`burst` intervals).
    pub(crate) capacity_ns: u64,
}

impl Gcra {
    pub(crate) fn new(policy: &RateLimitPolicy) -> Gcra {
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let interval_ns = nanos(policy.interval()).max(1);
        Gcra {
            interval_ns,
            capacity_ns: interval_ns.saturating_mul(u64::from(policy.burst.max(1))),
        }
    }

    /// Takes a token at `now` from a bucket whose TAT is `tat` (0: never
    /// used): `Ok(new TAT)`, or `Err(nanoseconds until a token is back)`.
    pub(crate) fn take(&self, tat: u64, now: u64) -> Result<u64, u64> {
        let next = tat.max(now).saturating_add(self.interval_ns);
        let allowed_from = next.saturating_sub(self.capacity_ns);
        if now < allowed_from {
            Err(allowed_from - now)
        } else {
            Ok(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gcra(rate: u32, per_ms: u64, burst: u32) -> Gcra {
        Gcra::new(&RateLimitPolicy {
            rate,
            per: Duration::from_millis(per_ms),
            burst,
            shared: false,
        })
    }

    /// Takes tokens at `now` until refused; how many it got.
    fn drain(g: &Gcra, tat: &mut u64, now: u64) -> (u32, u64) {
        let mut n = 0;
        loop {
            match g.take(*tat, now) {
                Ok(next) => {
                    *tat = next;
                    n += 1;
                }
                Err(wait) => return (n, wait),
            }
        }
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_one_token_per_interval() {
        // 10 per second, burst 3: 100 ms a token.
        let g = gcra(10, 1000, 3);
        let mut tat = 0;
        let start = 5_000_000_000;
        let (got, wait) = drain(&g, &mut tat, start);
        assert_eq!(got, 3);
        assert_eq!(wait, 100_000_000);
        // 99 ms later: still nothing; at 100 ms one token, and only one.
        assert!(g.take(tat, start + 99_000_000).is_err());
        let (got, _) = drain(&g, &mut tat, start + 100_000_000);
        assert_eq!(got, 1);
        // Idle for a long time: full again, never more than the burst.
        let (got, _) = drain(&g, &mut tat, start + 60_000_000_000);
        assert_eq!(got, 3);
    }

    #[test]
    fn the_burst_defaults_to_nothing_more_than_configured() {
        let g = gcra(5, 1000, 5);
        let mut tat = 0;
        assert_eq!(drain(&g, &mut tat, 1).0, 5);
        // Half a second later, 2 tokens (one each 200 ms) have come back.
        assert_eq!(drain(&g, &mut tat, 1 + 500_000_000).0, 2);
    }
}
