//! SDL text -> [`Config`], collecting every diagnostic on the way.

use std::collections::{HashMap, HashSet};
use std::time::Duration;
use std::{path::Path, sync::Arc};

use async_graphql::parser::types::{
    BaseType, ConstDirective, FieldDefinition, InputValueDefinition, ServiceDocument, Type,
    TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Pos, Positioned, Value as ConstValue};
use http::{HeaderName, HeaderValue, Method};
use indexmap::IndexMap;
use url::Url;

use super::directives::DirectiveArgs;
use super::env::{EnvLookup, interpolate};
use super::policy;
use super::vocabulary;
use super::{
    ArgDef, BatchConfig, BodyTemplate, Config, Diagnostic, Diagnostics, EnumDef, EnumValueDef,
    Expr, FieldDef, FieldSource, InputDef, ListSize, ObjectDef, OnError, Policies, RedisTier,
    RestBinding, ScalarDef, ServerSettings, Source, Template, TypeDef, UnionDef, UpstreamConfig,
};

const BUILTIN_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];
/// Directives the SDL may carry that the gateway leaves to the engine.
const PASSTHROUGH_DIRECTIVES: [&str; 3] = ["deprecated", "specifiedBy", "oneOf"];

/// Reads and validates the SDL file at `path` against the process environment.
pub fn load_file(path: &Path) -> Result<Config, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Diagnostics {
        file: file.clone(),
        items: vec![Diagnostic {
            pos: Pos { line: 1, column: 1 },
            message: format!("cannot read the schema: {e}"),
        }],
    })?;
    load(&file, &text, &|name| std::env::var(name).ok())
}

/// Reads and validates SDL `text`; `file` names it in diagnostics.
pub fn load(file: &str, text: &str, env: EnvLookup<'_>) -> Result<Config, Diagnostics> {
    let mut loader = Loader {
        env,
        diags: Vec::new(),
    };
    let config = match async_graphql::parser::parse_schema(text) {
        Ok(doc) => loader.document(&doc),
        Err(e) => {
            let pos = e.positions().next().unwrap_or(Pos { line: 1, column: 1 });
            loader.diags.push(Diagnostic {
                pos,
                message: format!("syntax error: {}", first_line(&e.to_string())),
            });
            None
        }
    };
    match config {
        Some(config) if loader.diags.is_empty() => Ok(config),
        _ => {
            let mut items = loader.diags;
            items.sort_by_key(|d| (d.pos.line, d.pos.column));
            Err(Diagnostics {
                file: file.to_owned(),
                items,
            })
        }
    }
}

/// pest's syntax errors span several lines (` --> 2:8`, the source line, a
/// caret) and end with `= expected ...`: the one worth a diagnostic.
fn first_line(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or_else(|| text.lines().next().unwrap_or(text))
}

struct Loader<'e> {
    env: EnvLookup<'e>,
    diags: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            pos,
            message: message.into(),
        });
    }

    fn document(&mut self, doc: &ServiceDocument) -> Option<Config> {
        let mut upstreams = IndexMap::new();
        let mut server = ServerSettings::default();
        let mut query_type = None;
        let mut mutation_type = None;
        let mut type_defs: Vec<&Positioned<TypeDefinition>> = Vec::new();
        let mut defaults = Policies::default();
        let mut redis = None;

        for def in &doc.definitions {
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    let schema_node = &schema.node;
                    if let Some(q) = &schema_node.query {
                        query_type = Some(q.node.to_string());
                    }
                    if let Some(m) = &schema_node.mutation {
                        mutation_type = Some(m.node.to_string());
                    }
                    if let Some(s) = &schema_node.subscription {
                        self.error(s.pos, "subscriptions are not supported");
                    }
                    // Defaults first, wherever they stand, so every
                    // @upstream starts from them.
                    for directive in &schema_node.directives {
                        if directive.node.name.node == "upstreamDefaults" {
                            let args = DirectiveArgs::new(
                                directive,
                                &vocabulary::policy_names(),
                                &mut self.diags,
                            );
                            policy::apply(&mut defaults, &args.all(), &mut self.diags);
                        }
                    }
                    for directive in &schema_node.directives {
                        match directive.node.name.node.as_str() {
                            "upstreamDefaults" => {}
                            "upstream" => {
                                if let Some(up) = self.upstream(directive, &defaults) {
                                    if upstreams.contains_key(&up.name) {
                                        self.error(
                                            directive.pos,
                                            format!("duplicate upstream `{}`", up.name),
                                        );
                                    } else {
                                        upstreams.insert(up.name.clone(), Arc::new(up));
                                    }
                                }
                            }
                            "server" => self.server(directive, &mut server),
                            "cache" => redis = self.redis(directive),
                            other => self.error(
                                directive.pos,
                                format!("unknown directive @{other} on schema; expected @upstream, @upstreamDefaults or @server"),
                            ),
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => type_defs.push(ty),
                // Directive definitions document the language for editors; the
                // gateway knows its directives already.
                TypeSystemDefinition::Directive(_) => {}
            }
        }

        let mut names = HashSet::new();
        for ty in &type_defs {
            let name = ty.node.name.node.as_str();
            if ty.node.extend {
                self.error(
                    ty.pos,
                    "type extensions are not supported; merge the fields into the type",
                );
            } else if BUILTIN_SCALARS.contains(&name) || !names.insert(name.to_owned()) {
                self.error(ty.pos, format!("type `{name}` is defined twice"));
            }
        }
        let query_type = query_type.unwrap_or_else(|| "Query".to_owned());
        if !names.contains(&query_type) {
            self.error(
                Pos { line: 1, column: 1 },
                format!("the query type `{query_type}` is not defined"),
            );
        }
        let mutation_type = match mutation_type {
            Some(m) => {
                if !names.contains(&m) {
                    self.error(
                        Pos { line: 1, column: 1 },
                        format!("the mutation type `{m}` is not defined"),
                    );
                }
                Some(m)
            }
            None => names.contains("Mutation").then(|| "Mutation".to_owned()),
        };

        let scope = Scope {
            names: &names,
            upstreams: &upstreams,
            query_type: &query_type,
            mutation_type: mutation_type.as_deref(),
            kinds: type_defs
                .iter()
                .map(|t| (t.node.name.node.to_string(), &t.node.kind))
                .collect(),
        };
        let mut types = IndexMap::new();
        for ty in &type_defs {
            if let Some(def) = self.type_def(ty, &scope) {
                types.insert(ty.node.name.node.to_string(), def);
            }
        }
        self.check_argument_objects(&types, &query_type);
        Some(Config {
            redis,
            upstreams,
            server,
            query_type,
            mutation_type,
            types,
        })
    }

    /// The one JSON shape knowable before any call: an object type made only
    /// from a root field's arguments (`product(id:)`) has exactly those
    /// arguments as its JSON, so an unbound field must read one of them, with
    /// a type that can hold it.
    fn check_argument_objects(&mut self, types: &IndexMap<String, TypeDef>, query_type: &str) {
        let mut makers: HashMap<&str, Vec<&FieldDef>> = HashMap::new();
        let mut other_uses: HashSet<&str> = HashSet::new();
        for (name, def) in types {
            let (TypeDef::Object(object) | TypeDef::Interface(object)) = def else {
                continue;
            };
            for field in object.fields.values() {
                let target = base_name(&field.ty);
                match &field.source {
                    FieldSource::Arguments if name == query_type => {
                        makers.entry(target).or_default().push(field)
                    }
                    _ => {
                        other_uses.insert(target);
                    }
                }
            }
        }
        for (target, makers) in makers {
            if other_uses.contains(target) {
                continue;
            }
            let Some(TypeDef::Object(object)) = types.get(target) else {
                continue;
            };
            for field in object.fields.values() {
                let FieldSource::Parent(path) = &field.source else {
                    continue;
                };
                let Some(first) = path.first() else { continue };
                for maker in &makers {
                    let arg = maker.args.iter().find(|a| a.name.as_str() == first);
                    let Some(arg) = arg else {
                        self.error(field.pos, format!(
                            "`{}` reads `{first}` from its parent's JSON, but `{target}` is made only from the arguments of `{}` ({}), so it would always be null; add the argument, bind the field with @rest, or remove it",
                            field.coordinate,
                            maker.coordinate,
                            maker.args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
                        ));
                        continue;
                    };
                    if path.len() == 1 && !arg_fits(&arg.ty, arg.default.is_some(), &field.ty) {
                        self.error(field.pos, format!(
                            "`{}: {}` is filled from argument `{}: {}` of `{}`, which cannot always hold it",
                            field.coordinate, field.ty, arg.name, arg.ty, maker.coordinate
                        ));
                    }
                }
            }
        }
    }

    fn server(&mut self, directive: &Positioned<ConstDirective>, server: &mut ServerSettings) {
        let args = DirectiveArgs::new(directive, &vocabulary::arg_names("server"), &mut self.diags);
        let diags = &mut self.diags;
        // Counts, as usize or u64 settings (`maxComplexity` is the older
        // name of `maxCost`, read first so `maxCost` wins).
        let sizes: [(&str, &mut usize); 5] = [
            ("maxBodyBytes", &mut server.max_body_bytes),
            ("maxDepth", &mut server.max_depth),
            ("maxAliases", &mut server.max_aliases),
            ("maxRootFields", &mut server.max_root_fields),
            ("maxResponseBytes", &mut server.max_response_bytes),
        ];
        for (key, slot) in sizes {
            if let Some(v) = args.usize(key, diags) {
                *slot = v;
            }
        }
        if let Some(v) = args.usize("maxComplexity", diags) {
            server.max_cost = u64::try_from(v).unwrap_or(u64::MAX);
        }
        let totals: [(&str, &mut u64); 4] = [
            ("maxCost", &mut server.max_cost),
            ("defaultListSize", &mut server.default_list_size),
            ("maxUpstreamCalls", &mut server.max_upstream_calls),
            ("documentCacheBytes", &mut server.document_cache_bytes),
        ];
        for (key, slot) in totals {
            if let Some(v) = args.usize(key, diags) {
                *slot = u64::try_from(v).unwrap_or(u64::MAX);
            }
        }
        if let Some(v) = args.usize("maxConnections", diags) {
            server.connections.max_connections = Some(v);
        }
        if let Some(v) = args.usize("http2MaxStreams", diags) {
            server.connections.http2_max_streams = u32::try_from(v).unwrap_or(u32::MAX);
        }
        let connections = &mut server.connections;
        let durations: [(&str, &mut Duration); 6] = [
            ("maxRequestTime", &mut server.max_request_time),
            ("headerReadTimeout", &mut connections.header_read_timeout),
            ("bodyReadTimeout", &mut connections.body_read_timeout),
            ("idleTimeout", &mut connections.idle_timeout),
            ("connectionWait", &mut connections.connection_wait),
            ("shutdownGrace", &mut connections.shutdown_grace),
        ];
        for (key, slot) in durations {
            if let Some(value) = args.get(key)
                && let Some(d) = policy::duration(key, &value.node, value.pos, diags)
            {
                if d.is_zero() && key != "connectionWait" {
                    diags.push(Diagnostic {
                        pos: value.pos,
                        message: format!("`{key}` on @server must be longer than 0"),
                    });
                } else {
                    *slot = d;
                }
            }
        }
        if let Some(v) = args.bool("introspection", diags) {
            server.introspection = v;
        }
        if let Some(v) = args.bool("graphiql", diags) {
            server.graphiql = v;
        }
        if let Some(v) = args.bool("timeline", diags) {
            server.timeline = v;
        }
    }

    fn redis(&mut self, directive: &Positioned<ConstDirective>) -> Option<RedisTier> {
        let args = DirectiveArgs::new(
            directive,
            &["redis", "redisTimeout", "prefix"],
            &mut self.diags,
        );
        let (raw, pos) = args.required_string("redis", &mut self.diags)?;
        let url = self.interpolate(raw, pos)?;
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            self.error(pos, format!("`redis: \"{raw}\"` must be a redis:// URL"));
            return None;
        }
        let timeout = args
            .get("redisTimeout")
            .and_then(|v| policy::duration("redisTimeout", &v.node, v.pos, &mut self.diags))
            .unwrap_or(std::time::Duration::from_millis(50));
        let prefix = args
            .string("prefix", &mut self.diags)
            .map_or_else(|| "tributary".to_owned(), |(p, _)| p.to_owned());
        Some(RedisTier {
            url,
            timeout,
            prefix,
        })
    }

    fn upstream(
        &mut self,
        directive: &Positioned<ConstDirective>,
        defaults: &Policies,
    ) -> Option<UpstreamConfig> {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("upstream"),
            &mut self.diags,
        );
        let name = args.required_string("name", &mut self.diags);
        let url = args.required_string("url", &mut self.diags).and_then(|(raw, pos)| {
            let text = self.interpolate(raw, pos)?;
            match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(url)
                }
                Ok(_) => {
                    self.error(pos, format!("upstream url `{raw}` must be an http:// or https:// URL with a host"));
                    None
                }
                Err(e) => {
                    self.error(pos, format!("upstream url `{raw}` is not a URL: {e}"));
                    None
                }
            }
        });
        let mut policies = defaults.clone();
        let policy_names = vocabulary::policy_names();
        let policy_args: Vec<_> = args
            .all()
            .into_iter()
            .filter(|(k, _, _)| policy_names.contains(k))
            .collect();
        policy::apply(&mut policies, &policy_args, &mut self.diags);
        let http2_only = args.bool("http2", &mut self.diags).unwrap_or(false);
        let max_response_bytes = args
            .usize("maxResponseBytes", &mut self.diags)
            .unwrap_or(16 * 1024 * 1024);
        let pool_max_idle = args.usize("poolMaxIdle", &mut self.diags).unwrap_or(64);
        let mut headers = Vec::new();
        for (name, value, pos) in args.pairs("headers", &mut self.diags) {
            let Some(value) = self.interpolate(&value, pos) else {
                continue;
            };
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                (Err(_), _) => self.error(pos, format!("`{name}` is not a valid header name")),
                (_, Err(_)) => self.error(
                    pos,
                    format!("the value of header `{name}` is not a valid header value"),
                ),
            }
        }
        let forward_headers = self.header_names(&args, "forwardHeaders");
        let static_names: Vec<&HeaderName> = headers.iter().map(|(n, _)| n).collect();
        self.check_header_sources(
            directive.pos,
            &format!("upstream `{}`", name.map_or("?", |(n, _)| n)),
            url.as_ref(),
            &[&static_names],
            &forward_headers,
        );
        Some(UpstreamConfig {
            name: name?.0.to_owned(),
            url: url?,
            policies,
            http2_only,
            headers,
            forward_headers,
            max_response_bytes,
            pool_max_idle,
        })
    }

    /// A header may come from one place only: sent twice upstream, the
    /// receiver picks one (or joins them), and with credentials that can be
    /// the wrong caller's. `sent` are the groups of headers written by the
    /// schema (a binding's templates, the upstream's fixed headers);
    /// `forwarded` come from the client. URL userinfo is an `Authorization`.
    fn check_header_sources(
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

    fn header_names(&mut self, args: &DirectiveArgs<'_>, key: &str) -> Vec<HeaderName> {
        let mut out = Vec::new();
        for (name, pos) in args.strings(key, &mut self.diags) {
            match HeaderName::try_from(name) {
                Ok(n) => out.push(n),
                Err(_) => self.error(pos, format!("`{name}` is not a valid header name")),
            }
        }
        out
    }

    fn interpolate(&mut self, raw: &str, pos: Pos) -> Option<String> {
        match interpolate(raw, self.env) {
            Ok(text) => Some(text),
            Err(e) => {
                self.error(pos, e);
                None
            }
        }
    }

    fn type_def(&mut self, ty: &Positioned<TypeDefinition>, scope: &Scope<'_>) -> Option<TypeDef> {
        let name = ty.node.name.node.to_string();
        let description = ty.node.description.as_ref().map(|d| d.node.clone());
        self.no_gateway_directives(&ty.node.directives, &name);
        Some(match &ty.node.kind {
            TypeKind::Scalar => TypeDef::Scalar(ScalarDef {
                name,
                description,
                specified_by: spec_directive(&ty.node.directives, "specifiedBy", "url"),
            }),
            TypeKind::Object(object) => TypeDef::Object(self.object(
                &name,
                description,
                &object.implements,
                &object.fields,
                scope,
            )),
            TypeKind::Interface(object) => TypeDef::Interface(self.object(
                &name,
                description,
                &object.implements,
                &object.fields,
                scope,
            )),
            TypeKind::Union(union) => {
                let mut members = Vec::new();
                for m in &union.members {
                    if !matches!(scope.kinds.get(m.node.as_str()), Some(TypeKind::Object(_))) {
                        self.error(
                            m.pos,
                            format!("union member `{}` is not an object type", m.node),
                        );
                    }
                    members.push(m.node.to_string());
                }
                TypeDef::Union(UnionDef {
                    name,
                    description,
                    members,
                })
            }
            TypeKind::Enum(e) => TypeDef::Enum(EnumDef {
                name,
                description,
                values: e
                    .values
                    .iter()
                    .map(|v| EnumValueDef {
                        name: v.node.value.node.to_string(),
                        description: v.node.description.as_ref().map(|d| d.node.clone()),
                        deprecation: deprecation(&v.node.directives),
                    })
                    .collect(),
            }),
            TypeKind::InputObject(input) => TypeDef::Input(InputDef {
                one_of: ty
                    .node
                    .directives
                    .iter()
                    .any(|d| d.node.name.node == "oneOf"),
                name: name.clone(),
                description,
                fields: input
                    .fields
                    .iter()
                    .map(|f| self.arg(f, scope, true))
                    .collect(),
            }),
        })
    }

    fn no_gateway_directives(&mut self, directives: &[Positioned<ConstDirective>], on: &str) {
        for d in directives {
            let name = d.node.name.node.as_str();
            if !PASSTHROUGH_DIRECTIVES.contains(&name) {
                self.error(d.pos, format!("@{name} does not belong on `{on}`"));
            }
        }
    }

    fn object(
        &mut self,
        name: &str,
        description: Option<String>,
        implements: &[Positioned<async_graphql::Name>],
        fields: &[Positioned<FieldDefinition>],
        scope: &Scope<'_>,
    ) -> ObjectDef {
        for i in implements {
            if !matches!(
                scope.kinds.get(i.node.as_str()),
                Some(TypeKind::Interface(_))
            ) {
                self.error(
                    i.pos,
                    format!(
                        "`{name}` implements `{}`, which is not an interface",
                        i.node
                    ),
                );
            }
        }
        let is_root = name == scope.query_type || Some(name) == scope.mutation_type;
        // The JSON keys a `{$parent.X}` in this type's bindings may read: the
        // fields that come from the parent JSON rather than their own call.
        let json_keys: HashSet<String> = fields
            .iter()
            .filter(|f| !has_directive(&f.node.directives, "rest"))
            .map(|f| {
                from_path(&f.node.directives).map_or_else(
                    || f.node.name.node.to_string(),
                    |p| p.split('.').next().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut out = IndexMap::new();
        for field in fields {
            let def = self.field(name, field, is_root, &json_keys, scope);
            if out.insert(def.name.clone(), Arc::new(def)).is_some() {
                self.error(
                    field.pos,
                    format!("field `{name}.{}` is defined twice", field.node.name.node),
                );
            }
        }
        ObjectDef {
            name: name.to_owned(),
            description,
            implements: implements.iter().map(|i| i.node.to_string()).collect(),
            fields: out,
        }
    }

    fn field(
        &mut self,
        parent: &str,
        field: &Positioned<FieldDefinition>,
        is_root: bool,
        json_keys: &HashSet<String>,
        scope: &Scope<'_>,
    ) -> FieldDef {
        let node = &field.node;
        let coordinate = format!("{parent}.{}", node.name.node);
        self.check_type(&node.ty.node, node.ty.pos, scope, false);
        let args: Vec<ArgDef> = node
            .arguments
            .iter()
            .map(|a| self.arg(a, scope, false))
            .collect();
        let mut rest = None;
        let mut from = None;
        let mut on_error = None;
        let mut cache = None;
        let mut list_size = None;
        for d in &node.directives {
            match d.node.name.node.as_str() {
                "rest" => {
                    if rest.is_some() {
                        self.error(d.pos, format!("`{coordinate}` has two @rest bindings"));
                    }
                    rest = Some(d);
                }
                "from" => from = Some(d),
                "onError" => on_error = Some(d),
                "cache" => cache = Some(d),
                "listSize" => list_size = self.list_size(d, &coordinate, &node.ty.node, &args),
                name if PASSTHROUGH_DIRECTIVES.contains(&name) => {}
                other => self.error(
                    d.pos,
                    format!(
                        "unknown directive @{other} on `{coordinate}`; expected @rest, @from, @cache, @onError or @listSize"
                    ),
                ),
            }
        }
        let source = match (rest, from) {
            (Some(_), Some(f)) => {
                self.error(f.pos, format!("`{coordinate}` has both @rest and @from; a bound field's value is its own call's response (use `select` to pick a part of it)"));
                FieldSource::Parent(vec![])
            }
            (Some(r), None) => {
                let ctx = FieldCtx {
                    coordinate: &coordinate,
                    args: &args,
                    is_root,
                    json_keys,
                    parent,
                };
                match self.rest(r, cache.take(), &ctx, scope) {
                    Some(binding) => FieldSource::Rest(Arc::new(binding)),
                    None => FieldSource::Parent(vec![]),
                }
            }
            (None, Some(f)) => {
                let args = DirectiveArgs::new(f, &vocabulary::arg_names("from"), &mut self.diags);
                let path = args
                    .required_string("path", &mut self.diags)
                    .map(|(p, _)| p.split('.').map(str::to_owned).collect())
                    .unwrap_or_default();
                if is_root {
                    self.error(
                        f.pos,
                        format!("`{coordinate}` is a root field: it has no parent to read from"),
                    );
                }
                FieldSource::Parent(path)
            }
            (None, None) if is_root => {
                if matches!(named_kind(&node.ty.node, scope), Some(TypeKind::Object(_))) {
                    FieldSource::Arguments
                } else {
                    self.error(field.pos, format!("root field `{coordinate}` needs a @rest binding (only a root field of an object type may go without one: its object is made of its arguments)"));
                    FieldSource::Arguments
                }
            }
            (None, None) => FieldSource::Parent(vec![node.name.node.to_string()]),
        };
        if let Some(d) = cache {
            self.error(
                d.pos,
                format!(
                    "@cache on `{coordinate}` needs a @rest binding: only upstream calls are cached"
                ),
            );
        }
        let on_error = match on_error {
            Some(d) => self.on_error(d, &coordinate, &node.ty.node, &source, scope),
            None => OnError::Fail,
        };
        FieldDef {
            deprecation: deprecation(&node.directives),
            on_error,
            list_size,
            coordinate,
            pos: field.pos,
            name: node.name.node.to_string(),
            description: node.description.as_ref().map(|d| d.node.clone()),
            ty: node.ty.node.clone(),
            args,
            source,
        }
    }

    /// `@listSize(assumedSize:, slicingArguments:)` on a list field.
    fn list_size(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        args: &[ArgDef],
    ) -> Option<ListSize> {
        let reader = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("listSize"),
            &mut self.diags,
        );
        if !matches!(ty.base, BaseType::List(_)) {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}`: the field is not a list"),
            );
            return None;
        }
        let assumed = reader
            .usize("assumedSize", &mut self.diags)
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let mut slicing = Vec::new();
        for (name, pos) in reader.strings("slicingArguments", &mut self.diags) {
            match args.iter().find(|a| a.name.as_str() == name) {
                Some(arg) if matches!(&arg.ty.base, BaseType::Named(n) if n == "Int") => {
                    slicing.push(name.to_owned())
                }
                Some(arg) => self.error(
                    pos,
                    format!(
                        "@listSize on `{coordinate}`: slicing argument `{name}` is `{}`, not Int",
                        arg.ty
                    ),
                ),
                None => self.error(
                    pos,
                    format!("@listSize on `{coordinate}`: the field has no argument `{name}`"),
                ),
            }
        }
        if assumed.is_none() && slicing.is_empty() {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}` needs `assumedSize` or `slicingArguments`"),
            );
            return None;
        }
        Some(ListSize { assumed, slicing })
    }

    fn arg(
        &mut self,
        arg: &Positioned<InputValueDefinition>,
        scope: &Scope<'_>,
        _input: bool,
    ) -> ArgDef {
        self.check_type(&arg.node.ty.node, arg.node.ty.pos, scope, true);
        ArgDef {
            name: arg.node.name.node.clone(),
            description: arg.node.description.as_ref().map(|d| d.node.clone()),
            ty: arg.node.ty.node.clone(),
            default: arg.node.default_value.as_ref().map(|v| v.node.clone()),
            deprecation: deprecation(&arg.node.directives),
        }
    }

    fn check_type(&mut self, ty: &Type, pos: Pos, scope: &Scope<'_>, input: bool) {
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

    fn rest(
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
        let cache_ttl = cache.and_then(|d| {
            let args = DirectiveArgs::new(d, &["ttl"], &mut self.diags);
            let ttl = args
                .get("ttl")
                .and_then(|v| policy::duration("ttl", &v.node, v.pos, &mut self.diags));
            if ttl.is_none() && args.get("ttl").is_none() {
                self.error(d.pos, "@cache needs `ttl`, e.g. @cache(ttl: \"30s\"), or \"0s\" to bypass the cache");
            }
            if ttl.is_some_and(|t| !t.is_zero())
                && upstream.as_ref().is_some_and(|u| u.policies.cache.is_none())
            {
                self.error(d.pos, format!("@cache(ttl:) on `{}` needs a `cache` on its upstream (it bounds the memory)", field.coordinate));
            }
            ttl
        });
        let batch = args
            .get("batch")
            .and_then(|v| self.batch(v, &query, body.as_ref(), &path, field));
        let path_template = match args.get("path").map(|v| &v.node) {
            Some(ConstValue::String(p)) => p.clone(),
            _ => String::new(),
        };
        let trips_breaker = args.bool("tripsBreaker", &mut self.diags).unwrap_or(true);
        Some(RestBinding {
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

    fn batch(
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
                "`batch` takes { key: \"id\", maxSize: 100, join: \",\" }",
            );
            return None;
        };
        for k in map.keys() {
            if !["key", "maxSize", "join"].contains(&k.as_str()) {
                self.error(
                    pos,
                    format!("unknown key `{k}` in `batch`; expected one of: key, maxSize, join"),
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

    fn on_error(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        source: &FieldSource,
        scope: &Scope<'_>,
    ) -> OnError {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("onError"),
            &mut self.diags,
        );
        let Some((policy, pos)) = args.required_string("use", &mut self.diags) else {
            return OnError::Fail;
        };
        let value = args.get("value");
        match policy {
            "FAIL" => OnError::Fail,
            "NULL" if !ty.nullable => {
                self.error(pos, format!("`{coordinate}` is non-null ({ty}), so it cannot become null; use DEFAULT with a value, or make the field nullable"));
                OnError::Fail
            }
            "NULL" => OnError::Null,
            "DEFAULT" => match value {
                None => {
                    self.error(
                        pos,
                        format!("@onError(use: DEFAULT) on `{coordinate}` needs a `value`"),
                    );
                    OnError::Fail
                }
                Some(v) => {
                    if let Err(problem) = value_fits(&v.node, ty, scope) {
                        self.error(
                            v.pos,
                            format!("the default for `{coordinate}` does not fit {ty}: {problem}"),
                        );
                    }
                    OnError::Default(v.node.clone())
                }
            },
            "STALE" => {
                let stale_window = match source {
                    FieldSource::Rest(b) => {
                        b.upstream.policies.cache.as_ref().map(|c| c.stale_if_error)
                    }
                    _ => None,
                };
                if stale_window.is_none_or(|w| w.is_zero()) {
                    self.error(pos, format!("@onError(use: STALE) on `{coordinate}` needs its upstream's `cache: {{ staleIfError: \"...\" }}`, which bounds how old a stale answer may be"));
                }
                if let Some(v) = value
                    && let Err(problem) = value_fits(&v.node, ty, scope)
                {
                    self.error(
                        v.pos,
                        format!("the fallback for `{coordinate}` does not fit {ty}: {problem}"),
                    );
                }
                OnError::Stale {
                    fallback: value.map(|v| v.node.clone()),
                }
            }
            other => {
                self.error(
                    pos,
                    format!("unknown @onError policy `{other}`; use FAIL, NULL, DEFAULT or STALE"),
                );
                OnError::Fail
            }
        }
    }

    fn template(&mut self, text: &str, pos: Pos) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(pos, e);
                None
            }
        }
    }

    fn body(
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

    fn check_expr(&mut self, expr: &Expr, pos: Pos, field: &FieldCtx<'_>, forward: &[HeaderName]) {
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

/// What a binding's templates may refer to.
struct FieldCtx<'a> {
    coordinate: &'a str,
    args: &'a [ArgDef],
    is_root: bool,
    json_keys: &'a HashSet<String>,
    parent: &'a str,
}

struct Scope<'a> {
    names: &'a HashSet<String>,
    upstreams: &'a IndexMap<String, Arc<UpstreamConfig>>,
    query_type: &'a str,
    mutation_type: Option<&'a str>,
    kinds: std::collections::HashMap<String, &'a TypeKind>,
}

/// Whether a literal `value` (from the SDL) is a valid result of type `ty`.
fn value_fits(value: &ConstValue, ty: &Type, scope: &Scope<'_>) -> Result<(), String> {
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
fn arg_fits(arg: &Type, has_default: bool, field: &Type) -> bool {
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

fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

fn named_kind<'a>(ty: &Type, scope: &Scope<'a>) -> Option<&'a TypeKind> {
    let _ = scope.names;
    scope.kinds.get(base_name(ty)).copied()
}

fn has_directive(directives: &[Positioned<ConstDirective>], name: &str) -> bool {
    directives.iter().any(|d| d.node.name.node == name)
}

fn from_path(directives: &[Positioned<ConstDirective>]) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == "from")
        .and_then(|d| d.node.get_argument("path"))
        .and_then(|v| match &v.node {
            ConstValue::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// `@deprecated(reason:)` among `directives`: the reason, or the spec's
/// default one.
fn deprecation(directives: &[Positioned<ConstDirective>]) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == "deprecated")
        .map(|d| spec_argument(d, "reason").unwrap_or_else(|| "No longer supported".to_owned()))
}

/// The string argument `arg` of the first `@name` among `directives`.
fn spec_directive(
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
