//! GraphQL over HTTP, as clients speak it: media types, request errors,
//! malformed requests, GET, limits, introspection and operation selection.
//!
//! Most stories run on the demo schema with zero-latency upstreams; the limit
//! stories use a one-upstream schema whose `@server` sets the limit under test.

mod support;

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::{DEMO_SCHEMA, Demo, MockService};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const PRODUCT_QUERY: &str = r#"{ product(id: "42") { id details { name } } }"#;

/// The demo upstreams (answering at once) behind a gateway on the demo schema.
async fn demo_gateway() -> (Demo, TestGateway) {
    let demo = Demo::start(Some(Duration::ZERO))
        .await
        .expect("demo upstreams start");
    let mocks: Vec<&MockService> = demo.services.iter().collect();
    let gw = support::gateway(DEMO_SCHEMA, &mocks, &[]).await;
    (demo, gw)
}

/// Upstream calls the demo services have received so far.
fn upstream_calls(demo: &Demo) -> usize {
    demo.services.iter().map(|s| s.state.count()).sum()
}

/// A `users` upstream: `/users/N` is `{id, name: "User N", friendId: N+1}`.
async fn users_upstream() -> MockService {
    let routes = Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<u32>| async move {
            Json(json!({
                "id": id.to_string(),
                "name": format!("User {id}"),
                "friendId": (id + 1).to_string(),
            }))
        }),
    );
    support::mock("users", 0, routes).await
}

/// A small schema on the `users` upstream, with `@server(server_args)`.
async fn users_gateway(users: &MockService, server_args: &str) -> TestGateway {
    let sdl = format!(
        r#"
schema
  @server({server_args})
  @upstream(name: "users", url: "${{USERS_URL}}")
{{
  query: Query
}}

type Query {{
  user(id: ID!): User @rest(upstream: "users", path: "/users/{{$args.id}}")
}}

type User {{
  id: ID!
  name: String!
  friendId: ID
  friend: User @rest(upstream: "users", path: "/users/{{$parent.friendId}}")
}}
"#
    );
    support::gateway(&sdl, &[users], &[]).await
}

/// What came back, whatever its media type.
struct Reply {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body reads");
    Reply {
        status,
        content_type,
        headers,
        text,
    }
}

/// POSTs `body` as `application/json` with an optional `Accept`.
async fn post(gw: &TestGateway, body: &Value, accept: Option<&str>) -> Reply {
    let mut request = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    send(request).await
}

/// `GET /graphql?params` with `Accept: accept` and no content type.
async fn get_with(gw: &TestGateway, params: &[(&str, &str)], accept: &str) -> Reply {
    let url = url::Url::parse_with_params(&gw.url(), params).expect("valid URL");
    send(gw.client.get(url).header("accept", accept)).await
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no errors[0].extensions.code in {body}"))
}

#[tokio::test]
async fn post_json_returns_data() {
    let (_demo, gw) = demo_gateway().await;

    let reply = post(&gw, &json!({ "query": PRODUCT_QUERY }), None).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert_eq!(
        reply.json(),
        json!({ "data": { "product": { "id": "42", "details": { "name": "Product 42" } } } })
    );
}

#[tokio::test]
async fn accept_header_picks_the_response_media_type() {
    let (_demo, gw) = demo_gateway().await;
    let body = json!({ "query": PRODUCT_QUERY });
    let cases = [
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (
            Some("application/json;q=0.5, application/graphql-response+json"),
            GRAPHQL_RESPONSE,
        ),
    ];
    for (accept, expected) in cases {
        let reply = post(&gw, &body, accept).await;
        assert_eq!(reply.status, 200, "Accept {accept:?}: {}", reply.text);
        assert_eq!(
            reply.content_type.split(';').next(),
            Some(expected),
            "Accept {accept:?}"
        );
        assert_eq!(
            reply.json()["data"]["product"]["details"]["name"],
            "Product 42"
        );
    }

    let reply = post(&gw, &body, Some("text/plain")).await;
    assert_eq!(reply.status, 406, "{}", reply.text);
}

#[tokio::test]
async fn request_errors_have_no_data_and_a_status_per_media_type() {
    let (demo, gw) = demo_gateway().await;
    let cases = [
        (
            "syntax error",
            json!({ "query": r#"{ product(id: "42") { details { name } "# }),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "unknown field",
            json!({ "query": r#"{ product(id: "42") { colour details { name } } }"# }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "bad variable type",
            json!({
                "query": r#"query($limit: Int) { product(id: "42") { details { name } recommendations(limit: $limit) { productId } } }"#,
                "variables": { "limit": "many" },
            }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "missing required variable",
            json!({ "query": "query($id: ID!) { product(id: $id) { details { name } } }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "null for a required variable",
            json!({
                "query": "query($id: ID!) { product(id: $id) { details { name } } }",
                "variables": { "id": null },
            }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (what, body, code) in &cases {
        let reply = post(&gw, body, Some(GRAPHQL_RESPONSE)).await;
        let json = reply.json();
        assert_eq!(reply.status, 400, "{what}: {json}");
        assert!(reply.content_type.starts_with(GRAPHQL_RESPONSE), "{what}");
        assert!(json.get("data").is_none(), "{what}: {json}");
        assert_eq!(error_code(&json), *code, "{what}: {json}");

        // The legacy media type says 200 for every well-formed request.
        let reply = post(&gw, body, Some("application/json")).await;
        let json = reply.json();
        assert_eq!(reply.status, 200, "{what}: {json}");
        assert!(reply.content_type.starts_with("application/json"), "{what}");
        assert!(json.get("data").is_none(), "{what}: {json}");
        assert_eq!(error_code(&json), *code, "{what}: {json}");
    }
    assert_eq!(
        upstream_calls(&demo),
        0,
        "a refused request reached upstreams"
    );
}

#[tokio::test]
async fn malformed_requests_get_400_with_a_clear_message() {
    let (_demo, gw) = demo_gateway().await;
    let cases = [
        (
            r#"{"query": "{ __typename }""#,
            "the body is not valid JSON",
        ),
        (
            r#"[{"query": "{ __typename }"}]"#,
            "the body must be a JSON object",
        ),
        (r#"{"variables": {}}"#, "the body has no `query`"),
        (r#"{"query": 42}"#, "`query` must be a string"),
        (
            r#"{"query": "{ __typename }", "variables": [1]}"#,
            "`variables` must be an object",
        ),
    ];
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        for (body, message) in cases {
            let reply = send(
                gw.client
                    .post(gw.url())
                    .header("content-type", "application/json")
                    .header("accept", accept)
                    .body(body),
            )
            .await;
            let json = reply.json();
            assert_eq!(reply.status, 400, "{body} ({accept}): {json}");
            assert!(json.get("data").is_none(), "{body}: {json}");
            assert_eq!(error_code(&json), "BAD_REQUEST", "{body}: {json}");
            let got = json["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(got.contains(message), "{body}: `{got}` lacks `{message}`");
        }
    }
}

#[tokio::test]
async fn post_bodies_that_are_not_json_get_415() {
    let (demo, gw) = demo_gateway().await;
    let body = json!({ "query": PRODUCT_QUERY }).to_string();

    let reply = send(
        gw.client
            .post(gw.url())
            .header("content-type", "text/plain")
            .body(body.clone()),
    )
    .await;
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert!(reply.text.contains("application/json"), "{}", reply.text);

    let reply = send(gw.client.post(gw.url()).body(body)).await;
    assert_eq!(reply.status, 415, "no content type: {}", reply.text);
    assert_eq!(upstream_calls(&demo), 0);
}

/// A POST body of exactly `len` bytes: a user query padded with a comment.
fn body_of_len(len: usize) -> String {
    let body = |pad: &str| json!({ "query": format!("#{pad}\n{{ user(id: \"1\") {{ id }} }}") });
    let bare = body("").to_string().len();
    let text = body(&"x".repeat(len - bare)).to_string();
    assert_eq!(text.len(), len);
    text
}

#[tokio::test]
async fn bodies_over_max_body_bytes_get_413_and_the_gateway_keeps_serving() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxBodyBytes: 1000").await;
    let post_text = |body: String| {
        gw.client
            .post(gw.url())
            .header("content-type", "application/json")
            .body(body)
    };

    let at_limit = send(post_text(body_of_len(1000))).await;
    assert_eq!(at_limit.status, 200, "{}", at_limit.text);
    assert_eq!(at_limit.json()["data"]["user"]["id"], "1");

    let over = send(post_text(body_of_len(1001))).await;
    assert_eq!(over.status, 413, "{}", over.text);
    assert!(over.text.contains("maxBodyBytes"), "{}", over.text);

    // Chunked, so no Content-Length announces the size: still refused.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..4)
        .map(|_| Ok(bytes::Bytes::from(vec![b' '; 500])))
        .collect();
    let streamed = send(
        gw.client
            .post(gw.url())
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!(streamed.status, 413, "{}", streamed.text);

    let (status, body) = gw.query(r#"{ user(id: "7") { name } }"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "data": { "user": { "name": "User 7" } } }));
}

#[tokio::test]
async fn get_works_the_way_urql_sends_it() {
    let (_demo, gw) = demo_gateway().await;
    let reply = get_with(
        &gw,
        &[
            (
                "query",
                "query Page($id: ID!) { product(id: $id) { details { name } } }",
            ),
            ("operationName", "Page"),
            ("variables", r#"{"id":"7"}"#),
        ],
        "application/graphql-response+json, application/json",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with(GRAPHQL_RESPONSE),
        "{}",
        reply.content_type
    );
    assert_eq!(
        reply.json(),
        json!({ "data": { "product": { "details": { "name": "Product 7" } } } })
    );
}

#[tokio::test]
async fn get_mutation_is_405_and_never_reaches_the_upstream() {
    let (demo, gw) = demo_gateway().await;
    let reply = get_with(
        &gw,
        &[("query", r#"mutation { placeOrder(productId: "1") { id } }"#)],
        "application/graphql-response+json, application/json",
    )
    .await;
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    assert_eq!(upstream_calls(&demo), 0, "the mutation was executed");

    // The same mutation over POST does run.
    let (status, body) = gw
        .query(r#"mutation { placeOrder(productId: "1") { productId status } }"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["placeOrder"]["status"], "CREATED", "{body}");
}

#[tokio::test]
async fn browsers_get_graphiql_and_probes_get_200() {
    let (_demo, gw) = demo_gateway().await;
    let base = gw.running.url();
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    let on_graphql = send(gw.client.get(gw.url()).header("accept", html)).await;
    assert_eq!(on_graphql.status, 200);
    assert!(
        on_graphql.content_type.starts_with("text/html"),
        "{}",
        on_graphql.content_type
    );
    assert!(on_graphql.text.contains("GraphiQL"), "{}", on_graphql.text);

    let on_root = send(gw.client.get(format!("{base}/")).header("accept", html)).await;
    assert_eq!(on_root.status, 200);
    assert_eq!(on_root.text, on_graphql.text);

    for probe in ["/healthz", "/readyz"] {
        let reply = send(gw.client.get(format!("{base}{probe}"))).await;
        assert_eq!(reply.status, 200, "{probe}: {}", reply.text);
    }
}

#[tokio::test]
async fn max_depth_refuses_deeper_queries_before_calling_upstreams() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxDepth: 3").await;

    let (status, body) = gw.query(r#"{ user(id: "1") { friend { name } } }"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "user": { "friend": { "name": "User 2" } } } })
    );

    let calls = users.state.count();
    let reply = post(
        &gw,
        &json!({ "query": r#"{ user(id: "1") { friend { friend { name } } } }"# }),
        Some(GRAPHQL_RESPONSE),
    )
    .await;
    let json = reply.json();
    assert_eq!(reply.status, 400, "{json}");
    assert!(json.get("data").is_none(), "{json}");
    assert_eq!(error_code(&json), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        json["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested too deep")),
        "{json}"
    );
    assert_eq!(
        users.state.count(),
        calls,
        "the deep query reached upstreams"
    );
}

#[tokio::test]
async fn max_complexity_refuses_costlier_queries_before_calling_upstreams() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxComplexity: 4").await;

    // One point per field: user + id + name + friendId = 4 (`maxComplexity`
    // is the older name of `maxCost`).
    let (status, body) = gw.query(r#"{ user(id: "1") { id name friendId } }"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["friendId"], "2", "{body}");

    // The same plus friend { id }: 6.
    let calls = users.state.count();
    let reply = post(
        &gw,
        &json!({ "query": r#"{ user(id: "1") { id name friendId friend { id } } }"# }),
        Some(GRAPHQL_RESPONSE),
    )
    .await;
    let json = reply.json();
    assert_eq!(reply.status, 400, "{json}");
    assert!(json.get("data").is_none(), "{json}");
    assert_eq!(error_code(&json), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        json["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("costs 6, more than maxCost (4)")),
        "{json}"
    );
    assert_eq!(
        users.state.count(),
        calls,
        "the costly query reached upstreams"
    );
}

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";

#[tokio::test]
async fn introspection_answers_by_default() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxDepth: 10").await;
    let (status, body) = gw.query(INTROSPECTION).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "__schema": { "queryType": { "name": "Query" } } } })
    );
}

#[tokio::test]
async fn introspection_false_disables_it() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "introspection: false").await;
    let reply = post(
        &gw,
        &json!({ "query": INTROSPECTION }),
        Some(GRAPHQL_RESPONSE),
    )
    .await;
    let json = reply.json();
    assert_eq!(reply.status, 400, "{json}");
    assert!(json.get("data").is_none(), "{json}");
    assert_eq!(error_code(&json), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(
        json["errors"][0]["message"],
        r#"Unknown field "__schema" on type "Query"."#
    );

    // Ordinary queries are unaffected.
    let (status, body) = gw.query(r#"{ user(id: "3") { name } }"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["name"], "User 3");
}

#[tokio::test]
async fn operation_name_selects_one_of_several_operations() {
    let (demo, gw) = demo_gateway().await;
    let document = r#"
        query First { product(id: "1") { details { name } } }
        query Second { product(id: "2") { details { name } } }
    "#;
    for (name, product) in [("Second", "Product 2"), ("First", "Product 1")] {
        let reply = post(
            &gw,
            &json!({ "query": document, "operationName": name }),
            Some(GRAPHQL_RESPONSE),
        )
        .await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({ "data": { "product": { "details": { "name": product } } } })
        );
    }

    let calls = upstream_calls(&demo);
    for operation_name in [Value::Null, json!("Third")] {
        let reply = post(
            &gw,
            &json!({ "query": document, "operationName": operation_name }),
            Some(GRAPHQL_RESPONSE),
        )
        .await;
        let json = reply.json();
        assert_eq!(reply.status, 400, "operationName {operation_name}: {json}");
        assert!(json.get("data").is_none(), "{json}");
        assert!(json["errors"][0]["message"].is_string(), "{json}");
    }
    assert_eq!(upstream_calls(&demo), calls);
}

/// A request error is reported once, not once per engine pass.
#[tokio::test]
async fn a_mutation_on_a_schema_without_mutations_is_one_request_error() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxDepth: 10").await;
    let reply = post(
        &gw,
        &json!({ "query": "mutation { x }" }),
        Some(GRAPHQL_RESPONSE),
    )
    .await;
    let json = reply.json();
    assert_eq!(reply.status, 400, "{json}");
    assert_eq!(json["errors"].as_array().map(Vec::len), Some(1), "{json}");
    assert!(json.get("data").is_none(), "{json}");
}

/// Directives are validated (spec 5.7): unknown ones, a missing `if`, and a
/// repeated one are request errors at the directive's location; `@skip` and
/// `@include` work.
#[tokio::test]
async fn directives_are_validated_before_execution() {
    let users = users_upstream().await;
    let gw = users_gateway(&users, "maxDepth: 10").await;
    for (query, column) in [
        ("{ user(id: \"1\") { id @nope } }", 22),
        ("{ user(id: \"1\") { id @skip } }", 22),
        // graphql-js lists both: the first is where the directive began.
        (
            "{ user(id: \"1\") { id @skip(if: false) @skip(if: false) } }",
            22,
        ),
    ] {
        let reply = post(&gw, &json!({ "query": query }), Some(GRAPHQL_RESPONSE)).await;
        let json = reply.json();
        assert_eq!(reply.status, 400, "{query}: {json}");
        assert_eq!(error_code(&json), "GRAPHQL_VALIDATION_FAILED", "{json}");
        assert_eq!(
            json["errors"][0]["locations"][0]["column"], column,
            "{query}: {json}"
        );
    }
    assert_eq!(
        users.state.count(),
        0,
        "no refused document reached the upstream"
    );
    let (status, body) = gw
        .query(r#"{ user(id: "1") { id @skip(if: true) name @include(if: true) } }"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "user": { "name": "User 1" } } }));
}

/// Variable values are coerced on every request, also once the document is
/// cached (and the engine no longer validates it): a bad value is a request
/// error at the variable's definition, with graphql-js's message, and no
/// upstream is called.
#[tokio::test]
async fn variable_values_are_checked_on_every_request_of_a_cached_document() {
    let (demo, gw) = demo_gateway().await;
    let query = "query Recs($id: ID!, $n: Int) { product(id: $id) { recommendations(limit: $n) { productId } } }";
    let good = post(
        &gw,
        &json!({"query": query, "variables": {"id": "42", "n": 2}}),
        None,
    )
    .await;
    assert_eq!(good.status, 200, "{}", good.text);
    assert!(good.json()["errors"].is_null(), "{}", good.text);
    // The document is cached now; every bad value below is still refused.
    let before = upstream_calls(&demo);
    let cases = [
        (
            json!({"id": "42", "n": 3_000_000_000u64}),
            "Variable \"$n\" got invalid value 3000000000; Int cannot represent non 32-bit signed integer value: 3000000000",
        ),
        (
            json!({"id": "42", "n": 1.5}),
            "Variable \"$n\" got invalid value 1.5; Int cannot represent non-integer value: 1.5",
        ),
        (
            json!({"id": true}),
            "Variable \"$id\" got invalid value true; ID cannot represent value: true",
        ),
        (
            json!({"n": 2}),
            "Variable \"$id\" of required type \"ID!\" was not provided.",
        ),
        (
            json!({"id": null}),
            "Variable \"$id\" of non-null type \"ID!\" must not be null.",
        ),
    ];
    for (variables, message) in cases {
        let reply = post(&gw, &json!({"query": query, "variables": variables}), None).await;
        let body = reply.json();
        assert_eq!(body["errors"][0]["message"], message, "{}", reply.text);
        assert!(
            body.get("data").is_none(),
            "no data for a request error: {body}"
        );
        let column = query.find("$").expect("a variable") + 1;
        let expected_column = if message.contains("\"$n\"") {
            query.find("$n").expect("$n") + 1
        } else {
            column
        };
        assert_eq!(
            body["errors"][0]["locations"],
            json!([{"line": 1, "column": expected_column}]),
            "located at the variable definition: {body}"
        );
    }
    assert_eq!(
        upstream_calls(&demo),
        before,
        "no upstream call for a bad value"
    );
}

/// An `Int` literal outside 32 bits is a validation error at the value, and
/// reaches no upstream (the engine alone accepts it).
#[tokio::test]
async fn int_literals_outside_32_bits_are_refused() {
    let (demo, gw) = demo_gateway().await;
    let query = r#"{ product(id: "42") { recommendations(limit: 3000000000) { productId } } }"#;
    let reply = post(&gw, &json!({ "query": query }), Some(GRAPHQL_RESPONSE)).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let body = reply.json();
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(
        body["errors"][0]["message"],
        "Int cannot represent non 32-bit signed integer value: 3000000000"
    );
    let column = query.find("3000000000").expect("the literal") + 1;
    assert_eq!(
        body["errors"][0]["locations"],
        json!([{"line": 1, "column": column}])
    );
    assert_eq!(upstream_calls(&demo), 0, "no upstream call");
    // The largest Int is fine.
    let ok = post(
        &gw,
        &json!({ "query": query.replace("3000000000", "2147483647") }),
        None,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// Two selections merged into one response field fail with one error that
/// has both locations (spec 6.4.4).
#[tokio::test]
async fn a_merged_field_that_fails_reports_one_error_with_every_location() {
    let (_demo, gw) = demo_gateway().await;
    let query = "{ product(id: \"500\") { details { name } }\n  product(id: \"500\") { details { brand } } }";
    let reply = post(&gw, &json!({ "query": query }), None).await;
    let body = reply.json();
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "one error for the one field: {body}");
    assert_eq!(errors[0]["path"], json!(["product", "details"]));
    assert_eq!(
        errors[0]["locations"].as_array().map(Vec::len),
        Some(2),
        "both selections' locations: {body}"
    );
    assert_eq!(body["data"]["product"]["details"], Value::Null);
}

/// What the parser refuses that the spec calls validation rules gets
/// graphql-js's texts and the validation code; a fragment cycle says so.
#[tokio::test]
async fn duplicate_names_and_fragment_cycles_are_validation_errors() {
    let (demo, gw) = demo_gateway().await;
    let cases = [
        (
            "query Q { __typename } query Q { __typename }",
            "There can be only one operation named \"Q\".",
            json!([{"line": 1, "column": 7}, {"line": 1, "column": 30}]),
        ),
        (
            "{ __typename } query Q { __typename }",
            "This anonymous operation must be the only defined operation.",
            json!([{"line": 1, "column": 1}]),
        ),
        (
            "{ ...F } fragment F on Query { __typename } fragment F on Query { __typename }",
            "There can be only one fragment named \"F\".",
            json!([{"line": 1, "column": 19}, {"line": 1, "column": 54}]),
        ),
    ];
    for (query, message, locations) in cases {
        let reply = post(&gw, &json!({ "query": query }), Some(GRAPHQL_RESPONSE)).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        let body = reply.json();
        assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{query}");
        assert_eq!(body["errors"][0]["message"], message, "{query}");
        assert_eq!(body["errors"][0]["locations"], locations, "{query}");
    }
    let cycle = "{ product(id: \"1\") { ...A } } fragment A on Product { id ...B } fragment B on Product { ...A }";
    let reply = post(&gw, &json!({ "query": cycle }), Some(GRAPHQL_RESPONSE)).await;
    let body = reply.json();
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(
        body["errors"][0]["message"],
        "Cannot spread fragment \"A\" within itself via \"B\"."
    );
    assert_eq!(upstream_calls(&demo), 0, "nothing reached an upstream");
}

/// Validation errors as graphql-js gives them: a leaf with a selection is
/// reported at the selection, without follow-on errors for its fields; a
/// literal of the wrong type says why, at the value.
#[tokio::test]
async fn engine_validation_errors_read_as_graphql_js_writes_them() {
    let (_demo, gw) = demo_gateway().await;
    let query = r#"{ product(id: "42") { id { x } } }"#;
    let body = post(&gw, &json!({ "query": query }), None).await.json();
    assert_eq!(
        body["errors"],
        json!([{
            "message": "Field \"id\" must not have a selection since type \"ID!\" has no subfields.",
            "locations": [{"line": 1, "column": query.find("{ x").expect("selection") + 1}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }]),
        "{body}"
    );
    let query = r#"{ product(id: "42") { recommendations(limit: "x") { productId } } }"#;
    let body = post(&gw, &json!({ "query": query }), None).await.json();
    assert_eq!(
        body["errors"][0]["message"], "Int cannot represent non-integer value: \"x\"",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["locations"],
        json!([{"line": 1, "column": query.find("\"x\"").expect("value") + 1}])
    );
}

/// The demo schema is validated by the spec-complete validator, not only by
/// the engine (whose validator lets these through): a variable of the
/// wrong type (5.8.5) and a duplicate input field (5.6.3) are refused, with
/// graphql-js's locations, and nothing reaches an upstream.
#[tokio::test]
async fn the_demo_schema_gets_every_validation_rule() {
    let (demo, gw) = demo_gateway().await;
    let query = r#"query ($id: String!) { product(id: $id) { id } }"#;
    let body = post(
        &gw,
        &json!({ "query": query, "variables": { "id": "1" } }),
        None,
    )
    .await
    .json();
    assert_eq!(
        body["errors"],
        json!([{
            "message": "Variable \"$id\" of type \"String!\" used in position expecting type \"ID!\".",
            "locations": [{"line": 1, "column": 8}, {"line": 1, "column": 36}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}
        }]),
        "{body}"
    );
    let query = r#"{ product(id: "1") { id @skip(if: false) @skip(if: true) } }"#;
    let body = post(&gw, &json!({ "query": query }), None).await.json();
    assert_eq!(
        body["errors"][0]["locations"],
        json!([{"line": 1, "column": 25}, {"line": 1, "column": 42}]),
        "{body}"
    );
    assert_eq!(upstream_calls(&demo), 0, "nothing reached an upstream");
}
