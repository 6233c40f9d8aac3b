//! When to retry, how long to wait, and the budget that keeps retries from
//! amplifying an outage.

use std::cell::Cell;
use std::time::Duration;

use super::window::Window;
use crate::config::RetryPolicy;

/// The wait before retry number `retry` (1 = the first retry): exponential
/// from `backoff`, capped at `maxBackoff`, with "equal jitter" (between half
/// and all of it) when enabled.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let full = policy
        .backoff
        .saturating_mul(factor)
        .min(policy.max_backoff);
    if !policy.jitter || full.is_zero() {
        return full;
    }
    let half = full / 2;
    half + Duration::from_nanos(random_below(
        u64::try_from(half.as_nanos()).unwrap_or(u64::MAX),
    ))
}

/// Parses `Retry-After` (seconds, or an HTTP date).
pub(crate) fn retry_after(value: &http::HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_parse(text)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn httpdate_parse(text: &str) -> Option<std::time::SystemTime> {
    // RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let (day, year): (u64, u64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + s))
}

/// A uniformly random number below `bound` (xorshift; jitter needs no more).
pub(crate) fn random_below(bound: u64) -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    if bound == 0 {
        return 0;
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x % bound
    })
}

/// Retries may add at most `ratio` of the calls made in the last ten seconds,
/// plus `MIN_PER_SECOND` a second, so a struggling upstream is not hit with
/// a multiple of its normal load.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    /// First attempts (0) and retries (1) over the last ten seconds.
    window: Window,
}

const MIN_PER_SECOND: u64 = 10;
const CALLS: usize = 0;
const RETRIES: usize = 1;

impl RetryBudget {
    pub(crate) fn new() -> RetryBudget {
        RetryBudget {
            window: Window::new(Duration::from_secs(10)),
        }
    }

    /// Counts a first attempt.
    pub(crate) fn call(&self) {
        self.window.add(CALLS);
    }

    /// Takes one retry from the budget, if there is one.
    pub(crate) fn try_retry(&self, ratio: f64) -> bool {
        let [calls, retries] = self.window.sums();
        // One bucket is a second: the flat allowance grows to ten seconds' worth.
        let seconds = self.window.period().min(9) + 1;
        let allowed = (calls as f64 * ratio) as u64 + MIN_PER_SECOND * seconds;
        if retries >= allowed {
            return false;
        }
        self.window.add(RETRIES);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: bool) -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            jitter,
            max_retry_after: Duration::from_secs(1),
            budget: 0.2,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy(false);
        let waits: Vec<u128> = (1..=4).map(|r| backoff(&p, r).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
        for r in 1..=4 {
            let full = backoff(&p, r);
            let jittered = backoff(&policy(true), r);
            assert!(
                jittered >= full / 2 && jittered <= full,
                "{jittered:?} within [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn parses_retry_after() {
        let secs = http::HeaderValue::from_static("3");
        assert_eq!(retry_after(&secs), Some(Duration::from_secs(3)));
        let past = http::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(
            httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT").map(|t| t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .ok()),
            Some(Some(784_111_777))
        );
        assert_eq!(retry_after(&http::HeaderValue::from_static("soon")), None);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_caps_retries() {
        let budget = RetryBudget::new();
        for _ in 0..100 {
            budget.call();
        }
        // 20% of 100 calls plus the floor of 10 in the first second.
        let granted = (0..100).filter(|_| budget.try_retry(0.2)).count();
        assert_eq!(granted, 30);
    }
}
