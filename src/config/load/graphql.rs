//! `@graphql(...)` on a field: a root field of a GraphQL upstream (an
//! `@upstream(graphql: true)`), whose arguments are the client's or the
//! binding's templates, and below which the client's selection is forwarded.

use async_graphql::Positioned;
use async_graphql::parser::types::ConstDirective;

use super::{FieldCtx, Loader, Scope};
use crate::config::directives::DirectiveArgs;
use crate::config::{GraphqlBinding, vocabulary};

impl Loader<'_> {
    pub(super) fn graphql(
        &mut self,
        directive: &Positioned<ConstDirective>,
        field: &FieldCtx<'_>,
        scope: &Scope<'_>,
    ) -> Option<GraphqlBinding> {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("graphql"),
            &mut self.diags,
        );
        let upstream = args
            .required_string("upstream", &mut self.diags)
            .and_then(|(name, pos)| match scope.upstreams.get(name) {
                Some(up) if up.graphql => Some(up.clone()),
                Some(_) => {
                    self.error(
                        pos,
                        format!(
                            "upstream `{name}` is not a GraphQL endpoint; declare it with `@upstream(name: \"{name}\", url: ..., graphql: true)`"
                        ),
                    );
                    None
                }
                None => {
                    let known: Vec<&str> = scope
                        .upstreams
                        .values()
                        .filter(|u| u.graphql)
                        .map(|u| u.name.as_str())
                        .collect();
                    self.error(
                        pos,
                        format!(
                            "unknown upstream `{name}` (GraphQL upstreams declared: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                    None
                }
            });
        let name = field.coordinate.rsplit('.').next().unwrap_or_default();
        let upstream_field = match args.string("field", &mut self.diags) {
            Some((f, pos)) => {
                if !is_name(f) {
                    self.error(pos, format!("`{f}` is not a GraphQL field name"));
                }
                f.to_owned()
            }
            None => name.to_owned(),
        };
        let bound_args = args.get("args").map(|v| {
            let async_graphql::Value::Object(map) = &v.node else {
                self.error(
                    v.pos,
                    "`args` is an object: { upstreamArgument: value or \"{$args.x}\" / \"{$parent.x}\" template }",
                );
                return Vec::new();
            };
            let mut templates = Vec::new();
            let out: Vec<_> = map
                .iter()
                .map(|(k, value)| (k.to_string(), self.body(value, v.pos, &mut templates)))
                .collect();
            let forward = upstream
                .as_ref()
                .map(|u| u.forward_headers.clone())
                .unwrap_or_default();
            for (template, pos) in &templates {
                for expr in template.exprs() {
                    self.check_expr(expr, *pos, field, &forward);
                }
            }
            out
        });
        Some(GraphqlBinding {
            upstream: upstream?,
            field: upstream_field,
            args: bound_args,
        })
    }
}

/// `/[_A-Za-z][_0-9A-Za-z]*/`.
fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
