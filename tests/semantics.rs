//! Execution semantics, end to end: dedupe, skipped calls, where a field's
//! value comes from, how requests are rendered (query, headers, bodies),
//! mutation order, type coercion, upstream failures and null propagation.

mod support;

use std::time::Instant;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tributary::demo::{Demo, MockService};

/// `GET /things/{id}` -> `{"id": id, "name": "thing <id>"}`.
fn things() -> Router {
    Router::new().route(
        "/things/{id}",
        get(|Path(id): Path<String>| async move {
            Json(json!({"id": id, "name": format!("thing {id}")}))
        }),
    )
}

fn targets(mock: &MockService) -> Vec<String> {
    let mut targets: Vec<String> = mock.state.hits().into_iter().map(|h| h.target).collect();
    targets.sort();
    targets
}

fn errors(body: &Value) -> &Vec<Value> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors in {body}"))
}

fn ms_between(earlier: Instant, later: Instant) -> u128 {
    later
        .checked_duration_since(earlier)
        .unwrap_or_else(|| panic!("expected {later:?} to come after {earlier:?}"))
        .as_millis()
}

// ---------------------------------------------------------------------------
// Dedupe and calls not made.

#[tokio::test]
async fn identical_requests_in_one_operation_are_made_once() {
    let things = support::mock("things", 30, things()).await;
    let sdl = r#"
        schema @upstream(name: "things", url: "${THINGS_URL}") { query: Query }
        type Query { thing(id: ID!): Thing @rest(upstream: "things", path: "/things/{$args.id}") }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&things], &[]).await;

    let (status, body) = gw
        .query(
            r#"{ a: thing(id: "1") { id } b: thing(id: "1") { name } c: thing(id: "2") { id } }"#,
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {"a": {"id": "1"}, "b": {"name": "thing 1"}, "c": {"id": "2"}}})
    );
    // a and b share one call; c has other arguments, so its own.
    assert_eq!(targets(&things), ["/things/1", "/things/2"]);
}

#[tokio::test]
async fn identical_child_requests_of_list_items_are_made_once() {
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "categoryId": "7"}))
        .collect();
    let list = support::mock(
        "list",
        0,
        support::json_route("/items", Value::Array(items)),
    )
    .await;
    let categories = support::mock("categories", 30, things()).await;
    let sdl = r#"
        schema
          @upstream(name: "list", url: "${LIST_URL}")
          @upstream(name: "categories", url: "${CATEGORIES_URL}")
        { query: Query }
        type Query { items: [Item!]! @rest(upstream: "list", path: "/items") }
        type Item {
          id: ID!
          categoryId: ID!
          category: Thing @rest(upstream: "categories", path: "/things/{$parent.categoryId}")
        }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&list, &categories], &[]).await;

    let (status, body) = gw.query("{ items { id category { name } } }").await;

    assert_eq!(status, 200, "{body}");
    let items = body["data"]["items"].as_array().expect("a list");
    assert_eq!(items.len(), 20);
    assert!(
        items.iter().all(|i| i["category"]["name"] == "thing 7"),
        "{body}"
    );
    assert_eq!(targets(&categories), ["/things/7"]);
}

#[tokio::test]
async fn a_missing_path_input_makes_no_call_and_yields_null() {
    let items = json!([
        {"id": "1", "ownerId": "u1"},
        {"id": "2", "ownerId": null},
        {"id": "3"},
    ]);
    let list = support::mock("list", 0, support::json_route("/items", items)).await;
    let users = support::mock("users", 0, things()).await;
    let sdl = r#"
        schema
          @upstream(name: "list", url: "${LIST_URL}")
          @upstream(name: "users", url: "${USERS_URL}")
        { query: Query }
        type Query {
          items: [Item!]! @rest(upstream: "list", path: "/items")
          user(id: ID): Thing @rest(upstream: "users", path: "/things/{$args.id}")
        }
        type Item {
          id: ID!
          ownerId: ID
          owner: Thing @rest(upstream: "users", path: "/things/{$parent.ownerId}")
        }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&list, &users], &[]).await;

    let (status, body) = gw
        .query("{ items { id owner { name } } user { name } nullUser: user(id: null) { name } }")
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {
            "items": [
                {"id": "1", "owner": {"name": "thing u1"}},
                {"id": "2", "owner": null},
                {"id": "3", "owner": null},
            ],
            "user": null,
            "nullUser": null,
        }})
    );
    assert_eq!(targets(&users), ["/things/u1"]);
}

#[tokio::test]
async fn skipped_fields_make_no_call() {
    let things = support::mock("things", 0, things()).await;
    let sdl = r#"
        schema @upstream(name: "things", url: "${THINGS_URL}") { query: Query }
        type Query {
          product(id: ID!): Product
          thing(id: ID!): Thing @rest(upstream: "things", path: "/things/{$args.id}")
        }
        type Product { id: ID! thing: Thing @rest(upstream: "things", path: "/things/{$parent.id}") }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&things], &[]).await;

    let (status, body) = gw
        .query_vars(
            r#"query($no: Boolean!, $yes: Boolean!) {
                a: product(id: "1") { id thing @skip(if: $yes) { name } }
                b: product(id: "2") { id thing @include(if: $no) { name } }
                c: product(id: "3") { id ...T @skip(if: $yes) }
                d: thing(id: "4") @include(if: $no) { name }
                e: product(id: "5") { thing @include(if: $yes) { name } }
            }
            fragment T on Product { thing { name } }"#,
            json!({"no": false, "yes": true}),
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {
            "a": {"id": "1"}, "b": {"id": "2"}, "c": {"id": "3"},
            "e": {"thing": {"name": "thing 5"}},
        }})
    );
    assert_eq!(targets(&things), ["/things/5"]);
}

// ---------------------------------------------------------------------------
// Where values come from.

#[tokio::test]
async fn select_from_and_parent_json_pick_the_right_values() {
    let wrapped = json!({
        "meta": {"took": 3},
        "data": {"item": {
            "id": "9",
            "title": "Nine",
            "info": {"label": "nine", "tags": ["odd", "square"]},
        }},
    });
    let api = support::mock("api", 0, support::json_route("/items/{id}", wrapped)).await;
    let sdl = r#"
        schema @upstream(name: "api", url: "${API_URL}") { query: Query }
        type Query {
          item(id: ID!): Item @rest(upstream: "api", path: "/items/{$args.id}", select: "data.item")
          raw(id: ID!): Raw @rest(upstream: "api", path: "/items/{$args.id}")
        }
        type Item {
          id: ID!
          title: String
          label: String @from(path: "info.label")
          firstTag: String @from(path: "info.tags.0")
          missing: String
        }
        type Raw { meta: Meta }
        type Meta { took: Int }
    "#;
    let gw = support::gateway(sdl, &[&api], &[]).await;

    let (status, body) = gw
        .query(r#"{ item(id: "9") { id title label firstTag missing } raw(id: "9") { meta { took } } }"#)
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {
            "item": {"id": "9", "title": "Nine", "label": "nine", "firstTag": "odd", "missing": null},
            "raw": {"meta": {"took": 3}},
        }})
    );
    // Both fields read the same response: one call.
    assert_eq!(targets(&api), ["/items/9"]);
}

// ---------------------------------------------------------------------------
// Rendering requests.

#[tokio::test]
async fn query_parameters_are_sent_omitted_and_repeated() {
    let recs = support::mock("recs", 0, support::json_route("/recs/{id}", json!([]))).await;
    let sdl = r#"
        schema @upstream(name: "recs", url: "${RECS_URL}") { query: Query }
        type Query {
          recs(id: ID!, limit: Int, tags: [String!]): [Rec!]
            @rest(upstream: "recs", path: "/recs/{$args.id}", query: { limit: "{$args.limit}", tag: "{$args.tags}", v: "2" })
          top(id: ID!, limit: Int): [Rec!]
            @rest(upstream: "recs", path: "/recs/{$args.id}", query: { limit: "{$args.limit}" })
        }
        type Rec { id: ID! }
    "#;
    let gw = support::gateway(sdl, &[&recs], &[]).await;

    for (query, sent) in [
        (
            r#"{ recs(id: "1", limit: 3) { id } }"#,
            "/recs/1?limit=3&v=2",
        ),
        (r#"{ recs(id: "2") { id } }"#, "/recs/2?v=2"),
        (
            r#"{ recs(id: "3", tags: ["red", "blue"]) { id } }"#,
            "/recs/3?tag=red&tag=blue&v=2",
        ),
        (r#"{ top(id: "4", limit: 1) { id } }"#, "/recs/4?limit=1"),
        (r#"{ top(id: "5") { id } }"#, "/recs/5"),
        (r#"{ top(id: "6", limit: null) { id } }"#, "/recs/6"),
    ] {
        recs.state.reset();
        let (status, body) = gw.query(query).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(targets(&recs), [sent], "for {query}");
    }
}

#[tokio::test]
async fn headers_are_forwarded_rendered_and_injected_only_as_configured() {
    let echo = support::mock("echo", 0, support::json_route("/echo", json!({"ok": true}))).await;
    let sdl = r#"
        schema
          @upstream(name: "echo", url: "${ECHO_URL}", forwardHeaders: ["x-tenant", "x-zip"],
                    headers: [{ name: "x-api-key", value: "${KEY}" }])
        { query: Query }
        type Query {
          echo: Echo @rest(upstream: "echo", path: "/echo",
                           query: { zip: "{$header.x-zip}" },
                           headers: [{ name: "x-zip-code", value: "zip {$header.x-zip}" }])
        }
        type Echo { ok: Boolean! }
    "#;
    let gw = support::gateway(sdl, &[&echo], &[("KEY", "k-123-secret")]).await;

    let (status, body) = gw
        .post(
            json!({"query": "{ echo { ok } }"}),
            &[
                ("x-tenant", "acme"),
                ("x-zip", "1012 AB"),
                ("authorization", "Bearer user-token"),
                ("cookie", "session=abc"),
                ("x-other", "nope"),
            ],
        )
        .await;

    assert_eq!(
        (status, body),
        (200, json!({"data": {"echo": {"ok": true}}}))
    );
    let hits = echo.state.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    let header = |name: &str| hit.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("x-tenant"), Some("acme"));
    assert_eq!(header("x-zip"), Some("1012 AB"));
    assert_eq!(header("x-zip-code"), Some("zip 1012 AB"));
    assert_eq!(header("x-api-key"), Some("k-123-secret"));
    assert_eq!(header("authorization"), None);
    assert_eq!(header("cookie"), None);
    assert_eq!(header("x-other"), None);
    assert_eq!(
        support::query_pairs(&hit.target),
        [("zip".to_owned(), "1012 AB".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// Mutations.

#[tokio::test]
async fn root_mutation_fields_run_in_order() {
    let demo = Demo::start(None).await.expect("demo starts");
    let mocks: Vec<&MockService> = demo.services.iter().collect();
    let gw = support::gateway(tributary::demo::DEMO_SCHEMA, &mocks, &[]).await;
    let orders = demo.service("orders").expect("the demo has orders");
    let latency = orders.state.latency().as_millis();
    assert!(latency > 0, "the proof below needs a latency");

    let (status, body) = gw
        .query(
            r#"mutation {
                placed: placeOrder(productId: "42", quantity: 3) { id status quantity }
                paid: capturePayment(orderId: "order-1") { id status }
            }"#,
        )
        .await;

    assert_eq!(status, 200);
    // Capturing an order that does not exist yet answers 404: success means
    // the order was placed first.
    assert_eq!(
        body,
        json!({"data": {
            "placed": {"id": "order-1", "status": "CREATED", "quantity": 3},
            "paid": {"id": "order-1", "status": "PAID"},
        }})
    );
    let hits = orders.state.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].target, "/orders");
    assert_eq!(hits[1].target, "/orders/order-1/capture");
    let gap = ms_between(hits[0].at, hits[1].at);
    assert!(
        gap >= latency,
        "capture asked {gap} ms after place; place takes {latency} ms"
    );
}

#[tokio::test]
async fn mutation_bodies_keep_json_types_and_are_never_deduped() {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let routes = Router::new().route(
        "/entries",
        post(move |Json(body): Json<Value>| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            async move {
                (
                    StatusCode::CREATED,
                    Json(json!({"id": n, "amount": body["amount"]})),
                )
            }
        }),
    );
    let ledger = support::mock("ledger", 20, routes).await;
    let sdl = r#"
        schema @upstream(name: "ledger", url: "${LEDGER_URL}") { query: Query mutation: Mutation }
        type Query { ping: Entry @rest(upstream: "ledger", path: "/ping") }
        type Mutation {
          addEntry(account: ID!, amount: Int!, ratio: Float, urgent: Boolean, tags: [String!], note: String): Entry
            @rest(upstream: "ledger", method: POST, path: "/entries", body: {
              account: "{$args.account}", amount: "{$args.amount}", ratio: "{$args.ratio}",
              urgent: "{$args.urgent}", tags: "{$args.tags}", memo: "note: {$args.note}",
              fixed: 1, flag: false, nested: { copy: "{$args.amount}" }
            })
        }
        type Entry { id: ID! amount: Int }
    "#;
    let gw = support::gateway(sdl, &[&ledger], &[]).await;

    let (status, body) = gw
        .query(
            r#"mutation {
                a: addEntry(account: "acc-1", amount: 250, ratio: 0.5, urgent: true, tags: ["x", "y"], note: "hi") { id amount }
                b: addEntry(account: "acc-1", amount: 250, ratio: 0.5, urgent: true, tags: ["x", "y"], note: "hi") { id amount }
            }"#,
        )
        .await;

    assert_eq!(status, 200);
    // Two identical mutations are two calls, in order.
    assert_eq!(
        body,
        json!({"data": {"a": {"id": "1", "amount": 250}, "b": {"id": "2", "amount": 250}}})
    );
    let hits = ledger.state.hits();
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        assert_eq!(hit.method, "POST");
        assert_eq!(
            hit.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let sent: Value = serde_json::from_slice(&hit.body).expect("a JSON body");
        assert_eq!(
            sent,
            json!({
                "account": "acc-1", "amount": 250, "ratio": 0.5, "urgent": true,
                "tags": ["x", "y"], "memo": "note: hi",
                "fixed": 1, "flag": false, "nested": {"copy": 250},
            })
        );
    }
    assert!(ms_between(hits[0].at, hits[1].at) >= 20, "b waited for a");
}

// ---------------------------------------------------------------------------
// Coercion of upstream JSON into the declared types.

#[tokio::test]
async fn upstream_values_are_coerced_or_reported() {
    let odd = json!({
        "count": "seven",
        "id": 42,
        "ratio": 3,
        "status": "ACTIVE",
        "bogus": "SLEEPING",
        "tags": {"not": "a list"},
        "name": "fine",
    });
    let api = support::mock(
        "api",
        0,
        support::json_route("/thing", odd.clone()).merge(support::json_route(
            "/things",
            json!({"id": 1, "name": "one"}),
        )),
    )
    .await;
    let sdl = r#"
        schema @upstream(name: "api", url: "${API_URL}") { query: Query }
        type Query {
          thing: Thing @rest(upstream: "api", path: "/thing")
          things: [Thing] @rest(upstream: "api", path: "/things")
        }
        enum Status { ACTIVE RETIRED }
        type Thing {
          count: Int
          id: ID
          ratio: Float
          status: Status
          bogus: Status @from(path: "bogus")
          tags: [String]
          name: String
        }
    "#;
    let gw = support::gateway(sdl, &[&api], &[]).await;

    let (status, body) = gw
        .query("{ thing { count id ratio status bogus tags name } things { name } }")
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "thing": {
                "count": null, "id": "42", "ratio": 3.0, "status": "ACTIVE",
                "bogus": null, "tags": null, "name": "fine",
            },
            "things": null,
        })
    );
    assert!(
        body["data"]["thing"]["ratio"].is_f64(),
        "Float is sent as a float: {body}"
    );
    let errors = errors(&body);
    let by_path = |path: Value| {
        errors
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("no error at {path} in {body}"))
    };
    let count = by_path(json!(["thing", "count"]));
    assert_eq!(count["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    let message = count["message"].as_str().expect("a message");
    for part in ["Thing.count", "Int", "string", "\"seven\""] {
        assert!(message.contains(part), "`{part}` missing from `{message}`");
    }
    let bogus = by_path(json!(["thing", "bogus"]));
    assert_eq!(bogus["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    assert!(
        bogus["message"]
            .as_str()
            .is_some_and(|m| m.contains("Status") && m.contains("SLEEPING")),
        "{bogus}"
    );
    let tags = by_path(json!(["thing", "tags"]));
    assert_eq!(tags["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    assert!(
        tags["message"]
            .as_str()
            .is_some_and(|m| m.contains("[String]") && m.contains("object")),
        "{tags}"
    );
    let things = by_path(json!(["things"]));
    assert_eq!(things["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    assert!(
        things["message"]
            .as_str()
            .is_some_and(|m| m.contains("Query.things") && m.contains("[Thing]")),
        "{things}"
    );
    assert_eq!(errors.len(), 4, "{body}");
}

// ---------------------------------------------------------------------------
// Upstream failures.

#[tokio::test]
async fn upstream_failures_have_codes_paths_and_leak_nothing() {
    let secret_body = "stack trace: password=hunter2 at db.internal:5432";
    let routes =
        Router::new()
            .route(
                "/fail",
                get(move || async move {
                    (StatusCode::INTERNAL_SERVER_ERROR, secret_body).into_response()
                }),
            )
            .route(
                "/garbage",
                get(move || async move {
                    (
                        [("content-type", "application/json")],
                        format!("<html>{secret_body}"),
                    )
                        .into_response()
                }),
            )
            .route("/ok", get(|| async { Json(json!({"name": "fine"})) }));
    let flaky = support::mock("flaky", 0, routes).await;
    let down_url = support::closed_port_url();
    let sdl = r#"
        schema
          @upstream(name: "flaky", url: "${FLAKY_URL}/", headers: [{ name: "x-api-key", value: "${KEY}" }])
          @upstream(name: "down", url: "${DOWN_URL}", connectTimeout: "1s")
        { query: Query }
        type Query {
          failing: Thing @rest(upstream: "flaky", path: "/fail")
          garbage: Thing @rest(upstream: "flaky", path: "/garbage")
          unreachable: Thing @rest(upstream: "down", path: "/anything")
          fine: Thing @rest(upstream: "flaky", path: "/ok")
        }
        type Thing { name: String }
    "#;
    let key = "k-live-93f1c0ffee";
    let gw = support::gateway(sdl, &[&flaky], &[("KEY", key), ("DOWN_URL", &down_url)]).await;

    let (status, text) = gw
        .post_text(
            "{\n  failing { name }\n  garbage { name }\n  unreachable { name }\n  fine { name }\n}",
            json!({}),
            &[],
        )
        .await;

    assert_eq!(status, 200, "{text}");
    for secret in [
        key,
        "hunter2",
        "db.internal",
        "<html>",
        flaky.url().as_str(),
        &flaky.addr.port().to_string(),
        down_url.as_str(),
        "127.0.0.1",
    ] {
        assert!(
            !text.contains(secret),
            "the response leaks `{secret}`: {text}"
        );
    }
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        body["data"],
        json!({"failing": null, "garbage": null, "unreachable": null, "fine": {"name": "fine"}})
    );
    let errors = errors(&body);
    assert_eq!(errors.len(), 3, "{body}");
    let at = |field: &str| {
        errors
            .iter()
            .find(|e| e["path"] == json!([field]))
            .unwrap_or_else(|| panic!("no error for {field} in {body}"))
    };
    let failing = at("failing");
    assert_eq!(failing["extensions"]["code"], "UPSTREAM_HTTP_ERROR");
    assert_eq!(failing["extensions"]["status"], 500);
    assert_eq!(failing["extensions"]["upstream"], "flaky");
    assert_eq!(failing["locations"], json!([{"line": 2, "column": 3}]));
    let garbage = at("garbage");
    assert_eq!(garbage["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    assert_eq!(garbage["extensions"]["upstream"], "flaky");
    assert_eq!(garbage["locations"], json!([{"line": 3, "column": 3}]));
    let unreachable = at("unreachable");
    assert_eq!(unreachable["extensions"]["code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(unreachable["extensions"]["upstream"], "down");
    assert_eq!(unreachable["locations"], json!([{"line": 4, "column": 3}]));
    // The secret header did reach the upstream: the test above is not vacuous.
    let sent_key = flaky.state.hits()[0].headers.get("x-api-key").cloned();
    assert_eq!(sent_key.as_ref().and_then(|v| v.to_str().ok()), Some(key));
}

// ---------------------------------------------------------------------------
// Null propagation.

const NULLS_SDL: &str = r#"
    schema
      @upstream(name: "api", url: "${API_URL}")
    { query: Query }
    type Query {
      product(id: ID!): Product
      other: Thing @rest(upstream: "api", path: "/ok")
      must: Thing! @rest(upstream: "api", path: "/fail")
      maybe: Thing @rest(upstream: "api", path: "/fail")
      strict: [Item!] @rest(upstream: "api", path: "/items")
      loose: [Item] @rest(upstream: "api", path: "/items")
    }
    type Product {
      id: ID!
      price: Thing! @rest(upstream: "api", path: "/fail")
      name: Thing @rest(upstream: "api", path: "/ok")
      meta: Meta! @rest(upstream: "api", path: "/ok")
    }
    type Meta { inner: Inner! @from(path: "nested") }
    type Inner { missing: String! }
    type Item {
      id: ID!
      detail: Thing! @rest(upstream: "api", path: "/details/{$parent.id}")
    }
    type Thing { name: String }
"#;

async fn nulls_gateway() -> (MockService, support::TestGateway) {
    let routes = Router::new()
        .route(
            "/ok",
            get(|| async { Json(json!({"name": "ok", "nested": {}})) }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/items",
            get(|| async { Json(json!([{"id": "1"}, {"id": "2"}, {"id": "3"}])) }),
        )
        .route(
            "/details/{id}",
            get(|Path(id): Path<String>| async move {
                if id == "2" {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    Json(json!({"name": format!("detail {id}")})).into_response()
                }
            }),
        );
    let api = support::mock("api", 0, routes).await;
    let gw = support::gateway(NULLS_SDL, &[&api], &[]).await;
    (api, gw)
}

fn assert_one_error_at(body: &Value, path: Value, code: &str) {
    let errors = errors(body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], path, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], code, "{body}");
}

#[tokio::test]
async fn a_non_null_field_error_nulls_the_nearest_nullable_parent() {
    let (_api, gw) = nulls_gateway().await;

    let (status, body) = gw
        .query(r#"{ product(id: "1") { id name { name } price { name } } other { name } }"#)
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"product": null, "other": {"name": "ok"}})
    );
    assert_one_error_at(&body, json!(["product", "price"]), "UPSTREAM_HTTP_ERROR");
}

#[tokio::test]
async fn a_missing_non_null_value_bubbles_through_non_null_parents() {
    let (_api, gw) = nulls_gateway().await;

    // Product.meta: Meta! -> Meta.inner: Inner! -> Inner.missing: String!
    let (status, body) = gw
        .query(r#"{ product(id: "1") { id meta { inner { missing } } } other { name } }"#)
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"product": null, "other": {"name": "ok"}})
    );
    assert_one_error_at(
        &body,
        json!(["product", "meta", "inner", "missing"]),
        "UPSTREAM_BAD_RESPONSE",
    );
}

#[tokio::test]
async fn a_non_null_root_field_error_nulls_data() {
    let (_api, gw) = nulls_gateway().await;

    let (status, body) = gw.query("{ must { name } other { name } }").await;

    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(
        body.as_object().is_some_and(|b| b.contains_key("data")),
        "{body}"
    );
    assert_one_error_at(&body, json!(["must"]), "UPSTREAM_HTTP_ERROR");
}

#[tokio::test]
async fn a_nullable_field_error_nulls_only_that_field() {
    let (_api, gw) = nulls_gateway().await;

    let (status, body) = gw.query("{ maybe { name } other { name } }").await;

    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"maybe": null, "other": {"name": "ok"}})
    );
    assert_one_error_at(&body, json!(["maybe"]), "UPSTREAM_HTTP_ERROR");
}

#[tokio::test]
async fn a_failed_non_null_list_item_nulls_the_list() {
    let (_api, gw) = nulls_gateway().await;

    let (status, body) = gw
        .query("{ strict { id detail { name } } other { name } }")
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"strict": null, "other": {"name": "ok"}})
    );
    assert_one_error_at(&body, json!(["strict", 1, "detail"]), "UPSTREAM_HTTP_ERROR");

    // With nullable items, only the failed item is null.
    let (status, body) = gw.query("{ loose { id detail { name } } }").await;

    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"loose": [
            {"id": "1", "detail": {"name": "detail 1"}},
            null,
            {"id": "3", "detail": {"name": "detail 3"}},
        ]})
    );
    assert_one_error_at(&body, json!(["loose", 1, "detail"]), "UPSTREAM_HTTP_ERROR");
}

// ---------------------------------------------------------------------------
// Answers parsed only as far as the operation reads them.

/// One upstream read by fields with different selections, by a bound child
/// whose input the client did not select, and by a bound field below an
/// interface (resolved from the data): every field still gets its value.
#[tokio::test]
async fn partial_parsing_never_drops_what_a_field_reads() {
    let routes = things().merge(support::json_route(
        "/shelf",
        json!({"items": [{"title": "A", "authorId": "3", "pages": 10}]}),
    ));
    let things = support::mock("things", 0, routes).await;
    let index = support::mock(
        "index",
        0,
        support::json_route(
            "/search",
            json!([{"__typename": "Book", "title": "T", "authorId": "9"}]),
        ),
    )
    .await;
    let sdl = r#"
        schema
          @upstream(name: "things", url: "${THINGS_URL}")
          @upstream(name: "index", url: "${INDEX_URL}")
        { query: Query }
        type Query {
          thing(id: ID!): Thing @rest(upstream: "things", path: "/things/{$args.id}")
          shelf: [Book!]! @rest(upstream: "things", path: "/shelf", select: "items")
          search: [Result!]! @rest(upstream: "index", path: "/search")
        }
        interface Result { title: String! }
        type Book implements Result {
          title: String!
          authorId: ID!
          pages: Int
          author: Thing @rest(upstream: "things", path: "/things/{$parent.authorId}")
        }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&things, &index], &[]).await;

    // Without an interface: `author` reads `authorId`, which the client
    // did not select; `a` and `b` share one answer.
    let (status, body) = gw
        .query(r#"{ a: thing(id: "1") { id } b: thing(id: "1") { name } shelf { title author { name } } }"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": {
            "a": {"id": "1"}, "b": {"name": "thing 1"},
            "shelf": [{"title": "A", "author": {"name": "thing 3"}}]
        }})
    );

    // Below an interface: `author` (same upstream as `thing`) is found only
    // from the data, and still reads `name`.
    let (status, body) = gw
        .query(r#"{ thing(id: "2") { id } search { title ... on Book { author { name } } } }"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": {
            "thing": {"id": "2"},
            "search": [{"title": "T", "author": {"name": "thing 9"}}]
        }})
    );
}

// ---------------------------------------------------------------------------
// Null items of lists of objects.

#[tokio::test]
async fn a_null_item_of_a_list_of_objects_is_null_without_an_error() {
    let shelf = support::mock(
        "shelf",
        0,
        support::json_route(
            "/things",
            json!([{ "id": "1", "name": "one" }, null, { "id": "3", "name": "three" }]),
        ),
    )
    .await;
    let sdl = r#"
        schema @upstream(name: "shelf", url: "${SHELF_URL}") { query: Query }
        type Query {
          things: [Thing] @rest(upstream: "shelf", path: "/things")
        }
        type Thing { id: ID! name: String! }
    "#;
    let gw = support::gateway(sdl, &[&shelf], &[]).await;
    let (status, body) = gw.query("{ things { id name } }").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "things": [
            { "id": "1", "name": "one" }, null, { "id": "3", "name": "three" }
        ] } }),
        "the null item's non-null fields are not resolved: {body}"
    );
}
