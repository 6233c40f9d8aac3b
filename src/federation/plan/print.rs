//! Printing a node's subgraph request: its document and variables.

use std::fmt::Write as _;

use async_graphql::parser::types::Type;
use serde_json::Value as Json;

use super::{Node, NodeKind, Out, Plan};
use crate::federation::supergraph::Supergraph;

/// `name` as a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`).
pub(super) fn graphql_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Prints `node`'s subgraph request: the document and its variables.
pub(super) fn print(sg: &Supergraph, node: &mut Node) {
    let mut vars: Vec<(String, Type, Json)> = Vec::new();
    let mut body = String::new();
    match &node.kind {
        NodeKind::Root => print_set(&node.selection, &mut body, &mut vars),
        NodeKind::Entity { .. } => {
            body.push_str("{_entities(representations:$representations)");
            print_set(&node.selection, &mut body, &mut vars);
            body.push('}');
        }
    }
    let mut doc = String::from(if node.subscription {
        "subscription "
    } else if node.mutation {
        "mutation "
    } else {
        "query "
    });
    doc.push_str(&node.operation_name);
    let entity = matches!(node.kind, NodeKind::Entity { .. });
    if entity || !vars.is_empty() {
        doc.push('(');
        let mut first = true;
        if entity {
            doc.push_str("$representations:[_Any!]!");
            first = false;
        }
        for (name, ty, _) in &vars {
            if !first {
                doc.push(',');
            }
            first = false;
            let _ = write!(doc, "${name}:{ty}");
        }
        doc.push(')');
    }
    doc.push_str(&body);
    node.document = doc;
    node.variables = vars.into_iter().map(|(n, _, v)| (n, v)).collect();
    let _ = sg;
}

pub(super) fn print_set(set: &[Out], out: &mut String, vars: &mut Vec<(String, Type, Json)>) {
    if set.is_empty() {
        return;
    }
    out.push('{');
    for (i, item) in set.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match item {
            Out::Field {
                alias,
                name,
                args,
                sub,
                ..
            } => {
                if let Some(a) = alias {
                    let _ = write!(out, "{a}:");
                }
                out.push_str(name);
                if !args.is_empty() {
                    out.push('(');
                    for (j, (arg, value, ty)) in args.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        let var = format!("a{}", vars.len());
                        let _ = write!(out, "{arg}:${var}");
                        vars.push((var, ty.clone(), value.clone()));
                    }
                    out.push(')');
                }
                print_set(sub, out, vars);
            }
            Out::Fragment { on, sub } => {
                let _ = write!(out, "...on {on}");
                print_set(sub, out, vars);
            }
        }
    }
    out.push('}');
}

/// Names and prints every node's subgraph request.
pub(super) fn finish(sg: &Supergraph, plan: &mut Plan, operation_name: Option<&str>) {
    let mut n = 0;
    for step in &mut plan.steps {
        for node in &mut step.nodes {
            n += 1;
            // `Op__subgraph__3`: the client's operation, the subgraph and
            // the node, so subgraph logs and traces name where it came from.
            let name = format!(
                "{}__{}__{n}",
                operation_name.map_or("Anonymous".to_owned(), graphql_name),
                graphql_name(&sg.graphs[node.graph].name)
            );
            node.operation_name = name;
            print(sg, node);
        }
    }
}
