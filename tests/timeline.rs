//! `extensions.timeline`: asked for with the `tributary-timeline: 1` header
//! when the schema allows it (`@server(timeline: true)`), it shows every
//! upstream call of the request on one clock, the chain of calls that ended
//! last, how long sibling calls waited for each other, and what the gateway
//! itself cost.
//!
//! The mocks' latencies are spread wide (20 to 200 ms) so that which call is
//! slowest never depends on scheduling noise; bounds are generous.

mod support;

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};
use tributary::demo::{Fault, MockService};

const TIMELINE: (&str, &str) = ("tributary-timeline", "1");

/// Five upstreams: the product page's shape, latencies far apart.
const LATENCIES: [(&str, u64); 5] = [
    ("catalogue", 60),
    ("pricing", 40),
    ("inventory", 50),
    ("recommendations", 200),
    ("shipping", 20),
];

const SCHEMA: &str = r#"
schema
  @server(timeline: true)
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}")
  @upstream(name: "pricing", url: "${PRICING_URL}")
  @upstream(name: "inventory", url: "${INVENTORY_URL}")
  @upstream(name: "recommendations", url: "${RECOMMENDATIONS_URL}")
  @upstream(name: "shipping", url: "${SHIPPING_URL}")
{ query: Query }

type Query { product(id: ID!): Product }

type Product {
  id: ID!
  details: Details @rest(upstream: "catalogue", path: "/products/{$parent.id}")
  price: Price @rest(upstream: "pricing", path: "/prices/{$parent.id}")
  stock: Stock @rest(upstream: "inventory", path: "/stock/{$parent.id}")
  recommendations: [Recommendation!]
    @rest(upstream: "recommendations", path: "/products/{$parent.id}/recommendations")
  shipping: Shipping @rest(upstream: "shipping", path: "/estimates/{$parent.id}")
}

type Details { id: ID! name: String }
type Price { id: ID! amount: Float }
type Stock { id: ID! inStock: Boolean }
type Shipping { id: ID! days: Int }
type Recommendation {
  productId: ID!
  "A dependent call: starts when the recommendations arrive."
  product: Details @rest(upstream: "catalogue", path: "/products/{$parent.productId}")
}
"#;

const PRODUCT_PAGE: &str = r#"query ProductPage {
  product(id: "42") {
    details { name }
    price { amount }
    stock { inStock }
    recommendations { productId }
    shipping { days }
  }
}"#;

const WITH_DEPENDENT: &str = r#"query ProductPage {
  product(id: "42") {
    details { name }
    price { amount }
    stock { inStock }
    recommendations { productId product { name } }
    shipping { days }
  }
}"#;

fn router(name: &str) -> Router {
    match name {
        "catalogue" => Router::new().route(
            "/products/{id}",
            get(|Path(id): Path<String>| async move {
                axum::Json(json!({ "id": id, "name": format!("Product {id}") }))
            }),
        ),
        "pricing" => {
            Router::new().route(
                "/prices/{id}",
                get(|Path(id): Path<String>| async move {
                    axum::Json(json!({ "id": id, "amount": 9.5 }))
                }),
            )
        }
        "inventory" => Router::new().route(
            "/stock/{id}",
            get(|Path(id): Path<String>| async move {
                axum::Json(json!({ "id": id, "inStock": true }))
            }),
        ),
        "recommendations" => Router::new().route(
            "/products/{id}/recommendations",
            get(|| async { axum::Json(json!([{ "productId": "7" }, { "productId": "8" }])) }),
        ),
        "shipping" => Router::new().route(
            "/estimates/{id}",
            get(|Path(id): Path<String>| async move { axum::Json(json!({ "id": id, "days": 2 })) }),
        ),
        _ => Router::new(),
    }
}

async fn product_mocks() -> Vec<MockService> {
    let mut mocks = Vec::new();
    for (name, ms) in LATENCIES {
        mocks.push(support::mock(name, ms, router(name)).await);
    }
    mocks
}

async fn product_gateway(mocks: &[MockService], sdl: &str) -> support::TestGateway {
    let refs: Vec<&MockService> = mocks.iter().collect();
    let gw = support::gateway(sdl, &refs, &[]).await;
    // Warm the connection pools, so no call pays for a connect.
    let (status, body) = gw.query(PRODUCT_PAGE).await;
    assert_eq!(status, 200, "{body}");
    gw
}

/// POSTs `query` with `headers`; asserts 200 and returns the body.
async fn run(gw: &support::TestGateway, query: &str, headers: &[(&str, &str)]) -> Value {
    let (status, body) = gw.post(json!({ "query": query }), headers).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn timeline(body: &Value) -> &Value {
    let timeline = &body["extensions"]["timeline"];
    assert!(timeline.is_object(), "no timeline in {body}");
    timeline
}

fn calls(timeline: &Value) -> &Vec<Value> {
    timeline["calls"].as_array().expect("calls is a list")
}

fn call<'t>(timeline: &'t Value, path: &str) -> &'t Value {
    calls(timeline)
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no call at {path} in {timeline:#}"))
}

fn ms(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number of ms: {value}"))
}

fn end_ms(call: &Value) -> f64 {
    ms(&call["startMs"]) + ms(&call["durationMs"])
}

#[tokio::test]
async fn the_product_page_timeline_shows_five_calls_at_once_and_the_slowest_last() {
    let mocks = product_mocks().await;
    let gw = product_gateway(&mocks, SCHEMA).await;

    let body = run(&gw, PRODUCT_PAGE, &[TIMELINE]).await;
    assert!(body.get("errors").is_none(), "{body}");
    let t = timeline(&body);
    println!("{t:#}");

    assert_eq!(t["operation"], "query ProductPage");
    assert_eq!(t["traceId"], Value::Null, "no client trace, no exporter");
    let all = calls(t);
    assert_eq!(all.len(), 5, "{t:#}");
    let paths: BTreeSet<&str> = all.iter().filter_map(|c| c["path"].as_str()).collect();
    let expected: BTreeSet<&str> = [
        "product.details",
        "product.price",
        "product.stock",
        "product.recommendations",
        "product.shipping",
    ]
    .into();
    assert_eq!(paths, expected);

    // Each call: its upstream, its latency, a clean outcome.
    for (upstream, latency) in LATENCIES {
        let c = all
            .iter()
            .find(|c| c["upstream"] == upstream)
            .unwrap_or_else(|| panic!("no call to {upstream}"));
        let duration = ms(&c["durationMs"]);
        assert!(
            duration >= latency as f64 - 1.0 && duration < latency as f64 + 150.0,
            "{upstream}: {duration} ms for a {latency} ms upstream"
        );
        assert_eq!(c["outcome"], "ok");
        assert_eq!(c["status"], 200);
        assert_eq!(c["attempts"], 1);
        assert_eq!(c["cache"], "bypass");
        assert_eq!(c["breaker"], "closed");
        assert_eq!(c["batchSize"], Value::Null);
    }

    // All five started together: within a few ms of each other.
    let starts: Vec<f64> = all.iter().map(|c| ms(&c["startMs"])).collect();
    let spread = starts.iter().cloned().fold(f64::MIN, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 25.0, "start spread {spread} ms: {starts:?}");

    // The slowest call is the whole critical path.
    assert_eq!(t["criticalPath"], json!(["product.recommendations"]));

    // One fan-in: five siblings under `product`; the fastest (shipping,
    // 20 ms) waited for the slowest (recommendations, 200 ms).
    let joins = t["joins"].as_array().expect("joins is a list");
    assert_eq!(joins.len(), 1, "{t:#}");
    assert_eq!(joins[0]["path"], "product");
    assert_eq!(joins[0]["calls"], 5);
    assert_eq!(joins[0]["slowest"], "product.recommendations");
    let wait = ms(&joins[0]["waitMs"]);
    let expected_wait =
        end_ms(call(t, "product.recommendations")) - end_ms(call(t, "product.shipping"));
    assert!(
        (wait - expected_wait).abs() < 0.1,
        "waitMs {wait} is slowest end - fastest end ({expected_wait})"
    );
    assert!((120.0..400.0).contains(&wait), "waitMs {wait}, about 180");

    // Totals: the request took at least the slowest call; what was not
    // spent waiting on any upstream is the gateway's overhead.
    let total = ms(&t["totalMs"]);
    let upstream = ms(&t["upstreamMs"]);
    let overhead = ms(&t["overheadMs"]);
    assert!(total >= 200.0, "totalMs {total}");
    assert!(
        upstream >= 199.0 && upstream <= total,
        "upstreamMs {upstream}"
    );
    assert!(overhead >= 0.0 && overhead < total, "overheadMs {overhead}");
    assert!(
        (total - upstream - overhead).abs() < 0.1,
        "overhead = total - upstream: {total} {upstream} {overhead}"
    );
    assert!(overhead < 100.0, "overheadMs {overhead} for five calls");
}

#[tokio::test]
async fn a_dependent_call_extends_the_critical_path() {
    let mocks = product_mocks().await;
    let gw = product_gateway(&mocks, SCHEMA).await;

    let body = run(&gw, WITH_DEPENDENT, &[TIMELINE]).await;
    assert!(body.get("errors").is_none(), "{body}");
    let t = timeline(&body);
    println!("{t:#}");
    assert_eq!(calls(t).len(), 7, "five calls, then one per recommendation");

    // The recommendations arrive at ~200 ms; each one's product (60 ms)
    // starts then, so one of them ends last.
    let recommendations = call(t, "product.recommendations");
    for item in [
        "product.recommendations.0.product",
        "product.recommendations.1.product",
    ] {
        let dependent = call(t, item);
        assert_eq!(dependent["upstream"], "catalogue");
        assert!(
            ms(&dependent["startMs"]) >= end_ms(recommendations) - 0.05,
            "{item} started before its input arrived: {t:#}"
        );
        assert!(
            ms(&dependent["startMs"]) < end_ms(recommendations) + 25.0,
            "{item} did not start as soon as its input arrived: {t:#}"
        );
    }
    let path: Vec<&str> = t["criticalPath"]
        .as_array()
        .expect("criticalPath is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(path.len(), 2, "{t:#}");
    assert_eq!(path[0], "product.recommendations");
    assert!(
        path[1].starts_with("product.recommendations.") && path[1].ends_with(".product"),
        "{path:?}"
    );
    let last = calls(t)
        .iter()
        .max_by(|a, b| end_ms(a).total_cmp(&end_ms(b)))
        .expect("calls");
    assert_eq!(
        last["path"], path[1],
        "the path ends in the call that ended last"
    );

    // The per-item calls have no siblings: still one join.
    let joins = t["joins"].as_array().expect("joins");
    assert_eq!(joins.len(), 1, "{t:#}");
    assert_eq!(joins[0]["calls"], 5);
    assert!(ms(&t["totalMs"]) >= 260.0, "200 ms, then 60 ms");
}

#[tokio::test]
async fn the_timeline_is_only_there_when_asked_for_and_allowed() {
    let mocks = product_mocks().await;
    let gw = product_gateway(&mocks, SCHEMA).await;

    // Allowed, not asked for.
    let body = run(&gw, PRODUCT_PAGE, &[]).await;
    assert!(body.get("extensions").is_none(), "{body}");
    // Asked for with another value.
    let body = run(&gw, PRODUCT_PAGE, &[("tributary-timeline", "0")]).await;
    assert!(body.get("extensions").is_none(), "{body}");
    // `true` works as well as `1`.
    let body = run(&gw, PRODUCT_PAGE, &[("tributary-timeline", "true")]).await;
    assert_eq!(calls(timeline(&body)).len(), 5);

    // Asked for, not allowed: by default, and with `timeline: false`.
    for sdl in [
        SCHEMA.replace("@server(timeline: true)", ""),
        SCHEMA.replace("@server(timeline: true)", "@server(timeline: false)"),
    ] {
        let gw = product_gateway(&mocks, &sdl).await;
        let body = run(&gw, PRODUCT_PAGE, &[TIMELINE]).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert!(body.get("extensions").is_none(), "{body}");
    }
}

#[tokio::test]
async fn the_timeline_names_the_clients_trace() {
    let mocks = product_mocks().await;
    let gw = product_gateway(&mocks, SCHEMA).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let body = run(&gw, PRODUCT_PAGE, &[TIMELINE, ("traceparent", traceparent)]).await;
    assert_eq!(
        timeline(&body)["traceId"],
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[tokio::test]
async fn a_failed_retried_call_shows_its_error_code_and_attempts() {
    let flaky = support::mock("flaky", 0, router("pricing")).await;
    flaky.state.set_fault(Some(Fault::Status(503)));
    let sdl = r#"
schema
  @server(timeline: true)
  @upstream(name: "flaky", url: "${FLAKY_URL}", breaker: false,
            retry: { attempts: 3, backoff: "5ms", maxBackoff: "5ms" })
{ query: Query }
type Query { price(id: ID!): Price @rest(upstream: "flaky", path: "/prices/{$args.id}") }
type Price { id: ID! amount: Float }
"#;
    let gw = support::gateway(sdl, &[&flaky], &[]).await;
    let body = run(&gw, r#"{ price(id: "1") { amount } }"#, &[TIMELINE]).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_HTTP_ERROR",
        "{body}"
    );
    let t = timeline(&body);
    println!("{t:#}");
    assert_eq!(flaky.state.count(), 3, "503 is retried: three tries in all");
    let c = call(t, "price");
    assert_eq!(c["outcome"], "UPSTREAM_HTTP_ERROR");
    assert_eq!(c["status"], 503);
    assert_eq!(c["attempts"], 3);
    assert_eq!(c["breaker"], "off");
    assert_eq!(t["criticalPath"], json!(["price"]));
    assert_eq!(t["joins"], json!([]), "a single call joins nothing");
}

#[tokio::test]
async fn a_cache_hit_shows_in_the_timeline() {
    let catalogue = support::mock("catalogue", 30, router("catalogue")).await;
    let sdl = r#"
schema
  @server(timeline: true)
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}", cache: { ttl: "60s" })
{ query: Query }
type Query { details(id: ID!): Details @rest(upstream: "catalogue", path: "/products/{$args.id}") }
type Details { id: ID! name: String }
"#;
    let gw = support::gateway(sdl, &[&catalogue], &[]).await;
    let query = r#"{ details(id: "3") { name } }"#;

    let first = run(&gw, query, &[TIMELINE]).await;
    let miss = call(timeline(&first), "details");
    assert_eq!(miss["cache"], "miss");
    assert_eq!(miss["attempts"], 1);
    assert_eq!(miss["status"], 200);
    assert!(ms(&miss["durationMs"]) >= 29.0);

    let second = run(&gw, query, &[TIMELINE]).await;
    assert_eq!(second["data"], first["data"]);
    let hit = call(timeline(&second), "details");
    println!("{hit:#}");
    assert_eq!(hit["cache"], "hit");
    assert_eq!(hit["outcome"], "ok");
    assert_eq!(hit["attempts"], 0, "no request was made");
    assert_eq!(hit["status"], Value::Null);
    assert!(ms(&hit["durationMs"]) < 29.0, "faster than the upstream");
    assert_eq!(catalogue.state.count(), 1);
}

#[tokio::test]
async fn a_batched_call_shows_its_batch_size() {
    let posts: Vec<Value> = (1..=30)
        .map(|id| json!({ "id": id, "userId": (id - 1) / 3 + 1 }))
        .collect();
    let routes = Router::new()
        .route(
            "/posts",
            get(move || {
                let posts = posts.clone();
                async move { axum::Json(Value::Array(posts)) }
            }),
        )
        .route(
            "/users",
            get(|axum::extract::RawQuery(query): axum::extract::RawQuery| async move {
                let users: Vec<Value> = support::query_pairs(&format!("?{}", query.unwrap_or_default()))
                    .into_iter()
                    .map(|(_, id)| json!({ "id": id.parse::<u64>().unwrap_or_default(), "name": format!("user {id}") }))
                    .collect();
                axum::Json(Value::Array(users))
            }),
        );
    let placeholder = support::mock("placeholder", 0, routes).await;
    let sdl = r#"
schema
  @server(timeline: true)
  @upstream(name: "placeholder", url: "${PLACEHOLDER_URL}")
{ query: Query }
type Query { posts: [Post!]! @rest(upstream: "placeholder", path: "/posts") }
type Post {
  id: Int!
  userId: Int!
  user: User @rest(upstream: "placeholder", path: "/users", query: { id: "{$parent.userId}" }, batch: { key: "id" })
}
type User { id: Int! name: String! }
"#;
    let gw = support::gateway(sdl, &[&placeholder], &[]).await;
    let body = run(&gw, "{ posts { id user { name } } }", &[TIMELINE]).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["posts"][29]["user"]["name"], "user 10");
    let t = timeline(&body);
    println!("{t:#}");
    assert_eq!(calls(t).len(), 2, "{t:#}");
    assert_eq!(call(t, "posts")["batchSize"], Value::Null);
    let batch = call(t, "posts.*.user");
    assert_eq!(
        batch["batchSize"], 10,
        "ten distinct users among thirty posts"
    );
    assert_eq!(batch["outcome"], "ok");
    assert_eq!(t["criticalPath"], json!(["posts", "posts.*.user"]));
    assert_eq!(placeholder.state.count(), 2);
}
