//! The engine's validation errors, reshaped where graphql-js (which clients,
//! editors and codegen are built against) says otherwise:
//!
//! - a leaf field with a selection: graphql-js's text (the field's full type,
//!   a final period) at the selection set, not at the field;
//! - the follow-on `Unknown field "x" on type "ID".` for the fields of that
//!   selection: graphql-js never reports fields of a leaf type;
//! - a literal argument of the wrong type: the reason (`Int cannot represent
//!   non-integer value: "x"`) at the value, not "Invalid value for argument"
//!   at the argument's name.
//!
//! Only request errors of documents that failed validation pass through
//! here, so the walk costs nothing on the request path of valid documents.
//!
//! And after execution, the field errors of selections merged into one
//! response field become one error ([`merge_field_errors`]).

use std::collections::HashMap;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, OperationType};
use async_graphql::{Pos, ServerError};
use async_graphql_value::{Name, Value};

use super::typed_walk::{self, Visit};
use super::variables::InputTypes;
use crate::config::ArgDef;
use crate::exec::{CompiledField, OutputKind, Registry};

/// What the document has at a position.
enum Node {
    /// A field whose type is a leaf, with a selection set at `selection`.
    LeafWithSelection {
        name: String,
        ty: String,
        selection: Pos,
    },
    /// A literal argument value, and why it does not fit (if it does not).
    Argument { value: Pos, problem: Option<String> },
}

pub(crate) fn reshape(
    registry: &Registry,
    inputs: &InputTypes,
    document: &ExecutableDocument,
    root: impl Fn(OperationType) -> Option<String>,
    errors: &mut Vec<ServerError>,
) {
    let mut walk = Nodes {
        inputs,
        nodes: HashMap::new(),
    };
    for (_, operation) in document.operations.iter() {
        if let Some(root) = root(operation.node.ty) {
            typed_walk::walk(
                registry,
                document,
                &root,
                &operation.node.selection_set.node,
                &mut walk,
            );
        }
    }
    let leaf_types: Vec<&str> = inputs
        .leaf_names()
        .chain(["Int", "Float", "String", "Boolean", "ID"])
        .collect();
    errors.retain(|e| !is_leaf_follow_on(&e.message, &leaf_types));
    for error in errors.iter_mut() {
        let Some(at) = error.locations.first().copied() else {
            continue;
        };
        match walk.nodes.get(&(at.line, at.column)) {
            Some(Node::LeafWithSelection {
                name,
                ty,
                selection,
            }) if error.message.contains("must not have a selection") => {
                error.message = format!(
                    "Field \"{name}\" must not have a selection since type \"{ty}\" has no subfields."
                );
                error.locations = vec![*selection];
            }
            Some(Node::Argument {
                value,
                problem: Some(problem),
            }) if error.message.starts_with("Invalid value for argument") => {
                error.message.clone_from(problem);
                error.locations = vec![*value];
            }
            _ => {}
        }
    }
}

/// `Unknown field "x" on type "ID".`, where `ID` is a leaf.
fn is_leaf_follow_on(message: &str, leaf_types: &[&str]) -> bool {
    let Some(rest) = message.strip_prefix("Unknown field \"") else {
        return false;
    };
    let Some((_, ty)) = rest.split_once("\" on type \"") else {
        return false;
    };
    let ty = ty.trim_end_matches("\".");
    leaf_types.contains(&ty)
}

/// The nodes errors may point at, by position.
struct Nodes<'a> {
    inputs: &'a InputTypes,
    nodes: HashMap<(usize, usize), Node>,
}

impl<'a> Visit<'a> for Nodes<'_> {
    fn field(&mut self, field: &'a Positioned<Field>, compiled: &CompiledField) {
        let below = &field.node.selection_set;
        if below.node.items.is_empty()
            || matches!(compiled.out, OutputKind::Object | OutputKind::Abstract)
        {
            return;
        }
        self.nodes.insert(
            (field.pos.line, field.pos.column),
            Node::LeafWithSelection {
                name: field.node.name.node.to_string(),
                ty: compiled.def.ty.to_string(),
                selection: below.pos,
            },
        );
    }

    fn argument(&mut self, arg: &ArgDef, name: &'a Positioned<Name>, value: &'a Positioned<Value>) {
        let problem = value
            .node
            .clone()
            .into_const()
            .and_then(|v| v.into_json().ok())
            .and_then(|json| self.inputs.problem(&arg.ty, &json));
        self.nodes.insert(
            (name.pos.line, name.pos.column),
            Node::Argument {
                value: value.pos,
                problem,
            },
        );
    }
}

/// One error per response field (spec 6.4.4): selections merged into one
/// field (`{ a: f { x } a: f { y } }`) that fail report one error, with
/// every selection's location.
pub(crate) fn merge_field_errors(errors: &mut Vec<async_graphql::ServerError>) {
    if errors.len() < 2 {
        return;
    }
    // By path, so thousands of failed list items stay linear.
    let mut by_path: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<async_graphql::ServerError> = Vec::with_capacity(errors.len());
    for error in errors.drain(..) {
        if error.path.is_empty() {
            merged.push(error);
            continue;
        }
        // Names are [_A-Za-z0-9]*, so `#` marks an index unambiguously.
        let key = error
            .path
            .iter()
            .map(|segment| match segment {
                async_graphql::PathSegment::Field(name) => name.clone(),
                async_graphql::PathSegment::Index(i) => format!("#{i}"),
            })
            .collect::<Vec<_>>()
            .join(".");
        match by_path.get(&key) {
            Some(&at) => {
                let Some(first) = merged.get_mut(at) else {
                    continue;
                };
                for location in error.locations {
                    if !first.locations.contains(&location) {
                        first.locations.push(location);
                    }
                }
            }
            None => {
                by_path.insert(key, merged.len());
                merged.push(error);
            }
        }
    }
    *errors = merged;
}
