//! A circuit breaker per upstream, shared by all requests, lock-free.
//!
//! Closed: calls pass; outcomes are counted in a sliding window of buckets.
//! It opens when, with at least `minCalls` in the window, the failure ratio
//! reaches `failureRatio`, or after `consecutiveFailures` in a row. Open:
//! calls fail at once, touching nothing. After `openFor` the first caller
//! moves it to half-open, where `halfOpenProbes` calls go through: if all
//! succeed it closes, any failure reopens it. Every transition is logged once.
//!
//! Time is `tokio::time::Instant`, so tests drive it with paused time.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::window::Window;
use crate::config::BreakerPolicy;

/// The window's two counts.
const OK: usize = 0;
const FAILED: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    fn from_u8(v: u8) -> BreakerState {
        match v {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

/// The right to make one call; give it back with [`Breaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Normal,
    Probe,
}

/// Why a call was refused.
/// A change of state, as alert hooks hear of it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Open {
    /// Until the next probe may go through.
    pub retry_in: Duration,
}

#[derive(Debug)]
pub struct Breaker {
    upstream: String,
    policy: BreakerPolicy,
    epoch: Instant,
    state: AtomicU8,
    /// Milliseconds since `epoch` when it last opened.
    opened_at: AtomicU64,
    probes_started: AtomicU32,
    probes_ok: AtomicU32,
    consecutive: AtomicU32,
    /// Good (0) and failed (1) calls over the policy's window.
    window: Window,
    transitions: AtomicU64,
    /// Transitions for whoever listens (alert hooks); sending with no
    /// listener costs a check.
    events: tokio::sync::broadcast::Sender<Transition>,
}

impl Breaker {
    pub fn new(upstream: &str, policy: BreakerPolicy) -> Breaker {
        Breaker {
            window: Window::new(policy.window),
            events: tokio::sync::broadcast::Sender::new(16),
            upstream: upstream.to_owned(),
            policy,
            epoch: Instant::now(),
            state: AtomicU8::new(0),
            opened_at: AtomicU64::new(0),
            probes_started: AtomicU32::new(0),
            probes_ok: AtomicU32::new(0),
            consecutive: AtomicU32::new(0),
            transitions: AtomicU64::new(0),
        }
    }

    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Gives back a permit whose call was never made.
    pub fn release(&self, permit: Permit) {
        if permit == Permit::Probe {
            self.probes_started.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Its transitions from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Transition> {
        self.events.subscribe()
    }

    /// How many times it changed state since start.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Asks to make a call.
    pub fn acquire(&self) -> Result<Permit, Open> {
        loop {
            match self.state() {
                BreakerState::Closed => return Ok(Permit::Normal),
                BreakerState::Open => {
                    let open_for = ms(self.policy.open_for);
                    let elapsed = self
                        .now_ms()
                        .saturating_sub(self.opened_at.load(Ordering::Acquire));
                    if elapsed < open_for {
                        return Err(Open {
                            retry_in: Duration::from_millis(open_for - elapsed),
                        });
                    }
                    self.probes_started.store(0, Ordering::Release);
                    self.probes_ok.store(0, Ordering::Release);
                    self.transition(
                        BreakerState::Open,
                        BreakerState::HalfOpen,
                        "the open period is over; letting probes through",
                    );
                }
                BreakerState::HalfOpen => {
                    let started = self.probes_started.fetch_add(1, Ordering::AcqRel);
                    if started < self.policy.half_open_probes {
                        return Ok(Permit::Probe);
                    }
                    self.probes_started.fetch_sub(1, Ordering::AcqRel);
                    return Err(Open {
                        retry_in: Duration::ZERO,
                    });
                }
            }
        }
    }

    /// Reports the outcome of a permitted call.
    pub fn record(&self, permit: Permit, failed: bool) {
        match permit {
            Permit::Probe => {
                if failed {
                    self.opened_at.store(self.now_ms(), Ordering::Release);
                    self.transition(BreakerState::HalfOpen, BreakerState::Open, "a probe failed");
                } else if self.probes_ok.fetch_add(1, Ordering::AcqRel) + 1
                    >= self.policy.half_open_probes
                {
                    self.reset_counts();
                    self.transition(
                        BreakerState::HalfOpen,
                        BreakerState::Closed,
                        "the probes succeeded",
                    );
                }
            }
            Permit::Normal => {
                self.count(failed);
                if self.state() != BreakerState::Closed {
                    return;
                }
                if let Some(reason) = self.should_open(failed) {
                    self.opened_at.store(self.now_ms(), Ordering::Release);
                    self.transition(BreakerState::Closed, BreakerState::Open, &reason);
                }
            }
        }
    }

    fn count(&self, failed: bool) {
        if failed {
            self.window.add(FAILED);
            self.consecutive.fetch_add(1, Ordering::AcqRel);
        } else {
            self.window.add(OK);
            self.consecutive.store(0, Ordering::Release);
        }
    }

    fn should_open(&self, failed: bool) -> Option<String> {
        if !failed {
            return None;
        }
        let consecutive = self.consecutive.load(Ordering::Acquire);
        if let Some(limit) = self.policy.consecutive_failures
            && consecutive >= limit
        {
            return Some(format!("{consecutive} failures in a row"));
        }
        let [ok, bad] = self.window.sums();
        let total = ok + bad;
        let ratio = if total == 0 {
            0.0
        } else {
            bad as f64 / total as f64
        };
        (total >= u64::from(self.policy.min_calls) && ratio >= self.policy.failure_ratio).then(
            || {
                format!(
                    "{bad} of {total} calls failed in the last {} ({:.0}% >= {:.0}%)",
                    humantime::format_duration(self.policy.window),
                    ratio * 100.0,
                    self.policy.failure_ratio * 100.0
                )
            },
        )
    }

    fn reset_counts(&self) {
        self.consecutive.store(0, Ordering::Release);
        self.window.clear();
    }

    /// Moves `from` -> `to` if still in `from`; only the winner logs.
    fn transition(&self, from: BreakerState, to: BreakerState, reason: &str) {
        if self
            .state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.transitions.fetch_add(1, Ordering::Relaxed);
            if self.events.receiver_count() > 0 {
                let _ = self.events.send(Transition {
                    from,
                    to,
                    reason: reason.to_owned(),
                });
            }
            tracing::warn!(
                upstream = %self.upstream,
                from = from.as_str(),
                to = to.as_str(),
                reason,
                "circuit breaker {}",
                to.as_str()
            );
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            failure_ratio: 0.5,
            min_calls: 4,
            window: Duration::from_secs(10),
            consecutive_failures: Some(3),
            open_for: Duration::from_secs(5),
            half_open_probes: 2,
            failure_statuses: vec![500],
            graphql_errors: false,
        }
    }

    fn call(b: &Breaker, failed: bool) -> bool {
        match b.acquire() {
            Ok(permit) => {
                b.record(permit, failed);
                true
            }
            Err(_) => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_ratio_and_recovers_through_probes() {
        let b = Breaker::new(
            "t",
            BreakerPolicy {
                consecutive_failures: None,
                ..policy()
            },
        );
        for failed in [false, true, false, true] {
            assert!(call(&b, failed));
        }
        assert_eq!(b.state(), BreakerState::Open, "2 of 4 failed: 50%");
        assert!(b.acquire().is_err(), "open answers at once");
        tokio::time::advance(Duration::from_millis(4_900)).await;
        assert!(b.acquire().is_err(), "still open before openFor");
        tokio::time::advance(Duration::from_millis(200)).await;
        let p1 = b.acquire().expect("first probe");
        let p2 = b.acquire().expect("second probe");
        assert_eq!((p1, p2), (Permit::Probe, Permit::Probe));
        assert!(b.acquire().is_err(), "only two probes while half-open");
        b.record(p1, false);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(p2, false);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.transitions(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_it_and_a_failed_probe_reopens() {
        let b = Breaker::new("t", policy());
        for _ in 0..3 {
            assert!(call(&b, true));
        }
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = b.acquire().expect("probe");
        b.record(probe, true);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.acquire().is_err(), "reopened for another openFor");
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_leave_the_window() {
        let b = Breaker::new(
            "t",
            BreakerPolicy {
                consecutive_failures: None,
                ..policy()
            },
        );
        assert!(call(&b, true));
        assert!(call(&b, true));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(call(&b, false));
        assert!(call(&b, false));
        assert!(call(&b, true));
        assert!(call(&b, false));
        assert_eq!(b.state(), BreakerState::Closed, "1 of 4 in the window");
    }
}
