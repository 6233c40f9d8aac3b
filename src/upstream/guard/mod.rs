//! The guards around every upstream call, in one documented order:
//!
//! ```text
//! overall deadline (timeout: retries and backoff included)
//!   -> for each attempt:
//!        rate limit (rateLimit: no token, no call; UPSTREAM_RATE_LIMITED)
//!        -> circuit breaker (fail fast while open; count the outcome)
//!        -> concurrency cap (maxConcurrent, wait at most queueTimeout)
//!           -> attempt deadline (attemptTimeout) -> HTTP (connect/read timeouts)
//!      -> retry? only idempotent calls, only for connect/transport errors,
//!         attempt timeouts, 429, 502, 503, 504; within the retry budget;
//!         after exponential backoff with jitter, or Retry-After (capped),
//!         never past the overall deadline
//! ```
//!
//! Well-kept crates cover parts of this (tower's `timeout`/`retry`, `backon`,
//! `failsafe`), but none honours `Retry-After` against an overall deadline
//! with a shared retry budget, and their breakers have no sliding-window ratio
//! with a minimum call count plus bounded half-open probes. Each piece here is
//! small and tested alone (see `breaker.rs`, `retry.rs`).

pub mod breaker;
pub(crate) mod concurrency;
mod hedge;
pub(crate) mod retry;
mod window;
pub(crate) use retry::random_below;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Policies, RetryPolicy};
use crate::error::{ErrorCode, FieldError};
use crate::ratelimit::{Decision, Limiter, RedisBuckets};
pub use breaker::{Breaker, BreakerState};
use concurrency::{ConcurrencyLimit, Outcome};
use retry::RetryBudget;

/// What a successful attempt tells the breaker.
pub trait Answered {
    /// Whether the answer carries GraphQL `errors` (counted as a failure by
    /// a breaker with `graphqlErrors: true`).
    fn graphql_errors(&self) -> bool {
        false
    }
}

impl Answered for () {}

/// How one attempt failed.
#[derive(Debug, Clone)]
pub enum AttemptError {
    /// Could not connect (refused, reset before a response).
    Connect,
    /// No answer within a limit: which (`timeout`, `attemptTimeout`,
    /// `readTimeout`) and how long it is.
    Timeout {
        limit: &'static str,
        after: Duration,
    },
    /// The response broke off mid-body.
    Broken,
    /// A status outside 2xx.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer we cannot use.
    BadResponse { status: u16, message: String },
}

impl AttemptError {
    /// A short name for `error.type` on spans.
    pub fn kind(&self) -> &'static str {
        match self {
            AttemptError::Connect => "connect",
            AttemptError::Timeout { .. } => "timeout",
            AttemptError::Broken => "broken_body",
            AttemptError::Status { .. } => "http_status",
            AttemptError::BadResponse { .. } => "bad_response",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            AttemptError::Connect | AttemptError::Timeout { .. } | AttemptError::Broken => true,
            AttemptError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            AttemptError::BadResponse { .. } => false,
        }
    }

    fn breaker_failure(&self, statuses: &[u16]) -> bool {
        match self {
            AttemptError::Connect | AttemptError::Timeout { .. } | AttemptError::Broken => true,
            AttemptError::Status { status, .. } => statuses.contains(status),
            AttemptError::BadResponse { .. } => false,
        }
    }

    fn into_field_error(self, upstream: &str) -> FieldError {
        let (code, message, status) = match self {
            AttemptError::Connect => (
                ErrorCode::UpstreamUnavailable,
                "refused or dropped the connection".to_owned(),
                None,
            ),
            AttemptError::Timeout { limit, after } => (
                ErrorCode::UpstreamTimeout,
                format!(
                    "did not answer within {} ({limit})",
                    humantime::format_duration(after)
                ),
                None,
            ),
            AttemptError::Broken => (
                ErrorCode::UpstreamUnavailable,
                "broke off the response body".to_owned(),
                None,
            ),
            AttemptError::Status { status, .. } => (
                ErrorCode::UpstreamHttpError,
                format!("answered {status}"),
                Some(status),
            ),
            AttemptError::BadResponse { status, message } => {
                (ErrorCode::UpstreamBadResponse, message, Some(status))
            }
        };
        let error =
            FieldError::new(code, format!("upstream `{upstream}` {message}")).upstream(upstream);
        match status {
            Some(status) => error.status(status),
            None => error,
        }
    }
}

/// What a binding adds to its upstream's policies.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions<'a> {
    pub timeout: Duration,
    pub retry: &'a RetryPolicy,
    pub idempotent: bool,
    /// Whether this call's failures count toward the breaker (a binding
    /// whose failures follow its inputs opts out with `tripsBreaker: false`;
    /// it still obeys an open breaker).
    pub trips_breaker: bool,
    /// Hedging of this call (the field's, else the upstream's), if any.
    pub hedge: Option<&'a crate::config::HedgePolicy>,
}

/// The per-upstream guard state, shared by every request.
#[derive(Debug)]
pub struct Guard {
    upstream: String,
    policies: Policies,
    breaker: Option<Breaker>,
    budget: RetryBudget,
    limiter: Option<ConcurrencyLimit>,
    /// `rateLimit`: calls per unit of time, every request's together.
    pub rate: Option<Limiter>,
    /// Recent answer times (for `hedge: { after: "p95" }`) and hedges sent.
    hedging: hedge::Hedging,
}

impl Guard {
    /// The guards `policies` ask for; a shared `rateLimit` counts in `redis`.
    pub fn new(upstream: &str, policies: &Policies, redis: Option<&Arc<RedisBuckets>>) -> Guard {
        Guard {
            upstream: upstream.to_owned(),
            breaker: policies.breaker.clone().map(|p| Breaker::new(upstream, p)),
            budget: RetryBudget::new(),
            limiter: match &policies.adaptive {
                Some(adaptive) => Some(ConcurrencyLimit::adaptive(adaptive)),
                None => policies.max_concurrent.map(ConcurrencyLimit::fixed),
            },
            rate: policies
                .rate_limit
                .as_ref()
                .map(|p| Limiter::new(format!("upstream:{upstream}"), p, None, redis)),
            policies: policies.clone(),
            hedging: hedge::Hedging::default(),
        }
    }

    /// The concurrency limit now and the calls in flight (`None`: no cap),
    /// and whether the limit is adaptive.
    pub fn concurrency(&self) -> Option<(usize, usize, bool)> {
        self.limiter
            .as_ref()
            .map(|l| (l.limit(), l.in_flight(), l.is_adaptive()))
    }

    /// Hedged copies sent so far.
    pub fn hedges(&self) -> u64 {
        self.hedging.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The breaker's state now (`None`: this upstream has no breaker).
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker.as_ref().map(Breaker::state)
    }

    /// The breaker's transitions from now on (`None`: no breaker).
    pub fn breaker_events(&self) -> Option<tokio::sync::broadcast::Receiver<breaker::Transition>> {
        self.breaker.as_ref().map(Breaker::subscribe)
    }

    /// How often the breaker has changed state (`None`: no breaker).
    pub fn breaker_transitions(&self) -> Option<u64> {
        self.breaker.as_ref().map(Breaker::transitions)
    }

    /// Runs `attempt` under every guard; returns the last attempt's outcome
    /// as a client-safe error.
    pub async fn call<T: Answered, F, Fut>(
        &self,
        options: CallOptions<'_>,
        mut attempt: F,
    ) -> (Result<T, FieldError>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let deadline = Instant::now() + options.timeout;
        let attempts_made = std::sync::atomic::AtomicU32::new(0);
        let timeout_error = || {
            FieldError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "upstream `{}` did not answer within {}",
                    self.upstream,
                    humantime::format_duration(options.timeout)
                ),
            )
            .upstream(&self.upstream)
        };
        let run = async {
            self.budget.call();
            loop {
                let tries = attempts_made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let error = match self.attempt_once(&mut attempt, deadline, &options).await {
                    Ok(value) => return Ok(value),
                    Err(TryFailed::NotTried(error)) => {
                        // Stopped before any request left: not an attempt.
                        attempts_made.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        return Err(error);
                    }
                    Err(TryFailed::Failed(error)) => error,
                };
                let retry =
                    tries < options.retry.attempts && options.idempotent && error.retryable();
                let wait = match &error {
                    AttemptError::Status {
                        retry_after: Some(after),
                        ..
                    } => (*after <= options.retry.max_retry_after).then_some(*after),
                    _ => Some(retry::backoff(options.retry, tries)),
                };
                match wait {
                    // The budget is charged last: only for retries that happen.
                    Some(wait)
                        if retry
                            && Instant::now() + wait < deadline
                            && self.budget.try_retry(options.retry.budget) =>
                    {
                        tracing::debug!(upstream = %self.upstream, attempt = tries, ?wait, ?error, "retrying");
                        tokio::time::sleep(wait).await;
                    }
                    _ => return Err(error.into_field_error(&self.upstream)),
                }
            }
        };
        let result = match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => Err(timeout_error()),
        };
        let attempts = attempts_made.load(std::sync::atomic::Ordering::Relaxed);
        (
            result.map_err(|mut e| {
                e.attempts = attempts;
                e
            }),
            attempts,
        )
    }

    async fn attempt_once<T: Answered, F, Fut>(
        &self,
        attempt: &mut F,
        deadline: Instant,
        options: &CallOptions<'_>,
    ) -> Result<T, TryFailed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        // A call over the rate is not made: the breaker never hears of it.
        if let Some(rate) = &self.rate
            && let Decision::Refused(wait) = rate.check(b"").await
        {
            return Err(TryFailed::NotTried(
                FieldError::new(
                    ErrorCode::UpstreamRateLimited,
                    format!(
                        "upstream `{}` is at its rate limit ({}); the call was not made (a call is allowed again in {})",
                        self.upstream,
                        rate.describe(),
                        humantime::format_duration(Duration::from_millis(
                            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)
                        ))
                    ),
                )
                .upstream(&self.upstream),
            ));
        }
        let permit = match &self.breaker {
            Some(breaker) => {
                match breaker.acquire() {
                    Ok(permit) => Some(BreakerPermit {
                        breaker,
                        permit: Some(permit),
                    }),
                    Err(open) => {
                        return Err(TryFailed::NotTried(
                        FieldError::new(
                            ErrorCode::UpstreamCircuitOpen,
                            format!(
                                "upstream `{}` is failing; its circuit is open (next try in {})",
                                self.upstream,
                                humantime::format_duration(Duration::from_millis(open.retry_in.as_millis() as u64))
                            ),
                        )
                        .upstream(&self.upstream),
                    ));
                    }
                }
            }
            None => None,
        };
        let slot = match &self.limiter {
            Some(limiter) => match limiter.acquire(self.policies.queue_timeout).await {
                Some(slot) => Some(slot),
                None => {
                    // Dropping `permit` gives it back: no call was made.
                    let which = if limiter.is_adaptive() {
                        "the adaptive maxConcurrent now"
                    } else {
                        "maxConcurrent"
                    };
                    return Err(TryFailed::NotTried(
                        FieldError::new(
                            ErrorCode::UpstreamOverloaded,
                            format!(
                                "upstream `{}` has {} calls in flight ({which}); this one waited {} for a slot",
                                self.upstream,
                                limiter.limit(),
                                humantime::format_duration(self.policies.queue_timeout)
                            ),
                        )
                        .upstream(&self.upstream),
                    ));
                }
            },
            None => None,
        };
        // The attempt ends by the overall deadline at the latest, so a call
        // cut by it still reaches the breaker as a timeout (and a probe's
        // permit is not lost with the dropped future).
        let (attempt_deadline, cut) = match self.policies.attempt_timeout {
            Some(limit) if Instant::now() + limit < deadline => (
                Instant::now() + limit,
                AttemptError::Timeout {
                    limit: "attemptTimeout",
                    after: limit,
                },
            ),
            _ => (
                deadline,
                AttemptError::Timeout {
                    limit: "timeout",
                    after: options.timeout,
                },
            ),
        };
        // Answer times are kept only for a percentile's sake.
        let timed = matches!(
            options.hedge,
            Some(crate::config::HedgePolicy {
                after: crate::config::HedgeAfter::Percentile(_),
                ..
            })
        );
        let started = timed.then(Instant::now);
        // An idempotent call may be hedged: copies race, the first answer wins.
        let hedge = options
            .hedge
            .filter(|_| options.idempotent)
            .and_then(|policy| Some((self.hedging.delay(policy)?, policy.max)));
        let outcome = match hedge {
            Some((after, max)) => {
                let race =
                    self.hedging
                        .race(attempt, after, max, &self.budget, options.retry.budget);
                tokio::time::timeout_at(attempt_deadline, race).await
            }
            None => tokio::time::timeout_at(attempt_deadline, attempt()).await,
        }
        .unwrap_or(Err(cut));
        if let (Some(started), true) = (started, outcome.is_ok()) {
            self.hedging.observe(started.elapsed());
        }
        if let Some(slot) = slot {
            slot.done(match &outcome {
                Ok(_) => Outcome::Answered,
                Err(
                    AttemptError::Connect | AttemptError::Timeout { .. } | AttemptError::Broken,
                ) => Outcome::Dropped,
                Err(AttemptError::Status {
                    status: 429 | 502 | 503 | 504,
                    ..
                }) => Outcome::Dropped,
                Err(_) => Outcome::Ignored,
            });
        }
        if let Some(held) = permit {
            let policy = held.breaker.policy();
            let failed = match &outcome {
                Err(e) => e.breaker_failure(&policy.failure_statuses),
                Ok(answer) => policy.graphql_errors && answer.graphql_errors(),
            };
            // A failure of a binding that does not trip the breaker is not
            // recorded at all (its permit goes back on drop): counted as a
            // success it would hide real failures behind it.
            if options.trips_breaker || !failed {
                held.record(failed);
            }
        }
        outcome.map_err(TryFailed::Failed)
    }
}

/// A breaker permit, given back on drop if its call never reported (the
/// request went away mid-call, or no concurrency slot was free), so a
/// half-open breaker cannot lose its probe slots.
struct BreakerPermit<'a> {
    breaker: &'a Breaker,
    permit: Option<breaker::Permit>,
}

impl BreakerPermit<'_> {
    fn record(mut self, failed: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker.record(permit, failed);
        }
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.release(permit);
        }
    }
}

/// Why one try of a call gave no answer.
enum TryFailed {
    /// Not tried (no token, breaker open, no slot): do not retry.
    NotTried(FieldError),
    /// Tried, and the attempt failed.
    Failed(AttemptError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BreakerPolicy;

    fn policies() -> Policies {
        Policies {
            retry: RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            breaker: Some(BreakerPolicy {
                consecutive_failures: Some(1),
                open_for: Duration::from_secs(1),
                half_open_probes: 1,
                ..BreakerPolicy::default()
            }),
            ..Policies::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_gives_its_slot_back() {
        let policies = policies();
        let guard = Guard::new("t", &policies, None);
        let options = CallOptions {
            timeout: Duration::from_secs(10),
            retry: &policies.retry,
            idempotent: true,
            trips_breaker: true,
            hedge: None,
        };
        let (failed, _) = guard
            .call(options, || async { Err::<(), _>(AttemptError::Connect) })
            .await;
        assert!(failed.is_err());
        let breaker = guard.breaker.as_ref().expect("breaker configured");
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(1)).await;
        // The probe's caller goes away before the upstream answers.
        let probe = guard.call(options, std::future::pending::<Result<(), AttemptError>>);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), probe)
                .await
                .is_err()
        );
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // Its slot came back: the next call is let through, and closes it.
        let (ok, attempts) = guard
            .call(options, || async { Ok::<_, AttemptError>(()) })
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(attempts, 1);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_that_would_pass_the_deadline_is_not_charged_to_the_budget() {
        let policies = Policies {
            retry: RetryPolicy {
                attempts: 3,
                jitter: false,
                ..RetryPolicy::default()
            },
            breaker: None,
            ..Policies::default()
        };
        let guard = Guard::new("t", &policies, None);
        // 429 with Retry-After 1 s, and only 500 ms to spend: no retry.
        let options = CallOptions {
            timeout: Duration::from_millis(500),
            retry: &policies.retry,
            idempotent: true,
            trips_breaker: true,
            hedge: None,
        };
        let limited = || async {
            Err::<(), _>(AttemptError::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(1)),
            })
        };
        let (result, attempts) = guard.call(options, limited).await;
        assert_eq!(attempts, 1);
        assert_eq!(result.map_err(|e| e.status), Err(Some(429)));
        // The budget is untouched: its floor of 10 retries in this second remains.
        assert!((0..10).all(|_| guard.budget.try_retry(0.0)));
        assert!(!guard.budget.try_retry(0.0));
    }
}
