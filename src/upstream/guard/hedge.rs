//! Hedged calls (`hedge: { after, max }`): when an idempotent call's attempt
//! has not answered after `after` (a fixed delay, or a percentile of the
//! upstream's recent answers), an identical copy goes out, up to `max`
//! copies; the first answer wins and the others are dropped, which cancels
//! them. Every copy is charged to the retry budget (no budget, no hedge),
//! and the breaker hears of the call once, with its outcome.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::AttemptError;
use super::retry::RetryBudget;
use crate::config::{HedgeAfter, HedgePolicy};

/// How many recent answer times a percentile is taken over.
const KEPT: usize = 256;
/// Fewer answers than this: no percentile yet, so no hedge.
const ENOUGH: usize = 20;

/// The upstream's recent answer times and how many hedges went out.
#[derive(Debug, Default)]
pub(crate) struct Hedging {
    recent: Mutex<VecDeque<u32>>,
    pub(crate) sent: AtomicU64,
}

impl Hedging {
    /// One answered attempt took `took`.
    pub(crate) fn observe(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(micros);
    }

    /// When the policy sends its hedge; `None`: not yet known.
    pub(crate) fn delay(&self, policy: &HedgePolicy) -> Option<Duration> {
        match policy.after {
            HedgeAfter::Fixed(after) => Some(after),
            HedgeAfter::Percentile(p) => {
                let mut times: Vec<u32> = self
                    .recent
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .copied()
                    .collect();
                if times.len() < ENOUGH {
                    return None;
                }
                times.sort_unstable();
                let at = ((times.len() - 1) as f64 * p).round() as usize;
                times
                    .get(at)
                    .map(|us| Duration::from_micros(u64::from(*us)))
            }
        }
    }

    /// Races `attempt` against up to `max` copies started `after` apart.
    pub(crate) async fn race<T, F, Fut>(
        &self,
        attempt: &mut F,
        after: Duration,
        max: u32,
        budget: &RetryBudget,
        ratio: f64,
    ) -> Result<T, AttemptError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let mut racing = FuturesUnordered::new();
        racing.push(attempt());
        let mut left = max;
        let timer = tokio::time::sleep(after);
        tokio::pin!(timer);
        let mut last = None;
        loop {
            tokio::select! {
                biased;
                done = racing.next() => match done {
                    Some(Ok(answer)) => return Ok(answer),
                    // One copy failed: the others may still answer.
                    Some(Err(error)) if !racing.is_empty() => last = Some(error),
                    Some(Err(error)) => return Err(error),
                    None => return Err(last.unwrap_or(AttemptError::Broken)),
                },
                () = &mut timer, if left > 0 => {
                    left -= 1;
                    if budget.try_retry(ratio) {
                        self.sent.fetch_add(1, Ordering::Relaxed);
                        racing.push(attempt());
                    } else {
                        left = 0;
                    }
                    timer.as_mut().reset(tokio::time::Instant::now() + after);
                }
            }
        }
    }
}
