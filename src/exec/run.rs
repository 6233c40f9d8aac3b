//! Executing a plan: make a field's call, shape its JSON into [`Data`], and
//! start every bound child the moment the JSON it depends on is known.
//!
//! Lists of objects are where batching happens: for a child bound with
//! `batch`, the values of all items go in one request (or `maxSize`-sized
//! requests in parallel), and each item gets its element of the answer.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::{Map, Value};

use super::data::{Data, FieldResult, ObjectData, Resolved, Slot, StaleMark};
use super::plan::Plan;
use super::registry::Out;
use super::state::RequestState;
use crate::config::{BatchConfig, FieldSource, OnError, RestBinding};
use crate::error::{ErrorCode, FieldError};
use crate::upstream::{CacheStatus, Inputs, UpstreamRequest, pluck, render};

/// Executes `plan`'s field against its parent's JSON, now.
pub(crate) async fn execute(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent: &Value,
) -> FieldResult {
    let (json, stale) = match &plan.field.def.source {
        FieldSource::Rest(_) => match prepare(state, plan, parent)? {
            None => return Ok(Resolved::fresh(Data::Null)),
            Some(request) => call(state, plan, request).await?,
        },
        FieldSource::Parent(path) => (pluck(parent, path).cloned().unwrap_or(Value::Null), None),
        FieldSource::Arguments => (Value::Object(plan.args.clone()), None),
    };
    Ok(Resolved {
        data: Arc::new(build(state, plan, &plan.field.def.ty, json)),
        stale,
    })
}

fn binding(
    plan: &Plan,
) -> Result<(&Arc<RestBinding>, &Arc<crate::upstream::Upstream>), FieldError> {
    match (&plan.field.def.source, &plan.field.upstream) {
        (FieldSource::Rest(binding), Some(upstream)) => Ok((binding, upstream)),
        _ => Err(FieldError::new(
            ErrorCode::InternalError,
            format!("`{}` has no upstream", plan.field.def.coordinate),
        )),
    }
}

/// Renders the field's request; `None` when a path input is missing.
fn prepare(
    state: &RequestState,
    plan: &Plan,
    parent: &Value,
) -> Result<Option<UpstreamRequest>, FieldError> {
    let (binding, upstream) = binding(plan)?;
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
) -> Result<(Value, Option<StaleMark>), FieldError> {
    let (binding, upstream) = binding(plan)?;
    let keep_last_good = matches!(plan.field.def.on_error, OnError::Stale { .. });
    let fetched = state
        .fetch(upstream, binding, request, keep_last_good)
        .await?;
    let stale = match fetched.cache {
        CacheStatus::Stale(age) => Some(StaleMark {
            upstream: Arc::from(upstream.name()),
            age,
        }),
        _ => None,
    };
    let value = pluck(&fetched.value, &binding.select)
        .cloned()
        .unwrap_or(Value::Null);
    Ok((value, stale))
}

/// Shapes `json` by the field's type: objects get their children started.
pub(crate) fn build(state: &Arc<RequestState>, plan: &Plan, ty: &Type, json: Value) -> Data {
    match (&ty.base, json) {
        (_, Value::Null) => Data::Null,
        (BaseType::List(inner), Value::Array(items)) if is_composite(&plan.field.out) => {
            if matches!(inner.base, BaseType::Named(_)) {
                build_objects(state, plan, inner, items)
            } else {
                Data::List(
                    items
                        .into_iter()
                        .map(|item| build(state, plan, inner, item))
                        .collect(),
                )
            }
        }
        (BaseType::Named(_), json @ Value::Object(_)) if is_composite(&plan.field.out) => {
            let mut children = start_children(state, plan, &json);
            for child in batched(plan) {
                if let Some(slot) = start_batch(state, child, &[Some(&json)]).pop().flatten() {
                    children.push((child.key.clone(), slot));
                }
            }
            Data::Object(Arc::new(ObjectData { json, children }))
        }
        // Scalars, enums, and values of the wrong shape: the resolver coerces
        // them and reports what does not fit.
        (_, json) => Data::Leaf(json),
    }
}

/// A list of objects: each item's children start, and batched children
/// start once for all items.
fn build_objects(
    state: &Arc<RequestState>,
    plan: &Plan,
    item_ty: &Type,
    items: Vec<Value>,
) -> Data {
    let mut objects: Vec<Result<ObjectData, Value>> = items
        .into_iter()
        .map(|json| match json {
            Value::Object(_) => Ok(ObjectData {
                children: start_children(state, plan, &json),
                json,
            }),
            other => Err(other),
        })
        .collect();
    for child in batched(plan) {
        let parents: Vec<Option<&Value>> = objects
            .iter()
            .map(|o| o.as_ref().ok().map(|o| &o.json))
            .collect();
        let slots = start_batch(state, child, &parents);
        for (object, slot) in objects.iter_mut().zip(slots) {
            if let (Ok(object), Some(slot)) = (object, slot) {
                object.children.push((child.key.clone(), slot));
            }
        }
    }
    Data::List(
        objects
            .into_iter()
            .map(|o| match o {
                Ok(object) => Data::Object(Arc::new(object)),
                Err(other) => build(state, plan, item_ty, other),
            })
            .collect(),
    )
}

fn is_composite(out: &Out) -> bool {
    matches!(out, Out::Object | Out::Abstract)
}

fn batched(plan: &Plan) -> impl Iterator<Item = &Arc<Plan>> {
    plan.children.iter().filter(|c| batch_of(c).is_some())
}

fn batch_of(plan: &Plan) -> Option<&BatchConfig> {
    match &plan.field.def.source {
        FieldSource::Rest(binding) => binding.batch.as_ref(),
        _ => None,
    }
}

/// Starts every planned child of an object whose JSON is `json`, except the
/// batched ones, which the caller starts for all its objects at once.
fn start_children(state: &Arc<RequestState>, plan: &Plan, json: &Value) -> Vec<(String, Slot)> {
    plan.children
        .iter()
        .filter(|child| batch_of(child).is_none())
        .map(|child| (child.key.clone(), start(state, child, json)))
        .collect()
}

fn start(state: &Arc<RequestState>, plan: &Arc<Plan>, parent: &Value) -> Slot {
    match &plan.field.def.source {
        FieldSource::Rest(_) => match prepare(state, plan, parent) {
            Err(e) => Slot::Ready(Err(e)),
            Ok(None) => Slot::Ready(Ok(Resolved::fresh(Data::Null))),
            Ok(Some(request)) => {
                let task_state = state.clone();
                let task_plan = plan.clone();
                let pending = spawn(state, &plan.field.def.coordinate, async move {
                    let (json, stale) = call(&task_state, &task_plan, request).await?;
                    Ok(Resolved {
                        data: Arc::new(build(
                            &task_state,
                            &task_plan,
                            &task_plan.field.def.ty,
                            json,
                        )),
                        stale,
                    })
                });
                Slot::Pending(pending)
            }
        },
        FieldSource::Parent(path) => {
            let json = pluck(parent, path).cloned().unwrap_or(Value::Null);
            Slot::Ready(Ok(Resolved::fresh(build(
                state,
                plan,
                &plan.field.def.ty,
                json,
            ))))
        }
        FieldSource::Arguments => Slot::Ready(Ok(Resolved::fresh(build(
            state,
            plan,
            &plan.field.def.ty,
            Value::Object(plan.args.clone()),
        )))),
    }
}

/// Runs `work` as its own task (so it proceeds while the engine resolves
/// other fields), cancelled with the request.
fn spawn<T: Clone + Send + Sync + 'static>(
    state: &RequestState,
    coordinate: &str,
    work: impl std::future::Future<Output = Result<T, FieldError>> + Send + 'static,
) -> Shared<BoxFuture<'static, Result<T, FieldError>>> {
    let handle = tokio::spawn(work);
    state.track(handle.abort_handle());
    let coordinate = coordinate.to_owned();
    handle
        .map(move |joined| match joined {
            Ok(result) => result,
            Err(e) => Err(FieldError::new(
                ErrorCode::InternalError,
                format!("the call for `{coordinate}` was cancelled or panicked: {e}"),
            )),
        })
        .boxed()
        .shared()
}

/// The text a key value is matched by: `7` and `"7"` are the same key.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One batched child for many parents: a slot per parent (`None` for a
/// parent that is not an object).
fn start_batch(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parents: &[Option<&Value>],
) -> Vec<Option<Slot>> {
    let Some(batch) = batch_of(plan) else {
        return parents.iter().map(|_| None).collect();
    };
    // Each parent's key, and the distinct keys in first-seen order.
    let mut keys: Vec<Option<String>> = Vec::with_capacity(parents.len());
    let mut distinct: Vec<Value> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for parent in parents {
        let value = parent
            .and_then(|p| pluck(p, &batch.input.path))
            .filter(|v| !v.is_null());
        let key = value.and_then(|v| {
            let text = key_text(v)?;
            if !seen.contains_key(&text) {
                seen.insert(text.clone(), distinct.len());
                distinct.push(v.clone());
            }
            Some(text)
        });
        keys.push(key);
    }
    // One request per `maxSize` keys, all at once.
    let chunks: Vec<SharedBatch> = distinct
        .chunks(batch.max_size)
        .map(|chunk| {
            let request = batch_request(state, plan, batch, chunk);
            let task_state = state.clone();
            let task_plan = plan.clone();
            spawn(state, &plan.field.def.coordinate, async move {
                let request = request?;
                let (json, stale) = call(&task_state, &task_plan, request).await?;
                batch_answer(&task_state, &task_plan, json, stale).map(Arc::new)
            })
        })
        .collect();
    parents
        .iter()
        .zip(keys)
        .map(|(parent, key)| {
            (*parent)?;
            let Some(key) = key else {
                return Some(Slot::Ready(Ok(Resolved::fresh(Data::Null))));
            };
            let chunk = seen.get(&key).map_or(0, |i| i / batch.max_size);
            let answer = chunks.get(chunk)?.clone();
            let coordinate = plan.field.def.coordinate.clone();
            let key_path = batch.key.join(".");
            Some(Slot::Pending(
                async move {
                    let answer = answer.await?;
                    match answer.items.get(&key) {
                        Some(data) => Ok(Resolved {
                            data: data.clone(),
                            stale: answer.stale.clone(),
                        }),
                        None => Err(FieldError::new(
                            ErrorCode::UpstreamBadResponse,
                            format!("{coordinate}: the batched answer has no element with {key_path} = {key}"),
                        )),
                    }
                }
                .boxed()
                .shared(),
            ))
        })
        .collect()
}

type SharedBatch = Shared<BoxFuture<'static, Result<Arc<BatchAnswer>, FieldError>>>;

/// A batched call's elements, by key, each built (children started).
#[derive(Debug)]
struct BatchAnswer {
    items: HashMap<String, Arc<Data>>,
    stale: Option<StaleMark>,
}

fn batch_answer(
    state: &Arc<RequestState>,
    plan: &Plan,
    json: Value,
    stale: Option<StaleMark>,
) -> Result<BatchAnswer, FieldError> {
    let batch =
        batch_of(plan).ok_or_else(|| FieldError::new(ErrorCode::InternalError, "not batched"))?;
    let Value::Array(elements) = json else {
        return Err(FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!(
                "{}: a batched call must answer a JSON list",
                plan.field.def.coordinate
            ),
        ));
    };
    let item_ty = &plan.field.def.ty;
    let mut items = HashMap::with_capacity(elements.len());
    for element in elements {
        if let Some(key) = pluck(&element, &batch.key).and_then(key_text) {
            items
                .entry(key)
                .or_insert_with(|| Arc::new(build(state, plan, item_ty, element)));
        }
    }
    Ok(BatchAnswer { items, stale })
}

/// The request for one chunk of keys: the batched placeholder gets the list
/// (or the list joined with `join`).
fn batch_request(
    state: &RequestState,
    plan: &Plan,
    batch: &BatchConfig,
    keys: &[Value],
) -> Result<UpstreamRequest, FieldError> {
    let value = match &batch.join {
        Some(sep) => Value::String(
            keys.iter()
                .filter_map(key_text)
                .collect::<Vec<_>>()
                .join(sep),
        ),
        None => Value::Array(keys.to_vec()),
    };
    // A parent object holding just the batched value at its path.
    let parent = batch.input.path.iter().rev().fold(value, |inner, key| {
        Value::Object(Map::from_iter([(key.clone(), inner)]))
    });
    prepare(state, plan, &parent)?.ok_or_else(|| {
        FieldError::new(
            ErrorCode::InternalError,
            format!(
                "{}: the batched request has a path input",
                plan.field.def.coordinate
            ),
        )
    })
}
