//! One pooled HTTP client per upstream, behind its guards.

use std::sync::Arc;

use serde_json::Value;

use std::time::Duration;

use super::cache::{self, Entry, Freshness, RedisCache, ResponseCache};
use super::guard::{AttemptError, BreakerState, CallOptions, Guard};
use super::inflight::Inflight;
use super::spec::CallSpec;
use super::{Mask, UpstreamRequest};
use crate::config::UpstreamConfig;
use crate::error::FieldError;
use crate::telemetry::otel;
use tracing::Instrument;

/// A declared upstream with its connection pool, guard state and cache.
#[derive(Debug)]
pub struct Upstream {
    pub config: Arc<UpstreamConfig>,
    /// The name, shared by every record that mentions this upstream.
    pub label: Arc<str>,
    client: reqwest::Client,
    /// The client of event streams: no read timeout (a stream's silence is
    /// bounded by its own idle timeout), made at the first stream.
    pub(super) streams: std::sync::OnceLock<reqwest::Client>,
    pub guard: Guard,
    pub cache: Option<ResponseCache>,
    inflight: Inflight<cache::CacheKey, Answer>,
}

/// A successful answer as read off the wire.
#[derive(Debug, Clone)]
struct Answer {
    value: Arc<Value>,
    bytes: usize,
    status: u16,
    attempts: u32,
    /// `Cache-Control: no-store` or `private`.
    no_store: bool,
}

impl super::guard::Answered for Answer {
    fn graphql_errors(&self) -> bool {
        self.value
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
    }
}

/// Where a call's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Not cacheable (no cache, unsafe method, or `ttl: 0s`).
    Bypass,
    Miss,
    Hit,
    /// The call failed; a cached answer this old stood in.
    Stale(Duration),
}

/// A call's value and its provenance.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub value: Arc<Value>,
    pub cache: CacheStatus,
    /// Attempts this request's call made (0 when served from the cache).
    pub attempts: u32,
    pub status: Option<u16>,
    /// Whether it joined another request's identical call in flight.
    pub shared: bool,
}

impl Upstream {
    /// The client of `config`; `redis` is the shared cache tier, `buckets`
    /// the shared rate-limit buckets (for `rateLimit: { shared: true }`).
    pub fn new(
        config: Arc<UpstreamConfig>,
        redis: Option<Arc<RedisCache>>,
        buckets: Option<&Arc<crate::ratelimit::RedisBuckets>>,
    ) -> Result<Upstream, reqwest::Error> {
        crate::init_tls();
        let policies = &config.policies;
        let client = http_client(&config, Some(policies.read_timeout))?;
        let guard = Guard::new(&config.name, policies, buckets);
        let cache = policies
            .cache
            .clone()
            .map(|policy| ResponseCache::new(&config.name, policy, redis));
        Ok(Upstream {
            label: Arc::from(config.name.as_str()),
            config,
            client,
            streams: std::sync::OnceLock::new(),
            guard,
            cache,
            inflight: Inflight::detached(),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Answers `request`: from the cache when fresh, else through the
    /// guards (one call for concurrent identical misses), storing the answer;
    /// when the call fails, a cached answer within `staleIfError` stands in.
    /// `keep_last_good` stores answers of a `ttl: 0s` field for that fallback
    /// (`@onError(use: STALE)`).
    ///
    /// An answer this request alone reads (nothing shares or stores it) is
    /// parsed only as far as `mask` says it is read.
    pub(crate) async fn call(
        self: &Arc<Self>,
        request: &UpstreamRequest,
        spec: &Arc<CallSpec>,
        mask: Option<&Mask>,
    ) -> Result<Fetched, FieldError> {
        // A subgraph query is a POST that reads only: cached like a GET, by
        // its exact bytes (forwarded credentials included).
        let safe = request.method.is_safe() || spec.shared_in_operation;
        let cache = self.cache.as_ref().filter(|_| safe);
        let ttl = cache.map_or(Duration::ZERO, |c| spec.cache_ttl.unwrap_or(c.policy.ttl));
        let store = cache.is_some() && (!ttl.is_zero() || spec.keep_last_good);
        let share = store || (safe && self.config.policies.dedupe);
        if !share {
            let answer = self.fetch(request, spec, mask).await?;
            return Ok(Fetched {
                value: answer.value,
                cache: CacheStatus::Bypass,
                shared: false,
                attempts: answer.attempts,
                status: Some(answer.status),
            });
        }
        let key = cache::key(self.name(), &request.identity());
        if let Some(cache) = cache
            && !ttl.is_zero()
            && let Some(entry) = cache.lookup(key).await
            && entry.freshness() == Freshness::Fresh
        {
            cache
                .stats
                .hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Fetched {
                value: entry.value.clone(),
                cache: CacheStatus::Hit,
                shared: false,
                attempts: 0,
                status: None,
            });
        }
        let this = self.clone();
        let owned_request = request.clone();
        let owned_spec = spec.clone();
        let (result, shared) = self
            .inflight
            .run(key, async move {
                let answer = this.fetch(&owned_request, &owned_spec, None).await?;
                if let Some(cache) = this.cache.as_ref().filter(|_| store) {
                    let respect = cache.policy.respect_cache_control;
                    if !(respect && answer.no_store) {
                        let stale = cache.policy.stale_if_error;
                        cache.store(
                            key,
                            Entry::new(answer.value.clone(), answer.bytes, ttl, stale),
                        );
                    }
                }
                Ok(answer)
            })
            .await;
        let status = if ttl.is_zero() {
            CacheStatus::Bypass
        } else {
            CacheStatus::Miss
        };
        match result {
            Ok(answer) => {
                if let (Some(cache), false) = (cache, ttl.is_zero() || shared) {
                    cache
                        .stats
                        .misses
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(Fetched {
                    value: answer.value,
                    cache: status,
                    shared,
                    attempts: if shared { 0 } else { answer.attempts },
                    status: Some(answer.status),
                })
            }
            Err(error) => {
                if let Some(cache) = cache
                    && let Some(entry) = cache.lookup(key).await
                    && entry.freshness() != Freshness::Expired
                {
                    let age = entry.age();
                    cache
                        .stats
                        .stale
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(upstream = %self.name(), ?age, %error, "served a stale answer");
                    return Ok(Fetched {
                        value: entry.value.clone(),
                        cache: CacheStatus::Stale(age),
                        shared,
                        attempts: error.attempts,
                        status: error.status,
                    });
                }
                Err(error)
            }
        }
    }

    /// One call under the guards.
    async fn fetch(
        &self,
        request: &UpstreamRequest,
        spec: &CallSpec,
        mask: Option<&Mask>,
    ) -> Result<Answer, FieldError> {
        // A request with a deadline: the call (retries and backoff
        // included) gets at most what remains of it, and none once it passed.
        let timeout = match &request.deadline {
            Some(deadline) => {
                let left = deadline
                    .at
                    .saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(FieldError::new(
                        crate::error::ErrorCode::UpstreamTimeout,
                        format!(
                            "the request's deadline passed before the call to upstream `{}` could start",
                            self.name()
                        ),
                    )
                    .upstream(self.name()));
                }
                spec.timeout.min(left)
            }
            None => spec.timeout,
        };
        let options = CallOptions {
            timeout,
            retry: &spec.retry,
            idempotent: spec.idempotent,
            trips_breaker: spec.trips_breaker,
            hedge: spec.hedge.as_ref(),
        };
        let attempt = std::sync::atomic::AtomicU32::new(0);
        // Traced only when the caller's request was sampled (its field span
        // is real); the lookup itself happens only while exporting.
        let traced = otel::enabled() && !tracing::Span::current().is_none();
        let (result, attempts) = self
            .guard
            .call(options, || {
                let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let span = if !traced {
                    tracing::Span::none()
                } else {
                    tracing::info_span!(
                    target: otel::SPAN_TARGET,
                    "http.client",
                    otel.name = %format_args!("{} {}", request.method, spec.path_template),
                    otel.kind = "client",
                    http.request.method = %request.method,
                    url.template = %spec.path_template,
                    server.address = self.config.url.host_str().unwrap_or_default(),
                    // Integers as i64: tracing-opentelemetry exports unsigned
                    // values as strings, and semconv wants ints.
                    server.port = i64::from(self.config.url.port_or_known_default().unwrap_or_default()),
                    http.response.status_code = tracing::field::Empty,
                    error.type = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                    tributary.upstream = %self.config.name,
                    tributary.attempt = i64::from(n),
                    tributary.breaker.state = self.guard.breaker_state().map_or("off", BreakerState::as_str),
                    )
                };
                // Every failure (bad body and bad JSON too) gets `error.type`
                // and an error status, so Jaeger flags the attempt.
                async move {
                    // Cut off by the guard's deadline: the future is dropped
                    // mid-flight, and the span still says why it ended.
                    // (Looking up the current span costs a registry lookup:
                    // only when spans are exported.)
                    let cut_off = CutOff(traced.then(tracing::Span::current));
                    let result = self.attempt(request, mask).await;
                    cut_off.defuse();
                    if let Err(error) = &result
                        && traced
                    {
                        let current = tracing::Span::current();
                        match error {
                            AttemptError::Status { status, .. } => {
                                current.record("error.type", tracing::field::display(status))
                            }
                            other => current.record("error.type", other.kind()),
                        };
                        current.record("otel.status_code", "error");
                    }
                    result
                }
                .instrument(span)
            })
            .await;
        result.map(|mut answer| {
            answer.attempts = attempts;
            answer
        })
    }

    /// One try: send, check the status, read at most `maxResponseBytes`,
    /// parse JSON.
    async fn attempt(
        &self,
        request: &UpstreamRequest,
        mask: Option<&Mask>,
    ) -> Result<Answer, AttemptError> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .header(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/json"),
            );
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let current = if otel::enabled() {
            tracing::Span::current()
        } else {
            tracing::Span::none()
        };
        let trace = if current.is_none() {
            request.trace.clone()
        } else {
            otel::trace_headers(&current, &http::HeaderMap::new())
        };
        for (name, value) in trace {
            builder = builder.header(name, value);
        }
        // What remains of the request's deadline, as this attempt leaves.
        if let Some(deadline) = &request.deadline
            && let Some(name) = &deadline.header
        {
            let left = deadline
                .at
                .saturating_duration_since(std::time::Instant::now());
            builder = builder.header(name, left.as_millis().to_string());
        }
        let mut response = with_body(builder, request)
            .send()
            .await
            .map_err(|e| classify(&e, self.config.policies.read_timeout))?;
        let status = response.status();
        if !current.is_none() {
            current.record("http.response.status_code", i64::from(status.as_u16()));
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(super::guard::retry::retry_after);
            return Err(AttemptError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }
        let no_store = response
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| {
                matches!(
                    d.trim().to_ascii_lowercase().as_str(),
                    "no-store" | "private"
                )
            });
        let limit = self.config.max_response_bytes;
        let too_large = || AttemptError::BadResponse {
            status: status.as_u16(),
            message: format!("answered with more than {limit} bytes (maxResponseBytes)"),
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        // Chunk by chunk, so a body over the limit is never buffered whole;
        // a body that arrives in one chunk (the usual case) is not copied.
        let read_timeout = self.config.policies.read_timeout;
        let mut body = match response
            .chunk()
            .await
            .map_err(|e| classify(&e, read_timeout))?
        {
            Some(first) => first,
            None => bytes::Bytes::new(),
        };
        if body.len() > limit {
            return Err(too_large());
        }
        if let Some(second) = response
            .chunk()
            .await
            .map_err(|e| classify(&e, read_timeout))?
        {
            let mut joined = Vec::with_capacity(
                response.content_length().unwrap_or(4096).min(limit as u64) as usize,
            );
            joined.extend_from_slice(&body);
            joined.extend_from_slice(&second);
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| classify(&e, read_timeout))?
            {
                if joined.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                joined.extend_from_slice(&chunk);
            }
            if joined.len() > limit {
                return Err(too_large());
            }
            body = bytes::Bytes::from(joined);
        }
        let bytes = body.len();
        let value = if body.is_empty() {
            Value::Null
        } else {
            match mask {
                Some(mask) => super::projection::parse(&body, mask),
                None => serde_json::from_slice(&body),
            }
            .map_err(|e| AttemptError::BadResponse {
                status: status.as_u16(),
                message: format!(
                    "answered with a body that is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })?
        };
        Ok(Answer {
            value: Arc::new(value),
            bytes,
            no_store,
            status: status.as_u16(),
            attempts: 1,
        })
    }
}

/// Marks an attempt span as timed out if its attempt is dropped unfinished.
struct CutOff(Option<tracing::Span>);

impl CutOff {
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.record("error.type", "timeout");
            span.record("otel.status_code", "error");
        }
    }
}

/// `request`'s JSON body, if it has one, on `builder`.
pub(super) fn with_body(
    builder: reqwest::RequestBuilder,
    request: &UpstreamRequest,
) -> reqwest::RequestBuilder {
    match &request.body {
        Some(body) => builder
            .header(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )
            .body(body.clone()),
        None => builder,
    }
}

/// The pooled client of `config`, with `read_timeout` between any two reads
/// of a response. No overall reqwest timeout: the guard's deadline covers
/// retries too.
pub(super) fn http_client(
    config: &UpstreamConfig,
    read_timeout: Option<Duration>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.policies.connect_timeout)
        .pool_max_idle_per_host(config.pool_max_idle)
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    if let Some(read_timeout) = read_timeout {
        builder = builder.read_timeout(read_timeout);
    }
    if config.http2_only {
        builder = builder.http2_prior_knowledge();
    }
    let mut defaults = http::HeaderMap::new();
    for (name, value) in &config.headers {
        defaults.append(name.clone(), value.clone());
    }
    builder.default_headers(defaults).build()
}

/// reqwest's messages carry the URL, which may hold secrets: keep the kind only.
pub(super) fn classify(e: &reqwest::Error, read_timeout: std::time::Duration) -> AttemptError {
    if e.is_connect() {
        AttemptError::Connect
    } else if e.is_timeout() {
        AttemptError::Timeout {
            limit: "readTimeout",
            after: read_timeout,
        }
    } else if e.is_body() || e.is_decode() {
        AttemptError::Broken
    } else {
        AttemptError::Connect
    }
}
