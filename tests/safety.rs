//! Injection: values from clients never change the shape of an upstream
//! request. A path argument is exactly one path segment, a query argument is
//! exactly one parameter value, and a header value cannot start a new header.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, Query};
use axum::routing::get;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde_json::json;
use tributary::demo::MockService;

const SDL: &str = r#"
    schema @upstream(name: "items", url: "${ITEMS_URL}/v1") { query: Query }
    type Query {
      item(id: String!): Item @rest(upstream: "items", path: "/items/{$args.id}")
      tagged(id: String!, tag: String!): Item
        @rest(upstream: "items", path: "/items/{$args.id}", headers: [{ name: "x-tag", value: "{$args.tag}" }])
      search(q: String!): Item @rest(upstream: "items", path: "/search", query: { q: "{$args.q}" })
    }
    type Item { id: String }
"#;

/// Values that would change the request's shape if placed unencoded.
const HOSTILE: [&str; 14] = [
    "../admin",
    "a/b",
    "%2F",
    "%2e%2e",
    "?x=1",
    "#frag",
    "a\r\nX-Injected: 1",
    " spaces ",
    "ünïcødé 🚀",
    "a\\b",
    "./",
    "...",
    "a&b=c",
    "+",
];

/// The upstream: `/v1/items/{id}` and `/v1/search` echo what they received;
/// `/admin` (outside the base path) counts requests that must never come.
async fn upstream() -> (MockService, Arc<AtomicUsize>) {
    let admin = Arc::new(AtomicUsize::new(0));
    let admin_hits = admin.clone();
    let routes = Router::new()
        .route(
            "/v1/items/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({"id": id})) }),
        )
        .route(
            "/v1/search",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Json(json!({"id": q.get("q")}))
            }),
        )
        .route(
            "/admin",
            get(move || {
                admin_hits.fetch_add(1, Ordering::Relaxed);
                async { Json(json!({"id": "admin"})) }
            }),
        );
    (support::mock("items", 0, routes).await, admin)
}

#[tokio::test]
async fn a_path_argument_is_always_one_encoded_segment() {
    let (items, admin) = upstream().await;
    let gw = support::gateway(SDL, &[&items], &[]).await;

    for value in HOSTILE {
        items.state.reset();
        let (status, body) = gw
            .query_vars(
                "query($id: String!) { item(id: $id) { id } }",
                json!({"id": value}),
            )
            .await;

        assert_eq!(status, 200, "{value:?}: {body}");
        // The upstream received the value intact: it is its own segment.
        assert_eq!(body, json!({"data": {"item": {"id": value}}}), "{value:?}");
        let hits = items.state.hits();
        assert_eq!(hits.len(), 1, "{value:?}: {hits:?}");
        let target = &hits[0].target;
        let segment = target
            .strip_prefix("/v1/items/")
            .unwrap_or_else(|| panic!("{value:?} reached {target}"));
        assert!(
            !segment.contains(['/', '?', '#', '\\', ' ', '\r', '\n']),
            "{value:?} was sent as {target}"
        );
        assert_eq!(
            percent_decode_str(segment).decode_utf8().expect("UTF-8"),
            value,
            "{value:?} was sent as {target}"
        );
    }
    assert_eq!(admin.load(Ordering::Relaxed), 0, "a value reached /admin");
}

#[tokio::test]
async fn dot_segments_are_refused_without_a_call() {
    let (items, admin) = upstream().await;
    let gw = support::gateway(SDL, &[&items], &[]).await;

    for value in ["..", "."] {
        let (status, body) = gw
            .query_vars(
                "query($id: String!) { item(id: $id) { id } }",
                json!({"id": value}),
            )
            .await;

        assert_eq!(status, 200, "{value:?}: {body}");
        assert_eq!(body["data"], json!({"item": null}), "{value:?}: {body}");
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(errors[0]["path"], json!(["item"]), "{body}");
    }
    assert_eq!(items.state.count(), 0, "{:?}", items.state.hits());
    assert_eq!(admin.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_header_value_with_line_breaks_is_refused_without_a_call() {
    let (items, _admin) = upstream().await;
    let gw = support::gateway(SDL, &[&items], &[]).await;
    let query = "query($id: String!, $tag: String!) { tagged(id: $id, tag: $tag) { id } }";

    for tag in [
        "a\r\nX-Injected: 1",
        "a\nX-Injected: 1",
        "a\rX-Injected: 1",
        "a\u{0}b",
    ] {
        let (status, body) = gw.query_vars(query, json!({"id": "1", "tag": tag})).await;

        assert_eq!(status, 200, "{tag:?}: {body}");
        assert_eq!(body["data"], json!({"tagged": null}), "{tag:?}: {body}");
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    }
    assert_eq!(items.state.count(), 0, "{:?}", items.state.hits());

    // A clean value goes through, as a single header.
    let (status, body) = gw
        .query_vars(query, json!({"id": "1", "tag": "plain value"}))
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"data": {"tagged": {"id": "1"}}}))
    );
    let hits = items.state.hits();
    assert_eq!(hits.len(), 1);
    let tags: Vec<_> = hits[0].headers.get_all("x-tag").iter().collect();
    assert_eq!(tags, ["plain value"]);
    assert!(hits[0].headers.get("x-injected").is_none());
}

#[tokio::test]
async fn a_query_argument_is_always_one_parameter_value() {
    let (items, admin) = upstream().await;
    let gw = support::gateway(SDL, &[&items], &[]).await;

    let mut values: Vec<&str> = HOSTILE.to_vec();
    values.extend(["a&admin=1", "a=b", "100%", "x#y", "", "a\r\nb", "..", "&"]);
    for value in values {
        items.state.reset();
        let (status, body) = gw
            .query_vars(
                "query($q: String!) { search(q: $q) { id } }",
                json!({"q": value}),
            )
            .await;

        assert_eq!(status, 200, "{value:?}: {body}");
        assert_eq!(
            body,
            json!({"data": {"search": {"id": value}}}),
            "{value:?}"
        );
        let hits = items.state.hits();
        assert_eq!(hits.len(), 1, "{value:?}: {hits:?}");
        let target = &hits[0].target;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        assert_eq!(path, "/v1/search", "{value:?} was sent as {target}");
        assert!(
            !query.contains(['#', ' ', '\r', '\n']),
            "{value:?} was sent as {target}"
        );
        assert_eq!(
            support::query_pairs(target),
            [("q".to_owned(), value.to_owned())],
            "{value:?} was sent as {target}"
        );
    }
    assert_eq!(admin.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn what_the_upstream_answers_cannot_redirect_a_dependent_call() {
    // A `$parent` value from one upstream is as untrusted as an argument.
    let (items, admin) = upstream().await;
    let evil = support::mock(
        "evil",
        0,
        support::json_route("/ref", json!({"next": "../../admin"})),
    )
    .await;
    let sdl = r#"
        schema
          @upstream(name: "items", url: "${ITEMS_URL}/v1")
          @upstream(name: "evil", url: "${EVIL_URL}")
        { query: Query }
        type Query { ref: Ref @rest(upstream: "evil", path: "/ref") }
        type Ref {
          next: String
          item: Item @rest(upstream: "items", path: "/items/{$parent.next}")
        }
        type Item { id: String }
    "#;
    let gw = support::gateway(sdl, &[&items, &evil], &[]).await;

    let (status, body) = gw.query("{ ref { item { id } } }").await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {"ref": {"item": {"id": "../../admin"}}}})
    );
    let hits = items.state.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].target, "/v1/items/..%2F..%2Fadmin");
    assert_eq!(admin.load(Ordering::Relaxed), 0);
}
