//! Runtime view of the configuration: per type, its fields with their
//! upstream clients resolved, and what kind of value each field produces.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};

use crate::config::{Config, FieldDef, FieldSource, TypeDef};
use crate::upstream::{CallSpec, Upstream};

/// The named type at the bottom of a field's type.
#[derive(Debug, Clone)]
pub(crate) enum OutputKind {
    Int,
    Float,
    String,
    Boolean,
    Id,
    /// Custom scalars pass JSON through unchanged.
    Custom,
    Enum(Arc<HashSet<String>>),
    Object,
    /// Interfaces and unions; the concrete type comes from `__typename`.
    Abstract,
}

/// One field of the schema as the resolvers and the executor use it: its
/// definition, its upstream and compiled call (when bound), and the kind of
/// value it produces, all resolved once when the schema loads.
#[derive(Debug)]
pub(crate) struct CompiledField {
    pub(crate) def: Arc<FieldDef>,
    pub(crate) upstream: Option<Arc<Upstream>>,
    /// A bound field's calls, compiled once.
    pub(crate) call: Option<Arc<CallSpec>>,
    /// The name of the bottom named type.
    pub(crate) named: String,
    pub(crate) out: OutputKind,
    /// A supergraph field with no REST binding anywhere below it: its value
    /// is the planner's JSON as it is, with nothing to start.
    pub(crate) plain_federated: bool,
    /// A `batch: { window }` binding's loader, shared by every request.
    pub(crate) window: Option<Arc<super::resolve::Window>>,
    /// For an interface or union field: an object type it may hold, which
    /// a null list item is presented as to the engine (see
    /// `schema::resolver::NullItem`).
    pub(crate) stand_in_type: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) types: HashMap<String, HashMap<String, Arc<CompiledField>>>,
    /// Per object type, the abstract types it is a possible type of (its
    /// interfaces and the unions it is a member of).
    abstracts: HashMap<String, HashSet<String>>,
    /// Some field is an `@entity`: answers are shaped in a scope that
    /// gathers them (see `exec::resolve::entity`).
    pub(crate) has_entities: bool,
    /// Argument values completed and coerced as the spec says.
    pub(crate) inputs: super::inputs::InputTypes,
    /// The upstream feeds of live (subscription) fields, shared by every
    /// subscriber of the same request.
    pub(crate) feeds: Arc<crate::upstream::live::Feeds>,
}

impl Registry {
    pub(crate) fn field(&self, ty: &str, field: &str) -> Option<&Arc<CompiledField>> {
        self.types.get(ty)?.get(field)
    }

    /// Whether `object` is an object type and a possible type of the
    /// interface or union `abstract_type`.
    pub(crate) fn possible(&self, object: &str, abstract_type: &str) -> bool {
        self.abstracts
            .get(object)
            .is_some_and(|set| set.contains(abstract_type))
    }

    /// Whether `name` is an interface (its fields are registered; a
    /// union's are not).
    pub(crate) fn is_interface(&self, name: &str) -> bool {
        self.types.contains_key(name) && !self.abstracts.contains_key(name)
    }

    /// Whether an object of type `object` satisfies the type condition
    /// `condition` (itself, one of its interfaces, a union it is in).
    pub(crate) fn satisfies(&self, object: &str, condition: &str) -> bool {
        object == condition
            || self
                .abstracts
                .get(object)
                .is_some_and(|set| set.contains(condition))
    }

    pub(crate) fn build(config: &Config, upstreams: &HashMap<String, Arc<Upstream>>) -> Registry {
        let bound_below = bound_below(config);
        let mut abstracts: HashMap<String, HashSet<String>> = HashMap::new();
        for (name, def) in &config.types {
            match def {
                TypeDef::Object(o) => {
                    abstracts
                        .entry(name.clone())
                        .or_default()
                        .extend(o.implements.iter().cloned());
                }
                TypeDef::Union(u) => {
                    for member in &u.members {
                        abstracts
                            .entry(member.clone())
                            .or_default()
                            .insert(name.clone());
                    }
                }
                _ => {}
            }
        }
        let mut types = HashMap::new();
        for (name, def) in &config.types {
            let (TypeDef::Object(object) | TypeDef::Interface(object)) = def else {
                continue;
            };
            let fields = object
                .fields
                .iter()
                .map(|(fname, fdef)| {
                    let (upstream, call) = match &fdef.source {
                        FieldSource::Rest(binding) => (
                            upstreams.get(&binding.upstream.name).cloned(),
                            Some(Arc::new(CallSpec::compile(binding, &fdef.on_error))),
                        ),
                        FieldSource::Graphql(binding) => (
                            upstreams.get(&binding.upstream.name).cloned(),
                            Some(Arc::new(CallSpec::graphql(
                                &binding.upstream,
                                &fdef.on_error,
                                config.mutation_type.as_deref() == Some(name.as_str()),
                            ))),
                        ),
                        _ => (None, None),
                    };
                    let ty = engine_type(config, name, fname, &fdef.ty);
                    let named = base_name(&ty).to_owned();
                    let out = out_kind(config, &named);
                    let plain_federated = matches!(fdef.source, FieldSource::Federated)
                        && !bound_below.contains(named.as_str());
                    let stand_in_type = matches!(out, OutputKind::Abstract)
                        .then(|| {
                            let mut possible: Vec<&String> = abstracts
                                .iter()
                                .filter(|(_, set)| set.contains(&named))
                                .map(|(object, _)| object)
                                .collect();
                            possible.sort();
                            possible.first().map(|s| (*s).clone())
                        })
                        .flatten();
                    let window = match &fdef.source {
                        FieldSource::Rest(binding) => binding.batch.as_ref().and_then(|batch| {
                            let window = batch.window?;
                            Some(Arc::new(super::resolve::Window::new(batch, window)))
                        }),
                        _ => None,
                    };
                    let rt = CompiledField {
                        window,
                        stand_in_type,
                        plain_federated,
                        def: fdef.clone(),
                        upstream,
                        call,
                        named,
                        out,
                    };
                    (fname.clone(), Arc::new(rt))
                })
                .collect();
            types.insert(name.clone(), fields);
        }
        let has_entities = types
            .values()
            .any(|fields: &HashMap<String, Arc<CompiledField>>| {
                fields
                    .values()
                    .any(|f| matches!(f.def.source, FieldSource::Entity(_)))
            });
        Registry {
            feeds: Arc::new(crate::upstream::live::Feeds::new(
                config.server.subscriptions.buffer,
            )),
            types,
            abstracts,
            has_entities,
            inputs: super::inputs::InputTypes::new(config),
        }
    }
}

/// The types from which a REST-bound field can be reached (through fields,
/// interface implementations and union members).
fn bound_below(config: &Config) -> HashSet<String> {
    // Edges: type -> the types its fields (and possible types) lead to.
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut bound: HashSet<String> = HashSet::new();
    for (name, def) in &config.types {
        match def {
            TypeDef::Object(o) | TypeDef::Interface(o) => {
                for f in o.fields.values() {
                    if matches!(
                        f.source,
                        FieldSource::Rest(_) | FieldSource::Graphql(_) | FieldSource::Entity(_)
                    ) {
                        bound.insert(name.clone());
                    }
                    edges.entry(name).or_default().push(base_name(&f.ty));
                }
                for i in &o.implements {
                    edges.entry(i.as_str()).or_default().push(name);
                }
            }
            TypeDef::Union(u) => {
                for m in &u.members {
                    edges.entry(name).or_default().push(m);
                }
            }
            _ => {}
        }
    }
    // Fixpoint: a type is bound below when anything it leads to is.
    loop {
        let before = bound.len();
        for (from, to) in &edges {
            if !bound.contains(*from) && to.iter().any(|t| bound.contains(*t)) {
                bound.insert((*from).to_owned());
            }
        }
        if bound.len() == before {
            return bound;
        }
    }
}

/// The type the engine is given for `ty_name.field` (declared `ty`): the
/// declared one, except where an object narrows an interface's field to a
/// subtype (`Book.similar: [Book]` for `Similar.similar: [Product]`), which
/// the engine's covariance check does not accept: there the interface's
/// named type, in the object's wrappers.
///
/// When every implementation narrows the field to the same type, the
/// interface's field is given that type instead, so the objects keep their
/// own (and selections below them validate as declared).
pub(crate) fn engine_type(config: &Config, ty_name: &str, field: &str, ty: &Type) -> Type {
    let own = base_name(ty);
    match config.types.get(ty_name) {
        Some(TypeDef::Interface(_)) => match agreed(config, ty_name, field) {
            Some(narrowed) if narrowed != own => with_base(ty, &narrowed),
            _ => ty.clone(),
        },
        Some(TypeDef::Object(object)) => {
            for interface in &object.implements {
                let Some(TypeDef::Interface(i)) = config.types.get(interface) else {
                    continue;
                };
                if let Some(f) = i.fields.get(field) {
                    let theirs = base_name(&f.ty);
                    if theirs != own && agreed(config, interface, field).is_none() {
                        return with_base(ty, theirs);
                    }
                }
            }
            ty.clone()
        }
        _ => ty.clone(),
    }
}

/// The named type every implementation of `interface` gives `field`, when
/// they all give the same one.
fn agreed(config: &Config, interface: &str, field: &str) -> Option<String> {
    let mut found: Option<&str> = None;
    for def in config.types.values() {
        let TypeDef::Object(o) = def else { continue };
        if !o.implements.iter().any(|i| i == interface) {
            continue;
        }
        let named = base_name(&o.fields.get(field)?.ty);
        match found {
            None => found = Some(named),
            Some(f) if f == named => {}
            Some(_) => return None,
        }
    }
    found.map(str::to_owned)
}

fn with_base(ty: &Type, named: &str) -> Type {
    Type {
        base: match &ty.base {
            BaseType::Named(_) => BaseType::Named(async_graphql::Name::new(named)),
            BaseType::List(inner) => BaseType::List(Box::new(with_base(inner, named))),
        },
        nullable: ty.nullable,
    }
}

pub(crate) fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

fn out_kind(config: &Config, named: &str) -> OutputKind {
    match named {
        "Int" => OutputKind::Int,
        "Float" => OutputKind::Float,
        "String" => OutputKind::String,
        "Boolean" => OutputKind::Boolean,
        "ID" => OutputKind::Id,
        other => match config.types.get(other) {
            Some(TypeDef::Enum(e)) => {
                OutputKind::Enum(Arc::new(e.values.iter().map(|v| v.name.clone()).collect()))
            }
            Some(TypeDef::Object(_)) => OutputKind::Object,
            Some(TypeDef::Interface(_) | TypeDef::Union(_)) => OutputKind::Abstract,
            _ => OutputKind::Custom,
        },
    }
}
