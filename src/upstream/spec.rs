//! A compiled call spec: everything the upstream layer needs to know about
//! one binding's calls, merged once when the schema loads (the field's
//! overrides over its upstream's policies). The upstream layer takes a spec
//! and a rendered request, and knows nothing of GraphQL.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{OnError, Policies, RestBinding, RetryPolicy};

#[derive(Debug)]
pub struct CallSpec {
    /// The call's ceiling: the field's own timeout under the upstream's.
    pub timeout: Duration,
    /// The field's retry policy merged over the upstream's.
    pub retry: RetryPolicy,
    /// Whether a failed attempt may be retried (safe methods, or
    /// `idempotent: true`).
    pub idempotent: bool,
    /// Whether failures count toward the upstream's breaker.
    pub trips_breaker: bool,
    /// `@cache(ttl:)`; `None` takes the upstream cache's TTL.
    pub cache_ttl: Option<Duration>,
    /// Keep answers even with a zero TTL, for `@onError(use: STALE)`.
    pub keep_last_good: bool,
    /// The path as written (`/products/{$parent.id}`), for span names.
    pub path_template: Arc<str>,
    /// The request only reads although its method is not safe (a subgraph
    /// query is a POST): identical ones within an operation share one call,
    /// and the upstream's cache (with its stale fallback) keeps its answers.
    pub shared_in_operation: bool,
    /// Hedging of its idempotent calls: the field's `hedge` over the
    /// upstream's.
    pub hedge: Option<crate::config::HedgePolicy>,
}

impl CallSpec {
    /// The spec of `binding`'s calls on a field with `on_error`.
    /// The spec of a GraphQL upstream's calls for a field with `on_error`
    /// (`mutation`: a mutation's, never retried nor shared).
    pub fn graphql(
        upstream: &crate::config::UpstreamConfig,
        on_error: &OnError,
        mutation: bool,
    ) -> CallSpec {
        let policies: &Policies = &upstream.policies;
        CallSpec {
            timeout: policies.timeout,
            retry: policies.retry.clone(),
            idempotent: !mutation,
            trips_breaker: true,
            cache_ttl: None,
            keep_last_good: matches!(on_error, OnError::Stale { .. }),
            path_template: Arc::from("graphql"),
            shared_in_operation: !mutation,
            hedge: policies.hedge.clone(),
        }
    }

    pub fn compile(binding: &RestBinding, on_error: &OnError) -> CallSpec {
        let policies: &Policies = &binding.upstream.policies;
        CallSpec {
            timeout: binding
                .timeout
                .map_or(policies.timeout, |t| t.min(policies.timeout)),
            retry: binding
                .retry
                .clone()
                .unwrap_or_else(|| policies.retry.clone()),
            idempotent: binding.idempotent,
            trips_breaker: binding.trips_breaker,
            cache_ttl: binding.cache_ttl,
            keep_last_good: matches!(on_error, OnError::Stale { .. }),
            path_template: Arc::from(binding.path_template.as_str()),
            shared_in_operation: false,
            hedge: binding
                .hedge
                .clone()
                .unwrap_or_else(|| policies.hedge.clone()),
        }
    }
}
