//! The products subgraph: the catalogue (`topProducts`, `product`) and each
//! product's name, price and weight.

use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ObjectAccessor, Schema, SchemaError,
    TypeRef,
};

use super::data::{self, Product};
use super::schema::{self, Parts, leaf};

pub(super) const SDL: &str = include_str!("../../../schema/federation/subgraphs/products.graphql");

/// `topProducts`' default `first`, as in the SDL.
const DEFAULT_FIRST: i64 = 20;

pub(super) fn schema() -> Result<Schema, SchemaError> {
    let product = Object::new("Product")
        .field(leaf::<Product>(
            "upc",
            TypeRef::named_nn(TypeRef::STRING),
            |p| Value::from(p.upc.as_str()),
        ))
        .field(leaf::<Product>(
            "name",
            TypeRef::named_nn(TypeRef::STRING),
            |p| Value::from(p.name.as_str()),
        ))
        .field(leaf::<Product>(
            "price",
            TypeRef::named_nn(TypeRef::INT),
            |p| Value::from(p.price),
        ))
        .field(leaf::<Product>(
            "weight",
            TypeRef::named_nn(TypeRef::INT),
            |p| Value::from(p.weight),
        ));
    let query = Object::new("Query")
        .field(
            Field::new("topProducts", TypeRef::named_nn_list_nn("Product"), |ctx| {
                FieldFuture::new(async move {
                    let first = match ctx.args.get("first") {
                        Some(first) if !first.is_null() => first.i64()?,
                        _ => DEFAULT_FIRST,
                    };
                    let first = usize::try_from(first)
                        .map_err(|_| format!("`first` must not be negative (got {first})"))?;
                    Ok(Some(FieldValue::list(
                        data::top_products(first)
                            .into_iter()
                            .map(FieldValue::owned_any),
                    )))
                })
            })
            .argument(
                InputValue::new("first", TypeRef::named(TypeRef::INT)).default_value(DEFAULT_FIRST),
            ),
        )
        .field(
            Field::new("product", TypeRef::named("Product"), |ctx| {
                FieldFuture::new(async move {
                    let upc = ctx.args.try_get("upc")?.string()?;
                    Ok(data::product(upc).map(FieldValue::owned_any))
                })
            })
            .argument(InputValue::new("upc", TypeRef::named_nn(TypeRef::STRING))),
        );
    schema::build(Parts {
        sdl: SDL,
        query,
        types: vec![product.into()],
        entities: &["Product"],
        resolve: entity,
        subscription: None,
    })
}

fn entity(
    typename: &str,
    representation: &ObjectAccessor<'_>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    match typename {
        "Product" => {
            let upc = schema::key(representation, typename, "upc")?;
            Ok(data::product(upc).map(|p| FieldValue::owned_any(p).with_type("Product")))
        }
        _ => Err(format!("`{typename}` is not an entity of the products subgraph").into()),
    }
}
