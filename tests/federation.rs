//! Federation end to end: the shop's three subgraphs (products, reviews,
//! inventory) on real ports, the gateway serving their supergraph (with an
//! overlay where a story needs one), and every story checking both what the
//! client gets and which requests each subgraph received.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use support::TestGateway;
use tributary::demo::subgraphs::{Latencies, SUPERGRAPH, SubgraphRequest, Subgraphs};
use tributary::demo::{Fault, MockService};

/// The longest any one exchange with the gateway may take: far above what
/// each needs, so only a hang trips it.
const LIMIT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`LIMIT`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {LIMIT:?}"))
}

/// Loads `supergraph` with `overlay` (`${NAME}` read from `env`).
fn load(
    supergraph: &str,
    overlay: Option<&str>,
    env: &[(&str, String)],
) -> Result<tributary::config::Config, tributary::config::Diagnostics> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tributary::federation::load(
        "supergraph.graphql",
        supergraph,
        overlay.map(|o| ("overlay.graphql", o)),
        &|name| env.get(name).cloned(),
    )
}

/// The three subgraphs and a gateway serving their supergraph.
struct Shop {
    subgraphs: Subgraphs,
    gw: TestGateway,
}

impl Shop {
    async fn start(overlay: Option<&str>) -> Shop {
        Shop::start_with(Latencies::default(), overlay, &[]).await
    }

    async fn start_with(
        latencies: Latencies,
        overlay: Option<&str>,
        env: &[(&str, String)],
    ) -> Shop {
        let subgraphs = Subgraphs::start(latencies).await.expect("subgraphs start");
        let config = load(&subgraphs.supergraph(), overlay, env)
            .unwrap_or_else(|d| panic!("the supergraph and overlay load:\n{d}"));
        let gw = support::serve(&config).await;
        Shop { subgraphs, gw }
    }

    /// Posts `query`; the status and the body.
    async fn query(&self, query: &str) -> (u16, Value) {
        within(query, self.gw.query(query)).await
    }

    /// Posts `query`, expecting a 200.
    async fn ask(&self, query: &str) -> Value {
        let (status, body) = self.query(query).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }
}

fn no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

fn errors(body: &Value) -> &Vec<Value> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"))
}

/// The only error of `body`.
fn the_error(body: &Value) -> &Value {
    let errors = errors(body);
    assert_eq!(errors.len(), 1, "expected exactly one error: {body}");
    &errors[0]
}

/// The representations an `_entities` request carried.
fn representations(request: &SubgraphRequest) -> &Vec<Value> {
    request.variables["representations"]
        .as_array()
        .unwrap_or_else(|| panic!("not an _entities request: {request:#?}"))
}

fn upcs(representations: &[Value]) -> Vec<&str> {
    representations
        .iter()
        .map(|r| r["upc"].as_str().unwrap_or_default())
        .collect()
}

fn numbers(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Entity calls: one per subgraph and list, whatever the list's length.

#[tokio::test]
async fn a_hundred_products_take_one_entities_call_per_subgraph() {
    let shop = Shop::start(None).await;
    let body = shop
        .ask("{ topProducts(first: 100) { upc name reviews { body } inStock } }")
        .await;
    no_errors(&body);
    let products = body["data"]["topProducts"].as_array().expect("a list");
    assert_eq!(products.len(), 100);
    assert_eq!(
        products[0],
        json!({ "upc": "1", "name": "Red Chair", "inStock": true, "reviews": [
            { "body": "Arrived quickly, works well." }, { "body": "Smaller than I expected." },
        ] })
    );
    // Every seventh product is sold out.
    assert_eq!(
        products[6],
        json!({ "upc": "7", "name": "Electric Chair", "inStock": false, "reviews": [
            { "body": "Smaller than I expected." }, { "body": "Would buy again." },
        ] })
    );
    assert_eq!(
        products[99],
        json!({ "upc": "100", "name": "Smart Mug", "inStock": true, "reviews": [
            { "body": "Does what it says." }, { "body": "Arrived quickly, works well." },
        ] })
    );

    let log = shop.subgraphs.products.requests();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(
        log[0].representations(),
        None,
        "products answers the root field"
    );
    assert!(log[0].query.contains("topProducts"), "{}", log[0].query);
    for server in [&shop.subgraphs.reviews, &shop.subgraphs.inventory] {
        let name = server.subgraph.name();
        let log = server.requests();
        assert_eq!(log.len(), 1, "{name}: {log:#?}");
        assert_eq!(log[0].entities, [100], "{name}: one _entities field");
        let sent = representations(&log[0]);
        assert_eq!(
            upcs(sent),
            numbers(1..=100),
            "{name}: every product, in order"
        );
        assert_eq!(
            sent[41],
            json!({ "__typename": "Product", "upc": "42" }),
            "{name}: the key alone (nothing here @requires more)"
        );
    }
}

#[tokio::test]
async fn entity_calls_to_different_subgraphs_run_at_the_same_time() {
    let slow = Duration::from_millis(500);
    let shop = Shop::start_with(
        Latencies {
            reviews: slow,
            inventory: slow,
            ..Latencies::default()
        },
        None,
        &[],
    )
    .await;
    let started = Instant::now();
    let body = shop
        .ask("{ topProducts(first: 10) { name reviews { body } inStock } }")
        .await;
    let elapsed = started.elapsed();
    no_errors(&body);
    let reviews = shop.subgraphs.reviews.requests();
    let inventory = shop.subgraphs.inventory.requests();
    assert_eq!((reviews.len(), inventory.len()), (1, 1));
    let spread = support::spread_ms(&[reviews[0].hit.at, inventory[0].hit.at]);
    assert!(
        spread < 300,
        "both wait only for products; they arrived {spread} ms apart"
    );
    // One after the other would be at least 1000 ms.
    assert!(
        elapsed >= slow && elapsed < Duration::from_millis(950),
        "took {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------
// @requires: inventory's shippingEstimate needs price and weight from products.

#[tokio::test]
async fn shipping_estimate_is_fetched_after_products_with_price_and_weight() {
    let products_latency = Duration::from_millis(200);
    let shop = Shop::start_with(
        Latencies {
            products: products_latency,
            ..Latencies::default()
        },
        None,
        &[],
    )
    .await;
    let body = shop
        .ask("{ topProducts(first: 3) { upc shippingEstimate } }")
        .await;
    // Price and weight were fetched for inventory, not for the client.
    assert_eq!(
        body,
        json!({ "data": { "topProducts": [
            { "upc": "1", "shippingEstimate": 19 },
            { "upc": "2", "shippingEstimate": 13 },
            // Above a price of 1000 shipping is free.
            { "upc": "3", "shippingEstimate": 0 },
        ] } })
    );

    let products = shop.subgraphs.products.requests();
    let inventory = shop.subgraphs.inventory.requests();
    assert_eq!((products.len(), inventory.len()), (1, 1));
    assert!(
        products[0].query.contains("price") && products[0].query.contains("weight"),
        "products is asked for what inventory requires: {}",
        products[0].query
    );
    assert_eq!(
        representations(&inventory[0]),
        &vec![
            json!({ "__typename": "Product", "upc": "1", "price": 419, "weight": 38 }),
            json!({ "__typename": "Product", "upc": "2", "price": 738, "weight": 25 }),
            json!({ "__typename": "Product", "upc": "3", "price": 1057, "weight": 12 }),
        ]
    );
    // Inventory is asked only once products has answered.
    let waited = inventory[0].hit.at.duration_since(products[0].hit.at);
    assert!(
        waited >= products_latency - Duration::from_millis(10),
        "inventory was called {waited:?} after products, which takes {products_latency:?}"
    );
}

#[tokio::test]
async fn required_fields_never_collide_with_the_clients_aliases() {
    let shop = Shop::start(None).await;
    // The client calls weight `price` and price `cost`.
    let body = shop
        .ask(r#"{ product(upc: "2") { price: weight cost: price shippingEstimate } }"#)
        .await;
    assert_eq!(
        body,
        json!({ "data": { "product": { "price": 25, "cost": 738, "shippingEstimate": 13 } } })
    );
    let inventory = shop.subgraphs.inventory.requests();
    assert_eq!(inventory.len(), 1, "{inventory:#?}");
    assert_eq!(
        representations(&inventory[0]),
        &vec![json!({ "__typename": "Product", "upc": "2", "price": 738, "weight": 25 })]
    );
}

// ---------------------------------------------------------------------------
// A failing subgraph: FAIL semantics, and an overlay's @onError.

#[tokio::test]
async fn a_failing_subgraph_nulls_its_field_up_to_the_nearest_nullable_parent() {
    let shop = shop_with_failing_reviews().await;

    // `reviews: [Review!]!` fails; `product: Product` is the nullable parent.
    let body = shop
        .ask(r#"{ product(upc: "1") { name reviews { body } } }"#)
        .await;
    assert_eq!(body["data"], json!({ "product": null }), "{body}");
    assert!(
        !body.to_string().contains("secret-upstream-detail"),
        "the subgraph's body does not leak: {body}"
    );
    assert_eq!(
        shop.subgraphs.reviews.requests().len(),
        1,
        "a 500 is an answer, not retried"
    );
    assert_eq!(shop.subgraphs.products.requests().len(), 1);
    let error = the_error(&body);
    assert_eq!(error["path"], json!(["product", "reviews"]), "{error}");
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_HTTP_ERROR",
        "{error}"
    );
    assert_eq!(error["extensions"]["upstream"], "reviews", "{error}");
}

async fn shop_with_failing_reviews() -> Shop {
    let shop = Shop::start(None).await;
    shop.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::Status(500)));
    shop
}

#[tokio::test]
async fn a_failing_subgraph_under_non_null_lists_nulls_the_data() {
    // Non-null all the way up from `reviews` to `topProducts`: data is null.
    let shop = shop_with_failing_reviews().await;
    let body = shop
        .ask("{ topProducts(first: 3) { name reviews { body } } }")
        .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    let errors = errors(&body);
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(error["extensions"]["code"], "UPSTREAM_HTTP_ERROR", "{body}");
        let path = error["path"].as_array().expect("a path");
        assert!(
            path.len() == 3 && path[0] == "topProducts" && path[1].is_u64() && path[2] == "reviews",
            "a client path to a failed `reviews` (topProducts.N.reviews): {body}"
        );
    }
    assert_eq!(shop.subgraphs.reviews.requests().len(), 1);
}

#[tokio::test]
async fn a_failing_subgraphs_root_field_is_null_and_the_others_are_whole() {
    let shop = shop_with_failing_reviews().await;
    let body = shop
        .ask("{ me { username } product(upc: \"2\") { name } }")
        .await;
    assert_eq!(
        body["data"],
        json!({ "me": null, "product": { "name": "Quiet Chair" } }),
        "{body}"
    );
    let error = the_error(&body);
    assert_eq!(error["path"], json!(["me"]), "{error}");
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_HTTP_ERROR",
        "{error}"
    );
}

const REVIEWS_DEFAULT: &str = r#"
extend type Product {
  reviews: [Review!]! @onError(use: DEFAULT, value: [])
}
"#;

// ---------------------------------------------------------------------------
// Two ways to one answer: a document seen for the first time is validated and
// executed by the engine; once validated, a supergraph operation with nothing
// bound below its root fields is shaped straight from the subgraphs' answers.
// Both must answer alike, failures and policies included.

const TIMELINE: &str = "extend schema @server(timeline: true)\n";

/// Sends `query` twice; asserts the first answer came from the engine and
/// the second from the plan-shaped path, and that they are the same, byte
/// for byte (key order included) up to the extensions. The answer, without
/// its extensions.
async fn twice(shop: &Shop, query: &str) -> Value {
    let mut answers = Vec::new();
    for expected in ["engine", "plan"] {
        let (status, text) = within(
            query,
            shop.gw
                .post_text(query, json!({}), &[("tributary-timeline", "1")]),
        )
        .await;
        assert_eq!(status, 200, "{query}: {text}");
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        assert_eq!(
            body["extensions"]["timeline"]["executor"], expected,
            "{query}: {body}"
        );
        // The response is `{"data":..,"errors":..,"extensions":..}`, in
        // that order; the extensions hold timings.
        let at = text.rfind(",\"extensions\":").expect("extensions");
        answers.push(format!("{}}}", &text[..at]));
    }
    assert_eq!(answers[0], answers[1], "{query}: engine, then plan");
    serde_json::from_str(&answers[0]).expect("a JSON body")
}

#[tokio::test]
async fn a_repeated_operation_is_shaped_from_the_plan_exactly_as_the_engine_answered() {
    let shop = Shop::start(Some(TIMELINE)).await;
    // Aliases, a field merged from two selections, a fragment, `__typename`.
    let body = twice(
        &shop,
        "{ a: topProducts(first: 2) { upc ...F } topProducts(first: 1) { n: name upc }
           __typename top: topProducts(first: 1) { upc } top: topProducts(first: 1) { name }
           product(upc: \"2\") { __typename reviews { body author { username } } } }
         fragment F on Product { name price inStock shippingEstimate }",
    )
    .await;
    no_errors(&body);
    let items = body["data"]["a"].as_array().expect("a list");
    assert_eq!(items.len(), 2, "{body}");
    for (item, upc) in items.iter().zip(["1", "2"]) {
        assert_eq!(item["upc"], upc, "{body}");
        assert!(item["shippingEstimate"].is_i64(), "{body}");
    }
    assert_eq!(items[0]["name"], "Red Chair", "{body}");
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "n": "Red Chair", "upc": "1" }]),
        "{body}"
    );
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert_eq!(
        body["data"]["top"],
        json!([{ "upc": "1", "name": "Red Chair" }]),
        "{body}"
    );
    assert_eq!(body["data"]["product"]["__typename"], "Product", "{body}");

    // A failing subgraph: null up to the nearest nullable parent, the data
    // null under non-null lists, a failed root field beside a whole one.
    shop.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::Status(500)));
    let body = twice(&shop, r#"{ product(upc: "1") { name reviews { body } } }"#).await;
    assert_eq!(body["data"], json!({ "product": null }), "{body}");
    assert_eq!(the_error(&body)["path"], json!(["product", "reviews"]));
    let body = twice(&shop, "{ topProducts(first: 3) { name reviews { body } } }").await;
    assert_eq!(body["data"], Value::Null, "{body}");
    // The first failed item nulls the whole non-null chain; that is the
    // one error (as the engine reports it).
    assert_eq!(
        the_error(&body)["path"],
        json!(["topProducts", 0, "reviews"]),
        "{body}"
    );
    let body = twice(&shop, "{ me { username } product(upc: \"2\") { name } }").await;
    assert_eq!(
        body["data"],
        json!({ "me": null, "product": { "name": "Quiet Chair" } }),
        "{body}"
    );
    assert_eq!(
        the_error(&body)["extensions"]["code"],
        "UPSTREAM_HTTP_ERROR"
    );
}

/// Every subgraph deduplicates (so identical operations in flight share one
/// execution); products gets the client's `authorization`.
const DEDUPE_ALL: &str = r#"
extend schema
  @upstream(name: "products", dedupe: true, forwardHeaders: ["authorization"])
  @upstream(name: "reviews", dedupe: true)
  @upstream(name: "inventory", dedupe: true)
"#;

#[tokio::test]
async fn identical_operations_with_different_forwarded_credentials_never_share_an_answer() {
    let latency = Duration::from_millis(300);
    let shop = Shop::start_with(Latencies::uniform(latency), Some(DEDUPE_ALL), &[]).await;
    let query = json!({ "query": "{ topProducts(first: 2) { name } }" });
    let send = |token: &'static str| {
        let query = query.clone();
        let gw = &shop.gw;
        async move { gw.post(query, &[("authorization", token)]).await }
    };

    // The same credentials: one execution, one subgraph request.
    let answers = within(
        "two alike",
        futures_util::future::join(send("Bearer a"), send("Bearer a")),
    )
    .await;
    for (status, body) in [answers.0, answers.1] {
        assert_eq!(status, 200, "{body}");
        no_errors(&body);
    }
    assert_eq!(shop.subgraphs.products.requests().len(), 1, "shared");

    // Different credentials: each its own execution, each forwarded.
    shop.subgraphs.reset();
    let answers = within(
        "two apart",
        futures_util::future::join(send("Bearer a"), send("Bearer b")),
    )
    .await;
    for (status, body) in [answers.0, answers.1] {
        assert_eq!(status, 200, "{body}");
        no_errors(&body);
    }
    let mut seen: Vec<String> = shop
        .subgraphs
        .products
        .requests()
        .iter()
        .map(|r| {
            r.hit
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["Bearer a", "Bearer b"]);
}

#[tokio::test]
async fn a_repeated_operation_keeps_the_overlays_on_error_default() {
    let overlay = format!("{TIMELINE}{REVIEWS_DEFAULT}");
    let shop = Shop::start(Some(&overlay)).await;
    shop.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::Status(500)));
    let body = twice(&shop, "{ topProducts(first: 2) { name reviews { body } } }").await;
    assert_eq!(
        body["data"],
        json!({ "topProducts": [
            { "name": "Red Chair", "reviews": [] },
            { "name": "Quiet Chair", "reviews": [] },
        ] }),
        "{body}"
    );
    assert_eq!(errors(&body).len(), 2, "{body}");
    assert!(
        errors(&body)
            .iter()
            .all(|e| e["extensions"]["degraded"] == true),
        "{body}"
    );
}

#[tokio::test]
async fn an_overlay_on_error_default_degrades_a_subgraph_field() {
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let config = load(&subgraphs.supergraph(), Some(REVIEWS_DEFAULT), &[]).unwrap_or_else(|d| {
        panic!("the overlay redeclaring Product.reviews with @onError is refused:\n{d}")
    });
    let shop = Shop {
        gw: support::serve(&config).await,
        subgraphs,
    };
    shop.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::Status(500)));
    let body = shop
        .ask(r#"{ product(upc: "1") { name reviews { body } } }"#)
        .await;
    assert_eq!(
        body["data"],
        json!({ "product": { "name": "Red Chair", "reviews": [] } }),
        "{body}"
    );
    let error = the_error(&body);
    assert_eq!(error["path"], json!(["product", "reviews"]), "{error}");
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_HTTP_ERROR",
        "{error}"
    );
    assert_eq!(error["extensions"]["degraded"], true, "{error}");
    assert_eq!(shop.subgraphs.reviews.requests().len(), 1);

    // In a list, every product degrades on its own, from one failed call.
    shop.subgraphs.reset();
    let body = shop
        .ask("{ topProducts(first: 2) { name reviews { body } } }")
        .await;
    assert_eq!(
        body["data"],
        json!({ "topProducts": [
            { "name": "Red Chair", "reviews": [] },
            { "name": "Quiet Chair", "reviews": [] },
        ] }),
        "{body}"
    );
    let paths: Vec<&Value> = errors(&body).iter().map(|e| &e["path"]).collect();
    assert_eq!(
        paths,
        [
            &json!(["topProducts", 0, "reviews"]),
            &json!(["topProducts", 1, "reviews"])
        ],
        "{body}"
    );
    assert!(
        errors(&body)
            .iter()
            .all(|e| e["extensions"]["degraded"] == true),
        "{body}"
    );
    assert_eq!(shop.subgraphs.reviews.requests().len(), 1);
}

// ---------------------------------------------------------------------------
// Guards on a subgraph, set by the overlay.

const REVIEWS_BREAKER: &str = r#"
extend schema @upstream(name: "reviews", retry: false,
  breaker: { consecutiveFailures: 3, openFor: "30s" })
"#;

#[tokio::test]
async fn an_open_breaker_keeps_requests_away_from_the_subgraph() {
    let shop = Shop::start(Some(REVIEWS_BREAKER)).await;
    let reviews = &shop.subgraphs.reviews;
    reviews.state().set_fault(Some(Fault::Status(503)));
    for upc in 1..=3 {
        let body = shop
            .ask(&format!(
                r#"{{ product(upc: "{upc}") {{ name reviews {{ body }} }} }}"#
            ))
            .await;
        let error = the_error(&body);
        assert_eq!(error["extensions"]["code"], "UPSTREAM_HTTP_ERROR", "{body}");
        assert_eq!(error["extensions"]["status"], 503, "{body}");
        assert_eq!(
            reviews.requests().len(),
            upc,
            "closed: call {upc} reaches reviews"
        );
    }

    let started = Instant::now();
    let body = shop
        .ask(r#"{ product(upc: "4") { name reviews { body } } }"#)
        .await;
    let elapsed = started.elapsed();
    assert_eq!(body["data"], json!({ "product": null }), "{body}");
    let error = the_error(&body);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_CIRCUIT_OPEN",
        "{body}"
    );
    assert_eq!(error["extensions"]["upstream"], "reviews", "{body}");
    assert_eq!(error["path"], json!(["product", "reviews"]), "{body}");
    assert_eq!(reviews.requests().len(), 3, "open: reviews is not called");
    assert_eq!(
        shop.subgraphs.products.requests().len(),
        4,
        "products still is"
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "failing fast took {elapsed:?}"
    );

    // A root field of reviews fails the same way; other subgraphs serve.
    let body = shop
        .ask(r#"{ me { id } product(upc: "5") { name inStock } }"#)
        .await;
    assert_eq!(
        body["data"],
        json!({ "me": null, "product": { "name": "Folding Chair", "inStock": true } }),
        "{body}"
    );
    let error = the_error(&body);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_CIRCUIT_OPEN",
        "{body}"
    );
    assert_eq!(error["path"], json!(["me"]), "{body}");
    assert_eq!(reviews.requests().len(), 3, "still open");
}

const INVENTORY_TIMEOUT: &str = r#"
extend schema @upstream(name: "inventory", timeout: "300ms", retry: false)
"#;

#[tokio::test]
async fn a_hung_subgraph_is_cut_off_at_the_overlays_timeout() {
    let shop = Shop::start(Some(INVENTORY_TIMEOUT)).await;
    shop.subgraphs
        .inventory
        .state()
        .set_fault(Some(Fault::Hang));
    let started = Instant::now();
    let body = shop.ask(r#"{ product(upc: "1") { name inStock } }"#).await;
    let elapsed = started.elapsed();
    assert_eq!(body["data"], json!({ "product": null }), "{body}");
    let error = the_error(&body);
    assert_eq!(error["extensions"]["code"], "UPSTREAM_TIMEOUT", "{body}");
    assert_eq!(error["path"], json!(["product", "inStock"]), "{body}");
    assert_eq!(error["extensions"]["upstream"], "inventory", "{body}");
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(3),
        "inventory's 300ms timeout took {elapsed:?}"
    );
    assert_eq!(shop.subgraphs.inventory.requests().len(), 1);

    // The other subgraphs keep their own (default) policies.
    let body = shop.ask(r#"{ product(upc: "1") { name } }"#).await;
    assert_eq!(
        body,
        json!({ "data": { "product": { "name": "Red Chair" } } })
    );
}

#[tokio::test]
async fn a_query_fetch_is_retried_after_a_503_by_default() {
    let shop = Shop::start(None).await;
    shop.subgraphs
        .reviews
        .state()
        .push_faults([Fault::Status(503)]);
    let body = shop
        .ask(r#"{ product(upc: "3") { reviews { body } } }"#)
        .await;
    assert_eq!(
        body,
        json!({ "data": { "product": { "reviews": [{ "body": "Would buy again." }] } } })
    );
    let log = shop.subgraphs.reviews.requests();
    assert_eq!(log.len(), 2, "the first try and its retry");
    assert_eq!(log[0].variables, log[1].variables);
}

// ---------------------------------------------------------------------------
// REST fields on an entity, from the overlay.

const SHIPPING: &str = r#"
extend schema @upstream(name: "shipping", url: "${SHIPPING_URL}")

type Shipping {
  upc: String!
  days: Int!
}

extend type Product {
  shipping: Shipping @rest(upstream: "shipping", path: "/ship/{$parent.upc}")
  shippingBatched: Shipping
    @rest(upstream: "shipping", path: "/ship", query: { upc: "{$parent.upc}" }, batch: { key: "upc" })
}
"#;

fn days(upc: &str) -> u64 {
    upc.parse::<u64>().map_or(9, |n| n % 5 + 1)
}

/// `GET /ship/{upc}` -> `{ upc, days }`; `GET /ship?upc=1&upc=2` -> a list of them.
fn shipping_routes() -> Router {
    async fn one(Path(upc): Path<String>) -> axum::Json<Value> {
        axum::Json(json!({ "upc": upc, "days": days(&upc) }))
    }
    async fn many(RawQuery(query): RawQuery) -> axum::Json<Value> {
        let query = query.unwrap_or_default();
        let list = support::query_pairs(&format!("?{query}"))
            .into_iter()
            .map(|(_, upc)| json!({ "upc": upc, "days": days(&upc) }))
            .collect();
        axum::Json(Value::Array(list))
    }
    Router::new()
        .route("/ship/{upc}", get(one))
        .route("/ship", get(many))
}

async fn shop_with_shipping() -> (Shop, MockService) {
    let shipping = support::mock("shipping", 0, shipping_routes()).await;
    let shop = Shop::start_with(
        Latencies::default(),
        Some(SHIPPING),
        &[("SHIPPING_URL", shipping.url())],
    )
    .await;
    (shop, shipping)
}

fn targets(mock: &MockService) -> Vec<String> {
    let mut targets: Vec<String> = mock.state.hits().into_iter().map(|h| h.target).collect();
    targets.sort();
    targets
}

#[tokio::test]
async fn a_rest_field_on_an_entity_is_called_with_the_key_the_client_did_not_select() {
    let (shop, shipping) = shop_with_shipping().await;
    let body = shop
        .ask("{ topProducts(first: 3) { name shipping { days } } }")
        .await;
    assert_eq!(
        body,
        json!({ "data": { "topProducts": [
            { "name": "Red Chair", "shipping": { "days": 2 } },
            { "name": "Quiet Chair", "shipping": { "days": 3 } },
            { "name": "Sturdy Chair", "shipping": { "days": 4 } },
        ] } })
    );
    assert_eq!(targets(&shipping), ["/ship/1", "/ship/2", "/ship/3"]);
    assert_eq!(shop.subgraphs.products.requests().len(), 1);

    // The REST field alone still needs products for the key.
    shipping.state.reset();
    let body = shop
        .ask(r#"{ product(upc: "42") { shipping { upc days } } }"#)
        .await;
    assert_eq!(
        body,
        json!({ "data": { "product": { "shipping": { "upc": "42", "days": 3 } } } })
    );
    assert_eq!(targets(&shipping), ["/ship/42"]);

    // It is part of the API schema.
    let body = shop
        .ask(r#"{ __type(name: "Product") { fields { name } } }"#)
        .await;
    let fields = body["data"]["__type"]["fields"].to_string();
    assert!(
        fields.contains("\"shipping\"") && fields.contains("\"shippingBatched\""),
        "{body}"
    );
}

#[tokio::test]
async fn a_rest_field_on_entities_is_called_once_per_key() {
    let (shop, shipping) = shop_with_shipping().await;
    let body = shop
        .ask(
            r#"{
              a: product(upc: "3") { shipping { days } }
              b: product(upc: "3") { shipping { days } }
              topProducts(first: 3) { shipping { days } }
            }"#,
        )
        .await;
    no_errors(&body);
    assert_eq!(body["data"]["a"], json!({ "shipping": { "days": 4 } }));
    assert_eq!(body["data"]["b"], body["data"]["a"]);
    assert_eq!(body["data"]["topProducts"][2], body["data"]["a"]);
    assert_eq!(
        targets(&shipping),
        ["/ship/1", "/ship/2", "/ship/3"],
        "identical calls in one operation are made once"
    );
}

#[tokio::test]
async fn a_batched_rest_field_on_a_hundred_entities_makes_one_call() {
    let (shop, shipping) = shop_with_shipping().await;
    let body = shop
        .ask("{ topProducts(first: 100) { shippingBatched { upc days } } }")
        .await;
    no_errors(&body);
    let products = body["data"]["topProducts"].as_array().expect("a list");
    assert_eq!(products.len(), 100);
    assert_eq!(
        products[41],
        json!({ "shippingBatched": { "upc": "42", "days": 3 } })
    );
    let hits = shipping.state.hits();
    assert_eq!(hits.len(), 1, "{:?}", targets(&shipping));
    let sent: Vec<String> = support::query_pairs(&hits[0].target)
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(k, "upc");
            v
        })
        .collect();
    assert_eq!(sent, numbers(1..=100));
}

// ---------------------------------------------------------------------------
// Errors inside `_entities` come back at the client's paths.

/// In front of inventory: drops price and weight from the representation
/// of product 2, so inventory answers its own @requires error at
/// `["_entities", i, "shippingEstimate"]`.
async fn inventory_dropping_requires_of_product_2(inventory_url: String) -> MockService {
    async fn forward(State(url): State<Arc<String>>, body: axum::body::Bytes) -> axum::Json<Value> {
        let mut request: Value = serde_json::from_slice(&body).expect("a JSON request");
        if let Some(Value::Array(reps)) = request.pointer_mut("/variables/representations") {
            for rep in reps.iter_mut().filter(|r| r["upc"] == "2") {
                if let Some(rep) = rep.as_object_mut() {
                    rep.remove("price");
                    rep.remove("weight");
                }
            }
        }
        let answer = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds")
            .post(url.as_str())
            .header("content-type", "application/json")
            .body(request.to_string())
            .send()
            .await
            .expect("inventory answers");
        let text = answer.text().await.expect("inventory's body reads");
        axum::Json(serde_json::from_str(&text).expect("inventory answers JSON"))
    }
    let routes = Router::new()
        .route("/graphql", post(forward))
        .with_state(Arc::new(inventory_url));
    support::mock("proxy", 0, routes).await
}

#[tokio::test]
async fn an_error_inside_entities_is_reported_at_the_clients_path() {
    tributary::init_tls();
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let proxy = inventory_dropping_requires_of_product_2(subgraphs.inventory.url()).await;
    let supergraph = subgraphs.supergraph().replace(
        &subgraphs.inventory.url(),
        &format!("{}/graphql", proxy.url()),
    );
    let config = load(&supergraph, None, &[]).unwrap_or_else(|d| panic!("{d}"));
    let shop = Shop {
        gw: support::serve(&config).await,
        subgraphs,
    };

    // Product 2's estimate fails; non-null up to the root, so data is null.
    let body = shop
        .ask("{ topProducts(first: 3) { upc shippingEstimate } }")
        .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    let error = the_error(&body);
    assert_eq!(
        error["path"],
        json!(["topProducts", 1, "shippingEstimate"]),
        "{body}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("@requires"),
        "the subgraph's message: {body}"
    );
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_GRAPHQL_ERROR",
        "{body}"
    );
    assert_eq!(error["extensions"]["upstream"], "inventory", "{body}");
    assert_eq!(shop.subgraphs.inventory.requests().len(), 1);
    assert_eq!(shop.subgraphs.inventory.requests()[0].entities, [3]);

    // Two root fields: the error lands on the one that holds product 2.
    let body = shop
        .ask(
            r#"{ a: product(upc: "1") { shippingEstimate }
                 b: product(upc: "2") { shippingEstimate } }"#,
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "a": { "shippingEstimate": 19 }, "b": null }),
        "{body}"
    );
    let error = the_error(&body);
    assert_eq!(error["path"], json!(["b", "shippingEstimate"]), "{body}");
}

#[tokio::test]
async fn a_subgraph_with_private_errors_shows_no_message() {
    let overlay = r#"extend schema @upstream(name: "inventory", privateErrors: true)"#;
    let shop = Shop::start(Some(overlay)).await;
    shop.subgraphs
        .inventory
        .state()
        .push_faults([Fault::GraphqlErrors]);
    let body = shop.ask(r#"{ product(upc: "1") { name inStock } }"#).await;
    let error = the_error(&body);
    assert_eq!(
        error["message"], "upstream `inventory` reported an error",
        "{body}"
    );
    assert_eq!(error["path"], json!(["product", "inStock"]), "{body}");
    assert!(!body.to_string().contains("injected fault"), "{body}");
}

#[tokio::test]
async fn a_subgraph_error_without_a_path_is_placed_on_the_entity_it_was_for() {
    let shop = Shop::start(None).await;
    shop.subgraphs
        .inventory
        .state()
        .push_faults([Fault::GraphqlErrors]);
    let body = shop.ask(r#"{ product(upc: "1") { name inStock } }"#).await;
    assert_eq!(body["data"], json!({ "product": null }), "{body}");
    let error = the_error(&body);
    // The subgraph's own code is not passed on: the gateway's vocabulary.
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_GRAPHQL_ERROR",
        "{body}"
    );
    assert_eq!(error["extensions"]["upstream"], "inventory", "{body}");
    assert_eq!(
        error["message"], "injected fault: the upstream's resolvers failed",
        "{body}"
    );
    // The field inventory owned in the client's operation.
    assert_eq!(error["path"], json!(["product", "inStock"]), "{body}");
    assert_eq!(shop.subgraphs.inventory.requests().len(), 1);
}

// ---------------------------------------------------------------------------
// The API schema and the CLI.

#[tokio::test]
async fn introspection_shows_the_api_schema_without_federation_machinery() {
    let shop = Shop::start(None).await;
    let body = shop
        .ask(
            r#"{
              __schema { mutationType { name } types { name } directives { name } }
              product: __type(name: "Product") { fields { name } }
              query: __type(name: "Query") { fields { name } }
            }"#,
        )
        .await;
    no_errors(&body);
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let schema = &body["data"]["__schema"];
    let types = names(&schema["types"]);
    for wanted in ["Query", "Product", "Review", "User"] {
        assert!(types.iter().any(|t| t == wanted), "{wanted}: {types:?}");
    }
    for name in &types {
        assert!(
            !name.starts_with("join__")
                && !name.starts_with("link__")
                && !["_Any", "_Entity", "_Service", "FieldSet"].contains(&name.as_str()),
            "machinery type `{name}` in the API schema"
        );
    }
    for name in names(&schema["directives"]) {
        assert!(
            !name.starts_with("join__") && name != "link",
            "machinery directive `@{name}` in the API schema"
        );
    }
    assert_eq!(schema["mutationType"], Value::Null);
    let mut product = names(&body["data"]["product"]["fields"]);
    product.sort();
    assert_eq!(
        product,
        [
            "inStock",
            "name",
            "price",
            "reviews",
            "shippingEstimate",
            "upc",
            "weight"
        ]
    );
    let mut query = names(&body["data"]["query"]["fields"]);
    query.sort();
    assert_eq!(query, ["me", "product", "topProducts"]);
    assert!(
        shop.subgraphs.iter().all(|s| s.requests().is_empty()),
        "introspection is the gateway's own"
    );
}

const PAGE: &str =
    "query Page { topProducts(first: 2) { name reviews { body } shippingEstimate } }";

#[tokio::test]
async fn the_plan_command_names_each_subgraph_and_what_it_waits_for() {
    let dir = support::fresh_dir("fed-plan");
    let supergraph = dir.join("supergraph.graphql");
    let operation = dir.join("page.graphql");
    std::fs::write(&supergraph, SUPERGRAPH).expect("supergraph is written");
    std::fs::write(&operation, PAGE).expect("operation is written");

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.arg("plan").arg(&supergraph).arg(&operation);
    let output = support::run_command(command, LIMIT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let line = |needle: &str| -> &str {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}`:\n{stdout}"))
    };
    assert!(line("products: root fetch").contains("[0]"), "{stdout}");
    assert!(
        line("reviews: _entities for Product at topProducts").contains("after [0]"),
        "{stdout}"
    );
    assert!(
        line("inventory: _entities for Product at topProducts").contains("after [0]"),
        "{stdout}"
    );
    assert!(!stdout.contains("error:"), "{stdout}");

    // The command prints what the library explains, then the fetches as a
    // latency graph (each under the fetch it waits for).
    let config = load(SUPERGRAPH, None, &[]).unwrap_or_else(|d| panic!("{d}"));
    let explained = tributary::federation::explain(&config, PAGE, None, &Map::new())
        .expect("the operation plans");
    let graph = stdout
        .strip_prefix(explained.as_str())
        .unwrap_or_else(|| panic!("the plan first:\n{stdout}"));
    assert!(
        graph.starts_with(
            "calls (each waits for the one it is indented under):\n  products (topProducts)"
        ),
        "{graph}"
    );
    assert!(
        graph.contains("\n    reviews topProducts (_entities)"),
        "{graph}"
    );
}

#[tokio::test]
async fn check_accepts_the_supergraph_and_points_into_a_bad_overlay() {
    let dir = support::fresh_dir("fed-check");
    let supergraph = dir.join("supergraph.graphql");
    let overlay = dir.join("overlay.graphql");
    std::fs::write(&supergraph, SUPERGRAPH).expect("supergraph is written");
    std::fs::write(&overlay, "\nextend type Nope {\n  x: Int\n}\n").expect("overlay is written");

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.arg("check").arg(&supergraph);
    let output = support::run_command(command, LIMIT).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The worked example overlay in the repository goes with it.
    let example = support::crate_root().join("schema/federation/overlay.graphql");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .arg("check")
        .arg(&supergraph)
        .arg("--overlay")
        .arg(&example);
    let output = support::run_command(command, LIMIT).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .arg("check")
        .arg(&supergraph)
        .arg("--overlay")
        .arg(&overlay);
    let output = support::run_command(command, LIMIT).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a bad overlay is refused");
    assert!(
        stderr.contains(&format!("{}:2:", overlay.display())) && stderr.contains("Nope"),
        "file:line of the overlay: {stderr}"
    );
}

// ---------------------------------------------------------------------------
// Mutations: the demo subgraphs have none, so two small subgraphs here do.

/// A two-subgraph supergraph: `a` and `b` each own a counter and a
/// mutation `bumpX(by:)`.
fn counters_supergraph(a_url: &str, b_url: &str) -> String {
    let start = SUPERGRAPH
        .find("directive @join__enumValue")
        .expect("the join directives");
    let end = SUPERGRAPH.find("enum join__Graph").expect("the graph enum");
    let machinery = &SUPERGRAPH[start..end];
    format!(
        r#"schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) {{
  query: Query
  mutation: Mutation
}}

{machinery}
enum join__Graph {{
  A @join__graph(name: "a", url: "{a_url}")
  B @join__graph(name: "b", url: "{b_url}")
}}

type Query @join__type(graph: A) @join__type(graph: B) {{
  counterA: Int @join__field(graph: A)
  counterB: Int @join__field(graph: B)
}}

type Mutation @join__type(graph: A) @join__type(graph: B) {{
  bumpA(by: Int!): Int @join__field(graph: A)
  bumpB(by: Int!): Int @join__field(graph: B)
}}
"#
    )
}

/// The root fields of a GraphQL request body: (response key, field, `by`).
fn root_fields(body: &[u8]) -> Vec<(String, String, Option<i64>)> {
    use async_graphql::parser::types::Selection;
    use async_graphql_value::Value as Gql;
    let request: Value = serde_json::from_slice(body).expect("a JSON request");
    let query = request["query"].as_str().expect("a query");
    let document = async_graphql::parser::parse_query(query).expect("the query parses");
    let (_, operation) = document.operations.iter().next().expect("an operation");
    let mut out = Vec::new();
    for selection in &operation.node.selection_set.node.items {
        let Selection::Field(field) = &selection.node else {
            panic!("a fragment at the root of a subgraph request: {query}");
        };
        let name = field.node.name.node.to_string();
        let key = field
            .node
            .alias
            .as_ref()
            .map_or(name.clone(), |a| a.node.to_string());
        let by = field.node.get_argument("by").and_then(|v| match &v.node {
            Gql::Number(n) => n.as_i64(),
            Gql::Variable(var) => request["variables"][var.as_str()].as_i64(),
            _ => None,
        });
        out.push((key, name, by));
    }
    out
}

/// A counter subgraph: `bumpX(by: n)` answers `10 n`, `counterX` 7.
fn counter_routes(typename: &'static str) -> Router {
    let answer = move |body: axum::body::Bytes| async move {
        let mut data = Map::new();
        for (key, name, by) in root_fields(&body) {
            let value = match name.as_str() {
                "__typename" => json!(typename),
                n if n.starts_with("bump") => json!(by.unwrap_or_default() * 10),
                _ => json!(7),
            };
            data.insert(key, value);
        }
        axum::Json(json!({ "data": data }))
    };
    Router::new().route("/graphql", post(answer))
}

async fn counters(latency_ms: u64) -> (MockService, MockService, TestGateway) {
    let a = support::mock("a", latency_ms, counter_routes("Mutation")).await;
    let b = support::mock("b", latency_ms, counter_routes("Mutation")).await;
    let supergraph = counters_supergraph(
        &format!("{}/graphql", a.url()),
        &format!("{}/graphql", b.url()),
    );
    let config = load(&supergraph, None, &[]).unwrap_or_else(|d| panic!("{d}"));
    let gw = support::serve(&config).await;
    (a, b, gw)
}

fn fields_sent(mock: &MockService) -> Vec<Vec<(String, String, Option<i64>)>> {
    mock.state
        .hits()
        .iter()
        .map(|h| {
            let mut fields = root_fields(&h.body);
            fields.retain(|(_, name, _)| name != "__typename");
            fields
        })
        .collect()
}

fn field(key: &str, name: &str, by: i64) -> (String, String, Option<i64>) {
    (key.to_owned(), name.to_owned(), Some(by))
}

#[tokio::test]
async fn mutation_fields_run_one_after_another_in_query_order() {
    let latency = Duration::from_millis(100);
    let (a, b, gw) = counters(100).await;
    let (status, body) = within(
        "the mutation",
        gw.query("mutation { first: bumpA(by: 1) second: bumpB(by: 2) third: bumpA(by: 3) }"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "first": 10, "second": 20, "third": 30 } })
    );
    assert_eq!(
        fields_sent(&a),
        [
            vec![field("first", "bumpA", 1)],
            vec![field("third", "bumpA", 3)]
        ],
        "a is asked for each of its fields in its own request"
    );
    assert_eq!(fields_sent(&b), [vec![field("second", "bumpB", 2)]]);
    let (a_hits, b_hits) = (a.state.hits(), b.state.hits());
    let gap_1 = b_hits[0].at.saturating_duration_since(a_hits[0].at);
    let gap_2 = a_hits[1].at.saturating_duration_since(b_hits[0].at);
    assert!(
        gap_1 >= latency - Duration::from_millis(10)
            && gap_2 >= latency - Duration::from_millis(10),
        "each field starts when the one before has answered (after {gap_1:?}, then {gap_2:?})"
    );
}

#[tokio::test]
async fn a_failed_mutation_is_not_retried_and_the_next_field_still_runs() {
    let (a, b, gw) = counters(0).await;
    a.state.push_faults([Fault::Status(503)]);
    let (status, body) = within(
        "the mutation",
        gw.query("mutation { first: bumpA(by: 1) second: bumpB(by: 2) }"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({ "first": null, "second": 20 }),
        "{body}"
    );
    let error = the_error(&body);
    assert_eq!(error["path"], json!(["first"]), "{body}");
    assert_eq!(error["extensions"]["code"], "UPSTREAM_HTTP_ERROR", "{body}");
    assert_eq!(a.state.count(), 1, "a mutation is never retried");
    assert_eq!(b.state.count(), 1);

    // The same 503 on a query fetch is retried.
    a.state.reset();
    a.state.push_faults([Fault::Status(503)]);
    let (_, body) = within("the query", gw.query("{ counterA }")).await;
    assert_eq!(body, json!({ "data": { "counterA": 7 } }));
    assert_eq!(a.state.count(), 2, "a query is");
}

// ---------------------------------------------------------------------------
// A subgraph's cache (set by the overlay): query fetches are kept by their
// exact bytes, and a kept answer stands in when the subgraph fails.

const REVIEWS_CACHE: &str = r#"
extend schema @upstream(name: "reviews", retry: false,
  cache: { ttl: "100ms", staleIfError: "1m" })
"#;

#[tokio::test]
async fn a_cached_subgraph_answer_is_reused_and_stands_in_when_the_subgraph_fails() {
    let shop = Shop::start(Some(REVIEWS_CACHE)).await;
    let reviews = &shop.subgraphs.reviews;
    let query = r#"{ product(upc: "5") { name reviews { body } } }"#;
    let first = shop.ask(query).await;
    no_errors(&first);
    assert_eq!(reviews.requests().len(), 1, "the first query asks reviews");

    // Within the TTL: the same fetch is answered from the cache.
    let again = shop.ask(query).await;
    assert_eq!(again["data"], first["data"], "{again}");
    assert_eq!(
        reviews.requests().len(),
        1,
        "a fresh cached answer is reused"
    );

    // Past the TTL, with reviews failing: the kept answer stands in.
    tokio::time::sleep(Duration::from_millis(250)).await;
    reviews.state().set_fault(Some(Fault::Status(503)));
    let stale = shop.ask(query).await;
    assert_eq!(stale["data"], first["data"], "{stale}");
    assert_eq!(
        reviews.requests().len(),
        2,
        "the expired answer is asked for again, and the failure recorded"
    );
    // A stale stand-in is not an error.
    no_errors(&stale);

    // Another product's fetch has other bytes: never served from this one.
    let other = shop
        .ask(r#"{ product(upc: "6") { name reviews { body } } }"#)
        .await;
    assert_eq!(other["data"]["product"], Value::Null, "{other}");
    assert_eq!(
        the_error(&other)["extensions"]["code"],
        "UPSTREAM_HTTP_ERROR",
        "{other}"
    );
}

// ---------------------------------------------------------------------------
// Whether a 200 with GraphQL errors counts against a subgraph's breaker.

async fn reviews_after_graphql_errors(breaker: &str) -> (Shop, Value) {
    let overlay = format!(
        "extend schema @upstream(name: \"reviews\", retry: false, breaker: {{ consecutiveFailures: 2, openFor: \"30s\"{breaker} }})"
    );
    let shop = Shop::start(Some(&overlay)).await;
    shop.subgraphs
        .reviews
        .state()
        .set_fault(Some(Fault::GraphqlErrors));
    for upc in 1..=2 {
        let body = shop
            .ask(&format!(
                r#"{{ product(upc: "{upc}") {{ name reviews {{ body }} }} }}"#
            ))
            .await;
        assert_eq!(
            errors(&body)[0]["extensions"]["code"],
            "UPSTREAM_GRAPHQL_ERROR",
            "{body}"
        );
    }
    let third = shop
        .ask(r#"{ product(upc: "3") { name reviews { body } } }"#)
        .await;
    (shop, third)
}

#[tokio::test]
async fn graphql_errors_open_the_breaker_when_it_counts_them() {
    let (shop, third) = reviews_after_graphql_errors(", graphqlErrors: true").await;
    assert_eq!(
        the_error(&third)["extensions"]["code"],
        "UPSTREAM_CIRCUIT_OPEN",
        "{third}"
    );
    assert_eq!(
        shop.subgraphs.reviews.requests().len(),
        2,
        "open: the third query does not reach reviews"
    );
}

#[tokio::test]
async fn graphql_errors_leave_the_breaker_closed_by_default() {
    let (shop, third) = reviews_after_graphql_errors("").await;
    assert_eq!(
        errors(&third)[0]["extensions"]["code"],
        "UPSTREAM_GRAPHQL_ERROR",
        "{third}"
    );
    assert_eq!(
        shop.subgraphs.reviews.requests().len(),
        3,
        "closed: every query reaches reviews"
    );
}

// ---------------------------------------------------------------------------
// The plan in the response, on request, where the operator allows the
// timeline.

#[tokio::test]
async fn the_plan_comes_with_the_response_when_asked_and_allowed() {
    let allowed = Shop::start(Some("extend schema @server(timeline: true)")).await;
    async fn ask(shop: &Shop, headers: &[(&str, &str)]) -> (u16, Value) {
        let query = "query Page { topProducts(first: 2) { name reviews { body } } }";
        within(query, shop.gw.post(json!({ "query": query }), headers)).await
    }
    let (status, body) = ask(
        &allowed,
        &[("tributary-timeline", "1"), ("tributary-plan", "1")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    let plan = body["extensions"]["plan"]
        .as_str()
        .unwrap_or_else(|| panic!("no extensions.plan: {body}"));
    assert!(plan.contains("products: root fetch"), "{plan}");
    assert!(
        plan.contains("reviews: _entities for Product at topProducts"),
        "{plan}"
    );
    assert!(plan.contains("query Page__reviews__2"), "{plan}");
    assert!(body["extensions"]["timeline"].is_object(), "{body}");

    // Not asked: no plan. Asked where the timeline is off: no plan either.
    let (_, plain) = ask(&allowed, &[("tributary-timeline", "1")]).await;
    assert!(plain["extensions"].get("plan").is_none(), "{plain}");
    let closed = Shop::start(None).await;
    let (_, refused) = ask(
        &closed,
        &[("tributary-timeline", "1"), ("tributary-plan", "1")],
    )
    .await;
    assert!(
        refused
            .get("extensions")
            .is_none_or(|e| e.get("plan").is_none()),
        "{refused}"
    );
}

#[tokio::test]
async fn trusted_documents_of_a_supergraph_are_planned_at_load() {
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let dir = support::fresh_dir("federation-manifest");
    let manifest = dir.join("persisted-documents.json");
    std::fs::write(
        &manifest,
        json!({
            "top": "query Top { topProducts(first: 2) { name inStock } }",
            "one": "query One($upc: String!) { product(upc: $upc) { name } }",
        })
        .to_string(),
    )
    .expect("the manifest is written");
    let overlay = format!(
        "extend schema @server(timeline: true, trustedDocuments: {{ manifest: {}, mode: ENFORCE }})",
        serde_json::Value::String(manifest.display().to_string())
    );
    let config = load(&subgraphs.supergraph(), Some(&overlay), &[])
        .unwrap_or_else(|d| panic!("the overlay loads:\n{d}"));
    let gateway = tributary::Gateway::new(&config).expect("the gateway builds");
    // The operation without variables is planned once, at load; the one
    // with variables is planned per set of values, when they arrive.
    assert_eq!(gateway.cached_plans(), 1);
    drop(gateway);

    let shop = Shop {
        gw: support::serve(&config).await,
        subgraphs,
    };
    let (status, body) = within(
        "the listed operation",
        shop.gw.post(
            json!({ "documentId": "top", "operationName": "Top" }),
            &[("tributary-timeline", "1")],
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    no_errors(&body);
    assert_eq!(
        body["data"]["topProducts"][1]["name"], "Quiet Chair",
        "{body}"
    );
    assert_eq!(
        body["extensions"]["timeline"]["executor"], "plan",
        "its first request is shaped from the plan: {body}"
    );
}

#[tokio::test]
async fn a_supergraph_gets_every_validation_rule() {
    // The engine would run this; the spec (5.8.5) refuses it, and so does
    // the gateway, with graphql-js's text and locations.
    let shop = Shop::start(None).await;
    let query = r#"query ($u: Int!) { product(upc: $u) { name } }"#;
    let (status, body) = within(
        query,
        shop.gw
            .post(json!({ "query": query, "variables": { "u": 1 } }), &[]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let usage = query.rfind("$u").expect("the usage") + 1;
    assert_eq!(
        body["errors"],
        json!([{
            "message": "Variable \"$u\" of type \"Int!\" used in position expecting type \"String!\".",
            "locations": [{"line": 1, "column": 8}, {"line": 1, "column": usage}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }]),
        "{body}"
    );
    for subgraph in shop.subgraphs.iter() {
        assert!(subgraph.requests().is_empty(), "nothing reached a subgraph");
    }
}
