//! A loaded schema, ready to execute requests: the engine schema, the upstream
//! clients, the cost model and a cache of parsed, validated documents.

mod coalesce;
pub mod cost;
mod deadline;
mod directives;
mod engine_errors;
mod federated;
mod literals;
mod live;
pub mod persisted;
mod prepare;
mod typed_walk;
mod unions;
mod validation;
mod variables;

use coalesce::forwarded_headers;
pub(crate) use coalesce::{Coalesce, SharedResponse};
pub use live::Place;
pub use persisted::{DocumentRef, IncomingRequest, PersistedError, Resolved};
pub use prepare::{Prepared, Refusal};

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, Variables};
use http::HeaderMap;
use serde_json::Value;

use crate::config::{Config, ServerSettings};
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;
use crate::exec::registry::Registry;
use crate::exec::state::{CancelOnDrop, OperationFacts};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::otel::{self, SPAN_TARGET};
use crate::telemetry::timeline::{RecentTimelines, Timeline};
use crate::upstream::Upstream;
use crate::upstream::inflight::Inflight;
use async_graphql::Pos;
use http::HeaderName;
use std::time::Instant;
use tracing::Instrument;

/// The request header that asks a supergraph's response for
/// `extensions.plan` (with the timeline header, where the timeline is on).
pub const PLAN_HEADER: &str = "tributary-plan";

/// What a cached document is assumed to weigh per byte of its text: the
/// text plus its parsed tree.
const DOCUMENT_BYTES_PER_QUERY_BYTE: usize = 8;

/// A GraphQL request as it arrived over HTTP.
#[derive(Debug, Default)]
pub struct GraphqlRequest {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Option<serde_json::Map<String, Value>>,
}

/// What executing a request produced.
pub struct Outcome {
    pub response: Response,
    /// False when the request failed before execution (parse, validation,
    /// variables): the response then carries no `data`.
    pub executed: bool,
}

pub struct Gateway {
    schema: Schema,
    /// Spec validation of new documents (see [`validation`]).
    validator: Option<validation::Validator>,
    registry: Arc<Registry>,
    /// Every upstream, in declaration order (metrics, status page).
    upstreams: Vec<Arc<Upstream>>,
    metrics: Arc<Metrics>,
    /// Alert webhooks (`@server(alerts:)`), stopped with the gateway.
    _alerts: Option<crate::telemetry::alerts::Alerts>,
    /// The latest executions, drawn on the status page.
    recent: RecentTimelines,
    settings: ServerSettings,
    /// Parsed documents that validated, by query text, weighed by size:
    /// parsing costs more than the rest of a small request's execution.
    documents: moka::sync::Cache<String, Arc<Prepared>>,
    cost: cost::CostModel,
    limits: cost::Limits,
    /// The input types variable values are checked against.
    inputs: variables::InputTypes,
    /// The root types: query, mutation.
    roots: (String, Option<String>, Option<String>),
    /// Set when every upstream has `dedupe: true`: identical in-flight
    /// queries then share one execution and its response.
    pub(crate) coalesce: Option<Coalesce>,
    /// A supergraph's subgraphs, when the schema is one.
    federation: Option<Arc<crate::federation::Subgraphs>>,
    /// Fragments on unions are rewritten for the engine.
    unions: unions::Unions,
    /// Some field is bound to a GraphQL upstream (`@graphql`) or is an
    /// `@entity`: requests carry their operation for the selections
    /// forwarded or planned below them.
    graphql: bool,
    /// The Redis tier's settings, as text: upstream clients are kept across
    /// a reload only while it is the same.
    redis: String,
    /// Schema reloads, when the server reloads (`serve --watch`, SIGHUP).
    reloads: Option<Arc<crate::server::reload::Reloads>>,
    /// Every inbound header an upstream or a binding forwards: what a page
    /// on another origin may need to send (CORS' default `allowHeaders`).
    forwarded: Vec<HeaderName>,
    /// `@server(rateLimit:)`, when there is one.
    client_limits: Option<Arc<crate::ratelimit::ClientLimits>>,
    /// Documents clients registered by hash (APQ); `None`: off.
    apq: Option<persisted::store::Store>,
    /// The trusted documents manifest, prepared; `None`: any operation runs.
    trusted: Option<persisted::Trusted>,
    /// Subscriptions open now (`@server(subscriptions: { maxTotal })`).
    live: Arc<live::LiveCount>,
    /// WebSocket connections open now (`subscriptions: { maxConnections }`).
    sockets: Arc<live::LiveCount>,
    /// Identical subscriptions, sharing one execution.
    groups: live::Groups,
}

impl Gateway {
    /// Builds the upstream clients and the executable schema.
    pub fn new(config: &Config) -> Result<Gateway, String> {
        Gateway::reusing(config, None)
    }

    /// [`Gateway::new`], keeping `previous`'s client of every upstream whose
    /// configuration (and the Redis tier) did not change: its connections,
    /// cache, breaker and in-flight dedupe survive a schema reload.
    pub fn reusing(config: &Config, previous: Option<&Gateway>) -> Result<Gateway, String> {
        let redis = match &config.redis {
            Some(tier) => Some(crate::upstream::cache::RedisCache::new(tier)?),
            None => None,
        };
        // Rate-limit buckets in Redis, when some limit is shared (the loader
        // has refused `shared: true` without a tier).
        let shared_limits = config.server.rate_limits.iter().any(|l| l.bucket.shared)
            || config
                .upstreams
                .values()
                .any(|u| u.policies.rate_limit.as_ref().is_some_and(|l| l.shared));
        let buckets = match &config.redis {
            Some(tier) if shared_limits => Some(crate::ratelimit::RedisBuckets::new(tier)?),
            _ => None,
        };
        let same_redis = previous.is_some_and(|p| p.redis == format!("{:?}", config.redis));
        let mut upstreams = HashMap::new();
        for (name, up) in &config.upstreams {
            let kept = previous
                .filter(|_| same_redis)
                .and_then(|p| p.upstream(name))
                .filter(|old| format!("{:?}", old.config) == format!("{up:?}"));
            if let Some(old) = kept {
                upstreams.insert(name.clone(), old.clone());
                continue;
            }
            let client = Upstream::new(up.clone(), redis.clone(), buckets.as_ref())
                .map_err(|e| format!("cannot build the HTTP client for upstream `{name}`: {e}"))?;
            upstreams.insert(name.clone(), Arc::new(client));
        }
        let built = crate::schema::build(config, &upstreams)?;
        let federation = match &config.federation {
            Some(sg) => Some(Arc::new(crate::federation::Subgraphs::new(
                sg.clone(),
                &upstreams,
            )?)),
            None => None,
        };
        let upstreams: Vec<Arc<Upstream>> = config
            .upstreams
            .keys()
            .filter_map(|name| upstreams.get(name).cloned())
            .collect();
        let coalesce = (!config.upstreams.is_empty()
            && config.upstreams.values().all(|u| u.policies.dedupe))
        .then(|| Coalesce {
            vary: forwarded_headers(config),
            inflight: Inflight::detached(),
        });
        let forwarded = forwarded_headers(config);
        let client_limits =
            crate::ratelimit::ClientLimits::new(&config.server.rate_limits, buckets.as_ref())
                .map(Arc::new);
        let graphql = config.types.values().any(|t| match t {
            crate::config::TypeDef::Object(o) | crate::config::TypeDef::Interface(o) => {
                o.fields.values().any(|f| {
                    matches!(
                        f.source,
                        crate::config::FieldSource::Graphql(_)
                            | crate::config::FieldSource::Entity(_)
                    )
                })
            }
            _ => false,
        });
        let metrics = Arc::new(Metrics::new(upstreams.clone(), client_limits.clone()));
        let apq = config.server.persisted_queries.as_ref().map(|settings| {
            persisted::store::Store::new(settings, redis.clone(), metrics.persisted.clone())
        });
        let alerts = config.server.alerts.as_ref().and_then(|settings| {
            crate::telemetry::alerts::Alerts::start(settings, &upstreams, &metrics)
        });
        let mut gateway = Gateway {
            _alerts: alerts,
            redis: format!("{:?}", config.redis),
            reloads: None,
            apq,
            trusted: None,
            // Subscriptions keep their place across a reload.
            live: previous.map(|p| p.live.clone()).unwrap_or_default(),
            sockets: previous.map(|p| p.sockets.clone()).unwrap_or_default(),
            groups: live::Groups::default(),
            graphql,
            forwarded,
            unions: unions::Unions::new(config),
            federation,
            coalesce,
            validator: validation::Validator::new(
                &built.schema.sdl_with_options(
                    async_graphql::SDLExportOptions::new().include_specified_by(),
                ),
                &config.types.keys().map(String::as_str).collect::<Vec<_>>(),
                &config
                    .types
                    .iter()
                    .filter_map(|(name, def)| match def {
                        crate::config::TypeDef::Interface(i) => {
                            Some((name.as_str(), i.implements.as_slice()))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| tracing::warn!(error = %e, "documents are validated by the engine alone"))
            .ok(),
            schema: built.schema,
            registry: built.registry,
            metrics,
            client_limits,
            recent: RecentTimelines::default(),
            upstreams,
            settings: config.server.clone(),
            documents: moka::sync::Cache::builder()
                .max_capacity(config.server.document_cache_bytes)
                .weigher(|query: &String, _| {
                    u32::try_from(query.len().saturating_mul(DOCUMENT_BYTES_PER_QUERY_BYTE))
                        .unwrap_or(u32::MAX)
                })
                .build(),
            cost: cost::CostModel::new(config),
            inputs: variables::InputTypes::new(config),
            roots: (
                config.query_type.clone(),
                config.mutation_type.clone(),
                config.subscription_type.clone(),
            ),
            limits: cost::Limits::of(&config.server),
        };
        if let Some(settings) = &config.server.trusted_documents {
            gateway.trusted = Some(gateway.load_trusted(settings)?);
        }
        Ok(gateway)
    }

    /// This gateway, reporting `reloads` on `/readyz` and `/metrics`.
    pub fn with_reloads(mut self, reloads: Arc<crate::server::reload::Reloads>) -> Gateway {
        self.reloads = Some(reloads);
        self
    }

    /// Schema reloads, when the server reloads.
    pub fn reloads(&self) -> Option<&crate::server::reload::Reloads> {
        self.reloads.as_deref()
    }

    /// The client rate limits, checked by the HTTP handler before the
    /// engine runs (`None`: no limit, nothing to check).
    pub fn client_limits(&self) -> Option<&crate::ratelimit::ClientLimits> {
        self.client_limits.as_deref()
    }

    /// The `@server` settings the gateway runs with.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// Every inbound header an upstream or a binding forwards.
    pub fn forwarded_headers(&self) -> &[HeaderName] {
        &self.forwarded
    }

    /// Every upstream, in declaration order.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// The Prometheus metrics (`/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The latest executions (`/status`).
    pub fn recent(&self) -> &RecentTimelines {
        &self.recent
    }

    /// The client of upstream `name`: its cache (`cache.stats`) and guards.
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.iter().find(|u| u.name() == name)
    }

    /// How many supergraph query plans are kept (0 for a schema that is not
    /// a supergraph).
    pub fn cached_plans(&self) -> u64 {
        self.federation.as_ref().map_or(0, |f| f.cached_plans())
    }

    /// What the cache of parsed documents weighs now (bytes, estimated).
    pub fn document_cache_bytes(&self) -> u64 {
        self.documents.run_pending_tasks();
        self.documents.weighted_size()
    }

    /// The schema in SDL, as clients see it.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// The state of one request's execution (a subscription's: of the
    /// whole subscription, each event getting its own below it).
    fn request_state(
        &self,
        request: &GraphqlRequest,
        prepared: &Prepared,
        headers: HeaderMap,
        span: tracing::Span,
        started: Instant,
    ) -> Arc<RequestState> {
        let budget = crate::exec::state::Budget::new(
            self.settings.max_upstream_calls,
            self.settings.max_cost,
        );
        let subscription = matches!(prepared.kind, Some(OperationType::Subscription));
        let deadline = (!subscription)
            .then(|| self.deadline(&headers, started))
            .flatten();
        RequestState::new(
            self.registry.clone(),
            headers,
            self.metrics.clone(),
            span,
            started,
            budget,
            OperationFacts {
                validated: prepared.cached,
                validate_only: false,
                projections: prepared.projections.clone(),
                federation: self.federation.as_ref().map(|subgraphs| {
                    Arc::new(crate::federation::Request::new(
                        subgraphs.clone(),
                        prepared.document.clone(),
                        request.operation_name.clone(),
                        request.variables.clone().unwrap_or_default(),
                    ))
                }),
                graphql: match prepared.kind.and_then(|kind| self.root_type(kind)) {
                    Some(root) if self.graphql => {
                        Some(Arc::new(crate::exec::resolve::graphql::Operation::new(
                            prepared.document.clone(),
                            request.operation_name.clone(),
                            request.variables.clone().unwrap_or_default(),
                            root.to_owned(),
                        )))
                    }
                    _ => None,
                },
                deadline,
                subscription,
            },
        )
    }

    /// Executes a prepared request that arrived at `started`; with
    /// `timeline`, the response's extensions carry the execution timeline.
    pub async fn execute(
        &self,
        request: GraphqlRequest,
        prepared: &Prepared,
        headers: HeaderMap,
        started: Instant,
        timeline: bool,
    ) -> Outcome {
        let kind = match prepared.kind {
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            _ => "query",
        };
        let name = prepared.label_name.as_deref();
        let label = match name {
            Some(name) => format!("{kind} {name}"),
            None => kind.to_owned(),
        };
        // Unsampled requests build no spans at all (see `otel::sample`).
        let span = if !otel::sample(&headers) {
            tracing::Span::none()
        } else {
            tracing::info_span!(
            target: SPAN_TARGET,
            "graphql.operation",
            otel.name = %label,
            otel.kind = "server",
            graphql.operation.name = name,
            graphql.operation.type = kind,
            tributary.document.hash = %document_hash(&request.query),
            )
        };
        otel::adopt_parent(&span, &headers);
        // `extensions.plan` on request (where the timeline is allowed):
        // the query plan, as `tributary plan` prints it.
        let plan = match &self.federation {
            Some(subgraphs)
                if timeline
                    && headers
                        .get(PLAN_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| matches!(v.trim(), "1" | "true")) =>
            {
                crate::federation::explain_document(
                    &subgraphs.supergraph,
                    &prepared.document,
                    request.operation_name.as_deref(),
                    request
                        .variables
                        .as_ref()
                        .unwrap_or(&serde_json::Map::new()),
                )
                .ok()
            }
            _ => None,
        };
        let state = self.request_state(&request, prepared, headers, span.clone(), started);
        // Kept only once it validates, so documents that fail cannot fill
        // the cache.
        let query = (!prepared.cached).then(|| request.query.clone());
        // Answered again by the spec's introspection (see `validation`).
        let introspected = prepared.introspects.then(|| {
            (
                request.query.clone(),
                request.operation_name.clone(),
                request.variables.clone(),
            )
        });
        let guard = CancelOnDrop(state.clone());
        let limit = self.settings.max_request_time;
        let shaped = prepared.cached
            && prepared.federated_only
            && matches!(
                prepared.kind,
                Some(OperationType::Query | OperationType::Mutation)
            );
        let execution = async {
            match prepared.kind {
                // Validated before, and nothing below its root fields but
                // supergraph fields: shaped without the engine.
                Some(kind) if shaped => self.shape_federated(&state, kind).await,
                _ => {
                    self.schema
                        .execute(engine_request(request, prepared, &state))
                        .await
                }
            }
        }
        .instrument(span.clone());
        let mut response = match tokio::time::timeout(limit, execution).await {
            Ok(response) => response,
            Err(_) => {
                // Dropping the execution drops every resolver; the guard
                // below aborts the calls they started.
                let error = FieldError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request took longer than maxRequestTime ({limit:?}) and was stopped"
                    ),
                );
                Response::from_errors(vec![error.into_graphql().into_server_error(Pos::default())])
            }
        };
        drop(guard);
        if let Some(exceeded) = state.budget.exceeded() {
            // A run-time limit stops the whole operation: no partial data
            // built from an answer that was cut short.
            let mut stopped = Response::from_errors(vec![
                exceeded.into_graphql().into_server_error(Pos::default()),
            ]);
            stopped.extensions = std::mem::take(&mut response.extensions);
            response = stopped;
        }
        let executed = state.executed();
        if executed {
            engine_errors::merge_field_errors(&mut response.errors);
        }
        if executed
            && let Some((query, name, variables)) = &introspected
            && let Some(validator) = &self.validator
            && let async_graphql::Value::Object(data) = &mut response.data
            && let Some(values) = validator.introspect(query, name.as_deref(), variables.as_ref())
        {
            for (key, value) in values {
                if let Some(slot) = data.get_mut(key.as_str()) {
                    *slot = value;
                }
            }
        }
        if !executed {
            // The engine reports some request errors twice (an operation type
            // the schema lacks); a client should see each once.
            response.errors.dedup_by(|a, b| {
                a.message == b.message && a.locations == b.locations && a.path == b.path
            });
            engine_errors::reshape(
                &self.registry,
                &self.inputs,
                &prepared.document,
                |kind| self.root_type(kind).map(str::to_owned),
                &mut response.errors,
            );
        }
        if executed && let Some(query) = query {
            self.documents.insert(query, Arc::new(prepared.validated()));
        }
        if executed {
            let calls = state.recorder.take();
            let trace_id = otel::trace_id(&span, &state.headers);
            let mut record = Timeline::new(label, trace_id, started.elapsed(), calls);
            if self.federation.is_some() {
                record.executor = Some(if shaped { "plan" } else { "engine" });
            }
            let partial =
                !response.errors.is_empty() && !matches!(response.data, async_graphql::Value::Null);
            let waits: Vec<_> = record.joins.iter().map(|j| j.wait).collect();
            self.metrics
                .operation(kind, record.total, partial, record.overhead, &waits);
            if timeline
                && let Ok(json) = serde_json::to_value(&record)
                && let Ok(value) = async_graphql::Value::from_json(json)
            {
                response.extensions.insert("timeline".to_owned(), value);
            }
            if !record.calls.is_empty() {
                self.recent.push(Arc::new(record));
            }
            if let Some(plan) = plan {
                response
                    .extensions
                    .insert("plan".to_owned(), async_graphql::Value::String(plan));
            }
        }
        Outcome { response, executed }
    }
}

/// The engine's request for `request`: its parsed document, operation,
/// variables (with their defaults) and the request's state.
fn engine_request(
    request: GraphqlRequest,
    prepared: &Prepared,
    state: &Arc<RequestState>,
) -> Request {
    let mut engine_request = Request::new(request.query).data(state.clone());
    if let Some(name) = request.operation_name {
        engine_request = engine_request.operation_name(name);
    }
    if let Some(variables) = prepare::with_defaults(
        &prepared.document,
        engine_request.operation_name.as_deref(),
        request.variables,
    ) {
        engine_request = engine_request.variables(Variables::from_json(Value::Object(variables)));
    }
    engine_request.set_parsed_query(Arc::unwrap_or_clone(prepared.document.clone()));
    engine_request
}

/// A short, stable id of the query text for spans.
fn document_hash(query: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    query.hash(&mut h);
    format!("{:016x}", h.finish())
}
