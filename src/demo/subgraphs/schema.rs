//! What every subgraph's schema shares: federation's `_service` and
//! `_entities` root fields, and fields read from their parent value.
//!
//! async-graphql's dynamic schema has federation support
//! (`SchemaBuilder::entity_resolver`), but once it is on, `_service { sdl }`
//! answers SDL the library prints from its own registry (a v2.5 `@link`, its
//! own order and directives), not the file the supergraph was composed from,
//! and the root-field interception cannot be overridden. So `_Any`, `_Entity`,
//! `_Service` and both fields are ordinary dynamic types here, and no object
//! declares a key to the library (which would switch its federation on).
//! Entities that do not exist are null items ([`super::null_propagation`]).

use std::any::Any;
use std::sync::Arc;

use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ObjectAccessor, Scalar, Schema,
    SchemaError, Subscription, Type, TypeRef, Union,
};

use super::null_propagation::{Absent, NullPropagation};

/// Resolves one representation whose `__typename` is the first argument:
/// `Ok(None)` when there is no such entity (its item in the answer is null).
pub(super) type EntityResolver =
    fn(&str, &ObjectAccessor<'_>) -> async_graphql::Result<Option<FieldValue<'static>>>;

/// What one subgraph serves besides federation's fields.
pub(super) struct Parts {
    /// The SDL file the supergraph was composed from, answered verbatim by
    /// `_service { sdl }`.
    pub(super) sdl: &'static str,
    /// The root type; `_service` and `_entities` are added to it.
    pub(super) query: Object,
    pub(super) types: Vec<Type>,
    /// The members of `_Entity`: the types with a `@key` in `sdl`.
    pub(super) entities: &'static [&'static str],
    pub(super) resolve: EntityResolver,
    /// The subscription root, served over WebSocket (`http.rs`).
    pub(super) subscription: Option<Subscription>,
}

pub(super) fn build(parts: Parts) -> Result<Schema, SchemaError> {
    let Parts {
        sdl,
        query,
        types,
        entities,
        resolve,
        subscription,
    } = parts;
    let service = Object::new("_Service").field(Field::new(
        "sdl",
        TypeRef::named(TypeRef::STRING),
        move |_| FieldFuture::Value(Some(FieldValue::value(sdl))),
    ));
    let query = query
        .field(Field::new(
            "_service",
            TypeRef::named_nn("_Service"),
            |_| FieldFuture::Value(Some(FieldValue::owned_any(()))),
        ))
        .field(
            Field::new("_entities", TypeRef::named_list_nn("_Entity"), move |ctx| {
                FieldFuture::new(async move {
                    let absent = ctx.data::<Arc<Absent>>()?;
                    let key = ctx.item.node.response_key().node.as_str();
                    let representations = ctx.args.try_get("representations")?.list()?;
                    let mut found = Vec::with_capacity(representations.len());
                    for (index, representation) in representations.iter().enumerate() {
                        let representation = representation.object()?;
                        let typename = representation.try_get("__typename")?.string()?;
                        found.push(resolve(typename, &representation)?.unwrap_or_else(|| {
                            // Never resolved: the item is null.
                            absent.insert(key, index);
                            FieldValue::NULL
                        }));
                    }
                    Ok(Some(FieldValue::list(found)))
                })
            })
            .argument(InputValue::new(
                "representations",
                TypeRef::named_nn_list_nn("_Any"),
            )),
        );
    let entity = entities
        .iter()
        .fold(Union::new("_Entity"), |union, ty| union.possible_type(*ty));
    let subscription_name = subscription.as_ref().map(|s| s.type_name().to_owned());
    let mut builder = Schema::build("Query", None, subscription_name.as_deref());
    if let Some(subscription) = subscription {
        builder = builder.register(subscription);
    }
    types
        .into_iter()
        .fold(builder, |schema, ty| schema.register(ty))
        .register(query)
        .register(service)
        .register(entity)
        .register(Scalar::new("_Any"))
        .extension(NullPropagation)
        .finish()
}

/// A representation's key field `field`, which must be a string.
pub(super) fn key<'r>(
    representation: &'r ObjectAccessor<'_>,
    typename: &str,
    field: &str,
) -> async_graphql::Result<&'r str> {
    representation
        .get(field)
        .and_then(|value| value.string().ok())
        .ok_or_else(|| {
            format!("a {typename} representation needs its key field `{field}` as a string").into()
        })
}

/// A field whose value is computed from its parent, a `T`.
pub(super) fn field<T: Any + Send + Sync>(
    name: &str,
    ty: TypeRef,
    read: fn(&T) -> async_graphql::Result<Option<FieldValue<'static>>>,
) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<T>()?;
            read(parent)
        })
    })
}

/// A leaf field: [`field`] for a value that is always there.
pub(super) fn leaf<T: Any + Send + Sync>(name: &str, ty: TypeRef, read: fn(&T) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<T>()?;
            Ok(Some(FieldValue::value(read(parent))))
        })
    })
}
