//! `@entity` fields: a supergraph entity (or a list of them) below an object
//! the REST side gave. The representations of a field met while one answer
//! is shaped (on every item of every list on the way) go to the query
//! planner at once ([`scope`]), so each subgraph is called once for all of
//! them; each parent's value is then shaped from the assembled entities
//! like any object, its REST children started the moment it is known.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use async_graphql::PathSegment;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::{Map, Value};

use super::graphql::sels_at;
use super::{Position, shape, spawn};
use crate::config::{EntityBinding, EntityKey, FieldSource};
use crate::error::{ErrorCode, FieldError};
use crate::exec::data::{Resolved, Slot};
use crate::exec::plan::Plan;
use crate::exec::render::{Inputs, pluck, render_body};
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::federation::Entry;
use crate::federation::selection::Sel;

pub(super) fn is_bound(plan: &Plan) -> bool {
    matches!(plan.field.def.source, FieldSource::Entity(_))
}

/// Starts the `@entity` children of `parents` (one object, or with `items`
/// every item of the list at `at`): one entry per field for all of them.
/// Each parent's slots go to its entry of `out`.
pub(super) fn children(
    state: &Arc<RequestState>,
    plan: &Plan,
    parents: &[Option<&Value>],
    at: &Position,
    items: bool,
    out: &mut [Vec<(String, Slot)>],
) {
    for child in plan.children.iter().filter(|c| is_bound(c)) {
        let mut members = Vec::new();
        let mut owners = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            let Some(parent) = parent else {
                continue;
            };
            let position = if items { at.item(i) } else { at.clone() };
            members.push((position.with_path(position.child(&child.key)), *parent));
            owners.push(i);
        }
        let slots = start(state, child, members, at);
        for (slot, owner) in slots.into_iter().zip(owners) {
            if let Some(list) = out.get_mut(owner) {
                list.push((child.key.clone(), slot));
            }
        }
    }
}

/// An `@entity` field no parent planned (below an interface or union, or
/// a root field with a `key`).
pub(super) fn alone(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parent_json: &View,
    parent: &Position,
    path: Arc<str>,
) -> Slot {
    let member = (parent.with_path(path), parent_json.get());
    scope(state, || start(state, plan, vec![member], parent))
        .pop()
        .unwrap_or_else(|| Slot::Ready(Err(internal("no entry"))))
}

/// The entities of the groups being made, while an answer is shaped.
type Answer = Shared<BoxFuture<'static, Result<Arc<Vec<Value>>, FieldError>>>;

/// The members of one `@entity` field met while an answer is shaped (its
/// objects at every depth of the lists on the way): one entry for all.
struct Group {
    plan: Arc<Plan>,
    /// Where the first member sits (the client's selection is found there).
    first: Arc<str>,
    call: Option<usize>,
    representations: Vec<(Map<String, Value>, Vec<PathSegment>)>,
    /// Set when the group is started, before any member is awaited.
    answer: Arc<OnceLock<Answer>>,
}

thread_local! {
    /// The groups of the answer being shaped on this thread; `None` when
    /// no shaping is under way. Shaping never awaits, so a scope begins and
    /// ends on one thread.
    static GROUPS: RefCell<Option<Vec<Group>>> = const { RefCell::new(None) };
}

/// Resets the scope even if shaping panics.
struct ScopeGuard;

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        GROUPS.with(|g| g.borrow_mut().take());
    }
}

/// Runs `shape` (which may meet `@entity` fields at any depth) and then
/// starts one entry per field for everything it met: the objects of all
/// items of every list on the way go to the subgraphs at once.
pub(super) fn scope<T>(state: &Arc<RequestState>, shape: impl FnOnce() -> T) -> T {
    let outer = GROUPS.with(|g| {
        let mut g = g.borrow_mut();
        if g.is_some() {
            false
        } else {
            *g = Some(Vec::new());
            true
        }
    });
    if !outer {
        return shape();
    }
    let guard = ScopeGuard;
    let out = shape();
    let groups = GROUPS.with(|g| g.borrow_mut().take()).unwrap_or_default();
    drop(guard);
    for group in groups {
        let answer = begin_entry(state, &group);
        // Set once, here: nothing else has the lock.
        let _ = group.answer.set(answer);
    }
    out
}

/// Starts the entry of `group`.
fn begin_entry(state: &Arc<RequestState>, group: &Group) -> Answer {
    let failed = |e: FieldError| futures_util::future::ready(Err(e)).boxed().shared();
    let selection = match selection_below(state, &group.first) {
        Ok(selection) => selection,
        Err(e) => return failed(e),
    };
    let Some(request) = state.federation.clone() else {
        return failed(internal("the schema is not a supergraph"));
    };
    let FieldSource::Entity(binding) = &group.plan.field.def.source else {
        return failed(internal("not an @entity field"));
    };
    // `orders.3.lines.0.product` is shown as `orders.lines.product`.
    let shown: Arc<str> = Arc::from(
        group
            .first
            .split('.')
            .filter(|s| s.parse::<usize>().is_err())
            .collect::<Vec<_>>()
            .join("."),
    );
    let task_state = state.clone();
    let typename = binding.typename.clone();
    let call = group.call;
    let representations = group.representations.clone();
    spawn(state, &group.plan.field.def.coordinate, async move {
        let entry = Entry {
            typename: &typename,
            selection: &selection,
            path: shown,
            representations,
            call,
        };
        request.entry(&task_state, entry).await.map(Arc::new)
    })
}

/// The field `plan` on each member (its position, its parent's JSON): its
/// representations join the field's group; a slot per member, in order.
fn start(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    members: Vec<(Position, &Value)>,
    at: &Position,
) -> Vec<Slot> {
    let FieldSource::Entity(binding) = &plan.field.def.source else {
        return members
            .iter()
            .map(|_| Slot::Ready(Err(internal("not an @entity field"))))
            .collect();
    };
    let mut slots = Vec::with_capacity(members.len());
    for (position, parent) in members {
        let mut value = match value(state, plan, binding, parent) {
            Ok(value) => value,
            Err(e) => {
                slots.push(Slot::Ready(Err(e)));
                continue;
            }
        };
        let mut found = Vec::new();
        collect(&value, &binding.typename, base(&position.path), &mut found);
        if found.is_empty() {
            let data = shape(state, plan, &plan.field.def.ty, View::new(value), &position);
            slots.push(Slot::Ready(Ok(Resolved::fresh(data))));
            continue;
        }
        let count = found.len();
        let joined = GROUPS.with(|g| {
            let mut g = g.borrow_mut();
            let groups = g.as_mut()?;
            let index = match groups.iter().position(|x| Arc::ptr_eq(&x.plan, plan)) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        plan: plan.clone(),
                        first: position.path.clone(),
                        call: at.call,
                        representations: Vec::new(),
                        answer: Arc::default(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            let first = group.representations.len();
            group.representations.append(&mut found);
            Some((group.answer.clone(), first))
        });
        let Some((answer, first)) = joined else {
            slots.push(Slot::Ready(Err(internal(
                "an @entity field outside a shaping scope",
            ))));
            continue;
        };
        let state = state.clone();
        let plan = plan.clone();
        let pending = async move {
            let Some(answer) = answer.get().cloned() else {
                return Err(internal("the entities were never asked for"));
            };
            let entities = answer.await?;
            let mut next = entities.iter().skip(first).take(count).cloned();
            replace(&mut value, &mut next);
            let data = shape(
                &state,
                &plan,
                &plan.field.def.ty,
                View::new(value),
                &position,
            );
            Ok(Resolved::fresh(data))
        }
        .boxed()
        .shared();
        slots.push(Slot::Pending(pending));
    }
    slots
}

/// The field's value on `parent`, with each entity a representation (its
/// `__typename` set): rendered from the key's templates, or read from the
/// parent's JSON.
fn value(
    state: &RequestState,
    plan: &Plan,
    binding: &EntityBinding,
    parent: &Value,
) -> Result<Value, FieldError> {
    match &binding.key {
        EntityKey::Parent(path) => Ok(pluck(parent, path).cloned().unwrap_or(Value::Null)),
        EntityKey::Templates(fields) => {
            let inputs = Inputs {
                args: &plan.args,
                parent,
                headers: &state.headers,
            };
            let mut rep = Map::new();
            for (name, template) in fields {
                let value = render_body(template, inputs)?;
                // No entity has a null key: the field is null, with no call.
                if value.is_null() {
                    return Ok(Value::Null);
                }
                rep.insert(name.clone(), value);
            }
            Ok(Value::Object(rep))
        }
    }
}

/// Every object of `value` (itself, or the items of its lists) as a
/// representation of `typename`, with its response path.
fn collect(
    value: &Value,
    typename: &str,
    path: Vec<PathSegment>,
    out: &mut Vec<(Map<String, Value>, Vec<PathSegment>)>,
) {
    match value {
        Value::Object(object) => {
            let mut rep = object.clone();
            rep.insert("__typename".to_owned(), Value::String(typename.to_owned()));
            out.push((rep, path));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut at = path.clone();
                at.push(PathSegment::Index(i));
                collect(item, typename, at, out);
            }
        }
        _ => {}
    }
}

/// Puts the assembled entities in place of the representations, in the
/// order [`collect`] found them.
fn replace(value: &mut Value, entities: &mut impl Iterator<Item = Value>) {
    match value {
        Value::Object(_) => {
            if let Some(entity) = entities.next() {
                *value = entity;
            }
        }
        Value::Array(items) => {
            for item in items {
                replace(item, entities);
            }
        }
        _ => {}
    }
}

/// `orders.3.product` as path segments.
fn base(path: &str) -> Vec<PathSegment> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(i) => PathSegment::Index(i),
            Err(_) => PathSegment::Field(s.to_owned()),
        })
        .collect()
}

/// The client's selection below the field at response `path`, merged.
fn selection_below(state: &RequestState, path: &str) -> Result<Vec<Sel>, FieldError> {
    let Some(operation) = &state.graphql else {
        return Err(internal("the operation is not known"));
    };
    let (_, root) = operation.normalized()?;
    Ok(sels_at(root, path)
        .into_iter()
        .flat_map(|s| s.sub.iter().cloned())
        .collect())
}

fn internal(message: &str) -> FieldError {
    FieldError::new(ErrorCode::InternalError, message.to_owned())
}
