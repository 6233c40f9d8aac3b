//! Rate limits, end to end: real gateways on 127.0.0.1, real HTTP, and a
//! real `redis-server` for the shared budget.
//!
//! A client over its `@server(rateLimit:)` gets 429 with `Retry-After` and
//! a `RATE_LIMITED` error before anything runs; keys (a header, the IP
//! behind trusted proxies, the operation name) have buckets of their own;
//! buckets refill at their rate and never hold more than their burst; an
//! upstream over its `rateLimit` fails the call, and the field's `@onError`
//! applies; replicas sharing Redis share one budget, and traffic passes
//! while Redis is gone; many keys do not grow memory past `maxKeys`.

mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};
use support::TestGateway;
use support::redis::Redis;
use tributary::demo::MockService;

/// An upstream answering `GET /items/{id}` with `{ "id": id }`.
async fn items() -> MockService {
    support::mock(
        "items",
        0,
        Router::new().route(
            "/items/{id}",
            get(|Path(id): Path<String>| async move { axum::Json(json!({ "id": id })) }),
        ),
    )
    .await
}

/// A schema over `items` with `server` as its `@server` (and `extra`
/// schema directives).
fn sdl(server: &str, upstream_extra: &str, extra: &str) -> String {
    format!(
        r#"schema @upstream(name: "items", url: "${{ITEMS_URL}}"{upstream_extra}) {server} {extra} {{ query: Query }}
type Query {{
  item(id: ID!): Item @rest(upstream: "items", path: "/items/{{$args.id}}") @onError(use: NULL)
}}
type Item {{ id: ID! }}
"#
    )
}

/// What a request got: status, `Retry-After`, body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn ask(gw: &TestGateway, query: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("text").parse().expect("whole seconds"));
    let text = response.text().await.expect("body reads");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer {
        status,
        retry_after,
        body,
    }
}

const ONE: &str = r#"{ item(id: "1") { id } }"#;

/// Requests answered 200 until the first 429 (at most `cap`).
async fn allowed_until_refused(gw: &TestGateway, headers: &[(&str, &str)], cap: usize) -> usize {
    for n in 0..cap {
        let answer = ask(gw, ONE, headers).await;
        match answer.status {
            200 => {}
            429 => return n,
            other => panic!("unexpected status {other}: {}", answer.body),
        }
    }
    cap
}

async fn metrics(gw: &TestGateway) -> String {
    gw.client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}

/// The value of the sample `name{labels}` in the metrics text.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test]
async fn an_over_limit_request_gets_429_retry_after_and_a_coded_error_before_anything_runs() {
    let items = items().await;
    let server = r#"@server(rateLimit: { key: "header:x-api-key", rate: 2, per: "1m" })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    let key = [("x-api-key", "alpha")];
    for _ in 0..2 {
        let answer = ask(&gw, ONE, &key).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["data"]["item"]["id"], "1");
    }
    let calls = items.state.count();
    let refused = ask(&gw, ONE, &key).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    // One token per 30 s: the next is back within 30 s, rounded up.
    let retry_after = refused.retry_after.expect("a Retry-After header");
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert!(refused.body.get("data").is_none(), "{}", refused.body);
    let error = &refused.body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "RATE_LIMITED",
        "{}",
        refused.body
    );
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains("header:x-api-key"), "{message}");
    // The key's value (a credential) is never echoed.
    assert!(!message.contains("alpha"), "{message}");
    // Refused before the engine ran: no upstream call.
    assert_eq!(items.state.count(), calls);
    // GET gets the same, with either media type.
    let get = gw
        .client
        .get(format!("{}?query={{__typename}}", gw.url()))
        .header("x-api-key", "alpha")
        .header("accept", "application/json")
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(get.status().as_u16(), 429);
    assert!(get.headers().contains_key("retry-after"));
    let text = metrics(&gw).await;
    assert_eq!(
        sample(
            &text,
            r#"tributary_rate_limit_decisions_total{limit="client:header:x-api-key",result="allowed"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"tributary_rate_limit_decisions_total{limit="client:header:x-api-key",result="refused"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn each_header_value_has_a_bucket_of_its_own() {
    let items = items().await;
    let server = r#"@server(rateLimit: { key: "header:x-api-key", rate: 3, per: "1m" })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    assert_eq!(
        allowed_until_refused(&gw, &[("x-api-key", "a")], 10).await,
        3
    );
    // Another key is untouched by the first one's use.
    assert_eq!(
        allowed_until_refused(&gw, &[("x-api-key", "b")], 10).await,
        3
    );
    // Requests without the header share one bucket of their own.
    assert_eq!(allowed_until_refused(&gw, &[], 10).await, 3);
    assert_eq!(ask(&gw, ONE, &[("x-api-key", "a")]).await.status, 429);
}

#[tokio::test]
async fn the_ip_behind_trusted_proxies_is_the_key_and_a_spoofed_forwarded_for_is_ignored() {
    let items = items().await;
    let server = r#"@server(rateLimit: { key: "ip", rate: 2, per: "1m", trustedProxies: 1 })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    // The proxy appended the client's address (203.0.113.7); what the client
    // wrote itself, to the left, changes on every request.
    for spoof in ["198.51.100.1", "198.51.100.2"] {
        let xff = format!("{spoof}, 203.0.113.7");
        assert_eq!(
            ask(&gw, ONE, &[("x-forwarded-for", &xff)]).await.status,
            200
        );
    }
    let refused = ask(
        &gw,
        ONE,
        &[("x-forwarded-for", "198.51.100.3, 203.0.113.7")],
    )
    .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    // Another client behind the same proxy has its own budget.
    let other = [("x-forwarded-for", "203.0.113.8")];
    assert_eq!(allowed_until_refused(&gw, &other, 10).await, 2);

    // Without trusted proxies the socket's peer is the client, whatever the
    // header says.
    let server = r#"@server(rateLimit: { key: "ip", rate: 2, per: "1m" })"#;
    let direct = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    assert_eq!(
        ask(&direct, ONE, &[("x-forwarded-for", "192.0.2.1")])
            .await
            .status,
        200
    );
    assert_eq!(
        ask(&direct, ONE, &[("x-forwarded-for", "192.0.2.2")])
            .await
            .status,
        200
    );
    assert_eq!(
        ask(&direct, ONE, &[("x-forwarded-for", "192.0.2.3")])
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn operation_names_are_keys() {
    let items = items().await;
    let server = r#"@server(rateLimit: { key: "operation", rate: 1, per: "1m" })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    let a = r#"query A { item(id: "1") { id } }"#;
    let b = r#"query B { item(id: "1") { id } }"#;
    assert_eq!(ask(&gw, a, &[]).await.status, 200);
    let refused = ask(&gw, a, &[]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(
        refused.body["errors"][0]["extensions"]["code"],
        "RATE_LIMITED"
    );
    assert_eq!(ask(&gw, b, &[]).await.status, 200);
    // The name a client gives picks the operation of a document, and so the key.
    let both = format!("{a} {b}");
    let named = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .body(json!({ "query": both, "operationName": "C" }).to_string())
        .send()
        .await
        .expect("gateway answers");
    // `C` has a bucket of its own (the engine then says there is no such
    // operation): it was not refused.
    assert_ne!(named.status().as_u16(), 429);
    let named_b = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .body(json!({ "query": both, "operationName": "B" }).to_string())
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(named_b.status().as_u16(), 429);
}

#[tokio::test]
async fn a_bucket_gives_its_burst_then_refills_at_its_rate_and_never_past_its_burst() {
    let items = items().await;
    // A token a second, five at most.
    let server = r#"@server(rateLimit: { key: "header:x-api-key", rate: 1, per: "1s", burst: 5 })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    let key = [("x-api-key", "k")];
    let started = Instant::now();
    let burst = allowed_until_refused(&gw, &key, 20).await;
    // The burst, plus at most the tokens back while it was being spent.
    let spent = started.elapsed().as_secs() as usize;
    assert!((5..=5 + spent).contains(&burst), "{burst} in {spent} s");
    let refused = ask(&gw, ONE, &key).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.retry_after, Some(1));
    // 2.5 s later, two or three tokens are back, not the whole burst.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let started = Instant::now();
    let refilled = allowed_until_refused(&gw, &key, 20).await;
    let spent = started.elapsed().as_secs() as usize;
    assert!((2..=3 + spent).contains(&refilled), "{refilled} back");
    // Idle long enough to fill many times over: still only the burst.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    let started = Instant::now();
    let full = allowed_until_refused(&gw, &key, 20).await;
    let spent = started.elapsed().as_secs() as usize;
    assert!((5..=5 + spent).contains(&full), "{full} after idling");
}

#[tokio::test]
async fn an_upstream_over_its_rate_fails_the_call_and_the_fields_on_error_applies() {
    let items = items().await;
    let gw = support::gateway(
        &sdl("", r#", rateLimit: { rate: 2, per: "1m" }"#, ""),
        &[&items],
        &[],
    )
    .await;
    let answer = ask(
        &gw,
        r#"{ a: item(id: "1") { id } b: item(id: "2") { id } c: item(id: "3") { id } }"#,
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let data = &answer.body["data"];
    let ids: Vec<&Value> = ["a", "b", "c"].iter().map(|k| &data[k]).collect();
    assert_eq!(
        ids.iter().filter(|v| v.is_object()).count(),
        2,
        "{}",
        answer.body
    );
    // The third call was not made; its field is null (@onError(use: NULL))
    // with the error saying why.
    assert_eq!(
        ids.iter().filter(|v| v.is_null()).count(),
        1,
        "{}",
        answer.body
    );
    assert_eq!(items.state.count(), 2);
    let errors = answer.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", answer.body);
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_RATE_LIMITED");
    assert_eq!(errors[0]["extensions"]["upstream"], "items");
    let text = metrics(&gw).await;
    assert_eq!(
        sample(
            &text,
            r#"tributary_rate_limit_decisions_total{limit="upstream:items",result="refused"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn many_keys_keep_at_most_max_keys_buckets_and_idle_ones_are_evicted() {
    let items = items().await;
    // A bucket is full again 200 ms after its last use.
    let server = r#"@server(rateLimit: { key: "header:x-api-key", rate: 10, per: "1s", burst: 2, maxKeys: 50 })"#;
    let gw = support::gateway(&sdl(server, "", ""), &[&items], &[]).await;
    let gauge = r#"tributary_rate_limit_buckets{limit="client:header:x-api-key"}"#;
    for n in 0..1000 {
        let key = format!("client-{n}");
        let answer = ask(&gw, "{ __typename }", &[("x-api-key", &key)]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let held = sample(&metrics(&gw).await, gauge).expect("the buckets gauge");
    assert!((1.0..=50.0).contains(&held), "{held} buckets for 1000 keys");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = sample(&metrics(&gw).await, gauge).expect("the buckets gauge");
    assert_eq!(held, 0.0, "idle buckets are evicted");
}

#[test]
fn bad_rate_limits_are_load_errors_at_their_line_and_column() {
    for (server, says) in [
        (r#"@server(rateLimit: { key: "ip" })"#, "needs `rate`"),
        (r#"@server(rateLimit: { key: "ip", rate: 0 })"#, "above 0"),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, per: "soon" })"#,
            "is not a duration",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, per: "0s" })"#,
            "longer than 0",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, burst: -1 })"#,
            "`burst` must be",
        ),
        (
            r#"@server(rateLimit: { key: "cookie", rate: 10 })"#,
            "is not a key",
        ),
        (
            r#"@server(rateLimit: { key: "header:bad header", rate: 10 })"#,
            "not a valid header name",
        ),
        (r#"@server(rateLimit: { rate: 10 })"#, "needs `key`"),
        (
            r#"@server(rateLimit: { key: "operation", rate: 10, trustedProxies: 1 })"#,
            "only with `key: \"ip\"`",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, trustedProxies: -2 })"#,
            "`trustedProxies`",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, window: "1s" })"#,
            "unknown key `window`",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 10, shared: true })"#,
            "needs the Redis tier",
        ),
        (
            r#"@server(rateLimit: [{ key: "ip", rate: 10 }, { key: "ip", rate: 5 }])"#,
            "two rate limits key on `ip`",
        ),
        (
            r#"@server(rateLimit: { key: "ip", rate: 2000000, per: "1s" })"#,
            "more than one per microsecond",
        ),
        (r#"@server(rateLimit: 100)"#, "must be an object"),
    ] {
        let text = format!("\n  {}", sdl(server, "", ""));
        let error = tributary::config::load("limits.graphql", &text, &|name| {
            (name == "ITEMS_URL").then(|| "http://127.0.0.1:9".to_owned())
        })
        .expect_err(server)
        .to_string();
        let column = text
            .lines()
            .nth(1)
            .and_then(|l| l.find("rateLimit: ").map(|at| at + "rateLimit: ".len() + 1))
            .expect("the rateLimit argument is on line 2");
        assert!(
            error.contains(&format!("limits.graphql:2:{column}: ")),
            "{server}: {error}"
        );
        assert!(error.contains(says), "{server}: {error}");
    }
    // On an upstream, at its `rateLimit:` value too.
    let text = format!(
        "\n  {}",
        sdl("", r#", rateLimit: { rate: 5, per: "1m", burst: 0 }"#, "")
    );
    let error = tributary::config::load("limits.graphql", &text, &|_| {
        Some("http://127.0.0.1:9".to_owned())
    })
    .expect_err("burst 0")
    .to_string();
    assert!(error.contains("limits.graphql:2:"), "{error}");
    assert!(
        error.contains("`burst` must be a whole number above 0"),
        "{error}"
    );
}

// ------------------------------------------------------------------ Redis

/// `count` requests, spread over two replicas in turn; how many were allowed.
async fn allowed_across(gws: [&TestGateway; 2], key: &str, count: usize) -> usize {
    let mut allowed = 0;
    for n in 0..count {
        let answer = ask(gws[n % 2], ONE, &[("x-api-key", key)]).await;
        match answer.status {
            200 => allowed += 1,
            429 => {}
            other => panic!("unexpected status {other}: {}", answer.body),
        }
    }
    allowed
}

#[tokio::test]
async fn replicas_share_one_budget_through_redis_and_serve_traffic_while_it_is_gone() {
    let items = items().await;
    let mut redis = Redis::start().await;
    let url = redis.url();
    let server =
        r#"@server(rateLimit: { key: "header:x-api-key", rate: 4, per: "1m", shared: true })"#;
    let schema = sdl(
        server,
        "",
        r#"@cache(redis: "${REDIS_URL}", redisTimeout: "200ms")"#,
    );
    let env = [("REDIS_URL", url.as_str())];
    let one = support::gateway(&schema, &[&items], &env).await;
    let two = support::gateway(&schema, &[&items], &env).await;
    // Four tokens for the two replicas together, not four each.
    assert_eq!(allowed_across([&one, &two], "shared", 10).await, 4);
    assert_eq!(ask(&one, ONE, &[("x-api-key", "shared")]).await.status, 429);
    assert_eq!(ask(&two, ONE, &[("x-api-key", "shared")]).await.status, 429);
    // Another key has its own shared budget.
    assert_eq!(allowed_across([&one, &two], "other", 6).await, 4);
    assert!(redis.dbsize().await >= 2, "buckets live in Redis");

    // Redis goes away: every request is served (fail open), none waits long.
    redis.stop();
    let started = Instant::now();
    for n in 0..40 {
        let gw = if n % 2 == 0 { &one } else { &two };
        let asked = Instant::now();
        let answer = ask(gw, ONE, &[("x-api-key", "shared")]).await;
        assert_eq!(
            answer.status, 200,
            "request {n} with Redis down: {}",
            answer.body
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "request {n} took {:?}",
            asked.elapsed()
        );
    }
    let spent = started.elapsed();
    // The circuit keeps a dead Redis out of the path: a handful of failed
    // calls per replica (one, then one probe a second), not one per request.
    let text = metrics(&one).await;
    let errors =
        sample(&text, "tributary_rate_limit_redis_errors_total").expect("the errors counter");
    let bound = 2.0 * (spent.as_secs_f64() + 2.0);
    assert!(
        (1.0..=bound).contains(&errors),
        "{errors} Redis errors in {spent:?}: {text}"
    );
    let failed_open = sample(
        &text,
        r#"tributary_rate_limit_decisions_total{limit="client:header:x-api-key",result="failed_open"}"#,
    )
    .expect("failed_open");
    assert!(failed_open >= 15.0, "{failed_open} let through: {text}");

    // Back on the same port (empty): limits apply again by themselves.
    let _redis = Redis::start_on(redis.port).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    for round in 0.. {
        // Each round uses a fresh key: once Redis answers, exactly 4 pass.
        let key = format!("after-{round}");
        if allowed_across([&one, &two], &key, 8).await == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "limits did not come back with Redis"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
