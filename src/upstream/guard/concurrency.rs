//! The concurrency cap of one upstream: a fixed `maxConcurrent`, or an
//! adaptive limit (`maxConcurrent: adaptive`, `adaptive: { min, max,
//! initial }`) that follows the upstream's measured latency.
//!
//! The adaptive limit is a Vegas limiter, in the manner of Netflix
//! concurrency-limits' `VegasLimit`: the upstream's lowest recent round
//! trip (`min_rtt`) stands for its time with no queue, and each answer's
//! round trip tells how many calls queue there now,
//! `queue = limit × (1 − min_rtt / rtt)`. With little queueing the limit
//! grows, with more than a few calls queued it shrinks, and a timeout,
//! 429, 502/503/504 or refused connection (the upstream shedding) takes
//! a tenth off. So when an upstream slows under load, the gateway keeps
//! near its knee in flight and queues (then sheds, after `queueTimeout`)
//! the rest, instead of piling up calls on it.
//!
//! The base is measured again every few hundred answers by a probe: the
//! limit is halved for two rounds of calls and the lowest round trip among
//! their answers becomes `min_rtt`, then the limit comes back. Halving is
//! what tells apart queueing the gateway causes (the round trip falls with
//! fewer calls) from an upstream that became slower for good (it does
//! not); forgetting the minimum under load instead, as a plain Vegas does,
//! would ratchet the limit up while the upstream stays saturated. Answers
//! while fewer than half the limit are in flight do not grow it (the limit
//! was not what held the traffic back).
//!
//! The limit is enforced by a semaphore: growing adds permits, shrinking
//! forgets free ones and, for the rest, forgets permits as their calls end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::config::AdaptivePolicy;

/// Answers after which the lowest round trip is measured anew.
const PROBE_EVERY: u64 = 500;

/// A cap on calls in flight.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimit {
    semaphore: Semaphore,
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    /// Permits to forget as calls end (the limit shrank below the calls
    /// in flight).
    debt: AtomicUsize,
    adaptive: Option<Adaptive>,
}

#[derive(Debug)]
struct Adaptive {
    policy: AdaptivePolicy,
    state: Mutex<Vegas>,
}

#[derive(Debug)]
struct Vegas {
    limit: f64,
    min_rtt: Option<Duration>,
    answers: u64,
    probe: Option<Probe>,
}

/// A probe of the upstream's base round trip at half the limit.
#[derive(Debug)]
struct Probe {
    /// The limit to come back to.
    restore: f64,
    /// Answers still to wait for.
    left: u64,
    min: Option<Duration>,
}

/// What an ended call tells the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    /// It answered: its round trip counts.
    Answered,
    /// The upstream shed it or did not answer in time.
    Dropped,
    /// Nothing about load (e.g. a 404).
    Ignored,
}

/// A place among the calls in flight, given back on drop.
pub(crate) struct Slot<'a> {
    limit: &'a ConcurrencyLimit,
    permit: Option<SemaphorePermit<'a>>,
    /// When the call started (read only by an adaptive limit).
    started: Option<Instant>,
    /// Calls in flight when this one started (itself included).
    in_flight: usize,
}

impl ConcurrencyLimit {
    pub(crate) fn fixed(limit: usize) -> ConcurrencyLimit {
        ConcurrencyLimit {
            semaphore: Semaphore::new(limit),
            limit: AtomicUsize::new(limit),
            in_flight: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            adaptive: None,
        }
    }

    pub(crate) fn adaptive(policy: &AdaptivePolicy) -> ConcurrencyLimit {
        let initial = policy.initial.clamp(policy.min, policy.max);
        ConcurrencyLimit {
            adaptive: Some(Adaptive {
                policy: policy.clone(),
                state: Mutex::new(Vegas {
                    limit: initial as f64,
                    min_rtt: None,
                    answers: 0,
                    probe: None,
                }),
            }),
            ..ConcurrencyLimit::fixed(initial)
        }
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn is_adaptive(&self) -> bool {
        self.adaptive.is_some()
    }

    /// A place for one call, waiting at most `queue_timeout` for it.
    pub(crate) async fn acquire(&self, queue_timeout: Duration) -> Option<Slot<'_>> {
        let permit = tokio::time::timeout(queue_timeout, self.semaphore.acquire())
            .await
            .ok()?
            .ok()?;
        let in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        Some(Slot {
            limit: self,
            permit: Some(permit),
            started: self.adaptive.is_some().then(Instant::now),
            in_flight,
        })
    }

    /// Moves the limit to `new`, adding or forgetting permits.
    fn set(&self, new: usize) {
        let old = self.limit.swap(new, Ordering::Relaxed);
        if new > old {
            let mut grow = new - old;
            // Permits still owed are simply not forgotten any more.
            let _ = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |debt| {
                    let paid = debt.min(grow);
                    grow -= paid;
                    Some(debt - paid)
                });
            self.semaphore.add_permits(grow);
        } else if new < old {
            let shrink = old - new;
            let forgotten = self.semaphore.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::Relaxed);
        }
    }

    fn observe(&self, rtt: Duration, in_flight: usize, outcome: Outcome) {
        let Some(adaptive) = &self.adaptive else {
            return;
        };
        let policy = &adaptive.policy;
        let new = {
            let mut vegas = adaptive
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(limit) = vegas.next(rtt, in_flight, outcome, policy) else {
                return;
            };
            vegas.limit = limit.clamp(policy.min as f64, policy.max as f64);
            vegas.limit.round() as usize
        };
        if new != self.limit() {
            self.set(new);
        }
    }
}

impl Vegas {
    /// The next limit after one answer (`None`: unchanged).
    fn next(
        &mut self,
        rtt: Duration,
        in_flight: usize,
        outcome: Outcome,
        policy: &AdaptivePolicy,
    ) -> Option<f64> {
        let limit = self.limit;
        let log = limit.log10().max(1.0);
        if let Some(probe) = &mut self.probe {
            match outcome {
                Outcome::Ignored => return None,
                Outcome::Dropped => probe.restore *= 0.9,
                Outcome::Answered => {
                    probe.min = Some(probe.min.map_or(rtt, |m| m.min(rtt)));
                }
            }
            probe.left = probe.left.saturating_sub(1);
            if probe.left > 0 {
                return None;
            }
            let restore = probe.restore;
            self.min_rtt = probe.min.or(self.min_rtt);
            self.probe = None;
            return Some(restore);
        }
        match outcome {
            Outcome::Ignored => None,
            Outcome::Dropped => Some(limit * 0.9),
            Outcome::Answered => {
                self.answers += 1;
                let half = (limit / 2.0).max(policy.min as f64);
                if self.answers.is_multiple_of(PROBE_EVERY) {
                    self.probe = Some(Probe {
                        restore: limit,
                        left: (2.0 * limit).ceil() as u64,
                        min: None,
                    });
                    return Some(half);
                }
                let min = match self.min_rtt {
                    Some(min) if min <= rtt => min,
                    _ => {
                        self.min_rtt = Some(rtt);
                        rtt
                    }
                };
                if rtt.is_zero() {
                    return None;
                }
                let queue = limit * (1.0 - min.as_secs_f64() / rtt.as_secs_f64());
                let (alpha, beta) = (3.0 * log, 6.0 * log);
                let grow = (in_flight as f64) * 2.0 >= limit;
                if queue <= log && grow {
                    Some(limit + beta)
                } else if queue < alpha && grow {
                    Some(limit + log)
                } else if queue > beta {
                    Some(limit - log)
                } else {
                    None
                }
            }
        }
    }
}

impl Slot<'_> {
    /// The call ended with `outcome`: an adaptive limit learns from it.
    pub(crate) fn done(self, outcome: Outcome) {
        if let Some(started) = self.started {
            self.limit
                .observe(started.elapsed(), self.in_flight, outcome);
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.limit.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(permit) = self.permit.take() {
            let owed = self
                .limit
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1))
                .is_ok();
            if owed {
                permit.forget();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AdaptivePolicy {
        AdaptivePolicy {
            min: 2,
            max: 100,
            initial: 10,
        }
    }

    /// An upstream with `knee` workers: a call's round trip is 20 ms up to
    /// `knee` in flight and grows in proportion beyond.
    fn rtt(in_flight: usize, knee: usize) -> Duration {
        Duration::from_millis(20) * (in_flight.max(knee) as u32) / knee as u32
    }

    #[test]
    fn a_saturated_upstream_brings_the_limit_near_its_knee() {
        let limit = ConcurrencyLimit::adaptive(&policy());
        // Callers keep as many calls in flight as the limit allows.
        for _ in 0..5_000 {
            let in_flight = limit.limit();
            limit.observe(rtt(in_flight, 8), in_flight, Outcome::Answered);
        }
        let settled = limit.limit();
        assert!((4..=20).contains(&settled), "settled at {settled}");
    }

    #[test]
    fn a_fast_upstream_lets_the_limit_grow_to_its_max_and_drops_shrink_it() {
        let limit = ConcurrencyLimit::adaptive(&policy());
        for _ in 0..200 {
            let in_flight = limit.limit();
            limit.observe(Duration::from_millis(5), in_flight, Outcome::Answered);
        }
        assert_eq!(limit.limit(), 100);
        for _ in 0..10 {
            limit.observe(Duration::from_millis(5), 100, Outcome::Dropped);
        }
        assert!(limit.limit() < 40, "{}", limit.limit());
        for _ in 0..100 {
            limit.observe(Duration::from_millis(5), 100, Outcome::Dropped);
        }
        assert_eq!(limit.limit(), 2, "never below min");
    }

    #[test]
    fn an_upstream_slower_for_good_becomes_the_new_base() {
        let limit = ConcurrencyLimit::adaptive(&policy());
        for _ in 0..1_000 {
            let in_flight = limit.limit();
            limit.observe(Duration::from_millis(20), in_flight, Outcome::Answered);
        }
        assert_eq!(limit.limit(), 100);
        // Ten times slower at any concurrency: it is not queueing, so after
        // a probe the limit grows back.
        let mut highest = 0;
        for i in 0..5_000 {
            let in_flight = limit.limit();
            limit.observe(Duration::from_millis(200), in_flight, Outcome::Answered);
            if i >= 4_000 {
                highest = highest.max(limit.limit());
            }
        }
        // (Probes halve it for a while: the highest of the last answers.)
        assert_eq!(highest, 100);
    }

    #[test]
    fn answers_while_little_is_in_flight_do_not_grow_the_limit() {
        let limit = ConcurrencyLimit::adaptive(&policy());
        for _ in 0..200 {
            limit.observe(Duration::from_millis(5), 1, Outcome::Answered);
        }
        assert_eq!(limit.limit(), 10);
    }

    #[tokio::test]
    async fn a_shrunk_limit_is_enforced_as_calls_end() {
        let limit = ConcurrencyLimit::fixed(4);
        let slots: Vec<_> = futures_util::future::join_all(
            (0..4).map(|_| limit.acquire(Duration::from_millis(10))),
        )
        .await
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(slots.len(), 4);
        assert!(limit.acquire(Duration::from_millis(10)).await.is_none());
        limit.set(2);
        drop(slots);
        assert_eq!(limit.in_flight(), 0);
        let a = limit.acquire(Duration::from_millis(10)).await;
        let b = limit.acquire(Duration::from_millis(10)).await;
        assert!(a.is_some() && b.is_some());
        assert!(
            limit.acquire(Duration::from_millis(10)).await.is_none(),
            "only 2 now"
        );
        drop((a, b));
        limit.set(3);
        let held: Vec<_> = futures_util::future::join_all(
            (0..3).map(|_| limit.acquire(Duration::from_millis(10))),
        )
        .await
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(held.len(), 3);
    }
}
