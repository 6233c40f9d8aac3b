//! GraphQL upstreams beside REST ones: fields bound with `@graphql` to an
//! `@upstream(graphql: true)`. The demo's products and reviews services
//! (plain GraphQL over HTTP) and a scripted GraphQL server are the
//! upstreams; every story checks what the client gets and what each
//! upstream was sent.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::subgraphs::{Latencies, Subgraphs};
use tributary::demo::{Fault, MockService};

/// The demo's products and reviews services as plain GraphQL upstreams, an
/// orders REST service, and the client-facing schema over all three.
fn sdl(catalog: &str, people: &str, orders: &str, extra: &str) -> String {
    format!(
        r#"
schema
  @upstream(name: "catalog", url: "{catalog}", graphql: true)
  @upstream(name: "people", url: "{people}", graphql: true, retry: false)
  @upstream(name: "orders", url: "{orders}")
{{ query: Query }}

type Query {{
  topProducts(first: Int = 5): [Product!]! @graphql(upstream: "catalog")
  product(upc: String!): Product @graphql(upstream: "catalog")
  chair: Product @graphql(upstream: "catalog", field: "product", args: {{ upc: "1" }})
  me: User @graphql(upstream: "people")
  orders: [Order!]! @rest(upstream: "orders", path: "/orders")
}}

type Order {{
  id: ID!
  productUpc: String!
  "One request to the catalog for the products of every order."
  product: Product @graphql(upstream: "catalog", field: "product", args: {{ upc: "{{$parent.productUpc}}" }}){extra}
}}

type Product {{
  upc: String!
  name: String!
  price: Int!
  "A REST field on an object the catalog answers."
  shipping: Shipping @rest(upstream: "orders", path: "/estimates/{{$parent.upc}}")
}}

type Shipping {{
  days: Int!
}}

type User {{
  id: ID!
  username: String!
}}
"#
    )
}

fn orders() -> Router {
    Router::new()
        .route(
            "/orders",
            get(|| async {
                axum::Json(json!([
                    { "id": "o1", "productUpc": "1" },
                    { "id": "o2", "productUpc": "2" },
                    { "id": "o3", "productUpc": "1" },
                ]))
            }),
        )
        .route(
            "/estimates/{upc}",
            get(
                |axum::extract::Path(upc): axum::extract::Path<String>| async move {
                    axum::Json(json!({ "days": upc.len() + 1 }))
                },
            ),
        )
}

struct World {
    subgraphs: Subgraphs,
    orders: MockService,
    gw: TestGateway,
}

async fn world(extra: &str) -> World {
    let subgraphs = Subgraphs::start(Latencies::uniform(Duration::from_millis(20)))
        .await
        .expect("subgraphs start");
    let orders = support::mock("orders", 0, orders()).await;
    let sdl = sdl(
        &subgraphs.products.url(),
        &subgraphs.reviews.url(),
        &orders.url(),
        extra,
    );
    let gw = support::gateway(&sdl, &[], &[]).await;
    World {
        subgraphs,
        orders,
        gw,
    }
}

fn no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

#[tokio::test]
async fn sibling_root_fields_of_one_upstream_go_out_as_one_request() {
    let w = world("").await;
    let (status, body) =
        w.gw.query_vars(
            r#"query Page($upc: String!, $withPrice: Boolean!) {
                 a: topProducts(first: 2) { upc n: name ...Price }
                 product(upc: $upc) { __typename name price @include(if: $withPrice) }
                 chair { upc }
                 me { username }
               }
               fragment Price on Product { price }"#,
            json!({ "upc": "2", "withPrice": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    let a = body["data"]["a"].as_array().expect("a list");
    assert_eq!(a.len(), 2, "{body}");
    assert_eq!(a[0]["upc"], "1");
    assert_eq!(a[0]["n"], "Red Chair");
    assert!(a[0]["price"].is_i64(), "the fragment's field: {body}");
    assert_eq!(
        body["data"]["product"],
        json!({ "__typename": "Product", "name": "Quiet Chair" }),
        "@include(if: false) is applied, __typename kept: {body}"
    );
    assert_eq!(body["data"]["chair"], json!({ "upc": "1" }));
    assert_eq!(body["data"]["me"]["username"], "ada");

    // Three fields of the catalog, one request; the other upstream its own.
    let sent = w.subgraphs.products.requests();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let query = &sent[0].query;
    for part in [
        "a:topProducts(first:$a0)",
        "n:name",
        "product:product(upc:$a1)",
        "chair:product(upc:\"1\")",
    ] {
        assert!(query.contains(part), "`{part}` in {query}");
    }
    assert!(
        query.contains("product:product(upc:$a1){__typename name}"),
        "the field under @include(if: false) is not asked for: {query}"
    );
    assert_eq!(sent[0].variables["a0"], 2);
    assert_eq!(sent[0].variables["a1"], "2");
    assert_eq!(w.subgraphs.reviews.requests().len(), 1);
}

#[tokio::test]
async fn a_graphql_field_on_every_item_of_a_rest_list_is_one_request() {
    let w = world("").await;
    let (status, body) = w.gw.query("{ orders { id product { name } } }").await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    assert_eq!(
        body["data"]["orders"],
        json!([
            { "id": "o1", "product": { "name": "Red Chair" } },
            { "id": "o2", "product": { "name": "Quiet Chair" } },
            { "id": "o3", "product": { "name": "Red Chair" } },
        ]),
        "{body}"
    );
    assert_eq!(w.orders.state.hits().len(), 1);
    let sent = w.subgraphs.products.requests();
    assert_eq!(
        sent.len(),
        1,
        "one catalog request for three orders: {sent:#?}"
    );
    let query = &sent[0].query;
    for i in 0..3 {
        assert!(
            query.contains(&format!("tributary_{i}_product:product(upc:")),
            "item {i}: {query}"
        );
    }
}

#[tokio::test]
async fn a_rest_field_below_a_graphql_answer_gets_the_key_the_client_did_not_select() {
    let w = world("").await;
    let (status, body) =
        w.gw.query("{ topProducts(first: 2) { n: name shipping { days } } }")
            .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    assert_eq!(
        body["data"]["topProducts"],
        json!([
            { "n": "Red Chair", "shipping": { "days": 2 } },
            { "n": "Quiet Chair", "shipping": { "days": 2 } },
        ]),
        "{body}"
    );
    let query = &w.subgraphs.products.requests()[0].query;
    assert!(
        query.contains("{n:name upc}"),
        "the REST field is not sent; what it reads is asked for: {query}"
    );
    let mut targets: Vec<String> = w
        .orders
        .state
        .hits()
        .into_iter()
        .map(|h| h.target)
        .collect();
    targets.sort();
    assert_eq!(targets, ["/estimates/1", "/estimates/2"]);
}

#[tokio::test]
async fn a_failing_graphql_upstream_follows_the_fields_policy() {
    let w = world("").await;
    w.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::Status(500)));
    let (status, body) = w.gw.query("{ me { username } chair { name } }").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({ "me": null, "chair": { "name": "Red Chair" } }),
        "{body}"
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["me"]));
    assert_eq!(errors[0]["extensions"]["upstream"], "people");
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_HTTP_ERROR");

    // An upstream's GraphQL errors (no data) are the field's error.
    w.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::GraphqlErrors));
    let (_, body) = w.gw.query("{ me { username } }").await;
    assert_eq!(body["data"], json!({ "me": null }), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["me"]), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_GRAPHQL_ERROR",
        "{body}"
    );
}

// ---------------------------------------------------------------------------
// A scripted GraphQL server: answers every request with `answer`, built from
// the aliases the request used, and records what it was sent.

type Script = fn(&[String]) -> Value;

async fn scripted(script: Script) -> (MockService, Arc<Mutex<Vec<Value>>>) {
    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = sent.clone();
    let routes = Router::new().route(
        "/graphql",
        post(move |axum::Json(body): axum::Json<Value>| {
            let log = log.clone();
            async move {
                let query = body["query"].as_str().unwrap_or_default().to_owned();
                log.lock().expect("log").push(body);
                let doc = async_graphql::parser::parse_query(&query).expect("a valid document");
                let aliases: Vec<String> = doc
                    .operations
                    .iter()
                    .flat_map(|(_, op)| op.node.selection_set.node.items.clone())
                    .filter_map(|item| match item.node {
                        async_graphql::parser::types::Selection::Field(f) => {
                            Some(f.node.response_key().node.to_string())
                        }
                        _ => None,
                    })
                    .collect();
                axum::Json(script(&aliases))
            }
        }),
    );
    (support::mock("shelf", 0, routes).await, sent)
}

const SHELF: &str = r#"
schema @upstream(name: "shelf", url: "${SHELF_URL}/graphql", graphql: true) { query: Query }
type Query {
  media(id: ID!): Media @graphql(upstream: "shelf")
}
interface Media { id: ID! title: String! }
type Book implements Media { id: ID! title: String! pages: Int reviews: [Note] }
type Song implements Media { id: ID! title: String! seconds: Int }
type Note { text: String! stars: Int! }
"#;

#[tokio::test]
async fn fragments_on_abstract_types_are_forwarded_with_their_conditions() {
    let (shelf, sent) = scripted(|aliases| {
        json!({ "data": { aliases[0].clone(): {
            "__typename": "Book", "id": "b1", "title": "Dune", "length": 412
        } } })
    })
    .await;
    let gw = support::gateway(SHELF, &[&shelf], &[]).await;
    let (status, body) = gw
        .query(
            r#"{ media(id: "b1") { __typename title ... on Book { length: pages } ...S } }
               fragment S on Song { seconds }"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    assert_eq!(
        body["data"]["media"],
        json!({ "__typename": "Book", "title": "Dune", "length": 412 }),
        "{body}"
    );
    let query = sent.lock().expect("log")[0]["query"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(query.contains("...on Book{length:pages}"), "{query}");
    assert!(query.contains("...on Song{seconds}"), "{query}");
}

#[tokio::test]
async fn upstream_errors_come_back_at_the_clients_paths_without_upstream_internals() {
    let (shelf, _) = scripted(|aliases| {
        json!({
            "data": { aliases[0].clone(): {
                "__typename": "Book", "id": "b1", "title": "Dune",
                "critics": [{ "text": "great", "stars": 5 }, null]
            } },
            "errors": [{
                "message": "stars unavailable",
                "path": [aliases[0].clone(), "critics", 1],
                "locations": [{ "line": 1, "column": 99 }],
                "extensions": { "code": "INTERNAL", "stacktrace": ["at db.rs:12"] }
            }]
        })
    })
    .await;
    let gw = support::gateway(SHELF, &[&shelf], &[]).await;
    let query = "{\n  book: media(id: \"b1\") {\n    ... on Book {\n      critics: reviews { text stars }\n    }\n  }\n}";
    let (status, body) = gw.query(query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["book"]["critics"],
        json!([{ "text": "great", "stars": 5 }, null]),
        "{body}"
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let error = &errors[0];
    assert_eq!(error["message"], "stars unavailable");
    assert_eq!(error["path"], json!(["book", "critics", 1]), "{error}");
    assert_eq!(
        error["locations"],
        json!([{ "line": 4, "column": 7 }]),
        "the client's `critics` field: {error}"
    );
    assert_eq!(error["extensions"]["upstream"], "shelf", "{error}");
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_GRAPHQL_ERROR",
        "{error}"
    );
    assert!(
        !body.to_string().contains("stacktrace") && !body.to_string().contains("db.rs"),
        "{body}"
    );

    // With privateErrors, the message stays in the log.
    let private = SHELF.replace("graphql: true)", "graphql: true, privateErrors: true)");
    let gw = support::gateway(&private, &[&shelf], &[]).await;
    let (_, body) = gw.query(query).await;
    assert_eq!(
        body["errors"][0]["message"], "upstream `shelf` reported an error",
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["book", "critics", 1]));
}

#[test]
fn a_graphql_binding_needs_a_graphql_upstream() {
    let sdl = r#"
schema
  @upstream(name: "rest", url: "http://127.0.0.1:1/")
  @upstream(name: "gql", url: "http://127.0.0.1:1/graphql", graphql: true)
{ query: Query }
type Query {
  a: Int @graphql(upstream: "rest")
  b: Int @graphql(upstream: "nope")
  c: Int @graphql(upstream: "gql", field: "not a name")
}
"#;
    let error = match tributary::config::load("test.graphql", sdl, &|_| None) {
        Ok(_) => panic!("the schema is refused"),
        Err(diagnostics) => diagnostics.to_string(),
    };
    assert!(
        error.contains("test.graphql:7:")
            && error.contains("upstream `rest` is not a GraphQL endpoint"),
        "{error}"
    );
    assert!(
        error.contains("test.graphql:8:") && error.contains("GraphQL upstreams declared: gql"),
        "{error}"
    );
    assert!(
        error.contains("test.graphql:9:")
            && error.contains("`not a name` is not a GraphQL field name"),
        "{error}"
    );
}
