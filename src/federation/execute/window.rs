//! Entity fetches across requests (`entityBatch: { window, maxSize }` on a
//! subgraph's `@upstream`): the representations that concurrent requests
//! send to the same subgraph with the same fetch (document, other variables
//! and forwarded headers) go in one `_entities` call, split at `maxSize`;
//! each request gets back a response of its own (its entities in its
//! order, the errors at their paths renumbered for it) and merges it as if
//! it had made the call itself.
//!
//! Built like the REST bindings' windows (`exec::resolve::window`): one
//! async-graphql `DataLoader` per subgraph, keys grouped by the request the
//! fetch renders without its representations, equal representations of a
//! group sent once, and a request waiting no longer than its deadline.

// Keys hold their group, whose request state has interior mutability;
// equality and hashing read only the group's identity bytes and the key's
// text, which never change.
#![allow(clippy::mutable_key_type)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::runtime::TokioTimer;
use bytes::Bytes;
use serde_json::{Map, Value as Json};
use tracing::Instrument;

use crate::config::EntityBatchPolicy;
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;
use crate::exec::crossbatch::{
    GroupId, Grouped, Key, SharedFacts, Spawner, latest, load_grouped, requests, within_deadline,
};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::otel::SPAN_TARGET;
use crate::telemetry::timeline::CallRecord;
use crate::upstream::{CallSpec, Upstream, UpstreamRequest};

/// A subgraph's shared loader of entities.
pub(crate) struct EntityWindow {
    loader: DataLoader<EntityLoader>,
}

impl std::fmt::Debug for EntityWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityWindow").finish_non_exhaustive()
    }
}

impl EntityWindow {
    pub(crate) fn new(policy: &EntityBatchPolicy) -> EntityWindow {
        let loader = DataLoader::new(
            EntityLoader {
                max_size: policy.max_size,
            },
            Spawner,
            TokioTimer::default(),
        )
        .delay(policy.window)
        .max_batch_size(policy.max_size);
        EntityWindow { loader }
    }
}

/// One fetch of one request: what it sends besides its representations.
struct Group {
    id: GroupId,
    /// The fetch's request with no representations (its headers are the
    /// first request's forwarded headers).
    template: UpstreamRequest,
    document: String,
    variables: Map<String, Json>,
    upstream: Arc<Upstream>,
    spec: Arc<CallSpec>,
    metrics: Arc<Metrics>,
    span: tracing::Span,
}

impl Grouped for Group {
    fn id(&self) -> &GroupId {
        &self.id
    }
}

/// A representation of one request: its text makes it equal to another of
/// the group; its value is the representation.
type EntityKey = Key<Group>;

/// One shared `_entities` call.
struct EntityCall {
    body: Result<Json, FieldError>,
    facts: SharedFacts,
}

/// A representation's place in its call's answer.
#[derive(Clone)]
struct Placed {
    call: Arc<EntityCall>,
    index: usize,
}

struct EntityLoader {
    max_size: usize,
}

impl Loader<EntityKey> for EntityLoader {
    type Value = Placed;
    type Error = Infallible;

    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, Placed>, Infallible> {
        Ok(load_grouped(keys, self.max_size, shared_call).await)
    }
}

async fn shared_call(keys: Vec<&EntityKey>) -> Vec<(EntityKey, Placed)> {
    let group = &keys[0].group;
    let requests = requests(&keys);
    let mut variables = group.variables.clone();
    variables.insert(
        "representations".to_owned(),
        Json::Array(keys.iter().map(|k| k.value.clone()).collect()),
    );
    let mut body = Map::new();
    body.insert("query".to_owned(), Json::String(group.document.clone()));
    body.insert("variables".to_owned(), Json::Object(variables));
    let mut request = group.template.clone();
    request.body = serde_json::to_vec(&Json::Object(body))
        .ok()
        .map(Bytes::from);
    request.deadline = latest(keys.iter().map(|k| &k.deadline));
    let upstream = &group.upstream;
    let span = if group.span.is_none() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            target: SPAN_TARGET,
            parent: &group.span,
            "federation.batch",
            otel.name = %format!("{} _entities (shared)", upstream.name()),
            otel.kind = "client",
            tributary.upstream = %upstream.name(),
            tributary.representations = i64::try_from(keys.len()).unwrap_or(i64::MAX),
            tributary.batch.requests = i64::try_from(requests).unwrap_or(i64::MAX),
        )
    };
    let start = Instant::now();
    let result = upstream
        .call(&request, &group.spec, None)
        .instrument(span)
        .await;
    let facts = SharedFacts::of(&result, requests);
    if facts.attempts > 0 || result.is_err() {
        group
            .metrics
            .upstream_call(upstream.name(), facts.outcome, start.elapsed());
    }
    let body = result.map(|f| Json::clone(&f.value));
    let call = Arc::new(EntityCall { body, facts });
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            let placed = Placed {
                call: call.clone(),
                index,
            };
            ((*key).clone(), placed)
        })
        .collect()
}

/// What a request's entity fetch needs from its caller.
pub(super) struct Fetch<'a> {
    pub(super) upstream: &'a Arc<Upstream>,
    pub(super) spec: &'a Arc<CallSpec>,
    pub(super) document: &'a str,
    /// The fetch's variables without `representations`.
    pub(super) variables: Map<String, Json>,
    pub(super) reps: Vec<Json>,
    /// Where the call goes in the timeline: its parent call and path.
    pub(super) parent: Option<usize>,
    pub(super) at: &'a str,
    pub(super) span: tracing::Span,
}

/// Sends this request's representations through the window and answers
/// with a response of its own, as `send` would.
pub(super) async fn send(
    window: &EntityWindow,
    state: &Arc<RequestState>,
    fetch: Fetch<'_>,
) -> (Result<Json, FieldError>, Option<usize>) {
    let mut template_vars = fetch.variables.clone();
    template_vars.insert("representations".to_owned(), Json::Array(Vec::new()));
    let mut body = Map::new();
    body.insert("query".to_owned(), Json::String(fetch.document.to_owned()));
    body.insert("variables".to_owned(), Json::Object(template_vars));
    let template_body = serde_json::to_vec(&Json::Object(body)).unwrap_or_default();
    let template = crate::exec::resolve::graphql::post(state, fetch.upstream, template_body.into());
    let group = Arc::new(Group {
        id: GroupId::of(&template),
        template,
        document: fetch.document.to_owned(),
        variables: fetch.variables,
        upstream: fetch.upstream.clone(),
        spec: fetch.spec.clone(),
        metrics: state.metrics.clone(),
        span: fetch.span.clone(),
    });
    let count = fetch.reps.len();
    let keys: Vec<EntityKey> = fetch
        .reps
        .into_iter()
        .map(|rep| EntityKey {
            group: group.clone(),
            text: Arc::from(rep.to_string()),
            value: rep,
            deadline: state.deadline.clone(),
        })
        .collect();
    let order: Vec<Arc<str>> = keys.iter().map(|k| k.text.clone()).collect();
    let probe = keys.first().cloned();
    drop(group);
    if let Err(e) = state.budget.call() {
        return (Err(e), None);
    }
    let (id, start) = state.recorder.begin();
    let load = window.loader.load_many(keys).instrument(fetch.span);
    let loaded = within_deadline(state.deadline.as_ref(), load).await;
    let upstream = fetch.upstream;
    let (answer, first) = match (loaded, probe) {
        (Some(loaded), Some(probe)) => {
            let first = loaded.get(&probe).map(|p| p.call.clone());
            (assemble(&loaded, &probe, &order, upstream), first)
        }
        _ => (
            Err(FieldError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "the request's deadline passed while its entities waited for subgraph `{}`",
                    upstream.name()
                ),
            )
            .upstream(upstream.name())),
            None,
        ),
    };
    let duration = state.recorder.t0.elapsed().saturating_sub(start);
    let (outcome, status, attempts, cache) = SharedFacts::seen(first.as_ref().map(|c| &c.facts));
    let path: Arc<str> = Arc::from(fetch.at);
    state.recorder.finish(CallRecord {
        id,
        parent: fetch.parent,
        path: path.clone(),
        join: path,
        upstream: upstream.label.clone(),
        start,
        duration,
        outcome,
        status,
        attempts,
        cache,
        breaker: upstream.guard.breaker_state(),
        batch_size: Some(count),
    });
    (answer, Some(id))
}

/// This request's response: its entities in its order (`order`: the
/// representations' texts), and the errors of the calls they went in, at
/// paths renumbered for it.
fn assemble(
    loaded: &HashMap<EntityKey, Placed>,
    probe: &EntityKey,
    order: &[Arc<str>],
    upstream: &Upstream,
) -> Result<Json, FieldError> {
    let mut entities = Vec::with_capacity(order.len());
    let mut errors = Vec::new();
    // The calls seen, and for each the local index of its representations.
    let mut calls: Vec<(Arc<EntityCall>, HashMap<usize, usize>)> = Vec::new();
    for (local, text) in order.iter().enumerate() {
        let key = EntityKey {
            group: probe.group.clone(),
            text: text.clone(),
            value: Json::Null,
            deadline: None,
        };
        let Some(placed) = loaded.get(&key) else {
            entities.push(Json::Null);
            continue;
        };
        let body = match &placed.call.body {
            Ok(body) => body,
            Err(e) => return Err(e.clone()),
        };
        let Some(Json::Array(items)) = body.get("data").and_then(|d| d.get("_entities")) else {
            if body.get("errors").is_none() {
                return Err(FieldError::new(
                    ErrorCode::UpstreamBadResponse,
                    format!(
                        "subgraph `{}` answered _entities with no list",
                        upstream.name()
                    ),
                )
                .upstream(upstream.name()));
            }
            entities.push(Json::Null);
            note(&mut calls, &placed.call, placed.index, local);
            continue;
        };
        entities.push(items.get(placed.index).cloned().unwrap_or(Json::Null));
        note(&mut calls, &placed.call, placed.index, local);
    }
    for (call, locals) in &calls {
        let Ok(body) = &call.body else { continue };
        let Some(Json::Array(list)) = body.get("errors") else {
            continue;
        };
        for error in list {
            match renumber(error, locals) {
                Renumbered::Mine(error) | Renumbered::Everyone(error) => errors.push(error),
                Renumbered::Other => {}
            }
        }
    }
    let mut data = Map::new();
    data.insert("_entities".to_owned(), Json::Array(entities));
    let mut out = Map::new();
    out.insert("data".to_owned(), Json::Object(data));
    if !errors.is_empty() {
        out.insert("errors".to_owned(), Json::Array(errors));
    }
    Ok(Json::Object(out))
}

fn note(
    calls: &mut Vec<(Arc<EntityCall>, HashMap<usize, usize>)>,
    call: &Arc<EntityCall>,
    index: usize,
    local: usize,
) {
    match calls.iter_mut().find(|(c, _)| Arc::ptr_eq(c, call)) {
        Some((_, locals)) => {
            locals.insert(index, local);
        }
        None => calls.push((call.clone(), HashMap::from([(index, local)]))),
    }
}

enum Renumbered {
    /// At one of this request's entities, its path renumbered.
    Mine(Json),
    /// Not at an entity: every request of the call gets it.
    Everyone(Json),
    /// At another request's entity.
    Other,
}

fn renumber(error: &Json, locals: &HashMap<usize, usize>) -> Renumbered {
    let Some(Json::Array(path)) = error.get("path") else {
        return Renumbered::Everyone(error.clone());
    };
    match path.as_slice() {
        [Json::String(root), Json::Number(i), rest @ ..] if root == "_entities" => {
            let local = i
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| locals.get(&i));
            match local {
                Some(&local) => {
                    let mut error = error.clone();
                    let mut path = vec![Json::String(root.clone()), Json::from(local)];
                    path.extend(rest.iter().cloned());
                    if let Json::Object(fields) = &mut error {
                        fields.insert("path".to_owned(), Json::Array(path));
                    }
                    Renumbered::Mine(error)
                }
                None => Renumbered::Other,
            }
        }
        _ => Renumbered::Everyone(error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_are_renumbered_for_the_request_whose_entity_they_are_at() {
        // This request's entities went at indices 3 and 0 of the call.
        let locals = HashMap::from([(3, 0), (0, 1)]);
        let at_mine = json!({ "message": "m", "path": ["_entities", 3, "reviews", 1] });
        match renumber(&at_mine, &locals) {
            Renumbered::Mine(e) => assert_eq!(e["path"], json!(["_entities", 0, "reviews", 1])),
            _ => panic!("at this request's entity"),
        }
        let at_other = json!({ "message": "m", "path": ["_entities", 1] });
        assert!(matches!(renumber(&at_other, &locals), Renumbered::Other));
        let nowhere = json!({ "message": "m" });
        assert!(matches!(
            renumber(&nowhere, &locals),
            Renumbered::Everyone(_)
        ));
    }
}
