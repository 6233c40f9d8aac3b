//! The API schema of a supergraph: what clients see in introspection and
//! GraphiQL. The join and link machinery (directives, `join__*`/`link__*`
//! types) and every `@inaccessible` element are left out; descriptions,
//! `@deprecated`, `@specifiedBy` and `@oneOf` stay.

use std::collections::HashSet;
use std::fmt::Write as _;

use async_graphql::Positioned;
use async_graphql::parser::types::{
    ConstDirective, FieldDefinition, InputValueDefinition, ServiceDocument, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};

use super::supergraph::{inaccessible, is_machinery_type, named_of};

/// Directives of the supergraph that the API schema keeps.
const KEPT: [&str; 3] = ["deprecated", "specifiedBy", "oneOf"];

/// The API schema's type definitions, as SDL (no schema block).
pub(crate) fn print(doc: &ServiceDocument) -> String {
    let hidden = inaccessible(doc);
    let mut out = String::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let name = ty.node.name.node.as_str();
        if is_machinery_type(name) || hidden.contains(name) {
            continue;
        }
        type_def(&ty.node, &hidden, &mut out);
        out.push('\n');
    }
    out
}

fn description(d: Option<&Positioned<String>>, indent: &str, out: &mut String) {
    if let Some(d) = d {
        let quoted = serde_json::to_string(&d.node).unwrap_or_else(|_| "\"\"".to_owned());
        let _ = writeln!(out, "{indent}{quoted}");
    }
}

fn directives(ds: &[Positioned<ConstDirective>], out: &mut String) {
    for d in ds {
        if !KEPT.contains(&d.node.name.node.as_str()) {
            continue;
        }
        print_directive(&d.node, out);
    }
}

/// ` @name(arg: value, ...)`.
pub(crate) fn print_directive(d: &ConstDirective, out: &mut String) {
    let _ = write!(out, " @{}", d.name.node);
    if !d.arguments.is_empty() {
        out.push('(');
        for (i, (n, v)) in d.arguments.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}: {}", n.node, v.node);
        }
        out.push(')');
    }
}

fn type_def(ty: &TypeDefinition, hidden: &HashSet<String>, out: &mut String) {
    let name = ty.name.node.as_str();
    description(ty.description.as_ref(), "", out);
    let visible_interfaces = |list: &[Positioned<async_graphql::Name>]| -> Vec<String> {
        list.iter()
            .map(|i| i.node.to_string())
            .filter(|i| !hidden.contains(i))
            .collect()
    };
    match &ty.kind {
        TypeKind::Scalar => {
            let _ = write!(out, "scalar {name}");
            directives(&ty.directives, out);
            out.push('\n');
        }
        TypeKind::Object(o) => {
            let _ = write!(out, "type {name}");
            implements(&visible_interfaces(&o.implements), out);
            directives(&ty.directives, out);
            fields(name, &o.fields, hidden, out);
        }
        TypeKind::Interface(i) => {
            let _ = write!(out, "interface {name}");
            implements(&visible_interfaces(&i.implements), out);
            directives(&ty.directives, out);
            fields(name, &i.fields, hidden, out);
        }
        TypeKind::Union(u) => {
            let members: Vec<&str> = u
                .members
                .iter()
                .map(|m| m.node.as_str())
                .filter(|m| !hidden.contains(*m))
                .collect();
            let _ = write!(out, "union {name}");
            directives(&ty.directives, out);
            let _ = writeln!(out, " = {}", members.join(" | "));
        }
        TypeKind::Enum(e) => {
            let _ = write!(out, "enum {name}");
            directives(&ty.directives, out);
            out.push_str(" {\n");
            for v in &e.values {
                let value = v.node.value.node.as_str();
                if hidden.contains(&format!("{name}.{value}")) {
                    continue;
                }
                description(v.node.description.as_ref(), "  ", out);
                let _ = write!(out, "  {value}");
                directives(&v.node.directives, out);
                out.push('\n');
            }
            out.push_str("}\n");
        }
        TypeKind::InputObject(i) => {
            let _ = write!(out, "input {name}");
            directives(&ty.directives, out);
            out.push_str(" {\n");
            for f in &i.fields {
                if hidden.contains(&format!("{name}.{}", f.node.name.node))
                    || hidden.contains(named_of(&f.node.ty.node))
                {
                    continue;
                }
                out.push_str("  ");
                input_value(&f.node, out);
                out.push('\n');
            }
            out.push_str("}\n");
        }
    }
}

fn implements(list: &[String], out: &mut String) {
    if !list.is_empty() {
        let _ = write!(out, " implements {}", list.join(" & "));
    }
}

fn fields(
    ty: &str,
    list: &[Positioned<FieldDefinition>],
    hidden: &HashSet<String>,
    out: &mut String,
) {
    out.push_str(" {\n");
    for f in list {
        let fname = f.node.name.node.as_str();
        if hidden.contains(&format!("{ty}.{fname}")) || hidden.contains(named_of(&f.node.ty.node)) {
            continue;
        }
        description(f.node.description.as_ref(), "  ", out);
        let _ = write!(out, "  {fname}");
        let args: Vec<&Positioned<InputValueDefinition>> = f
            .node
            .arguments
            .iter()
            .filter(|a| !hidden.contains(&format!("{ty}.{fname}({}:)", a.node.name.node)))
            .collect();
        if !args.is_empty() {
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                input_value(&a.node, out);
            }
            out.push(')');
        }
        let _ = write!(out, ": {}", f.node.ty.node);
        directives(&f.node.directives, out);
        out.push('\n');
    }
    out.push_str("}\n");
}

fn input_value(v: &InputValueDefinition, out: &mut String) {
    if let Some(d) = &v.description {
        let quoted = serde_json::to_string(&d.node).unwrap_or_else(|_| "\"\"".to_owned());
        let _ = write!(out, "{quoted} ");
    }
    let _ = write!(out, "{}: {}", v.name.node, v.ty.node);
    if let Some(d) = &v.default_value {
        let _ = write!(out, " = {}", d.node);
    }
    directives(&v.directives, out);
}
