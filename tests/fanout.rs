//! Fan-out, the point of the product: every upstream call whose inputs are
//! known starts at once, at every depth, and a dependent call waits only for
//! its parent. Proven with request arrival times at real mock upstreams and
//! with wall-clock time of real HTTP round trips.
//!
//! Thresholds are generous (noisy CI) but each one sits well below what any
//! serial execution would take; each test also checks a lower bound, so a
//! mock that forgot its latency cannot make a test pass by accident.

mod support;

use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tributary::demo::MockService;

/// The reference scenario: five upstreams, 530 ms in sequence, 140 ms at once.
const REFERENCE: [(&str, u64); 5] = [
    ("catalogue", 120),
    ("pricing", 95),
    ("inventory", 110),
    ("recommendations", 140),
    ("shipping", 65),
];

/// Requests that start together arrive within this many ms of each other.
/// Any serial execution spreads them by at least one latency (>= 65 ms here).
const TOGETHER_MS: u128 = 40;

/// `GET /parts/{id}` -> `{"id": id, "source": source}`.
fn parts(source: &'static str) -> Router {
    Router::new().route(
        "/parts/{id}",
        get(move |Path(id): Path<String>| async move { Json(json!({"id": id, "source": source})) }),
    )
}

async fn reference_mocks() -> Vec<MockService> {
    let mut mocks = Vec::new();
    for (name, ms) in REFERENCE {
        mocks.push(support::mock(name, ms, parts(name)).await);
    }
    mocks
}

fn reset(mocks: &[&MockService]) {
    mocks.iter().for_each(|m| m.state.reset());
}

/// The arrival of the one request each mock received.
fn single_arrivals(mocks: &[&MockService]) -> Vec<Instant> {
    mocks
        .iter()
        .map(|m| {
            let hits = m.state.hits();
            assert_eq!(hits.len(), 1, "{} got {} requests", m.name, hits.len());
            hits[0].at
        })
        .collect()
}

/// Runs `query` once to warm the connection pools, then once timed.
async fn warm_then_time(
    gw: &support::TestGateway,
    query: &str,
    mocks: &[&MockService],
) -> (Value, Duration) {
    let (status, body) = gw.query(query).await;
    assert_eq!(status, 200, "warm-up: {body}");
    assert!(body.get("errors").is_none(), "warm-up: {body}");
    reset(mocks);
    let started = Instant::now();
    let (status, body) = gw.query(query).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{body}");
    (body, elapsed)
}

fn ms_between(earlier: Instant, later: Instant) -> u128 {
    later
        .checked_duration_since(earlier)
        .unwrap_or_else(|| panic!("expected {later:?} to come after {earlier:?}"))
        .as_millis()
}

const PRODUCT_SDL: &str = r#"
schema
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}")
  @upstream(name: "pricing", url: "${PRICING_URL}")
  @upstream(name: "inventory", url: "${INVENTORY_URL}")
  @upstream(name: "recommendations", url: "${RECOMMENDATIONS_URL}")
  @upstream(name: "shipping", url: "${SHIPPING_URL}")
{ query: Query }

type Query {
  product(id: ID!): Product
  details(id: ID!): Part @rest(upstream: "catalogue", path: "/parts/{$args.id}")
  price(id: ID!): Part @rest(upstream: "pricing", path: "/parts/{$args.id}")
  stock(id: ID!): Part @rest(upstream: "inventory", path: "/parts/{$args.id}")
  recommendations(id: ID!): Part @rest(upstream: "recommendations", path: "/parts/{$args.id}")
  shipping(id: ID!): Part @rest(upstream: "shipping", path: "/parts/{$args.id}")
}

type Product {
  id: ID!
  details: Part @rest(upstream: "catalogue", path: "/parts/{$parent.id}")
  price: Part @rest(upstream: "pricing", path: "/parts/{$parent.id}")
  stock: Part @rest(upstream: "inventory", path: "/parts/{$parent.id}")
  recommendations: Part @rest(upstream: "recommendations", path: "/parts/{$parent.id}")
  shipping: Part @rest(upstream: "shipping", path: "/parts/{$parent.id}")
}

type Part {
  id: ID!
  source: String!
}
"#;

#[tokio::test]
async fn five_children_of_an_unbound_object_run_at_once() {
    let mocks = reference_mocks().await;
    let mocks: Vec<&MockService> = mocks.iter().collect();
    let gw = support::gateway(PRODUCT_SDL, &mocks, &[]).await;
    let query = r#"{ product(id: "42") {
        id
        details { source } price { source } stock { source }
        recommendations { source } shipping { source }
    } }"#;

    let (body, elapsed) = warm_then_time(&gw, query, &mocks).await;

    assert_eq!(
        body,
        json!({"data": {"product": {
            "id": "42",
            "details": {"source": "catalogue"},
            "price": {"source": "pricing"},
            "stock": {"source": "inventory"},
            "recommendations": {"source": "recommendations"},
            "shipping": {"source": "shipping"},
        }}})
    );
    for mock in &mocks {
        assert_eq!(mock.state.hits()[0].target, "/parts/42");
    }
    let arrivals = single_arrivals(&mocks);
    let spread = support::spread_ms(&arrivals);
    assert!(spread < TOGETHER_MS, "arrivals spread over {spread} ms");
    // At once: the slowest call (140 ms). In sequence: 530 ms.
    let ms = elapsed.as_millis();
    assert!((140..350).contains(&ms), "took {ms} ms");
}

#[tokio::test]
async fn five_bound_root_fields_run_at_once() {
    let mocks = reference_mocks().await;
    let mocks: Vec<&MockService> = mocks.iter().collect();
    let gw = support::gateway(PRODUCT_SDL, &mocks, &[]).await;
    let query = r#"{
        details(id: "7") { source } price(id: "7") { source } stock(id: "7") { source }
        recommendations(id: "7") { source } shipping(id: "7") { source }
    }"#;

    let (body, elapsed) = warm_then_time(&gw, query, &mocks).await;

    assert_eq!(
        body,
        json!({"data": {
            "details": {"source": "catalogue"},
            "price": {"source": "pricing"},
            "stock": {"source": "inventory"},
            "recommendations": {"source": "recommendations"},
            "shipping": {"source": "shipping"},
        }})
    );
    let arrivals = single_arrivals(&mocks);
    let spread = support::spread_ms(&arrivals);
    assert!(spread < TOGETHER_MS, "arrivals spread over {spread} ms");
    let ms = elapsed.as_millis();
    assert!((140..350).contains(&ms), "took {ms} ms");
}

#[tokio::test]
async fn children_of_twenty_list_items_run_at_once() {
    let items: Vec<Value> = (0..20).map(|i| json!({"id": i.to_string()})).collect();
    let list = support::mock(
        "list",
        20,
        support::json_route("/items", Value::Array(items)),
    )
    .await;
    let detail = support::mock("detail", 100, parts("detail")).await;
    let mocks = [&list, &detail];
    let sdl = r#"
        schema
          @upstream(name: "list", url: "${LIST_URL}")
          @upstream(name: "detail", url: "${DETAIL_URL}")
        { query: Query }
        type Query { items: [Item!]! @rest(upstream: "list", path: "/items") }
        type Item {
          id: ID!
          detail: Part @rest(upstream: "detail", path: "/parts/{$parent.id}")
        }
        type Part { id: ID! source: String! }
    "#;
    let gw = support::gateway(sdl, &mocks, &[]).await;

    let (body, elapsed) = warm_then_time(&gw, "{ items { id detail { id } } }", &mocks).await;

    let expected: Vec<Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "detail": {"id": i.to_string()}}))
        .collect();
    assert_eq!(body, json!({"data": {"items": expected}}));
    let hits = detail.state.hits();
    let mut targets: Vec<&str> = hits.iter().map(|h| h.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 20, "one request per item: {targets:?}");
    let spread = support::spread_ms(&support::arrivals(&detail));
    assert!(
        spread < TOGETHER_MS,
        "20 child requests spread over {spread} ms"
    );
    // The list (20 ms), then all children at once (100 ms); serially 2,020 ms.
    let ms = elapsed.as_millis();
    assert!((120..450).contains(&ms), "took {ms} ms");
}

#[tokio::test]
async fn a_dependent_call_waits_for_its_parent_only() {
    // product (no binding)
    //   details  -> catalogue 120 ms, answers makerId
    //     maker  -> makers 150 ms, needs details' makerId
    //   price    -> pricing 300 ms, independent and slow
    // weather    -> weather 60 ms, an independent root field
    let catalogue = support::mock(
        "catalogue",
        120,
        Router::new().route(
            "/details/{id}",
            get(|Path(id): Path<String>| async move {
                Json(json!({"name": format!("Product {id}"), "makerId": format!("m-{id}")}))
            }),
        ),
    )
    .await;
    let makers = support::mock("makers", 150, parts("makers")).await;
    let pricing = support::mock("pricing", 300, parts("pricing")).await;
    let weather = support::mock(
        "weather",
        60,
        support::json_route("/now", json!({"sky": "clear"})),
    )
    .await;
    let mocks = [&catalogue, &makers, &pricing, &weather];
    let sdl = r#"
        schema
          @upstream(name: "catalogue", url: "${CATALOGUE_URL}")
          @upstream(name: "makers", url: "${MAKERS_URL}")
          @upstream(name: "pricing", url: "${PRICING_URL}")
          @upstream(name: "weather", url: "${WEATHER_URL}")
        { query: Query }
        type Query {
          product(id: ID!): Product
          weather: Weather @rest(upstream: "weather", path: "/now")
        }
        type Product {
          id: ID!
          details: Details @rest(upstream: "catalogue", path: "/details/{$parent.id}")
          price: Part @rest(upstream: "pricing", path: "/parts/{$parent.id}")
        }
        type Details {
          name: String!
          makerId: ID
          maker: Part @rest(upstream: "makers", path: "/parts/{$parent.makerId}")
        }
        type Part { id: ID! source: String! }
        type Weather { sky: String! }
    "#;
    let gw = support::gateway(sdl, &mocks, &[]).await;
    let query = r#"{
        product(id: "5") { details { name maker { id } } price { source } }
        weather { sky }
    }"#;

    let (body, elapsed) = warm_then_time(&gw, query, &mocks).await;

    assert_eq!(
        body,
        json!({"data": {
            "product": {
                "details": {"name": "Product 5", "maker": {"id": "m-5"}},
                "price": {"source": "pricing"},
            },
            "weather": {"sky": "clear"},
        }})
    );
    assert_eq!(makers.state.hits()[0].target, "/parts/m-5");
    let [details_at, maker_at, price_at, weather_at] = single_arrivals(&mocks)[..] else {
        unreachable!("four mocks")
    };
    // The parent's independent siblings (nested and at the root) do not wait
    // for it: they start together with it.
    let spread = support::spread_ms(&[details_at, price_at, weather_at]);
    assert!(
        spread < TOGETHER_MS,
        "independent calls spread over {spread} ms"
    );
    // The dependent call starts after its parent answered (120 ms) ...
    let after_parent = ms_between(details_at, maker_at);
    assert!(
        after_parent >= 120,
        "maker asked {after_parent} ms after details"
    );
    // ... and as soon as it did: not when the slow sibling (300 ms) is done.
    assert!(
        after_parent < 250,
        "maker asked {after_parent} ms after details"
    );
    // The slowest path is price (300 ms); details + maker is 270 ms; one
    // call after another would take 630 ms.
    let ms = elapsed.as_millis();
    assert!((300..480).contains(&ms), "took {ms} ms");
}

#[tokio::test]
async fn bound_children_two_levels_down_run_at_once() {
    let stores = support::mock("stores", 50, parts("stores")).await;
    let sections = Router::new()
        .route(
            "/hours/{id}",
            get(|| async { Json(json!({"text": "9-17"})) }),
        )
        .route(
            "/reviews/{id}",
            get(|| async { Json(json!({"text": "good"})) }),
        )
        .route(
            "/stock/{id}",
            get(|| async { Json(json!({"text": "plenty"})) }),
        );
    let sections = support::mock("sections", 250, sections).await;
    let mocks = [&stores, &sections];
    let sdl = r#"
        schema
          @upstream(name: "stores", url: "${STORES_URL}")
          @upstream(name: "sections", url: "${SECTIONS_URL}")
        { query: Query }
        type Query { page(id: ID!): Page }
        type Page {
          id: ID!
          store: Store @rest(upstream: "stores", path: "/parts/{$parent.id}")
        }
        type Store {
          id: ID!
          hours: Text @rest(upstream: "sections", path: "/hours/{$parent.id}")
          reviews: Text @rest(upstream: "sections", path: "/reviews/{$parent.id}")
          stock: Text @rest(upstream: "sections", path: "/stock/{$parent.id}")
        }
        type Text { text: String! }
    "#;
    let gw = support::gateway(sdl, &mocks, &[]).await;
    let query =
        r#"{ page(id: "3") { store { id hours { text } reviews { text } stock { text } } } }"#;

    let (body, elapsed) = warm_then_time(&gw, query, &mocks).await;

    assert_eq!(
        body,
        json!({"data": {"page": {"store": {
            "id": "3",
            "hours": {"text": "9-17"},
            "reviews": {"text": "good"},
            "stock": {"text": "plenty"},
        }}}})
    );
    let hits = sections.state.hits();
    assert_eq!(hits.len(), 3, "{hits:?}");
    let spread = support::spread_ms(&support::arrivals(&sections));
    assert!(
        spread < TOGETHER_MS,
        "three siblings spread over {spread} ms"
    );
    // store (50 ms), then the three at once (250 ms); serially 800 ms.
    let ms = elapsed.as_millis();
    assert!((300..550).contains(&ms), "took {ms} ms");
}

/// Where each of `keys` (`"name":`) first appears in `text`; each must appear
/// exactly once so the positions mean something.
fn key_positions(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .map(|key| {
            let needle = format!("\"{key}\":");
            assert_eq!(text.matches(&needle).count(), 1, "{needle} in {text}");
            text.find(&needle).expect("counted above")
        })
        .collect()
}

fn assert_in_order(text: &str, keys: &[&str]) {
    let positions = key_positions(text, keys);
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys {keys:?} are not in query order in {text}"
    );
}

#[tokio::test]
async fn response_keys_follow_the_query_not_the_upstreams() {
    // Latencies fall in query order, so calls answer in reverse query order;
    // the names sort alphabetically in yet another order (one, three, two).
    let one = support::mock("one", 150, parts("one")).await;
    let two = support::mock("two", 100, parts("two")).await;
    let three = support::mock("three", 50, parts("three")).await;
    let mocks = [&one, &two, &three];
    let sdl = r#"
        schema
          @upstream(name: "one", url: "${ONE_URL}")
          @upstream(name: "two", url: "${TWO_URL}")
          @upstream(name: "three", url: "${THREE_URL}")
        { query: Query }
        type Query {
          product(id: ID!): Product
          one(id: ID!): Part @rest(upstream: "one", path: "/parts/{$args.id}")
          two(id: ID!): Part @rest(upstream: "two", path: "/parts/{$args.id}")
          three(id: ID!): Part @rest(upstream: "three", path: "/parts/{$args.id}")
        }
        type Product {
          id: ID!
          one: Part @rest(upstream: "one", path: "/parts/{$parent.id}")
          two: Part @rest(upstream: "two", path: "/parts/{$parent.id}")
          three: Part @rest(upstream: "three", path: "/parts/{$parent.id}")
        }
        type Part { id: ID! source: String! }
    "#;
    let gw = support::gateway(sdl, &mocks, &[]).await;

    // Root fields.
    let (status, text) = gw
        .post_text(
            r#"{ one(id: "1") { id } two(id: "1") { id } three(id: "1") { id } }"#,
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_in_order(&text, &["one", "two", "three"]);

    // Nested fields, with a leaf from the parent before the bound ones.
    let (status, text) = gw
        .post_text(
            r#"{ product(id: "2") { id one { source } two { source } three { source } } }"#,
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_in_order(&text, &["product", "id", "one", "two", "three"]);

    // Aliases: c answers last and a first, yet c comes first.
    let (status, text) = gw
        .post_text(
            r#"{ c: one(id: "3") { source } b: two(id: "3") { source } a: three(id: "3") { source }
                 p: product(id: "3") { z: one { source } y: two { source } x: three { source } } }"#,
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_in_order(&text, &["c", "b", "a", "p", "z", "y", "x"]);
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["data"]["c"]["source"], "one");
    assert_eq!(body["data"]["a"]["source"], "three");
    assert_eq!(body["data"]["p"]["x"]["source"], "three");
}

#[tokio::test]
async fn a_field_selected_twice_prefetches_the_children_of_both_selections() {
    // Clients compose queries from fragments, so one field is often selected
    // several times with different children; all of them must start together.
    let catalogue = support::mock("catalogue", 100, parts("catalogue")).await;
    let sections = Router::new()
        .route(
            "/maker/{id}",
            get(|| async { Json(json!({"text": "maker"})) }),
        )
        .route(
            "/reviews/{id}",
            get(|| async { Json(json!({"text": "reviews"})) }),
        )
        .route(
            "/manual/{id}",
            get(|| async { Json(json!({"text": "manual"})) }),
        );
    let sections = support::mock("sections", 250, sections).await;
    let mocks = [&catalogue, &sections];
    let sdl = r#"
        schema
          @upstream(name: "catalogue", url: "${CATALOGUE_URL}")
          @upstream(name: "sections", url: "${SECTIONS_URL}")
        { query: Query }
        type Query { product(id: ID!): Product }
        type Product {
          id: ID!
          details: Details @rest(upstream: "catalogue", path: "/parts/{$parent.id}")
        }
        type Details {
          id: ID!
          maker: Text @rest(upstream: "sections", path: "/maker/{$parent.id}")
          reviews: Text @rest(upstream: "sections", path: "/reviews/{$parent.id}")
          manual: Text @rest(upstream: "sections", path: "/manual/{$parent.id}")
        }
        type Text { text: String! }
    "#;
    let gw = support::gateway(sdl, &mocks, &[]).await;
    let query = r#"
        { product(id: "8") { ...Maker ...Reviews ... on Product { details { manual { text } } } } }
        fragment Maker on Product { details { maker { text } } }
        fragment Reviews on Product { details { id reviews { text } } }
    "#;

    let (body, elapsed) = warm_then_time(&gw, query, &mocks).await;

    assert_eq!(
        body,
        json!({"data": {"product": {"details": {
            "maker": {"text": "maker"},
            "id": "8",
            "reviews": {"text": "reviews"},
            "manual": {"text": "manual"},
        }}}})
    );
    let details_at = single_arrivals(&[&catalogue])[0];
    let arrivals = support::arrivals(&sections);
    assert_eq!(arrivals.len(), 3);
    let spread = support::spread_ms(&arrivals);
    assert!(
        spread < TOGETHER_MS,
        "the three children spread over {spread} ms"
    );
    for at in arrivals {
        // Right after details answered, not after a sibling (350 ms).
        let after = ms_between(details_at, at);
        assert!(
            (100..300).contains(&after),
            "a child started {after} ms after details"
        );
    }
    // details (100 ms), then the three at once (250 ms); one by one 850 ms.
    let ms = elapsed.as_millis();
    assert!((350..600).contains(&ms), "took {ms} ms");
}
