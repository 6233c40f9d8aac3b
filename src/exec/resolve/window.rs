//! Cross-request batching (`batch: { window: "1ms" }`): the keys a batched
//! field needs, from every request in flight during the window, go to the
//! upstream together, split at `maxSize`, and each request gets back the
//! elements of its own keys and shapes them under its own state.
//!
//! The loader is async-graphql's [`DataLoader`], one per batched binding,
//! built when the schema loads and shared by every request: the first key
//! of a batch starts the window, the keys that arrive before it closes (or
//! until `maxSize` are waiting) are loaded together, and identical keys are
//! sent once. Keys are grouped by the request the binding renders for them
//! without the batched value ([`Group`]): two requests whose calls differ in
//! anything else (a forwarded credential, a header, an argument) are never
//! sent together. A request's deadline still holds: it waits for its keys
//! at most until its deadline, and the shared call gets the latest deadline
//! of the requests in it (none if one of them has none).

// Keys hold their group, whose request state has interior mutability;
// equality and hashing read only the group's identity bytes and the key's
// text, which never change.
#![allow(clippy::mutable_key_type)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::runtime::TokioTimer;
use serde_json::Value;
use tracing::Instrument;

use super::batch::{batch_request, key_text};
use super::facts::call_facts;
use super::{Position, shape, spawn};
use crate::config::BatchConfig;
use crate::error::{ErrorCode, FieldError};
use crate::exec::crossbatch::{
    GroupId, Grouped, Key, SharedFacts, Spawner, latest, load_grouped, requests, within_deadline,
};
use crate::exec::data::{BatchAnswer, SharedBatch, StaleMark};
use crate::exec::plan::Plan;
use crate::exec::render::pluck;
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::telemetry::otel::SPAN_TARGET;
use crate::telemetry::timeline::CallRecord;
use crate::upstream::Deadline;

/// The shared loader of one batched binding.
pub(crate) struct Window {
    loader: DataLoader<WindowLoader>,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window").finish_non_exhaustive()
    }
}

impl Window {
    pub(crate) fn new(batch: &BatchConfig, window: Duration) -> Window {
        let loader = DataLoader::new(
            WindowLoader {
                max_size: batch.max_size,
            },
            Spawner,
            TokioTimer::default(),
        )
        .delay(window)
        .max_batch_size(batch.max_size);
        Window { loader }
    }
}

/// What keeps two requests' keys apart: the binding's request rendered for
/// one of them without the batched value. The first request of a group
/// renders the shared call (its headers, arguments and trace).
pub(super) struct Group {
    id: GroupId,
    state: Arc<RequestState>,
    plan: Arc<Plan>,
    span: tracing::Span,
}

impl Grouped for Group {
    fn id(&self) -> &GroupId {
        &self.id
    }
}

type WindowKey = Key<Group>;

/// One shared call's result, as each of its keys sees it.
struct Chunk {
    result: Result<Option<StaleMark>, FieldError>,
    facts: SharedFacts,
}

/// A key's element of its call's answer (`None`: the answer has no element
/// with that key).
#[derive(Clone)]
pub(super) struct Answered {
    chunk: Arc<Chunk>,
    element: Option<View>,
}

struct WindowLoader {
    max_size: usize,
}

impl Loader<WindowKey> for WindowLoader {
    type Value = Answered;
    type Error = Infallible;

    async fn load(&self, keys: &[WindowKey]) -> Result<HashMap<WindowKey, Answered>, Infallible> {
        Ok(load_grouped(keys, self.max_size, shared_call).await)
    }
}

/// Makes one call for `keys` (of one group) and hands each key its element.
async fn shared_call(keys: Vec<&WindowKey>) -> Vec<(WindowKey, Answered)> {
    let group = &keys[0].group;
    let plan = &group.plan;
    let requests = requests(&keys);
    let values: Vec<Value> = keys.iter().map(|k| k.value.clone()).collect();
    let (result, elements) = match plan.batch() {
        Some(batch) => {
            call_for(
                group,
                batch,
                &values,
                latest(keys.iter().map(|k| &k.deadline)),
                requests,
            )
            .await
        }
        None => (
            Err(FieldError::new(ErrorCode::InternalError, "not batched")),
            HashMap::new(),
        ),
    };
    let facts = SharedFacts::of(&result, requests);
    let chunk = Arc::new(Chunk {
        result: result.map(|fetched| match fetched.cache {
            crate::upstream::CacheStatus::Stale(age) => Some(StaleMark {
                upstream: Arc::from(fetched_upstream(plan)),
                age,
            }),
            _ => None,
        }),
        facts,
    });
    keys.iter()
        .map(|key| {
            let element = elements.get(&*key.text).cloned();
            let answered = Answered {
                chunk: chunk.clone(),
                element,
            };
            ((*key).clone(), answered)
        })
        .collect()
}

fn fetched_upstream(plan: &Plan) -> &str {
    plan.field.upstream.as_ref().map_or("", |u| u.name())
}

/// The call itself: rendered for the group's first request with `values`,
/// recorded in the upstream's metrics once, and its answer's elements by key.
async fn call_for(
    group: &Group,
    batch: &BatchConfig,
    values: &[Value],
    deadline: Option<Deadline>,
    requests: usize,
) -> (
    Result<crate::upstream::Fetched, FieldError>,
    HashMap<String, View>,
) {
    let plan = &group.plan;
    let (Some(upstream), Some(spec), crate::config::FieldSource::Rest(binding)) = (
        &plan.field.upstream,
        &plan.field.call,
        &plan.field.def.source,
    ) else {
        let error = FieldError::new(ErrorCode::InternalError, "a batched field without a call");
        return (Err(error), HashMap::new());
    };
    let mut request = match batch_request(&group.state, plan, batch, values) {
        Ok(request) => request,
        Err(e) => return (Err(e), HashMap::new()),
    };
    request.deadline = deadline;
    let span = if group.span.is_none() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            target: SPAN_TARGET,
            parent: &group.span,
            "graphql.batch",
            otel.name = %format!("batch {}", plan.field.def.coordinate),
            graphql.field.coordinate = %plan.field.def.coordinate,
            tributary.upstream = %upstream.name(),
            tributary.batch.size = i64::try_from(values.len()).unwrap_or(i64::MAX),
            tributary.batch.requests = i64::try_from(requests).unwrap_or(i64::MAX),
        )
    };
    let start = Instant::now();
    let result = upstream.call(&request, spec, None).instrument(span).await;
    let (outcome, _, attempts, _) = call_facts(&result);
    if attempts > 0 || result.is_err() {
        group
            .state
            .metrics
            .upstream_call(upstream.name(), outcome, start.elapsed());
    }
    let Ok(fetched) = result else {
        return (result, HashMap::new());
    };
    let answer = View::root(fetched.value.clone()).at(&binding.select);
    let Value::Array(items) = answer.get() else {
        let error = FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!(
                "{}: a batched call must answer a JSON list",
                plan.field.def.coordinate
            ),
        )
        .upstream(upstream.name());
        return (Err(error), HashMap::new());
    };
    let mut elements = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(key) = pluck(item, &batch.key).and_then(key_text) {
            elements.entry(key).or_insert_with(|| answer.index(i));
        }
    }
    (Ok(fetched), elements)
}

/// This request's part of the shared batches of `plan`'s field: its
/// distinct `keys` join the window, and the answer it gets is shaped under
/// its own state (children started), one element per key.
pub(super) fn join(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    window: &Arc<Window>,
    keys: Vec<Value>,
    at: &Position,
) -> SharedBatch {
    let path: Arc<str> = Arc::from(format!("{}.*.{}", at.path, plan.key));
    let span = if at.span.is_none() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            target: SPAN_TARGET,
            parent: &at.span,
            "graphql.field",
            otel.name = %path,
            graphql.field.path = %path,
            graphql.field.coordinate = %plan.field.def.coordinate,
            tributary.upstream = %fetched_upstream(plan),
            tributary.batch.size = i64::try_from(keys.len()).unwrap_or(i64::MAX),
            tributary.batch.window = true,
        )
    };
    let task_state = state.clone();
    let task_plan = plan.clone();
    let window = window.clone();
    let at = at.clone();
    spawn(state, &plan.field.def.coordinate, async move {
        let state = task_state;
        let plan = task_plan;
        let batch = plan
            .batch()
            .ok_or_else(|| FieldError::new(ErrorCode::InternalError, "not batched"))?;
        // Its share of the calls: one per `maxSize` of its own keys.
        for _ in 0..keys.len().div_ceil(batch.max_size) {
            state.budget.call()?;
        }
        let template = batch_request(&state, &plan, batch, &[])?;
        let group = Arc::new(Group {
            id: GroupId::of(&template),
            state: state.clone(),
            plan: plan.clone(),
            span: span.clone(),
        });
        let asked = keys.len();
        let window_keys: Vec<WindowKey> = keys
            .into_iter()
            .filter_map(|value| {
                Some(WindowKey {
                    group: group.clone(),
                    text: Arc::from(key_text(&value)?),
                    value,
                    deadline: state.deadline.clone(),
                })
            })
            .collect();
        drop(group);
        let (id, start) = state.recorder.begin();
        let load = window
            .loader
            .load_many(window_keys)
            .instrument(span.clone());
        let loaded = within_deadline(state.deadline.as_ref(), load).await;
        let call = Call {
            id,
            start,
            asked,
            position: Position {
                path: path.clone(),
                call: Some(id),
                span,
                keyed: false,
            },
        };
        answer(&state, &plan, loaded, &at, call)
    })
}

/// The request's wait for its keys: its timeline record and where its
/// elements sit.
struct Call {
    id: usize,
    start: Duration,
    asked: usize,
    position: Position,
}

/// Builds the request's [`BatchAnswer`] from its keys' elements (`None`:
/// its deadline passed first) and records its wait in the timeline.
fn answer(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    loaded: Option<HashMap<WindowKey, Answered>>,
    parent: &Position,
    call: Call,
) -> Result<Arc<BatchAnswer>, FieldError> {
    let Some(loaded) = loaded else {
        record(state, plan, parent, &call, None);
        let error = FieldError::new(
            ErrorCode::UpstreamTimeout,
            format!(
                "the request's deadline passed while `{}` waited for its batch",
                plan.field.def.coordinate
            ),
        );
        return Err(match plan.field.upstream.as_ref() {
            Some(u) => error.upstream(u.name()),
            None => error,
        });
    };
    let mut items = HashMap::with_capacity(loaded.len());
    let mut failed = HashMap::new();
    let mut stale = None;
    for (key, answered) in &loaded {
        match &answered.chunk.result {
            Ok(mark) => {
                if let Some(element) = &answered.element {
                    let data = shape(
                        state,
                        plan,
                        &plan.field.def.ty,
                        element.clone(),
                        &call.position,
                    );
                    items.insert(key.text.to_string(), Arc::new(data));
                }
                if stale.is_none() {
                    stale.clone_from(mark);
                }
            }
            Err(e) => {
                failed.insert(key.text.to_string(), e.clone());
            }
        }
    }
    let chunk = loaded.values().next().map(|a| a.chunk.clone());
    record(state, plan, parent, &call, chunk);
    Ok(Arc::new(BatchAnswer {
        items,
        failed,
        stale,
    }))
}

fn record(
    state: &RequestState,
    plan: &Plan,
    parent: &Position,
    call: &Call,
    chunk: Option<Arc<Chunk>>,
) {
    let Some(upstream) = plan.field.upstream.as_ref() else {
        return;
    };
    let (outcome, status, attempts, cache) = SharedFacts::seen(chunk.as_ref().map(|c| &c.facts));
    state.recorder.finish(CallRecord {
        id: call.id,
        parent: parent.call,
        path: call.position.path.clone(),
        join: parent.path.clone(),
        upstream: upstream.label.clone(),
        start: call.start,
        duration: state.recorder.t0.elapsed().saturating_sub(call.start),
        outcome,
        status,
        attempts,
        cache,
        breaker: upstream.guard.breaker_state(),
        batch_size: Some(call.asked),
    });
}
