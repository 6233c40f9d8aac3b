//! The differential suite: the operations of `tests/differential/corpus.mjs`
//! sent to Tributary and to graphql-js (the reference implementation) serving
//! the same schema over the same mock upstream, answers compared by
//! `tests/js/differential.mjs`. A difference not in
//! `tests/differential/allowlist.json` (each entry with its reason and spec
//! section) fails the test.

mod support;

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// Product `id` as the shop's upstream answers it.
fn product(id: &str) -> Option<Value> {
    let brand = json!({ "id": "b1", "name": "Acme", "country": null, "__typename": "Brand" });
    Some(match id {
        "1" => json!({
            "__typename": "Product", "id": "1", "name": "Chair", "price": 1299, "rating": 4.5,
            "tags": ["wood", "home"], "matrix": [[1, 2], [3, null]], "status": "ACTIVE",
            "code": "CH-1", "broken": "fine", "brand": brand,
        }),
        "2" => json!({
            "__typename": "Product", "id": "2", "name": "Lamp", "price": null, "rating": 3,
            "tags": [], "matrix": null, "status": "DISCONTINUED", "code": null,
            "broken": "fine", "brand": null,
        }),
        // `broken: String!` has no value.
        "3" => json!({
            "__typename": "Product", "id": "3", "name": "Desk", "price": 25000, "rating": null,
            "tags": ["office"], "matrix": [[]], "status": "COMING_SOON", "code": "DK-3",
            "broken": null, "brand": brand,
        }),
        // Its reviews answer 500.
        "4" => json!({
            "__typename": "Product", "id": "4", "name": "Rug", "price": 4000, "rating": 2.25,
            "tags": ["home"], "matrix": [], "status": "ACTIVE", "code": "RG-4",
            "broken": "fine", "brand": brand,
        }),
        _ => return None,
    })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": "not found" })),
    )
        .into_response()
}

fn routes() -> Router {
    async fn one(Path(id): Path<String>) -> Response {
        match product(&id) {
            Some(p) => axum::Json(p).into_response(),
            None => axum::Json(Value::Null).into_response(),
        }
    }
    async fn all() -> axum::Json<Value> {
        axum::Json(json!([
            product("1"),
            product("2"),
            null,
            product("4"),
            product("3")
        ]))
    }
    async fn reviews(
        Path(id): Path<String>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        let first: usize = q.get("first").and_then(|f| f.parse().ok()).unwrap_or(10);
        let list: Vec<Value> = match id.as_str() {
            "1" => vec![
                json!({ "id": "r1", "stars": 5, "body": "Great", "authorId": "u1" }),
                json!({ "id": "r2", "stars": 4, "body": null, "authorId": "u2" }),
                json!({ "id": "r3", "stars": 3, "body": "Fine", "authorId": "u404" }),
            ],
            // A review without its non-null `stars`.
            "2" => vec![json!({ "id": "r4", "stars": null, "body": "?", "authorId": "u1" })],
            "3" => vec![],
            "4" => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({ "error": "boom" })),
                )
                    .into_response();
            }
            _ => return not_found(),
        };
        axum::Json(Value::Array(list.into_iter().take(first).collect())).into_response()
    }
    async fn related(Path(id): Path<String>) -> axum::Json<Value> {
        axum::Json(match id.as_str() {
            "1" => json!([product("2"), null, product("3")]),
            _ => json!([]),
        })
    }
    async fn user(Path(id): Path<String>) -> Response {
        match id.as_str() {
            "u1" => axum::Json(json!({ "__typename": "User", "id": "u1", "name": "Ada", "email": "ada@example.com" })).into_response(),
            "u2" => axum::Json(json!({ "__typename": "User", "id": "u2", "name": "Brian", "email": null })).into_response(),
            _ => not_found(),
        }
    }
    async fn node(Path(id): Path<String>) -> Response {
        match id.as_str() {
            "u1" | "u2" => user(Path(id)).await,
            "b1" => axum::Json(
                json!({ "__typename": "Brand", "id": "b1", "name": "Acme", "country": "NL" }),
            )
            .into_response(),
            other => match product(other) {
                Some(p) => axum::Json(p).into_response(),
                None => axum::Json(Value::Null).into_response(),
            },
        }
    }
    async fn search(
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> axum::Json<Value> {
        let text = q.get("q").cloned().unwrap_or_default();
        axum::Json(match text.as_str() {
            "none" => json!([]),
            _ => json!([
                product("1"),
                { "__typename": "User", "id": "u1", "name": "Ada", "email": null },
                { "__typename": "Brand", "id": "b1", "name": "Acme", "country": null },
                product("2"),
            ]),
        })
    }
    async fn echo(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
        axum::Json(body)
    }
    async fn fail() -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": "boom" })),
        )
            .into_response()
    }
    Router::new()
        .route("/products", get(all))
        .route("/products/{id}", get(one))
        .route("/products/{id}/reviews", get(reviews))
        .route("/products/{id}/related", get(related))
        .route("/users/{id}", get(user))
        .route("/nodes/{id}", get(node))
        .route("/search", get(search))
        .route("/fail", get(fail))
        .route("/echo", axum::routing::post(echo))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tributary_answers_as_graphql_js_does() {
    support::require_js_deps();
    let shop = support::mock("shop", 0, routes()).await;
    let root = support::crate_root();
    let sdl = std::fs::read_to_string(root.join("tests/differential/schema.graphql"))
        .expect("the differential schema");
    let gw = support::gateway(&sdl, &[&shop], &[]).await;

    let mut node = Command::new("node");
    node.arg("tests/js/differential.mjs")
        .arg("tests/differential/schema.graphql")
        .arg("tests/differential/corpus.mjs")
        .arg("tests/differential/allowlist.json")
        .arg(shop.url())
        .arg(gw.url())
        .current_dir(&root);
    let output = support::run_command(node, Duration::from_secs(240)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("differential: "))
        .unwrap_or_else(|| panic!("no summary line: {stderr}"));
    assert!(output.status.success(), "{summary}\n{stdout}");
    let count: usize = summary
        .trim_start_matches("differential: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        count >= 150,
        "the corpus has at least 150 operations: {summary}"
    );
}
