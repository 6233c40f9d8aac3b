//! Hostile input, as an attacker would send it: no query, connection or client
//! may starve the gateway, leak across callers, or amplify onto upstreams.
//! Each test names the attack it repeats.

mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::get;
use axum::{Json, http::HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::TestGateway;
use tributary::demo::MockService;

/// `/posts` answers `n` posts (default 100), `/users/{id}` one user;
/// `/users/bad` answers 500 and `/users/down` 503.
async fn blog(n: usize) -> MockService {
    let routes = Router::new()
        .route(
            "/posts",
            get(move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let n = q.get("n").and_then(|v| v.parse().ok()).unwrap_or(n);
                Json(Value::Array(
                    (0..n)
                        .map(|i| json!({ "id": i.to_string(), "userId": i % 10, "title": format!("Post {i}") }))
                        .collect(),
                ))
            }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move {
                match id.as_str() {
                    "bad" => Err(http::StatusCode::INTERNAL_SERVER_ERROR),
                    "down" => Err(http::StatusCode::SERVICE_UNAVAILABLE),
                    _ => Ok(Json(json!({ "id": id, "name": format!("User {id}") }))),
                }
            }),
        )
        .route(
            "/users",
            get(|| async { Json(json!([{ "id": "collection" }])) }),
        )
        .route(
            "/whoami",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>());
                Json(json!({ "auth": auth }))
            }),
        );
    support::mock("blog", 0, routes).await
}

fn blog_sdl(server: &str) -> String {
    format!(
        r#"
schema
  @server({server})
  @upstream(name: "blog", url: "${{BLOG_URL}}", forwardHeaders: ["authorization", "x-zip"],
            cache: {{ ttl: "60s" }})
{{ query: Query }}

type Query {{
  posts(n: Int): [Post!]! @rest(upstream: "blog", path: "/posts", query: {{ n: "{{$args.n}}" }})
  user(id: String!): User @rest(upstream: "blog", path: "/users/{{$args.id}}")
  whoami: Who @rest(upstream: "blog", path: "/whoami")
  nearby: Who @rest(upstream: "blog", path: "/whoami", query: {{ zip: "{{$header.x-zip}}" }})
}}

type Post {{
  id: ID!
  userId: Int!
  title: String
  user: User @rest(upstream: "blog", path: "/users/{{$parent.userId}}")
}}

type User {{
  id: ID!
  name: String
  posts: [Post!] @rest(upstream: "blog", path: "/posts")
}}

type Who {{ auth: String }}
"#
    )
}

async fn blog_gateway(blog: &MockService, server: &str) -> TestGateway {
    support::gateway(&blog_sdl(server), &[blog], &[]).await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// Fragments that each spread the previous one twice: 2^30 fields from a
/// 1.2 KB document. Measured once per fragment, refused at once; the
/// gateway keeps answering meanwhile.
#[tokio::test]
async fn exponential_fragments_are_refused_at_once_and_health_stays_up() {
    let blog = blog(3).await;
    let gw = blog_gateway(&blog, "timeline: false").await;
    let mut query = String::from("query { posts { ...F30 } }\nfragment F0 on Post { id }\n");
    for i in 1..=30 {
        query.push_str(&format!(
            "fragment F{i} on Post {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    let started = Instant::now();
    let attacks: Vec<_> = (0..3)
        .map(|_| {
            let client = gw.client.clone();
            let url = gw.url();
            let query = query.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(json!({ "query": query }).to_string())
                    .send()
                    .await
                    .expect("answers")
                    .text()
                    .await
                    .map(|t| serde_json::from_str::<Value>(&t).expect("json"))
                    .expect("body")
            })
        })
        .collect();
    let health = gw
        .client
        .get(format!("{}/healthz", gw.running.url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("healthz answers while the attack runs");
    assert_eq!(health.status(), 200);
    for attack in attacks {
        let body = attack.await.expect("task");
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
        assert!(message(&body).contains("maxCost"), "{body}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        blog.state.count(),
        0,
        "no upstream call for a refused document"
    );
}

/// A 94-byte query over a recursive schema, each `posts` a list: the cost
/// multiplies by list sizes and is refused before any call.
#[tokio::test]
async fn recursive_lists_are_priced_by_their_sizes() {
    let blog = blog(100).await;
    let gw = blog_gateway(&blog, "timeline: false").await;
    let (status, body) = gw
        .query("{ posts { user { posts { user { posts { user { posts { user { posts { id } } } } } } } } } }")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(message(&body).contains("maxCost"), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(blog.state.count(), 0);
}

/// `__typename` counts: 30,000 aliases of it are refused (aliases and cost).
#[tokio::test]
async fn typename_aliases_count() {
    let blog = blog(100).await;
    let gw = blog_gateway(&blog, "maxAliases: 100000").await;
    let aliases: String = (0..30_000).map(|i| format!("t{i}: __typename ")).collect();
    let (_, body) = gw.query(&format!("{{ posts {{ {aliases} }} }}")).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(message(&body).contains("maxCost"), "{body}");

    let gw = blog_gateway(&blog, "timeline: false").await;
    let (_, body) = gw.query(&format!("{{ {aliases} }}")).await;
    assert!(message(&body).contains("maxAliases"), "{body}");
    assert_eq!(blog.state.count(), 0);
}

/// 5,000 aliases of a bound field with distinct arguments would be 5,000
/// upstream requests: refused by maxUpstreamCalls before any is made.
#[tokio::test]
async fn distinct_aliases_cannot_fan_out_to_thousands_of_calls() {
    let blog = blog(1).await;
    let gw = blog_gateway(&blog, "maxAliases: 10000, maxRootFields: 10000").await;
    let aliases: String = (0..5_000)
        .map(|i| format!("u{i}: user(id: \"{i}\") {{ id }} "))
        .collect();
    let (_, body) = gw.query(&format!("{{ {aliases} }}")).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(message(&body).contains("maxUpstreamCalls"), "{body}");
    assert_eq!(blog.state.count(), 0);

    // Root fields have their own cap.
    let gw = blog_gateway(&blog, "maxRootFields: 5").await;
    let six: String = (0..6)
        .map(|i| format!("u{i}: user(id: \"{i}\") {{ id }} "))
        .collect();
    let (_, body) = gw.query(&format!("{{ {six} }}")).await;
    assert!(message(&body).contains("maxRootFields"), "{body}");
}

/// The estimate assumes list sizes; what upstreams really answer is bounded
/// at run time by the same limits, and the operation stops with one error.
#[tokio::test]
async fn run_time_limits_stop_an_operation_that_outgrows_its_estimate() {
    let blog = blog(300).await;
    // Estimated at 1 + 10 x 2 = 21; really 300 posts.
    let gw = blog_gateway(&blog, "maxCost: 100").await;
    let (_, body) = gw.query("{ posts { id title } }").await;
    assert_eq!(code(&body), "OPERATION_LIMIT_EXCEEDED", "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");

    // Estimated at 1 + 10 calls; really 1 + 30 distinct users (10 distinct
    // userIds: dedupe within the operation keeps it at 11 calls).
    let blog = blog_distinct_users(30).await;
    let gw = support::gateway(&blog_sdl("maxUpstreamCalls: 15"), &[&blog], &[]).await;
    let (_, body) = gw.query("{ posts { user { id } } }").await;
    assert_eq!(code(&body), "OPERATION_LIMIT_EXCEEDED", "{body}");
    assert!(message(&body).contains("maxUpstreamCalls"), "{body}");
    assert!(blog.state.count() <= 15, "{} calls", blog.state.count());
}

async fn blog_distinct_users(n: usize) -> MockService {
    let routes = Router::new()
        .route(
            "/posts",
            get(move || async move {
                Json(Value::Array(
                    (0..n)
                        .map(|i| json!({ "id": i.to_string(), "userId": i }))
                        .collect(),
                ))
            }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({ "id": id })) }),
        );
    support::mock("blog", 0, routes).await
}

/// Documents are cached by weight, and only those that validate.
#[tokio::test]
async fn the_document_cache_is_bounded_by_bytes_and_keeps_only_valid_documents() {
    let blog = blog(1).await;
    let (gw, gateway) =
        support::gateway_with_handle(&blog_sdl("documentCacheBytes: 2000000"), &[&blog], &[]).await;
    // 20 distinct 50 KB documents that fail validation: none is kept.
    for i in 0..20 {
        let padding = " ".repeat(50_000);
        let (_, body) = gw.query(&format!("{{ nope{i} {padding} }}")).await;
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    }
    assert_eq!(gateway.document_cache_bytes(), 0);
    // 40 distinct 50 KB valid documents (2 MB of text, 16 MB weighed): the
    // cache stays within its 2 MB.
    for i in 0..40 {
        let padding = " ".repeat(50_000);
        let (_, body) = gw.query(&format!("{{ a{i}: __typename {padding} }}")).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let weight = gateway.document_cache_bytes();
    assert!(weight > 0, "valid documents are cached");
    assert!(weight <= 2_000_000, "cache weighs {weight}");
}

/// Header values that differ only in bytes that are not UTF-8 are
/// different callers: no shared cache entry, no shared call.
#[tokio::test]
async fn callers_differing_in_non_utf8_header_bytes_never_share_an_answer() {
    let blog = blog(1).await;
    let gw = blog_gateway(&blog, "timeline: false").await;
    let mut answers = Vec::new();
    for auth in [&b"Bearer \xff\xfe"[..], &b"Bearer \xfe\xff"[..]] {
        let value = reqwest::header::HeaderValue::from_bytes(auth).expect("obs-text is allowed");
        let response = gw
            .client
            .post(gw.url())
            .header("authorization", value)
            .header("content-type", "application/json")
            .body(json!({ "query": "{ whoami { auth } }" }).to_string())
            .send()
            .await
            .expect("answers");
        let body: Value =
            serde_json::from_str(&response.text().await.expect("body")).expect("json");
        answers.push(body["data"]["whoami"]["auth"].clone());
    }
    assert_eq!(answers[0], json!("42656172657220fffe"));
    assert_eq!(answers[1], json!("42656172657220feff"));
    assert_eq!(blog.state.count(), 2);

    // Read into a template, such a value is refused, not read lossily.
    let value = reqwest::header::HeaderValue::from_bytes(b"\xff10").expect("obs-text");
    let response = gw
        .client
        .post(gw.url())
        .header("x-zip", value)
        .header("content-type", "application/json")
        .body(json!({ "query": "{ nearby { auth } }" }).to_string())
        .send()
        .await
        .expect("answers");
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(message(&body).contains("not UTF-8"), "{body}");
    assert_eq!(blog.state.count(), 2, "no call for the refused value");
}

/// `/users/{$args.id}` with `id: ""` would be `GET /users/`, the collection.
#[tokio::test]
async fn an_empty_path_value_makes_no_call() {
    let blog = blog(1).await;
    let gw = blog_gateway(&blog, "timeline: false").await;
    let (_, body) = gw.query(r#"{ user(id: "") { id } }"#).await;
    assert_eq!(body, json!({ "data": { "user": null } }));
    assert_eq!(blog.state.count(), 0);
    let (_, body) = gw.query(r#"{ user(id: "7") { id } }"#).await;
    assert_eq!(body["data"]["user"]["id"], "7");
}

/// The same header from two places would arrive twice upstream.
#[test]
fn check_refuses_headers_sent_twice() {
    let load = |sdl: &str| tributary::config::load("t.graphql", sdl, &|_| None);
    let userinfo_and_forwarded = r#"
schema @upstream(name: "a", url: "http://user:secret@127.0.0.1:1", forwardHeaders: ["authorization"]) { query: Query }
type Query { x: String @rest(upstream: "a", path: "/x") }
"#;
    let err = load(userinfo_and_forwarded)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("credentials (user:password@)"), "{err}");
    assert!(err.starts_with("t.graphql:2:"), "{err}");

    let templated_and_forwarded = r#"
schema @upstream(name: "a", url: "http://127.0.0.1:1", forwardHeaders: ["x-tenant"]) { query: Query }
type Query { x: String @rest(upstream: "a", path: "/x", headers: [{ name: "x-tenant", value: "fixed" }]) }
"#;
    let err = load(templated_and_forwarded)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("both sends header `x-tenant` and forwards"),
        "{err}"
    );

    let fixed_and_forwarded = r#"
schema @upstream(name: "a", url: "http://127.0.0.1:1", headers: [{ name: "x-key", value: "k" }], forwardHeaders: ["x-key"]) { query: Query }
type Query { x: String @rest(upstream: "a", path: "/x") }
"#;
    assert!(load(fixed_and_forwarded).is_err());

    let fixed_and_templated = r#"
schema @upstream(name: "a", url: "http://127.0.0.1:1", headers: [{ name: "x-key", value: "k" }]) { query: Query }
type Query { x: String @rest(upstream: "a", path: "/x", headers: [{ name: "x-key", value: "other" }]) }
"#;
    let err = load(fixed_and_templated).expect_err("refused").to_string();
    assert!(err.contains("sends header `x-key` twice"), "{err}");

    let fine = r#"
schema @upstream(name: "a", url: "http://127.0.0.1:1", forwardHeaders: ["authorization"]) { query: Query }
type Query { x: String @rest(upstream: "a", path: "/x", forwardHeaders: ["authorization"]) }
"#;
    load(fine).expect("the same header forwarded from two lists is forwarded once");
}

/// Asking for ids that make the upstream answer 500 must not open the
/// breaker for everyone; an upstream that answers 503 still does.
#[tokio::test]
async fn one_clients_bad_inputs_cannot_open_the_breaker_for_everyone() {
    let blog = blog(1).await;
    let gw = blog_gateway(&blog, "timeline: false").await;
    for _ in 0..30 {
        let (_, body) = gw.query(r#"{ user(id: "bad") { id } }"#).await;
        assert_eq!(code(&body), "UPSTREAM_HTTP_ERROR", "{body}");
    }
    let (_, body) = gw.query(r#"{ user(id: "1") { id } }"#).await;
    assert_eq!(
        body["data"]["user"]["id"], "1",
        "breaker opened by 500s: {body}"
    );

    // A fresh breaker: 503 describes the upstream, and opens it.
    let gw = blog_gateway(&blog, "timeline: false").await;
    for _ in 0..30 {
        gw.query(r#"{ user(id: "down") { id } }"#).await;
    }
    let (_, body) = gw.query(r#"{ user(id: "2") { id } }"#).await;
    assert_eq!(code(&body), "UPSTREAM_CIRCUIT_OPEN", "503s open it: {body}");
}

/// `tripsBreaker: false`: a binding whose failures follow its inputs is not
/// counted, even with 500 among the failure statuses.
#[tokio::test]
async fn a_binding_can_opt_out_of_tripping_the_breaker() {
    let blog = blog(1).await;
    let sdl = r#"
schema @upstream(name: "blog", url: "${BLOG_URL}", breaker: { failureStatuses: [500, 503], minCalls: 5 }) { query: Query }
type Query {
  user(id: String!): User @rest(upstream: "blog", path: "/users/{$args.id}", tripsBreaker: false)
  strict(id: String!): User @rest(upstream: "blog", path: "/users/{$args.id}")
}
type User { id: ID! }
"#;
    let gw = support::gateway(sdl, &[&blog], &[]).await;
    for _ in 0..20 {
        gw.query(r#"{ user(id: "bad") { id } }"#).await;
    }
    let (_, body) = gw.query(r#"{ strict(id: "1") { id } }"#).await;
    assert_eq!(body["data"]["strict"]["id"], "1", "{body}");
    for _ in 0..20 {
        gw.query(r#"{ strict(id: "bad") { id } }"#).await;
    }
    let (_, body) = gw.query(r#"{ user(id: "1") { id } }"#).await;
    assert_eq!(code(&body), "UPSTREAM_CIRCUIT_OPEN", "{body}");
}

/// The response a client gets is bounded.
#[tokio::test]
async fn responses_larger_than_max_response_bytes_are_replaced_by_an_error() {
    let blog = blog(200).await;
    let gw = blog_gateway(&blog, "maxResponseBytes: 2000").await;
    let (status, body) = gw.query("{ posts(n: 200) { id title } }").await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "RESPONSE_TOO_LARGE", "{body}");
    assert!(body["data"].is_null());
    let (_, body) = gw.query("{ posts(n: 2) { id } }").await;
    assert!(body["errors"].is_null(), "{body}");
}

/// One request cannot hold a worker for longer than maxRequestTime.
#[tokio::test]
async fn requests_are_dropped_after_max_request_time() {
    let routes = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(json!("late"))
        }),
    );
    let slow = support::mock("slow", 0, routes).await;
    let sdl = r#"
schema @server(maxRequestTime: "300ms") @upstream(name: "slow", url: "${SLOW_URL}", timeout: "30s") { query: Query }
type Query { slow: String @rest(upstream: "slow", path: "/slow") }
"#;
    let gw = support::gateway(sdl, &[&slow], &[]).await;
    let started = Instant::now();
    let (_, body) = gw.query("{ slow }").await;
    assert_eq!(code(&body), "REQUEST_TIMEOUT", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

// --- Connections --------------------------------------------------------

async fn connections_gateway(server: &str) -> (TestGateway, MockService) {
    let blog = blog(1).await;
    let gw = blog_gateway(&blog, server).await;
    (gw, blog)
}

fn addr(gw: &TestGateway) -> std::net::SocketAddr {
    gw.running.addr
}

/// Reads until the peer closes (or `limit` passes); returns what arrived
/// and whether the connection was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// Half-sent headers (slowloris) are cut after headerReadTimeout.
#[tokio::test]
async fn half_sent_headers_are_cut_after_the_header_timeout() {
    let (gw, _blog) = connections_gateway(r#"headerReadTimeout: "300ms""#).await;
    let mut stream = TcpStream::connect(addr(&gw)).await.expect("connects");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .expect("writes");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "still open after 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A body that never finishes gets 408 after bodyReadTimeout.
#[tokio::test]
async fn half_sent_bodies_get_408_after_the_body_timeout() {
    let (gw, _blog) = connections_gateway(r#"bodyReadTimeout: "300ms""#).await;
    let mut stream = TcpStream::connect(addr(&gw)).await.expect("connects");
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":")
        .await
        .expect("writes");
    let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("bodyReadTimeout"), "{reply}");
}

/// Idle keep-alive connections are closed; one that never sends anything
/// too.
#[tokio::test]
async fn idle_connections_are_closed() {
    let (gw, _blog) =
        connections_gateway(r#"idleTimeout: "300ms", headerReadTimeout: "30s""#).await;
    let mut silent = TcpStream::connect(addr(&gw)).await.expect("connects");
    let mut used = TcpStream::connect(addr(&gw)).await.expect("connects");
    used.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("writes");
    let started = Instant::now();
    let (reply, closed) = read_until_closed(&mut used, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(closed, "kept-alive connection still open after 5 s");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "silent connection still open");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// Over maxConnections, a new connection waits briefly, then gets 503;
/// connections already open keep working.
#[tokio::test]
async fn connections_over_the_cap_get_503_and_open_ones_keep_working() {
    let (gw, _blog) =
        connections_gateway(r#"maxConnections: 4, connectionWait: "200ms", idleTimeout: "30s""#)
            .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr(&gw)).await.expect("connects"));
    }
    // Let the gateway take them all.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(addr(&gw))
        .await
        .expect("the kernel accepts");
    let (reply, closed) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(closed);

    let first = &mut held[0];
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("writes");
    let (reply, _) = read_until_closed(first, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // A place is free again: a new connection is served.
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = gw
        .client
        .get(format!("{}/healthz", gw.running.url()))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 200);
}

/// Work stops when the client goes away: a dependent call that would start
/// after the client hung up is never made.
#[tokio::test]
async fn work_stops_when_the_client_goes_away() {
    let routes = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                Json(json!({ "id": "1" }))
            }),
        )
        .route(
            "/child/{id}",
            get(|Path(id): Path<String>| async move { Json(json!(id)) }),
        );
    let svc = support::mock("svc", 0, routes).await;
    let sdl = r#"
schema @upstream(name: "svc", url: "${SVC_URL}") { query: Query }
type Query { slow: Slow @rest(upstream: "svc", path: "/slow") }
type Slow { id: ID! child: String @rest(upstream: "svc", path: "/child/{$parent.id}") }
"#;
    let gw = support::gateway(sdl, &[&svc], &[]).await;
    let body = r#"{"query":"{ slow { child } }"}"#;
    let mut stream = TcpStream::connect(addr(&gw)).await.expect("connects");
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(svc.state.count(), 1, "the first call is under way");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let children = svc
        .state
        .hits()
        .iter()
        .filter(|h| h.target.starts_with("/child"))
        .count();
    assert_eq!(
        children, 0,
        "the dependent call was made after the client left"
    );

    // The same query with the client waiting makes both calls.
    let (_, body) = gw.query("{ slow { child } }").await;
    assert_eq!(body["data"]["slow"]["child"], "1", "{body}");
}
