//! One field definition: its directives (`@rest`, `@graphql`, `@from`,
//! `@onError`, `@cache`, `@listSize`), where its value comes from, and its
//! arguments.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::Positioned;
use async_graphql::parser::types::{FieldDefinition, InputValueDefinition, TypeKind};

use super::shared::{deprecation, named_kind};
use super::{FieldCtx, Loader, PASSTHROUGH_DIRECTIVES, Scope};
use crate::config::{ArgDef, FieldDef, FieldSource, OnError};

impl Loader<'_> {
    pub(super) fn field(
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
        let mut graphql = None;
        let mut from = None;
        let mut entity = None;
        let mut on_error = None;
        let mut cache = None;
        let mut list_size = None;
        let mut poll = None;
        let mut stream = None;
        for d in &node.directives {
            match d.node.name.node.as_str() {
                "rest" => {
                    if rest.is_some() || graphql.is_some() {
                        self.error(d.pos, format!("`{coordinate}` has two bindings; a field has one @rest or @graphql"));
                    }
                    rest = Some(d);
                }
                "graphql" => {
                    if rest.is_some() || graphql.is_some() {
                        self.error(d.pos, format!("`{coordinate}` has two bindings; a field has one @rest or @graphql"));
                    }
                    graphql = Some(d);
                }
                "from" => from = Some(d),
                "poll" => poll = Some(d),
                "stream" => stream = Some(d),
                "entity" => entity = Some(d),
                "onError" => on_error = Some(d),
                "cache" => cache = Some(d),
                "listSize" => list_size = self.list_size(d, &coordinate, &node.ty.node, &args),
                name if PASSTHROUGH_DIRECTIVES.contains(&name) => {}
                other => self.error(
                    d.pos,
                    format!(
                        "unknown directive @{other} on `{coordinate}`; expected @rest, @graphql, @entity, @from, @cache, @onError, @listSize, @poll or @stream"
                    ),
                ),
            }
        }
        let subscription = Some(parent) == scope.subscription_type;
        let live = self.live(&coordinate, subscription, poll, stream);
        let ctx = FieldCtx {
            coordinate: &coordinate,
            args: &args,
            is_root,
            json_keys,
            parent,
        };
        let source = match (rest.or(graphql), from, entity) {
            (Some(_), _, Some(e)) => {
                self.error(e.pos, format!("`{coordinate}` has @entity and a binding: an entity is resolved by the subgraphs, not by a call of its own"));
                FieldSource::Parent(vec![])
            }
            (None, from, Some(e)) => {
                let from = from.map(|f| self.from(f, &coordinate, is_root));
                match self.entity(e, &ctx, &node.ty.node, from) {
                    Some(binding) => FieldSource::Entity(Arc::new(binding)),
                    None => FieldSource::Parent(vec![]),
                }
            }
            (rest_or_graphql, from, None) => match (rest_or_graphql, from) {
                (Some(_), Some(f)) if graphql.is_some() => {
                    self.error(f.pos, format!("`{coordinate}` has both @graphql and @from; a bound field's value is its own call's answer"));
                    FieldSource::Parent(vec![])
                }
                (Some(g), None) if graphql.is_some() => match self.graphql(g, &ctx, scope) {
                    Some(binding) => FieldSource::Graphql(Arc::new(binding)),
                    None => FieldSource::Parent(vec![]),
                },
                (Some(_), Some(f)) => {
                    self.error(f.pos, format!("`{coordinate}` has both @rest and @from; a bound field's value is its own call's response (use `select` to pick a part of it)"));
                    FieldSource::Parent(vec![])
                }
                (Some(r), None) => match self.rest(r, cache.take(), &ctx, scope) {
                    Some(mut binding) => {
                        if live.is_some() && binding.batch.is_some() {
                            self.error(r.pos, format!("`{coordinate}` is live: a subscription's call is made once per subscription, so `batch` does not apply"));
                        }
                        binding.live = live.clone();
                        FieldSource::Rest(Arc::new(binding))
                    }
                    None => FieldSource::Parent(vec![]),
                },
                (None, Some(f)) => FieldSource::Parent(self.from(f, &coordinate, is_root)),
                (None, None)
                    if self
                        .federated
                        .as_ref()
                        .is_some_and(|f| f.types.contains(parent)) =>
                {
                    FieldSource::Federated
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
            },
        };
        let federated_type = self
            .federated
            .as_ref()
            .is_some_and(|f| f.types.contains(parent));
        if subscription && federated_type {
            for d in poll.iter().chain(stream.iter()) {
                self.error(d.pos, format!("@{} on `{coordinate}`: a supergraph's subscription fields are its subgraphs' streams", d.node.name.node));
            }
        }
        if subscription && federated_type && !matches!(source, FieldSource::Federated) {
            self.error(field.pos, format!("`{coordinate}`: a supergraph's subscription fields come from its subgraphs, not from a binding"));
        } else if subscription && !federated_type && !matches!(source, FieldSource::Rest(_)) {
            self.error(field.pos, format!("`{coordinate}` is a field of the subscription type and needs @rest: an upstream event stream, or with @poll(every:) a call made again at that interval"));
        }
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

    pub(super) fn arg(
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
}
