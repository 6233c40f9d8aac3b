//! Executing a plan: make a field's call, shape its JSON into [`Data`], and
//! start every bound child the moment the JSON it depends on is known.

use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};
use futures_util::FutureExt;
use serde_json::Value;

use super::data::{Data, FieldResult, ObjectData, Slot};
use super::plan::Plan;
use super::registry::Out;
use super::state::RequestState;
use crate::config::FieldSource;
use crate::error::{ErrorCode, FieldError};
use crate::upstream::{Inputs, UpstreamRequest, render};

/// Executes `plan`'s field against its parent's JSON, now.
pub(crate) async fn execute(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent: &Value,
) -> FieldResult {
    let json = match &plan.field.def.source {
        FieldSource::Rest(_) => match prepare(state, plan, parent)? {
            None => return Ok(Arc::new(Data::Null)),
            Some(request) => call(state, plan, request).await?,
        },
        FieldSource::Parent(path) => crate::upstream::pluck(parent, path)
            .cloned()
            .unwrap_or(Value::Null),
        FieldSource::Arguments => Value::Object(plan.args.clone()),
    };
    Ok(Arc::new(build(state, plan, &plan.field.def.ty, json)))
}

/// Renders the field's request; `None` when a path input is missing.
fn prepare(
    state: &RequestState,
    plan: &Plan,
    parent: &Value,
) -> Result<Option<UpstreamRequest>, FieldError> {
    let (FieldSource::Rest(binding), Some(upstream)) =
        (&plan.field.def.source, &plan.field.upstream)
    else {
        return Err(FieldError::new(
            ErrorCode::InternalError,
            format!("`{}` has no upstream", plan.field.def.coordinate),
        ));
    };
    let inputs = Inputs {
        args: &plan.args,
        parent,
        headers: &state.headers,
    };
    render(binding, &upstream.config.url, inputs).map_err(|e| match e.upstream {
        Some(_) => e,
        None => e.upstream(upstream.name()),
    })
}

/// Makes the call and returns the selected part of the response.
async fn call(
    state: &Arc<RequestState>,
    plan: &Plan,
    request: UpstreamRequest,
) -> Result<Value, FieldError> {
    let (FieldSource::Rest(binding), Some(upstream)) =
        (&plan.field.def.source, &plan.field.upstream)
    else {
        return Err(FieldError::new(
            ErrorCode::InternalError,
            "unbound field called",
        ));
    };
    let response = state.fetch(upstream, binding, request).await?;
    Ok(crate::upstream::pluck(&response, &binding.select)
        .cloned()
        .unwrap_or(Value::Null))
}

/// Shapes `json` by the field's type: objects get their children started.
pub(crate) fn build(state: &Arc<RequestState>, plan: &Plan, ty: &Type, json: Value) -> Data {
    match (&ty.base, json) {
        (_, Value::Null) => Data::Null,
        (BaseType::List(inner), Value::Array(items)) if is_composite(&plan.field.out) => {
            Data::List(
                items
                    .into_iter()
                    .map(|item| build(state, plan, inner, item))
                    .collect(),
            )
        }
        (BaseType::Named(_), json @ Value::Object(_)) if is_composite(&plan.field.out) => {
            let children = start_children(state, plan, &json);
            Data::Object(Arc::new(ObjectData { json, children }))
        }
        // Scalars, enums, and values of the wrong shape: the resolver coerces
        // them and reports what does not fit.
        (_, json) => Data::Leaf(json),
    }
}

fn is_composite(out: &Out) -> bool {
    matches!(out, Out::Object | Out::Abstract)
}

/// Starts every planned child of an object whose JSON is `json`.
pub(crate) fn start_children(
    state: &Arc<RequestState>,
    plan: &Plan,
    json: &Value,
) -> Vec<(String, Slot)> {
    plan.children
        .iter()
        .map(|child| (child.key.clone(), start(state, child, json)))
        .collect()
}

fn start(state: &Arc<RequestState>, plan: &Arc<Plan>, parent: &Value) -> Slot {
    match &plan.field.def.source {
        FieldSource::Rest(_) => match prepare(state, plan, parent) {
            Err(e) => Slot::Ready(Err(e)),
            Ok(None) => Slot::Ready(Ok(Arc::new(Data::Null))),
            Ok(Some(request)) => {
                let task_state = state.clone();
                let task_plan = plan.clone();
                let handle = tokio::spawn(async move {
                    let json = call(&task_state, &task_plan, request).await?;
                    Ok(Arc::new(build(
                        &task_state,
                        &task_plan,
                        &task_plan.field.def.ty,
                        json,
                    )))
                });
                state.track(handle.abort_handle());
                let key = plan.field.def.coordinate.clone();
                Slot::Pending(
                    handle
                        .map(move |joined| match joined {
                            Ok(result) => result,
                            Err(e) => Err(FieldError::new(
                                ErrorCode::InternalError,
                                format!("the call for `{key}` was cancelled or panicked: {e}"),
                            )),
                        })
                        .boxed()
                        .shared(),
                )
            }
        },
        FieldSource::Parent(path) => {
            let json = crate::upstream::pluck(parent, path)
                .cloned()
                .unwrap_or(Value::Null);
            Slot::Ready(Ok(Arc::new(build(state, plan, &plan.field.def.ty, json))))
        }
        FieldSource::Arguments => Slot::Ready(Ok(Arc::new(build(
            state,
            plan,
            &plan.field.def.ty,
            Value::Object(plan.args.clone()),
        )))),
    }
}
