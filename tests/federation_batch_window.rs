//! Entity fetches across requests (`entityBatch: { window }` on a subgraph):
//! the representations of concurrent client requests go to the subgraph in
//! one `_entities` call, each request gets its own entities back (the same
//! answer it gets without the window), and requests with different
//! forwarded credentials never share a call. Real subgraphs on 127.0.0.1:0.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::TestGateway;
use tributary::demo::Fault;
use tributary::demo::subgraphs::{Latencies, SubgraphRequest, Subgraphs};

const LIMIT: Duration = Duration::from_secs(20);

struct Shop {
    subgraphs: Subgraphs,
    gw: TestGateway,
}

async fn shop(overlay: &str) -> Shop {
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let env: HashMap<String, String> = HashMap::new();
    let config = tributary::federation::load(
        "supergraph.graphql",
        &subgraphs.supergraph(),
        Some(("overlay.graphql", overlay)),
        &|name| env.get(name).cloned(),
    )
    .unwrap_or_else(|d| panic!("the supergraph and overlay load:\n{d}"));
    let gw = support::serve(&config).await;
    Shop { subgraphs, gw }
}

const WINDOWED: &str = r#"
extend schema
  @upstream(name: "reviews", entityBatch: { window: "300ms" }, forwardHeaders: ["authorization"], retry: false)
  @upstream(name: "inventory", entityBatch: { window: "300ms", maxSize: 2 })
"#;

const PLAIN: &str = r#"
extend schema @upstream(name: "reviews", forwardHeaders: ["authorization"])
"#;

const QUERY: &str = "query ($upc: String!) { product(upc: $upc) { upc name inStock reviews { body author { username } } } }";

async fn ask(gw: &TestGateway, upc: &str, token: &str) -> Value {
    let (status, body) = tokio::time::timeout(
        LIMIT,
        gw.post(
            json!({ "query": QUERY, "variables": { "upc": upc } }),
            &[("authorization", token)],
        ),
    )
    .await
    .expect("answered in time");
    assert_eq!(status, 200, "{body}");
    body
}

/// The upcs of each `_entities` call a subgraph received.
fn entity_calls(requests: &[SubgraphRequest]) -> Vec<Vec<String>> {
    requests
        .iter()
        .filter_map(|r| r.variables.get("representations")?.as_array().cloned())
        .map(|reps| {
            let mut upcs: Vec<String> = reps
                .iter()
                .map(|r| r["upc"].as_str().unwrap_or_default().to_owned())
                .collect();
            upcs.sort();
            upcs
        })
        .collect()
}

#[tokio::test]
async fn concurrent_requests_share_entity_calls_and_get_what_they_get_alone() {
    let upcs = ["1", "2", "3", "4", "5"];
    let windowed = shop(WINDOWED).await;
    let shared =
        futures_util::future::join_all(upcs.iter().map(|u| ask(&windowed.gw, u, "t"))).await;

    // One reviews call for the five requests; inventory at two a call.
    assert_eq!(
        entity_calls(&windowed.subgraphs.reviews.requests()),
        vec![upcs.map(String::from).to_vec()],
    );
    let inventory = entity_calls(&windowed.subgraphs.inventory.requests());
    assert_eq!(inventory.len(), 3, "{inventory:?}");
    assert!(inventory.iter().all(|c| c.len() <= 2), "{inventory:?}");
    // Products answers each request's own root field.
    assert_eq!(windowed.subgraphs.products.requests().len(), 5);

    // Each answer is what the request gets without the window.
    let plain = shop(PLAIN).await;
    for (upc, shared) in upcs.iter().zip(&shared) {
        assert!(shared.get("errors").is_none(), "{shared}");
        let alone = ask(&plain.gw, upc, "t").await;
        assert_eq!(shared["data"], alone["data"], "upc {upc}");
        assert_eq!(shared["data"]["product"]["upc"], *upc);
    }
}

#[tokio::test]
async fn different_credentials_never_share_an_entity_call() {
    let windowed = shop(WINDOWED).await;
    let answers = futures_util::future::join_all([
        ask(&windowed.gw, "1", "Bearer a"),
        ask(&windowed.gw, "2", "Bearer b"),
        ask(&windowed.gw, "3", "Bearer a"),
    ])
    .await;
    for body in &answers {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let mut calls: Vec<(String, Vec<String>)> = windowed
        .subgraphs
        .reviews
        .requests()
        .iter()
        .map(|r| {
            let token = r
                .hit
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (token, entity_calls(std::slice::from_ref(r)).concat())
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            ("Bearer a".to_owned(), vec!["1".to_owned(), "3".to_owned()]),
            ("Bearer b".to_owned(), vec!["2".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn a_failed_shared_call_reaches_every_request_at_its_own_path() {
    let windowed = shop(WINDOWED).await;
    windowed
        .subgraphs
        .reviews
        .state()
        .push_faults([Fault::Status(500)]);
    let answers =
        futures_util::future::join_all([ask(&windowed.gw, "1", "t"), ask(&windowed.gw, "2", "t")])
            .await;
    for body in &answers {
        // `reviews` is non-null: the product is null, the error at its path.
        assert_eq!(body["data"]["product"], Value::Null, "{body}");
        let errors = body["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["path"] == json!(["product", "reviews"])
                    && e["extensions"]["upstream"] == "reviews"),
            "{body}"
        );
    }
    assert_eq!(windowed.subgraphs.reviews.requests().len(), 1);
}

#[test]
fn entity_batch_settings_are_checked_at_load() {
    let load = |policy: &str| {
        let sdl = format!(
            "schema @upstream(name: \"a\", url: \"http://127.0.0.1:1\", {policy}) {{ query: Query }}\ntype Query {{ a: Int @rest(upstream: \"a\", path: \"/\") }}"
        );
        tributary::config::load("t.graphql", &sdl, &|_| None)
            .err()
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    assert!(load(r#"entityBatch: { window: "1ms" }"#).contains("`a` is not a subgraph"));
    assert!(load(r#"entityBatch: { maxSize: 3 }"#).contains("needs `window`"));
    assert!(load(r#"entityBatch: { window: "5s" }"#).contains("at most 1s"));
    assert!(load(r#"entityBatch: { window: "1ms", size: 3 }"#).contains("size"));
    assert_eq!(load("entityBatch: false"), "");
}
