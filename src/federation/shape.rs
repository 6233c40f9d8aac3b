//! The response of an operation that only supergraph fields answer, shaped
//! straight from the assembled JSON by the operation's normalized selection.
//!
//! When no REST binding sits anywhere below the operation's root fields,
//! nothing is left to start once the plan has run: the engine's work would
//! be one resolver future per field, reading the same JSON. This walk does
//! that work without the futures, with the engine path's semantics:
//!
//! - fields of one response key merge (their sub-selections concatenate),
//!   in the order of first appearance; a field applies to an object whose
//!   concrete type satisfies every type condition it sits under;
//! - leaves are coerced as the resolvers coerce them ([`coerce::leaf`]);
//! - a failed fetch's marker or a value that does not fit is a field error,
//!   and the field's `@onError` policy applies (a default or a stale
//!   fallback stands in, reported as `degraded`);
//! - an error at a non-null position nulls the nearest nullable ancestor
//!   (list items included), once, with the error at its own path;
//! - objects and list items count against `maxCost` as they do on the
//!   engine path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{ErrorExtensions, Name, PathSegment, Pos, ServerError, Value as GqlValue};
use indexmap::IndexMap;
use serde_json::{Map, Value as Json};

use super::selection::Sel;
use crate::config::OnError;
use crate::error::{ErrorCode, FieldError};
use crate::exec::{CompiledField, OutputKind, Registry, RequestState};
use crate::schema::coerce;

static NULL: Json = Json::Null;

/// An error that made a non-null position null: the nearest nullable
/// ancestor becomes null (the error is already reported).
struct Bubble;

/// What completing a field's value can end in.
enum Problem {
    /// The value does not fit the field (or a fetch failed): the field's
    /// policy decides.
    Field(FieldError),
    Bubble,
}

impl From<Bubble> for Problem {
    fn from(_: Bubble) -> Problem {
        Problem::Bubble
    }
}

/// Shapes the operation's `data` from the assembled `root` object of type
/// `root_type`; field errors are pushed to `errors` in document order.
pub(crate) fn data<'a>(
    registry: &'a Registry,
    state: &'a RequestState,
    root_type: &str,
    selection: &'a [Sel],
    root: &Json,
    errors: &'a mut Vec<ServerError>,
) -> GqlValue {
    let map = match root {
        Json::Object(map) => map,
        _ => &Map::new(),
    };
    let sels: Vec<&Sel> = selection.iter().collect();
    let mut shaper = Shaper {
        registry,
        state,
        errors,
        path: Vec::new(),
        memo: HashMap::default(),
    };
    shaper
        .object(root_type, &sels, map)
        .unwrap_or(GqlValue::Null)
}

/// The fields of one response key on an object of a known type, merged.
struct Group<'s> {
    key: Name,
    /// `None` for `__typename`.
    field: Option<Arc<CompiledField>>,
    sels: Vec<&'s Sel>,
}

/// Compiled groups for one list of selections on one concrete type: the
/// selections' addresses (they live in the plan, so they identify it) and
/// the type, checked on every hit.
struct Compiled<'s> {
    sels: Vec<usize>,
    ty: String,
    groups: Rc<[Group<'s>]>,
}

struct Shaper<'a> {
    registry: &'a Registry,
    state: &'a RequestState,
    errors: &'a mut Vec<ServerError>,
    /// The response path of the position being shaped.
    path: Vec<PathSegment>,
    /// Groups by (first selection, count), then selections and type: the
    /// 20 items of a list share one compilation.
    memo: HashMap<(usize, usize), Vec<Compiled<'a>>, BuildHasherDefault<AddressHasher>>,
}

impl<'a> Shaper<'a> {
    /// The groups of `sels` on an object of type `ty`, compiled once.
    fn groups(&mut self, ty: &str, sels: &[&'a Sel]) -> Result<Rc<[Group<'a>]>, Bubble> {
        // Keyed by the first selection's address and the count: no hashing
        // of every selection per object; a hit is checked in full.
        let key = (
            sels.first()
                .map_or(0, |s| std::ptr::from_ref::<Sel>(s) as usize),
            sels.len(),
        );
        let same = |c: &Compiled<'_>| {
            c.ty == ty
                && c.sels
                    .iter()
                    .zip(sels)
                    .all(|(a, b)| *a == std::ptr::from_ref::<Sel>(b) as usize)
        };
        if let Some(hit) = self
            .memo
            .get(&key)
            .and_then(|list| list.iter().find(|c| same(c)))
        {
            return Ok(hit.groups.clone());
        }
        let mut groups: Vec<Group<'a>> = Vec::with_capacity(sels.len());
        for &sel in sels {
            if !sel.on.iter().all(|c| self.registry.satisfies(ty, c)) {
                continue;
            }
            if let Some(group) = groups.iter_mut().find(|g| g.key.as_str() == sel.key) {
                group.sels.push(sel);
                continue;
            }
            let field = if sel.is_typename() {
                None
            } else {
                match self.registry.field(ty, &sel.name) {
                    Some(field) => Some(field.clone()),
                    // Validation makes this unreachable; say so rather than
                    // guess.
                    None => {
                        self.path.push(PathSegment::Field(sel.key.clone()));
                        let error = FieldError::new(
                            ErrorCode::InternalError,
                            format!("`{ty}.{}` is not in the schema", sel.name),
                        );
                        self.report(error, &[sel], false);
                        self.path.pop();
                        return Err(Bubble);
                    }
                }
            };
            groups.push(Group {
                key: Name::new(&sel.key),
                field,
                sels: vec![sel],
            });
        }
        let groups: Rc<[Group<'a>]> = groups.into();
        self.memo.entry(key).or_default().push(Compiled {
            sels: sels
                .iter()
                .map(|s| std::ptr::from_ref::<Sel>(s) as usize)
                .collect(),
            ty: ty.to_owned(),
            groups: groups.clone(),
        });
        Ok(groups)
    }

    /// An object of concrete type `ty`: the selections that apply to it,
    /// merged by response key.
    fn object(
        &mut self,
        ty: &str,
        sels: &[&'a Sel],
        json: &Map<String, Json>,
    ) -> Result<GqlValue, Bubble> {
        let groups = self.groups(ty, sels)?;
        let mut out = IndexMap::with_capacity(groups.len());
        for group in groups.iter() {
            let Some(field) = &group.field else {
                out.insert(group.key.clone(), GqlValue::String(ty.to_owned()));
                continue;
            };
            self.path
                .push(PathSegment::Field(group.key.as_str().to_owned()));
            let value = self.field(
                field,
                &group.sels,
                json.get(group.key.as_str()).unwrap_or(&NULL),
            );
            self.path.pop();
            out.insert(group.key.clone(), value?);
        }
        Ok(GqlValue::Object(out))
    }

    /// One field's value (`Err` when it must null its parent).
    fn field(
        &mut self,
        field: &CompiledField,
        group: &[&'a Sel],
        json: &Json,
    ) -> Result<GqlValue, Bubble> {
        let ty = &field.def.ty;
        let completed = match super::failure(self.state, json) {
            Some(failed) => Err(Problem::Field(failed)),
            None if is_leaf(&field.out) => coerce::leaf(field, ty, json).map_err(Problem::Field),
            None => match self.state.budget.resolve(1) {
                Ok(()) => self.complete(field, ty, group, json),
                Err(e) => Err(Problem::Field(e)),
            },
        };
        match completed {
            Ok(value) => Ok(value),
            Err(Problem::Field(error)) => self.fail(field, group, error),
            Err(Problem::Bubble) if ty.nullable => Ok(GqlValue::Null),
            Err(Problem::Bubble) => Err(Bubble),
        }
    }

    /// An object or list value of type `ty` (a position of `field`).
    fn complete(
        &mut self,
        field: &CompiledField,
        ty: &Type,
        group: &[&'a Sel],
        json: &Json,
    ) -> Result<GqlValue, Problem> {
        match (&ty.base, json) {
            (_, Json::Null) if ty.nullable => Ok(GqlValue::Null),
            (_, Json::Null) => Err(Problem::Field(FieldError::new(
                ErrorCode::UpstreamBadResponse,
                format!("{}: expected {ty}, got null", field.def.coordinate),
            ))),
            (BaseType::List(inner), Json::Array(items)) => {
                self.state
                    .budget
                    .resolve(u64::try_from(items.len()).unwrap_or(u64::MAX))
                    .map_err(Problem::Field)?;
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(PathSegment::Index(i));
                    let value = self.complete(field, inner, group, item);
                    self.path.pop();
                    match value {
                        Ok(value) => values.push(value),
                        Err(Problem::Bubble) if inner.nullable => values.push(GqlValue::Null),
                        Err(problem) => return Err(problem),
                    }
                }
                Ok(GqlValue::List(values))
            }
            (BaseType::Named(_), Json::Object(map)) => {
                let concrete = if matches!(field.out, OutputKind::Abstract) {
                    let Some(Json::String(typename)) = map.get("__typename") else {
                        return Err(Problem::Field(FieldError::new(
                            ErrorCode::UpstreamBadResponse,
                            format!(
                                "{}: the upstream JSON has no `__typename`, so the concrete type of {} is unknown",
                                field.def.coordinate, field.named
                            ),
                        )));
                    };
                    if !self.registry.possible(typename, &field.named) {
                        // As the engine words it; no policy applies to it.
                        let message = if self.registry.is_interface(&field.named) {
                            format!(
                                "internal: object \"{typename}\" does not implement interface \"{}\"",
                                field.named
                            )
                        } else {
                            format!(
                                "internal: union \"{}\" does not contain object \"{typename}\"",
                                field.named
                            )
                        };
                        self.report_plain(async_graphql::Error::new(message), group);
                        return Err(Problem::Bubble);
                    }
                    typename.as_str()
                } else {
                    field.named.as_str()
                };
                let subs: Vec<&'a Sel> = group.iter().flat_map(|s| s.sub.iter()).collect();
                Ok(self.object(concrete, &subs, map)?)
            }
            (BaseType::Named(_), _) => Err(Problem::Field(coerce::mismatch(field, ty, json))),
            (BaseType::List(_), _) => Err(Problem::Field(FieldError::new(
                ErrorCode::UpstreamBadResponse,
                format!(
                    "{}: expected {ty}, got a value of another shape",
                    field.def.coordinate
                ),
            ))),
        }
    }

    /// Applies the field's `@onError` policy to its failure.
    fn fail(
        &mut self,
        field: &CompiledField,
        group: &[&'a Sel],
        error: FieldError,
    ) -> Result<GqlValue, Bubble> {
        if let OnError::Default(value)
        | OnError::Stale {
            fallback: Some(value),
        } = &field.def.on_error
        {
            let json = value.clone().into_json().unwrap_or(Json::Null);
            // Shaped like an answer; the fallback's own problems are not
            // reported (`check` verified it fits), the original failure is.
            let mark = self.errors.len();
            let fallback = if is_leaf(&field.out) {
                coerce::leaf(field, &field.def.ty, &json).ok()
            } else {
                self.complete(field, &field.def.ty, group, &json).ok()
            };
            self.errors.truncate(mark);
            if let Some(fallback) = fallback {
                self.report(error, group, true);
                return Ok(fallback);
            }
        }
        self.report(error, group, false);
        if field.def.ty.nullable {
            Ok(GqlValue::Null)
        } else {
            Err(Bubble)
        }
    }

    /// Reports `error` at the current path, at every location of the
    /// merged field.
    fn report(&mut self, error: FieldError, group: &[&Sel], degraded: bool) {
        let mut error = error.into_graphql();
        if degraded {
            error = error.extend_with(|_, ext| ext.set("degraded", true));
        }
        self.report_plain(error, group);
    }

    fn report_plain(&mut self, error: async_graphql::Error, group: &[&Sel]) {
        let mut error = error.into_server_error(group[0].pos.unwrap_or_default());
        for pos in group.iter().skip(1).filter_map(|s| s.pos) {
            if !error.locations.contains(&pos) {
                error.locations.push(pos);
            }
        }
        if group[0].pos.is_none() {
            error.locations.retain(|p| *p != Pos::default());
        }
        error.path = self.path.clone();
        self.errors.push(error);
    }
}

/// Hashes the memo's keys (an address and a count) by mixing them: they
/// are already well spread, and SipHash per object would cost more than the
/// lookup saves.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

fn is_leaf(out: &OutputKind) -> bool {
    !matches!(out, OutputKind::Object | OutputKind::Abstract)
}
