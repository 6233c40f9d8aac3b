//! Running a plan: every node starts the moment the nodes it waits for
//! have merged their answers; an entity node collects the objects at its
//! path (all items of every list on the way), sends their representations
//! (deduplicated) in one `_entities` call, and merges each answer into its
//! objects. Subgraph errors come back with the client's paths.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{PathSegment, ServerError};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, join_all};
use serde_json::{Map, Value as Json};
use tracing::Instrument;

use crate::federation::Subgraphs;
mod answers;
mod tree;
mod window;

pub(crate) use window::EntityWindow;

use super::plan::{Node, NodeKind, Step, has_restores, restore};
use super::supergraph::Kind;
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;
use crate::telemetry::otel::SPAN_TARGET;
use crate::telemetry::timeline::CallRecord;
use answers::{seeded, subgraph_errors};
use tree::{Addr, collect, locate, locate_path, merge, pick, to_path};

/// The key of a failure marker: `{"__tributary_failed": N}` stands where a
/// failed fetch or a subgraph error left a field without a value; N indexes
/// [`Assembly::failure`].
pub(crate) const FAILED: &str = "__tributary_failed";

/// The response tree being assembled, and the errors met on the way.
pub(crate) struct Assembly {
    pub(crate) data: Mutex<Json>,
    /// Errors with no field to stand in for (reported as they are).
    pub(crate) errors: Mutex<Vec<ServerError>>,
    /// Shared by a request's assemblies (its operation's, and those of
    /// entities below REST fields), so a marker means one thing in all.
    failures: Arc<Mutex<Vec<FieldError>>>,
    /// The call resolving an entry's entities failed as a whole: the
    /// `@entity` field fails (its `@onError` applies), not each field.
    entry_failure: Mutex<Option<FieldError>>,
}

impl Assembly {
    pub(crate) fn new() -> Assembly {
        Assembly {
            data: Mutex::new(Json::Object(Map::new())),
            errors: Mutex::new(Vec::new()),
            failures: Arc::default(),
            entry_failure: Mutex::new(None),
        }
    }

    /// Notes that the call resolving an entry's entities failed (`entry`:
    /// the call was that one) with `error`.
    fn entry_failed(&self, entry: bool, error: &FieldError) {
        if entry {
            let mut first = self
                .entry_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| error.clone());
        }
    }

    /// Why the call resolving an entry's entities failed, when it did.
    pub(crate) fn entry_failure(&self) -> Option<FieldError> {
        self.entry_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new tree, `data`, whose failure markers index `other`'s failures.
    pub(crate) fn sharing(other: &Assembly, data: Json) -> Assembly {
        Assembly {
            data: Mutex::new(data),
            errors: Mutex::new(Vec::new()),
            failures: other.failures.clone(),
            entry_failure: Mutex::new(None),
        }
    }

    pub(crate) fn failure(&self, index: usize) -> Option<FieldError> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(index)
            .cloned()
    }

    /// A marker standing for `error`.
    fn marker(&self, error: FieldError) -> Json {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.push(error);
        let mut map = Map::new();
        map.insert(FAILED.to_owned(), Json::from(failures.len() - 1));
        Json::Object(map)
    }

    /// Puts `error` at `path` when the answer has no value there (a field
    /// of an object, not an internal one); else reports it as it is.
    fn place(&self, data: &mut Json, path: &[PathSegment], error: FieldError) {
        if let [parent @ .., PathSegment::Field(key)] = path
            && !key.starts_with("tributary_")
            && let Some(Json::Object(object)) = locate_path(data, parent)
            && object.get(key).is_none_or(Json::is_null)
        {
            let marker = self.marker(error);
            object.insert(key.clone(), marker);
            return;
        }
        self.error(placed(error, path.to_vec()));
    }

    fn error(&self, error: ServerError) {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(error);
    }
}

type NodeDone = Shared<BoxFuture<'static, Option<usize>>>;

/// Where a plan's tree hangs in the response, when not at the root: an
/// entry's entities (see [`super::plan::ENTRY`]) below a REST field.
#[derive(Clone, Default)]
pub(crate) struct Origin {
    /// The response path shown for fetches at the entry (`orders.product`).
    pub(crate) path: Option<Arc<str>>,
    /// The call that gave the representations (the timeline's parent).
    pub(crate) call: Option<usize>,
    /// A subscription event: the answer of the plan's subscription root
    /// fetch, which is not sent (its subgraph pushed it).
    pub(crate) seed: Option<Arc<Json>>,
}

/// Runs one step of a plan to completion.
pub(crate) async fn run_step(
    subgraphs: &Arc<Subgraphs>,
    state: &Arc<RequestState>,
    step: &Arc<Step>,
    assembly: &Arc<Assembly>,
    origin: &Origin,
) {
    let mut done: Vec<NodeDone> = Vec::with_capacity(step.nodes.len());
    for index in 0..step.nodes.len() {
        let deps: Vec<NodeDone> = step.nodes[index]
            .deps
            .iter()
            .filter_map(|d| done.get(*d).cloned())
            .collect();
        let subgraphs = subgraphs.clone();
        let state = state.clone();
        let step = step.clone();
        let assembly = assembly.clone();
        let origin = origin.clone();
        let future = async move {
            let mut parent = None;
            for dep in deps {
                parent = parent.or(dep.await);
            }
            let parent = parent.or(origin.call);
            let node = &step.nodes[index];
            run_node(&subgraphs, &state, node, index, parent, &assembly, &origin).await
        }
        .boxed()
        .shared();
        done.push(future);
    }
    join_all(done).await;
}

/// Runs one node; returns its call's id in the timeline.
async fn run_node(
    subgraphs: &Subgraphs,
    state: &Arc<RequestState>,
    node: &Node,
    index: usize,
    parent: Option<usize>,
    assembly: &Assembly,
    origin: &Origin,
) -> Option<usize> {
    let sg = &subgraphs.supergraph;
    let upstream = subgraphs.graphs[node.graph].upstream.name().to_owned();
    let private = subgraphs.graphs[node.graph].upstream.config.private_errors;
    match &node.kind {
        NodeKind::Root => {
            let (answer, call) = match (&origin.seed, node.subscription) {
                (Some(seed), true) => (seeded(seed, &upstream, private), parent),
                (None, true) => (
                    Err(FieldError::new(
                        ErrorCode::InternalError,
                        "a subscription's root fetch is answered by its events",
                    )),
                    None,
                ),
                _ => {
                    let variables = node.variables.clone();
                    send(subgraphs, state, node, index, variables, parent, None, "").await
                }
            };
            let mut data = assembly.data.lock().unwrap_or_else(PoisonError::into_inner);
            match answer {
                Ok(mut body) => {
                    if let Some(mut answer) = body.get_mut("data").map(Json::take)
                        && answer.is_object()
                    {
                        if has_restores(&node.selection) {
                            restore(&mut answer, &node.selection);
                        }
                        merge(&mut data, answer);
                    }
                    for (path, error) in subgraph_errors(&body, &upstream, private) {
                        assembly.place(&mut data, &path, error);
                    }
                }
                Err(e) => {
                    for key in owned_keys(&node.selection) {
                        assembly.place(&mut data, &[PathSegment::Field(key)], e.clone());
                    }
                }
            }
            call
        }
        NodeKind::Entity {
            path,
            types,
            typename,
            rep,
            key_len,
            aliases,
        } => {
            // Collect the objects and their representations.
            let (reps, owners) = {
                let data = assembly.data.lock().unwrap_or_else(PoisonError::into_inner);
                let mut found = Vec::new();
                collect(&data, path, &mut Vec::new(), &mut found);
                let mut reps: Vec<Json> = Vec::new();
                let mut owners: Vec<Vec<Vec<Addr>>> = Vec::new();
                // Deduplicated by their bytes: linear in the objects.
                let mut seen: HashMap<String, usize> = HashMap::new();
                for (addr, object) in found {
                    let Some(Json::String(t)) = object.get("__typename") else {
                        continue;
                    };
                    if !types.iter().any(|x| x == t) {
                        continue;
                    }
                    let mut r = Map::new();
                    r.insert("__typename".to_owned(), Json::String(typename.clone()));
                    pick(sg, object, rep, Some(aliases), &mut r);
                    // No entity has a null key: the object is left as it is.
                    if rep[..(*key_len).min(rep.len())]
                        .iter()
                        .any(|k| r.get(&k.name).is_none_or(Json::is_null))
                    {
                        continue;
                    }
                    let r = Json::Object(r);
                    let bytes = r.to_string();
                    match seen.get(&bytes) {
                        Some(&i) => owners[i].push(addr),
                        None => {
                            seen.insert(bytes, reps.len());
                            reps.push(r);
                            owners.push(vec![addr]);
                        }
                    }
                }
                (reps, owners)
            };
            if reps.is_empty() {
                return parent;
            }
            let count = reps.len();
            let mut variables = node.variables.clone();
            variables.insert("representations".to_owned(), Json::Array(reps));
            let at = match (&origin.path, path.split_first()) {
                (Some(shown), Some((first, rest))) if first == super::plan::ENTRY => {
                    std::iter::once(&**shown)
                        .chain(rest.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(".")
                }
                _ => path.join("."),
            };
            let graph = &subgraphs.graphs[node.graph];
            let (answer, call) = match &graph.entities {
                // Shared with other requests' fetches in the window.
                Some(entities) if !node.mutation => {
                    let reps = match variables.remove("representations") {
                        Some(Json::Array(reps)) => reps,
                        _ => Vec::new(),
                    };
                    let fetch = window::Fetch {
                        upstream: &graph.upstream,
                        spec: &graph.query_spec,
                        document: &node.document,
                        variables,
                        reps,
                        parent,
                        at: &at,
                        span: fetch_span(subgraphs, state, node, index, Some(count), &at),
                    };
                    window::send(entities, state, fetch).await
                }
                _ => {
                    send(
                        subgraphs,
                        state,
                        node,
                        index,
                        variables,
                        parent,
                        Some(count),
                        &at,
                    )
                    .await
                }
            };
            let mut data = assembly.data.lock().unwrap_or_else(PoisonError::into_inner);
            match answer {
                Ok(mut body) => {
                    let entities = body
                        .get_mut("data")
                        .and_then(|d| d.get_mut("_entities"))
                        .map(Json::take);
                    if let Some(Json::Array(mut items)) = entities {
                        if has_restores(&node.selection) {
                            for item in &mut items {
                                restore(item, &node.selection);
                            }
                        }
                        for (mut item, addrs) in items.into_iter().zip(&owners) {
                            let Json::Object(fields) = &mut item else {
                                continue;
                            };
                            // An interface object answers with the interface's
                            // name: the concrete type known already stays.
                            if let Some(Json::String(t)) = fields.get("__typename")
                                && sg.kind(t) != Kind::Object
                            {
                                fields.remove("__typename");
                            }
                            if let [addr] = addrs.as_slice() {
                                if let Some(target) = locate(&mut data, addr) {
                                    merge(target, item);
                                }
                                continue;
                            }
                            for addr in addrs {
                                if let Some(target) = locate(&mut data, addr) {
                                    merge(target, item.clone());
                                }
                            }
                        }
                    }
                    for (path, error) in subgraph_errors(&body, &upstream, private) {
                        match path.as_slice() {
                            [PathSegment::Field(f), PathSegment::Index(i), rest @ ..]
                                if f == "_entities" =>
                            {
                                for addr in owners.get(*i).into_iter().flatten() {
                                    let mut at = to_path(addr);
                                    at.extend(rest.iter().cloned());
                                    assembly.place(&mut data, &at, error.clone());
                                }
                            }
                            _ => {
                                // No path into the answer: every field the
                                // call was for stands for it.
                                assembly.entry_failed(
                                    index == 0 && path_is_entry(path_of(node)),
                                    &error,
                                );
                                for addrs in &owners {
                                    for addr in addrs {
                                        mark_owned(assembly, &mut data, node, addr, &error);
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    assembly.entry_failed(index == 0 && path_is_entry(path_of(node)), &e);
                    for addrs in &owners {
                        for addr in addrs {
                            mark_owned(assembly, &mut data, node, addr, &e);
                        }
                    }
                }
            }
            call.or(parent)
        }
    }
}

fn path_of(node: &Node) -> &[String] {
    match &node.kind {
        NodeKind::Entity { path, .. } => path,
        NodeKind::Root => &[],
    }
}

/// Whether an entity node's objects are an entry's (see
/// [`super::plan::ENTRY`]); the entry's first node is the call that
/// resolves them from their representations.
fn path_is_entry(path: &[String]) -> bool {
    matches!(path, [only] if only == super::plan::ENTRY)
}

/// Marks every field `node` was to answer on the object at `addr` as
/// failed with `error` (where it has no value).
fn mark_owned(
    assembly: &Assembly,
    data: &mut Json,
    node: &Node,
    addr: &[Addr],
    error: &FieldError,
) {
    let base = to_path(addr);
    for key in owned_keys(&node.selection) {
        let mut at = base.clone();
        at.push(PathSegment::Field(key));
        assembly.place(data, &at, error.clone());
    }
}

/// The client-visible keys a selection answers at its top (through its
/// fragments), without `__typename` and internal fields.
fn owned_keys(selection: &[super::plan::Out]) -> Vec<String> {
    let mut out = Vec::new();
    for o in selection {
        match o {
            super::plan::Out::Field {
                alias,
                name,
                restore,
                ..
            } => {
                let key = restore
                    .clone()
                    .unwrap_or_else(|| alias.clone().unwrap_or_else(|| name.clone()));
                if name != "__typename" && !key.starts_with("tributary_") && !out.contains(&key) {
                    out.push(key);
                }
            }
            super::plan::Out::Fragment { sub, .. } => {
                for key in owned_keys(sub) {
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
            }
        }
    }
    out
}

fn placed(e: FieldError, path: Vec<PathSegment>) -> ServerError {
    let mut error = e
        .into_graphql()
        .into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    error.path = path;
    error
}

/// The span of a node's fetch (none when the request is not traced).
fn fetch_span(
    subgraphs: &Subgraphs,
    state: &RequestState,
    node: &Node,
    index: usize,
    representations: Option<usize>,
    at: &str,
) -> tracing::Span {
    if state.span.is_none() {
        return tracing::Span::none();
    }
    let graph = &subgraphs.graphs[node.graph];
    let name = format!(
        "{} {}",
        graph.name,
        if at.is_empty() { "(root)" } else { at }
    );
    tracing::info_span!(
        target: SPAN_TARGET,
        parent: &state.span,
        "federation.fetch",
        otel.name = %name,
        otel.kind = "client",
        tributary.upstream = %graph.upstream.name(),
        tributary.subgraph = %graph.name,
        tributary.plan.node = index,
        tributary.representations = representations.and_then(|n| i64::try_from(n).ok()),
        graphql.operation.type = if node.subscription { "subscription" } else if node.mutation { "mutation" } else { "query" },
        graphql.operation.name = %node.operation_name,
        tributary.cache = tracing::field::Empty,
    )
}

/// Sends a node's request; returns the body and the call's timeline id.
#[allow(clippy::too_many_arguments)]
async fn send(
    subgraphs: &Subgraphs,
    state: &Arc<RequestState>,
    node: &Node,
    index: usize,
    variables: Map<String, Json>,
    parent: Option<usize>,
    representations: Option<usize>,
    at: &str,
) -> (Result<Json, FieldError>, Option<usize>) {
    let graph = &subgraphs.graphs[node.graph];
    let upstream = &graph.upstream;
    let mut body = Map::new();
    body.insert("query".to_owned(), Json::String(node.document.clone()));
    body.insert("variables".to_owned(), Json::Object(variables));
    let bytes = match serde_json::to_vec(&Json::Object(body)) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            return (
                Err(FieldError::new(ErrorCode::InternalError, e.to_string())),
                None,
            );
        }
    };
    let request = crate::exec::resolve::graphql::post(state, upstream, bytes);
    let spec = if node.mutation {
        &graph.mutation_spec
    } else {
        &graph.query_spec
    };
    let (id, start) = state.recorder.begin();
    let span = fetch_span(subgraphs, state, node, index, representations, at);
    let result = state
        .fetch(upstream, spec, request)
        .instrument(span.clone())
        .await;
    let duration = state.recorder.t0.elapsed().saturating_sub(start);
    let (outcome, status, attempts, cache) = crate::exec::call_facts(&result);
    span.record("tributary.cache", cache.as_str());
    let path: Arc<str> = Arc::from(if at.is_empty() { "" } else { at });
    state.recorder.finish(CallRecord {
        id,
        parent,
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
        batch_size: representations,
    });
    if attempts > 0 || result.is_err() {
        state
            .metrics
            .upstream_call(upstream.name(), outcome, duration);
    }
    let answer = result.map(|f| Json::clone(&f.value)).and_then(|body| {
        if body.is_object() {
            Ok(body)
        } else {
            Err(FieldError::new(
                ErrorCode::UpstreamBadResponse,
                format!(
                    "subgraph {} answered with JSON that is not a GraphQL response",
                    graph.name
                ),
            )
            .upstream(upstream.name()))
        }
    });
    (answer, Some(id))
}
