//! What more than one directive reader (or the walk) needs: `${ENV}`
//! interpolation, header-name lists and the one-source-per-header check,
//! type checks, and the spec's own directives (`@deprecated`,
//! `@specifiedBy`), which the gateway reads but does not define.

use async_graphql::parser::types::{BaseType, ConstDirective, Type, TypeKind};
use async_graphql::{Pos, Positioned, Value as ConstValue};
use http::HeaderName;
use url::Url;

use super::{BUILTIN_SCALARS, Loader, Scope};
use crate::config::directives::DirectiveArgs;
use crate::config::env::interpolate;

impl Loader<'_> {
    /// `raw` with its `${ENV}` references filled in.
    pub(super) fn interpolate(&mut self, raw: &str, pos: Pos) -> Option<String> {
        match interpolate(raw, self.env) {
            Ok(text) => Some(text),
            Err(e) => {
                self.error(pos, e);
                None
            }
        }
    }

    /// A header may come from one place only: sent twice upstream, the
    /// receiver picks one (or joins them), and with credentials that can be
    /// the wrong caller's. `sent` are the groups of headers written by the
    /// schema (a binding's templates, the upstream's fixed headers);
    /// `forwarded` come from the client. URL userinfo is an `Authorization`.
    pub(super) fn check_header_sources(
        &mut self,
        pos: Pos,
        what: &str,
        url: Option<&Url>,
        sent: &[&[&HeaderName]],
        forwarded: &[HeaderName],
    ) {
        let mut seen: Vec<&HeaderName> = Vec::new();
        for group in sent {
            for name in group.iter().copied() {
                if seen.contains(&name) {
                    self.error(pos, format!("{what} sends header `{name}` twice: from its @rest `headers` and its upstream's `headers`; keep one"));
                }
                if forwarded.contains(name) {
                    self.error(pos, format!("{what} both sends header `{name}` and forwards the client's `{name}`: upstream it would arrive twice; keep one"));
                }
                seen.push(name);
            }
        }
        let userinfo = url.is_some_and(|u| !u.username().is_empty() || u.password().is_some());
        if userinfo {
            let authorization = http::header::AUTHORIZATION;
            if forwarded.contains(&authorization) {
                self.error(pos, format!("{what}: the upstream URL carries credentials (user:password@) and the client's `authorization` is forwarded too; upstream it would arrive twice; keep one"));
            }
            if seen.contains(&&authorization) {
                self.error(pos, format!("{what}: the upstream URL carries credentials (user:password@) and an `authorization` header is sent too; keep one"));
            }
        }
    }

    /// The header names listed in `key` (`forwardHeaders`), each checked.
    pub(super) fn header_names(&mut self, args: &DirectiveArgs<'_>, key: &str) -> Vec<HeaderName> {
        let mut out = Vec::new();
        for (name, pos) in args.strings(key, &mut self.diags) {
            match HeaderName::try_from(name) {
                Ok(n) => out.push(n),
                Err(_) => self.error(pos, format!("`{name}` is not a valid header name")),
            }
        }
        out
    }

    /// `ty` names a defined type of the right side: an input type for an
    /// argument (`input`), an output type for a field.
    pub(super) fn check_type(&mut self, ty: &Type, pos: Pos, scope: &Scope<'_>, input: bool) {
        let name = base_name(ty);
        if BUILTIN_SCALARS.contains(&name) {
            return;
        }
        match scope.kinds.get(name) {
            None => self.error(pos, format!("unknown type `{name}`")),
            Some(TypeKind::InputObject(_)) if !input => self.error(
                pos,
                format!("`{name}` is an input type and cannot be a field's type"),
            ),
            Some(TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_)) if input => {
                self.error(
                    pos,
                    format!("`{name}` is an output type and cannot be an argument's type"),
                )
            }
            Some(_) => {}
        }
    }
}

/// Whether a literal `value` (from the SDL) is a valid result of type `ty`.
pub(super) fn value_fits(value: &ConstValue, ty: &Type, scope: &Scope<'_>) -> Result<(), String> {
    if let ConstValue::Null = value {
        return if ty.nullable {
            Ok(())
        } else {
            Err("null for a non-null type".to_owned())
        };
    }
    match &ty.base {
        BaseType::List(inner) => match value {
            ConstValue::List(items) => items.iter().try_for_each(|i| value_fits(i, inner, scope)),
            other => Err(format!("`{other}` is not a list")),
        },
        BaseType::Named(name) => {
            let ok = match (name.as_str(), value) {
                ("Int", ConstValue::Number(n)) => {
                    n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                }
                ("Float", ConstValue::Number(_)) => true,
                ("String" | "ID", ConstValue::String(_)) => true,
                ("ID", ConstValue::Number(n)) => n.is_i64(),
                ("Boolean", ConstValue::Boolean(_)) => true,
                (other, value) => match (scope.kinds.get(other), value) {
                    (Some(TypeKind::Enum(e)), ConstValue::Enum(v)) => {
                        e.values.iter().any(|ev| ev.node.value.node == *v)
                    }
                    (Some(TypeKind::Enum(e)), ConstValue::String(v)) => e
                        .values
                        .iter()
                        .any(|ev| ev.node.value.node.as_str() == v.as_str()),
                    (Some(TypeKind::Object(object)), ConstValue::Object(map)) => {
                        for key in map.keys() {
                            if !object.fields.iter().any(|f| f.node.name.node == *key) {
                                return Err(format!("`{other}` has no field `{key}`"));
                            }
                        }
                        for f in &object.fields {
                            match map.get(f.node.name.node.as_str()) {
                                Some(v) => value_fits(v, &f.node.ty.node, scope)
                                    .map_err(|e| format!("{}: {e}", f.node.name.node))?,
                                None if !f.node.ty.node.nullable
                                    && !has_directive(&f.node.directives, "rest") =>
                                {
                                    return Err(format!(
                                        "the non-null field `{}` is missing",
                                        f.node.name.node
                                    ));
                                }
                                None => {}
                            }
                        }
                        true
                    }
                    (Some(TypeKind::Scalar), _) => true,
                    _ => false,
                },
            };
            if ok {
                Ok(())
            } else {
                Err(format!("`{value}` is not a {name}"))
            }
        }
    }
}

/// Whether a value of argument type `arg` always fits output type `field`.
pub(super) fn arg_fits(arg: &Type, has_default: bool, field: &Type) -> bool {
    if !field.nullable && arg.nullable && !has_default {
        return false;
    }
    match (&arg.base, &field.base) {
        (BaseType::Named(a), BaseType::Named(f)) => {
            a == f
                || matches!(
                    (a.as_str(), f.as_str()),
                    ("ID" | "String" | "Int", "ID")
                        | ("ID" | "Int" | "Float" | "Boolean", "String")
                        | ("Int", "Float")
                )
        }
        (BaseType::List(a), BaseType::List(f)) => arg_fits(a, false, f),
        _ => false,
    }
}

pub(super) fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

pub(super) fn named_kind<'a>(ty: &Type, scope: &Scope<'a>) -> Option<&'a TypeKind> {
    let _ = scope.names;
    scope.kinds.get(base_name(ty)).copied()
}

pub(super) fn has_directive(directives: &[Positioned<ConstDirective>], name: &str) -> bool {
    directives.iter().any(|d| d.node.name.node == name)
}

/// `@deprecated(reason:)` among `directives`: the reason, or the spec's
/// default one.
pub(super) fn deprecation(directives: &[Positioned<ConstDirective>]) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == "deprecated")
        .map(|d| spec_argument(d, "reason").unwrap_or_else(|| "No longer supported".to_owned()))
}

/// The string argument `arg` of the first `@name` among `directives`.
pub(super) fn spec_directive(
    directives: &[Positioned<ConstDirective>],
    name: &str,
    arg: &str,
) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == name)
        .and_then(|d| spec_argument(d, arg))
}

fn spec_argument(directive: &Positioned<ConstDirective>, arg: &str) -> Option<String> {
    directive
        .node
        .arguments
        .iter()
        .find(|(n, _)| n.node == arg)
        .and_then(|(_, v)| match &v.node {
            ConstValue::String(s) => Some(s.clone()),
            _ => None,
        })
}
