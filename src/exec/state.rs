//! Per-request execution state: inbound headers, the operation's in-flight
//! upstream calls (identical ones are made once), and errors that a nullable
//! field absorbed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::ServerError;
use http::HeaderMap;
use serde_json::Value;
use tokio::task::AbortHandle;

use super::projection::Projections;
use super::registry::Registry;
use crate::error::FieldError;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::timeline::Recorder;
use crate::upstream::inflight::Inflight;
use crate::upstream::{CallSpec, Fetched, Upstream, UpstreamRequest};

/// A stale field: its path, its upstream and the answer's age.
type StaleField = (
    Vec<async_graphql::PathSegment>,
    Arc<str>,
    std::time::Duration,
);

/// One GraphQL request's execution state, shared by its resolvers and the
/// tasks they spawn.
pub struct RequestState {
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    /// The operation's span: the root of its calls' spans.
    pub(crate) span: tracing::Span,
    /// Every upstream call, for the timeline and metrics.
    pub(crate) recorder: Recorder,
    /// Inbound headers; bindings read only those the operator allowed.
    pub(crate) headers: HeaderMap,
    /// Safe upstream requests of this operation, by upstream and request.
    /// Locked only to look up or insert, never across an await.
    inflight: Inflight<Vec<u8>, Fetched>,
    /// Errors absorbed by a nullable field, reported with the response.
    absorbed: Mutex<Vec<ServerError>>,
    /// Fields served from a stale cached answer: (path, upstream, age).
    stale: Mutex<Vec<StaleField>>,
    /// Spawned calls, aborted when the request goes away.
    tasks: Mutex<Vec<AbortHandle>>,
    /// Set once execution starts: a response without it is a request error.
    executed: AtomicBool,
    /// What the operation may spend as it runs.
    pub(crate) budget: Budget,
    /// The document validated before (it came from the prepared-document
    /// cache) and the variable values were checked: the engine need not
    /// validate it again.
    pub(crate) validated: bool,
    /// Validate the document and stop before any resolver runs: how
    /// trusted documents are validated by the engine at load time.
    pub(crate) validate_only: bool,
    /// What the operation reads of each upstream's answers.
    projections: Arc<Projections>,
    /// The federated execution of a supergraph's operation.
    pub(crate) federation: Option<Arc<crate::federation::Request>>,
    /// The client's operation, when a GraphQL upstream is bound (its
    /// selections are forwarded).
    pub(crate) graphql: Option<Arc<super::resolve::graphql::Operation>>,
    /// A subscription: the state of the event being resolved, handed to
    /// the engine's execution of that event (see [`RequestState::event`]).
    event: Mutex<Option<Arc<RequestState>>>,
    /// A subscription event's errors, kept from the engine (which would end
    /// the subscription at the first one) and put back in its response.
    deferred: Mutex<Vec<ServerError>>,
    /// This state belongs to a subscription (its events get their own).
    pub(crate) subscription: bool,
    /// The request's deadline (`requestTimeout`), carried into its calls.
    pub(crate) deadline: Option<crate::upstream::Deadline>,
}

/// What the prepared operation tells execution.
pub(crate) struct OperationFacts {
    pub(crate) validated: bool,
    pub(crate) validate_only: bool,
    pub(crate) projections: Arc<Projections>,
    /// The federated execution of this request (a supergraph's).
    pub(crate) federation: Option<Arc<crate::federation::Request>>,
    /// The client's operation, for GraphQL upstreams.
    pub(crate) graphql: Option<Arc<super::resolve::graphql::Operation>>,
    /// The operation is a subscription.
    pub(crate) subscription: bool,
    /// The request's deadline, if it has one (never a subscription's).
    pub(crate) deadline: Option<crate::upstream::Deadline>,
}

/// The run-time side of the operation limits: the cost analysis bounds what
/// a document asks for with assumed list sizes; these bound what it really
/// resolves and calls, whatever the upstreams answer.
#[derive(Debug)]
pub(crate) struct Budget {
    max_calls: u64,
    calls: AtomicU64,
    max_resolved: u64,
    resolved: AtomicU64,
    /// Set when a limit was hit: the response is then replaced by one error.
    exceeded: Mutex<Option<FieldError>>,
}

impl Budget {
    /// A budget of the same limits, nothing spent.
    pub(crate) fn fresh(&self) -> Budget {
        Budget::new(self.max_calls, self.max_resolved)
    }

    pub(crate) fn new(max_calls: u64, max_resolved: u64) -> Budget {
        Budget {
            max_calls,
            calls: AtomicU64::new(0),
            max_resolved,
            resolved: AtomicU64::new(0),
            exceeded: Mutex::new(None),
        }
    }

    /// Takes one upstream call from the budget.
    pub(crate) fn call(&self) -> Result<(), FieldError> {
        if self.calls.fetch_add(1, Ordering::Relaxed) < self.max_calls {
            return Ok(());
        }
        Err(self.exceed(format!(
            "the operation needed more than maxUpstreamCalls ({}) upstream calls; it was stopped",
            self.max_calls
        )))
    }

    /// Charges `n` resolved objects or list items.
    pub(crate) fn resolve(&self, n: u64) -> Result<(), FieldError> {
        let before = self.resolved.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) <= self.max_resolved {
            return Ok(());
        }
        Err(self.exceed(format!(
            "the operation resolved more than maxCost ({}) objects and list items; it was stopped",
            self.max_resolved
        )))
    }

    fn exceed(&self, message: String) -> FieldError {
        let error = FieldError::new(crate::error::ErrorCode::OperationLimitExceeded, message);
        let mut first = self.exceeded.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert_with(|| error.clone()).clone()
    }

    /// The first limit the operation hit, if any.
    pub(crate) fn exceeded(&self) -> Option<FieldError> {
        self.exceeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl RequestState {
    pub(crate) fn new(
        registry: Arc<Registry>,
        headers: HeaderMap,
        metrics: Arc<Metrics>,
        span: tracing::Span,
        started: std::time::Instant,
        budget: Budget,
        facts: OperationFacts,
    ) -> Arc<RequestState> {
        Arc::new(RequestState {
            budget,
            validated: facts.validated,
            validate_only: facts.validate_only,
            projections: facts.projections,
            federation: facts.federation,
            graphql: facts.graphql,
            subscription: facts.subscription,
            deadline: facts.deadline,
            event: Mutex::default(),
            deferred: Mutex::default(),
            registry,
            headers,
            metrics,
            span,
            recorder: Recorder::new(started),
            inflight: Inflight::memo(),
            absorbed: Mutex::default(),
            stale: Mutex::default(),
            tasks: Mutex::default(),
            executed: AtomicBool::new(false),
        })
    }

    /// The state of one event of this subscription: the same request (its
    /// headers, operation and span), a fresh budget, dedupe, timeline and
    /// error list. It becomes the current event, which the engine's
    /// execution of the event takes ([`RequestState::take_event`]).
    pub(crate) fn event(&self) -> Arc<RequestState> {
        self.event_with(None)
    }

    /// [`RequestState::event`] for a supergraph's subscription: the event's
    /// federated execution (its assembly holds the event's failures).
    pub(crate) fn event_with(
        &self,
        federation: Option<Arc<crate::federation::Request>>,
    ) -> Arc<RequestState> {
        let event = RequestState::new(
            self.registry.clone(),
            self.headers.clone(),
            self.metrics.clone(),
            self.span.clone(),
            std::time::Instant::now(),
            self.budget.fresh(),
            OperationFacts {
                validated: true,
                validate_only: false,
                projections: self.projections.clone(),
                federation,
                graphql: self.graphql.clone(),
                subscription: false,
                deadline: None,
            },
        );
        *self.event.lock().unwrap_or_else(PoisonError::into_inner) = Some(event.clone());
        event
    }

    /// The event the engine is about to execute, if this is a subscription.
    pub(crate) fn take_event(&self) -> Option<Arc<RequestState>> {
        self.event
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub(crate) fn defer(&self, errors: Vec<ServerError>) {
        self.deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(errors);
    }

    pub(crate) fn take_deferred(&self) -> Vec<ServerError> {
        std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends `request`, or joins an identical one already under way.
    pub(crate) async fn fetch(
        &self,
        upstream: &Arc<Upstream>,
        spec: &Arc<CallSpec>,
        request: UpstreamRequest,
    ) -> Result<Fetched, FieldError> {
        if !request.method.is_safe() && !spec.shared_in_operation {
            self.budget.call()?;
            let mask = self.projections.get(upstream.name());
            return upstream.call(&request, spec, mask.map(|m| &**m)).await;
        }
        let mut key = request.identity();
        key.extend_from_slice(upstream.name().as_bytes());
        self.inflight
            .run_with(key, || {
                self.budget.call()?;
                let upstream = upstream.clone();
                let spec = spec.clone();
                let mask = self.projections.get(upstream.name()).cloned();
                Ok(async move { upstream.call(&request, &spec, mask.as_deref()).await })
            })
            .await
    }

    pub(crate) fn track(&self, task: AbortHandle) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    pub(crate) fn absorb(&self, error: ServerError) {
        self.absorbed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(error);
    }

    pub(crate) fn take_absorbed(&self) -> Vec<ServerError> {
        std::mem::take(&mut *self.absorbed.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn mark_stale(
        &self,
        path: Vec<async_graphql::PathSegment>,
        upstream: Arc<str>,
        age: std::time::Duration,
    ) {
        self.stale
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((path, upstream, age));
    }

    /// `extensions.stale`: each stale field's path, upstream and age.
    pub(crate) fn take_stale(&self) -> Option<async_graphql::Value> {
        let stale = std::mem::take(&mut *self.stale.lock().unwrap_or_else(PoisonError::into_inner));
        if stale.is_empty() {
            return None;
        }
        let entries = stale
            .into_iter()
            .map(|(path, upstream, age)| {
                serde_json::json!({
                    "path": path,
                    "upstream": upstream.as_ref(),
                    "ageMs": u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                })
            })
            .collect();
        async_graphql::Value::from_json(Value::Array(entries)).ok()
    }

    pub(crate) fn mark_executed(&self) {
        self.executed.store(true, Ordering::Relaxed);
    }

    pub fn executed(&self) -> bool {
        self.executed.load(Ordering::Relaxed)
    }

    /// Aborts every call still running for this request.
    pub fn cancel(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Cancels the request's outstanding calls when the request is dropped
/// (finished, or abandoned by a client that went away).
pub(crate) struct CancelOnDrop(pub(crate) Arc<RequestState>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
