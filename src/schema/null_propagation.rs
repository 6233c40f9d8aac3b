//! GraphQL null propagation for the dynamic schema.
//!
//! async-graphql's dynamic executor propagates any field error to the root,
//! turning the whole response into `data: null`. The spec instead nulls the
//! nearest nullable ancestor and reports the error with its path. This
//! extension wraps every field (and list item) resolution: an error stops at
//! the first nullable position, is recorded with its path, and the position
//! becomes null. Errors at non-null positions keep rising, as the spec says.
//!
//! The same extension skips the engine's validation of a document that has
//! validated before: validation depends on the document alone, except for
//! the variable values, which the gateway checks on every request
//! (`gateway::variables`). Hooks live in one extension because every
//! extension costs a boxed future per resolved field.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::{
    PathSegment, QueryPathNode, QueryPathSegment, Response, ServerError, ServerResult,
    ValidationResult, Value,
};

use crate::exec::RequestState;

pub(crate) struct NullPropagation;

/// One event of a subscription: executed with the event's own state (which
/// the resolvers find before the subscription's), its absorbed errors and
/// stale marks reported with it. Errors of an event that still has data
/// are kept from the engine, which would end the subscription at the first
/// one, and put back by the gateway; an event without data (a failure at a
/// non-null root) ends it.
async fn event(
    subscription: &Arc<RequestState>,
    ctx: &ExtensionContext<'_>,
    operation_name: Option<&str>,
    next: NextExecute<'_>,
) -> Response {
    subscription.mark_executed();
    let Some(event) = subscription.take_event() else {
        return next.run(ctx, operation_name).await;
    };
    event.mark_executed();
    let mut data = async_graphql::Data::default();
    data.insert(event.clone());
    let mut response = next.run_with_data(ctx, operation_name, data).await;
    if let Some(stale) = event.take_stale() {
        response.extensions.insert("stale".to_owned(), stale);
    }
    // Absorbed by a resolver (the event's state) or by this extension's
    // null propagation (which sees the subscription's).
    let mut errors = event.take_absorbed();
    errors.append(&mut subscription.take_absorbed());
    errors.append(&mut response.errors);
    if let Some(exceeded) = event.budget.exceeded() {
        // A run-time limit stops the operation: the subscription ends.
        response.data = Value::Null;
        errors = vec![
            exceeded
                .into_graphql()
                .into_server_error(async_graphql::Pos::default()),
        ];
    }
    if matches!(response.data, Value::Null) {
        response.errors = errors;
    } else {
        subscription.defer(errors);
    }
    response
}

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullPropagation)
    }
}

#[async_trait::async_trait]
impl Extension for NullPropagation {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        match ctx.data_opt::<Arc<RequestState>>() {
            // Nothing reads the result's cache hints, complexity or depth.
            Some(state) if state.validated => Ok(ValidationResult {
                cache_control: Default::default(),
                complexity: 0,
                depth: 0,
            }),
            _ => next.run(ctx).await,
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let state = ctx.data_opt::<Arc<RequestState>>();
        if let Some(state) = state
            && state.subscription
        {
            return event(state, ctx, operation_name, next).await;
        }
        if let Some(state) = state {
            state.mark_executed();
            // The document validated: that is all a load-time check asks.
            if state.validate_only {
                return Response::new(Value::Null);
            }
        }
        let mut response = next.run(ctx, operation_name).await;
        if let Some(state) = state {
            if let Some(stale) = state.take_stale() {
                response.extensions.insert("stale".to_owned(), stale);
            }
            let mut absorbed = state.take_absorbed();
            if !absorbed.is_empty() {
                absorbed.append(&mut response.errors);
                response.errors = absorbed;
            }
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let path_node = info.path_node;
        let nullable = !info.return_type.ends_with('!');
        let item = info.parent_type.starts_with('[');
        match next.run(ctx, info).await {
            Ok(value) => Ok(value),
            // A null list item's stand-in: null at the item, and no error.
            Err(error) if error.message == super::resolver::NULL_ITEM => {
                if item {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
            Err(mut error) => {
                if error.path.is_empty() {
                    error.path = path_of(path_node);
                }
                // Where in the document, when not at the field.
                if let Some(extensions) = &mut error.extensions
                    && let Some(async_graphql::Value::List(at)) =
                        extensions.get(crate::error::LOCATION_EXTENSION).cloned()
                {
                    extensions.unset(crate::error::LOCATION_EXTENSION);
                    if let [
                        async_graphql::Value::Number(line),
                        async_graphql::Value::Number(column),
                    ] = at.as_slice()
                        && let (Some(line), Some(column)) = (line.as_u64(), column.as_u64())
                    {
                        error.locations = vec![async_graphql::Pos {
                            line: usize::try_from(line).unwrap_or(1),
                            column: usize::try_from(column).unwrap_or(1),
                        }];
                    }
                }
                // A null item of a list of non-null items: the error is at
                // the item (the list itself is what becomes null).
                if let Some(extensions) = &mut error.extensions
                    && let Some(async_graphql::Value::List(indices)) =
                        extensions.get(crate::error::ITEM_EXTENSION).cloned()
                {
                    extensions.unset(crate::error::ITEM_EXTENSION);
                    for index in indices {
                        if let async_graphql::Value::Number(n) = index
                            && let Some(i) = n.as_u64().and_then(|i| usize::try_from(i).ok())
                        {
                            error.path.push(PathSegment::Index(i));
                        }
                    }
                }
                match ctx.data_opt::<Arc<RequestState>>() {
                    Some(state) if nullable => {
                        state.absorb(error);
                        Ok(None)
                    }
                    _ => Err(error),
                }
            }
        }
    }
}

pub(crate) fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect();
    path.reverse();
    path
}
