//! Reading a parsed supergraph's join directives into [`Supergraph`].

use std::collections::HashMap;

use async_graphql::Pos;
use async_graphql::parser::types::{
    ConstDirective, FieldDefinition, ServiceDocument, Type, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Positioned, Value};

use super::{
    FedField, FedType, FieldJoin, GraphId, Key, Kind, Subgraph, Supergraph, is_machinery_type,
};
use crate::config::Diagnostic;
use crate::federation::selection::{FieldSet, parse_field_set};

impl Supergraph {
    /// Reads the join metadata of a parsed supergraph.
    pub(crate) fn read(doc: &ServiceDocument) -> Result<Supergraph, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut graphs = Vec::new();
        let mut graph_ids: HashMap<String, GraphId> = HashMap::new();
        let mut query_type = "Query".to_owned();
        let mut mutation_type = None;
        let mut subscription_type = None;
        let mut defs: Vec<&Positioned<TypeDefinition>> = Vec::new();
        for def in &doc.definitions {
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(q) = &schema.node.query {
                        query_type = q.node.to_string();
                    }
                    mutation_type = schema.node.mutation.as_ref().map(|m| m.node.to_string());
                    subscription_type = schema
                        .node
                        .subscription
                        .as_ref()
                        .map(|s| (s.node.to_string(), s.pos));
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
        let supergraph = Supergraph {
            graphs,
            types,
            query_type,
            mutation_type,
            subscription_type: subscription_type.as_ref().map(|(s, _)| s.clone()),
            possible,
            overlay: HashMap::new(),
        };
        // Every subscription field is forwarded to a subgraph that has it.
        if let Some((s, pos)) = &subscription_type
            && let Some(ty) = supergraph.types.get(s)
        {
            let mut names: Vec<&String> = ty.fields.keys().collect();
            names.sort();
            for name in names {
                if supergraph.resolvers(s, name).is_empty() {
                    diags.push(Diagnostic {
                        pos: *pos,
                        message: format!("`{s}.{name}` is resolved by no subgraph"),
                    });
                }
            }
        }
        if diags.is_empty() {
            Ok(supergraph)
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
