//! `extend type` in a supergraph's overlay: extension fields folded into
//! the types they extend, and supergraph fields declared again to take
//! directives.

use async_graphql::Positioned;
use async_graphql::parser::types::{FieldDefinition, TypeDefinition, TypeKind};

use crate::config::Diagnostic;

/// Folds `extend type` definitions into the types they extend (the
/// overlay of a supergraph adds fields to its types).
pub(super) fn merge_extensions(
    defs: &[&Positioned<TypeDefinition>],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Positioned<TypeDefinition>> {
    let mut out: Vec<Positioned<TypeDefinition>> = defs
        .iter()
        .filter(|d| !d.node.extend)
        .map(|d| (*d).clone())
        .collect();
    for ext in defs.iter().filter(|d| d.node.extend) {
        let name = &ext.node.name.node;
        let Some(base) = out.iter_mut().find(|d| d.node.name.node == *name) else {
            diags.push(Diagnostic {
                pos: ext.pos,
                message: format!("`extend type {name}`: the supergraph has no type `{name}`"),
            });
            continue;
        };
        match (&mut base.node.kind, &ext.node.kind) {
            (TypeKind::Object(b), TypeKind::Object(e)) => {
                extend_fields(name, &mut b.fields, &e.fields, diags)
            }
            (TypeKind::Interface(b), TypeKind::Interface(e)) => {
                extend_fields(name, &mut b.fields, &e.fields, diags)
            }
            _ => diags.push(Diagnostic {
                pos: ext.pos,
                message: format!(
                    "`{name}` can be extended with fields only, as the kind of type it is"
                ),
            }),
        }
    }
    out
}

/// Adds `extra` to `fields`. A field the type has already may be declared
/// again with the same type to give it directives (`@onError`, `@cache`).
fn extend_fields(
    ty: &str,
    fields: &mut Vec<Positioned<FieldDefinition>>,
    extra: &[Positioned<FieldDefinition>],
    diags: &mut Vec<Diagnostic>,
) {
    for field in extra {
        match fields
            .iter_mut()
            .find(|f| f.node.name.node == field.node.name.node)
        {
            Some(existing) if existing.node.ty.node == field.node.ty.node => existing
                .node
                .directives
                .extend(field.node.directives.iter().cloned()),
            Some(existing) => diags.push(Diagnostic {
                pos: field.pos,
                message: format!(
                    "`{ty}.{}` is `{}` in the supergraph; declared again, it must keep that type (it only adds directives)",
                    field.node.name.node, existing.node.ty.node
                ),
            }),
            None => fields.push(field.clone()),
        }
    }
}
