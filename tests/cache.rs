//! Caching and batching, end to end: a real gateway in front of mock
//! upstreams that count every request they receive.
//!
//! Each story checks what the client sees (data, errors, `extensions.stale`)
//! and how many calls reached the upstream: a cache hit, a shared call or a
//! stale answer shows up as no new hit. Where the cache's own accounting
//! matters (bytes held, evictions, hits and misses), the test reads
//! `Gateway::upstream(name).cache` directly.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::future::join_all;
use serde_json::{Value, json};
use support::TestGateway;
use tributary::Gateway;
use tributary::demo::{Fault, MockService};
use tributary::upstream::cache::CacheStats;

// ---------------------------------------------------------------------------
// The mock upstream and the schema around it.

/// `GET|POST /items/{id}` -> `{id, name, served}`, where `served` counts the
/// answers given so far (so a test can tell a fresh answer from a kept one);
/// `/nostore/{id}` and `/private/{id}` answer the same with that
/// `Cache-Control`; `/whoami` echoes the `Authorization` it received;
/// `/blobs/{id}` answers about 1 KB.
fn items() -> Router {
    let served = Arc::new(AtomicU64::new(0));
    let item = move |id: String| {
        let n = served.fetch_add(1, Ordering::Relaxed) + 1;
        json!({"id": id, "name": format!("item {id}"), "served": n})
    };
    let (a, b, c) = (item.clone(), item.clone(), item.clone());
    Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<String>| {
                let body = a(id);
                async move { Json(body) }
            })
            .post(move |Path(id): Path<String>| {
                let body = b(id);
                async move { Json(body) }
            }),
        )
        .route(
            "/nostore/{id}",
            get(move |Path(id): Path<String>| {
                let body = c(id);
                async move { ([("cache-control", "no-store, max-age=60")], Json(body)) }
            }),
        )
        .route(
            "/private/{id}",
            get(move |Path(id): Path<String>| {
                let body = item(id);
                async move { ([("cache-control", "private")], Json(body)) }
            }),
        )
        .route(
            "/whoami",
            get(|headers: HeaderMap| async move {
                let caller = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Json(json!({ "caller": caller }))
            }),
        )
        .route(
            "/blobs/{id}",
            get(|Path(id): Path<String>| async move {
                Json(json!({"id": id, "pad": "x".repeat(1000)}))
            }),
        )
}

const TYPES: &str = r#"
type Item { id: ID! name: String! served: Int! }
type Whoami { caller: String }
type Blob { id: ID! }
"#;

/// A schema with one upstream `svc` (its `@upstream` arguments after the
/// URL) and the given Query fields.
fn sdl(svc_args: &str, fields: &str) -> String {
    format!(
        "schema @upstream(name: \"svc\", url: \"${{SVC_URL}}\", {svc_args}) {{ query: Query }}\n\
         type Query {{\n{fields}\n}}\n{TYPES}"
    )
}

const ITEM: &str = r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")"#;

/// Posts `query` (status 200 expected); returns the body and how many
/// requests reached `mock` meanwhile.
async fn ask(gw: &TestGateway, mock: &MockService, query: &str) -> (Value, usize) {
    let before = mock.state.count();
    let (status, body) = gw.query(query).await;
    assert_eq!(status, 200, "{body}");
    (body, mock.state.count() - before)
}

/// Like [`ask`], as the caller holding `authorization`.
async fn ask_as(
    gw: &TestGateway,
    mock: &MockService,
    authorization: Option<&str>,
    query: &str,
) -> (Value, usize) {
    let before = mock.state.count();
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let (status, body) = gw.post(json!({ "query": query }), &headers).await;
    assert_eq!(status, 200, "{body}");
    (body, mock.state.count() - before)
}

/// `svc`'s cache counters: hits, misses, stale answers, evictions.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    stale: u64,
    evictions: u64,
}

fn counts(gateway: &Gateway) -> Counts {
    let stats = &cache_of(gateway).stats;
    Counts {
        hits: CacheStats::get(&stats.hits),
        misses: CacheStats::get(&stats.misses),
        stale: CacheStats::get(&stats.stale),
        evictions: CacheStats::get(&stats.evictions),
    }
}

fn cache_of(gateway: &Gateway) -> &tributary::upstream::cache::ResponseCache {
    gateway
        .upstream("svc")
        .expect("upstream `svc` is declared")
        .cache
        .as_ref()
        .expect("upstream `svc` has a cache")
}

fn errors(body: &Value) -> &Vec<Value> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"))
}

// ---------------------------------------------------------------------------
// Hits, TTLs and what is never cached.

#[tokio::test]
async fn an_answer_is_reused_until_its_ttl_passes() {
    let svc = support::mock("svc", 0, items()).await;
    let (gw, gateway) =
        support::gateway_with_handle(&sdl(r#"cache: { ttl: "300ms" }"#, ITEM), &[&svc], &[]).await;
    let query = r#"{ item(id: "1") { id served } }"#;

    let (first, calls) = ask(&gw, &svc, query).await;
    assert_eq!(first, json!({"data": {"item": {"id": "1", "served": 1}}}));
    assert_eq!(calls, 1, "a cold cache asks the upstream");

    let (second, calls) = ask(&gw, &svc, query).await;
    assert_eq!(second, first, "the very same answer, from the cache");
    assert_eq!(calls, 0, "within the ttl nothing reaches the upstream");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (third, calls) = ask(&gw, &svc, query).await;
    assert_eq!(third, json!({"data": {"item": {"id": "1", "served": 2}}}));
    assert_eq!(calls, 1, "past the ttl the answer is fetched again");

    assert_eq!(
        counts(&gateway),
        Counts {
            hits: 1,
            misses: 2,
            stale: 0,
            evictions: 0
        }
    );
}

#[tokio::test]
async fn a_field_ttl_overrides_the_upstream_and_zero_bypasses_it() {
    let svc = support::mock("svc", 0, items()).await;
    let fields = r#"
  fresh(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}") @cache(ttl: "0s")
  short(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}") @cache(ttl: "300ms")
"#;
    let gw = support::gateway(&sdl(r#"cache: { ttl: "1h" }"#, fields), &[&svc], &[]).await;

    for round in 1..=3 {
        let (body, calls) = ask(&gw, &svc, r#"{ fresh(id: "1") { served } }"#).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            calls, 1,
            "ttl 0s asks the upstream every time (round {round})"
        );
    }

    let (_, calls) = ask(&gw, &svc, r#"{ short(id: "2") { served } }"#).await;
    assert_eq!(calls, 1);
    let (_, calls) = ask(&gw, &svc, r#"{ short(id: "2") { served } }"#).await;
    assert_eq!(calls, 0, "within the field's 300ms");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, calls) = ask(&gw, &svc, r#"{ short(id: "2") { served } }"#).await;
    assert_eq!(
        calls, 1,
        "the field's 300ms, not the upstream's hour, decides"
    );
}

#[tokio::test]
async fn a_post_is_never_cached() {
    let svc = support::mock("svc", 0, items()).await;
    let field =
        r#"item(id: ID!): Item @rest(upstream: "svc", method: "POST", path: "/items/{$args.id}")"#;
    let gw = support::gateway(&sdl(r#"cache: { ttl: "1h" }"#, field), &[&svc], &[]).await;
    let query = r#"{ item(id: "1") { served } }"#;

    let (first, calls) = ask(&gw, &svc, query).await;
    assert_eq!(first, json!({"data": {"item": {"served": 1}}}));
    assert_eq!(calls, 1);
    let (second, calls) = ask(&gw, &svc, query).await;
    assert_eq!(second, json!({"data": {"item": {"served": 2}}}));
    assert_eq!(calls, 1, "an unsafe method always reaches the upstream");
    assert_eq!(svc.state.hits()[1].method, "POST");
}

#[tokio::test]
async fn no_store_and_private_answers_are_kept_only_when_cache_control_is_ignored() {
    let svc = support::mock("svc", 0, items()).await;
    let sdl = format!(
        r#"schema
  @upstream(name: "svc", url: "${{SVC_URL}}", cache: {{ ttl: "1h" }})
  @upstream(name: "loose", url: "${{SVC_URL}}", cache: {{ ttl: "1h", respectCacheControl: false }})
{{ query: Query }}
type Query {{
  nostore(id: ID!): Item @rest(upstream: "svc", path: "/nostore/{{$args.id}}")
  private(id: ID!): Item @rest(upstream: "svc", path: "/private/{{$args.id}}")
  looseNostore(id: ID!): Item @rest(upstream: "loose", path: "/nostore/{{$args.id}}")
  loosePrivate(id: ID!): Item @rest(upstream: "loose", path: "/private/{{$args.id}}")
}}
{TYPES}"#
    );
    let gw = support::gateway(&sdl, &[&svc], &[]).await;

    for field in ["nostore", "private"] {
        let query = format!(r#"{{ {field}(id: "1") {{ id }} }}"#);
        for round in 1..=2 {
            let (body, calls) = ask(&gw, &svc, &query).await;
            assert_eq!(body, json!({"data": {field: {"id": "1"}}}));
            assert_eq!(calls, 1, "{field} round {round}: honoured, so not stored");
        }
    }
    for field in ["looseNostore", "loosePrivate"] {
        let query = format!(r#"{{ {field}(id: "1") {{ id }} }}"#);
        let (_, calls) = ask(&gw, &svc, &query).await;
        assert_eq!(calls, 1, "{field}: a cold cache");
        let (body, calls) = ask(&gw, &svc, &query).await;
        assert_eq!(body, json!({"data": {field: {"id": "1"}}}));
        assert_eq!(calls, 0, "{field}: respectCacheControl: false stores it");
    }
}

// ---------------------------------------------------------------------------
// Credentials are part of the key.

#[tokio::test]
async fn callers_with_different_credentials_never_share_an_entry() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            r#"forwardHeaders: ["authorization"], cache: { ttl: "1h" }"#,
            r#"whoami: Whoami @rest(upstream: "svc", path: "/whoami")"#,
        ),
        &[&svc],
        &[],
    )
    .await;
    let query = "{ whoami { caller } }";
    let answer = |caller: Option<&str>| json!({"data": {"whoami": {"caller": caller}}});

    let (body, calls) = ask_as(&gw, &svc, Some("Bearer alice"), query).await;
    assert_eq!(body, answer(Some("Bearer alice")));
    assert_eq!(calls, 1);

    let (body, calls) = ask_as(&gw, &svc, Some("Bearer bob"), query).await;
    assert_eq!(
        body,
        answer(Some("Bearer bob")),
        "bob never sees alice's answer"
    );
    assert_eq!(calls, 1, "bob's credentials make a key of their own");

    let (body, calls) = ask_as(&gw, &svc, None, query).await;
    assert_eq!(body, answer(None), "nor does an anonymous caller");
    assert_eq!(calls, 1);

    let (body, calls) = ask_as(&gw, &svc, Some("Bearer alice"), query).await;
    assert_eq!(body, answer(Some("Bearer alice")));
    assert_eq!(calls, 0, "alice again: her own entry");
    let (body, calls) = ask_as(&gw, &svc, Some("Bearer bob"), query).await;
    assert_eq!(body, answer(Some("Bearer bob")));
    assert_eq!(calls, 0, "bob again: his own entry");
}

// ---------------------------------------------------------------------------
// One call for many concurrent requests.

#[tokio::test]
async fn twenty_concurrent_misses_for_one_key_make_one_upstream_call() {
    let svc = support::mock("svc", 200, items()).await;
    let (gw, gateway) =
        support::gateway_with_handle(&sdl(r#"cache: { ttl: "1h" }"#, ITEM), &[&svc], &[]).await;
    let query = r#"{ item(id: "1") { id served } }"#;

    let started = Instant::now();
    let answers = join_all((0..20).map(|_| gw.query(query))).await;
    let elapsed = started.elapsed();

    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(
            *body,
            json!({"data": {"item": {"id": "1", "served": 1}}}),
            "every request gets the one answer"
        );
    }
    assert_eq!(svc.state.count(), 1, "one call for twenty requests");
    assert!(
        elapsed < Duration::from_secs(3),
        "they waited for one 200 ms call, not twenty in a row: {elapsed:?}"
    );
    assert_eq!(
        counts(&gateway).misses,
        1,
        "the requests that joined the call are not misses of their own"
    );
}

#[tokio::test]
async fn dedupe_shares_identical_in_flight_calls_without_a_cache() {
    let shared = support::mock("shared", 200, items()).await;
    let plain = support::mock("plain", 200, items()).await;
    let sdl = format!(
        r#"schema
  @upstream(name: "shared", url: "${{SHARED_URL}}", dedupe: true)
  @upstream(name: "plain", url: "${{PLAIN_URL}}")
{{ query: Query }}
type Query {{
  shared(id: ID!): Item @rest(upstream: "shared", path: "/items/{{$args.id}}")
  plain(id: ID!): Item @rest(upstream: "plain", path: "/items/{{$args.id}}")
}}
{TYPES}"#
    );
    let gw = support::gateway(&sdl, &[&shared, &plain], &[]).await;

    let answers = join_all((0..10).map(|_| gw.query(r#"{ shared(id: "1") { served } }"#))).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(*body, json!({"data": {"shared": {"served": 1}}}));
    }
    assert_eq!(shared.state.count(), 1, "dedupe: ten requests, one call");

    let (_, calls) = ask(&gw, &shared, r#"{ shared(id: "1") { served } }"#).await;
    assert_eq!(
        calls, 1,
        "dedupe shares calls in flight only: nothing was kept"
    );

    let answers = join_all((0..10).map(|_| gw.query(r#"{ plain(id: "1") { served } }"#))).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(plain.state.count(), 10, "without dedupe each request calls");
}

// ---------------------------------------------------------------------------
// Bounded memory.

#[tokio::test]
async fn the_cache_holds_at_most_max_bytes_of_answers() {
    let svc = support::mock("svc", 0, items()).await;
    let (gw, gateway) = support::gateway_with_handle(
        &sdl(
            r#"cache: { ttl: "1h", maxBytes: 20000 }"#,
            r#"blob(id: ID!): Blob @rest(upstream: "svc", path: "/blobs/{$args.id}")"#,
        ),
        &[&svc],
        &[],
    )
    .await;

    for id in 0..200 {
        let (body, _) = ask(&gw, &svc, &format!(r#"{{ blob(id: "{id}") {{ id }} }}"#)).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(svc.state.count(), 200);
    let held = cache_of(&gateway).weighted_size();
    assert!(held <= 20_000, "{held} bytes held, over maxBytes");
    assert!(held > 0, "the cache keeps what fits");
    let evicted = counts(&gateway).evictions;
    assert!(
        evicted >= 180,
        "about 200 KB of answers into 20 KB: most went, {evicted} counted"
    );

    // At most 20 of the ~1 KB answers fit, so asking for all of them again
    // finds nearly every one gone.
    let before = svc.state.count();
    for id in 0..200 {
        ask(&gw, &svc, &format!(r#"{{ blob(id: "{id}") {{ id }} }}"#)).await;
    }
    let refetched = svc.state.count() - before;
    assert!(
        refetched >= 180,
        "only {refetched} of 200 were fetched again: more than 20 KB was kept"
    );
    assert!(cache_of(&gateway).weighted_size() <= 20_000);
}

// ---------------------------------------------------------------------------
// Stale answers stand in for failed calls.

#[tokio::test]
async fn a_failing_upstream_is_answered_from_a_stale_entry_within_stale_if_error() {
    let svc = support::mock("svc", 0, items()).await;
    let (gw, gateway) = support::gateway_with_handle(
        &sdl(
            r#"retry: false, cache: { ttl: "300ms", staleIfError: "1s" }"#,
            ITEM,
        ),
        &[&svc],
        &[],
    )
    .await;
    let query = r#"{ item(id: "1") { id served } }"#;
    let good = json!({"item": {"id": "1", "served": 1}});

    let (body, _) = ask(&gw, &svc, query).await;
    assert_eq!(body, json!({ "data": good }));

    svc.state.set_fault(Some(Fault::Status(503)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (body, calls) = ask(&gw, &svc, query).await;
    assert_eq!(calls, 1, "past the ttl the upstream is asked, and fails");
    assert_eq!(body["data"], good, "the last good answer stands in");
    assert!(body.get("errors").is_none(), "and it is no error: {body}");
    let stale = body["extensions"]["stale"]
        .as_array()
        .unwrap_or_else(|| panic!("the response says it is stale: {body}"));
    assert_eq!(stale.len(), 1, "{body}");
    assert_eq!(stale[0]["path"], json!(["item"]));
    assert_eq!(stale[0]["upstream"], "svc");
    let age = stale[0]["ageMs"].as_u64().expect("ageMs is a number");
    assert!(
        (300..1300).contains(&age),
        "about 400 ms old, within ttl + staleIfError: {age}"
    );
    assert_eq!(counts(&gateway).stale, 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (body, calls) = ask(&gw, &svc, query).await;
    assert_eq!(calls, 1);
    assert_eq!(body["data"], json!({"item": null}), "too old to stand in");
    let errors = errors(&body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_HTTP_ERROR");
    assert_eq!(errors[0]["path"], json!(["item"]));
    assert!(body["extensions"].get("stale").is_none(), "{body}");
}

#[tokio::test]
async fn with_the_circuit_open_a_stale_answer_is_served_without_calling() {
    let svc = support::mock("svc", 0, items()).await;
    let gw = support::gateway(
        &sdl(
            r#"retry: false, breaker: { consecutiveFailures: 2, openFor: "30s" },
               cache: { ttl: "200ms", staleIfError: "30s" }"#,
            ITEM,
        ),
        &[&svc],
        &[],
    )
    .await;
    let query = r#"{ item(id: "1") { id served } }"#;
    let good = json!({"item": {"id": "1", "served": 1}});
    ask(&gw, &svc, query).await;

    svc.state.set_fault(Some(Fault::Status(503)));
    tokio::time::sleep(Duration::from_millis(250)).await;
    for failure in 1..=2 {
        let (body, calls) = ask(&gw, &svc, query).await;
        assert_eq!(calls, 1, "failure {failure} reaches the upstream");
        assert_eq!(body["data"], good, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }

    let (body, calls) = ask(&gw, &svc, query).await;
    assert_eq!(calls, 0, "the circuit is open: the upstream is not touched");
    assert_eq!(body["data"], good, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["extensions"]["stale"][0]["upstream"], "svc", "{body}");

    let (body, calls) = ask(&gw, &svc, r#"{ item(id: "2") { id } }"#).await;
    assert_eq!(calls, 0);
    assert_eq!(
        errors(&body)[0]["extensions"]["code"],
        "UPSTREAM_CIRCUIT_OPEN",
        "a key never cached has nothing to stand in: {body}"
    );
}

#[tokio::test]
async fn on_error_stale_keeps_last_good_answers_of_an_uncached_field() {
    let svc = support::mock("svc", 0, items()).await;
    let fields = r#"
  item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")
    @cache(ttl: "0s") @onError(use: STALE)
  spare(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")
    @cache(ttl: "0s") @onError(use: STALE, value: { id: "none", name: "unknown", served: 0 })
"#;
    let gw = support::gateway(
        &sdl(
            r#"retry: false, cache: { ttl: "1h", staleIfError: "1h" }"#,
            fields,
        ),
        &[&svc],
        &[],
    )
    .await;
    let query = r#"{ item(id: "1") { served } }"#;

    for served in 1..=2 {
        let (body, calls) = ask(&gw, &svc, query).await;
        assert_eq!(body, json!({"data": {"item": {"served": served}}}));
        assert_eq!(calls, 1, "ttl 0s: always a fresh answer while it works");
    }

    svc.state.set_fault(Some(Fault::Status(503)));
    let (body, calls) = ask(&gw, &svc, query).await;
    assert_eq!(calls, 1);
    assert_eq!(
        body["data"],
        json!({"item": {"served": 2}}),
        "the last good answer: {body}"
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["extensions"]["stale"][0]["path"], json!(["item"]));

    let (body, calls) = ask(&gw, &svc, r#"{ spare(id: "7") { id name served } }"#).await;
    assert_eq!(calls, 1);
    assert_eq!(
        body["data"],
        json!({"spare": {"id": "none", "name": "unknown", "served": 0}}),
        "nothing kept for id 7: the fallback value"
    );
    let errors = errors(&body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["spare"]));
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_HTTP_ERROR");
    assert_eq!(errors[0]["extensions"]["degraded"], true);
    assert!(body["extensions"].get("stale").is_none(), "{body}");
}

#[test]
fn check_refuses_cache_settings_that_cannot_work() {
    let check = |fields: &str, svc_args: &str| -> String {
        let sdl = format!(
            "schema @upstream(name: \"svc\", url: \"http://127.0.0.1:1\"{svc_args}) {{ query: Query }}\n\
             type Query {{\n{fields}\n}}\n{TYPES}"
        );
        match tributary::config::load("test.graphql", &sdl, &|_| None) {
            Ok(_) => panic!("accepted:\n{sdl}"),
            Err(diagnostics) => diagnostics.to_string(),
        }
    };

    let message = check(
        r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}") @onError(use: STALE)"#,
        r#", cache: { ttl: "1m" }"#,
    );
    assert!(
        message.contains("STALE") && message.contains("staleIfError"),
        "STALE needs a staleIfError window: {message}"
    );
    let message = check(
        r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}") @onError(use: STALE)"#,
        "",
    );
    assert!(
        message.contains("staleIfError"),
        "STALE needs a cache at all: {message}"
    );
    let message = check(
        r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}") @cache(ttl: "5s")"#,
        "",
    );
    assert!(
        message.contains("@cache") && message.contains("needs a `cache` on its upstream"),
        "a field TTL needs the upstream's bounded cache: {message}"
    );
    let message = check(
        r#"item(id: ID!): Item @rest(upstream: "svc", path: "/items/{$args.id}")
  name: String @cache(ttl: "5s")"#,
        r#", cache: { ttl: "1m" }"#,
    );
    assert!(
        message.contains("Query.name") && message.contains("needs a @rest binding"),
        "only upstream calls are cached: {message}"
    );
}

// ---------------------------------------------------------------------------
// Batching: the edges.

/// `/posts` and `/posts/{id}` from `user_ids` (post `i + 1` by user
/// `user_ids[i]`); users 1 to 10 exist, by `GET /users?id=..` (repeated or
/// comma-joined) or `POST /users/batch {"ids": [..]}`, unknown ids skipped.
fn blog(user_ids: &'static [u64]) -> Router {
    fn user(id: u64) -> Value {
        json!({"id": id, "name": format!("user {id}")})
    }
    fn known(ids: impl IntoIterator<Item = u64>) -> Json<Value> {
        Json(
            ids.into_iter()
                .filter(|id| (1..=10).contains(id))
                .map(user)
                .collect(),
        )
    }
    let post_at =
        |i: usize| json!({"id": i + 1, "userId": user_ids[i], "title": format!("post {}", i + 1)});
    Router::new()
        .route(
            "/posts",
            get(move || async move { Json((0..user_ids.len()).map(post_at).collect::<Value>()) }),
        )
        .route(
            "/posts/{id}",
            get(move |Path(id): Path<usize>| async move { Json(post_at(id - 1)) }),
        )
        .route(
            "/users",
            get(|RawQuery(query): RawQuery| async move {
                known(
                    support::query_pairs(&format!("?{}", query.unwrap_or_default()))
                        .into_iter()
                        .flat_map(|(_, v)| {
                            v.split(',')
                                .filter_map(|s| s.parse().ok())
                                .collect::<Vec<u64>>()
                        }),
                )
            }),
        )
        .route(
            "/users/batch",
            post(|Json(body): Json<Value>| async move {
                known(
                    body["ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_u64),
                )
            }),
        )
}

fn blog_sdl(user_binding: &str) -> String {
    format!(
        r#"
schema @upstream(name: "blog", url: "${{BLOG_URL}}") {{ query: Query }}
type Query {{
  posts: [Post!]! @rest(upstream: "blog", path: "/posts")
  post(id: Int!): Post @rest(upstream: "blog", path: "/posts/{{$args.id}}")
}}
type Post {{ id: Int! userId: Int! title: String! user: User {user_binding} }}
type User {{ id: Int! name: String! }}
"#
    )
}

const BATCHED: &str = r#"@rest(upstream: "blog", path: "/users", query: { id: "{$parent.userId}" }, batch: { key: "id" })"#;

/// The targets `/users` was asked for, in order.
fn user_targets(mock: &MockService) -> Vec<String> {
    mock.state
        .hits()
        .into_iter()
        .map(|h| h.target)
        .filter(|t| t.starts_with("/users"))
        .collect()
}

#[tokio::test]
async fn a_key_missing_from_the_batched_answer_nulls_that_item_alone() {
    let blog = support::mock("blog", 0, blog(&[1, 99, 2, 99])).await;
    let gw = support::gateway(&blog_sdl(BATCHED), &[&blog], &[]).await;

    let (body, _) = ask(&gw, &blog, "{ posts { id user { name } } }").await;
    assert_eq!(
        body["data"],
        json!({"posts": [
            {"id": 1, "user": {"name": "user 1"}},
            {"id": 2, "user": null},
            {"id": 3, "user": {"name": "user 2"}},
            {"id": 4, "user": null},
        ]})
    );
    let errors = errors(&body);
    let paths: Vec<&Value> = errors.iter().map(|e| &e["path"]).collect();
    assert_eq!(
        paths,
        [&json!(["posts", 1, "user"]), &json!(["posts", 3, "user"])],
        "one error per item without an answer: {body}"
    );
    for error in errors {
        assert_eq!(error["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    }
    assert_eq!(user_targets(&blog), ["/users?id=1&id=99&id=2"]);
}

#[tokio::test]
async fn duplicate_keys_are_sent_once() {
    let blog = support::mock("blog", 0, blog(&[3, 1, 3, 3, 1, 2])).await;
    let gw = support::gateway(&blog_sdl(BATCHED), &[&blog], &[]).await;

    let (body, _) = ask(&gw, &blog, "{ posts { user { id } } }").await;
    assert!(body.get("errors").is_none(), "{body}");
    let ids: Vec<&Value> = body["data"]["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .map(|p| &p["user"]["id"])
        .collect();
    assert_eq!(ids, [3, 1, 3, 3, 1, 2], "each post gets its own user");
    assert_eq!(
        user_targets(&blog),
        ["/users?id=3&id=1&id=2"],
        "three distinct users, one request"
    );
}

#[tokio::test]
async fn a_single_parent_is_batched_too() {
    let blog = support::mock("blog", 0, blog(&[4, 5, 6])).await;
    let gw = support::gateway(&blog_sdl(BATCHED), &[&blog], &[]).await;

    let (body, _) = ask(&gw, &blog, "{ post(id: 2) { title user { id name } } }").await;
    assert_eq!(
        body,
        json!({"data": {"post": {"title": "post 2", "user": {"id": 5, "name": "user 5"}}}})
    );
    assert_eq!(user_targets(&blog), ["/users?id=5"]);
}

#[tokio::test]
async fn a_post_batch_sends_the_keys_as_a_json_array() {
    let blog = support::mock("blog", 0, blog(&[1, 2, 1, 3])).await;
    let binding = r#"@rest(upstream: "blog", method: "POST", path: "/users/batch",
        body: { ids: "{$parent.userId}" }, batch: { key: "id" })"#;
    let gw = support::gateway(&blog_sdl(binding), &[&blog], &[]).await;

    let (body, _) = ask(&gw, &blog, "{ posts { user { name } } }").await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["posts"][3]["user"]["name"], "user 3", "{body}");
    let batches: Vec<_> = blog
        .state
        .hits()
        .into_iter()
        .filter(|h| h.target == "/users/batch")
        .collect();
    assert_eq!(batches.len(), 1, "one request for all four posts");
    assert_eq!(batches[0].method, "POST");
    let sent: Value = serde_json::from_slice(&batches[0].body).expect("a JSON body");
    assert_eq!(sent, json!({"ids": [1, 2, 3]}));
}
