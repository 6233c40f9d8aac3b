//! Subscriptions through a supergraph: the inventory subgraph's
//! `stockUpdates` is forwarded to it over graphql-transport-ws, and each
//! event's other fields come from products and reviews through the plan.
//! Real subgraphs on 127.0.0.1:0; the assertions are on what the subgraphs
//! received as much as on the events.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::TestGateway;
use support::ws::Socket;
use tributary::demo::Fault;
use tributary::demo::subgraphs::{Latencies, Subgraphs};

/// Inventory forwards `authorization`, so sockets never mix credentials.
const OVERLAY: &str = r#"
extend schema @upstream(name: "inventory", forwardHeaders: ["authorization"])
"#;

const SELECTION: &str = "upc name inStock reviews { body } shippingEstimate";

struct Shop {
    subgraphs: Subgraphs,
    gw: TestGateway,
}

async fn shop() -> Shop {
    let subgraphs = Subgraphs::start(Latencies::default())
        .await
        .expect("subgraphs start");
    let env: HashMap<&str, String> = HashMap::new();
    let config = tributary::federation::load(
        "supergraph.graphql",
        &subgraphs.supergraph(),
        Some(("overlay.graphql", OVERLAY)),
        &|name| env.get(name).cloned(),
    )
    .unwrap_or_else(|d| panic!("the supergraph loads:\n{d}"));
    let gw = support::serve(&config).await;
    Shop { subgraphs, gw }
}

/// The subscription sockets inventory accepted, with their `authorization`.
fn sockets(shop: &Shop) -> Vec<Option<String>> {
    shop.subgraphs
        .inventory
        .state()
        .hits()
        .iter()
        .filter(|hit| hit.headers.get("upgrade").is_some())
        .map(|hit| {
            hit.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn each_event_is_completed_from_the_other_subgraphs() {
    let shop = shop().await;
    let mut socket = Socket::open(&shop.gw, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe(
            "s",
            &format!("subscription {{ stockUpdates(everyMs: 40) {{ {SELECTION} }} }}"),
        )
        .await;
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(socket.next_payload("s").await);
    }
    for (i, event) in events.iter().enumerate() {
        let upc = (i + 1).to_string();
        assert_eq!(event.get("errors"), None, "{event}");
        // The same as the product queried directly.
        let (_, direct) = shop
            .gw
            .query(&format!(r#"{{ product(upc: "{upc}") {{ {SELECTION} }} }}"#))
            .await;
        assert_eq!(
            event["data"]["stockUpdates"], direct["data"]["product"],
            "event {i}"
        );
    }
    // The subscription went to inventory once, over a socket; the events'
    // names came from products and their reviews from reviews.
    assert_eq!(sockets(&shop).len(), 1);
    let entities = |requests: Vec<tributary::demo::subgraphs::SubgraphRequest>| {
        requests
            .iter()
            .filter(|r| r.query.contains("_entities"))
            .count()
    };
    assert!(entities(shop.subgraphs.reviews.requests()) >= 3);
    assert!(entities(shop.subgraphs.products.requests()) >= 3);
}

#[tokio::test]
async fn one_socket_per_subscription_and_credentials_never_mix() {
    let shop = shop().await;
    let query = "subscription { stockUpdates(everyMs: 40) { upc name } }";
    let mut a = Socket::open(
        &shop.gw,
        "graphql-transport-ws",
        json!({ "authorization": "alice" }),
    )
    .await;
    let mut b = Socket::open(&shop.gw, "graphql-ws", json!({ "authorization": "alice" })).await;
    let mut c = Socket::open(
        &shop.gw,
        "graphql-transport-ws",
        json!({ "authorization": "carol" }),
    )
    .await;
    a.subscribe("1", query).await;
    b.subscribe("2", query).await;
    c.subscribe("3", query).await;
    a.next_payload("1").await;
    b.next_payload("2").await;
    c.next_payload("3").await;
    let mut seen = sockets(&shop);
    seen.sort();
    // Alice's two subscriptions share one socket; Carol's has its own, and
    // each carries its own credentials to the subgraph.
    assert_eq!(seen, [Some("alice".to_owned()), Some("carol".to_owned())]);
    assert_eq!(shop.gw.gateway.live_streams().len(), 2);
    drop((a, b, c));
    let gateway = shop.gw.gateway.clone();
    let closed = tokio::time::timeout(Duration::from_secs(5), async move {
        while !gateway.live_streams().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the subgraph sockets outlived their subscribers"
    );
}

#[tokio::test]
async fn a_failing_subgraph_fails_the_event_at_its_path() {
    let shop = shop().await;
    shop.subgraphs
        .products
        .state()
        .set_fault(Some(Fault::Status(500)));
    let mut socket = Socket::open(&shop.gw, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe(
            "s",
            "subscription { stockUpdates(everyMs: 40) { upc name } }",
        )
        .await;
    let event = socket.next_payload("s").await;
    // `name: String!` of a `Product!`: the null rises to the root, and a
    // failure at a non-null root ends the subscription.
    assert_eq!(event["data"], Value::Null, "{event}");
    assert_eq!(
        event["errors"][0]["path"],
        json!(["stockUpdates", "name"]),
        "{event}"
    );
    assert_eq!(socket.until(|m| m["id"] == "s").await["type"], "complete");
}

#[tokio::test]
async fn a_subgraph_that_refuses_the_socket_ends_the_subscription_with_its_error() {
    let shop = shop().await;
    shop.subgraphs
        .inventory
        .state()
        .set_fault(Some(Fault::Status(503)));
    let mut socket = Socket::open(&shop.gw, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe("s", "subscription { stockUpdates { upc } }")
        .await;
    let event = socket.next_payload("s").await;
    assert_eq!(event["data"], Value::Null);
    assert!(event["errors"].to_string().contains("503"), "{event}");
    assert_eq!(socket.until(|m| m["id"] == "s").await["type"], "complete");
}

#[test]
fn the_plan_shows_the_subscription_and_its_hops() {
    let dir = support::fresh_dir("plan");
    let operation = dir.join("op.graphql");
    std::fs::write(
        &operation,
        "subscription { stockUpdates(everyMs: 200) { upc name shippingEstimate } }",
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("plan")
        .arg(support::crate_root().join("schema/federation/supergraph.graphql"))
        .arg(&operation)
        .output()
        .expect("tributary plan runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("inventory: subscription (each event)"),
        "{text}"
    );
    assert!(
        text.contains("subscription Anonymous__inventory__1($a0:Int!){stockUpdates(everyMs:$a0){"),
        "{text}"
    );
    assert!(
        text.contains("products: _entities for Product at stockUpdates"),
        "{text}"
    );
}
