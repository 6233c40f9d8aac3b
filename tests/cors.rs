//! CORS: off by default; with `@server(cors: ...)` preflights are answered in
//! front of the router, listed origins and patterns are let in and nothing
//! else is, and a real browser on a second origin can query with `fetch` and
//! urql, with and without credentials, and is refused where it should be.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::HeaderMap;
use serde_json::{Value, json};
use tributary::demo::MockService;

/// An upstream that answers `/me` with the cookie it was sent.
async fn echo() -> MockService {
    let routes = Router::new().route(
        "/me",
        get(|headers: HeaderMap| async move {
            let cookie = headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            axum::Json(json!({ "cookie": cookie }))
        }),
    );
    support::mock("echo", 0, routes).await
}

fn sdl(server: &str) -> String {
    format!(
        r#"schema @upstream(name: "echo", url: "${{ECHO_URL}}") {server} {{ query: Query }}
type Query {{ me: Me @rest(upstream: "echo", path: "/me", forwardHeaders: ["cookie"]) }}
type Me {{ cookie: String }}"#
    )
}

const QUERY: &str = "{ me { cookie } }";

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The comma-separated values of `name`, lower-cased.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `OPTIONS /graphql` as a browser sends it before a JSON POST.
async fn preflight(
    gw: &support::TestGateway,
    origin: &str,
    request_headers: &str,
) -> reqwest::Response {
    gw.client
        .request(reqwest::Method::OPTIONS, gw.url())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", request_headers)
        .send()
        .await
        .expect("gateway answers")
}

async fn post_from(gw: &support::TestGateway, origin: &str) -> reqwest::Response {
    gw.client
        .post(gw.url())
        .header("origin", origin)
        .header("content-type", "application/json")
        .body(json!({ "query": QUERY }).to_string())
        .send()
        .await
        .expect("gateway answers")
}

/// How many operations the gateway has executed (its operation histogram).
async fn operations(gw: &support::TestGateway) -> u64 {
    let text = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics read");
    text.lines()
        .filter(|l| l.starts_with("graphql_server_operation_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn without_cors_no_header_is_sent_and_no_preflight_is_answered() {
    let echo = echo().await;
    let gw = support::gateway(&sdl(""), &[&echo], &[]).await;

    let response = preflight(&gw, "https://app.example.com", "content-type").await;
    assert_eq!(response.status(), 405, "the router has no OPTIONS route");
    assert!(header(response.headers(), "access-control-allow-origin").is_none());

    let response = post_from(&gw, "https://app.example.com").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        !headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{headers:?}"
    );
    assert!(!list(&headers, "vary").contains(&"origin".to_owned()));
}

#[tokio::test]
async fn a_preflight_is_answered_in_front_of_the_engine_with_the_configured_headers() {
    let echo = echo().await;
    let gw = support::gateway(
        &sdl(
            r#"@server(cors: { origins: ["https://app.example.com"], allowCredentials: true,
                               exposeHeaders: ["x-request-id"], maxAge: "10m" })"#,
        ),
        &[&echo],
        &[],
    )
    .await;

    for _ in 0..3 {
        let response = preflight(&gw, "https://app.example.com", "content-type,cookie").await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            header(headers, "access-control-allow-credentials"),
            Some("true")
        );
        let methods = list(headers, "access-control-allow-methods");
        assert!(
            methods.contains(&"post".to_owned()) && methods.contains(&"get".to_owned()),
            "{methods:?}"
        );
        // By default: what the gateway reads, the schema's forwarded
        // `cookie` included; nothing it does not read.
        let allowed = list(headers, "access-control-allow-headers");
        for name in [
            "content-type",
            "accept",
            "traceparent",
            "tracestate",
            "cookie",
        ] {
            assert!(allowed.contains(&name.to_owned()), "{name}: {allowed:?}");
        }
        assert!(
            !allowed.contains(&"authorization".to_owned()),
            "{allowed:?}"
        );
        assert!(!allowed.contains(&"tributary-timeline".to_owned()));
        assert_eq!(header(headers, "access-control-max-age"), Some("600"));
        assert!(list(headers, "vary").contains(&"origin".to_owned()));
        assert_eq!(
            response.bytes().await.expect("body").len(),
            0,
            "a preflight has no body"
        );
    }
    assert_eq!(operations(&gw).await, 0, "no preflight reached the engine");
    assert!(echo.state.hits().is_empty());

    // The request itself carries the headers the page needs to read it.
    let response = post_from(&gw, "https://app.example.com").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        list(&headers, "access-control-expose-headers"),
        ["x-request-id"]
    );
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(body["data"]["me"]["cookie"], Value::Null, "{body}");
    assert_eq!(operations(&gw).await, 1, "the POST did");
}

#[tokio::test]
async fn origins_outside_the_list_get_no_cors_headers() {
    let echo = echo().await;
    let gw = support::gateway(
        &sdl(r#"@server(cors: { origins: ["https://app.example.com"] })"#),
        &[&echo],
        &[],
    )
    .await;
    for origin in [
        "https://evil.example.net",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.net",
        "null",
    ] {
        let response = preflight(&gw, origin, "content-type").await;
        assert_eq!(response.status(), 200, "{origin}");
        assert!(
            header(response.headers(), "access-control-allow-origin").is_none(),
            "{origin}: {:?}",
            response.headers()
        );
        // The server still answers a simple request; the browser, seeing no
        // allow-origin, keeps the answer from the page.
        let response = post_from(&gw, origin).await;
        assert!(
            header(response.headers(), "access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(header(response.headers(), "access-control-allow-credentials").is_none());
    }
}

#[tokio::test]
async fn patterns_let_in_subdomains_and_ports_and_nothing_beside_them() {
    let echo = echo().await;
    let gw = support::gateway(
        &sdl(
            r#"@server(cors: { origins: ["https://*.example.com", "http://localhost:*", "https://exact.example.org"],
                               allowHeaders: ["content-type", "x-client"] })"#,
        ),
        &[&echo],
        &[],
    )
    .await;
    for (origin, allowed) in [
        ("https://a.example.com", true),
        ("https://deep.a.example.com", true),
        ("https://example.com", false),
        ("https://badexample.com", false),
        ("https://a.example.com.evil.net", false),
        ("http://a.example.com", false),
        ("https://a.example.com:8443", false),
        ("http://localhost:5173", true),
        ("http://localhost", true),
        ("https://localhost:5173", false),
        ("http://localhost.evil.net:5173", false),
        ("https://exact.example.org", true),
        ("https://sub.exact.example.org", false),
    ] {
        let response = preflight(&gw, origin, "content-type,x-client").await;
        let got = header(response.headers(), "access-control-allow-origin");
        if allowed {
            assert_eq!(got, Some(origin), "{origin}");
            assert_eq!(
                list(response.headers(), "access-control-allow-headers"),
                ["content-type", "x-client"],
                "allowHeaders replaces the default list"
            );
        } else {
            assert_eq!(got, None, "{origin}");
        }
    }
}

#[tokio::test]
async fn a_wildcard_origin_answers_star_and_never_credentials() {
    let echo = echo().await;
    let gw = support::gateway(
        &sdl(r#"@server(cors: { origins: ["*"], allowHeaders: ["*"] })"#),
        &[&echo],
        &[],
    )
    .await;
    let response = preflight(&gw, "https://anyone.example", "content-type,x-anything").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(headers, "access-control-allow-headers"), Some("*"));
    assert!(header(headers, "access-control-allow-credentials").is_none());
    assert_eq!(
        header(headers, "access-control-max-age"),
        Some("300"),
        "the default maxAge"
    );
}

#[test]
fn impossible_or_malformed_cors_settings_are_load_errors_at_their_line() {
    for (server, says) in [
        (
            r#"@server(cors: { origins: ["*"], allowCredentials: true })"#,
            "`allowCredentials: true` cannot go with `origins: [\"*\"]`",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com"], allowCredentials: true, allowHeaders: ["*"] })"#,
            "cannot go with `allowHeaders: [\"*\"]`",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com"], allowCredentials: true, exposeHeaders: "*" })"#,
            "cannot go with `exposeHeaders: [\"*\"]`",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com/app"] })"#,
            "no path; write \"https://a.example.com\"",
        ),
        (
            r#"@server(cors: { origins: ["https://a.*.example.com"] })"#,
            "leftmost labels",
        ),
        (
            r#"@server(cors: { origins: ["a.example.com"] })"#,
            "write the scheme and host",
        ),
        (r#"@server(cors: { origins: ["null"] })"#, "`null` origin"),
        (r#"@server(cors: { origins: [] })"#, "lists no origin"),
        (
            r#"@server(cors: { origins: ["*", "https://a.example.com"] })"#,
            "list it alone",
        ),
        (
            r#"@server(cors: { allowCredentials: true })"#,
            "needs `origins`",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com"], origin: "x" })"#,
            "unknown key `origin` in `cors`",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com"], maxAge: "1500ms" })"#,
            "whole seconds",
        ),
        (
            r#"@server(cors: { origins: ["https://a.example.com"], allowHeaders: ["bad header"] })"#,
            "not a valid header name",
        ),
        (r#"@server(cors: true)"#, "must be an object"),
    ] {
        let text = format!("\n  {}", sdl(server));
        let error = tributary::config::load("front.graphql", &text, &|name| {
            (name == "ECHO_URL").then(|| "http://127.0.0.1:9".to_owned())
        })
        .expect_err(server)
        .to_string();
        // The diagnostic points at the `cors:` value, on line 2.
        let column = text
            .lines()
            .nth(1)
            .and_then(|l| l.find("cors: ").map(|at| at + "cors: ".len() + 1))
            .expect("the cors argument is on line 2");
        assert!(
            error.contains(&format!("front.graphql:2:{column}: ")),
            "{server}: {error}"
        );
        assert!(error.contains(says), "{server}: {error}");
    }
}

// ------------------------------------------------------------- the browser

/// The page a second origin serves: it loads @urql/core as an ES module
/// (import map onto the npm package's files) and sets a cookie for its host.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>another origin</title>
<script>
// What a bundler would fill in: @urql/core's ES build reads process.env.NODE_ENV.
window.process = { env: { NODE_ENV: 'production' } };
</script>
<script type="importmap">
{ "imports": {
  "@urql/core": "/modules/@urql/core/dist/urql-core.mjs",
  "wonka": "/modules/wonka/dist/wonka.mjs",
  "@0no-co/graphql.web": "/modules/@0no-co/graphql.web/dist/graphql.web.mjs"
} }
</script>
<script type="module">
import { Client, fetchExchange } from '@urql/core';
window.urqlCore = { Client, fetchExchange };
document.cookie = 'tributary_session=from-the-page; path=/; SameSite=Lax';
window.pageReady = true;
</script>
</head><body>another origin</body></html>"#;

/// The only files the page server serves from tests/js/node_modules.
const MODULES: [&str; 4] = [
    "@urql/core/dist/urql-core.mjs",
    "@urql/core/dist/urql-core-chunk.mjs",
    "wonka/dist/wonka.mjs",
    "@0no-co/graphql.web/dist/graphql.web.mjs",
];

/// Serves [`PAGE`] and [`MODULES`] on 127.0.0.1:0; returns the port.
async fn page_server() -> u16 {
    let modules = support::crate_root().join("tests/js/node_modules");
    let mut router = Router::new().route("/", get(|| async { axum::response::Html(PAGE) }));
    for file in MODULES {
        let text = std::fs::read_to_string(modules.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}; run scripts/test-deps.sh"));
        router = router.route(
            &format!("/modules/{file}"),
            get(move || {
                let text = text.clone();
                async move { ([("content-type", "text/javascript")], text) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("page server binds");
    let port = listener.local_addr().expect("bound").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_a_second_origin_queries_with_fetch_and_urql_and_is_refused_where_it_should_be() {
    support::require_js_deps();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/test-deps.sh (as root) once"
    );
    let echo = echo().await;
    let port = page_server().await;
    // Two origins from one server: the port makes it a second origin of
    // 127.0.0.1, and `localhost` is a third one the gateway does not list.
    let page = format!("http://127.0.0.1:{port}/");
    let other_page = format!("http://localhost:{port}/");

    let exact = support::gateway(
        &sdl(&format!(
            r#"@server(cors: {{ origins: ["http://127.0.0.1:{port}"], allowCredentials: true }})"#
        )),
        &[&echo],
        &[],
    )
    .await;
    let anyone =
        support::gateway(&sdl(r#"@server(cors: { origins: ["*"] })"#), &[&echo], &[]).await;
    let closed = support::gateway(&sdl(""), &[&echo], &[]).await;

    let case = |name: &str, page: &str, client: &str, gw: &support::TestGateway, creds: &str| json!({ "name": name, "page": page, "client": client, "url": gw.url(), "credentials": creds });
    let cases = json!([
        case("fetch", &page, "fetch", &exact, "omit"),
        case("fetch with credentials", &page, "fetch", &exact, "include"),
        case("urql", &page, "urql", &exact, "omit"),
        case("urql with credentials", &page, "urql", &exact, "include"),
        case(
            "urql POST with credentials",
            &page,
            "urql-post",
            &exact,
            "include"
        ),
        case("wildcard fetch", &page, "fetch", &anyone, "omit"),
        case(
            "wildcard fetch with credentials",
            &page,
            "fetch",
            &anyone,
            "include"
        ),
        case("no cors fetch", &page, "fetch", &closed, "omit"),
        case(
            "unlisted origin fetch",
            &other_page,
            "fetch",
            &exact,
            "omit"
        ),
        case(
            "unlisted origin urql",
            &other_page,
            "urql",
            &exact,
            "include"
        ),
    ]);

    let dir = support::fresh_dir("cors-browser");
    let mut browser = Command::new("node");
    browser
        .arg("tests/js/cors.mjs")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CORS_CASES", cases.to_string())
        .env("CORS_QUERY", QUERY)
        .env("CORS_TIMEOUT_MS", "90000")
        .env("CORS_SCREENSHOT", dir.join("cors.png"));
    let output = support::run_command(browser, Duration::from_secs(150)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "cors.mjs failed:\n{stderr}\n{stdout}"
    );
    let results: Vec<Value> = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("cors.mjs printed no results ({e}):\n{stdout}"));
    let result = |name: &str| -> &Value {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no result for {name}: {results:?}"))
    };
    let cookie = |name: &str| -> Value {
        let r = result(name);
        assert_eq!(
            r["ok"], true,
            "{name}: the page could not read the answer: {r}"
        );
        assert!(r["body"].get("errors").is_none(), "{name}: {r}");
        r["body"]["data"]["me"]["cookie"].clone()
    };

    // Read by the page; the cookie travels only when credentials are asked for.
    assert_eq!(cookie("fetch"), Value::Null);
    assert_eq!(cookie("urql"), Value::Null);
    for name in [
        "fetch with credentials",
        "urql with credentials",
        "urql POST with credentials",
    ] {
        assert_eq!(
            cookie(name),
            "tributary_session=from-the-page",
            "{name}: the page's cookie reached the upstream through the gateway"
        );
    }
    assert_eq!(cookie("wildcard fetch"), Value::Null);

    // Refused by the browser: fetch rejects, urql reports a network error,
    // and Chromium names CORS as the reason.
    for name in [
        "wildcard fetch with credentials",
        "no cors fetch",
        "unlisted origin fetch",
        "unlisted origin urql",
    ] {
        let r = result(name);
        assert_eq!(
            r["ok"], false,
            "{name}: the browser let the page read it: {r}"
        );
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("Failed to fetch")),
            "{name}: {r}"
        );
        assert!(
            r["cors"]
                .as_array()
                .is_some_and(|lines| lines.iter().any(|l| l
                    .as_str()
                    .is_some_and(|l| l.contains("blocked by CORS policy")))),
            "{name}: no CORS refusal in the console: {r}"
        );
    }
    assert_eq!(result("unlisted origin urql")["network"], true);
}
