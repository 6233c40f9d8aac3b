//! A loaded schema, ready to execute requests: the engine schema, the upstream
//! clients and a cache of parsed documents.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, Variables};
use http::HeaderMap;
use serde_json::Value;

use crate::config::{Config, ServerSettings};
use crate::exec::RequestState;
use crate::exec::registry::Registry;
use crate::exec::state::CancelOnDrop;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::otel::{self, SPAN_TARGET};
use crate::telemetry::timeline::{RecentTimelines, Timeline};
use crate::upstream::Upstream;
use crate::upstream::inflight::Inflight;
use http::HeaderName;
use std::time::Instant;
use tracing::Instrument;

/// Parsed documents kept, by query text: parsing costs more than the rest of
/// a small request's execution.
const DOCUMENT_CACHE_ENTRIES: u64 = 1_000;

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
    registry: Arc<Registry>,
    /// Every upstream, in declaration order (metrics, status page).
    pub upstreams: Vec<Arc<Upstream>>,
    pub metrics: Arc<Metrics>,
    /// The latest executions, drawn on the status page.
    pub recent: RecentTimelines,
    pub settings: ServerSettings,
    documents: moka::sync::Cache<String, Arc<ExecutableDocument>>,
    /// Set when every upstream has `dedupe: true`: identical in-flight
    /// queries then share one execution and its response.
    pub(crate) coalesce: Option<Coalesce>,
}

/// Whole-operation coalescing. When every upstream dedupes, two identical
/// queries in flight (same text, operation, variables, response type,
/// timeline request, and every inbound header any binding reads) make the same
/// upstream requests and get the same answer, so they share one execution.
pub(crate) struct Coalesce {
    /// Inbound headers that can change what a binding sends upstream.
    vary: Vec<HeaderName>,
    pub(crate) inflight: Inflight<Arc<SharedResponse>>,
}

/// A finished response, shareable between coalesced requests.
#[derive(Debug)]
pub(crate) struct SharedResponse {
    pub(crate) status: http::StatusCode,
    pub(crate) content_type: Option<http::HeaderValue>,
    pub(crate) body: bytes::Bytes,
}

/// Why a document was refused before execution.
pub enum Refusal {
    Parse(async_graphql::parser::Error),
    /// A mutation sent over GET.
    MutationOverGet,
}

impl Gateway {
    /// Builds the upstream clients and the executable schema.
    pub fn new(config: &Config) -> Result<Gateway, String> {
        let redis = match &config.redis {
            Some(tier) => Some(crate::upstream::cache::RedisCache::new(tier)?),
            None => None,
        };
        let mut upstreams = HashMap::new();
        for (name, up) in &config.upstreams {
            let client = Upstream::new(up.clone(), redis.clone())
                .map_err(|e| format!("cannot build the HTTP client for upstream `{name}`: {e}"))?;
            upstreams.insert(name.clone(), Arc::new(client));
        }
        let built = crate::schema::build(config, &upstreams)?;
        let upstreams: Vec<Arc<Upstream>> = config
            .upstreams
            .keys()
            .filter_map(|name| upstreams.get(name).cloned())
            .collect();
        let coalesce = (!config.upstreams.is_empty()
            && config.upstreams.values().all(|u| u.policies.dedupe))
        .then(|| Coalesce {
            vary: forwarded_headers(config),
            inflight: Inflight::default(),
        });
        Ok(Gateway {
            coalesce,
            schema: built.schema,
            registry: built.registry,
            metrics: Arc::new(Metrics::new(upstreams.clone())),
            recent: RecentTimelines::default(),
            upstreams,
            settings: config.server.clone(),
            documents: moka::sync::Cache::new(DOCUMENT_CACHE_ENTRIES),
        })
    }

    /// The coalescing key of a query (`None` when coalescing is off or the
    /// operation is a mutation): everything that can change its response.
    pub(crate) fn coalesce_key(
        &self,
        request: &GraphqlRequest,
        document: &ExecutableDocument,
        headers: &HeaderMap,
        variant: &str,
    ) -> Option<crate::upstream::cache::CacheKey> {
        let coalesce = self.coalesce.as_ref()?;
        if operation_type(document, request.operation_name.as_deref()) != Some(OperationType::Query)
        {
            return None;
        }
        let mut identity = format!(
            "{variant}\n{}\n{}\n{}",
            request.operation_name.as_deref().unwrap_or_default(),
            request.query,
            request
                .variables
                .as_ref()
                .map(|v| Value::Object(v.clone()).to_string())
                .unwrap_or_default()
        );
        for name in &coalesce.vary {
            for value in headers.get_all(name) {
                identity.push('\n');
                identity.push_str(name.as_str());
                identity.push(':');
                identity.push_str(&String::from_utf8_lossy(value.as_bytes()));
            }
        }
        Some(crate::upstream::cache::key("operation", &identity))
    }

    /// The client of upstream `name`: its cache (`cache.stats`) and guards.
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.iter().find(|u| u.name() == name)
    }

    /// The schema in SDL, as clients see it.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// Parses `query` (cached), refusing mutations when `read_only`.
    pub fn prepare(
        &self,
        query: &str,
        operation_name: Option<&str>,
        read_only: bool,
    ) -> Result<Arc<ExecutableDocument>, Refusal> {
        let document = match self.documents.get(query) {
            Some(doc) => doc,
            None => {
                let doc =
                    Arc::new(async_graphql::parser::parse_query(query).map_err(Refusal::Parse)?);
                self.documents.insert(query.to_owned(), doc.clone());
                doc
            }
        };
        if read_only && operation_type(&document, operation_name) == Some(OperationType::Mutation) {
            return Err(Refusal::MutationOverGet);
        }
        Ok(document)
    }

    /// Executes a prepared request that arrived at `started`; with
    /// `timeline`, the response's extensions carry the execution timeline.
    pub async fn execute(
        &self,
        request: GraphqlRequest,
        document: &ExecutableDocument,
        headers: HeaderMap,
        started: Instant,
        timeline: bool,
    ) -> Outcome {
        let missing = missing_variables(
            document,
            request.operation_name.as_deref(),
            request.variables.as_ref(),
        );
        if !missing.is_empty() {
            return Outcome {
                response: Response::from_errors(missing),
                executed: false,
            };
        }
        let kind = match operation_type(document, request.operation_name.as_deref()) {
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            _ => "query",
        };
        // The document's name for its only operation when the client gave
        // no `operationName` (curl, most clients).
        let name = request
            .operation_name
            .clone()
            .or_else(|| match &document.operations {
                DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                    ops.keys().next().map(ToString::to_string)
                }
                _ => None,
            });
        let label = match &name {
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
            graphql.operation.name = name.as_deref(),
            graphql.operation.type = kind,
            tributary.document.hash = %document_hash(&request.query),
            )
        };
        otel::adopt_parent(&span, &headers);
        let state = RequestState::new(
            self.registry.clone(),
            headers,
            self.metrics.clone(),
            span.clone(),
            started,
        );
        let guard = CancelOnDrop(state.clone());
        let mut engine_request = Request::new(request.query).data(state.clone());
        if let Some(name) = request.operation_name {
            engine_request = engine_request.operation_name(name);
        }
        if let Some(variables) = request.variables {
            engine_request =
                engine_request.variables(Variables::from_json(Value::Object(variables)));
        }
        engine_request.set_parsed_query(document.clone());
        let mut response = self
            .schema
            .execute(engine_request)
            .instrument(span.clone())
            .await;
        drop(guard);
        let executed = state.executed();
        if executed {
            let calls = state.recorder.take();
            let trace_id = otel::trace_id(&span, &state.headers);
            let record = Timeline::new(label, trace_id, started.elapsed(), calls);
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
        }
        Outcome { response, executed }
    }
}

/// Non-null variables without a default that got no value: a request error
/// (GraphQL spec, CoerceVariableValues). The engine's validation checks only
/// the values it is given (an explicit null included), and would run the
/// operation with the missing ones as null.
fn missing_variables(
    doc: &ExecutableDocument,
    name: Option<&str>,
    variables: Option<&serde_json::Map<String, Value>>,
) -> Vec<async_graphql::ServerError> {
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return Vec::new(),
        },
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => match ops.values().next() {
            Some(op) => op,
            None => return Vec::new(),
        },
        // Unknown or ambiguous operation: the engine reports that.
        _ => return Vec::new(),
    };
    operation
        .node
        .variable_definitions
        .iter()
        .filter(|def| {
            def.node.default_value().is_none()
                && variables
                    .and_then(|v| v.get(def.node.name.node.as_str()))
                    .is_none()
        })
        .map(|def| {
            async_graphql::ServerError::new(
                format!(
                    "variable `${}` of non-null type `{}` was not provided",
                    def.node.name.node, def.node.var_type.node
                ),
                Some(def.pos),
            )
        })
        .collect()
}

/// Every inbound header some binding forwards or reads.
fn forwarded_headers(config: &Config) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    let bindings = config.types.values().flat_map(|t| match t {
        crate::config::TypeDef::Object(o) | crate::config::TypeDef::Interface(o) => {
            o.fields.values().collect::<Vec<_>>()
        }
        _ => Vec::new(),
    });
    for field in bindings {
        if let crate::config::FieldSource::Rest(binding) = &field.source {
            for name in &binding.forward_headers {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

/// A short, stable id of the query text for spans.
fn document_hash(query: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    query.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn operation_type(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}
