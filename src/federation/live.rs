//! A supergraph's subscription root field: the plan's first fetch is the
//! owning subgraph's `subscription`, read from a shared socket feed
//! (`upstream::live`); each event it pushes is that fetch's answer, and the
//! rest of the plan (ordinary `_entities` hops to the other subgraphs) runs
//! for it under the event's own request state.

use std::sync::Arc;

use async_graphql::Pos;
use serde_json::{Map, Value as Json};

use super::{Assembly, Planned, Progress, Request};
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;
use crate::exec::plan::Plan;
use crate::exec::view::View;
use crate::upstream::live::Subscriber;

/// A subscription through the supergraph, planned and subscribed.
pub(crate) struct Live {
    request: Arc<Request>,
    planned: Arc<Planned>,
}

/// Plans the subscription (the plan is cached like a query's) and joins
/// the feed of its root fetch.
pub(crate) fn subscribe(
    state: &Arc<RequestState>,
    plan: &Plan,
) -> Result<(Live, Subscriber), FieldError> {
    let request = state.federation.clone().ok_or_else(|| {
        FieldError::new(
            ErrorCode::InternalError,
            format!("`{}` is not a supergraph field", plan.field.def.coordinate),
        )
    })?;
    let planned = request.subgraphs.planned(
        &request.document,
        request.operation_name.as_deref(),
        &request.variables,
    )?;
    for message in &planned.errors {
        let error = FieldError::new(ErrorCode::InternalError, message.clone());
        let mut error = error.into_graphql().into_server_error(Pos::default());
        error.locations.clear();
        state.absorb(error);
    }
    let node = planned
        .steps
        .first()
        .and_then(|step| step.nodes.first())
        .filter(|node| node.subscription)
        .ok_or_else(|| {
            FieldError::new(
                ErrorCode::InternalError,
                format!("no subgraph resolves `{}`", plan.field.def.coordinate),
            )
        })?;
    let graph = &request.subgraphs.graphs[node.graph];
    let mut body = Map::new();
    body.insert("query".to_owned(), Json::String(node.document.clone()));
    body.insert(
        "operationName".to_owned(),
        Json::String(node.operation_name.clone()),
    );
    body.insert("variables".to_owned(), Json::Object(node.variables.clone()));
    let bytes = serde_json::to_vec(&Json::Object(body))
        .map_err(|e| FieldError::new(ErrorCode::InternalError, e.to_string()))?;
    let upstream_request =
        crate::exec::resolve::graphql::post(state, &graph.upstream, bytes.into());
    let subscriber = state.registry.feeds.subscribe_graphql(
        &graph.upstream,
        upstream_request,
        &graph.query_spec,
        Arc::from(node.operation_name.as_str()),
    );
    Ok((Live { request, planned }, subscriber))
}

impl Request {
    /// One event of this subscription: the same document, operation and
    /// variables, the plan already made, a fresh assembly, and the event as
    /// the root fetch's answer.
    fn event(&self, planned: Arc<Planned>, seed: Arc<Json>) -> Request {
        Request {
            subgraphs: self.subgraphs.clone(),
            document: self.document.clone(),
            operation_name: self.operation_name.clone(),
            variables: self.variables.clone(),
            progress: tokio::sync::Mutex::new(Progress {
                plan: Some(Ok(planned)),
                next: 0,
                snapshot: None,
                seed: Some(seed),
            }),
            assembly: Arc::new(Assembly::new()),
        }
    }
}

impl Live {
    /// One event: the rest of the plan run for it, and the root field's
    /// part of the assembled answer, under the event's state (the current
    /// event of `subscription`).
    pub(crate) async fn event(
        &self,
        subscription: &Arc<RequestState>,
        plan: &Plan,
        payload: Arc<Json>,
    ) -> Result<(Arc<RequestState>, View), FieldError> {
        let federation = Arc::new(self.request.event(self.planned.clone(), payload));
        let event = subscription.event_with(Some(federation.clone()));
        let root = federation.root(&event, &plan.key).await?;
        let value = root.at(std::slice::from_ref(&plan.key));
        if let Some(failed) = super::failure(&event, value.get()) {
            // At a non-null root the subscription ends, as a REST one does;
            // a nullable root is null for this event, with the error.
            if !plan.field.def.ty.nullable {
                return Err(failed);
            }
            let mut error = failed.into_graphql().into_server_error(Pos::default());
            error.path = vec![async_graphql::PathSegment::Field(plan.key.clone())];
            error.locations.clear();
            event.absorb(error);
            return Ok((event, View::null()));
        }
        Ok((event, value))
    }
}
