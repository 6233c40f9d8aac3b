//! A plan as text (`tributary plan`, `extensions.plan`): each step, its
//! subgraph requests, what each waits for, and the document it sends.

use async_graphql::parser::types::ExecutableDocument;
use serde_json::{Map, Value as Json};

use super::plan;
use super::{Supergraph, plan_operation};
use crate::config::Config;

/// The plan of an operation over the supergraph of `config`, as text:
/// each step, its subgraph requests, what each waits for, its document.
pub fn explain(
    config: &Config,
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Json>,
) -> Result<String, String> {
    let sg = config
        .federation
        .as_ref()
        .ok_or_else(|| "the schema is not a supergraph".to_owned())?;
    let document = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
    explain_document(sg, &document, operation_name, variables)
}

/// [`explain`] for a parsed document.
pub(crate) fn explain_document(
    sg: &Supergraph,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Map<String, Json>,
) -> Result<String, String> {
    use std::fmt::Write as _;
    let plan = plan_operation(sg, document, operation_name, variables)?;
    let mut out = String::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "step {} (root fields: {})",
            i + 1,
            step.keys.join(", ")
        );
        for (n, node) in step.nodes.iter().enumerate() {
            let graph = &sg.graphs[node.graph].name;
            let after = if node.deps.is_empty() {
                String::new()
            } else {
                format!(
                    ", after {}",
                    node.deps
                        .iter()
                        .map(|d| format!("[{d}]"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            match &node.kind {
                plan::NodeKind::Root if node.subscription => {
                    let _ = writeln!(out, "  [{n}] {graph}: subscription (each event){after}");
                }
                plan::NodeKind::Root => {
                    let _ = writeln!(out, "  [{n}] {graph}: root fetch{after}");
                }
                plan::NodeKind::Entity {
                    path,
                    types,
                    typename,
                    ..
                } => {
                    let at = if path.is_empty() {
                        "(root)".to_owned()
                    } else {
                        path.join(".")
                    };
                    let _ = writeln!(
                        out,
                        "  [{n}] {graph}: _entities for {} at {at} (as {typename}){after}",
                        types.join("|")
                    );
                }
            }
            let _ = writeln!(out, "      {}", node.document);
            if !node.variables.is_empty() {
                let _ = writeln!(
                    out,
                    "      variables: {}",
                    serde_json::Value::Object(node.variables.clone())
                );
            }
        }
    }
    for e in &plan.errors {
        let _ = writeln!(out, "error: {e}");
    }
    Ok(out)
}

/// The subgraph fetches of an operation's plan as calls of the predicted
/// latency graph (`telemetry::forecast`): each after the last of the
/// fetches it waits for, with its subgraph's timeout.
pub fn fetches(
    config: &Config,
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Json>,
) -> Result<Vec<crate::telemetry::forecast::Call>, String> {
    let sg = config
        .federation
        .as_ref()
        .ok_or_else(|| "the schema is not a supergraph".to_owned())?;
    let document = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
    let plan = plan_operation(sg, &document, operation_name, variables)?;
    let mut calls = Vec::new();
    for step in &plan.steps {
        let base = calls.len();
        for node in &step.nodes {
            let graph = &sg.graphs[node.graph].name;
            let path = match &node.kind {
                plan::NodeKind::Entity { path, .. } if !path.is_empty() => {
                    format!("{} (_entities)", path.join("."))
                }
                plan::NodeKind::Entity { .. } => "(root) (_entities)".to_owned(),
                plan::NodeKind::Root => format!("({})", step.keys.join(", ")),
            };
            calls.push(crate::telemetry::forecast::Call {
                path,
                upstream: graph.clone(),
                timeout: config
                    .upstreams
                    .get(graph)
                    .map_or_else(Default::default, |u| u.policies.timeout),
                after: node.deps.iter().max().map(|d| base + d),
                per_item: false,
            });
        }
    }
    Ok(calls)
}
