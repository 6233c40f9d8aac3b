//! Guard policies per upstream (timeouts, retries, breaker, concurrency) and
//! per field (`@onError`), with their defaults and how overrides merge.
//!
//! Precedence, lowest first: built-in defaults, `schema @upstreamDefaults`,
//! the `@upstream`, and for `timeout`/`retry`/`idempotent` the field's `@rest`.

use std::time::Duration;

use async_graphql::{Name, Pos, Value as ConstValue};
use indexmap::IndexMap;

use super::{Diagnostic, RateLimitPolicy};

mod under_load;
pub use under_load::{AdaptivePolicy, EntityBatchPolicy, HedgeAfter, HedgePolicy};

/// Every upstream call's guards.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    /// Ceiling for the whole call, retries and backoff included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Ceiling for one attempt; a timed-out attempt may be retried.
    pub attempt_timeout: Option<Duration>,
    pub retry: RetryPolicy,
    pub breaker: Option<BreakerPolicy>,
    /// Most calls in flight to this upstream; more wait up to `queue_timeout`.
    pub max_concurrent: Option<usize>,
    /// `maxConcurrent: adaptive` / `adaptive: {...}`: the limit follows the
    /// upstream's latency (it replaces `max_concurrent`).
    pub adaptive: Option<AdaptivePolicy>,
    pub queue_timeout: Duration,
    /// Response cache; `None` when the upstream has no `cache`.
    pub cache: Option<CachePolicy>,
    /// Identical in-flight safe requests from concurrent client requests
    /// share one call even when nothing is cached.
    pub dedupe: bool,
    /// Calls to this upstream per unit of time, across every request;
    /// a call over it is not made and fails with `UPSTREAM_RATE_LIMITED`.
    pub rate_limit: Option<RateLimitPolicy>,
    /// `hedge`: a second copy of a slow idempotent call.
    pub hedge: Option<HedgePolicy>,
    /// `entityBatch`: a subgraph's `_entities` fetches of concurrent
    /// requests go together.
    pub entity_batch: Option<EntityBatchPolicy>,
}

/// `cache: { ttl, staleIfError, maxEntries, maxBytes, respectCacheControl }`
#[derive(Debug, Clone, PartialEq)]
pub struct CachePolicy {
    /// How long an answer is served without asking again; `0s` bypasses.
    pub ttl: Duration,
    /// How long past `ttl` an answer may still stand in for a failed call.
    pub stale_if_error: Duration,
    pub max_entries: Option<u64>,
    /// Bound on the bytes of cached bodies.
    pub max_bytes: u64,
    /// Do not store answers marked `Cache-Control: no-store` or `private`.
    pub respect_cache_control: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            ttl: Duration::from_secs(10),
            stale_if_error: Duration::ZERO,
            max_entries: None,
            max_bytes: 64 * 1024 * 1024,
            respect_cache_control: true,
        }
    }
}

/// Calls in flight to one upstream unless `maxConcurrent` says otherwise.
pub const DEFAULT_MAX_CONCURRENT: usize = 256;

impl Default for Policies {
    fn default() -> Self {
        Policies {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            attempt_timeout: None,
            retry: RetryPolicy::default(),
            breaker: Some(BreakerPolicy::default()),
            // Every upstream has a cap, so that no operation (or burst of
            // them) opens thousands of connections to one service.
            max_concurrent: Some(DEFAULT_MAX_CONCURRENT),
            adaptive: None,
            queue_timeout: Duration::from_millis(20),
            cache: None,
            dedupe: false,
            rate_limit: None,
            hedge: None,
            entity_batch: None,
        }
    }
}

/// `retry: { attempts, backoff, maxBackoff, jitter, maxRetryAfter, budget }`
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included; 1 turns retries off.
    pub attempts: u32,
    /// The first backoff; each next one doubles, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Randomise each backoff between half and all of it.
    pub jitter: bool,
    /// The longest `Retry-After` honoured; a longer one is not waited for.
    pub max_retry_after: Duration,
    /// Retries may add at most this share of the upstream's calls (plus a
    /// floor of a few per second), so they cannot amplify an outage.
    pub budget: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(1),
            jitter: true,
            max_retry_after: Duration::from_secs(2),
            budget: 0.2,
        }
    }
}

/// `breaker: { failureRatio, minCalls, window, consecutiveFailures, openFor,
/// halfOpenProbes, failureStatuses }`, or `breaker: false`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    pub failure_ratio: f64,
    /// Calls in the window before the ratio counts.
    pub min_calls: u32,
    pub window: Duration,
    /// Opens after this many failures in a row, whatever the ratio.
    pub consecutive_failures: Option<u32>,
    pub open_for: Duration,
    /// Calls let through while half-open; all must succeed to close.
    pub half_open_probes: u32,
    /// Statuses that count as failures (timeouts and transport errors always
    /// do). By default the three that describe the upstream rather than the
    /// request (502, 503, 504): a 500 for one bad input must not let one
    /// client open the breaker for everyone.
    pub failure_statuses: Vec<u16>,
    /// A 2xx answer carrying GraphQL `errors` (a subgraph's) counts as a
    /// failure too; its data is still used.
    pub graphql_errors: bool,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(10),
            consecutive_failures: None,
            open_for: Duration::from_secs(5),
            half_open_probes: 1,
            failure_statuses: vec![502, 503, 504],
            graphql_errors: false,
        }
    }
}

/// What a field becomes when it fails: `@onError(use: ..., value: ...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum OnError {
    /// The error is reported and null propagates as the spec says.
    Fail,
    /// The field is null; the error is reported.
    Null,
    /// The field takes `value`; the error is reported with `degraded: true`.
    Default(ConstValue),
    /// The last good cached answer (within the upstream's `staleIfError`),
    /// reported in `extensions.stale`; without one, `fallback` applies
    /// (`DEFAULT` with `value`, else `FAIL`).
    Stale { fallback: Option<ConstValue> },
}

/// Reads policy arguments from a directive's arguments onto `base`.
pub(crate) fn apply(
    base: &mut Policies,
    args: &[(&str, &ConstValue, Pos)],
    diags: &mut Vec<Diagnostic>,
) {
    for (key, value, pos) in args {
        let mut r = Reader { diags, pos: *pos };
        match *key {
            "timeout" => r.duration(key, value).map(|d| base.timeout = d),
            "connectTimeout" => r.duration(key, value).map(|d| base.connect_timeout = d),
            "readTimeout" => r.duration(key, value).map(|d| base.read_timeout = d),
            "attemptTimeout" => r
                .duration(key, value)
                .map(|d| base.attempt_timeout = Some(d)),
            "retry" => r.retry(value, &mut base.retry),
            "breaker" => r.breaker(value, &mut base.breaker),
            "maxConcurrent" => match value {
                ConstValue::Enum(v) if v.as_str() == "adaptive" => {
                    base.adaptive = Some(AdaptivePolicy::default());
                    Some(())
                }
                ConstValue::String(v) if v == "adaptive" => {
                    base.adaptive = Some(AdaptivePolicy::default());
                    Some(())
                }
                _ => r.count(key, value).map(|n| {
                    base.max_concurrent = Some(n as usize);
                    base.adaptive = None;
                }),
            },
            "adaptive" => r.adaptive(value).map(|a| base.adaptive = a),
            "queueTimeout" => r.duration(key, value).map(|d| base.queue_timeout = d),
            "cache" => r.cache(value, &mut base.cache),
            "dedupe" => r.flag(key, value).map(|b| base.dedupe = b),
            "hedge" => r.hedge(value).map(|h| base.hedge = h),
            "entityBatch" => r.entity_batch(value).map(|b| base.entity_batch = b),
            "rateLimit" => match value {
                // Turns off a limit `@upstreamDefaults` gave.
                ConstValue::Boolean(false) => {
                    base.rate_limit = None;
                    Some(())
                }
                _ => r
                    .object("rateLimit", value, &BUCKET_KEYS)
                    .and_then(|map| r.bucket("rateLimit", map))
                    .map(|policy| base.rate_limit = Some(policy)),
            },
            _ => None,
        };
    }
}

/// Reads `hedge: {...}` or `hedge: false` (a `@rest` override).
pub(crate) fn read_hedge(
    value: &ConstValue,
    pos: Pos,
    diags: &mut Vec<Diagnostic>,
) -> Option<Option<HedgePolicy>> {
    Reader { diags, pos }.hedge(value)
}

/// Reads `retry: {...}` onto `base` (used by `@rest` overrides too).
pub(crate) fn apply_retry(
    base: &mut RetryPolicy,
    value: &ConstValue,
    pos: Pos,
    diags: &mut Vec<Diagnostic>,
) {
    Reader { diags, pos }.retry(value, base);
}

/// The keys of a token bucket, in `rateLimit` on `@upstream` and `@server`.
pub(crate) const BUCKET_KEYS: [&str; 4] = ["rate", "per", "burst", "shared"];

/// Reads the bucket keys of a `rateLimit` object (`what` names it in
/// messages); the caller has checked which keys the object may have.
pub(crate) fn bucket(
    what: &str,
    map: &IndexMap<Name, ConstValue>,
    pos: Pos,
    diags: &mut Vec<Diagnostic>,
) -> Option<RateLimitPolicy> {
    Reader { diags, pos }.bucket(what, map)
}

pub(crate) fn duration(
    key: &str,
    value: &ConstValue,
    pos: Pos,
    diags: &mut Vec<Diagnostic>,
) -> Option<Duration> {
    Reader { diags, pos }.duration(key, value)
}

struct Reader<'d> {
    diags: &'d mut Vec<Diagnostic>,
    pos: Pos,
}

impl Reader<'_> {
    fn error(&mut self, message: String) -> Option<()> {
        self.diags.push(Diagnostic {
            pos: self.pos,
            message,
        });
        None
    }

    fn duration(&mut self, key: &str, value: &ConstValue) -> Option<Duration> {
        match value {
            ConstValue::String(text) => match humantime::parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(format!(
                        "`{key}: \"{text}\"` is not a duration ({e}); write e.g. \"250ms\", \"2s\" or \"1m\""
                    ));
                    None
                }
            },
            other => {
                self.error(format!(
                    "`{key}` must be a duration string like \"250ms\", not `{other}`"
                ));
                None
            }
        }
    }

    fn count(&mut self, key: &str, value: &ConstValue) -> Option<u32> {
        match value {
            ConstValue::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => Some(n),
                _ => {
                    self.error(format!("`{key}` must be a whole number above 0, not {n}"));
                    None
                }
            },
            other => {
                self.error(format!("`{key}` must be a whole number, not `{other}`"));
                None
            }
        }
    }

    fn ratio(&mut self, key: &str, value: &ConstValue) -> Option<f64> {
        match value {
            ConstValue::Number(n) => match n.as_f64() {
                Some(r) if (0.0..=1.0).contains(&r) => Some(r),
                _ => {
                    self.error(format!("`{key}` must be between 0 and 1, not {n}"));
                    None
                }
            },
            other => {
                self.error(format!(
                    "`{key}` must be a number between 0 and 1, not `{other}`"
                ));
                None
            }
        }
    }

    fn flag(&mut self, key: &str, value: &ConstValue) -> Option<bool> {
        match value {
            ConstValue::Boolean(b) => Some(*b),
            other => {
                self.error(format!("`{key}` must be true or false, not `{other}`"));
                None
            }
        }
    }

    fn object<'v>(
        &mut self,
        what: &str,
        value: &'v ConstValue,
        known: &[&str],
    ) -> Option<&'v IndexMap<Name, ConstValue>> {
        let ConstValue::Object(map) = value else {
            self.error(format!(
                "`{what}` must be an object like {{ {}: ... }}",
                known[0]
            ));
            return None;
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                self.error(format!(
                    "unknown key `{key}` in `{what}`; expected one of: {}",
                    known.join(", ")
                ));
            }
        }
        Some(map)
    }

    /// A policy that is on or off: `true`/`false` switches it (on with the
    /// inherited or default settings) and settles it (`Some(None)`); an object
    /// gives its keys and the policy they change (`Some(Some(..))`).
    #[allow(clippy::type_complexity)]
    fn switch_or_object<'v, P: Clone + Default>(
        &mut self,
        what: &str,
        value: &'v ConstValue,
        base: &mut Option<P>,
        known: &[&str],
    ) -> Option<Option<(&'v IndexMap<Name, ConstValue>, P)>> {
        if let ConstValue::Boolean(enabled) = value {
            *base = enabled.then(|| base.clone().unwrap_or_default());
            return Some(None);
        }
        let map = self.object(what, value, known)?;
        Some(Some((map, base.clone().unwrap_or_default())))
    }

    fn retry(&mut self, value: &ConstValue, base: &mut RetryPolicy) -> Option<()> {
        const KNOWN: [&str; 6] = [
            "attempts",
            "backoff",
            "maxBackoff",
            "jitter",
            "maxRetryAfter",
            "budget",
        ];
        if let ConstValue::Boolean(false) = value {
            base.attempts = 1;
            return Some(());
        }
        let map = self.object("retry", value, &KNOWN)?;
        for (key, v) in map {
            match key.as_str() {
                "attempts" => self.count("attempts", v).map(|n| base.attempts = n),
                "backoff" => self.duration("backoff", v).map(|d| base.backoff = d),
                "maxBackoff" => self.duration("maxBackoff", v).map(|d| base.max_backoff = d),
                "jitter" => self.flag("jitter", v).map(|b| base.jitter = b),
                "maxRetryAfter" => self
                    .duration("maxRetryAfter", v)
                    .map(|d| base.max_retry_after = d),
                "budget" => self.ratio("budget", v).map(|r| base.budget = r),
                _ => None,
            };
        }
        if base.max_backoff < base.backoff {
            self.error("`retry.maxBackoff` is shorter than `retry.backoff`".to_owned());
        }
        Some(())
    }

    fn breaker(&mut self, value: &ConstValue, base: &mut Option<BreakerPolicy>) -> Option<()> {
        const KNOWN: [&str; 8] = [
            "failureRatio",
            "minCalls",
            "window",
            "consecutiveFailures",
            "openFor",
            "halfOpenProbes",
            "failureStatuses",
            "graphqlErrors",
        ];
        let Some((map, mut policy)) = self.switch_or_object("breaker", value, base, &KNOWN)? else {
            return Some(());
        };
        for (key, v) in map {
            match key.as_str() {
                "failureRatio" => self
                    .ratio("failureRatio", v)
                    .map(|r| policy.failure_ratio = r),
                "minCalls" => self.count("minCalls", v).map(|n| policy.min_calls = n),
                "window" => self.duration("window", v).map(|d| policy.window = d),
                "consecutiveFailures" => self
                    .count("consecutiveFailures", v)
                    .map(|n| policy.consecutive_failures = Some(n)),
                "openFor" => self.duration("openFor", v).map(|d| policy.open_for = d),
                "halfOpenProbes" => self
                    .count("halfOpenProbes", v)
                    .map(|n| policy.half_open_probes = n),
                "failureStatuses" => self.statuses(v).map(|s| policy.failure_statuses = s),
                "graphqlErrors" => self
                    .flag("graphqlErrors", v)
                    .map(|b| policy.graphql_errors = b),
                _ => None,
            };
        }
        if policy.window.is_zero() || policy.open_for.is_zero() {
            self.error("`breaker.window` and `breaker.openFor` must be longer than 0".to_owned());
        }
        *base = Some(policy);
        Some(())
    }

    fn cache(&mut self, value: &ConstValue, base: &mut Option<CachePolicy>) -> Option<()> {
        const KNOWN: [&str; 5] = [
            "ttl",
            "staleIfError",
            "maxEntries",
            "maxBytes",
            "respectCacheControl",
        ];
        let Some((map, mut policy)) = self.switch_or_object("cache", value, base, &KNOWN)? else {
            return Some(());
        };
        for (key, v) in map {
            match key.as_str() {
                "ttl" => self.duration("ttl", v).map(|d| policy.ttl = d),
                "staleIfError" => self
                    .duration("staleIfError", v)
                    .map(|d| policy.stale_if_error = d),
                "maxEntries" => self
                    .count("maxEntries", v)
                    .map(|n| policy.max_entries = Some(u64::from(n))),
                "maxBytes" => self
                    .count("maxBytes", v)
                    .map(|n| policy.max_bytes = u64::from(n)),
                "respectCacheControl" => self
                    .flag("respectCacheControl", v)
                    .map(|b| policy.respect_cache_control = b),
                _ => None,
            };
        }
        *base = Some(policy);
        Some(())
    }

    /// `{ rate, per, burst, shared }`: `rate` is required, `per` is "1s"
    /// and `burst` is `rate` unless given.
    fn bucket(&mut self, what: &str, map: &IndexMap<Name, ConstValue>) -> Option<RateLimitPolicy> {
        let Some(rate) = map.get("rate") else {
            self.error(format!(
                "`{what}` needs `rate`, the requests allowed per `per`, e.g. {{ rate: 100, per: \"1s\" }}"
            ));
            return None;
        };
        let rate = self.count("rate", rate)?;
        let per = match map.get("per") {
            Some(v) => self.duration("per", v)?,
            None => Duration::from_secs(1),
        };
        if per.is_zero() {
            self.error(format!("`per` in `{what}` must be longer than 0"));
            return None;
        }
        // The shared tier counts in microseconds.
        if per.as_micros() < u128::from(rate) {
            self.error(format!(
                "`{what}` allows {rate} per {}: more than one per microsecond; use a longer `per`",
                humantime::format_duration(per)
            ));
            return None;
        }
        let burst = match map.get("burst") {
            Some(v) => self.count("burst", v)?,
            None => rate,
        };
        let shared = match map.get("shared") {
            Some(v) => self.flag("shared", v)?,
            None => false,
        };
        Some(RateLimitPolicy {
            rate,
            per,
            burst,
            shared,
        })
    }

    fn statuses(&mut self, value: &ConstValue) -> Option<Vec<u16>> {
        let ConstValue::List(items) = value else {
            self.error(
                "`failureStatuses` must be a list of HTTP statuses, e.g. [500, 502, 503, 504]"
                    .to_owned(),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                ConstValue::Number(n) if n.as_u64().is_some_and(|s| (100..=599).contains(&s)) => {
                    out.push(n.as_u64().map_or(0, |s| s as u16));
                }
                other => {
                    self.error(format!(
                        "`{other}` in `failureStatuses` is not an HTTP status"
                    ));
                }
            }
        }
        Some(out)
    }
}
