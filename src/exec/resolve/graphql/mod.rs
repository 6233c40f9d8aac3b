//! GraphQL upstreams. A field bound with `@graphql` is a root field of its
//! upstream: the client's selection below it is forwarded (aliases kept,
//! fragments as inline fragments with their type conditions, `@skip` and
//! `@include` applied, arguments sent as variables of the types the schema
//! declares), and its answer is read by response key.
//!
//! Fields that go to one upstream together are one request, each under an
//! alias: the operation's root fields bound to it, the bound children of
//! one object, and a bound child of every item of a list. Errors in the
//! answer come back at the client's paths and locations, with
//! `extensions.upstream`; nothing of the upstream's own extensions (stack
//! traces, codes) is passed on, and with `privateErrors: true` nor is the
//! message.
//!
//! - [`document`]: the request's document.
//! - [`answer`]: the answer, split per member.

mod answer;
mod document;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use bytes::Bytes;
use futures_util::FutureExt;
use http::Method;
use serde_json::{Map, Value};

use super::{CallSite, Position, call_with};
use crate::config::FieldSource;
use crate::error::{ErrorCode, FieldError};
use crate::exec::data::{FieldResult, Slot};
use crate::exec::plan::{Plan, with_defaults};
use crate::exec::registry::Registry;
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::federation::selection::{Normalizer, Sel};
use crate::telemetry::otel;
use crate::upstream::{Upstream, UpstreamRequest};
use answer::results;
pub(super) use document::sels_at;
use document::{Built, build};

/// The client's operation, for the selections forwarded below bound fields:
/// normalized once per request, on first use.
pub(crate) struct Operation {
    pub(crate) document: Arc<ExecutableDocument>,
    pub(crate) operation_name: Option<String>,
    /// The request's variable values, defaults filled in.
    pub(crate) variables: Map<String, Value>,
    pub(crate) root_type: String,
    normalized: OnceLock<Result<(OperationType, Vec<Sel>), String>>,
    /// The combined request of the root fields bound to each upstream, by
    /// upstream name: each root field's slot, by response key.
    roots: Mutex<HashMap<String, Slots>>,
}

/// Each field's slot of one combined request, by response key.
type Slots = Arc<Vec<(String, Slot)>>;

impl Operation {
    pub(crate) fn new(
        document: Arc<ExecutableDocument>,
        operation_name: Option<String>,
        variables: Map<String, Value>,
        root_type: String,
    ) -> Operation {
        Operation {
            document,
            operation_name,
            variables,
            root_type,
            normalized: OnceLock::new(),
            roots: Mutex::default(),
        }
    }

    pub(in crate::exec) fn normalized(&self) -> Result<&(OperationType, Vec<Sel>), FieldError> {
        self.normalized
            .get_or_init(|| {
                let op = match self.operation_name.as_deref() {
                    Some(name) => self
                        .document
                        .operations
                        .iter()
                        .find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
                    None => self.document.operations.iter().next(),
                }
                .ok_or_else(|| "no such operation".to_owned())?
                .1;
                let norm = Normalizer {
                    doc: &self.document,
                    variables: &self.variables,
                    defaults: &op.node.variable_definitions,
                };
                let mut sels = Vec::new();
                norm.set(&op.node.selection_set.node, &[], &mut sels, 0)?;
                Ok((op.node.ty, sels))
            })
            .as_ref()
            .map_err(|e| FieldError::new(ErrorCode::InternalError, e.clone()))
    }
}

/// One field of a combined request.
pub(super) struct Member<'a> {
    pub(super) plan: Arc<Plan>,
    /// The parent object's JSON (what `{$parent.x}` reads).
    pub(super) parent: &'a Value,
    /// The field's response path (`products.3.reviews`).
    pub(super) path: Arc<str>,
}

/// Root field `plan` (bound to a GraphQL upstream): the first root field of
/// an upstream to resolve starts the request for all of the operation's
/// root fields bound to it; each awaits its own part.
pub(super) async fn resolve_root(state: &Arc<RequestState>, plan: &Arc<Plan>) -> FieldResult {
    let Some(operation) = &state.graphql else {
        return Err(internal("the operation is not known"));
    };
    let FieldSource::Graphql(binding) = &plan.field.def.source else {
        return Err(internal("not a @graphql field"));
    };
    let (kind, sels) = operation.normalized()?;
    let upstream = binding.upstream.name.clone();
    let group = {
        let mut roots = operation
            .roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match roots.get(&upstream) {
            // A mutation's fields run one after another: each alone.
            Some(group) if *kind != OperationType::Mutation => group.clone(),
            _ => {
                let members = if *kind == OperationType::Mutation {
                    vec![root_member(plan.clone())]
                } else {
                    root_members(&state.registry, &operation.root_type, sels, &upstream)
                };
                let root = Position {
                    path: Arc::from(""),
                    call: None,
                    span: state.span.clone(),
                    keyed: false,
                };
                let group = Arc::new(start(state, members, &root, true));
                roots.insert(upstream, group.clone());
                group
            }
        }
    };
    match group.iter().find(|(key, _)| *key == plan.key) {
        Some((_, slot)) => slot.get().await,
        None => Err(internal("the root field is not in its upstream's request")),
    }
}

static NULL: Value = Value::Null;

fn root_member(plan: Arc<Plan>) -> Member<'static> {
    Member {
        path: Arc::from(plan.key.as_str()),
        plan,
        parent: &NULL,
    }
}

/// The operation's root fields bound to `upstream`, once per response key.
fn root_members(
    registry: &Registry,
    root: &str,
    sels: &[Sel],
    upstream: &str,
) -> Vec<Member<'static>> {
    let mut members: Vec<Member<'static>> = Vec::new();
    for sel in sels {
        if members.iter().any(|m| m.plan.key == sel.key) {
            continue;
        }
        let Some(field) = registry.field(root, &sel.name) else {
            continue;
        };
        let FieldSource::Graphql(binding) = &field.def.source else {
            continue;
        };
        if binding.upstream.name != upstream {
            continue;
        }
        let plan = Arc::new(Plan {
            key: sel.key.clone(),
            field: field.clone(),
            args: with_defaults(field, sel.args.iter().cloned().collect()),
            children: Vec::new(),
        });
        members.push(root_member(plan));
    }
    members
}

/// One member's part of a combined request: its alias and its place.
struct Part {
    alias: String,
    plan: Arc<Plan>,
    path: Arc<str>,
}

/// Starts one request to the members' upstream (they share one); each
/// member's slot, by response key. `root`: the members are root fields,
/// aliased by their own response keys.
pub(super) fn start(
    state: &Arc<RequestState>,
    members: Vec<Member>,
    parent: &Position,
    root: bool,
) -> Vec<(String, Slot)> {
    let keys: Vec<String> = members.iter().map(|m| m.plan.key.clone()).collect();
    let fail = |e: FieldError| -> Vec<(String, Slot)> {
        keys.iter()
            .map(|k| (k.clone(), Slot::Ready(Err(e.clone()))))
            .collect()
    };
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let (Some(upstream), Some(spec)) = (
        first.plan.field.upstream.clone(),
        first.plan.field.call.clone(),
    ) else {
        return fail(internal("a @graphql field without its upstream"));
    };
    let built = match build(state, &members, root) {
        Ok(built) => built,
        Err(e) => return fail(e.upstream(upstream.name())),
    };
    let Built {
        document,
        variables,
        parts,
    } = built;
    let body = serde_json::json!({ "query": document, "variables": variables });
    let bytes = match serde_json::to_vec(&body) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => return fail(internal(&e.to_string())),
    };
    let request = post(state, &upstream, bytes);
    let path: Arc<str> = if parts.len() == 1 {
        parts[0].path.clone()
    } else {
        Arc::from(format!(
            "{}{}({})",
            parent.path,
            if parent.path.is_empty() { "" } else { "." },
            keys.join(",")
        ))
    };
    let site = CallSite {
        path,
        join: parent.path.clone(),
        parent: parent.clone(),
        batch: (parts.len() > 1).then_some(parts.len()),
    };
    let coordinate = first.plan.field.def.coordinate.clone();
    let task_state = state.clone();
    let task_coordinate = coordinate.clone();
    let answer = super::spawn(state, &coordinate, async move {
        let coordinate = task_coordinate;
        let (json, _stale, at) = call_with(
            &task_state,
            &upstream,
            &spec,
            &coordinate,
            &[],
            request,
            site,
        )
        .await?;
        Ok(Arc::new(results(&task_state, &upstream, json, &at, parts)))
    });
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let answer = answer.clone();
            let pending = async move {
                let results = answer.await?;
                results
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Err(internal("a member without its answer")))
            }
            .boxed()
            .shared();
            (key, Slot::Pending(pending))
        })
        .collect()
}

/// A `@graphql` field with no sibling to share its request.
pub(super) fn alone(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent_json: &View,
    parent: &Position,
    path: Arc<str>,
) -> Slot {
    let member = Member {
        plan: plan.clone(),
        parent: parent_json.get(),
        path,
    };
    match start(state, vec![member], parent, false).pop() {
        Some((_, slot)) => slot,
        None => Slot::Ready(Err(FieldError::new(ErrorCode::InternalError, "no request"))),
    }
}

pub(super) fn is_bound(plan: &Plan) -> bool {
    matches!(plan.field.def.source, FieldSource::Graphql(_))
}

/// Starts the `@graphql` children of `parents` (one object, or with
/// `items` every item of the list at `at`): one request per upstream for
/// all of them. Each parent's slots go to its entry of `out`.
pub(super) fn children(
    state: &Arc<RequestState>,
    plan: &Plan,
    parents: &[Option<&Value>],
    at: &Position,
    items: bool,
    out: &mut [Vec<(String, Slot)>],
) {
    let bound: Vec<&Arc<Plan>> = plan.children.iter().filter(|c| is_bound(c)).collect();
    let mut upstreams: Vec<&str> = Vec::new();
    for child in &bound {
        if let FieldSource::Graphql(binding) = &child.field.def.source
            && !upstreams.contains(&binding.upstream.name.as_str())
        {
            upstreams.push(&binding.upstream.name);
        }
    }
    for upstream in upstreams {
        let mut members = Vec::new();
        let mut owners = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            let Some(parent) = parent else {
                continue;
            };
            let position = if items { at.item(i) } else { at.clone() };
            for child in &bound {
                let FieldSource::Graphql(binding) = &child.field.def.source else {
                    continue;
                };
                if binding.upstream.name != upstream {
                    continue;
                }
                members.push(Member {
                    plan: (*child).clone(),
                    parent,
                    path: position.child(&child.key),
                });
                owners.push(i);
            }
        }
        let slots = start(state, members, at, false);
        for ((key, slot), owner) in slots.into_iter().zip(owners) {
            if let Some(list) = out.get_mut(owner) {
                list.push((key, slot));
            }
        }
    }
}

/// A GraphQL request to `upstream`: a POST of `body` to its URL with the
/// inbound headers it forwards and the trace context.
pub(crate) fn post(state: &RequestState, upstream: &Upstream, body: Bytes) -> UpstreamRequest {
    // The transport sets `content-type` and `accept` (JSON) itself.
    let mut headers = Vec::new();
    for name in &upstream.config.forward_headers {
        for value in state.headers.get_all(name) {
            headers.push((name.clone(), value.clone()));
        }
    }
    let mut request = UpstreamRequest {
        method: Method::POST,
        url: upstream.config.url.clone(),
        headers,
        body: Some(body),
        trace: Vec::new(),
        deadline: state.deadline.clone(),
    };
    if state.span.is_none() {
        request.trace = otel::trace_headers(&state.span, &state.headers);
    }
    request
}

/// What a client is shown of a GraphQL upstream's error `message`: the
/// message, or with `private` a generic one (the message is logged).
pub(crate) fn shown_message(upstream: &str, private: bool, message: &str) -> String {
    if private {
        tracing::warn!(upstream, message, "a private upstream error");
        format!("upstream `{upstream}` reported an error")
    } else {
        message.to_owned()
    }
}

fn internal(message: &str) -> FieldError {
    FieldError::new(ErrorCode::InternalError, message.to_owned())
}
