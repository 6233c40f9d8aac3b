//! Cross-request batching (`batch: { window }`): the keys of concurrent
//! client requests go to the upstream in one call, split at `maxSize`, each
//! request gets its own items, and requests whose calls differ in anything
//! but the batched value (a forwarded credential) are never sent together.
//! A real upstream on 127.0.0.1:0; windows are generous so the concurrent
//! requests of a test surely fall in one.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::routing::get;
use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::Fault;

fn user(id: u64) -> Value {
    json!({ "id": id, "name": format!("user {id}") })
}

/// `/users?id=1&id=2`: the users asked for, in order, unknown ids skipped.
async fn users(RawQuery(query): RawQuery) -> axum::Json<Value> {
    let ids = ids(&query.unwrap_or_default());
    axum::Json(Value::Array(
        ids.into_iter()
            .filter(|id| (1..=10).contains(id))
            .map(user)
            .collect(),
    ))
}

fn ids(query: &str) -> Vec<u64> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

fn placeholder() -> Router {
    Router::new()
        .route(
            "/posts/{id}",
            get(|Path(id): Path<u64>| async move {
                axum::Json(json!({ "id": id, "userId": (id - 1) / 10 + 1 }))
            }),
        )
        .route("/users", get(users))
}

fn schema(batch: &str, server: &str) -> String {
    format!(
        r#"
schema
  @server(introspection: true {server})
  @upstream(name: "placeholder", url: "${{PLACEHOLDER_URL}}", retry: false, forwardHeaders: ["authorization"])
{{ query: Query }}
type Query {{ post(id: Int!): Post @rest(upstream: "placeholder", path: "/posts/{{$args.id}}") }}
type Post {{
  id: Int!
  userId: Int!
  user: User @rest(upstream: "placeholder", path: "/users", query: {{ id: "{{$parent.userId}}" }},
                   batch: {{ key: "id", {batch} }})
}}
type User {{ id: Int! name: String! }}
"#
    )
}

/// The users calls the upstream saw: the ids of each, and its credential.
fn users_calls(mock: &tributary::demo::MockService) -> Vec<(BTreeSet<u64>, String)> {
    mock.state
        .hits()
        .into_iter()
        .filter(|h| h.target.starts_with("/users"))
        .map(|h| {
            let query = h.target.split_once('?').map_or("", |(_, q)| q);
            let auth = h
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (ids(query).into_iter().collect(), auth)
        })
        .collect()
}

/// Asks for post `id` (whose user is `(id - 1) / 10 + 1`) with `token`.
async fn post(gw: &TestGateway, id: u64, token: &str) -> Value {
    let (status, body) = gw
        .post(
            json!({
                "query": "query ($id: Int!) { post(id: $id) { id user { id name } } }",
                "variables": { "id": id },
            }),
            &[("authorization", token)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn concurrent_requests_share_one_call_and_each_gets_its_own_user() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema(r#"window: "300ms""#, ""), &[&mock], &[]).await;
    // Ten requests, for the posts of ten different users.
    let bodies =
        futures_util::future::join_all((0..10).map(|i| post(&gw, i * 10 + 1, "Bearer a"))).await;
    for (i, body) in bodies.iter().enumerate() {
        assert!(body.get("errors").is_none(), "{body}");
        let id = i as u64 + 1;
        assert_eq!(
            body["data"]["post"]["user"],
            user(id),
            "request {i}: {body}"
        );
    }
    let calls = users_calls(&mock);
    assert_eq!(calls.len(), 1, "one call for the ten requests: {calls:?}");
    assert_eq!(calls[0].0, (1..=10).collect(), "{calls:?}");

    // The same ten requests without a window: a call each.
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema("maxSize: 100", ""), &[&mock], &[]).await;
    futures_util::future::join_all((0..10).map(|i| post(&gw, i * 10 + 1, "Bearer a"))).await;
    assert_eq!(users_calls(&mock).len(), 10);
}

#[tokio::test]
async fn identical_keys_of_many_requests_are_sent_once_and_max_size_splits() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema(r#"window: "300ms""#, ""), &[&mock], &[]).await;
    // 20 requests for 10 distinct users (each user twice).
    let bodies = futures_util::future::join_all(
        (0..20).map(|i| post(&gw, (i % 10) * 10 + 1 + i / 10, "Bearer a")),
    )
    .await;
    for body in &bodies {
        assert!(body.get("errors").is_none(), "{body}");
        let id = body["data"]["post"]["id"].as_u64().expect("id");
        assert_eq!(body["data"]["post"]["user"], user((id - 1) / 10 + 1));
    }
    let calls = users_calls(&mock);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, (1..=10).collect(), "each id once: {calls:?}");
    let hit = mock
        .state
        .hits()
        .into_iter()
        .find(|h| h.target.starts_with("/users"))
        .expect("users call");
    assert_eq!(hit.target.matches("id=").count(), 10, "{}", hit.target);

    // At `maxSize: 4` the ten keys go in three calls.
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema(r#"window: "300ms", maxSize: 4"#, ""), &[&mock], &[]).await;
    let bodies =
        futures_util::future::join_all((0..10).map(|i| post(&gw, i * 10 + 1, "Bearer a"))).await;
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body["data"]["post"]["user"], user(i as u64 + 1), "{body}");
    }
    let calls = users_calls(&mock);
    let mut all: Vec<u64> = calls
        .iter()
        .flat_map(|(ids, _)| ids.iter().copied())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=10).collect::<Vec<_>>(), "{calls:?}");
    assert!(calls.iter().all(|(ids, _)| ids.len() <= 4), "{calls:?}");
    assert_eq!(calls.len(), 3, "10 keys at 4 a call: {calls:?}");
}

#[tokio::test]
async fn requests_with_different_credentials_are_never_batched_together() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema(r#"window: "300ms""#, ""), &[&mock], &[]).await;
    let bodies = futures_util::future::join_all((0..6).map(|i| {
        let token = if i % 2 == 0 {
            "Bearer even"
        } else {
            "Bearer odd"
        };
        post(&gw, i * 10 + 1, token)
    }))
    .await;
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body["data"]["post"]["user"], user(i as u64 + 1), "{body}");
    }
    let mut calls = users_calls(&mock);
    calls.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        calls,
        vec![
            ([1, 3, 5].into_iter().collect(), "Bearer even".to_owned()),
            ([2, 4, 6].into_iter().collect(), "Bearer odd".to_owned()),
        ],
        "one call per credential, each with its own requests' keys"
    );
}

#[tokio::test]
async fn a_failed_shared_call_fails_the_field_in_every_request() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(&schema(r#"window: "300ms""#, ""), &[&mock], &[]).await;
    // The two posts calls answer; the shared users call gets a 500.
    mock.state.push_faults([
        Fault::Delay(Duration::ZERO),
        Fault::Delay(Duration::ZERO),
        Fault::Status(500),
    ]);
    let bodies = futures_util::future::join_all([post(&gw, 1, "t"), post(&gw, 11, "t")]).await;
    for body in &bodies {
        assert_eq!(body["data"]["post"]["user"], Value::Null, "{body}");
        let error = &body["errors"][0];
        assert_eq!(error["path"], json!(["post", "user"]), "{body}");
        assert_eq!(error["extensions"]["upstream"], "placeholder", "{body}");
    }
    assert_eq!(users_calls(&mock).len(), 1);
}

#[tokio::test]
async fn a_key_waits_for_its_batch_no_longer_than_the_request_deadline() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(
        &schema(r#"window: "1s""#, r#", requestTimeout: "300ms""#),
        &[&mock],
        &[],
    )
    .await;
    let started = Instant::now();
    let body = post(&gw, 1, "t").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "answered at the deadline: {took:?}"
    );
    assert_eq!(body["data"]["post"]["id"], 1, "{body}");
    assert_eq!(body["data"]["post"]["user"], Value::Null, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("deadline"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_TIMEOUT",
        "{body}"
    );
}

#[tokio::test]
async fn a_shared_call_is_one_upstream_call_in_the_metrics_and_shared_in_the_timeline() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let gw = support::gateway(
        &schema(r#"window: "300ms""#, ", timeline: true"),
        &[&mock],
        &[],
    )
    .await;
    let ask = |id: u64| {
        gw.post(
            json!({ "query": "query ($id: Int!) { post(id: $id) { user { name } } }", "variables": { "id": id } }),
            &[("tributary-timeline", "1")],
        )
    };
    let (a, b) = tokio::join!(ask(1), ask(11));
    for (_, body) in [&a, &b] {
        let calls = body["extensions"]["timeline"]["calls"]
            .as_array()
            .expect("calls");
        let users = calls
            .iter()
            .find(|c| c["path"] == "post.*.user")
            .unwrap_or_else(|| panic!("no batch call in {body}"));
        assert_eq!(users["cache"], "shared", "{body}");
        assert_eq!(users["batchSize"], 1, "{body}");
    }
    let count = gw
        .sample(
            "http_client_request_duration_seconds_count",
            &[r#"upstream="placeholder""#, r#"outcome="ok""#],
        )
        .await;
    assert_eq!(count, Some(3.0), "two posts calls and one users call");
    assert_eq!(mock.state.count(), 3);
}

#[test]
fn window_settings_are_checked_at_load() {
    let load = |batch: &str| {
        tributary::config::load("t.graphql", &schema(batch, ""), &|_| {
            Some("http://127.0.0.1:1".into())
        })
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default()
    };
    assert!(load(r#"window: "0ms""#).contains("`batch.window` must be above 0"));
    assert!(load(r#"window: "2s""#).contains("at most 1000ms"));
    assert!(load("window: 5").contains("duration string"));
    assert!(load(r#"window: "soon""#).contains("is not a duration"));
    assert_eq!(load(r#"window: "2ms""#), "");
}
