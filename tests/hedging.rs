//! Hedged calls (`hedge: { after, max }` on an upstream): a slow attempt of
//! an idempotent call gets a copy, the first answer wins; mutations are
//! never hedged. A real upstream on 127.0.0.1:0 whose chosen requests are
//! slow (the fault injector); timing bounds are generous.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{gateway, json_route, mock};
use tributary::demo::Fault;

fn sdl(hedge: &str) -> String {
    format!(
        r#"
schema
  @upstream(name: "items", url: "${{ITEMS_URL}}", retry: false, {hedge})
{{ query: Query mutation: Mutation }}

type Query {{ item: Item @rest(upstream: "items", path: "/item") }}
type Mutation {{ touch: Item @rest(upstream: "items", method: POST, path: "/item") }}
type Item {{ id: ID! }}
"#
    )
}

fn routes() -> axum::Router {
    json_route("/item", json!({ "id": "1" })).route(
        "/item",
        axum::routing::post(|| async { axum::Json(json!({ "id": "1" })) }),
    )
}

#[tokio::test]
async fn a_slow_attempt_gets_a_copy_and_the_first_answer_wins() {
    let items = mock("items", 0, routes()).await;
    let gw = gateway(&sdl(r#"hedge: { after: "50ms", max: 1 }"#), &[&items], &[]).await;
    // The next request is slow (600 ms); its copy is not.
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(600))]);
    let started = Instant::now();
    let (_, body) = gw.query("{ item { id } }").await;
    let took = started.elapsed();
    assert_eq!(body["data"]["item"]["id"], "1", "{body}");
    assert!(
        took < Duration::from_millis(400),
        "answered by the copy, not after 600 ms: {took:?}"
    );
    assert_eq!(items.state.count(), 2, "the call and its one hedge");
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"tributary_upstream_hedges_total{upstream="items"} 1"#),
        "{metrics}"
    );
    // A fast call gets no copy.
    let (_, body) = gw.query("{ item { id } }").await;
    assert_eq!(body["data"]["item"]["id"], "1");
    assert_eq!(items.state.count(), 3);
}

#[tokio::test]
async fn a_percentile_waits_for_enough_answers_and_mutations_are_never_hedged() {
    let items = mock("items", 0, routes()).await;
    let gw = gateway(&sdl(r#"hedge: { after: "p90" }"#), &[&items], &[]).await;
    // Before 20 answers there is no p90: a slow call is not hedged.
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(300))]);
    let (_, body) = gw.query("{ item { id } }").await;
    assert_eq!(body["data"]["item"]["id"], "1");
    assert_eq!(items.state.count(), 1);
    for _ in 0..25 {
        gw.query("{ item { id } }").await;
    }
    let before = items.state.count();
    // Now p90 is a few ms: a 300 ms attempt gets a copy early.
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(300))]);
    let started = Instant::now();
    gw.query("{ item { id } }").await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(items.state.count(), before + 2);
    // A mutation (POST, not idempotent) waits for its one attempt.
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(300))]);
    let before = items.state.count();
    let started = Instant::now();
    let (_, body) = gw.query("mutation { touch { id } }").await;
    assert_eq!(body["data"]["touch"]["id"], "1", "{body}");
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(items.state.count(), before + 1);
}

#[test]
fn hedge_settings_are_checked_at_load() {
    let load = |hedge: &str| {
        tributary::config::load("t.graphql", &sdl(hedge), &|_| {
            Some("http://127.0.0.1:1".into())
        })
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default()
    };
    assert!(load(r#"hedge: { after: "p20" }"#).contains("percentile from \"p50\""));
    assert!(load(r#"hedge: { after: "40ms", max: 9 }"#).contains("must be 1, 2 or 3"));
    assert!(load("hedge: { max: 1 }").contains("needs `after`"));
    assert_eq!(load(r#"hedge: { after: "p99.9", max: 2 }"#), "");
    assert_eq!(load("hedge: false"), "");
}

#[tokio::test]
async fn a_field_hedges_on_its_own_or_not_at_all() {
    let items = mock("items", 0, routes()).await;
    let sdl = r#"
schema
  @upstream(name: "items", url: "${ITEMS_URL}", retry: false, hedge: { after: "50ms" })
{ query: Query }
type Query {
  hedged: Item @rest(upstream: "items", path: "/item")
  never: Item @rest(upstream: "items", path: "/item", hedge: false)
  own: Item @rest(upstream: "items", path: "/item", hedge: { after: "30ms", max: 2 })
}
type Item { id: ID! }
"#;
    let gw = gateway(sdl, &[&items], &[]).await;
    // `hedge: false` on the field: the slow attempt is waited for.
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(300))]);
    let started = Instant::now();
    let (_, body) = gw.query("{ never { id } }").await;
    assert_eq!(body["data"]["never"]["id"], "1", "{body}");
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(items.state.count(), 1, "no copy");
    // The field's own policy: up to two copies, the first after 30 ms.
    items.state.reset();
    items.state.push_faults([
        Fault::Delay(Duration::from_millis(600)),
        Fault::Delay(Duration::from_millis(600)),
    ]);
    let started = Instant::now();
    let (_, body) = gw.query("{ own { id } }").await;
    assert_eq!(body["data"]["own"]["id"], "1", "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(items.state.count(), 3, "the call and its two copies");
    // The upstream's policy still holds for a field without its own.
    items.state.reset();
    items
        .state
        .push_faults([Fault::Delay(Duration::from_millis(600))]);
    let started = Instant::now();
    gw.query("{ hedged { id } }").await;
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(items.state.count(), 2);
}
