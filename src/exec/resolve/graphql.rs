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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensions, PathSegment, Pos, ServerError};
use bytes::Bytes;
use futures_util::FutureExt;
use http::Method;
use serde_json::{Map, Value};

use super::{CallSite, Position, call_with, shape};
use crate::config::FieldSource;
use crate::error::{ErrorCode, FieldError};
use crate::exec::data::{FieldResult, Resolved, Slot};
use crate::exec::plan::{Plan, with_defaults};
use crate::exec::registry::{OutputKind, Registry};
use crate::exec::render::{Inputs, render_body};
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::federation::selection::{Normalizer, Sel};
use crate::telemetry::otel;
use crate::upstream::{Upstream, UpstreamRequest};

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

/// A combined request: its document, its variables, each member's part.
struct Built {
    document: String,
    variables: Map<String, Value>,
    parts: Vec<Part>,
}

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

    fn normalized(&self) -> Result<&(OperationType, Vec<Sel>), FieldError> {
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

/// The document, its variables and each member's part.
fn build(state: &RequestState, members: &[Member], root: bool) -> Result<Built, FieldError> {
    let operation = state
        .graphql
        .as_ref()
        .ok_or_else(|| internal("the operation is not known"))?;
    let (_, sels) = operation.normalized()?;
    let mutation = members
        .first()
        .and_then(|m| m.plan.field.call.as_ref())
        .is_some_and(|spec| !spec.idempotent);
    let mut vars: Vec<(String, String, Value)> = Vec::new();
    let mut body = String::from("{");
    let mut parts = Vec::with_capacity(members.len());
    for (i, member) in members.iter().enumerate() {
        let FieldSource::Graphql(binding) = &member.plan.field.def.source else {
            return Err(internal("not a @graphql field"));
        };
        let alias = if root {
            member.plan.key.clone()
        } else {
            format!("tributary_{i}_{}", member.plan.key)
        };
        if i > 0 {
            body.push(' ');
        }
        let _ = write!(body, "{alias}:{}", binding.field);
        // The binding's arguments (templates over the parent, the
        // arguments and headers) as literals; else the client's, typed.
        let mut printed = Vec::new();
        match &binding.args {
            Some(args) => {
                let inputs = Inputs {
                    args: &member.plan.args,
                    parent: member.parent,
                    headers: &state.headers,
                };
                for (name, template) in args {
                    let value = render_body(template, inputs)?;
                    printed.push(format!("{name}:{}", literal(&value)));
                }
            }
            None => {
                for (name, value) in &member.plan.args {
                    let ty = member
                        .plan
                        .field
                        .def
                        .args
                        .iter()
                        .find(|a| a.name.as_str() == name)
                        .map(|a| a.ty.to_string());
                    match ty {
                        Some(ty) => {
                            let var = format!("a{}", vars.len());
                            printed.push(format!("{name}:${var}"));
                            vars.push((var, ty, value.clone()));
                        }
                        None => printed.push(format!("{name}:{}", literal(value))),
                    }
                }
            }
        }
        if !printed.is_empty() {
            let _ = write!(body, "({})", printed.join(","));
        }
        let field_sels = sels_at(sels, &member.path);
        let subs: Vec<&Sel> = field_sels.iter().flat_map(|s| s.sub.iter()).collect();
        print_set(
            &state.registry,
            &member.plan.field.named,
            &subs,
            &mut body,
            &mut vars,
        );
        parts.push(Part {
            alias,
            plan: member.plan.clone(),
            path: member.path.clone(),
        });
    }
    body.push('}');
    let mut document = String::from(if mutation { "mutation" } else { "query" });
    if !vars.is_empty() {
        document.push('(');
        for (i, (name, ty, _)) in vars.iter().enumerate() {
            if i > 0 {
                document.push(',');
            }
            let _ = write!(document, "${name}:{ty}");
        }
        document.push(')');
    }
    document.push_str(&body);
    let variables = vars.into_iter().map(|(n, _, v)| (n, v)).collect();
    Ok(Built {
        document,
        variables,
        parts,
    })
}

/// The client's selections (merged) of the field at response `path`.
fn sels_at<'s>(root: &'s [Sel], path: &str) -> Vec<&'s Sel> {
    let mut level: Vec<&Sel> = root.iter().collect();
    let mut found: Vec<&Sel> = Vec::new();
    for key in path
        .split('.')
        .filter(|k| !k.chars().next().is_some_and(|c| c.is_ascii_digit()))
    {
        found = level.iter().copied().filter(|s| s.key == key).collect();
        level = found.iter().flat_map(|s| s.sub.iter()).collect();
    }
    found
}

/// Prints a selection set of objects of type `ty`: fields with their
/// aliases and arguments (as variables of the declared types), type
/// conditions as inline fragments.
fn print_set(
    registry: &Registry,
    ty: &str,
    sels: &[&Sel],
    out: &mut String,
    vars: &mut Vec<(String, String, Value)>,
) {
    if sels.is_empty() {
        return;
    }
    // The service's fields: a REST-bound one is the gateway's own.
    let forwarded: Vec<&&Sel> = sels
        .iter()
        .filter(|sel| {
            let within = sel.on.last().map_or(ty, String::as_str);
            !registry.field(within, &sel.name).is_some_and(|f| {
                matches!(f.def.source, FieldSource::Rest(_) | FieldSource::Graphql(_))
            })
        })
        .collect();
    out.push('{');
    for (i, sel) in forwarded.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut within = ty;
        for condition in &sel.on {
            let _ = write!(out, "...on {condition}{{");
            within = condition;
        }
        if sel.key != sel.name {
            let _ = write!(out, "{}:", sel.key);
        }
        out.push_str(&sel.name);
        let field = registry.field(within, &sel.name);
        if !sel.args.is_empty() {
            out.push('(');
            for (j, (name, value)) in sel.args.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let declared = field.and_then(|f| {
                    f.def
                        .args
                        .iter()
                        .find(|a| a.name.as_str() == name)
                        .map(|a| a.ty.to_string())
                });
                match declared {
                    Some(declared) => {
                        let var = format!("a{}", vars.len());
                        let _ = write!(out, "{name}:${var}");
                        vars.push((var, declared, value.clone()));
                    }
                    None => {
                        let _ = write!(out, "{name}:{}", literal(value));
                    }
                }
            }
            out.push(')');
        }
        let subs: Vec<&Sel> = sel.sub.iter().collect();
        let named = field.map_or("", |f| f.named.as_str());
        print_set(registry, named, &subs, out, vars);
        for _ in &sel.on {
            out.push('}');
        }
    }
    // A REST field here reads its parent's JSON by field name: what its
    // templates read is asked for too, unaliased, when the client did not.
    let mut inputs: Vec<&str> = Vec::new();
    for sel in sels {
        let within = sel.on.last().map_or(ty, String::as_str);
        let Some(FieldSource::Rest(binding)) =
            registry.field(within, &sel.name).map(|f| &f.def.source)
        else {
            continue;
        };
        for path in crate::exec::projection::parent_paths(binding) {
            let Some(first) = path.first().map(String::as_str) else {
                continue;
            };
            let leaf = registry
                .field(within, first)
                .is_some_and(|f| !matches!(f.out, OutputKind::Object | OutputKind::Abstract));
            if leaf && !inputs.contains(&first) && !sels.iter().any(|s| s.key == first) {
                inputs.push(first);
            }
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 || !forwarded.is_empty() {
            out.push(' ');
        }
        out.push_str(input);
    }
    // A selection of REST fields only still needs one field of the service.
    if forwarded.is_empty() && inputs.is_empty() {
        out.push_str("__typename");
    }
    out.push('}');
}

/// A JSON value as a GraphQL literal (JSON's string escapes are GraphQL's).
fn literal(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(",")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", literal(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// Each part's result from the upstream's answer: its value shaped (its
/// children started), or the error that stands for it; errors inside a
/// value are reported at the client's paths.
fn results(
    state: &Arc<RequestState>,
    upstream: &Upstream,
    json: View,
    at: &Position,
    parts: Vec<Part>,
) -> Vec<FieldResult> {
    let private = upstream.config.private_errors;
    let name = upstream.name();
    let body = json.get();
    let mut own: Vec<Option<FieldError>> = vec![None; parts.len()];
    if let Some(Value::Array(errors)) = body.get("errors") {
        for error in errors {
            let shown = shown_message(
                name,
                private,
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream reported an error"),
            );
            let field_error =
                FieldError::new(ErrorCode::UpstreamGraphqlError, shown).upstream(name);
            let path: Vec<&Value> = error
                .get("path")
                .and_then(Value::as_array)
                .map(|p| p.iter().collect())
                .unwrap_or_default();
            let part = path
                .first()
                .and_then(|alias| alias.as_str())
                .and_then(|alias| parts.iter().position(|p| p.alias == alias));
            match part {
                // At the field itself, or with no path: the field's error
                // (its policy applies) when it has no value.
                Some(i) if path.len() == 1 => {
                    own[i].get_or_insert(field_error);
                }
                Some(i) => {
                    let part = &parts[i];
                    let mut client: Vec<PathSegment> = part
                        .path
                        .split('.')
                        .map(|s| match s.parse::<usize>() {
                            Ok(n) => PathSegment::Index(n),
                            Err(_) => PathSegment::Field(s.to_owned()),
                        })
                        .collect();
                    // The client's selections of the field, found again
                    // only when an error needs their locations.
                    let root: &[Sel] = state
                        .graphql
                        .as_ref()
                        .and_then(|op| op.normalized().ok())
                        .map_or(&[], |(_, sels)| sels.as_slice());
                    let mut sels: Vec<&Sel> = sels_at(root, &part.path);
                    let mut pos = sels.first().and_then(|s| s.pos);
                    for segment in &path[1..] {
                        match segment {
                            Value::Number(n) => {
                                client.push(PathSegment::Index(
                                    n.as_u64()
                                        .and_then(|n| usize::try_from(n).ok())
                                        .unwrap_or(0),
                                ));
                            }
                            Value::String(key) => {
                                client.push(PathSegment::Field(key.clone()));
                                sels = sels
                                    .iter()
                                    .flat_map(|s| s.sub.iter())
                                    .filter(|s| s.key == *key)
                                    .collect();
                                pos = sels.first().and_then(|s| s.pos).or(pos);
                            }
                            _ => {}
                        }
                    }
                    state.absorb(server_error(field_error, pos, client));
                }
                None => {
                    // No path into a field: every part without a value
                    // stands for it.
                    for (i, slot) in own.iter_mut().enumerate() {
                        let has_value = body
                            .get("data")
                            .and_then(|d| d.get(&parts[i].alias))
                            .is_some_and(|v| !v.is_null());
                        if !has_value {
                            slot.get_or_insert(field_error.clone());
                        }
                    }
                }
            }
        }
    }
    parts
        .into_iter()
        .zip(own)
        .map(|(part, error)| {
            let value = json.at(&["data".to_owned(), part.alias.clone()]);
            if value.get().is_null()
                && let Some(error) = error
            {
                return Err(error);
            }
            let position = Position {
                path: part.path.clone(),
                call: at.call,
                span: at.span.clone(),
                keyed: true,
            };
            let data = shape(state, &part.plan, &part.plan.field.def.ty, value, &position);
            Ok(Resolved::fresh(data))
        })
        .collect()
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

fn server_error(error: FieldError, pos: Option<Pos>, path: Vec<PathSegment>) -> ServerError {
    let mut error = error
        .into_graphql()
        .extend_with(|_, _| {})
        .into_server_error(pos.unwrap_or_default());
    if pos.is_none() {
        error.locations.clear();
    }
    error.path = path;
    error
}

fn internal(message: &str) -> FieldError {
    FieldError::new(ErrorCode::InternalError, message.to_owned())
}
