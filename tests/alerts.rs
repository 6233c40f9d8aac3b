//! Alert webhooks (`@server(alerts:)`): breaker transitions and sustained
//! error-rate and latency rules POSTed as JSON to a real receiver on
//! 127.0.0.1:0, rate-limited per webhook, retried with the same id.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};
use support::{TestGateway, json_route};
use tributary::demo::{Fault, MockService};

fn sdl(alerts: &str, upstream: &str) -> String {
    format!(
        r#"
schema
  @server(alerts: {{ webhooks: ["${{HOOKS_URL}}/hook"], {alerts} }})
  @upstream(name: "items", url: "${{ITEMS_URL}}", retry: false, {upstream})
{{ query: Query }}
type Query {{ item: Item @rest(upstream: "items", path: "/item") }}
type Item {{ id: ID! }}
"#
    )
}

async fn receiver() -> MockService {
    support::mock(
        "hooks",
        0,
        Router::new().route("/hook", post(|| async { "ok" })),
    )
    .await
}

/// The events the receiver got (every delivery, retries included).
fn events(hooks: &MockService) -> Vec<Value> {
    hooks
        .state
        .hits()
        .iter()
        .filter_map(|h| serde_json::from_slice(&h.body).ok())
        .collect()
}

/// Waits (at most 10 s) until `done` holds for the events received.
async fn until(hooks: &MockService, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = events(hooks);
        if done(&got) {
            return got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: got only {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

async fn during(gw: &TestGateway, how_long: Duration) {
    let started = Instant::now();
    while started.elapsed() < how_long {
        gw.query("{ item { id } }").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("within 30 s")
}

#[tokio::test]
async fn breaker_transitions_reach_the_webhook_in_order() {
    within(async {
        let hooks = receiver().await;
        let items = support::mock("items", 0, json_route("/item", json!({ "id": "1" }))).await;
        let gw = support::gateway(
            &sdl(
                "errorRate: false, latency: false",
                r#"breaker: { consecutiveFailures: 2, openFor: "300ms" }"#,
            ),
            &[&hooks, &items],
            &[],
        )
        .await;
        items.state.set_fault(Some(Fault::Status(503)));
        for _ in 0..3 {
            gw.query("{ item { id } }").await;
        }
        let got = until(&hooks, "open", |e| !of_kind(e, "breaker").is_empty()).await;
        let open = of_kind(&got, "breaker")[0];
        assert_eq!(open["upstream"], "items", "{open}");
        assert_eq!(open["from"], "closed");
        assert_eq!(open["to"], "open");
        assert!(
            open["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{open}"
        );
        assert!(open["id"].is_string() && open["at"].is_string(), "{open}");

        // Healthy again: after openFor a probe passes and it closes.
        items.state.set_fault(None);
        tokio::time::sleep(Duration::from_millis(350)).await;
        gw.query("{ item { id } }").await;
        let got = until(&hooks, "closed", |e| of_kind(e, "breaker").len() >= 3).await;
        let to: Vec<&Value> = of_kind(&got, "breaker").iter().map(|e| &e["to"]).collect();
        assert_eq!(to, [&json!("open"), &json!("half_open"), &json!("closed")]);
    })
    .await;
}

#[tokio::test]
async fn a_sustained_error_rate_fires_once_and_resolves() {
    within(async {
        let hooks = receiver().await;
        let items = support::mock("items", 0, json_route("/item", json!({ "id": "1" }))).await;
        let gw = support::gateway(
            &sdl(
                r#"breaker: false, latency: false, evaluateEvery: "100ms",
                   errorRate: { above: 0.5, for: "800ms", minCalls: 5 }"#,
                "breaker: false",
            ),
            &[&hooks, &items],
            &[],
        )
        .await;
        // Healthy first: nothing fires.
        during(&gw, Duration::from_millis(900)).await;
        assert!(events(&hooks).is_empty(), "{:#?}", events(&hooks));
        items.state.set_fault(Some(Fault::Status(500)));
        during(&gw, Duration::from_millis(1200)).await;
        let got = until(&hooks, "firing", |e| !of_kind(e, "error_rate").is_empty()).await;
        let firing = of_kind(&got, "error_rate")[0];
        assert_eq!(firing["status"], "firing", "{firing}");
        assert_eq!(firing["upstream"], "items");
        assert_eq!(firing["threshold"], 0.5);
        assert!(
            firing["value"].as_f64().is_some_and(|v| v > 0.5),
            "{firing}"
        );
        assert!(firing["calls"].as_u64().is_some_and(|c| c >= 5), "{firing}");
        items.state.set_fault(None);
        during(&gw, Duration::from_millis(1500)).await;
        let got = until(&hooks, "resolved", |e| of_kind(e, "error_rate").len() >= 2).await;
        let statuses: Vec<&Value> = of_kind(&got, "error_rate")
            .iter()
            .map(|e| &e["status"])
            .collect();
        assert_eq!(
            statuses,
            [&json!("firing"), &json!("resolved")],
            "once each"
        );
    })
    .await;
}

#[tokio::test]
async fn a_sustained_slow_p99_fires() {
    within(async {
        let hooks = receiver().await;
        let items = support::mock("items", 0, json_route("/item", json!({ "id": "1" }))).await;
        let gw = support::gateway(
            &sdl(
                r#"breaker: false, errorRate: false, evaluateEvery: "100ms",
                   latency: { p99Above: "50ms", for: "500ms" }"#,
                "",
            ),
            &[&hooks, &items],
            &[],
        )
        .await;
        items.state.set_latency(Duration::from_millis(80));
        during(&gw, Duration::from_millis(900)).await;
        let got = until(&hooks, "latency", |e| !of_kind(e, "latency").is_empty()).await;
        let firing = of_kind(&got, "latency")[0];
        assert_eq!(firing["status"], "firing", "{firing}");
        assert_eq!(firing["thresholdMs"], 50.0);
        assert!(
            firing["p99Ms"].as_f64().is_some_and(|p| p >= 80.0),
            "{firing}"
        );
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_retried_with_the_same_id_and_rate_limited() {
    within(async {
        let hooks = receiver().await;
        let items = support::mock("items", 0, json_route("/item", json!({ "id": "1" }))).await;
        let gw = support::gateway(
            &sdl(
                "errorRate: false, latency: false, maxPerMinute: 2, retries: 2",
                r#"breaker: { consecutiveFailures: 1, openFor: "100ms" }"#,
            ),
            &[&hooks, &items],
            &[],
        )
        .await;
        // The first delivery fails: it comes again.
        hooks.state.push_faults([Fault::Status(500)]);
        items.state.set_fault(Some(Fault::Status(503)));
        // Open, half-open, open, half-open...: many transitions.
        for _ in 0..6 {
            gw.query("{ item { id } }").await;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        let got = until(&hooks, "two events, one twice", |e| e.len() >= 3).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = if got.len() == 3 { events(&hooks) } else { got };
        assert_eq!(
            got.len(),
            3,
            "2 events (maxPerMinute), the first twice: {got:#?}"
        );
        // The failed first delivery came again, with its id (the second
        // event may arrive between them).
        let first = &got[0]["id"];
        let again: Vec<&Value> = got.iter().filter(|e| e["id"] == *first).collect();
        assert_eq!(again.len(), 2, "a retry carries the same id: {got:#?}");
        assert_eq!(again[0], again[1]);
        let dropped = gw
            .sample(
                "tributary_alerts_total",
                &[r#"kind="breaker""#, r#"result="dropped""#],
            )
            .await;
        assert!(dropped.is_some_and(|d| d >= 1.0), "{dropped:?}");
        let sent = gw
            .sample(
                "tributary_alerts_total",
                &[r#"kind="breaker""#, r#"result="sent""#],
            )
            .await;
        assert_eq!(sent, Some(2.0));
    })
    .await;
}

#[test]
fn alert_settings_are_checked_at_load() {
    let load = |alerts: &str| {
        let sdl = sdl(alerts, "").replace("${HOOKS_URL}/hook", "${HOOK}");
        tributary::config::load("t.graphql", &sdl, &|name| match name {
            "HOOK" => Some("http://127.0.0.1:9/hook".into()),
            "BAD_HOOK" => Some("ftp://x".into()),
            _ => Some("http://127.0.0.1:1".into()),
        })
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default()
    };
    assert_eq!(load("retries: 0"), "");
    assert!(load("errorRate: { above: 2 }").contains("ratio between 0 and 1"));
    assert!(load(r#"latency: { p99Above: "soon" }"#).contains("is not a duration"));
    assert!(load(r#"evaluateEvery: "1ms""#).contains("from 100ms to 1h"));
    assert!(load("maxPerMinute: 0").contains("whole number"));
    assert!(load("often: true").contains("unknown key `often`"));
    let bad = sdl("", "").replace("${HOOKS_URL}/hook", "${BAD_HOOK}");
    let error = tributary::config::load("t.graphql", &bad, &|name| match name {
        "BAD_HOOK" => Some("ftp://x".into()),
        _ => Some("http://127.0.0.1:1".into()),
    })
    .err()
    .map(|d| d.to_string())
    .unwrap_or_default();
    assert!(error.contains("`${BAD_HOOK}` is not an http://"), "{error}");
    assert!(
        !error.contains("ftp://x"),
        "the URL's value is not shown: {error}"
    );
}
