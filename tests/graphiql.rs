//! The GraphiQL playground: it runs a query in a real (headless) browser with
//! its scripts served by the gateway and no other host reachable, and it only
//! ever serves its four known asset files.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tributary::demo::{DEMO_SCHEMA, Demo, MockService};
use tributary::http::graphiql::{ASSET_FILES, Assets};

async fn get(gw: &support::TestGateway, path: &str) -> (u16, String, String) {
    let response = gw
        .client
        .get(format!("{}{path}", gw.running.url()))
        .header("accept", "text/html")
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// Opens the gateway's GraphiQL in headless Chromium, runs `query`, and
/// waits for every line of `expect` in the result pane.
async fn graphiql(
    gw: &support::TestGateway,
    query: &str,
    expect: &str,
    screenshot: &Path,
) -> std::process::Output {
    let mut browser = Command::new("node");
    browser
        .arg("tests/js/graphiql.mjs")
        .arg(format!("{}/", gw.running.url()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GRAPHIQL_QUERY", query)
        .env("GRAPHIQL_EXPECT", expect)
        .env("GRAPHIQL_TIMEOUT_MS", "60000")
        .env("GRAPHIQL_SCREENSHOT", screenshot);
    support::run_command(browser, Duration::from_secs(120)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_in_a_browser_without_the_internet() {
    support::require_js_deps();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/test-deps.sh (as root) once"
    );
    let assets = support::fresh_dir("graphiql-assets");
    let mut copy = Command::new("bash");
    copy.arg("scripts/graphiql-assets.sh")
        .arg(assets.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let copied = support::run_command(copy, Duration::from_secs(120)).await;
    assert!(
        copied.status.success(),
        "graphiql-assets.sh failed: {}",
        String::from_utf8_lossy(&copied.stderr)
    );

    let demo = Demo::start(Some(Duration::ZERO))
        .await
        .expect("demo upstreams start");
    let mocks: Vec<&MockService> = demo.services.iter().collect();
    let config = support::load_config(DEMO_SCHEMA, &mocks, &[]);
    let local = Assets::local(assets.path()).expect("the copied assets load");
    let gw = support::serve_with_assets(&config, local).await;

    // The answer, and the timeline GraphiQL asks for (header
    // `tributary-timeline: 1`; the demo schema allows it).
    let output = graphiql(
        &gw,
        r#"{ product(id: "42") { details { name } } }"#,
        "Product 42\n\"timeline\": {\n\"criticalPath\"",
        &assets.join("graphiql.png"),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "graphiql.mjs failed (screenshot: {}):\n{stderr}",
        assets.join("graphiql.png").display()
    );

    // The answer came through the gateway from the catalogue upstream.
    let catalogue = demo.service("catalogue").expect("demo has a catalogue");
    assert!(
        catalogue
            .state
            .hits()
            .iter()
            .any(|hit| hit.target == "/products/42"),
        "the catalogue was never asked for product 42"
    );

    // A subscription in the same page: over a WebSocket (the graphql-ws
    // client served with the other assets), each event shown as it comes.
    let output = graphiql(
        &gw,
        r#"subscription { stock(productId: "42") { sequence details { name } } }"#,
        "\"sequence\": 2\nProduct 42",
        &assets.join("subscription.png"),
    )
    .await;
    assert!(
        output.status.success(),
        "the subscription in GraphiQL failed (screenshot: {}):\n{}",
        assets.join("subscription.png").display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let inventory = demo.service("inventory").expect("demo has an inventory");
    assert!(
        inventory
            .state
            .hits()
            .iter()
            .any(|hit| hit.target == "/stock/42/events"),
        "the inventory's event stream was never opened"
    );
}

#[tokio::test]
async fn without_local_assets_the_page_loads_graphiql_from_the_cdn() {
    let gw = support::gateway(
        r#"type Query { hello(name: String): Greeting } type Greeting { name: String }"#,
        &[],
        &[],
    )
    .await;

    let (status, content_type, page) = get(&gw, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for script in [
        "https://unpkg.com/graphiql@3.9.0/graphiql.min.js",
        "https://unpkg.com/graphiql@3.9.0/graphiql.min.css",
        "https://unpkg.com/react@18.3.1/umd/react.production.min.js",
        "https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js",
        "https://unpkg.com/graphql-ws@6.4.2/umd/graphql-ws.min.js",
    ] {
        assert!(page.contains(script), "{script} missing from:\n{page}");
    }
    assert!(!page.contains("/graphiql/assets/"), "{page}");

    let (status, _, _) = get(&gw, "/graphiql/assets/graphiql.min.js").await;
    assert_eq!(status, 404, "no local assets, nothing to serve");
}

#[tokio::test]
async fn local_assets_are_the_only_files_served() {
    let dir = support::fresh_dir("graphiql-fake-assets");
    for (name, _) in ASSET_FILES {
        std::fs::write(dir.join(name), format!("/* {name} */")).expect("asset is written");
    }
    let config = support::load_config(
        r#"type Query { hello(name: String): Greeting } type Greeting { name: String }"#,
        &[],
        &[],
    );
    let local = Assets::local(dir.path()).expect("the four files load");
    let gw = support::serve_with_assets(&config, local).await;

    let (status, _, page) = get(&gw, "/").await;
    assert_eq!(status, 200);
    assert!(!page.contains("unpkg.com"), "{page}");
    for (name, content_type) in ASSET_FILES {
        assert!(
            page.contains(&format!("\"/graphiql/assets/{name}\"")),
            "{page}"
        );
        let (status, got_type, body) = get(&gw, &format!("/graphiql/assets/{name}")).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(got_type, content_type, "{name}");
        assert_eq!(body, format!("/* {name} */"));
    }

    for target in [
        "/graphiql/assets/../Cargo.toml",
        "/graphiql/assets/..%2fCargo.toml",
        "/graphiql/assets/%2e%2e%2fCargo.toml",
        "/graphiql/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/graphiql/assets/Cargo.toml",
        "/graphiql/assets/graphiql.min.js.map",
        "/graphiql/assets/",
    ] {
        assert_eq!(
            support::raw_get_status(gw.running.addr, target).await,
            404,
            "{target}"
        );
    }
}

#[test]
fn a_missing_asset_is_named_at_start_up() {
    let dir = support::fresh_dir("graphiql-incomplete");
    std::fs::write(dir.join("graphiql.min.css"), "").expect("asset is written");
    let error = Assets::local(dir.path()).expect_err("three files are missing");
    assert!(error.contains("react.production.min.js"), "{error}");
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
}
