//! The inventory subgraph: whether a product is in stock, and its shipping
//! estimate, which `@requires` the product's price and weight (owned by
//! products) in the representation the gateway sends.

use async_graphql::Value;
use async_graphql::dynamic::{
    FieldValue, InputValue, Object, ObjectAccessor, Schema, SchemaError, Subscription,
    SubscriptionField, SubscriptionFieldFuture, TypeRef,
};

use super::data;
use super::schema::{self, Parts, field, leaf};

pub(super) const SDL: &str = include_str!("../../../schema/federation/subgraphs/inventory.graphql");

/// A product as the gateway represents it to inventory: its key, plus the
/// `@external` fields when the operation needs `shippingEstimate`.
struct StockedProduct {
    upc: String,
    price: Option<i64>,
    weight: Option<i64>,
}

impl StockedProduct {
    /// An `@external` field, which only the representation can supply.
    fn external(
        value: Option<i64>,
        name: &str,
    ) -> async_graphql::Result<Option<FieldValue<'static>>> {
        value.map(|v| Some(FieldValue::value(v))).ok_or_else(|| {
            format!("`{name}` is @external here: the Product representation must carry it").into()
        })
    }
}

pub(super) fn schema() -> Result<Schema, SchemaError> {
    let product = Object::new("Product")
        .field(leaf::<StockedProduct>(
            "upc",
            TypeRef::named_nn(TypeRef::STRING),
            |p| Value::from(p.upc.as_str()),
        ))
        .field(field::<StockedProduct>(
            "weight",
            TypeRef::named_nn(TypeRef::INT),
            |p| StockedProduct::external(p.weight, "weight"),
        ))
        .field(field::<StockedProduct>(
            "price",
            TypeRef::named_nn(TypeRef::INT),
            |p| StockedProduct::external(p.price, "price"),
        ))
        .field(leaf::<StockedProduct>(
            "inStock",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            |p| Value::from(data::in_stock(&p.upc)),
        ))
        .field(field::<StockedProduct>(
            "shippingEstimate",
            TypeRef::named_nn(TypeRef::INT),
            |p| match (p.price, p.weight) {
                (Some(price), Some(weight)) => Ok(Some(FieldValue::value(
                    data::shipping_estimate(price, weight),
                ))),
                _ => Err(
                    "shippingEstimate @requires(fields: \"price weight\"): the Product \
                          representation must carry both"
                        .into(),
                ),
            },
        ));
    schema::build(Parts {
        sdl: SDL,
        // Inventory adds no root fields of its own: only federation's.
        query: Object::new("Query"),
        types: vec![product.into()],
        entities: &["Product"],
        resolve: entity,
        subscription: Some(stock_updates()),
    })
}

/// `Subscription.stockUpdates(everyMs:)`: a product every `everyMs`
/// (upc 1, 2, ..., 100, 1, ...), as inventory knows it (its key and stock);
/// the gateway fetches the rest of each event from the other subgraphs.
fn stock_updates() -> Subscription {
    Subscription::new("Subscription").field(
        SubscriptionField::new("stockUpdates", TypeRef::named_nn("Product"), |ctx| {
            let every = ctx
                .args
                .get("everyMs")
                .and_then(|v| v.i64().ok())
                .unwrap_or(1000);
            let every = std::time::Duration::from_millis(every.clamp(10, 60_000) as u64);
            SubscriptionFieldFuture::new(async move {
                let ticks = tokio::time::interval(every);
                Ok(futures_util::stream::unfold(
                    (ticks, 0u32),
                    |(mut ticks, n)| async move {
                        ticks.tick().await;
                        let product = StockedProduct {
                            upc: (n % data::PRODUCTS + 1).to_string(),
                            price: None,
                            weight: None,
                        };
                        Some((
                            Ok::<_, async_graphql::Error>(FieldValue::owned_any(product)),
                            (ticks, n + 1),
                        ))
                    },
                ))
            })
        })
        .argument(
            InputValue::new("everyMs", TypeRef::named_nn(TypeRef::INT))
                .default_value(Value::from(1000)),
        ),
    )
}

fn entity(
    typename: &str,
    representation: &ObjectAccessor<'_>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    if typename != "Product" {
        return Err(format!("`{typename}` is not an entity of the inventory subgraph").into());
    }
    let upc = schema::key(representation, typename, "upc")?;
    if data::product(upc).is_none() {
        return Ok(None);
    }
    let int = |name: &str| -> async_graphql::Result<Option<i64>> {
        match representation.get(name) {
            Some(value) if !value.is_null() => Ok(Some(value.i64()?)),
            _ => Ok(None),
        }
    };
    Ok(Some(
        FieldValue::owned_any(StockedProduct {
            upc: upc.to_owned(),
            price: int("price")?,
            weight: int("weight")?,
        })
        .with_type("Product"),
    ))
}
