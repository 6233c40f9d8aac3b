//! A supergraph's join metadata (join spec v0.3+, as composition writes it),
//! read once at load: which subgraphs define each type and resolve each
//! field, the entity keys, `@requires`/`@provides`, interface objects,
//! per-subgraph interface implementations and union members.

use std::collections::{HashMap, HashSet};

use async_graphql::Pos;
use async_graphql::parser::types::{
    ConstDirective, FieldDefinition, ServiceDocument, Type, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Positioned, Value};

use super::selection::{FieldSet, parse_field_set};
use crate::config::Diagnostic;

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

    /// Reads the join metadata of a parsed supergraph.
    pub(crate) fn read(doc: &ServiceDocument) -> Result<Supergraph, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut graphs = Vec::new();
        let mut graph_ids: HashMap<String, GraphId> = HashMap::new();
        let mut query_type = "Query".to_owned();
        let mut mutation_type = None;
        let mut defs: Vec<&Positioned<TypeDefinition>> = Vec::new();
        for def in &doc.definitions {
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(q) = &schema.node.query {
                        query_type = q.node.to_string();
                    }
                    mutation_type = schema.node.mutation.as_ref().map(|m| m.node.to_string());
                    if let Some(s) = &schema.node.subscription {
                        diags.push(Diagnostic {
                            pos: s.pos,
                            message: "subscriptions through a supergraph are not supported yet"
                                .to_owned(),
                        });
                    }
                    let links: Vec<String> = schema
                        .node
                        .directives
                        .iter()
                        .filter(|d| d.node.name.node == "link")
                        .filter_map(|d| string_arg(&d.node, "url"))
                        .collect();
                    if let Some(join) = links.iter().find(|u| u.contains("/join/v")) {
                        let version = join.rsplit("/v").next().unwrap_or_default();
                        let minor = version
                            .split('.')
                            .nth(1)
                            .and_then(|m| m.parse::<u32>().ok())
                            .unwrap_or(0);
                        if !version.starts_with("0.") || minor < 3 {
                            diags.push(Diagnostic {
                                pos: schema.pos,
                                message: format!(
                                    "the supergraph links join spec v{version}; Tributary reads v0.3 and later (compose with Federation 2 tools)"
                                ),
                            });
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    if ty.node.name.node == "join__Graph"
                        && let TypeKind::Enum(e) = &ty.node.kind
                    {
                        for value in &e.values {
                            let directive = value
                                .node
                                .directives
                                .iter()
                                .find(|d| d.node.name.node == "join__graph");
                            let (Some(name), Some(url)) = (
                                directive.and_then(|d| string_arg(&d.node, "name")),
                                directive.and_then(|d| string_arg(&d.node, "url")),
                            ) else {
                                diags.push(Diagnostic {
                                    pos: value.pos,
                                    message: format!(
                                        "join__Graph value `{}` needs @join__graph(name:, url:)",
                                        value.node.value.node
                                    ),
                                });
                                continue;
                            };
                            graph_ids.insert(value.node.value.node.to_string(), graphs.len());
                            graphs.push(Subgraph {
                                name,
                                enum_value: value.node.value.node.to_string(),
                                url,
                            });
                        }
                    }
                    defs.push(ty);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        if graphs.is_empty() {
            diags.push(Diagnostic {
                pos: Pos { line: 1, column: 1 },
                message: "the supergraph has no subgraphs (enum join__Graph is missing or empty)"
                    .to_owned(),
            });
        }
        let mut reader = Reader {
            graph_ids: &graph_ids,
            diags: &mut diags,
        };
        let mut types = HashMap::new();
        for def in defs {
            let name = def.node.name.node.to_string();
            if is_machinery_type(&name) {
                continue;
            }
            let ty = reader.ty(def);
            types.insert(name, ty);
        }
        let mut possible: HashMap<String, Vec<String>> = HashMap::new();
        for ty in types.values() {
            match ty.kind {
                Kind::Union => {
                    possible.insert(ty.name.clone(), ty.members.clone());
                }
                Kind::Object => {
                    for i in &ty.implements {
                        possible.entry(i.clone()).or_default().push(ty.name.clone());
                    }
                }
                _ => {}
            }
        }
        for ty in types.values() {
            if ty.kind == Kind::Interface {
                possible.entry(ty.name.clone()).or_default();
            }
        }
        for list in possible.values_mut() {
            list.sort();
        }
        if diags.is_empty() {
            Ok(Supergraph {
                graphs,
                types,
                query_type,
                mutation_type,
                possible,
                overlay: HashMap::new(),
            })
        } else {
            Err(diags)
        }
    }
}

struct Reader<'a> {
    graph_ids: &'a HashMap<String, GraphId>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn graph(&mut self, d: &Positioned<ConstDirective>) -> Option<GraphId> {
        let value = d
            .node
            .arguments
            .iter()
            .find(|(n, _)| n.node == "graph")
            .map(|(_, v)| &v.node)?;
        let name = match value {
            Value::Enum(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let id = self.graph_ids.get(&name).copied();
        if id.is_none() {
            self.diags.push(Diagnostic {
                pos: d.pos,
                message: format!(
                    "@{} names graph `{name}`, which join__Graph does not declare",
                    d.node.name.node
                ),
            });
        }
        id
    }

    fn field_set(&mut self, d: &Positioned<ConstDirective>, arg: &str) -> Option<FieldSet> {
        let text = string_arg(&d.node, arg)?;
        match parse_field_set(&text) {
            Ok(set) => Some(set),
            Err(e) => {
                self.diags.push(Diagnostic {
                    pos: d.pos,
                    message: format!(
                        "@{}({arg}: \"{text}\") is not a field set: {e}",
                        d.node.name.node
                    ),
                });
                None
            }
        }
    }

    fn ty(&mut self, def: &Positioned<TypeDefinition>) -> FedType {
        let node = &def.node;
        let kind = match &node.kind {
            TypeKind::Object(_) => Kind::Object,
            TypeKind::Interface(_) => Kind::Interface,
            TypeKind::Union(_) => Kind::Union,
            TypeKind::InputObject(_) => Kind::Input,
            TypeKind::Scalar | TypeKind::Enum(_) => Kind::Leaf,
        };
        let mut ty = FedType {
            name: node.name.node.to_string(),
            kind,
            graphs: Vec::new(),
            keys: Vec::new(),
            interface_object_in: Vec::new(),
            fields: HashMap::new(),
            implements_in: Vec::new(),
            implements: Vec::new(),
            members_in: Vec::new(),
            members: Vec::new(),
            enum_values: Vec::new(),
        };
        for d in &node.directives {
            match d.node.name.node.as_str() {
                "join__type" => {
                    let Some(graph) = self.graph(d) else { continue };
                    if !ty.graphs.contains(&graph) {
                        ty.graphs.push(graph);
                    }
                    if bool_arg(&d.node, "isInterfaceObject") == Some(true) {
                        ty.interface_object_in.push(graph);
                    }
                    if let Some(fields) = self.field_set(d, "key") {
                        ty.keys.push(Key {
                            graph,
                            fields,
                            resolvable: bool_arg(&d.node, "resolvable").unwrap_or(true),
                        });
                    }
                }
                "join__implements" => {
                    if let (Some(graph), Some(i)) =
                        (self.graph(d), string_arg(&d.node, "interface"))
                    {
                        ty.implements_in.push((graph, i));
                    }
                }
                "join__unionMember" => {
                    if let (Some(graph), Some(m)) = (self.graph(d), string_arg(&d.node, "member")) {
                        ty.members_in.push((graph, m));
                    }
                }
                _ => {}
            }
        }
        match &node.kind {
            TypeKind::Object(o) => {
                ty.implements = o.implements.iter().map(|i| i.node.to_string()).collect();
                self.fields(&mut ty, &o.fields);
            }
            TypeKind::Interface(i) => {
                ty.implements = i.implements.iter().map(|i| i.node.to_string()).collect();
                self.fields(&mut ty, &i.fields);
            }
            TypeKind::Union(u) => {
                ty.members = u.members.iter().map(|m| m.node.to_string()).collect();
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    let graphs = v
                        .node
                        .directives
                        .iter()
                        .filter(|d| d.node.name.node == "join__enumValue")
                        .filter_map(|d| self.graph(d))
                        .collect();
                    ty.enum_values.push((v.node.value.node.to_string(), graphs));
                }
            }
            _ => {}
        }
        ty
    }

    fn fields(&mut self, ty: &mut FedType, fields: &[Positioned<FieldDefinition>]) {
        for f in fields {
            let mut joins = Vec::new();
            for d in &f.node.directives {
                if d.node.name.node != "join__field" {
                    continue;
                }
                let has_graph = d.node.arguments.iter().any(|(n, _)| n.node == "graph");
                let graph = if has_graph {
                    match self.graph(d) {
                        Some(g) => Some(g),
                        None => continue,
                    }
                } else {
                    None
                };
                joins.push(FieldJoin {
                    graph,
                    requires: self.field_set(d, "requires"),
                    provides: self.field_set(d, "provides"),
                    external: bool_arg(&d.node, "external").unwrap_or(false),
                    used_overridden: bool_arg(&d.node, "usedOverridden").unwrap_or(false),
                    named: string_arg(&d.node, "type").map(|t| {
                        t.trim_matches(|c: char| {
                            c == '[' || c == ']' || c == '!' || c.is_whitespace()
                        })
                        .to_owned()
                    }),
                });
            }
            let ty_ref = f.node.ty.node.clone();
            let named = named_of(&ty_ref).to_owned();
            ty.fields.insert(
                f.node.name.node.to_string(),
                FedField {
                    named,
                    joins,
                    args: f
                        .node
                        .arguments
                        .iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                        .collect(),
                },
            );
        }
    }
}

pub(crate) fn named_of(ty: &Type) -> &str {
    match &ty.base {
        async_graphql::parser::types::BaseType::Named(n) => n.as_str(),
        async_graphql::parser::types::BaseType::List(inner) => named_of(inner),
    }
}

pub(crate) fn string_arg(d: &ConstDirective, name: &str) -> Option<String> {
    d.arguments
        .iter()
        .find(|(n, _)| n.node == name)
        .and_then(|(_, v)| match &v.node {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
}

fn bool_arg(d: &ConstDirective, name: &str) -> Option<bool> {
    d.arguments
        .iter()
        .find(|(n, _)| n.node == name)
        .and_then(|(_, v)| match &v.node {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })
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
