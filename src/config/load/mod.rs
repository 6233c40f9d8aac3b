//! SDL text -> [`Config`], collecting every diagnostic on the way.
//!
//! This file is the walk: it sequences the steps, reads the type definitions
//! and their fields, and hands each Tributary directive to its reader. Every
//! directive has a file of its own holding that reader (`upstream.rs` for
//! `@upstream` and `@upstreamDefaults`, `server.rs` (with `cors.rs` and
//! `compression.rs` for its objects, `rate_limit.rs`), `cache.rs`, `rest.rs`,
//! `from.rs`, `on_error.rs`, `list_size.rs`), so a directive's rules are read
//! in one place; what several readers need (header names, `${ENV}`, type
//! checks, the spec's own directives) is in `shared.rs`. Every directive's
//! known arguments come from [`super::vocabulary`].

use std::collections::{HashMap, HashSet};
use std::{path::Path, sync::Arc};

use async_graphql::parser::types::{
    ConstDirective, FieldDefinition, ServiceDocument, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Pos, Positioned};
use indexmap::IndexMap;

use super::env::EnvLookup;
use super::{
    ArgDef, Config, Diagnostic, Diagnostics, EnumDef, EnumValueDef, FieldDef, FieldSource,
    InputDef, ObjectDef, Policies, ScalarDef, ServerSettings, TypeDef, UnionDef, UpstreamConfig,
};

mod alerts;
mod cache;
mod compression;
mod cors;
mod entity;
mod extend;
mod field;
mod from;
mod graphql;
mod list_size;
mod live;
mod on_error;
mod persisted;
mod rate_limit;
mod rest;
mod server;
mod shared;
mod subscriptions;
mod upstream;

use extend::merge_extensions;
use from::from_path;
use shared::{arg_fits, base_name, deprecation, has_directive, spec_directive};

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
    load_with(file, text, env, None)
}

/// What loading the API schema of a supergraph (plus the operator's
/// overlay) needs to know.
#[derive(Debug, Default)]
pub struct Federated {
    /// Types whose unbound fields are resolved by the query planner.
    pub types: HashSet<String>,
    /// Subgraph name -> URL: an `@upstream` for a subgraph may omit `url`.
    pub subgraph_urls: HashMap<String, String>,
    /// Object types with a resolvable key in some subgraph: what an
    /// `@entity` field may return.
    pub entities: HashSet<String>,
    /// The supergraph's subscription root (its fields go to the subgraphs).
    pub subscription_type: Option<String>,
}

/// [`load`], for the API schema of a supergraph: unbound fields of the
/// supergraph's types are the planner's, `extend type` and `extend schema`
/// (the overlay) add to it.
pub fn load_with(
    file: &str,
    text: &str,
    env: EnvLookup<'_>,
    federated: Option<Federated>,
) -> Result<Config, Diagnostics> {
    let mut loader = Loader {
        env,
        diags: Vec::new(),
        federated,
        shared_limits: Vec::new(),
        persisted_redis_at: None,
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
    federated: Option<Federated>,
    /// Where a `rateLimit` asks for `shared: true`, which needs the Redis
    /// tier (`schema @cache(redis:)`, which may come later in the file).
    shared_limits: Vec<Pos>,
    /// Where `persistedQueries: { redis: true }` was written: it needs the
    /// `@cache(redis:)` tier, which may come after it.
    persisted_redis_at: Option<Pos>,
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
        let mut subscription_type = None;
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
                        subscription_type = Some((s.node.to_string(), s.pos));
                    }
                    // Defaults first, wherever they stand, so every
                    // @upstream starts from them.
                    for directive in &schema_node.directives {
                        if directive.node.name.node == "upstreamDefaults" {
                            self.upstream_defaults(directive, &mut defaults);
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

        let merged;
        if self.federated.is_some() {
            merged = merge_extensions(&type_defs, &mut self.diags);
            type_defs = merged.iter().collect();
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
        let subscription_type = match subscription_type {
            Some((s, pos)) => {
                if !names.contains(&s) {
                    self.error(pos, format!("the subscription type `{s}` is not defined"));
                }
                Some(s)
            }
            None => names
                .contains("Subscription")
                .then(|| "Subscription".to_owned()),
        };
        if let (Some(s), Some(f)) = (&subscription_type, &self.federated)
            && f.subscription_type.as_deref() != Some(s.as_str())
        {
            self.error(
                Pos { line: 1, column: 1 },
                format!("the subscription type `{s}` of an overlay: a supergraph's subscriptions come from its subgraphs"),
            );
        }

        let scope = Scope {
            names: &names,
            upstreams: &upstreams,
            query_type: &query_type,
            mutation_type: mutation_type.as_deref(),
            subscription_type: subscription_type.as_deref(),
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
        if redis.is_none() {
            for pos in std::mem::take(&mut self.shared_limits) {
                self.error(
                    pos,
                    "`shared: true` in `rateLimit` needs the Redis tier: add schema @cache(redis: \"redis://...\")",
                );
            }
        }
        server.connections.peer_addresses = server
            .rate_limits
            .iter()
            .any(|l| matches!(l.key, crate::config::ClientKey::Ip { .. }));
        if let Some(pos) = self.persisted_redis_at
            && redis.is_none()
        {
            self.error(
                pos,
                "`persistedQueries: { redis: true }` needs the Redis tier: add `schema @cache(redis: \"redis://...\")`",
            );
        }
        Some(Config {
            federation: None,
            redis,
            upstreams,
            server,
            query_type,
            mutation_type,
            subscription_type,
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
        let is_root = name == scope.query_type
            || Some(name) == scope.mutation_type
            || Some(name) == scope.subscription_type;
        if Some(name) == scope.subscription_type
            && let Some(i) = implements.first()
        {
            self.error(
                i.pos,
                format!("the subscription type `{name}` cannot implement interfaces"),
            );
        }
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
    subscription_type: Option<&'a str>,
    kinds: std::collections::HashMap<String, &'a TypeKind>,
}
