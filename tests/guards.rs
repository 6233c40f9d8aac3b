//! Upstream guards, end to end: a real gateway in front of mock upstreams
//! that inject faults, one story per fault and policy.
//!
//! Every test checks what the client sees (the data, each error's code, path,
//! upstream and degraded flag), how long it took (generous bounds with a
//! floor, so a test cannot pass by failing early) and how many calls reached
//! the upstream: retries show up as extra hits, an open circuit as none.

mod support;

use std::ops::Range;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::{Fault, MockService};

/// `GET|POST /items/{id}` -> `{"id", "name"}`; `GET /count` -> `{"count": 5}`.
fn items() -> Router {
    async fn item(Path(id): Path<String>) -> Json<Value> {
        Json(json!({"id": id, "name": format!("item {id}")}))
    }
    Router::new()
        .route("/items/{id}", get(item).post(item))
        .route("/count", get(|| async { Json(json!({"count": 5})) }))
}

const ITEM: &str = "type Item { id: ID! name: String! }";

/// The usual SDL: `upstream` is the `@upstream(...)` directive (policies
/// included), `fields` the Query fields.
fn sdl(upstreams: &str, fields: &str) -> String {
    format!("schema {upstreams} {{ query: Query }}\ntype Query {{\n{fields}\n}}\n{ITEM}\n")
}

/// Posts `query` and returns the body and the wall time in ms.
async fn timed(gw: &TestGateway, query: &str) -> (Value, u128) {
    let started = Instant::now();
    let (status, body) = gw.query(query).await;
    assert_eq!(status, 200, "{body}");
    (body, started.elapsed().as_millis())
}

fn errors(body: &Value) -> &Vec<Value> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"))
}

/// The only error of `body`.
fn the_error(body: &Value) -> &Value {
    let errors = errors(body);
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

/// The error reported at `path`.
fn error_at(body: &Value, path: Value) -> &Value {
    errors(body)
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no error at {path}: {body}"))
}

/// Checks the code, path and upstream of a field error.
fn assert_error(error: &Value, code: &str, path: Value, upstream: &str) {
    assert_eq!(error["extensions"]["code"], code, "{error}");
    assert_eq!(error["path"], path, "{error}");
    assert_eq!(error["extensions"]["upstream"], upstream, "{error}");
}

fn assert_ms(ms: u128, range: Range<u128>, what: &str) {
    assert!(
        range.contains(&ms),
        "{what} took {ms} ms, expected {range:?}"
    );
}

fn no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "{body}");
}

// ---------------------------------------------------------------------------
// Timeouts: a slow service cannot hold the fan-in hostage.

#[tokio::test]
async fn a_hanging_upstream_costs_its_timeout_and_nothing_else() {
    let mut mocks = Vec::new();
    for name in ["a", "b", "c", "d", "stuck"] {
        mocks.push(support::mock(name, 50, items()).await);
    }
    let stuck = &mocks[4];
    let refs: Vec<&MockService> = mocks.iter().collect();
    let sdl = sdl(
        r#"@upstream(name: "a", url: "${A_URL}")
           @upstream(name: "b", url: "${B_URL}")
           @upstream(name: "c", url: "${C_URL}")
           @upstream(name: "d", url: "${D_URL}")
           @upstream(name: "stuck", url: "${STUCK_URL}", timeout: "300ms")"#,
        r#"a: Item @rest(upstream: "a", path: "/items/1")
           b: Item @rest(upstream: "b", path: "/items/2")
           c: Item @rest(upstream: "c", path: "/items/3")
           d: Item @rest(upstream: "d", path: "/items/4")
           stuck: Item @rest(upstream: "stuck", path: "/items/5")"#,
    );
    let gw = support::gateway(&sdl, &refs, &[]).await;
    let all = "{ a { id } b { id } c { id } d { id } stuck { id } }";
    let (warm, _) = timed(&gw, all).await;
    no_errors(&warm);
    stuck.state.reset();
    stuck.state.set_fault(Some(Fault::Hang));

    // The hung request and, 30 ms into the hang, a request for a healthy field.
    let hung = async {
        let (body, ms) = timed(&gw, all).await;
        (body, ms, Instant::now())
    };
    let healthy = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (body, ms) = timed(&gw, "{ a { name } }").await;
        (body, ms, Instant::now())
    };
    let ((body, ms, hung_done), (other, other_ms, other_done)) = tokio::join!(hung, healthy);

    assert_eq!(
        body["data"],
        json!({"a": {"id": "1"}, "b": {"id": "2"}, "c": {"id": "3"}, "d": {"id": "4"}, "stuck": null})
    );
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_TIMEOUT", json!(["stuck"]), "stuck");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("300ms")),
        "{error}"
    );
    assert_ms(ms, 250..1500, "the response with a hung sibling");
    assert_eq!(
        stuck.state.count(),
        1,
        "one call, cut by the overall timeout"
    );

    assert_eq!(other, json!({"data": {"a": {"name": "item 1"}}}));
    assert_ms(other_ms, 40..250, "a healthy request during the hang");
    assert!(
        other_done < hung_done,
        "the healthy request did not wait for the hang"
    );
}

#[tokio::test]
async fn read_timeout_fires_on_a_silent_upstream_and_the_get_is_retried() {
    let svc = support::mock("svc", 0, items()).await;
    let sdl = sdl(
        r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "5s", readTimeout: "200ms",
             retry: { attempts: 2, backoff: "10ms", jitter: false })"#,
        r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
    );
    let gw = support::gateway(&sdl, &[&svc], &[]).await;
    svc.state.set_fault(Some(Fault::Hang));

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    assert_error(the_error(&body), "UPSTREAM_TIMEOUT", json!(["item"]), "svc");
    assert_eq!(svc.state.count(), 2, "a read timeout is retried for a GET");
    // Two silent attempts of 200 ms, far below the 5 s ceiling.
    assert_ms(ms, 380..1500, "two read timeouts");
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_at_once() {
    // Loopback only: a refused port stands in for every connect failure.
    let sdl = sdl(
        r#"@upstream(name: "gone", url: "${GONE_URL}", connectTimeout: "200ms")"#,
        r#"item: Item @rest(upstream: "gone", path: "/items/1")"#,
    );
    let gw = support::gateway(&sdl, &[], &[("GONE_URL", &support::closed_port_url())]).await;

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    assert_error(
        the_error(&body),
        "UPSTREAM_UNAVAILABLE",
        json!(["item"]),
        "gone",
    );
    assert_ms(ms, 0..500, "a refused connection (retried once)");
}

// ---------------------------------------------------------------------------
// Retries: only idempotent calls, only for failures worth another try.

const RETRY3: &str = r#"@upstream(name: "svc", url: "${SVC_URL}",
    retry: { attempts: 3, backoff: "10ms", jitter: false })"#;

#[tokio::test]
async fn two_503s_then_an_answer_is_data_after_three_calls() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            RETRY3,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state
        .push_faults([Fault::Status(503), Fault::Status(503)]);

    let (body, ms) = timed(&gw, "{ item { id name } }").await;

    assert_eq!(
        body,
        json!({"data": {"item": {"id": "1", "name": "item 1"}}})
    );
    assert_eq!(svc.state.count(), 3);
    // Backoff 10 ms then 20 ms.
    assert_ms(ms, 30..1000, "three calls");
}

#[tokio::test]
async fn a_500_is_not_retried() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            RETRY3,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::Status(500)]);

    let (body, _) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_HTTP_ERROR", json!(["item"]), "svc");
    assert_eq!(error["extensions"]["status"], 500);
    assert!(
        !error.to_string().contains("secret-upstream-detail"),
        "the upstream body leaked: {error}"
    );
    assert_eq!(svc.state.count(), 1);
}

#[tokio::test]
async fn a_post_is_retried_only_when_the_binding_says_it_is_idempotent() {
    let svc = support::mock("svc", 0, items()).await;
    let fields = r#"
        create(id: ID!): Item @rest(upstream: "svc", method: "POST", path: "/items/{$args.id}")
        upsert(id: ID!): Item @rest(upstream: "svc", method: "POST", path: "/items/{$args.id}", idempotent: true)"#;
    let gw = support::gateway(&sdl(RETRY3, fields), &[&svc], &[]).await;

    svc.state.push_faults([Fault::Status(503)]);
    let (body, _) = timed(&gw, r#"{ create(id: "1") { id } }"#).await;
    assert_eq!(body["data"], json!({"create": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_HTTP_ERROR", json!(["create"]), "svc");
    assert_eq!(error["extensions"]["status"], 503);
    assert_eq!(svc.state.count(), 1, "a POST is not retried by default");

    svc.state.reset();
    svc.state.push_faults([Fault::Status(503)]);
    let (body, _) = timed(&gw, r#"{ upsert(id: "2") { id } }"#).await;
    assert_eq!(body, json!({"data": {"upsert": {"id": "2"}}}));
    let hits = svc.state.hits();
    assert_eq!(hits.len(), 2, "`idempotent: true` lets it retry");
    assert!(hits.iter().all(|h| h.method == "POST"));
}

const RATE_LIMITED: &str = r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "5s",
    retry: { attempts: 2, backoff: "10ms", jitter: false, maxRetryAfter: "2s" })"#;

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            RATE_LIMITED,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::RateLimited(1)]);

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body, json!({"data": {"item": {"id": "1"}}}));
    let hits = svc.state.hits();
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at.duration_since(hits[0].at).as_millis();
    assert!(
        gap >= 950,
        "the retry came {gap} ms after the 429, not after Retry-After: 1"
    );
    assert_ms(ms, 950..3000, "a 429 with Retry-After: 1");
}

#[tokio::test]
async fn a_retry_after_longer_than_max_retry_after_is_not_waited_for() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            RATE_LIMITED,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::RateLimited(5)]);

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_HTTP_ERROR", json!(["item"]), "svc");
    assert_eq!(error["extensions"]["status"], 429);
    assert_eq!(svc.state.count(), 1);
    assert_ms(ms, 0..500, "giving up on Retry-After: 5");
}

#[tokio::test]
async fn a_retry_after_past_the_overall_timeout_gives_up_without_sleeping() {
    let svc = support::mock("svc", 0, items()).await;
    let upstream = r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "500ms",
        retry: { attempts: 2, maxRetryAfter: "2s" })"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::RateLimited(1)]);

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    let error = the_error(&body);
    assert_error(error, "UPSTREAM_HTTP_ERROR", json!(["item"]), "svc");
    assert_eq!(error["extensions"]["status"], 429);
    assert_eq!(svc.state.count(), 1);
    // Waiting 1 s cannot fit in 500 ms: answer now rather than at the deadline.
    assert_ms(ms, 0..400, "giving up on a Retry-After past the deadline");
}

#[tokio::test]
async fn an_attempt_timeout_cuts_a_slow_attempt_and_the_retry_answers() {
    let svc = support::mock("svc", 0, items()).await;
    let upstream = r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "3s", attemptTimeout: "150ms",
        retry: { attempts: 2, backoff: "10ms", jitter: false })"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state
        .push_faults([Fault::Delay(Duration::from_secs(1))]);

    let (body, ms) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body, json!({"data": {"item": {"id": "1"}}}));
    assert_eq!(svc.state.count(), 2);
    assert_ms(ms, 150..900, "a cut attempt plus a quick one");
}

// ---------------------------------------------------------------------------
// The circuit breaker: fail fast while an upstream is down, probe, recover.

const BREAKER: &str = r#"@upstream(name: "svc", url: "${SVC_URL}", retry: false,
    breaker: { consecutiveFailures: 3, openFor: "500ms" })"#;

async fn breaker_gateway(svc: &MockService) -> TestGateway {
    support::gateway(
        &sdl(
            BREAKER,
            r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")"#,
        ),
        &[svc],
        &[],
    )
    .await
}

/// Asks for item `id`; returns the body, the ms it took and the new hits.
async fn ask(gw: &TestGateway, svc: &MockService, id: u32) -> (Value, u128, usize) {
    let before = svc.state.count();
    let (body, ms) = timed(gw, &format!(r#"{{ item(id: "{id}") {{ id }} }}"#)).await;
    (body, ms, svc.state.count() - before)
}

/// Three 503s in a row: the circuit opens.
async fn open_the_circuit(gw: &TestGateway, svc: &MockService) {
    svc.state.set_fault(Some(Fault::Status(503)));
    for id in 1..=3 {
        let (body, _, hits) = ask(gw, svc, id).await;
        assert_error(
            the_error(&body),
            "UPSTREAM_HTTP_ERROR",
            json!(["item"]),
            "svc",
        );
        assert_eq!(hits, 1, "closed: call {id} reaches the upstream");
    }
    let (body, ms, hits) = ask(gw, svc, 4).await;
    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_CIRCUIT_OPEN", json!(["item"]), "svc");
    assert_eq!(hits, 0, "open: the network is not touched");
    assert_ms(ms, 0..100, "failing fast");
}

#[tokio::test]
async fn three_failures_open_the_circuit_and_a_good_probe_closes_it() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = breaker_gateway(&svc).await;
    open_the_circuit(&gw, &svc).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    svc.state.set_fault(None);
    let (body, _, hits) = ask(&gw, &svc, 5).await;
    assert_eq!(body, json!({"data": {"item": {"id": "5"}}}));
    assert_eq!(hits, 1, "after openFor a probe goes through");

    for id in 6..=8 {
        let (body, _, hits) = ask(&gw, &svc, id).await;
        no_errors(&body);
        assert_eq!(hits, 1, "closed again: call {id} passes");
    }
}

#[tokio::test]
async fn a_failed_probe_reopens_the_circuit() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = breaker_gateway(&svc).await;
    open_the_circuit(&gw, &svc).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (body, _, hits) = ask(&gw, &svc, 5).await;
    assert_error(
        the_error(&body),
        "UPSTREAM_HTTP_ERROR",
        json!(["item"]),
        "svc",
    );
    assert_eq!(hits, 1, "the probe reached the still-failing upstream");

    let (body, ms, hits) = ask(&gw, &svc, 6).await;
    assert_error(
        the_error(&body),
        "UPSTREAM_CIRCUIT_OPEN",
        json!(["item"]),
        "svc",
    );
    assert_eq!(hits, 0, "reopened");
    assert_ms(ms, 0..100, "failing fast again");
}

#[tokio::test]
async fn client_errors_do_not_open_the_circuit() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = breaker_gateway(&svc).await;
    svc.state.set_fault(Some(Fault::Status(404)));
    for id in 1..=5 {
        let (body, _, hits) = ask(&gw, &svc, id).await;
        let error = the_error(&body);
        assert_error(error, "UPSTREAM_HTTP_ERROR", json!(["item"]), "svc");
        assert_eq!(error["extensions"]["status"], 404);
        assert_eq!(hits, 1, "a 404 is the caller's problem, not the upstream's");
    }
    // The same breaker does open on server errors.
    open_the_circuit(&gw, &svc).await;
}

#[tokio::test]
async fn a_failure_ratio_opens_the_circuit_once_enough_calls_are_in_the_window() {
    let svc = support::mock("svc", 0, items()).await;
    let upstream = r#"@upstream(name: "svc", url: "${SVC_URL}", retry: false,
        breaker: { failureRatio: 0.5, minCalls: 4, window: "1s", openFor: "5s" })"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    let fail_next = || svc.state.push_faults([Fault::Status(503)]);

    // Two failures: 100%, but fewer than minCalls.
    fail_next();
    fail_next();
    for id in 1..=2 {
        let (body, _, _) = ask(&gw, &svc, id).await;
        assert_error(
            the_error(&body),
            "UPSTREAM_HTTP_ERROR",
            json!(["item"]),
            "svc",
        );
    }
    // They leave the 1 s window; had they stayed, the fifth call below
    // would make 3 of 5 and open the circuit.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for (id, fails) in [(3, false), (4, false), (5, true), (6, false), (7, true)] {
        if fails {
            fail_next();
        }
        let (body, _, hits) = ask(&gw, &svc, id).await;
        assert_eq!(hits, 1, "call {id} passes: {body}");
        assert_eq!(body.get("errors").is_some(), fails, "{body}");
    }
    // 2 of 5 failed (40%); one more failure makes 3 of 6 (50%): open.
    fail_next();
    let (_, _, hits) = ask(&gw, &svc, 8).await;
    assert_eq!(hits, 1);
    let (body, ms, hits) = ask(&gw, &svc, 9).await;
    assert_error(
        the_error(&body),
        "UPSTREAM_CIRCUIT_OPEN",
        json!(["item"]),
        "svc",
    );
    assert_eq!(hits, 0);
    assert_ms(ms, 0..100, "failing fast");
}

// ---------------------------------------------------------------------------
// Bodies that cannot be used.

#[tokio::test]
async fn a_body_over_max_response_bytes_is_a_bad_response() {
    let svc = support::mock("svc", 0, items()).await;
    let upstream = r#"@upstream(name: "svc", url: "${SVC_URL}", maxResponseBytes: 1000)"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    let (body, _) = timed(&gw, "{ item { id } }").await;
    no_errors(&body);
    svc.state.reset();

    svc.state.push_faults([Fault::Oversized(5000)]);
    let (body, _) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_BAD_RESPONSE", json!(["item"]), "svc");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("maxResponseBytes")),
        "{error}"
    );
    assert_eq!(svc.state.count(), 1, "a bad response is not retried");
}

#[tokio::test]
async fn a_body_cut_midway_is_unavailable_and_a_get_retries_it() {
    let svc = support::mock("svc", 0, items()).await;
    let fields = r#"
        once: Item @rest(upstream: "svc", path: "/items/1", retry: false)
        item: Item @rest(upstream: "svc", path: "/items/2")"#;
    let gw = support::gateway(
        &sdl(r#"@upstream(name: "svc", url: "${SVC_URL}")"#, fields),
        &[&svc],
        &[],
    )
    .await;

    svc.state.push_faults([Fault::ResetMidBody]);
    let (body, _) = timed(&gw, "{ once { id } }").await;
    assert_eq!(body["data"], json!({"once": null}));
    assert_error(
        the_error(&body),
        "UPSTREAM_UNAVAILABLE",
        json!(["once"]),
        "svc",
    );
    assert_eq!(svc.state.count(), 1);

    svc.state.reset();
    svc.state.push_faults([Fault::ResetMidBody]);
    let (body, _) = timed(&gw, "{ item { id } }").await;
    assert_eq!(body, json!({"data": {"item": {"id": "2"}}}));
    assert_eq!(
        svc.state.count(),
        2,
        "the default policy retries a GET once"
    );
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            r#"@upstream(name: "svc", url: "${SVC_URL}")"#,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::MalformedJson]);

    let (body, _) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_BAD_RESPONSE", json!(["item"]), "svc");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("not JSON")),
        "{error}"
    );
    assert_eq!(svc.state.count(), 1);
}

#[tokio::test]
async fn json_of_the_wrong_type_names_the_field_and_the_type() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            r#"@upstream(name: "svc", url: "${SVC_URL}")"#,
            r#"item: Item @rest(upstream: "svc", path: "/items/1")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.push_faults([Fault::WrongType]);

    let (body, _) = timed(&gw, "{ item { id } }").await;

    assert_eq!(body["data"], json!({"item": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_BAD_RESPONSE", json!(["item"]), "svc");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Query.item") && message.contains("Item") && message.contains("string"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------
// The concurrency cap.

#[tokio::test]
async fn a_full_concurrency_cap_sheds_calls_as_overloaded() {
    let svc = support::mock("svc", 300, items()).await;
    let upstream =
        r#"@upstream(name: "svc", url: "${SVC_URL}", maxConcurrent: 1, queueTimeout: "20ms")"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")"#,
        ),
        &[&svc],
        &[],
    )
    .await;

    let gw = &gw;
    let one = move |id: u32| async move {
        timed(gw, &format!(r#"{{ item(id: "{id}") {{ id }} }}"#)).await
    };
    let answers = futures_util::future::join_all((1..=4).map(one)).await;

    let (mut served, mut shed) = (0, 0);
    for (body, ms) in &answers {
        if body.get("errors").is_none() {
            served += 1;
            assert_ms(*ms, 300..1500, "a call that got the slot");
        } else {
            shed += 1;
            assert_eq!(body["data"], json!({"item": null}));
            let error = the_error(body);
            assert_error(error, "UPSTREAM_OVERLOADED", json!(["item"]), "svc");
            assert_ms(*ms, 0..250, "a call shed after queueTimeout");
        }
    }
    assert!(
        served >= 1 && shed >= 1,
        "served {served}, shed {shed}: {answers:?}"
    );
    assert_eq!(
        svc.state.count(),
        served,
        "shed calls never reach the upstream"
    );
}

// ---------------------------------------------------------------------------
// @onError: what a failed field becomes.

#[tokio::test]
async fn on_error_null_default_and_fail_shape_the_response() {
    let down = support::mock("down", 0, items()).await;
    let up = support::mock("up", 0, items()).await;
    let fields = r#"
        nulled: Item @rest(upstream: "down", path: "/items/1") @onError(use: NULL)
        count: Int! @rest(upstream: "down", path: "/count", select: "count") @onError(use: DEFAULT, value: 0)
        item: Item! @rest(upstream: "down", path: "/items/2") @onError(use: DEFAULT, value: {id: "0", name: "unknown"})
        healthy: Item @rest(upstream: "up", path: "/items/3")
        strict: Item! @rest(upstream: "down", path: "/items/4")
        wrapper: Wrapper"#;
    let sdl = format!(
        "{}\ntype Wrapper {{ strict: Item! @rest(upstream: \"down\", path: \"/items/5\") }}",
        sdl(
            r#"@upstream(name: "down", url: "${DOWN_URL}", retry: false)
               @upstream(name: "up", url: "${UP_URL}")"#,
            fields
        )
    );
    let gw = support::gateway(&sdl, &[&down, &up], &[]).await;
    down.state.set_fault(Some(Fault::Status(503)));

    // NULL and DEFAULT absorb the failure; each is still reported.
    let (body, _) = timed(
        &gw,
        "{ nulled { id } count item { id name } healthy { id } }",
    )
    .await;
    assert_eq!(
        body["data"],
        json!({"nulled": null, "count": 0, "item": {"id": "0", "name": "unknown"}, "healthy": {"id": "3"}})
    );
    assert_eq!(errors(&body).len(), 3, "{body}");
    let nulled = error_at(&body, json!(["nulled"]));
    assert_error(nulled, "UPSTREAM_HTTP_ERROR", json!(["nulled"]), "down");
    assert!(
        nulled["extensions"].get("degraded").is_none(),
        "NULL is not a degraded value: {nulled}"
    );
    for path in [json!(["count"]), json!(["item"])] {
        let error = error_at(&body, path.clone());
        assert_error(error, "UPSTREAM_HTTP_ERROR", path, "down");
        assert_eq!(error["extensions"]["degraded"], true, "{error}");
    }

    // FAIL (the default) on a non-null field: null rises to the nearest
    // nullable position, here the root.
    let (body, _) = timed(&gw, "{ strict { id } healthy { id } }").await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_error(
        the_error(&body),
        "UPSTREAM_HTTP_ERROR",
        json!(["strict"]),
        "down",
    );

    // ... and here the nullable parent.
    let (body, _) = timed(&gw, "{ wrapper { strict { id } } healthy { id } }").await;
    assert_eq!(
        body["data"],
        json!({"wrapper": null, "healthy": {"id": "3"}})
    );
    assert_error(
        the_error(&body),
        "UPSTREAM_HTTP_ERROR",
        json!(["wrapper", "strict"]),
        "down",
    );
}

// ---------------------------------------------------------------------------
// `check`: policies that cannot work are rejected before serving.

/// The 1-based line of the first line of `sdl` containing `marker`.
fn line_of(sdl: &str, marker: &str) -> usize {
    sdl.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("`{marker}` is not in the SDL"))
        + 1
}

#[test]
fn check_rejects_impossible_error_policies_and_bad_guard_settings() {
    let sdl = r#"
schema
  @upstreamDefaults(retry: { attempts: 0 })
  @upstream(name: "a", url: "http://127.0.0.1:9",
    retry: { tries: 3 })
  @upstream(name: "b", url: "http://127.0.0.1:9",
    breaker: { failureRatio: 1.5 })
  @upstream(name: "c", url: "http://127.0.0.1:9",
    timeout: "soon")
{ query: Query }

type Query {
  nulled: Item! @rest(upstream: "a", path: "/1") @onError(use: NULL)
  bare: Int @rest(upstream: "a", path: "/2") @onError(use: DEFAULT)
  count: Int @rest(upstream: "a", path: "/3") @onError(use: DEFAULT, value: "zero")
  item: Item @rest(upstream: "a", path: "/4") @onError(use: DEFAULT, value: {id: "0"})
}

type Item { id: ID! name: String! }
"#;
    let diagnostics = tributary::config::load("bad.graphql", sdl, &|_| None)
        .expect_err("the schema is full of mistakes");
    let expected = [
        ("attempts: 0", "`attempts` must be a whole number above 0"),
        ("tries: 3", "unknown key `tries` in `retry`"),
        (
            "failureRatio: 1.5",
            "`failureRatio` must be between 0 and 1",
        ),
        ("\"soon\"", "is not a duration"),
        ("nulled:", "cannot become null"),
        ("bare:", "needs a `value`"),
        ("\"zero\"", "does not fit Int"),
        ("{id: \"0\"}", "the non-null field `name` is missing"),
    ];
    for (marker, message) in expected {
        let line = line_of(sdl, marker);
        assert!(
            diagnostics
                .items
                .iter()
                .any(|d| d.pos.line == line && d.message.contains(message)),
            "expected `{message}` on line {line}; got:\n{diagnostics}"
        );
    }
    assert_eq!(
        diagnostics.items.len(),
        expected.len(),
        "one diagnostic per mistake:\n{diagnostics}"
    );
}

// ---------------------------------------------------------------------------
// Where policies come from: defaults, the upstream, the field.

#[tokio::test]
async fn upstream_defaults_apply_to_every_upstream_and_an_upstream_overrides_them() {
    let a = support::mock("a", 400, items()).await;
    let b = support::mock("b", 400, items()).await;
    let sdl = sdl(
        r#"@upstreamDefaults(timeout: "200ms", retry: false)
           @upstream(name: "a", url: "${A_URL}")
           @upstream(name: "b", url: "${B_URL}", timeout: "2s")"#,
        r#"a: Item @rest(upstream: "a", path: "/items/1")
           b: Item @rest(upstream: "b", path: "/items/2")"#,
    );
    let gw = support::gateway(&sdl, &[&a, &b], &[]).await;

    let (body, ms) = timed(&gw, "{ a { id } b { id } }").await;
    assert_eq!(body["data"], json!({"a": null, "b": {"id": "2"}}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_TIMEOUT", json!(["a"]), "a");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("200ms")),
        "{error}"
    );
    assert_ms(ms, 380..1500, "b's 400 ms answer under its own 2 s timeout");

    // `retry: false` from the defaults holds for both, override or not.
    a.state.reset();
    b.state.reset();
    a.state.set_latency(Duration::ZERO);
    b.state.set_latency(Duration::ZERO);
    a.state.push_faults([Fault::Status(503)]);
    b.state.push_faults([Fault::Status(503)]);
    let (body, _) = timed(&gw, "{ a { id } b { id } }").await;
    assert_eq!(body["data"], json!({"a": null, "b": null}));
    assert_error(
        error_at(&body, json!(["a"])),
        "UPSTREAM_HTTP_ERROR",
        json!(["a"]),
        "a",
    );
    assert_error(
        error_at(&body, json!(["b"])),
        "UPSTREAM_HTTP_ERROR",
        json!(["b"]),
        "b",
    );
    assert_eq!((a.state.count(), b.state.count()), (1, 1), "not retried");
}

#[tokio::test]
async fn a_field_timeout_shorter_than_its_upstreams_applies() {
    let svc = support::mock("svc", 400, items()).await;
    let fields = r#"
        quick: Item @rest(upstream: "svc", path: "/items/1", timeout: "150ms")
        patient: Item @rest(upstream: "svc", path: "/items/2")"#;
    let gw = support::gateway(
        &sdl(
            r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "2s")"#,
            fields,
        ),
        &[&svc],
        &[],
    )
    .await;

    let (body, ms) = timed(&gw, "{ quick { id } }").await;
    assert_eq!(body["data"], json!({"quick": null}));
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_TIMEOUT", json!(["quick"]), "svc");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("150ms")),
        "{error}"
    );
    assert_ms(ms, 120..380, "the field's 150 ms timeout");

    let (body, ms) = timed(&gw, "{ patient { id } }").await;
    assert_eq!(body, json!({"data": {"patient": {"id": "2"}}}));
    assert_ms(ms, 380..1500, "the upstream's 2 s timeout");
}

// ---------------------------------------------------------------------------
// A hanging upstream is the breaker's main customer.

#[tokio::test]
async fn timeouts_open_the_circuit_and_a_probe_that_times_out_reopens_it() {
    let svc = support::mock("svc", 0, items()).await;
    let upstream = r#"@upstream(name: "svc", url: "${SVC_URL}", timeout: "200ms", retry: false,
        breaker: { consecutiveFailures: 3, openFor: "500ms" })"#;
    let gw = support::gateway(
        &sdl(
            upstream,
            r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    svc.state.set_fault(Some(Fault::Hang));

    for id in 1..=3 {
        let (body, ms, hits) = ask(&gw, &svc, id).await;
        assert_error(the_error(&body), "UPSTREAM_TIMEOUT", json!(["item"]), "svc");
        assert_eq!(hits, 1, "closed: call {id} reaches the upstream");
        assert_ms(ms, 150..1500, "a call cut by the 200 ms timeout");
    }
    let (body, ms, hits) = ask(&gw, &svc, 4).await;
    assert_error(
        the_error(&body),
        "UPSTREAM_CIRCUIT_OPEN",
        json!(["item"]),
        "svc",
    );
    assert_eq!(hits, 0, "three timeouts in a row opened it");
    assert_ms(ms, 0..100, "failing fast instead of waiting 200 ms");

    // The probe hangs too: it must reopen the circuit, not leave it half-open.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (body, _, hits) = ask(&gw, &svc, 5).await;
    assert_error(the_error(&body), "UPSTREAM_TIMEOUT", json!(["item"]), "svc");
    assert_eq!(hits, 1, "the probe went through");
    let (body, _, hits) = ask(&gw, &svc, 6).await;
    let error = the_error(&body);
    assert_error(error, "UPSTREAM_CIRCUIT_OPEN", json!(["item"]), "svc");
    assert_eq!(hits, 0);
    assert!(
        !error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("next try in 0s"),
        "reopened for another openFor, not stuck half-open: {error}"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    svc.state.set_fault(None);
    for id in 7..=9 {
        let (body, _, hits) = ask(&gw, &svc, id).await;
        assert_eq!(body, json!({"data": {"item": {"id": id.to_string()}}}));
        assert_eq!(hits, 1);
    }
}
