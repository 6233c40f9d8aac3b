//! The reviews subgraph: each product's reviews, their authors, and `me`.

use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, Object, ObjectAccessor, Schema, SchemaError, TypeRef,
};

use super::data::{self, Review, User};
use super::schema::{self, Parts, field, leaf};

pub(super) const SDL: &str = include_str!("../../../schema/federation/subgraphs/reviews.graphql");

/// Who `me` is.
const ME: &str = "1";

/// A product as this subgraph knows it: by its key alone.
struct ReviewedProduct {
    upc: String,
}

pub(super) fn schema() -> Result<Schema, SchemaError> {
    let review = Object::new("Review")
        .field(leaf::<Review>("id", TypeRef::named_nn(TypeRef::ID), |r| {
            Value::from(r.id.as_str())
        }))
        .field(leaf::<Review>(
            "body",
            TypeRef::named_nn(TypeRef::STRING),
            |r| Value::from(r.body),
        ))
        .field(leaf::<Review>(
            "rating",
            TypeRef::named_nn(TypeRef::INT),
            |r| Value::from(r.rating),
        ))
        .field(field::<Review>("author", TypeRef::named("User"), |r| {
            Ok(data::user(&r.author).map(FieldValue::owned_any))
        }));
    let product = Object::new("Product")
        .field(leaf::<ReviewedProduct>(
            "upc",
            TypeRef::named_nn(TypeRef::STRING),
            |p| Value::from(p.upc.as_str()),
        ))
        .field(field::<ReviewedProduct>(
            "reviews",
            TypeRef::named_nn_list_nn("Review"),
            |p| {
                Ok(Some(FieldValue::list(
                    data::reviews(&p.upc).into_iter().map(FieldValue::owned_any),
                )))
            },
        ));
    let user = Object::new("User")
        .field(leaf::<User>("id", TypeRef::named_nn(TypeRef::ID), |u| {
            Value::from(u.id.as_str())
        }))
        .field(leaf::<User>(
            "username",
            TypeRef::named_nn(TypeRef::STRING),
            |u| Value::from(u.username),
        ));
    let query = Object::new("Query").field(Field::new("me", TypeRef::named("User"), |_| {
        FieldFuture::Value(data::user(ME).map(FieldValue::owned_any))
    }));
    schema::build(Parts {
        sdl: SDL,
        query,
        types: vec![review.into(), product.into(), user.into()],
        entities: &["Product", "User"],
        resolve: entity,
        subscription: None,
    })
}

fn entity(
    typename: &str,
    representation: &ObjectAccessor<'_>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    match typename {
        // Reviews does not own products: any upc is one, with no reviews
        // unless the shop sells it.
        "Product" => {
            let upc = schema::key(representation, typename, "upc")?.to_owned();
            Ok(Some(
                FieldValue::owned_any(ReviewedProduct { upc }).with_type("Product"),
            ))
        }
        "User" => {
            let id = schema::key(representation, typename, "id")?;
            Ok(data::user(id).map(|u| FieldValue::owned_any(u).with_type("User")))
        }
        _ => Err(format!("`{typename}` is not an entity of the reviews subgraph").into()),
    }
}
