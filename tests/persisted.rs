//! Persisted operations over real HTTP: automatic persisted queries (APQ)
//! over POST and GET, in memory and through a real Redis shared by two
//! gateways; trusted documents from both manifest formats, by `documentId`
//! and by hash, enforced and logged; and Apollo Client's and urql's own
//! persisted-query links, run from Node against the gateway.

mod support;

use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use support::TestGateway;
use support::redis::Redis;
use tributary::demo::MockService;
use tributary::gateway::persisted::sha256_hex;

const SCHEMA: &str = r#"
schema @upstream(name: "catalogue", url: "${CATALOGUE_URL}") SERVER { query: Query }
type Query {
  product(id: ID!): Product @rest(upstream: "catalogue", path: "/products/{$args.id}")
}
type Product { id: ID! name: String }
"#;

const PRODUCT: &str = "query Product($id: ID!) { product(id: $id) { id name } }";

fn catalogue() -> Router {
    Router::new().route(
        "/products/{id}",
        get(|Path(id): Path<String>| async move {
            Json(json!({ "id": id, "name": format!("product {id}") }))
        }),
    )
}

async fn start(server: &str, env: &[(&str, &str)]) -> (MockService, TestGateway) {
    let svc = support::mock("catalogue", 0, catalogue()).await;
    let sdl = SCHEMA.replace("SERVER", server);
    let gw = support::gateway(&sdl, &[&svc], env).await;
    (svc, gw)
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs the hash alone.
async fn by_hash(gw: &TestGateway, hash: &str, id: &str) -> (u16, Value) {
    gw.post(
        json!({ "operationName": "Product", "variables": { "id": id }, "extensions": apq(hash) }),
        &[],
    )
    .await
}

/// POSTs the query with its hash (the registration).
async fn with_hash(gw: &TestGateway, query: &str, id: &str) -> (u16, Value) {
    gw.post(
        json!({ "query": query, "variables": { "id": id }, "extensions": apq(&sha256_hex(query)) }),
        &[],
    )
    .await
}

/// GETs with the hash alone, `extensions` as URL-encoded JSON.
async fn get_by_hash(gw: &TestGateway, hash: &str, id: &str) -> (u16, Value) {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("operationName", "Product")
        .append_pair("variables", &json!({ "id": id }).to_string())
        .append_pair("extensions", &apq(hash).to_string())
        .finish();
    let response = gw
        .client
        .get(format!("{}?{query}", gw.url()))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body reads");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn metric(gw: &TestGateway, line: &str) -> u64 {
    let text = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{line}` in:\n{text}"))
}

#[tokio::test]
async fn apq_round_trip_over_post_and_get() {
    let (svc, gw) = start("", &[]).await;
    let hash = sha256_hex(PRODUCT);

    // Unknown hash: Apollo's answer, 200, nothing sent upstream.
    let (status, body) = by_hash(&gw, &hash, "1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert!(body.get("data").is_none(), "{body}");
    let (status, body) = get_by_hash(&gw, &hash, "1").await;
    assert_eq!((status, code(&body)), (200, "PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(svc.state.count(), 0);

    // The query with its hash runs and is kept.
    let (status, body) = with_hash(&gw, PRODUCT, "1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["product"]["name"], "product 1");

    // Now the hash alone is enough, over POST and over GET.
    let (status, body) = by_hash(&gw, &hash, "2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["product"]["name"], "product 2");
    let (status, body) = get_by_hash(&gw, &hash.to_ascii_uppercase(), "3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["product"]["name"], "product 3");
    // And as a GraphQL-over-HTTP documentId.
    let (_, body) = gw
        .post(
            json!({ "documentId": format!("sha256:{hash}"), "operationName": "Product",
                    "variables": { "id": "4" } }),
            &[],
        )
        .await;
    assert_eq!(body["data"]["product"]["name"], "product 4", "{body}");

    assert_eq!(
        metric(&gw, r#"tributary_persisted_queries_total{result="miss"}"#).await,
        2
    );
    assert_eq!(
        metric(&gw, r#"tributary_persisted_queries_total{result="hit"}"#).await,
        3
    );
    assert_eq!(
        metric(
            &gw,
            r#"tributary_persisted_queries_total{result="registered"}"#
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_hash_that_does_not_match_its_query_is_refused_and_not_kept() {
    let (svc, gw) = start("", &[]).await;
    let other = sha256_hex("{ __typename }");
    let (status, body) = gw
        .post(
            json!({ "query": PRODUCT, "variables": { "id": "1" }, "extensions": apq(&other) }),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "provided sha does not match query"
    );
    assert_eq!(code(&body), "BAD_REQUEST");
    assert_eq!(svc.state.count(), 0, "nothing ran");
    let (_, body) = by_hash(&gw, &other, "1").await;
    assert_eq!(
        code(&body),
        "PERSISTED_QUERY_NOT_FOUND",
        "the wrong pair was not kept"
    );

    // A document that does not validate is not kept either.
    let bad = "query Product($id: ID!) { product(id: $id) { nope } }";
    let (_, body) = with_hash(&gw, bad, "1").await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    let (_, body) = by_hash(&gw, &sha256_hex(bad), "1").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");

    // Versions other than 1 are not the protocol.
    let (status, body) = gw
        .post(
            json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": other } } }),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("version")
    );
}

#[tokio::test]
async fn with_persisted_queries_off_a_hash_alone_is_not_supported() {
    let (_svc, gw) = start("@server(persistedQueries: false)", &[]).await;
    let hash = sha256_hex(PRODUCT);
    let (_, body) = by_hash(&gw, &hash, "1").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_SUPPORTED", "{body}");
    // The query with its hash still runs (the hash is checked, not kept).
    let (_, body) = with_hash(&gw, PRODUCT, "1").await;
    assert_eq!(body["data"]["product"]["id"], "1", "{body}");
    let (_, body) = by_hash(&gw, &hash, "1").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_SUPPORTED");
    assert_eq!(gw.gateway.persisted_store_bytes(), None);
}

#[tokio::test]
async fn the_store_stays_within_max_bytes() {
    // Room for about four of the twenty documents below (each ~1 KB).
    let (_svc, gw) = start("@server(persistedQueries: { maxBytes: 4500 })", &[]).await;
    let queries: Vec<String> = (0..20)
        .map(|n| {
            format!(
                "query Product($id: ID!) {{ product(id: $id) {{ id name }} }} # {n} {}",
                "x".repeat(1000)
            )
        })
        .collect();
    for query in &queries {
        let (_, body) = with_hash(&gw, query, "1").await;
        assert_eq!(body["data"]["product"]["id"], "1", "{body}");
        let held = gw.gateway.persisted_store_bytes().expect("the store is on");
        assert!(
            held <= 4500,
            "the store holds {held} bytes, over maxBytes 4500"
        );
    }
    let mut found = 0;
    for query in &queries {
        let (_, body) = by_hash(&gw, &sha256_hex(query), "1").await;
        if body["data"]["product"]["id"] == "1" {
            found += 1;
        } else {
            assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
        }
    }
    assert!(
        (1..=4).contains(&found),
        "{found} of 20 documents still found"
    );
    assert!(
        metric(
            &gw,
            r#"tributary_persisted_queries_total{result="evicted"}"#
        )
        .await
            >= 1
            || found < 20
    );
}

#[tokio::test]
async fn two_gateways_share_persisted_queries_through_redis_and_serve_without_it() {
    let mut redis = Redis::start().await;
    let url = redis.url();
    let server = r#"@cache(redis: "${REDIS_URL}") @server(persistedQueries: { redis: true, redisTtl: "1h" })"#;
    let (_svc, one) = start(server, &[("REDIS_URL", &url)]).await;
    let svc_two = support::mock("catalogue", 0, catalogue()).await;
    let two = support::gateway(
        &SCHEMA.replace("SERVER", server),
        &[&svc_two],
        &[("REDIS_URL", &url)],
    )
    .await;
    let hash = sha256_hex(PRODUCT);

    let (_, body) = with_hash(&one, PRODUCT, "1").await;
    assert_eq!(body["data"]["product"]["id"], "1", "{body}");
    assert!(
        redis.grows_past(0, Duration::from_secs(5)).await,
        "the document reaches Redis"
    );
    let keys = redis
        .command(&["KEYS", "*"])
        .await
        .expect("redis answers KEYS");
    assert!(keys.contains(&format!("tributary:apq:v1:{hash}")), "{keys}");
    // Gateway two never saw the query: it finds it in Redis.
    let (status, body) = get_by_hash(&two, &hash, "2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["product"]["name"], "product 2");

    // A text in Redis that is not the hash's is not served.
    let forged = sha256_hex("{ product(id: \"9\") { id } }");
    redis
        .command(&["SET", &format!("tributary:apq:v1:{forged}"), PRODUCT])
        .await
        .expect("redis answers SET");
    let (_, body) = by_hash(&two, &forged, "1").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");

    // Redis goes away: known documents are served from memory, unknown
    // ones are a miss within the tier's timeout, and registering still works.
    redis.stop();
    let started = Instant::now();
    let (_, body) = by_hash(&two, &hash, "3").await;
    assert_eq!(body["data"]["product"]["name"], "product 3", "{body}");
    let other = "query Product($id: ID!) { product(id: $id) { name } }";
    let (_, body) = by_hash(&one, &sha256_hex(other), "4").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    let (_, body) = with_hash(&one, other, "4").await;
    assert_eq!(body["data"]["product"]["name"], "product 4", "{body}");
    let (_, body) = by_hash(&one, &sha256_hex(other), "5").await;
    assert_eq!(body["data"]["product"]["name"], "product 5", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "with Redis down the requests took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Trusted documents.

const LISTED: &str = "query Product($id: ID!) { product(id: $id) { id name } }";
const LISTED_NAME: &str = "query ProductName($id: ID!) { product(id: $id) { name } }";

fn apollo_manifest() -> Value {
    json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            { "id": sha256_hex(LISTED), "name": "Product", "type": "query", "body": LISTED },
            { "id": "product-name-v1", "name": "ProductName", "type": "query", "body": LISTED_NAME },
        ]
    })
}

fn codegen_manifest() -> Value {
    json!({ sha256_hex(LISTED): LISTED, sha256_hex(LISTED_NAME): LISTED_NAME })
}

async fn trusted(
    manifest: &Value,
    mode: &str,
    extra: &str,
) -> (MockService, TestGateway, support::TempDir) {
    let dir = support::fresh_dir("manifest");
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_string()).expect("manifest is written");
    let server = format!(
        r#"@server(trustedDocuments: {{ manifest: "${{MANIFEST}}", mode: {mode} {extra} }})"#
    );
    let path = path.display().to_string();
    let (svc, gw) = start(&server, &[("MANIFEST", &path)]).await;
    (svc, gw, dir)
}

async fn document_id(gw: &TestGateway, id: &str, name: &str) -> (u16, Value) {
    gw.post(
        json!({ "documentId": id, "operationName": name, "variables": { "id": "7" } }),
        &[],
    )
    .await
}

#[tokio::test]
async fn enforce_runs_only_manifest_operations_in_both_formats() {
    for (format, manifest) in [
        ("apollo", apollo_manifest()),
        ("codegen", codegen_manifest()),
    ] {
        let (svc, gw, _dir) = trusted(&manifest, "ENFORCE", "").await;
        assert_eq!(gw.gateway.trusted_documents(), Some(2), "{format}");

        // By documentId, bare and with the sha256: prefix, by APQ hash
        // alone, and as full text.
        let hash = sha256_hex(LISTED);
        for id in [hash.clone(), format!("sha256:{hash}")] {
            let (status, body) = document_id(&gw, &id, "Product").await;
            assert_eq!(status, 200, "{format} {id}: {body}");
            assert_eq!(
                body["data"]["product"]["name"], "product 7",
                "{format}: {body}"
            );
        }
        let (_, body) = get_by_hash(&gw, &hash, "8").await;
        assert_eq!(
            body["data"]["product"]["name"], "product 8",
            "{format}: {body}"
        );
        let (_, body) = gw.query_vars(LISTED_NAME, json!({ "id": "9" })).await;
        assert_eq!(
            body["data"]["product"]["name"], "product 9",
            "{format}: {body}"
        );
        if format == "apollo" {
            let (_, body) = document_id(&gw, "product-name-v1", "ProductName").await;
            assert_eq!(body["data"]["product"]["name"], "product 7", "{body}");
        }

        // Anything else is refused before it reaches an upstream: another
        // text, an unknown id, a registration, introspection.
        let calls = svc.state.count();
        let other = "query Product($id: ID!) { product(id: $id) { id } }";
        let (status, body) = gw.query_vars(other, json!({ "id": "1" })).await;
        assert_eq!(
            (status, code(&body)),
            (200, "PERSISTED_QUERY_NOT_IN_LIST"),
            "{format}: {body}"
        );
        let (status, body) = gw
            .post(
                json!({ "query": other, "variables": { "id": "1" } }),
                &[("accept", "application/graphql-response+json")],
            )
            .await;
        assert_eq!((status, code(&body)), (400, "PERSISTED_QUERY_NOT_IN_LIST"));
        let (_, body) = with_hash(&gw, other, "1").await;
        assert_eq!(
            code(&body),
            "PERSISTED_QUERY_NOT_IN_LIST",
            "{format}: {body}"
        );
        let (_, body) = by_hash(&gw, &sha256_hex(other), "1").await;
        assert_eq!(
            code(&body),
            "PERSISTED_QUERY_NOT_FOUND",
            "not registered: {body}"
        );
        let (_, body) = document_id(&gw, "sha256:0000", "Product").await;
        assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
        let (_, body) = gw.query("{ __schema { queryType { name } } }").await;
        assert_eq!(code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body}");
        assert_eq!(
            svc.state.count(),
            calls,
            "{format}: nothing refused was sent upstream"
        );
        assert_eq!(
            metric(
                &gw,
                r#"tributary_trusted_documents_total{result="refused"}"#
            )
            .await,
            4
        );
    }
}

#[tokio::test]
async fn enforce_can_allow_introspection() {
    let (_svc, gw, _dir) =
        trusted(&codegen_manifest(), "ENFORCE", ", allowIntrospection: true").await;
    let (_, body) = gw
        .query("query Meta { __schema { queryType { name } } __typename }")
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
    let (_, body) = gw.query("{ __typename product(id: \"1\") { id } }").await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body}");
}

#[tokio::test]
async fn log_mode_runs_unlisted_operations_and_counts_them() {
    let (_svc, gw, _dir) = trusted(&apollo_manifest(), "LOG", "").await;
    let (_, body) = gw.query_vars(LISTED, json!({ "id": "1" })).await;
    assert_eq!(body["data"]["product"]["id"], "1", "{body}");
    let (_, body) = gw.query("{ product(id: \"2\") { id } }").await;
    assert_eq!(body["data"]["product"]["id"], "2", "{body}");
    let (_, body) = gw.query("{ __typename }").await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert_eq!(
        metric(
            &gw,
            r#"tributary_trusted_documents_total{result="unlisted"}"#
        )
        .await,
        2
    );
    assert_eq!(
        metric(
            &gw,
            r#"tributary_trusted_documents_total{result="refused"}"#
        )
        .await,
        0
    );
}

#[tokio::test]
async fn manifest_operations_are_validated_at_load() {
    let svc = support::mock("catalogue", 0, catalogue()).await;
    let dir = support::fresh_dir("bad-manifest");
    for (manifest, expect) in [
        (
            json!({ "bad-1": "{ product(id: \"1\") { nope } }" }),
            "entry `bad-1`: Cannot query field \"nope\" on type \"Product\".",
        ),
        (
            json!({ "bad-2": "{ product(id: \"1\") { id } " }),
            "entry `bad-2`: the document does not parse",
        ),
        (
            json!({ "format": "apollo-persisted-query-manifest", "version": 1,
                 "operations": [{ "id": "m1", "name": "Q", "type": "mutation", "body": "query Q { __typename }" }] }),
            "entry `m1`: its `type` is `mutation`",
        ),
        (
            json!({ "bad-3": "query Q($id: ID!) { product(id: $id) { id } product2: product(id: $id) { name(x: 1) } }" }),
            "entry `bad-3`",
        ),
    ] {
        let path = dir.join("manifest.json");
        std::fs::write(&path, manifest.to_string()).expect("manifest is written");
        let sdl = SCHEMA.replace(
            "SERVER",
            r#"@server(trustedDocuments: { manifest: "${MANIFEST}" })"#,
        );
        let path = path.display().to_string();
        let config = support::load_config(&sdl, &[&svc], &[("MANIFEST", &path)]);
        let error = tributary::Gateway::new(&config)
            .err()
            .expect("the manifest is refused");
        assert!(
            error.contains(expect),
            "`{error}` should contain `{expect}`"
        );
        assert!(error.contains(&path), "`{error}` names the file");
    }
}

#[tokio::test]
async fn the_first_request_for_a_manifest_operation_is_not_validated_again() {
    let (_svc, gw, _dir) = trusted(&apollo_manifest(), "ENFORCE", "").await;
    // Validated at load: the document cache stays empty, because the
    // manifest's prepared operation is used in its place.
    let (_, body) = document_id(&gw, &sha256_hex(LISTED), "Product").await;
    assert_eq!(body["data"]["product"]["id"], "7", "{body}");
    assert_eq!(gw.gateway.document_cache_bytes(), 0);
    // Variables are still checked on every request.
    let (_, body) = gw
        .post(json!({ "documentId": sha256_hex(LISTED), "operationName": "Product", "variables": { "id": 3.5 } }), &[])
        .await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

// ---------------------------------------------------------------------------
// Real clients.

#[tokio::test]
async fn apollo_client_and_urql_speak_apq_with_the_gateway() {
    support::require_js_deps();
    let (svc, gw) = start("", &[]).await;
    let mut node = std::process::Command::new("node");
    node.current_dir(support::crate_root())
        .arg("tests/js/persisted.mjs")
        .arg(gw.url());
    let output = support::run_command(node, Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "persisted.mjs failed:\n{stderr}\n{stdout}"
    );
    let results: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{stdout}\n{stderr}"));
    for client in ["apollo", "apollo-get", "urql", "urql-get"] {
        let runs = results[client]
            .as_array()
            .unwrap_or_else(|| panic!("no {client}: {results}"));
        assert_eq!(runs.len(), 2, "{client}: {results}");
        for (n, run) in runs.iter().enumerate() {
            assert_eq!(
                run["data"]["product"]["name"],
                format!("product {client}-{n}"),
                "{client}: {results}"
            );
        }
    }
    // Each client has its own document: its first run is a miss, then the
    // query with its hash (registered); its second run is a hit.
    for client in ["apollo", "apollo-get", "urql", "urql-get"] {
        let requests = results[format!("{client}-requests")]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let shapes: Vec<(String, bool, bool)> = requests
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or_default().to_owned(),
                    r["query"] == true,
                    r["hash"] == true,
                )
            })
            .collect();
        let hashed = if client.ends_with("-get") {
            "GET"
        } else {
            "POST"
        };
        assert_eq!(shapes.len(), 3, "{client}: {requests:?}");
        assert_eq!(
            shapes[0],
            (hashed.to_owned(), false, true),
            "{client} first sends the hash alone: {requests:?}"
        );
        assert!(
            shapes[1].1 && shapes[1].2,
            "{client} then sends the query with its hash: {requests:?}"
        );
        assert_eq!(
            shapes[2],
            (hashed.to_owned(), false, true),
            "{client} then the hash alone again: {requests:?}"
        );
    }
    assert_eq!(
        metric(&gw, r#"tributary_persisted_queries_total{result="miss"}"#).await,
        4
    );
    assert_eq!(
        metric(
            &gw,
            r#"tributary_persisted_queries_total{result="registered"}"#
        )
        .await,
        4
    );
    assert_eq!(
        metric(&gw, r#"tributary_persisted_queries_total{result="hit"}"#).await,
        4
    );
    assert_eq!(svc.state.count(), 8, "one upstream call per run");
}

#[tokio::test]
async fn serve_refuses_to_start_on_a_bad_manifest_given_with_the_flag() {
    let dir = support::fresh_dir("cli-manifest");
    let schema = dir.join("schema.graphql");
    std::fs::write(
        &schema,
        SCHEMA
            .replace("SERVER", "")
            .replace("${CATALOGUE_URL}", "http://127.0.0.1:9"),
    )
    .expect("schema is written");
    let manifest = dir.join("ops.json");
    std::fs::write(
        &manifest,
        json!({ "op-7": "{ product { id } }" }).to_string(),
    )
    .expect("manifest is written");
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    serve
        .arg("serve")
        .arg(&schema)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--manifest-mode", "log", "--listen", "127.0.0.1:0"]);
    let output = support::run_command(serve, Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it must not start:\n{stderr}");
    assert!(
        stderr.contains("entry `op-7`") && stderr.contains("\"id\""),
        "the entry and the missing argument are named:\n{stderr}"
    );
}
