//! With `dedupe: true` on every upstream, identical queries in flight share one
//! execution; anything that could change the answer keeps them apart.

mod support;

use axum::Router;
use axum::routing::get;
use serde_json::json;

fn items() -> Router {
    Router::new().route(
        "/items/{id}",
        get(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                axum::Json(json!({"id": id}))
            },
        ),
    )
}

fn sdl(dedupe: bool) -> String {
    format!(
        r#"
schema @upstream(name: "svc", url: "${{SVC_URL}}", dedupe: {dedupe}, forwardHeaders: ["x-tenant"]) {{ query: Query }}
type Query {{ item(id: ID!): Item @rest(upstream: "svc", path: "/items/{{$args.id}}") }}
type Item {{ id: ID! }}
"#
    )
}

/// How many operations the gateway executed, from its own metrics.
fn operations(gateway: &tributary::Gateway) -> f64 {
    gateway
        .metrics()
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix("graphql_server_operation_duration_seconds_count{graphql_operation_type=\"query\"} ")
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

async fn burst(
    gw: &support::TestGateway,
    bodies: Vec<(serde_json::Value, Vec<(&'static str, &'static str)>)>,
) {
    let requests = bodies
        .iter()
        .map(|(body, headers)| gw.post(body.clone(), headers));
    for (status, body) in futures_util::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
}

#[tokio::test]
async fn identical_queries_in_flight_share_one_execution() {
    let mock = support::mock("svc", 200, items()).await;
    let (gw, gateway) = support::gateway_with_handle(&sdl(true), &[&mock], &[]).await;
    let query =
        json!({"query": "query($id: ID!) { item(id: $id) { id } }", "variables": {"id": "1"}});
    burst(&gw, (0..10).map(|_| (query.clone(), vec![])).collect()).await;
    assert_eq!(mock.state.count(), 1);
    assert_eq!(
        operations(&gateway),
        1.0,
        "ten identical queries, one execution"
    );
}

#[tokio::test]
async fn variables_and_forwarded_headers_keep_queries_apart() {
    let mock = support::mock("svc", 200, items()).await;
    let (gw, gateway) = support::gateway_with_handle(&sdl(true), &[&mock], &[]).await;
    let query = |id: &str| json!({"query": "query($id: ID!) { item(id: $id) { id } }", "variables": {"id": id}});
    burst(
        &gw,
        vec![
            (query("1"), vec![("x-tenant", "a")]),
            (query("1"), vec![("x-tenant", "b")]),
            (query("2"), vec![("x-tenant", "a")]),
            (query("1"), vec![("x-tenant", "a")]),
        ],
    )
    .await;
    assert_eq!(
        operations(&gateway),
        3.0,
        "three distinct (variables, tenant) pairs"
    );
    assert_eq!(mock.state.count(), 3);
}

#[tokio::test]
async fn without_dedupe_everywhere_each_query_executes() {
    let mock = support::mock("svc", 200, items()).await;
    let (gw, gateway) = support::gateway_with_handle(&sdl(false), &[&mock], &[]).await;
    let query = json!({"query": "{ item(id: \"1\") { id } }"});
    burst(&gw, (0..5).map(|_| (query.clone(), vec![])).collect()).await;
    assert_eq!(operations(&gateway), 5.0);
    assert_eq!(mock.state.count(), 5);
}
