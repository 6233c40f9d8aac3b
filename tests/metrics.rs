//! `GET /metrics`: after a known workload, the Prometheus exposition holds
//! the exact counts an operator would graph and alert on.
//!
//! The workload: three product pages over two upstreams. The catalogue is
//! cached (one miss, then two hits); pricing answers 500 every time, and its
//! breaker opens after two failures in a row, so the third call fails fast
//! without touching the network.

mod support;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::json;
use tributary::demo::Fault;

const SCHEMA: &str = r#"
schema
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}", cache: { ttl: "60s" })
  @upstream(name: "pricing", url: "${PRICING_URL}", retry: false,
            breaker: { consecutiveFailures: 2, openFor: "60s", failureStatuses: [500] })
{ query: Query }

type Query { product(id: ID!): Product }

type Product {
  id: ID!
  details: Details @rest(upstream: "catalogue", path: "/products/{$parent.id}")
  price: Price @rest(upstream: "pricing", path: "/prices/{$parent.id}")
}

type Details { id: ID! name: String }
type Price { id: ID! amount: Float }
"#;

const PAGE: &str = r#"{ product(id: "1") { id details { name } price { amount } } }"#;

fn catalogue() -> Router {
    Router::new().route(
        "/products/{id}",
        get(|Path(id): Path<String>| async move {
            axum::Json(json!({ "id": id, "name": format!("Product {id}") }))
        }),
    )
}

fn pricing() -> Router {
    Router::new().route(
        "/prices/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(json!({ "id": id, "amount": 1.5 })) }),
    )
}

/// The value of the sample written exactly as `series` (name and labels).
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no sample `{series}` in:\n{exposition}"))
}

#[tokio::test]
async fn metrics_count_calls_cache_results_partial_failures_and_the_breaker() {
    let catalogue = support::mock("catalogue", 5, catalogue()).await;
    let pricing = support::mock("pricing", 5, pricing()).await;
    pricing.state.set_fault(Some(Fault::Status(500)));
    let gw = support::gateway(SCHEMA, &[&catalogue, &pricing], &[]).await;

    for round in 1..=3 {
        let (status, body) = gw.query(PAGE).await;
        assert_eq!(status, 200, "{body}");
        // Partial: the details are there, the price failed.
        assert_eq!(body["data"]["product"]["details"]["name"], "Product 1");
        assert!(body["data"]["product"]["price"].is_null(), "{body}");
        let code = &body["errors"][0]["extensions"]["code"];
        let expected = if round < 3 {
            "UPSTREAM_HTTP_ERROR"
        } else {
            "UPSTREAM_CIRCUIT_OPEN"
        };
        assert_eq!(code, expected, "round {round}: {body}");
    }
    assert_eq!(catalogue.state.count(), 1, "one miss, then two hits");
    assert_eq!(
        pricing.state.count(),
        2,
        "the open breaker spared the third"
    );

    let response = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
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
    // The body is OpenMetrics (`# UNIT`, `# EOF`, `_total` samples of a
    // counter family): labelled as such, Prometheus keeps the counter types.
    assert_eq!(
        content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "{content_type}"
    );
    let text = response.text().await.expect("body reads");
    println!("{text}");

    // Upstream calls by outcome. Only calls that went to the network (or
    // failed) are upstream latency: the two cache hits are not counted.
    let calls = |upstream: &str, outcome: &str| {
        sample(
            &text,
            &format!(
                "http_client_request_duration_seconds_count{{upstream=\"{upstream}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(calls("catalogue", "ok"), 1.0);
    assert_eq!(calls("pricing", "UPSTREAM_HTTP_ERROR"), 2.0);
    assert_eq!(calls("pricing", "UPSTREAM_CIRCUIT_OPEN"), 1.0);
    // Every upstream's `ok` series exists from start-up, at zero until a call succeeds.
    assert_eq!(calls("pricing", "ok"), 0.0, "pricing never succeeded");
    // The mocks answer after 5 ms: the two failed calls took at least that.
    assert!(
        sample(
            &text,
            r#"http_client_request_duration_seconds_sum{upstream="pricing",outcome="UPSTREAM_HTTP_ERROR"}"#
        ) >= 0.009
    );

    // The cache: one miss, two hits; pricing has no cache, so no series.
    let cache = |result: &str| {
        sample(
            &text,
            &format!(
                "tributary_cache_requests_total{{upstream=\"catalogue\",result=\"{result}\"}}"
            ),
        )
    };
    assert_eq!(cache("hit"), 2.0);
    assert_eq!(cache("miss"), 1.0);
    assert_eq!(cache("stale"), 0.0);
    assert!(!text.contains(r#"tributary_cache_requests_total{upstream="pricing""#));

    // Operations: three queries, all three partial.
    assert_eq!(
        sample(
            &text,
            r#"graphql_server_operation_duration_seconds_count{graphql_operation_type="query"}"#
        ),
        3.0
    );
    assert_eq!(sample(&text, "tributary_partial_failures_total"), 3.0);

    // The breaker: pricing open (1) after one transition; catalogue closed.
    assert_eq!(
        sample(&text, r#"tributary_breaker_state{upstream="pricing"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"tributary_breaker_state{upstream="catalogue"}"#),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            r#"tributary_breaker_transitions_total{upstream="pricing"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"tributary_breaker_transitions_total{upstream="catalogue"}"#
        ),
        0.0
    );

    // Per-operation histograms: one fan-in join (details + price) and one
    // overhead figure per operation.
    for histogram in [
        "tributary_fan_in_wait_seconds",
        "tributary_gateway_overhead_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} missing:\n{text}"
        );
        assert_eq!(
            sample(&text, &format!("{histogram}_count")),
            3.0,
            "{histogram}"
        );
        assert_eq!(
            sample(&text, &format!("{histogram}_bucket{{le=\"+Inf\"}}")),
            3.0,
            "{histogram}"
        );
    }
    // Every family has its help and type lines, and the exposition ends as
    // OpenMetrics requires.
    for family in [
        "http_client_request_duration_seconds",
        "graphql_server_operation_duration_seconds",
        "tributary_partial_failures",
        "tributary_cache_requests",
        "tributary_breaker_state",
        "tributary_breaker_transitions",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

#[tokio::test]
async fn metrics_before_any_query_are_well_formed_and_empty() {
    let catalogue = support::mock("catalogue", 0, catalogue()).await;
    let pricing = support::mock("pricing", 0, pricing()).await;
    let gw = support::gateway(SCHEMA, &[&catalogue, &pricing], &[]).await;
    let text = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("gateway answers")
        .text()
        .await
        .expect("body reads");
    assert_eq!(sample(&text, "tributary_partial_failures_total"), 0.0);
    assert_eq!(sample(&text, "tributary_fan_in_wait_seconds_count"), 0.0);
    assert_eq!(
        sample(
            &text,
            r#"tributary_cache_requests_total{upstream="catalogue",result="hit"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(&text, r#"tributary_breaker_state{upstream="pricing"}"#),
        0.0
    );
    // The `ok` series of each upstream is there from the start, at zero, so
    // rates and alerts have a series before the first call; no other
    // outcome has appeared yet.
    for upstream in ["catalogue", "pricing"] {
        let series = format!(
            "http_client_request_duration_seconds_count{{upstream=\"{upstream}\",outcome=\"ok\"}}"
        );
        assert_eq!(sample(&text, &series), 0.0, "{series}:\n{text}");
    }
    assert_eq!(
        text.matches("http_client_request_duration_seconds_count{")
            .count(),
        2,
        "no call made yet:\n{text}"
    );
}
