//! `@rest(...)` on a field: the upstream call that is its value. Method,
//! path, query, headers, body, `batch`, the field's own timeout and retry,
//! and the templates' references to arguments, the parent and headers. The
//! field's `@cache(ttl:)` is handed to the binding and read by `cache.rs`,
//! because whether a TTL is allowed depends on the binding's upstream.

use async_graphql::parser::types::ConstDirective;
use async_graphql::{Pos, Positioned, Value as ConstValue};
use http::{HeaderName, HeaderValue, Method};

use super::{FieldCtx, Loader, Scope};
use crate::config::directives::DirectiveArgs;
use crate::config::{
    BatchConfig, BodyTemplate, Expr, RestBinding, Source, Template, policy, vocabulary,
};

/// The longest `batch.window`: every lone key waits it out.
const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl Loader<'_> {
    pub(super) fn rest(
        &mut self,
        directive: &Positioned<ConstDirective>,
        cache: Option<&Positioned<ConstDirective>>,
        field: &FieldCtx<'_>,
        scope: &Scope<'_>,
    ) -> Option<RestBinding> {
        let args = DirectiveArgs::new(directive, &vocabulary::arg_names("rest"), &mut self.diags);
        let upstream = args
            .required_string("upstream", &mut self.diags)
            .and_then(|(name, pos)| match scope.upstreams.get(name) {
                Some(up) => Some(up.clone()),
                None => {
                    let known: Vec<&str> = scope.upstreams.keys().map(String::as_str).collect();
                    self.error(
                        pos,
                        format!(
                            "unknown upstream `{name}` (declared: {})",
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
        let method = match args.string("method", &mut self.diags) {
            None => Method::GET,
            Some((m, pos)) => match m.to_ascii_uppercase().as_str() {
                "GET" => Method::GET,
                "POST" => Method::POST,
                "PUT" => Method::PUT,
                "PATCH" => Method::PATCH,
                "DELETE" => Method::DELETE,
                "HEAD" => Method::HEAD,
                "OPTIONS" => Method::OPTIONS,
                _ => {
                    self.error(pos, format!("unknown method `{m}`; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"));
                    Method::GET
                }
            },
        };
        let mut forward_headers = upstream
            .as_ref()
            .map(|u| u.forward_headers.clone())
            .unwrap_or_default();
        // Listed on both the upstream and the field: forwarded once.
        for name in self.header_names(&args, "forwardHeaders") {
            if !forward_headers.contains(&name) {
                forward_headers.push(name);
            }
        }

        let mut templates: Vec<(Template, Pos)> = Vec::new();
        let path = match args.required_string("path", &mut self.diags) {
            Some((p, pos)) if p.starts_with('/') => {
                let mut segments = Vec::new();
                for seg in p[1..].split('/') {
                    if let Some(t) = self.template(seg, pos) {
                        templates.push((t.clone(), pos));
                        segments.push(t);
                    }
                }
                segments
            }
            Some((p, pos)) => {
                self.error(pos, format!("path `{p}` must start with `/`"));
                Vec::new()
            }
            None => Vec::new(),
        };
        let mut query = Vec::new();
        for (name, value, pos) in args.pairs("query", &mut self.diags) {
            if let Some(t) = self.template(&value, pos) {
                templates.push((t.clone(), pos));
                query.push((name, t));
            }
        }
        let mut headers = Vec::new();
        for (name, value, pos) in args.pairs("headers", &mut self.diags) {
            let Ok(header) = HeaderName::try_from(name.as_str()) else {
                self.error(pos, format!("`{name}` is not a valid header name"));
                continue;
            };
            if let Some(t) = self.template(&value, pos) {
                if t.is_literal() && HeaderValue::try_from(value.as_str()).is_err() {
                    self.error(
                        pos,
                        format!("the value of header `{name}` is not a valid header value"),
                    );
                }
                templates.push((t.clone(), pos));
                headers.push((header, t));
            }
        }
        let body = args.get("body").map(|v| {
            if method == Method::GET || method == Method::HEAD {
                self.error(
                    v.pos,
                    format!(
                        "`{}` sends a body with {method}; use POST, PUT or PATCH",
                        field.coordinate
                    ),
                );
            }
            self.body(&v.node, v.pos, &mut templates)
        });
        let select = args
            .string("select", &mut self.diags)
            .map(|(s, _)| {
                s.split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();

        for (template, pos) in &templates {
            for expr in template.exprs() {
                self.check_expr(expr, *pos, field, &forward_headers);
            }
        }
        if let Some(up) = &upstream {
            let templated: Vec<&HeaderName> = headers.iter().map(|(n, _)| n).collect();
            let fixed: Vec<&HeaderName> = up.headers.iter().map(|(n, _)| n).collect();
            self.check_header_sources(
                directive.pos,
                &format!("`{}`", field.coordinate),
                Some(&up.url),
                &[&templated, &fixed],
                &forward_headers,
            );
        }
        let timeout = args
            .get("timeout")
            .and_then(|v| policy::duration("timeout", &v.node, v.pos, &mut self.diags));
        let retry = match (args.get("retry"), &upstream) {
            (Some(v), Some(up)) => {
                let mut retry = up.policies.retry.clone();
                policy::apply_retry(&mut retry, &v.node, v.pos, &mut self.diags);
                Some(retry)
            }
            _ => None,
        };
        let idempotent = args.bool("idempotent", &mut self.diags).unwrap_or(matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ));
        let cache_ttl =
            cache.and_then(|d| self.cache_ttl(d, field.coordinate, upstream.as_deref()));
        let batch = args
            .get("batch")
            .and_then(|v| self.batch(v, &query, body.as_ref(), &path, field));
        let path_template = match args.get("path").map(|v| &v.node) {
            Some(ConstValue::String(p)) => p.clone(),
            _ => String::new(),
        };
        let trips_breaker = args.bool("tripsBreaker", &mut self.diags).unwrap_or(true);
        let hedge = args
            .get("hedge")
            .and_then(|v| policy::read_hedge(&v.node, v.pos, &mut self.diags));
        Some(RestBinding {
            live: None,
            hedge,
            trips_breaker,
            path_template,
            cache_ttl,
            batch,
            timeout,
            retry,
            idempotent,
            upstream: upstream?,
            method,
            path,
            query,
            headers,
            body,
            select,
            forward_headers,
        })
    }

    /// `batch`: `{ key, maxSize, join, window }`.
    pub(super) fn batch(
        &mut self,
        value: &Positioned<ConstValue>,
        query: &[(String, Template)],
        body: Option<&BodyTemplate>,
        path: &[Template],
        field: &FieldCtx<'_>,
    ) -> Option<BatchConfig> {
        let pos = value.pos;
        let ConstValue::Object(map) = &value.node else {
            self.error(
                pos,
                "`batch` takes { key: \"id\", maxSize: 100, join: \",\", window: \"1ms\" }",
            );
            return None;
        };
        for k in map.keys() {
            if !["key", "maxSize", "join", "window"].contains(&k.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{k}` in `batch`; expected one of: key, maxSize, join, window"
                    ),
                );
            }
        }
        let key = match map.get("key") {
            Some(ConstValue::String(k)) if !k.is_empty() => {
                k.split('.').map(str::to_owned).collect()
            }
            _ => {
                self.error(pos, "`batch` needs `key`: the field of each returned object that matches a parent's value");
                return None;
            }
        };
        let max_size = match map.get("maxSize") {
            None => 100,
            Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                n.as_u64().map_or(100, |n| n as usize)
            }
            Some(other) => {
                self.error(
                    pos,
                    format!("`batch.maxSize` must be a whole number above 0, not `{other}`"),
                );
                100
            }
        };
        let join = match map.get("join") {
            None => None,
            Some(ConstValue::String(j)) => Some(j.clone()),
            Some(other) => {
                self.error(
                    pos,
                    format!("`batch.join` must be a string such as \",\", not `{other}`"),
                );
                None
            }
        };
        let window = match map.get("window") {
            None => None,
            Some(value) => match policy::duration("window", value, pos, &mut self.diags) {
                Some(d) if d.is_zero() || d > MAX_WINDOW => {
                    self.error(
                        pos,
                        format!(
                            "`batch.window` must be above 0 and at most {}ms: a key waits the whole window",
                            MAX_WINDOW.as_millis()
                        ),
                    );
                    None
                }
                d => d,
            },
        };
        if field.is_root {
            self.error(
                pos,
                format!(
                    "`{}` is a root field; batching gathers the values of many parents in a list",
                    field.coordinate
                ),
            );
        }
        if path
            .iter()
            .flat_map(Template::exprs)
            .any(|e| e.source == Source::Parent)
        {
            self.error(pos, "a batched binding takes its `$parent` value in a query parameter or the body, not the path");
            return None;
        }
        let mut inputs: Vec<Expr> = query
            .iter()
            .filter_map(|(_, t)| t.single_expr())
            .filter(|e| e.source == Source::Parent)
            .cloned()
            .collect();
        if let Some(body) = body {
            inputs.extend(
                body.exprs()
                    .into_iter()
                    .filter(|e| e.source == Source::Parent)
                    .cloned(),
            );
        }
        match inputs.as_slice() {
            [input] => Some(BatchConfig {
                input: input.clone(),
                key,
                max_size,
                join,
                window,
            }),
            [] => {
                self.error(pos, "a batched binding needs one query parameter or body value that is exactly one `{$parent...}` placeholder, e.g. query: { id: \"{$parent.userId}\" }");
                None
            }
            _ => {
                self.error(
                    pos,
                    "a batched binding may read only one `{$parent...}` value",
                );
                None
            }
        }
    }

    pub(super) fn template(&mut self, text: &str, pos: Pos) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(pos, e);
                None
            }
        }
    }

    pub(super) fn body(
        &mut self,
        value: &ConstValue,
        pos: Pos,
        templates: &mut Vec<(Template, Pos)>,
    ) -> BodyTemplate {
        match value {
            ConstValue::Null => BodyTemplate::Null,
            ConstValue::Boolean(b) => BodyTemplate::Bool(*b),
            ConstValue::Number(n) => BodyTemplate::Number(n.clone()),
            ConstValue::Enum(e) => BodyTemplate::String(
                Template::parse(e.as_str()).unwrap_or(Template { pieces: vec![] }),
            ),
            ConstValue::String(s) => match self.template(s, pos) {
                Some(t) => {
                    templates.push((t.clone(), pos));
                    BodyTemplate::String(t)
                }
                None => BodyTemplate::Null,
            },
            ConstValue::List(items) => {
                BodyTemplate::List(items.iter().map(|i| self.body(i, pos, templates)).collect())
            }
            ConstValue::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| (k.to_string(), self.body(v, pos, templates)))
                    .collect(),
            ),
            ConstValue::Binary(_) => {
                self.error(pos, "binary values cannot appear in a body");
                BodyTemplate::Null
            }
        }
    }

    pub(super) fn check_expr(
        &mut self,
        expr: &Expr,
        pos: Pos,
        field: &FieldCtx<'_>,
        forward: &[HeaderName],
    ) {
        let first = expr.path.first().map(String::as_str).unwrap_or_default();
        match expr.source {
            Source::Args => {
                if !field.args.iter().any(|a| a.name.as_str() == first) {
                    let known: Vec<&str> = field.args.iter().map(|a| a.name.as_str()).collect();
                    self.error(
                        pos,
                        format!(
                            "`{expr}`: `{}` has no argument `{first}` (arguments: {})",
                            field.coordinate,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
            Source::Parent => {
                if field.is_root {
                    self.error(
                        pos,
                        format!(
                            "`{expr}`: `{}` is a root field and has no parent",
                            field.coordinate
                        ),
                    );
                } else if !field.json_keys.contains(first) {
                    self.error(pos, format!("`{expr}`: `{}` has no field `{first}` read from its upstream JSON; declare it (e.g. `{first}: ID`) or read it with @from", field.parent));
                }
            }
            Source::Header => {
                if !forward.iter().any(|h| h.as_str() == first) {
                    self.error(pos, format!("`{expr}`: header `{first}` is not forwarded; list it in `forwardHeaders` on the field's @rest or its @upstream"));
                }
            }
        }
    }
}
