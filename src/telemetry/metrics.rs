//! Prometheus metrics on `GET /metrics`, through prometheus-client.
//!
//! Per upstream: call duration histogram and calls by outcome (recorded per
//! call), cache hits/misses/stale/evictions and breaker state/transitions
//! (read from the upstreams' own counters at scrape time); per rate limit,
//! allowed, refused and failed-open decisions, buckets in memory and Redis
//! failures (read from the limiters). Per operation:
//! duration histogram, partial failures, fan-in wait and gateway overhead.
//! Persisted operations: APQ lookups, registrations and evictions, and
//! operations outside the trusted-documents manifest (refused or logged).
//! Names follow OpenTelemetry semantic conventions where one exists.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::timeline::CallOutcome;
use crate::ratelimit::{ClientLimits, Limiter};
use crate::upstream::Upstream;
use crate::upstream::cache::CacheStats;
use crate::upstream::guard::BreakerState;

/// 1 ms to ~16 s, doubling.
fn buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 15)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    graphql_operation_type: String,
}

/// How many recent call durations per upstream the status page keeps.
const RECENT: usize = 1024;

pub struct Metrics {
    registry: Registry,
    upstream_duration: Family<UpstreamLabels, Histogram>,
    operation_duration: Family<OperationLabels, Histogram>,
    partial_failures: Counter,
    fan_in_wait: Histogram,
    overhead: Histogram,
    /// Automatic persisted queries and trusted documents, by result.
    pub persisted: PersistedCounters,
    /// Subscriptions and their transports.
    pub live: super::live::LiveFamilies,
    /// Alert events by kind and result (sent, failed, dropped).
    pub alerts: Family<Vec<(String, String)>, Counter>,
    /// Per upstream: the `ok` histogram resolved once (the hot path takes
    /// no lock on the family and allocates no labels), and recent calls.
    upstreams: HashMap<String, PerUpstream>,
}

/// The counters of `tributary_persisted_queries` and
/// `tributary_trusted_documents`, each resolved once (a clone shares the
/// count).
#[derive(Clone, Debug, Default)]
pub struct PersistedCounters {
    /// A hash-only request found its document (memory or Redis).
    pub hit: Counter,
    /// A hash-only request named a document the gateway does not have.
    pub miss: Counter,
    /// A query sent with its hash was stored.
    pub registered: Counter,
    /// A stored document was dropped to stay within `maxBytes`.
    pub evicted: Counter,
    /// An operation not in the manifest was refused (`ENFORCE`).
    pub refused: Counter,
    /// An operation not in the manifest ran and was logged (`LOG`).
    pub unlisted: Counter,
}

struct PerUpstream {
    ok: Histogram,
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[derive(Default)]
struct Recent {
    durations: VecDeque<f64>,
    failures: VecDeque<bool>,
    /// Every call and every failed one since start (for rates over time).
    calls: u64,
    failed: u64,
}

/// What the status page shows for one upstream.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamSummary {
    pub name: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub calls: usize,
    pub error_rate: f64,
    pub cache_hit_rate: Option<f64>,
    pub breaker: &'static str,
    /// Calls in flight, the concurrency limit now, and whether it adapts
    /// (`None`: no cap).
    #[serde(skip)]
    pub concurrency: Option<(usize, usize, bool)>,
    /// Its calls' timeout (the upstream's; a field may shorten its own).
    #[serde(skip)]
    pub timeout: Duration,
}

impl Metrics {
    /// `client_limits`: the `@server(rateLimit:)` limits, if any (the
    /// upstreams' own are read from their guards).
    pub fn new(upstreams: Vec<Arc<Upstream>>, client_limits: Option<Arc<ClientLimits>>) -> Metrics {
        let mut registry = Registry::default();
        let upstream_duration =
            Family::<UpstreamLabels, Histogram>::new_with_constructor(|| Histogram::new(buckets()));
        registry.register_with_unit(
            "http_client_request_duration",
            "Duration of upstream calls (retries included), by upstream and outcome",
            prometheus_client::registry::Unit::Seconds,
            upstream_duration.clone(),
        );
        let operation_duration =
            Family::<OperationLabels, Histogram>::new_with_constructor(
                || Histogram::new(buckets()),
            );
        registry.register_with_unit(
            "graphql_server_operation_duration",
            "Duration of GraphQL operations, from request to response",
            prometheus_client::registry::Unit::Seconds,
            operation_duration.clone(),
        );
        let partial_failures = Counter::default();
        registry.register(
            "tributary_partial_failures",
            "Responses that carried both data and errors",
            partial_failures.clone(),
        );
        let fan_in_wait = Histogram::new(buckets());
        registry.register_with_unit(
            "tributary_fan_in_wait",
            "At each join of concurrent sibling calls, how long the fastest waited for the slowest",
            prometheus_client::registry::Unit::Seconds,
            fan_in_wait.clone(),
        );
        let overhead = Histogram::new(exponential_buckets(0.0001, 2.0, 15));
        registry.register_with_unit(
            "tributary_gateway_overhead",
            "Operation time not spent waiting for any upstream",
            prometheus_client::registry::Unit::Seconds,
            overhead.clone(),
        );
        let live = super::live::LiveFamilies::register(&mut registry);
        let alerts = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "tributary_alerts",
            "Alert events for the webhooks, by kind (breaker, error_rate, latency) and result (sent, failed, dropped over maxPerMinute)",
            alerts.clone(),
        );
        let apq = Family::<ResultLabel, Counter>::default();
        let trusted = Family::<ResultLabel, Counter>::default();
        // Resolved once: the gateway increments these, building no labels
        // per request.
        let of = |family: &Family<ResultLabel, Counter>, result: &str| {
            family.get_or_create_owned(&ResultLabel {
                result: result.to_owned(),
            })
        };
        let persisted = PersistedCounters {
            hit: of(&apq, "hit"),
            miss: of(&apq, "miss"),
            registered: of(&apq, "registered"),
            evicted: of(&apq, "evicted"),
            refused: of(&trusted, "refused"),
            unlisted: of(&trusted, "unlisted"),
        };
        registry.register(
            "tributary_persisted_queries",
            "Automatic persisted queries: hash-only lookups (hit, miss), documents registered, and evicted to stay within maxBytes",
            apq,
        );
        registry.register(
            "tributary_trusted_documents",
            "Operations not in the trusted-documents manifest: refused (ENFORCE) or run and logged (LOG)",
            trusted,
        );
        let per_upstream = upstreams
            .iter()
            .map(|u| {
                let ok = upstream_duration
                    .get_or_create(&UpstreamLabels {
                        upstream: u.name().to_owned(),
                        outcome: "ok".to_owned(),
                    })
                    .clone();
                let entry = PerUpstream {
                    ok,
                    recent: Mutex::default(),
                };
                (u.name().to_owned(), entry)
            })
            .collect();
        registry.register_collector(Box::new(RateLimitCollector {
            upstreams: upstreams.clone(),
            client_limits,
        }));
        registry.register_collector(Box::new(UpstreamCollector { upstreams }));
        Metrics {
            registry,
            upstream_duration,
            operation_duration,
            partial_failures,
            fan_in_wait,
            overhead,
            upstreams: per_upstream,
            persisted,
            live,
            alerts,
        }
    }

    /// One upstream call finished.
    pub fn upstream_call(&self, upstream: &str, outcome: CallOutcome, duration: Duration) {
        let Some(per) = self.upstreams.get(upstream) else {
            return;
        };
        let failed = outcome != CallOutcome::Ok;
        if !failed {
            per.ok.observe(duration.as_secs_f64());
        } else {
            let labels = UpstreamLabels {
                upstream: upstream.to_owned(),
                outcome: outcome.as_str().to_owned(),
            };
            self.upstream_duration
                .get_or_create(&labels)
                .observe(duration.as_secs_f64());
        }
        let mut entry = per.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if entry.durations.len() == RECENT {
            entry.durations.pop_front();
            entry.failures.pop_front();
        }
        entry.durations.push_back(duration.as_secs_f64());
        entry.failures.push_back(failed);
        entry.calls += 1;
        entry.failed += u64::from(failed);
    }

    /// `upstream`'s calls and failed calls since start.
    pub(crate) fn upstream_totals(&self, upstream: &str) -> (u64, u64) {
        self.upstreams.get(upstream).map_or((0, 0), |per| {
            let r = per.recent.lock().unwrap_or_else(PoisonError::into_inner);
            (r.calls, r.failed)
        })
    }

    /// One operation finished.
    pub fn operation(
        &self,
        kind: &str,
        duration: Duration,
        partial: bool,
        overhead: Duration,
        fan_in: &[Duration],
    ) {
        self.operation_duration
            .get_or_create(&OperationLabels {
                graphql_operation_type: kind.to_owned(),
            })
            .observe(duration.as_secs_f64());
        if partial {
            self.partial_failures.inc();
        }
        self.overhead.observe(overhead.as_secs_f64());
        for wait in fan_in {
            self.fan_in_wait.observe(wait.as_secs_f64());
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Recent percentiles and rates per upstream, for the status page.
    pub fn summaries(&self, upstreams: &[Arc<Upstream>]) -> Vec<UpstreamSummary> {
        upstreams
            .iter()
            .map(|u| {
                let (mut durations, failures) = self
                    .upstreams
                    .get(u.name())
                    .map(|per| {
                        let r = per.recent.lock().unwrap_or_else(PoisonError::into_inner);
                        (
                            r.durations.iter().copied().collect::<Vec<_>>(),
                            r.failures.iter().filter(|f| **f).count(),
                        )
                    })
                    .unwrap_or_default();
                durations.sort_by(f64::total_cmp);
                let pct = |p: f64| -> f64 {
                    if durations.is_empty() {
                        return 0.0;
                    }
                    let i = ((durations.len() as f64 - 1.0) * p).round() as usize;
                    durations[i.min(durations.len() - 1)] * 1000.0
                };
                let cache_hit_rate = u.cache.as_ref().map(|c| {
                    let hits = CacheStats::get(&c.stats.hits) + CacheStats::get(&c.stats.stale);
                    let total = hits + CacheStats::get(&c.stats.misses);
                    if total == 0 {
                        0.0
                    } else {
                        hits as f64 / total as f64
                    }
                });
                UpstreamSummary {
                    name: u.name().to_owned(),
                    p50_ms: pct(0.50),
                    p95_ms: pct(0.95),
                    p99_ms: pct(0.99),
                    calls: durations.len(),
                    error_rate: if durations.is_empty() {
                        0.0
                    } else {
                        failures as f64 / durations.len() as f64
                    },
                    cache_hit_rate,
                    breaker: u.guard.breaker_state().map_or("off", BreakerState::as_str),
                    concurrency: u
                        .guard
                        .concurrency()
                        .map(|(limit, now, adaptive)| (now, limit, adaptive)),
                    timeout: u.config.policies.timeout,
                }
            })
            .collect()
    }
}

/// Reads the upstreams' own counters at scrape time.
#[derive(Debug)]
struct UpstreamCollector {
    upstreams: Vec<Arc<Upstream>>,
}

impl prometheus_client::collector::Collector for UpstreamCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut cache = encoder.encode_descriptor(
            "tributary_cache_requests",
            "Cache lookups by result: hit, miss, stale (served for a failed call)",
            None,
            MetricType::Counter,
        )?;
        for u in &self.upstreams {
            let Some(c) = &u.cache else { continue };
            for (result, counter) in [
                ("hit", &c.stats.hits),
                ("miss", &c.stats.misses),
                ("stale", &c.stats.stale),
            ] {
                let labels = [
                    ("upstream", u.name().to_owned()),
                    ("result", result.to_owned()),
                ];
                ConstCounter::new(CacheStats::get(counter))
                    .encode(cache.encode_family(&labels)?)?;
            }
        }
        let mut evictions = encoder.encode_descriptor(
            "tributary_cache_evictions",
            "Cache entries evicted to stay within the size bound",
            None,
            MetricType::Counter,
        )?;
        for u in &self.upstreams {
            let Some(c) = &u.cache else { continue };
            let labels = [("upstream", u.name().to_owned())];
            ConstCounter::new(CacheStats::get(&c.stats.evictions))
                .encode(evictions.encode_family(&labels)?)?;
        }
        let mut state = encoder.encode_descriptor(
            "tributary_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            None,
            MetricType::Gauge,
        )?;
        for u in &self.upstreams {
            let Some(now) = u.guard.breaker_state() else {
                continue;
            };
            let value = match now {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::HalfOpen => 2,
            };
            let labels = [("upstream", u.name().to_owned())];
            ConstGauge::new(value).encode(state.encode_family(&labels)?)?;
        }
        let mut transitions = encoder.encode_descriptor(
            "tributary_breaker_transitions",
            "Circuit breaker state changes",
            None,
            MetricType::Counter,
        )?;
        for u in &self.upstreams {
            let Some(transitions_so_far) = u.guard.breaker_transitions() else {
                continue;
            };
            let labels = [("upstream", u.name().to_owned())];
            ConstCounter::new(transitions_so_far).encode(transitions.encode_family(&labels)?)?;
        }
        let mut limits = encoder.encode_descriptor(
            "tributary_upstream_concurrency_limit",
            "The most calls this upstream may have in flight now (maxConcurrent, or the adaptive limit)",
            None,
            MetricType::Gauge,
        )?;
        for u in &self.upstreams {
            let Some((limit, _, adaptive)) = u.guard.concurrency() else {
                continue;
            };
            let labels = [
                ("upstream", u.name().to_owned()),
                (
                    "mode",
                    if adaptive { "adaptive" } else { "fixed" }.to_owned(),
                ),
            ];
            ConstGauge::new(i64::try_from(limit).unwrap_or(i64::MAX))
                .encode(limits.encode_family(&labels)?)?;
        }
        let mut in_flight = encoder.encode_descriptor(
            "tributary_upstream_in_flight",
            "Calls to this upstream in flight now (holding a concurrency slot)",
            None,
            MetricType::Gauge,
        )?;
        for u in &self.upstreams {
            let Some((_, now, _)) = u.guard.concurrency() else {
                continue;
            };
            let labels = [("upstream", u.name().to_owned())];
            ConstGauge::new(i64::try_from(now).unwrap_or(i64::MAX))
                .encode(in_flight.encode_family(&labels)?)?;
        }
        let mut hedges = encoder.encode_descriptor(
            "tributary_upstream_hedges",
            "Hedged copies of slow idempotent calls sent (`hedge`)",
            None,
            MetricType::Counter,
        )?;
        for u in &self.upstreams {
            if u.config.policies.hedge.is_none() {
                continue;
            }
            let labels = [("upstream", u.name().to_owned())];
            ConstCounter::new(u.guard.hedges()).encode(hedges.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Reads the rate limiters' counters at scrape time.
#[derive(Debug)]
struct RateLimitCollector {
    upstreams: Vec<Arc<Upstream>>,
    client_limits: Option<Arc<ClientLimits>>,
}

impl prometheus_client::collector::Collector for RateLimitCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let limiters: Vec<&Limiter> = self
            .client_limits
            .iter()
            .flat_map(|c| c.limiters().map(|l| l.as_ref()))
            .chain(self.upstreams.iter().filter_map(|u| u.guard.rate.as_ref()))
            .collect();
        if limiters.is_empty() {
            return Ok(());
        }
        use std::sync::atomic::Ordering::Relaxed;
        let mut decisions = encoder.encode_descriptor(
            "tributary_rate_limit_decisions",
            "Requests (client limits) and upstream calls (upstream limits) by rate limit and result: allowed, refused, failed_open (let through unchecked while Redis was unavailable)",
            None,
            MetricType::Counter,
        )?;
        for limiter in &limiters {
            for (result, counter) in [
                ("allowed", &limiter.stats.allowed),
                ("refused", &limiter.stats.refused),
                ("failed_open", &limiter.stats.failed_open),
            ] {
                let labels = [
                    ("limit", limiter.name.to_string()),
                    ("result", result.to_owned()),
                ];
                ConstCounter::new(counter.load(Relaxed))
                    .encode(decisions.encode_family(&labels)?)?;
            }
        }
        let mut keys = encoder.encode_descriptor(
            "tributary_rate_limit_buckets",
            "Buckets a rate limit holds in this process (idle ones are evicted; 0 for shared limits)",
            None,
            MetricType::Gauge,
        )?;
        for limiter in &limiters {
            let labels = [("limit", limiter.name.to_string())];
            ConstGauge::new(i64::try_from(limiter.keys_in_memory()).unwrap_or(i64::MAX))
                .encode(keys.encode_family(&labels)?)?;
        }
        if let Some(redis) = limiters.iter().find_map(|l| l.shared()) {
            let errors = encoder.encode_descriptor(
                "tributary_rate_limit_redis_errors",
                "Rate-limit calls to Redis that failed or timed out (each opens a one-second window in which Redis is not asked)",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(redis.errors.load(Relaxed)).encode(errors)?;
        }
        Ok(())
    }
}
