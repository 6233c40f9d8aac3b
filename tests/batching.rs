//! Batching: N parents in a list make one upstream call for their children.

mod support;

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::get;
use serde_json::{Value, json};

fn posts() -> Value {
    Value::Array(
        (1..=100)
            .map(|id| json!({"id": id, "userId": (id - 1) / 10 + 1, "title": format!("post {id}")}))
            .collect(),
    )
}

fn user(id: u64) -> Value {
    json!({"id": id, "name": format!("user {id}")})
}

/// `/users?id=1&id=2` or `/users?ids=1,2`: the users asked for, in order,
/// unknown ids skipped.
async fn users(RawQuery(query): RawQuery) -> axum::Json<Value> {
    let ids: Vec<u64> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|s| s.parse().ok())
                .collect::<Vec<u64>>()
        })
        .filter(|id| (1..=10).contains(id))
        .collect();
    axum::Json(Value::Array(ids.into_iter().map(user).collect()))
}

fn placeholder() -> Router {
    Router::new()
        .route("/posts", get(|| async { axum::Json(posts()) }))
        .route("/users", get(users))
        .route("/users/{id}", get(|axum::extract::Path(id): axum::extract::Path<u64>| async move { axum::Json(user(id)) }))
}

fn schema(user_binding: &str) -> String {
    format!(
        r#"
schema @upstream(name: "placeholder", url: "${{PLACEHOLDER_URL}}") {{ query: Query }}
type Query {{ posts: [Post!]! @rest(upstream: "placeholder", path: "/posts") }}
type Post {{
  id: Int!
  userId: Int!
  title: String!
  user: User {user_binding}
}}
type User {{ id: Int! name: String! }}
"#
    )
}

#[tokio::test]
async fn a_hundred_posts_make_two_calls_with_repeated_ids() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let sdl = schema(
        r#"@rest(upstream: "placeholder", path: "/users", query: { id: "{$parent.userId}" }, batch: { key: "id" })"#,
    );
    let gw = support::gateway(&sdl, &[&mock], &[]).await;
    let (status, body) = gw.query("{ posts { id user { id name } } }").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let posts = body["data"]["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 100);
    assert_eq!(posts[0]["user"], json!({"id": 1, "name": "user 1"}));
    assert_eq!(posts[99]["user"], json!({"id": 10, "name": "user 10"}));
    let hits = mock.state.hits();
    assert_eq!(
        hits.len(),
        2,
        "{:?}",
        hits.iter().map(|h| &h.target).collect::<Vec<_>>()
    );
    assert_eq!(
        hits[1].target,
        "/users?id=1&id=2&id=3&id=4&id=5&id=6&id=7&id=8&id=9&id=10"
    );
}

#[tokio::test]
async fn joined_keys_are_split_by_max_size() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let sdl = schema(
        r#"@rest(upstream: "placeholder", path: "/users", query: { ids: "{$parent.userId}" }, batch: { key: "id", maxSize: 4, join: "," })"#,
    );
    let gw = support::gateway(&sdl, &[&mock], &[]).await;
    let (_, body) = gw.query("{ posts { id user { name } } }").await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut targets: Vec<String> = mock.state.hits().into_iter().map(|h| h.target).collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "/posts",
            "/users?ids=1%2C2%2C3%2C4",
            "/users?ids=5%2C6%2C7%2C8",
            "/users?ids=9%2C10"
        ]
    );
}

#[tokio::test]
async fn unbatched_per_id_calls_are_deduped_within_the_operation() {
    let mock = support::mock("placeholder", 0, placeholder()).await;
    let sdl = schema(r#"@rest(upstream: "placeholder", path: "/users/{$parent.userId}")"#);
    let gw = support::gateway(&sdl, &[&mock], &[]).await;
    let (_, body) = gw.query("{ posts { user { name } } }").await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(mock.state.count(), 11, "1 for posts + 10 distinct users");
}
