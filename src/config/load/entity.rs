//! `@entity(key:)` on a field of a supergraph's overlay: the field's value
//! is an entity of the supergraph (or a list of them), resolved by the query
//! planner from representations its parent gives.

use async_graphql::Positioned;
use async_graphql::parser::types::{BaseType, ConstDirective, Type};

use super::shared::base_name;
use super::{FieldCtx, Loader};
use crate::config::directives::DirectiveArgs;
use crate::config::{EntityBinding, EntityKey, vocabulary};

impl Loader<'_> {
    /// The binding of `field` (of type `ty`); `from`: its `@from` path.
    pub(super) fn entity(
        &mut self,
        directive: &Positioned<ConstDirective>,
        field: &FieldCtx<'_>,
        ty: &Type,
        from: Option<Vec<String>>,
    ) -> Option<EntityBinding> {
        let args = DirectiveArgs::new(directive, &vocabulary::arg_names("entity"), &mut self.diags);
        let coordinate = field.coordinate;
        let typename = base_name(ty).to_owned();
        let Some(federated) = &self.federated else {
            self.error(
                directive.pos,
                format!("@entity on `{coordinate}`: only a supergraph (and its overlay) has entities to resolve"),
            );
            return None;
        };
        if !federated.entities.contains(&typename) {
            let message = format!(
                "@entity on `{coordinate}`: `{typename}` is not an entity of the supergraph (an object type with a resolvable @key in some subgraph)"
            );
            self.error(directive.pos, message);
            return None;
        }
        let key = match args.get("key") {
            Some(value) => {
                let async_graphql::Value::Object(map) = &value.node else {
                    self.error(
                        value.pos,
                        "`key` is an object: { keyField: \"{$parent.x}\" or \"{$args.x}\" template }",
                    );
                    return None;
                };
                if map.is_empty() {
                    self.error(
                        value.pos,
                        "`key` names at least one field of the entity's key",
                    );
                    return None;
                }
                if matches!(ty.base, BaseType::List(_)) {
                    self.error(
                        value.pos,
                        format!("`{coordinate}` is a list: a `key` makes one representation; without `key` the representations are read from the parent's JSON"),
                    );
                    return None;
                }
                if from.is_some() {
                    self.error(
                        directive.pos,
                        format!("`{coordinate}` has @from and @entity(key:): the key's templates read the parent"),
                    );
                }
                let mut templates = Vec::new();
                let fields: Vec<_> = map
                    .iter()
                    .map(|(k, v)| (k.to_string(), self.body(v, value.pos, &mut templates)))
                    .collect();
                for (template, pos) in &templates {
                    for expr in template.exprs() {
                        self.check_expr(expr, *pos, field, &[]);
                    }
                }
                EntityKey::Templates(fields)
            }
            None if field.is_root => {
                self.error(
                    directive.pos,
                    format!("`{coordinate}` is a root field: it has no parent to read representations from; give a `key`"),
                );
                return None;
            }
            None => {
                let name = coordinate.rsplit('.').next().unwrap_or_default();
                EntityKey::Parent(from.unwrap_or_else(|| vec![name.to_owned()]))
            }
        };
        Some(EntityBinding { typename, key })
    }
}
