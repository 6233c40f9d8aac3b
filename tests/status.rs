//! `GET /status`: after a few product pages, one row per upstream with its
//! percentiles, error rate, cache hit rate and breaker state, and a waterfall
//! per recent execution, as plain HTML and SVG. Checked as text, then
//! rendered in headless Chromium (tests/js/status.mjs).
//!
//! The workload: the catalogue is cached (one miss, two hits), pricing answers
//! 500 and its breaker opens after two failures, shipping is healthy.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::get;
use serde_json::{Value, json};
use tributary::demo::{Fault, MockService};

const SCHEMA: &str = r#"
schema
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}", cache: { ttl: "60s" })
  @upstream(name: "pricing", url: "${PRICING_URL}", retry: false,
            breaker: { consecutiveFailures: 2, openFor: "60s", failureStatuses: [500] })
  @upstream(name: "shipping", url: "${SHIPPING_URL}")
{ query: Query }

type Query { product(id: ID!): Product }

type Product {
  id: ID!
  details: Details @rest(upstream: "catalogue", path: "/products/{$parent.id}")
  price: Price @rest(upstream: "pricing", path: "/prices/{$parent.id}")
  shipping: Shipping @rest(upstream: "shipping", path: "/estimates/{$parent.id}")
}

type Details { id: ID! name: String }
type Price { id: ID! amount: Float }
type Shipping { id: ID! days: Int }
"#;

const UPSTREAMS: [&str; 3] = ["catalogue", "pricing", "shipping"];

const PAGE: &str = r#"query ProductPage { product(id: "5") { details { name } price { amount } shipping { days } } }"#;

fn echo(route: &str) -> Router {
    Router::new().route(
        route,
        get(|UrlPath(id): UrlPath<String>| async move {
            axum::Json(
                json!({ "id": id, "name": format!("Product {id}"), "amount": 2.5, "days": 3 }),
            )
        }),
    )
}

/// The gateway after three product pages.
async fn after_three_pages() -> (support::TestGateway, Vec<MockService>) {
    let catalogue = support::mock("catalogue", 30, echo("/products/{id}")).await;
    let pricing = support::mock("pricing", 10, echo("/prices/{id}")).await;
    pricing.state.set_fault(Some(Fault::Status(500)));
    let shipping = support::mock("shipping", 20, echo("/estimates/{id}")).await;
    let gw = support::gateway(SCHEMA, &[&catalogue, &pricing, &shipping], &[]).await;
    for _ in 0..3 {
        let (status, body) = gw.query(PAGE).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["product"]["details"]["name"], "Product 5");
    }
    (gw, vec![catalogue, pricing, shipping])
}

async fn status_page(gw: &support::TestGateway) -> (String, String) {
    let response = gw
        .client
        .get(format!("{}/status", gw.running.url()))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, response.text().await.expect("body reads"))
}

/// The `<tr>` of `upstream` in the table.
fn row<'h>(html: &'h str, upstream: &str) -> &'h str {
    let start = html
        .find(&format!(r#"data-upstream="{upstream}""#))
        .unwrap_or_else(|| panic!("no row for {upstream}:\n{html}"));
    let end = html[start..].find("</tr>").expect("the row ends") + start;
    &html[start..end]
}

#[tokio::test]
async fn the_status_page_lists_every_upstream_and_draws_recent_executions() {
    let (gw, _mocks) = after_three_pages().await;
    let (content_type, html) = status_page(&gw).await;
    assert!(content_type.starts_with("text/html"), "{content_type}");

    // Every upstream, in declaration order.
    let positions: Vec<usize> = UPSTREAMS
        .iter()
        .map(|u| {
            html.find(&format!(r#"data-upstream="{u}""#))
                .unwrap_or_else(|| panic!("no row for {u}:\n{html}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(html.matches("data-upstream=").count(), 3);

    // Catalogue: two of three lookups hit the cache; its one call went well.
    let catalogue = row(&html, "catalogue");
    assert!(catalogue.contains("<td>66.7%</td>"), "{catalogue}");
    assert!(
        catalogue.contains("<td>0.0%</td>"),
        "no errors: {catalogue}"
    );
    assert!(catalogue.contains(r#"class="closed""#), "{catalogue}");
    // Pricing: every call failed and the breaker is open.
    let pricing = row(&html, "pricing");
    assert!(pricing.contains("<td>100.0%</td>"), "{pricing}");
    assert!(
        pricing.contains(r#"<td class="open">open</td>"#),
        "{pricing}"
    );
    assert!(pricing.contains("<td>no cache</td>"), "{pricing}");
    // Shipping: three calls of ~20 ms; p50 at least the latency.
    let shipping = row(&html, "shipping");
    assert!(
        shipping.contains("<td>3</td>"),
        "three recent calls: {shipping}"
    );
    let p50: f64 = shipping
        .split("<td>")
        .nth(3)
        .and_then(|cell| cell.strip_suffix("</td>"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no p50 cell: {shipping}"));
    assert!((19.0..500.0).contains(&p50), "p50 {p50} ms");

    // One waterfall per execution, newest first, each with a bar per call.
    assert_eq!(
        html.matches(r#"<svg class="waterfall""#).count(),
        3,
        "{html}"
    );
    for figure in html.split(r#"<figure class="execution">"#).skip(1) {
        assert!(figure.contains("query ProductPage"), "{figure}");
        assert_eq!(figure.matches("<rect ").count(), 3, "{figure}");
        assert!(figure.contains("product.details (catalogue)"), "{figure}");
    }
    assert!(
        html.contains("UPSTREAM_CIRCUIT_OPEN"),
        "the third price call failed fast"
    );
    assert!(!html.contains("<script"), "plain HTML and SVG");
}

#[tokio::test]
async fn before_any_query_the_status_page_says_so() {
    let catalogue = support::mock("catalogue", 0, echo("/products/{id}")).await;
    let pricing = support::mock("pricing", 0, echo("/prices/{id}")).await;
    let shipping = support::mock("shipping", 0, echo("/estimates/{id}")).await;
    let gw = support::gateway(SCHEMA, &[&catalogue, &pricing, &shipping], &[]).await;
    let (_, html) = status_page(&gw).await;
    assert_eq!(html.matches("data-upstream=").count(), 3, "{html}");
    assert!(html.contains("No executions yet"), "{html}");
    assert!(!html.contains("<svg"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_in_a_browser() {
    support::require_js_deps();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/test-deps.sh (as root) once"
    );
    let (gw, _mocks) = after_three_pages().await;
    let dir = support::fresh_dir("status");
    // Set TRIBUTARY_STATUS_SCREENSHOT to keep the screenshot somewhere.
    let screenshot = std::env::var_os("TRIBUTARY_STATUS_SCREENSHOT")
        .map_or_else(|| dir.join("status.png"), Into::into);

    let mut browser = Command::new("node");
    browser
        .arg("tests/js/status.mjs")
        .arg(format!("{}/status", gw.running.url()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("STATUS_UPSTREAMS", UPSTREAMS.join(","))
        .env("STATUS_TIMEOUT_MS", "60000")
        .env("STATUS_SCREENSHOT", &screenshot);
    let output = support::run_command(browser, Duration::from_secs(120)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "status.mjs failed (screenshot: {}):\n{stderr}\n{stdout}",
        screenshot.display()
    );
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );

    // What the browser saw.
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON summary from status.mjs:\n{stdout}"));
    println!("{summary:#}");
    let waterfalls = summary["waterfalls"].as_array().expect("waterfalls");
    assert_eq!(waterfalls.len(), 3);
    for waterfall in waterfalls {
        assert_eq!(waterfall["bars"], 3, "{waterfall}");
    }
    let pricing = &summary["upstreams"][1];
    assert_eq!(pricing["name"], "pricing");
    // The breaker's cell, then calls in flight and the concurrency limit.
    let cells = pricing["cells"].as_array().expect("cells");
    assert_eq!(
        cells.get(cells.len() - 2),
        Some(&json!("open")),
        "{cells:?}"
    );
    assert_eq!(cells.last(), Some(&json!("0 / 256")), "{cells:?}");
}
