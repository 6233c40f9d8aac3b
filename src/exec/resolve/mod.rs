//! Resolving a planned field: make its call, shape the JSON into [`Data`],
//! and start every bound child the moment the JSON it depends on is known.
//! A field is resolved in one place ([`begin`]); the engine's resolver awaits
//! it in line ([`resolve_now`]) and a parent's children run as tasks
//! ([`start`]).
//!
//! Lists of objects are where batching happens ([`batch`]): for a child
//! bound with `batch`, the values of all items go in one request (or
//! `maxSize`-sized requests in parallel), and each item gets its element of
//! the answer.
//!
//! Every call is recorded (timeline, metrics) and traced: its span's parent
//! is the span of the call whose answer it depends on, so a trace shows the
//! dependency tree, and siblings overlap in time.

use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::data::{Data, FieldResult, ObjectData, Resolved, Slot, StaleMark};
use super::plan::Plan;
use super::registry::{CompiledField, OutputKind};
use super::render::{Inputs, render};
use super::state::RequestState;
use super::view::View;
use crate::config::{FieldSource, RestBinding};
use crate::error::{ErrorCode, FieldError};
use crate::telemetry::otel::{self, SPAN_TARGET};
use crate::telemetry::timeline::CallRecord;
use crate::upstream::{CacheStatus, Upstream, UpstreamRequest};

mod batch;
mod entity;
mod facts;
pub(crate) mod graphql;
pub(crate) mod window;

use batch::start_batch;
pub(crate) use facts::call_facts;
pub(crate) use window::Window;

/// Where an object sits: its response path, the call its JSON came from,
/// and that call's span (the parent of its children's spans).
#[derive(Debug, Clone)]
pub(crate) struct Position {
    pub(crate) path: Arc<str>,
    pub(crate) call: Option<usize>,
    pub(crate) span: tracing::Span,
    /// The JSON is a GraphQL upstream's answer, keyed by response key (the
    /// client's aliases), not by field name.
    pub(crate) keyed: bool,
}

impl Position {
    fn child(&self, key: &str) -> Arc<str> {
        if self.path.is_empty() {
            Arc::from(key)
        } else {
            Arc::from(format!("{}.{key}", self.path))
        }
    }

    fn item(&self, index: usize) -> Position {
        Position {
            path: Arc::from(format!("{}.{index}", self.path)),
            call: self.call,
            span: self.span.clone(),
            keyed: self.keyed,
        }
    }

    fn with_path(&self, path: Arc<str>) -> Position {
        Position {
            path,
            call: self.call,
            span: self.span.clone(),
            keyed: self.keyed,
        }
    }
}

/// A call about to be made: where it belongs in the timeline and the trace.
struct CallSite {
    path: Arc<str>,
    /// The object whose children this call is one of.
    join: Arc<str>,
    parent: Position,
    batch: Option<usize>,
}

/// What resolving a field needs next: nothing (its value is known), or its
/// upstream call.
// Made and consumed at once, never stored: boxing the large variant would
// only add an allocation per call.
#[allow(clippy::large_enum_variant)]
enum Begun {
    Ready(FieldResult),
    Call(UpstreamRequest, CallSite),
    /// A `@graphql` field: its upstream request may carry its siblings.
    Graphql,
    /// An `@entity` field: its representations go to the planner.
    Entity,
}

/// Decides how `plan`'s field (at `path`, a child of the object at `parent`
/// whose JSON is `parent_json`) gets its value.
fn begin(
    state: &Arc<RequestState>,
    plan: &Plan,
    parent_json: &View,
    parent: &Position,
    path: Arc<str>,
) -> Begun {
    match &plan.field.def.source {
        FieldSource::Rest(_) => match prepare(state, plan, parent_json.get()) {
            Err(e) => Begun::Ready(Err(e)),
            // A path input is missing: no call, and the field is null.
            Ok(None) => Begun::Ready(Ok(Resolved::fresh(Data::Null))),
            Ok(Some(request)) => Begun::Call(
                request,
                CallSite {
                    path,
                    join: parent.path.clone(),
                    parent: parent.clone(),
                    batch: None,
                },
            ),
        },
        FieldSource::Graphql(_) => Begun::Graphql,
        FieldSource::Entity(_) => Begun::Entity,
        FieldSource::Parent(_) | FieldSource::Arguments | FieldSource::Federated => {
            let json = unbound_json(plan, parent_json, parent.keyed);
            let data = shape(
                state,
                plan,
                &plan.field.def.ty,
                json,
                &parent.with_path(path),
            );
            Begun::Ready(Ok(Resolved::fresh(data)))
        }
    }
}

/// Makes the call and shapes its answer (children started).
async fn call_and_shape(
    state: &Arc<RequestState>,
    plan: &Plan,
    request: UpstreamRequest,
    site: CallSite,
) -> FieldResult {
    let (json, stale, at) = call(state, plan, request, site).await?;
    let data = shape(state, plan, &plan.field.def.ty, json, &at);
    Ok(Resolved {
        data: Arc::new(data),
        stale,
    })
}

/// The engine's entry for a field no parent planned (a root field, or one
/// below an interface or union): plans its subtree from the selection and
/// resolves it now. `path` is its response path; `join` the parent's.
pub(crate) async fn resolve_unplanned(
    state: &Arc<RequestState>,
    field: Arc<CompiledField>,
    args: Map<String, Value>,
    selection: async_graphql::SelectionField<'_>,
    parent_json: Option<(&View, bool)>,
    path: Arc<str>,
    join: Arc<str>,
) -> FieldResult {
    // The parent's JSON, and whether it is keyed by response key.
    let (parent_json, keyed) = match parent_json {
        Some((json, keyed)) => (Some(json), keyed),
        None => (None, false),
    };
    let key = selection.alias().unwrap_or(selection.name()).to_owned();
    let plan = Arc::new(Plan::new(&state.registry, field, key, args, selection));
    // A root field of a GraphQL upstream goes with its siblings.
    if parent_json.is_none() && matches!(plan.field.def.source, FieldSource::Graphql(_)) {
        return graphql::resolve_root(state, &plan).await;
    }
    let parent = Position {
        path: join,
        call: None,
        span: state.span.clone(),
        keyed,
    };
    let null = View::null();
    resolve_now(state, &plan, parent_json.unwrap_or(&null), &parent, path).await
}

/// Resolves `plan`'s field in line: the caller awaits its call.
async fn resolve_now(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent_json: &View,
    parent: &Position,
    path: Arc<str>,
) -> FieldResult {
    match begin(state, plan, parent_json, parent, path.clone()) {
        Begun::Ready(result) => result,
        Begun::Call(request, site) => call_and_shape(state, plan, request, site).await,
        Begun::Graphql => {
            graphql::alone(state, plan, parent_json, parent, path)
                .get()
                .await
        }
        Begun::Entity => {
            entity::alone(state, plan, parent_json, parent, path)
                .get()
                .await
        }
    }
}

/// The value of a field without a call: its part of the parent's JSON, or
/// (a root object field) an object made of its arguments.
fn unbound_json(plan: &Plan, parent_json: &View, keyed: bool) -> View {
    match &plan.field.def.source {
        // A GraphQL upstream's answer carries the client's response keys.
        FieldSource::Parent(_) if keyed => parent_json.at(std::slice::from_ref(&plan.key)),
        FieldSource::Parent(keys) => parent_json.at(keys),
        // The planner assembled the data by response key.
        FieldSource::Federated => parent_json.at(std::slice::from_ref(&plan.key)),
        _ => View::new(Value::Object(plan.args.clone())),
    }
}

fn binding(plan: &Plan) -> Result<(&Arc<RestBinding>, &Arc<Upstream>), FieldError> {
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
    let mut request =
        render(binding, &upstream.config.url, inputs).map_err(|e| match e.upstream {
            Some(_) => e,
            None => e.upstream(upstream.name()),
        })?;
    // A traced request injects each attempt's own context; any other passes
    // the client's trace headers through.
    if let Some(request) = &mut request {
        if state.span.is_none() {
            request.trace = otel::trace_headers(&state.span, &state.headers);
        }
        request.deadline.clone_from(&state.deadline);
    }
    Ok(request)
}

/// Makes the call, records it (timeline, metrics, span), and returns the
/// selected part of the response with where its children sit.
async fn call(
    state: &Arc<RequestState>,
    plan: &Plan,
    request: UpstreamRequest,
    site: CallSite,
) -> Result<(View, Option<StaleMark>, Position), FieldError> {
    let (binding, upstream) = binding(plan)?;
    let spec = plan.field.call.as_ref().ok_or_else(|| {
        FieldError::new(
            ErrorCode::InternalError,
            format!("`{}` has no compiled call", plan.field.def.coordinate),
        )
    })?;
    call_with(
        state,
        upstream,
        spec,
        &plan.field.def.coordinate,
        &binding.select,
        request,
        site,
    )
    .await
}

/// [`call`] for a call of `upstream` with `spec` made for `coordinate`,
/// whose value is the answer's part at `select`.
async fn call_with(
    state: &Arc<RequestState>,
    upstream: &Arc<Upstream>,
    spec: &Arc<crate::upstream::CallSpec>,
    coordinate: &str,
    select: &[String],
    request: UpstreamRequest,
    site: CallSite,
) -> Result<(View, Option<StaleMark>, Position), FieldError> {
    let (id, start) = state.recorder.begin();
    // No operation span: this request is not sampled, so no field spans.
    let span = if site.parent.span.is_none() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
        target: SPAN_TARGET,
        parent: &site.parent.span,
        "graphql.field",
        otel.name = %site.path,
        graphql.field.path = %site.path,
        graphql.field.coordinate = %coordinate,
        tributary.upstream = %upstream.name(),
        tributary.cache = tracing::field::Empty,
        tributary.batch.size = site.batch.and_then(|n| i64::try_from(n).ok()),
        )
    };
    let result = state
        .fetch(upstream, spec, request)
        .instrument(span.clone())
        .await;
    let duration = state.recorder.t0.elapsed().saturating_sub(start);
    let (outcome, status, attempts, cache) = call_facts(&result);
    span.record("tributary.cache", cache.as_str());
    state.recorder.finish(CallRecord {
        id,
        parent: site.parent.call,
        path: site.path.clone(),
        join: site.join,
        upstream: upstream.label.clone(),
        start,
        duration,
        outcome,
        status,
        attempts,
        cache,
        breaker: upstream.guard.breaker_state(),
        batch_size: site.batch,
    });
    // Only calls that reached the network (or failed) are upstream latency.
    if attempts > 0 || result.is_err() {
        state
            .metrics
            .upstream_call(upstream.name(), outcome, duration);
    }
    let fetched = result?;
    let stale = match fetched.cache {
        CacheStatus::Stale(age) => Some(StaleMark {
            upstream: Arc::from(upstream.name()),
            age,
        }),
        _ => None,
    };
    // A view into the shared answer: nothing is copied.
    let value = View::root(fetched.value).at(select);
    let at = Position {
        path: site.path,
        call: Some(id),
        span,
        keyed: false,
    };
    Ok((value, stale, at))
}

/// One subscription event, the value of `plan`'s root field: shaped by the
/// field's type, its bound children started under `state` (the event's own).
pub(crate) fn shape_event(state: &Arc<RequestState>, plan: &Plan, json: View) -> Data {
    let at = Position {
        path: Arc::from(plan.key.as_str()),
        call: None,
        span: state.span.clone(),
        keyed: false,
    };
    shape(state, plan, &plan.field.def.ty, json, &at)
}

/// Renders a root field's request (no parent); `None` when a path input is
/// missing.
pub(crate) fn root_request(
    state: &RequestState,
    plan: &Plan,
) -> Result<Option<UpstreamRequest>, FieldError> {
    prepare(state, plan, &Value::Null)
}

/// Shapes `json` (the value at `at`) by the field's type: objects get their
/// children started.
fn shape(state: &Arc<RequestState>, plan: &Plan, ty: &Type, json: View, at: &Position) -> Data {
    if state.registry.has_entities {
        entity::scope(state, || shape_value(state, plan, ty, json, at))
    } else {
        shape_value(state, plan, ty, json, at)
    }
}

fn shape_value(
    state: &Arc<RequestState>,
    plan: &Plan,
    ty: &Type,
    json: View,
    at: &Position,
) -> Data {
    let composite = is_composite(&plan.field.out);
    match (&ty.base, json.get()) {
        (_, Value::Null) => Data::Null,
        (BaseType::List(inner), Value::Array(items)) if composite => {
            let len = items.len();
            if matches!(inner.base, BaseType::Named(_)) {
                shape_objects(state, plan, inner, &json, len, at)
            } else {
                Data::List(
                    (0..len)
                        .map(|i| shape(state, plan, inner, json.index(i), &at.item(i)))
                        .collect(),
                )
            }
        }
        (BaseType::Named(_), Value::Object(_)) if composite => {
            let mut children = start_children(state, plan, &json, at);
            for child in batched(plan) {
                if let Some(slot) = start_batch(state, child, &[Some(json.get())], at)
                    .pop()
                    .flatten()
                {
                    children.push((child.key.clone(), slot));
                }
            }
            let parents = [Some(json.get())];
            let out = std::slice::from_mut(&mut children);
            graphql::children(state, plan, &parents, at, false, out);
            entity::children(state, plan, &parents, at, false, out);
            Data::Object(Arc::new(ObjectData {
                json,
                children,
                keyed: at.keyed,
            }))
        }
        // Scalars, enums, and values of the wrong shape: the resolver coerces
        // them and reports what does not fit.
        _ => Data::Leaf(json),
    }
}

/// A list of objects: each item's children start, and batched children
/// start once for all items.
fn shape_objects(
    state: &Arc<RequestState>,
    plan: &Plan,
    item_ty: &Type,
    list: &View,
    len: usize,
    at: &Position,
) -> Data {
    let unbatched = plan
        .children
        .iter()
        .any(|c| c.batch().is_none() && !grouped(c));
    let mut objects: Vec<Result<ObjectData, View>> = (0..len)
        .map(|i| {
            let json = list.index(i);
            if !json.get().is_object() {
                return Err(json);
            }
            let children = if unbatched {
                start_children(state, plan, &json, &at.item(i))
            } else {
                Vec::new()
            };
            Ok(ObjectData {
                json,
                children,
                keyed: at.keyed,
            })
        })
        .collect();
    for child in batched(plan) {
        let parents: Vec<Option<&Value>> = objects
            .iter()
            .map(|o| o.as_ref().ok().map(|o| o.json.get()))
            .collect();
        let slots = start_batch(state, child, &parents, at);
        for (object, slot) in objects.iter_mut().zip(slots) {
            if let (Ok(object), Some(slot)) = (object, slot) {
                object.children.push((child.key.clone(), slot));
            }
        }
    }
    let parents: Vec<Option<&Value>> = objects
        .iter()
        .map(|o| o.as_ref().ok().map(|o| o.json.get()))
        .collect();
    let mut bound: Vec<Vec<(String, Slot)>> = (0..len).map(|_| Vec::new()).collect();
    graphql::children(state, plan, &parents, at, true, &mut bound);
    entity::children(state, plan, &parents, at, true, &mut bound);
    for (object, slots) in objects.iter_mut().zip(bound) {
        if let Ok(object) = object {
            object.children.extend(slots);
        }
    }
    Data::List(
        objects
            .into_iter()
            .map(|o| match o {
                Ok(object) => Data::Object(Arc::new(object)),
                Err(other) => shape(state, plan, item_ty, other, at),
            })
            .collect(),
    )
}

fn is_composite(out: &OutputKind) -> bool {
    matches!(out, OutputKind::Object | OutputKind::Abstract)
}

/// A child started for all its parents at once: a GraphQL upstream's
/// field, or an entity.
fn grouped(plan: &Plan) -> bool {
    graphql::is_bound(plan) || entity::is_bound(plan)
}

fn batched(plan: &Plan) -> impl Iterator<Item = &Arc<Plan>> {
    plan.children.iter().filter(|c| c.batch().is_some())
}

/// Starts every planned child of an object whose JSON is `json`, except the
/// batched ones, which the caller starts for all its objects at once.
fn start_children(
    state: &Arc<RequestState>,
    plan: &Plan,
    json: &View,
    at: &Position,
) -> Vec<(String, Slot)> {
    plan.children
        .iter()
        .filter(|child| child.batch().is_none() && !grouped(child))
        .map(|child| (child.key.clone(), start(state, child, json, at)))
        .collect()
}

/// Resolves `plan`'s field as a task of its own (when it makes a call), so
/// it proceeds while the engine resolves other fields.
fn start(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent_json: &View,
    parent: &Position,
) -> Slot {
    let path = parent.child(&plan.key);
    match begin(state, plan, parent_json, parent, path.clone()) {
        Begun::Ready(result) => Slot::Ready(result),
        Begun::Graphql => graphql::alone(state, plan, parent_json, parent, path),
        Begun::Entity => entity::alone(state, plan, parent_json, parent, path),
        Begun::Call(request, site) => {
            let task_state = state.clone();
            let task_plan = plan.clone();
            Slot::Pending(spawn(state, &plan.field.def.coordinate, async move {
                call_and_shape(&task_state, &task_plan, request, site).await
            }))
        }
    }
}

/// Runs `work` as its own task (so it proceeds while the engine resolves
/// other fields), cancelled with the request.
fn spawn<T: Clone + Send + Sync + 'static>(
    state: &RequestState,
    coordinate: &str,
    work: impl std::future::Future<Output = Result<T, FieldError>> + Send + 'static,
) -> Shared<BoxFuture<'static, Result<T, FieldError>>> {
    // Boxed: the task then stores a pointer, not the whole (large) state
    // machine, so storing and reading its output copies little.
    let handle = tokio::spawn(Box::pin(work));
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
