//! Supergraph entities below REST-bound objects (`@entity`): a REST orders
//! service names products by upc, and the subgraphs resolve them. Real
//! subgraphs and a real REST service on 127.0.0.1:0; the assertions are on
//! the requests they received as much as on the responses.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::subgraphs::{Latencies, SubgraphRequest, Subgraphs};
use tributary::demo::{Fault, MockService};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {LIMIT:?}"))
}

/// Orders, suggestions and shipping from REST; products from the subgraphs.
const OVERLAY: &str = r#"
extend schema
  @upstream(name: "orders", url: "${ORDERS_URL}")
  @upstream(name: "shipping", url: "${SHIPPING_URL}")

type ShippingEstimate { days: Int! }

extend type Product {
  shipping: ShippingEstimate @rest(upstream: "shipping", path: "/ship/{$parent.upc}")
}

extend type Query {
  orders(count: Int!): [Order!]! @rest(upstream: "orders", path: "/orders/{$args.count}")
  "A product by upc, straight from the key: no REST call at all."
  productByKey(upc: String!): Product @entity(key: { upc: "{$args.upc}" })
}

type Order {
  id: ID!
  productUpc: String
  product: Product @entity(key: { upc: "{$parent.productUpc}" })
  lines: [Line!]!
  suggested: [Product] @entity @from(path: "alsoBought")
}

type Line {
  upc: String!
  quantity: Int!
  product: Product @entity(key: { upc: "{$parent.upc}" }) @onError(use: NULL)
}
"#;

/// The upc of order `i`'s product: 50 distinct ones over 100 orders, and
/// none for order 7.
fn upc_of(i: u64) -> Value {
    if i == 7 {
        Value::Null
    } else {
        Value::String((i % 50 + 1).to_string())
    }
}

/// `GET /orders/{n}`: n orders, each with two lines and two suggestions.
fn order_routes() -> Router {
    async fn orders(Path(n): Path<u64>) -> axum::Json<Value> {
        let list = (0..n)
            .map(|i| {
                json!({
                    "id": format!("o{i}"),
                    "productUpc": upc_of(i),
                    "lines": [
                        { "upc": ((i % 10) + 1).to_string(), "quantity": 1 },
                        { "upc": ((i % 10) + 11).to_string(), "quantity": 2 },
                    ],
                    "alsoBought": [{ "upc": "99" }, { "upc": ((i % 3) + 1).to_string() }],
                })
            })
            .collect();
        axum::Json(Value::Array(list))
    }
    Router::new().route("/orders/{n}", get(orders))
}

fn shipping_routes() -> Router {
    async fn one(Path(upc): Path<String>) -> axum::Json<Value> {
        let days = upc.parse::<u64>().map_or(9, |n| n % 5 + 1);
        axum::Json(json!({ "days": days }))
    }
    Router::new().route("/ship/{upc}", get(one))
}

struct Shop {
    subgraphs: Subgraphs,
    orders: MockService,
    shipping: MockService,
    gw: TestGateway,
}

impl Shop {
    async fn start() -> Shop {
        Shop::with_overlay(OVERLAY).await
    }

    async fn with_overlay(overlay: &str) -> Shop {
        let subgraphs = Subgraphs::start(Latencies::default())
            .await
            .expect("subgraphs start");
        let orders = support::mock("orders", 0, order_routes()).await;
        let shipping = support::mock("shipping", 0, shipping_routes()).await;
        let env: HashMap<&str, String> = HashMap::from([
            ("ORDERS_URL", orders.url()),
            ("SHIPPING_URL", shipping.url()),
        ]);
        let config = tributary::federation::load(
            "supergraph.graphql",
            &subgraphs.supergraph(),
            Some(("overlay.graphql", overlay)),
            &|name| env.get(name).cloned(),
        )
        .unwrap_or_else(|d| panic!("the supergraph and overlay load:\n{d}"));
        let gw = support::serve(&config).await;
        Shop {
            subgraphs,
            orders,
            shipping,
            gw,
        }
    }

    async fn ask(&self, query: &str) -> Value {
        let (status, body) = within(query, self.gw.query(query)).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    /// What the gateway answers for `selection` on product `upc` asked from
    /// the root: the reference each entity below an order must equal.
    async fn product(&self, upc: &str, selection: &str) -> Value {
        let body = self
            .ask(&format!(r#"{{ product(upc: "{upc}") {selection} }}"#))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["product"].clone()
    }

    fn reset(&self) {
        self.subgraphs.reset();
        self.orders.state.reset();
        self.shipping.state.reset();
    }
}

fn no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

fn entity_calls(requests: &[SubgraphRequest]) -> Vec<Vec<String>> {
    requests
        .iter()
        .map(|r| {
            r.variables
                .get("representations")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("not an _entities request: {r:#?}"))
                .iter()
                .map(|rep| {
                    assert_eq!(rep["__typename"], "Product", "{rep}");
                    rep["upc"].as_str().unwrap_or_default().to_owned()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_hundred_orders_take_one_entities_call_per_subgraph_and_field() {
    let shop = Shop::start().await;
    let body = shop
        .ask("{ orders(count: 100) { id product { upc name inStock reviews { body } } } }")
        .await;
    no_errors(&body);
    let orders = body["data"]["orders"].as_array().expect("a list");
    assert_eq!(orders.len(), 100);

    // One `_entities` call to each subgraph the selection needs, with the
    // 50 distinct upcs once each; order 7 has no upc and asks for nothing.
    let products = entity_calls(&shop.subgraphs.products.requests());
    assert_eq!(products.len(), 1, "{products:?}");
    let mut sent = products[0].clone();
    sent.sort_by_key(|u| u.parse::<u32>().unwrap_or(0));
    let expected: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
    assert_eq!(sent, expected);
    assert_eq!(entity_calls(&shop.subgraphs.reviews.requests()).len(), 1);
    assert_eq!(entity_calls(&shop.subgraphs.inventory.requests()).len(), 1);
    assert_eq!(shop.orders.state.hits().len(), 1);

    assert_eq!(orders[7]["product"], Value::Null);
    for i in [0u64, 1, 49, 50, 99] {
        let upc = upc_of(i);
        let upc = upc.as_str().expect("a upc");
        let reference = shop
            .product(upc, "{ upc name inStock reviews { body } }")
            .await;
        assert_eq!(orders[i as usize]["product"], reference, "order {i}");
    }
}

#[tokio::test]
async fn entities_in_nested_lists_and_lists_of_representations_go_out_once() {
    let shop = Shop::start().await;
    let body = shop
        .ask(
            "{ orders(count: 30) { lines { quantity product { name } } \
               suggested { upc name } } }",
        )
        .await;
    no_errors(&body);
    // Two fields, so two entity calls, each for every order's objects: the
    // lines of all 30 orders (20 distinct upcs) and all suggestions (4).
    let mut calls = entity_calls(&shop.subgraphs.products.requests());
    calls.sort_by_key(Vec::len);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].len(), 4, "{calls:?}");
    assert_eq!(calls[1].len(), 20, "{calls:?}");
    assert!(shop.subgraphs.reviews.requests().is_empty());

    let orders = body["data"]["orders"].as_array().expect("a list");
    let line = &orders[4]["lines"][1];
    assert_eq!(line["quantity"], 2);
    assert_eq!(line["product"], shop.product("15", "{ name }").await);
    assert_eq!(
        orders[5]["suggested"],
        json!([
            shop.product("99", "{ upc name }").await,
            shop.product("3", "{ upc name }").await
        ])
    );
}

#[tokio::test]
async fn aliases_fragments_and_rest_fields_work_on_entities_below_rest() {
    let shop = Shop::start().await;
    let body = shop
        .ask(
            "{ orders(count: 3) { id p: product { ...P ship: shipping { days } } } } \
             fragment P on Product { title: name upc }",
        )
        .await;
    no_errors(&body);
    assert_eq!(
        body["data"]["orders"][2],
        json!({ "id": "o2", "p": { "title": shop.product("3", "{ name }").await["name"], "upc": "3", "ship": { "days": 4 } } })
    );
    // The shipping call reads the upc from the entity, once per product.
    let mut targets: Vec<String> = shop
        .shipping
        .state
        .hits()
        .into_iter()
        .map(|h| h.target)
        .collect();
    targets.sort();
    assert_eq!(targets, ["/ship/1", "/ship/2", "/ship/3"]);

    // A root field made of its arguments: no REST call, one entity call.
    shop.reset();
    let body = shop
        .ask(r#"{ productByKey(upc: "42") { name upc } }"#)
        .await;
    no_errors(&body);
    assert!(shop.orders.state.hits().is_empty());
    assert_eq!(entity_calls(&shop.subgraphs.products.requests()), [["42"]]);
    assert_eq!(
        body["data"]["productByKey"],
        shop.product("42", "{ name upc }").await
    );
}

#[tokio::test]
async fn a_failing_subgraph_below_rest_objects_follows_null_propagation_and_on_error() {
    let shop = Shop::start().await;
    shop.subgraphs
        .products
        .state()
        .set_fault(Some(Fault::Status(500)));
    // `Line.product` is `@onError(use: NULL)`: the lines stay, each product
    // is null with its error (at the entity field, not below it).
    let body = shop
        .ask("{ orders(count: 2) { id lines { quantity product { name } } } }")
        .await;
    assert_eq!(
        body["data"]["orders"][1],
        json!({ "id": "o1", "lines": [
            { "quantity": 1, "product": null },
            { "quantity": 2, "product": null },
        ] })
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 4, "{body}");
    assert_eq!(
        errors[3]["path"],
        json!(["orders", 1, "lines", 1, "product"])
    );

    // `Order.product` (FAIL, the default) fails itself: one error per
    // order at the client's path of the entity, and the order stays.
    let body = shop
        .ask("{ orders(count: 2) { id product { name } } }")
        .await;
    assert_eq!(
        body["data"],
        json!({ "orders": [{ "id": "o0", "product": null }, { "id": "o1", "product": null }] })
    );
    let errors = body["errors"].as_array().expect("errors");
    let mut paths: Vec<String> = errors.iter().map(|e| e["path"].to_string()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [r#"["orders",0,"product"]"#, r#"["orders",1,"product"]"#],
        "{body}"
    );
    for e in errors {
        assert_eq!(e["extensions"]["upstream"], "products", "{e}");
        assert_eq!(e["extensions"]["code"], "UPSTREAM_HTTP_ERROR", "{e}");
    }
    // One call for both, not retried after a 500.
    assert_eq!(shop.subgraphs.products.requests().len(), 2);
}

#[tokio::test]
async fn a_failed_second_hop_comes_back_at_the_clients_path() {
    let shop = Shop::start().await;
    // Products resolves most of the selection, so it is asked first, with
    // the orders' upcs; inventory is the second hop, from products' answer.
    shop.subgraphs
        .inventory
        .state()
        .set_fault(Some(Fault::Status(500)));
    let body = shop
        .ask("{ orders(count: 3) { id product { name price inStock } } }")
        .await;
    // `inStock: Boolean!` fails: its product becomes null, the order stays.
    let orders = body["data"]["orders"].as_array().expect("a list");
    for (i, order) in orders.iter().enumerate() {
        assert_eq!(order["id"], format!("o{i}"));
        assert_eq!(order["product"], Value::Null, "order {i}: {body}");
    }
    let errors = body["errors"].as_array().expect("errors");
    let mut paths: Vec<String> = errors.iter().map(|e| e["path"].to_string()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            r#"["orders",0,"product","inStock"]"#,
            r#"["orders",1,"product","inStock"]"#,
            r#"["orders",2,"product","inStock"]"#
        ],
        "{body}"
    );
    for e in errors {
        assert_eq!(e["extensions"]["upstream"], "inventory", "{e}");
    }
    assert_eq!(entity_calls(&shop.subgraphs.products.requests()).len(), 1);
    assert_eq!(entity_calls(&shop.subgraphs.inventory.requests()).len(), 1);
}

#[tokio::test]
async fn the_timeline_shows_the_entity_calls_at_the_fields_path() {
    let shop = Shop::with_overlay(&format!(
        "{OVERLAY}\nextend schema @server(timeline: true)\n"
    ))
    .await;
    let (status, body) = within(
        "timeline",
        shop.gw.post(
            json!({ "query": "{ orders(count: 4) { product { name } } }" }),
            &[("tributary-timeline", "1")],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    let calls = body["extensions"]["timeline"]["calls"]
        .as_array()
        .expect("calls");
    let products: Vec<&Value> = calls
        .iter()
        .filter(|c| c["upstream"] == "products")
        .collect();
    assert_eq!(products.len(), 1, "{calls:?}");
    assert_eq!(products[0]["path"], "orders.product");
    assert_eq!(products[0]["batchSize"], 4);
}

#[tokio::test]
async fn an_entity_field_that_cannot_be_resolved_is_a_load_error() {
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let cases = [
        (
            "type X { id: ID! r: Review @entity(key: { id: \"{$parent.id}\" }) }\n\
             extend type Query { x: X @rest(upstream: \"o\", path: \"/x\") }",
            "`Review` is not an entity of the supergraph",
        ),
        (
            "type X { ids: [String] p: [Product] @entity(key: { upc: \"{$parent.ids}\" }) }\n\
             extend type Query { x: X @rest(upstream: \"o\", path: \"/x\") }",
            "is a list: a `key` makes one representation",
        ),
        (
            "extend type Query { p: Product @entity }",
            "is a root field: it has no parent",
        ),
        (
            "type X { id: ID! p: Product @entity(key: { upc: \"{$parent.upc}\" }) }\n\
             extend type Query { x: X @rest(upstream: \"o\", path: \"/x\") }",
            "has no field `upc`",
        ),
        (
            "type X { p: Product @entity @rest(upstream: \"o\", path: \"/p\") }\n\
             extend type Query { x: X @rest(upstream: \"o\", path: \"/x\") }",
            "has @entity and a binding",
        ),
    ];
    for (overlay, expected) in cases {
        let overlay =
            format!("extend schema @upstream(name: \"o\", url: \"http://127.0.0.1:9\")\n{overlay}");
        let result = tributary::federation::load(
            "supergraph.graphql",
            &subgraphs.supergraph(),
            Some(("overlay.graphql", &overlay)),
            &|_| None,
        );
        let diagnostics = match result {
            Ok(_) => panic!("loads, but should not:\n{overlay}"),
            Err(d) => d.to_string(),
        };
        assert!(
            diagnostics.contains(expected) && diagnostics.contains("overlay.graphql"),
            "expected `{expected}` in:\n{diagnostics}"
        );
    }
    // Outside a supergraph there are no entities.
    let plain = tributary::config::load(
        "plain.graphql",
        "schema @upstream(name: \"o\", url: \"http://127.0.0.1:9\") { query: Query }\n\
         type P { id: ID! }\n\
         type Query { p(id: ID!): P @entity(key: { id: \"{$args.id}\" }) }",
        &|_| None,
    );
    let diagnostics = plain.err().map(|d| d.to_string()).unwrap_or_default();
    assert!(diagnostics.contains("only a supergraph"), "{diagnostics}");
}
