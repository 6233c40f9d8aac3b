//! The document of a combined request: each member under its alias, the
//! client's selection below it printed (inline fragments for type
//! conditions, arguments as variables of the declared types), and the
//! fields REST bindings below it read of their parent.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{Member, Part, internal};
use crate::config::FieldSource;
use crate::error::FieldError;
use crate::exec::registry::{OutputKind, Registry};
use crate::exec::render::{Inputs, render_body};
use crate::exec::state::RequestState;
use crate::federation::selection::Sel;

/// A combined request: its document, its variables, each member's part.
pub(super) struct Built {
    pub(super) document: String,
    pub(super) variables: Map<String, Value>,
    pub(super) parts: Vec<Part>,
}

/// The document, its variables and each member's part.
pub(super) fn build(
    state: &RequestState,
    members: &[Member],
    root: bool,
) -> Result<Built, FieldError> {
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
pub(in crate::exec) fn sels_at<'s>(root: &'s [Sel], path: &str) -> Vec<&'s Sel> {
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
