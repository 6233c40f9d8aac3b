//! A supergraph's join metadata (join spec v0.3+, as composition writes it),
//! read once at load: which subgraphs define each type and resolve each
//! field, the entity keys, `@requires`/`@provides`, interface objects,
//! per-subgraph interface implementations and union members.

use std::collections::{HashMap, HashSet};

use async_graphql::Positioned;
use async_graphql::parser::types::{
    ConstDirective, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};

use super::selection::FieldSet;

mod read;

pub(crate) use read::{named_of, string_arg};

/// A subgraph's index in [`Supergraph::graphs`].
pub(crate) type GraphId = usize;

/// One subgraph: its name in the supergraph and where it is served.
#[derive(Debug, Clone)]
pub struct Subgraph {
    pub name: String,
    /// The `join__Graph` enum value that names it in the join directives.
    pub enum_value: String,
    pub url: String,
}

/// What kind of named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Interface,
    Union,
    Leaf,
    Input,
}

/// An entity key of a type in one subgraph.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) graph: GraphId,
    pub(crate) fields: FieldSet,
    pub(crate) resolvable: bool,
}

/// One `@join__field`: how one subgraph takes part in a field.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldJoin {
    /// `None`: `@join__field` without a graph (a field an interface object
    /// contributes to an implementation).
    pub(crate) graph: Option<GraphId>,
    pub(crate) requires: Option<FieldSet>,
    pub(crate) provides: Option<FieldSet>,
    pub(crate) external: bool,
    pub(crate) used_overridden: bool,
    /// The named type the subgraph gives the field, when it differs from
    /// the supergraph's (`type: "Book"` for a `ViewerMedia` field).
    pub(crate) named: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct FedField {
    /// The named type at the bottom of `ty`.
    pub(crate) named: String,
    pub(crate) joins: Vec<FieldJoin>,
    /// Argument types, for the variables of subgraph requests.
    pub(crate) args: HashMap<String, Type>,
}

#[derive(Debug, Clone)]
pub(crate) struct FedType {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// The subgraphs with `@join__type` for it.
    pub(crate) graphs: Vec<GraphId>,
    pub(crate) keys: Vec<Key>,
    /// Subgraphs where this interface is an `@interfaceObject`.
    pub(crate) interface_object_in: Vec<GraphId>,
    pub(crate) fields: HashMap<String, FedField>,
    /// `@join__implements`: the interfaces it implements in each subgraph.
    pub(crate) implements_in: Vec<(GraphId, String)>,
    /// The interfaces it implements in the supergraph.
    pub(crate) implements: Vec<String>,
    /// `@join__unionMember`: its members in each subgraph.
    pub(crate) members_in: Vec<(GraphId, String)>,
    /// The union's members in the supergraph.
    pub(crate) members: Vec<String>,
    /// Enum values and the subgraphs that know each (`@join__enumValue`).
    pub(crate) enum_values: Vec<(String, Vec<GraphId>)>,
}

impl FedType {
    pub(crate) fn in_graph(&self, graph: GraphId) -> bool {
        self.graphs.contains(&graph)
    }

    pub(crate) fn is_interface_object_in(&self, graph: GraphId) -> bool {
        self.interface_object_in.contains(&graph)
    }

    /// The resolvable keys of this type in `graph`.
    pub(crate) fn keys_in(&self, graph: GraphId) -> impl Iterator<Item = &Key> {
        self.keys
            .iter()
            .filter(move |k| k.graph == graph && k.resolvable)
    }
}

/// The join metadata of a whole supergraph.
#[derive(Debug, Clone)]
pub struct Supergraph {
    pub graphs: Vec<Subgraph>,
    pub(crate) types: HashMap<String, FedType>,
    pub(crate) query_type: String,
    pub(crate) mutation_type: Option<String>,
    /// The subscription root, when some subgraph offers subscriptions.
    pub(crate) subscription_type: Option<String>,
    /// Concrete object types of each abstract type (supergraph-wide).
    pub(crate) possible: HashMap<String, Vec<String>>,
    /// Fields the overlay adds to supergraph types (bound with `@rest` or
    /// read with `@from`), with the paths of their parent's JSON they read:
    /// the planner fetches those, never the fields themselves.
    pub(crate) overlay: HashMap<String, HashMap<String, Vec<Vec<String>>>>,
}

/// Whether `text` is a supergraph: its schema links the join spec.
pub fn is_supergraph(text: &str) -> bool {
    text.contains("specs.apollo.dev/join/v")
}

/// Directive names that are supergraph machinery, never part of the API.
pub(crate) fn is_machinery_type(name: &str) -> bool {
    name.starts_with("join__") || name.starts_with("link__")
}

impl Supergraph {
    pub(crate) fn ty(&self, name: &str) -> Option<&FedType> {
        self.types.get(name)
    }

    pub(crate) fn field(&self, ty: &str, field: &str) -> Option<&FedField> {
        self.types.get(ty)?.fields.get(field)
    }

    /// The parent paths an overlay field of `ty` reads, when it is one.
    pub(crate) fn overlay_field(&self, ty: &str, field: &str) -> Option<&Vec<Vec<String>>> {
        self.overlay.get(ty)?.get(field)
    }

    pub(crate) fn kind(&self, name: &str) -> Kind {
        self.types.get(name).map_or(Kind::Leaf, |t| t.kind)
    }

    /// The concrete object types a value of type `name` may have.
    pub(crate) fn possible_types<'s>(&'s self, name: &'s str) -> Vec<&'s str> {
        match self.possible.get(name) {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => vec![name],
        }
    }

    /// Whether `graph` knows object type `name` as a possible type of the
    /// abstract type `of` (so `... on name` is valid below an `of` there).
    pub(crate) fn graph_has_possible(&self, graph: GraphId, of: &str, name: &str) -> bool {
        let Some(object) = self.types.get(name) else {
            return false;
        };
        if !object.in_graph(graph) {
            return false;
        }
        match self.kind(of) {
            Kind::Union => self
                .types
                .get(of)
                .is_some_and(|u| u.members_in.iter().any(|(g, m)| *g == graph && m == name)),
            Kind::Interface => {
                if of == name {
                    return true;
                }
                object
                    .implements_in
                    .iter()
                    .any(|(g, i)| *g == graph && i == of)
            }
            _ => of == name,
        }
    }

    /// Whether `graph` resolves `ty.field` itself (not as an external field,
    /// not one overridden away). `ty` is an object or interface type.
    pub(crate) fn resolves(&self, graph: GraphId, ty: &str, field: &str) -> bool {
        let Some(t) = self.types.get(ty) else {
            return false;
        };
        if field == "__typename" {
            return t.in_graph(graph);
        }
        let Some(f) = t.fields.get(field) else {
            return false;
        };
        if f.joins.is_empty() {
            return t.in_graph(graph);
        }
        f.joins
            .iter()
            .any(|j| j.graph == Some(graph) && !j.external && !j.used_overridden)
    }

    /// The `@join__field` of `ty.field` for `graph`, if it has one.
    pub(crate) fn join(&self, graph: GraphId, ty: &str, field: &str) -> Option<&FieldJoin> {
        self.field(ty, field)?
            .joins
            .iter()
            .find(|j| j.graph == Some(graph) && !j.used_overridden)
    }

    /// Every subgraph that resolves `ty.field`, in declaration order.
    pub(crate) fn resolvers(&self, ty: &str, field: &str) -> Vec<GraphId> {
        (0..self.graphs.len())
            .filter(|g| self.resolves(*g, ty, field))
            .collect()
    }
}

/// The names of every type, field, argument and enum value marked
/// `@inaccessible` (by `Type`, `Type.field`, `Type.field(arg:)`).
pub(crate) fn inaccessible(doc: &ServiceDocument) -> HashSet<String> {
    let mut out = HashSet::new();
    let marked =
        |ds: &[Positioned<ConstDirective>]| ds.iter().any(|d| d.node.name.node == "inaccessible");
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let name = ty.node.name.node.as_str();
        if marked(&ty.node.directives) {
            out.insert(name.to_owned());
        }
        let fields = match &ty.node.kind {
            TypeKind::Object(o) => &o.fields[..],
            TypeKind::Interface(i) => &i.fields[..],
            TypeKind::Enum(e) => {
                for v in &e.values {
                    if marked(&v.node.directives) {
                        out.insert(format!("{name}.{}", v.node.value.node));
                    }
                }
                &[]
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    if marked(&f.node.directives) {
                        out.insert(format!("{name}.{}", f.node.name.node));
                    }
                }
                &[]
            }
            _ => &[],
        };
        for f in fields {
            if marked(&f.node.directives) {
                out.insert(format!("{name}.{}", f.node.name.node));
            }
            for a in &f.node.arguments {
                if marked(&a.node.directives) {
                    out.insert(format!(
                        "{name}.{}({}:)",
                        f.node.name.node, a.node.name.node
                    ));
                }
            }
        }
    }
    out
}
