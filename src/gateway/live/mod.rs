//! Subscriptions and operations over streaming transports (WebSocket,
//! SSE): one response per event, under the process-wide subscription cap;
//! identical subscriptions share one execution ([`groups`]).

mod groups;

pub(crate) use groups::Groups;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{Pos, Response, ServerError};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::HeaderMap;

use super::{Gateway, GraphqlRequest, IncomingRequest, Prepared, Refusal, engine_errors};
use crate::error::{ErrorCode, FieldError};
use crate::telemetry::otel::{self, SPAN_TARGET};

/// Documents at least this long are prepared on the blocking pool (the
/// HTTP handler's threshold).
const LARGE_DOCUMENT: usize = 64 * 1024;

/// The subscriptions the process holds, over every transport.
#[derive(Debug, Default)]
pub(crate) struct LiveCount(AtomicUsize);

/// One place under a cap (`maxTotal`, `maxConnections`), given back when
/// it is dropped.
pub struct Place(Arc<LiveCount>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveCount {
    fn take(self: &Arc<Self>, max: usize) -> Option<Place> {
        let mut now = self.0.load(Ordering::Relaxed);
        loop {
            if now >= max {
                return None;
            }
            match self
                .0
                .compare_exchange_weak(now, now + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(Place(self.clone())),
                Err(seen) => now = seen,
            }
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

fn refusal(error: FieldError) -> BoxStream<'static, Response> {
    futures_util::stream::once(async move {
        Response::from_errors(vec![error.into_graphql().into_server_error(Pos::default())])
    })
    .boxed()
}

impl Gateway {
    /// Whether the prepared operation is a subscription.
    pub fn is_subscription(prepared: &Prepared) -> bool {
        matches!(prepared.kind, Some(OperationType::Subscription))
    }

    /// A place for one more WebSocket connection; `None` at
    /// `maxConnections`.
    pub fn take_socket(&self) -> Option<Place> {
        self.sockets
            .take(self.settings.subscriptions.max_connections)
    }

    /// Every live stream (one per shared upstream stream or poll), for the
    /// status page.
    pub fn live_streams(&self) -> Vec<crate::telemetry::status::LiveStream> {
        self.registry
            .feeds
            .live()
            .iter()
            .map(|feed| crate::telemetry::status::LiveStream {
                upstream: feed.upstream.to_string(),
                path: feed.path.to_string(),
                mode: feed.mode,
                phase: feed.status.phase().as_str(),
                subscribers: feed.subscribers(),
                events: feed.status.events(),
                reconnects: feed.status.reconnects(),
                age: crate::upstream::live::age(feed),
            })
            .collect()
    }

    /// Subscriptions open now.
    pub fn subscriptions(&self) -> usize {
        self.live.get()
    }

    /// The responses of the subscription `request`, one per event, until
    /// its feed ends, an event fails at its non-null root, or the stream is
    /// dropped (the client's `complete` or disconnect), which leaves the
    /// feed (and stops it, when no one else reads it).
    pub fn subscribe(
        self: &Arc<Self>,
        request: GraphqlRequest,
        prepared: &Arc<Prepared>,
        headers: HeaderMap,
    ) -> BoxStream<'static, Response> {
        let settings = &self.settings.subscriptions;
        let max = settings.max_total;
        let Some(place) = self.live.take(max) else {
            return refusal(FieldError::new(
                ErrorCode::OperationLimitExceeded,
                format!("the gateway holds maxTotal ({max}) subscriptions; try again later"),
            ));
        };
        let root = self.root_field(prepared);
        let membership = groups::Membership {
            buffer: settings.buffer,
            overflow: settings.overflow,
            replay: root.as_ref().is_some_and(|field| {
                matches!(&field.def.source, crate::config::FieldSource::Rest(b)
                    if matches!(b.live, Some(crate::config::Live::Poll { .. })))
            }),
            counters: self.metrics.live.subscriber(
                root.as_ref()
                    .map_or("", |field| field.def.coordinate.as_str()),
            ),
        };
        let key = self.subscription_key(&request, &headers);
        let gateway = self.clone();
        let prepared = prepared.clone();
        let responses = self.groups.join(key, membership, move || {
            gateway.execute_subscription(request, &prepared, headers)
        });
        responses
            .map(move |response| {
                let _held = &place;
                response
            })
            .boxed()
    }

    /// The root field of a subscription operation, compiled.
    fn root_field(&self, prepared: &Prepared) -> Option<Arc<crate::exec::CompiledField>> {
        let operation =
            super::prepare::chosen(&prepared.document, prepared.operation_name.as_deref())?;
        let root = self.roots.2.as_deref()?;
        operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .find_map(|item| match &item.node {
                async_graphql::parser::types::Selection::Field(field) => self
                    .registry
                    .field(root, field.node.name.node.as_str())
                    .cloned(),
                _ => None,
            })
    }

    /// What makes two subscriptions the same: the document, operation and
    /// variables, and the value of every inbound header a binding reads.
    fn subscription_key(&self, request: &GraphqlRequest, headers: &HeaderMap) -> u128 {
        super::coalesce::operation_key("subscription", request, headers, &self.forwarded, &[])
    }

    /// One execution of a subscription: its responses, one per event.
    fn execute_subscription(
        self: &Arc<Self>,
        request: GraphqlRequest,
        prepared: &Prepared,
        headers: HeaderMap,
    ) -> BoxStream<'static, Response> {
        let name = prepared.label_name.clone();
        // A span for the whole subscription; each event is an event of it.
        let span = if !otel::sample(&headers) {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                target: SPAN_TARGET,
                "graphql.subscription",
                otel.name = %name.as_deref().map_or_else(|| "subscription".to_owned(), |n| format!("subscription {n}")),
                otel.kind = "server",
                graphql.operation.name = name.as_deref(),
                graphql.operation.type = "subscription",
            )
        };
        otel::adopt_parent(&span, &headers);
        let state = self.request_state(&request, prepared, headers, span.clone(), Instant::now());
        let engine = super::engine_request(request, prepared, &state);
        let gateway = self.clone();
        let document = prepared.document.clone();
        // The span is the parent of every event's calls and holds the
        // events themselves (`exec::live`), so the stream need not enter it.
        let events = self.schema.execute_stream(engine);
        drop(span);
        events
            .map(move |mut response| {
                if state.executed() {
                    let mut errors = state.take_deferred();
                    errors.append(&mut response.errors);
                    response.errors = errors;
                    engine_errors::merge_field_errors(&mut response.errors);
                } else {
                    engine_errors::reshape(
                        &gateway.registry,
                        &gateway.inputs,
                        &document,
                        |kind| gateway.root_type(kind).map(str::to_owned),
                        &mut response.errors,
                    );
                }
                response
            })
            .boxed()
    }

    /// Any operation for a streaming transport (a WebSocket's `subscribe`):
    /// resolved, prepared and admitted as over HTTP, then a subscription's
    /// events or the one response of a query or mutation.
    pub async fn stream(
        self: Arc<Self>,
        incoming: IncomingRequest,
        headers: HeaderMap,
    ) -> BoxStream<'static, Response> {
        let resolved = match self.resolve(incoming).await {
            Ok(resolved) => resolved,
            Err(refusal) => return once(persisted(refusal)),
        };
        // A large document is parsed off the runtime's workers, as over HTTP.
        let (resolved, prepared) = if resolved.request.query.len() >= LARGE_DOCUMENT {
            let gateway = self.clone();
            match tokio::task::spawn_blocking(move || {
                let prepared = gateway.prepare_resolved(&resolved, false);
                (resolved, prepared)
            })
            .await
            {
                Ok(done) => done,
                Err(_) => {
                    return once(ServerError::new("the document could not be prepared", None));
                }
            }
        } else {
            let prepared = self.prepare_resolved(&resolved, false);
            (resolved, prepared)
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(refused) => return once_all(refusal_errors(refused)),
        };
        if let Some(limits) = self.client_limits()
            && limits.has_operation_limits()
            && let Err(refused) = limits.admit_operation(prepared.operation_label()).await
        {
            let seconds = crate::ratelimit::retry_after_secs(refused.retry_after);
            return refusal(FieldError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many requests: over the rate limit on `{}` ({}); retry in {seconds} s",
                    refused.limit, refused.rate
                ),
            ));
        }
        if let Err(refused) = self.admit(resolved.needs_introspection, &prepared) {
            return once(persisted(refused));
        }
        let super::Resolved {
            request, register, ..
        } = resolved;
        if let Some(hash) = &register {
            self.register(hash, &request.query);
        }
        if Gateway::is_subscription(&prepared) {
            return self.subscribe(request, &prepared, headers);
        }
        let outcome = self
            .execute(request, &prepared, headers, Instant::now(), false)
            .await;
        futures_util::stream::once(async move { outcome.response }).boxed()
    }
}

fn persisted(refusal: super::PersistedError) -> ServerError {
    let code = refusal.code;
    FieldError::new(code, refusal.message)
        .into_graphql()
        .into_server_error(Pos::default())
}

fn once(error: ServerError) -> BoxStream<'static, Response> {
    once_all(vec![error])
}

fn once_all(errors: Vec<ServerError>) -> BoxStream<'static, Response> {
    futures_util::stream::once(async move { Response::from_errors(errors) }).boxed()
}

/// A refused document's errors, as a streaming transport reports them.
fn refusal_errors(refused: Refusal) -> Vec<ServerError> {
    match refused {
        Refusal::Parse(e) => {
            let mut error = ServerError::new(e.to_string(), None);
            error.locations = e.positions().collect();
            vec![error]
        }
        Refusal::MutationOverGet => vec![ServerError::new("mutations need POST", None)],
        Refusal::Limit(message) => vec![ServerError::new(message, None)],
        Refusal::Invalid(errors) => errors,
    }
}
