//! The guards around every upstream call, in one documented order:
//!
//! ```text
//! overall deadline (timeout: retries and backoff included)
//!   -> for each attempt:
//!        circuit breaker (fail fast while open; count the outcome)
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
pub(crate) mod retry;

use std::future::Future;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::{Policies, RetryPolicy};
use crate::error::{ErrorCode, FieldError};
pub use breaker::{Breaker, BreakerState};
use retry::RetryBudget;

/// How one attempt failed.
#[derive(Debug, Clone)]
pub enum AttemptError {
    /// Could not connect (refused, reset before a response).
    Connect,
    /// No answer, or no bytes for `readTimeout`, or over `attemptTimeout`.
    Timeout,
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
            AttemptError::Timeout => "timeout",
            AttemptError::Broken => "broken_body",
            AttemptError::Status { .. } => "http_status",
            AttemptError::BadResponse { .. } => "bad_response",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            AttemptError::Connect | AttemptError::Timeout | AttemptError::Broken => true,
            AttemptError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            AttemptError::BadResponse { .. } => false,
        }
    }

    fn breaker_failure(&self, statuses: &[u16]) -> bool {
        match self {
            AttemptError::Connect | AttemptError::Timeout | AttemptError::Broken => true,
            AttemptError::Status { status, .. } => statuses.contains(status),
            AttemptError::BadResponse { .. } => false,
        }
    }

    fn into_field_error(self, upstream: &str, timeout: Duration) -> FieldError {
        let (code, message, status) = match self {
            AttemptError::Connect => (
                ErrorCode::UpstreamUnavailable,
                "refused or dropped the connection".to_owned(),
                None,
            ),
            AttemptError::Timeout => (
                ErrorCode::UpstreamTimeout,
                format!(
                    "did not answer within {}",
                    humantime::format_duration(timeout)
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
}

/// The per-upstream guard state, shared by every request.
#[derive(Debug)]
pub struct Guard {
    upstream: String,
    policies: Policies,
    breaker: Option<Breaker>,
    budget: RetryBudget,
    limiter: Option<Semaphore>,
}

impl Guard {
    pub fn new(upstream: &str, policies: &Policies) -> Guard {
        Guard {
            upstream: upstream.to_owned(),
            breaker: policies.breaker.clone().map(|p| Breaker::new(upstream, p)),
            budget: RetryBudget::new(),
            limiter: policies.max_concurrent.map(Semaphore::new),
            policies: policies.clone(),
        }
    }

    pub fn breaker(&self) -> Option<&Breaker> {
        self.breaker.as_ref()
    }

    /// Runs `attempt` under every guard; returns the last attempt's outcome
    /// as a client-safe error.
    pub async fn call<T, F, Fut>(
        &self,
        options: CallOptions<'_>,
        mut attempt: F,
    ) -> (Result<T, FieldError>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let deadline = Instant::now() + options.timeout;
        let tries = std::sync::atomic::AtomicU32::new(0);
        let timeout_error =
            || AttemptError::Timeout.into_field_error(&self.upstream, options.timeout);
        let run = async {
            self.budget.call();
            loop {
                let tries = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let error = match self.attempt_once(&mut attempt, deadline).await {
                    Ok(value) => return Ok(value),
                    Err(Refused::Fatal(error)) => return Err(error),
                    Err(Refused::Attempt(error)) => error,
                };
                let last = tries >= options.retry.attempts
                    || !options.idempotent
                    || !error.retryable()
                    || !self.budget.try_retry(options.retry.budget);
                let wait = match &error {
                    AttemptError::Status {
                        retry_after: Some(after),
                        ..
                    } => (*after <= options.retry.max_retry_after).then_some(*after),
                    _ => Some(retry::backoff(options.retry, tries)),
                };
                match wait {
                    Some(wait) if !last && Instant::now() + wait < deadline => {
                        tracing::debug!(upstream = %self.upstream, attempt = tries, ?wait, ?error, "retrying");
                        tokio::time::sleep(wait).await;
                    }
                    _ => return Err(error.into_field_error(&self.upstream, options.timeout)),
                }
            }
        };
        let result = match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => Err(timeout_error()),
        };
        let attempts = tries.load(std::sync::atomic::Ordering::Relaxed);
        (
            result.map_err(|mut e| {
                e.attempts = attempts;
                e
            }),
            attempts,
        )
    }

    async fn attempt_once<T, F, Fut>(
        &self,
        attempt: &mut F,
        deadline: Instant,
    ) -> Result<T, Refused>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let permit = match &self.breaker {
            Some(breaker) => {
                match breaker.acquire() {
                    Ok(permit) => Some(permit),
                    Err(open) => {
                        return Err(Refused::Fatal(
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
        let _slot = match &self.limiter {
            Some(limiter) => {
                match tokio::time::timeout(self.policies.queue_timeout, limiter.acquire()).await {
                    Ok(Ok(slot)) => Some(slot),
                    _ => {
                        if let (Some(breaker), Some(permit)) = (&self.breaker, permit) {
                            breaker.release(permit);
                        }
                        return Err(Refused::Fatal(
                        FieldError::new(
                            ErrorCode::UpstreamOverloaded,
                            format!(
                                "upstream `{}` has {} calls in flight (maxConcurrent); this one waited {} for a slot",
                                self.upstream,
                                self.policies.max_concurrent.unwrap_or_default(),
                                humantime::format_duration(self.policies.queue_timeout)
                            ),
                        )
                        .upstream(&self.upstream),
                    ));
                    }
                }
            }
            None => None,
        };
        // The attempt ends by the overall deadline at the latest, so a call
        // cut by it still reaches the breaker as a timeout (and a probe's
        // permit is not lost with the dropped future).
        let attempt_deadline = match self.policies.attempt_timeout {
            Some(limit) => deadline.min(Instant::now() + limit),
            None => deadline,
        };
        let outcome = tokio::time::timeout_at(attempt_deadline, attempt())
            .await
            .unwrap_or(Err(AttemptError::Timeout));
        if let (Some(breaker), Some(permit)) = (&self.breaker, permit) {
            let failed = outcome
                .as_ref()
                .err()
                .is_some_and(|e| e.breaker_failure(&breaker.policy().failure_statuses));
            breaker.record(permit, failed);
        }
        outcome.map_err(Refused::Attempt)
    }
}

enum Refused {
    /// Not tried (breaker open, no slot): do not retry.
    Fatal(FieldError),
    Attempt(AttemptError),
}
