//! Subscriptions end to end: real upstream event streams and polled
//! endpoints on 127.0.0.1:0, the gateway, and real clients (the graphql-ws
//! client, urql's subscription exchange over it, the legacy
//! subscriptions-transport-ws client, graphql-sse; `tests/js/subscriptions.mjs`)
//! or a raw WebSocket where the protocol's edges are the point.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::ws::Socket;
use support::{TestGateway, crate_root, gateway, mock, require_js_deps, run_command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SDL: &str = r#"
schema
  @server(subscriptions: { keepAlive: "1s", maxPerConnection: 2, initTimeout: "500ms" })
  @upstream(name: "live", url: "${LIVE_URL}", forwardHeaders: ["authorization"],
            retry: false,
            breaker: { consecutiveFailures: 2, openFor: "30s", minCalls: 1000 })
  @upstream(name: "detail", url: "${DETAIL_URL}", retry: false)
{ query: Query subscription: Subscription }

type Query { ping: String @rest(upstream: "detail", path: "/ping", select: "pong") }

type Subscription {
  ticks(id: ID!): Tick @rest(upstream: "live", path: "/ticks/{$args.id}")
  lines(id: ID!): Tick @rest(upstream: "live", path: "/lines/{$args.id}")
  flaky(id: ID!): Tick @rest(upstream: "live", path: "/flaky/{$args.id}") @stream(idleTimeout: "2s")
  silent: Tick @rest(upstream: "live", path: "/silent") @stream(idleTimeout: "300ms")
  broken: Tick @rest(upstream: "live", path: "/broken")
  level(id: ID!): Level @rest(upstream: "live", path: "/level/{$args.id}") @poll(every: "100ms")
  big(id: ID!): Big @rest(upstream: "live", path: "/big/{$args.id}")
  tickNumber(id: ID!): Int @rest(upstream: "live", path: "/ticks/{$args.id}", select: "n")
  tickId(id: ID!): ID @rest(upstream: "live", path: "/ticks/{$args.id}", select: "id")
}

type Big { n: Int! pad: String! }

type Tick {
  n: Int!
  id: ID!
  who: String
  detail: Detail @rest(upstream: "detail", path: "/detail/{$parent.n}") @onError(use: NULL)
}

type Detail { label: String! }
type Level { value: Int! who: String }
"#;

/// What the `live` upstream counts.
#[derive(Default)]
struct Live {
    /// Event streams open now.
    open: AtomicUsize,
    /// Event streams ever opened.
    opened: AtomicUsize,
    /// Polls answered.
    polls: AtomicU64,
    /// The polled value.
    level: AtomicU64,
    /// `Last-Event-ID` headers seen on reconnects.
    resumed: std::sync::Mutex<Vec<String>>,
}

/// Decrements the open count when the response body is dropped: the
/// gateway closed the stream.
struct OpenGuard(Arc<Live>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn who(headers: &HeaderMap) -> Value {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| Value::String(v.to_owned()))
}

/// A stream of `count` events from `first`, one per `every`, framed by
/// `frame`; ends after the last.
fn events(
    live: &Arc<Live>,
    id: String,
    who: Value,
    first: u64,
    count: u64,
    frame: fn(u64, &Value) -> String,
) -> axum::body::Body {
    live.open.fetch_add(1, Ordering::SeqCst);
    live.opened.fetch_add(1, Ordering::SeqCst);
    let guard = OpenGuard(live.clone());
    let stream = futures_util::stream::unfold((first, guard), move |(n, guard)| {
        let id = id.clone();
        let who = who.clone();
        async move {
            if n >= first + count {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            let event = json!({ "n": n, "id": id, "who": who });
            Some((
                Ok::<_, std::convert::Infallible>(frame(n, &event)),
                (n + 1, guard),
            ))
        }
    });
    axum::body::Body::from_stream(stream)
}

fn sse_frame(n: u64, event: &Value) -> String {
    format!(": keep-alive\n\nid: {n}\nevent: tick\ndata: {event}\n\n")
}

fn line_frame(_: u64, event: &Value) -> String {
    format!("{event}\n")
}

fn live_routes(live: Arc<Live>) -> Router {
    Router::new()
        .route(
            "/ticks/{id}",
            get(|State(live): State<Arc<Live>>, Path(id): Path<String>, headers: HeaderMap| async move {
                let body = events(&live, id, who(&headers), 0, 400, sse_frame);
                ([("content-type", "text/event-stream")], body).into_response()
            }),
        )
        .route(
            "/lines/{id}",
            get(|State(live): State<Arc<Live>>, Path(id): Path<String>, headers: HeaderMap| async move {
                let body = events(&live, id, who(&headers), 0, 400, line_frame);
                ([("content-type", "application/x-ndjson")], body).into_response()
            }),
        )
        .route(
            // Two events per connection, then the connection ends; it
            // resumes after the `Last-Event-ID` it is sent.
            "/flaky/{id}",
            get(|State(live): State<Arc<Live>>, Path(id): Path<String>, headers: HeaderMap| async move {
                let first = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
                    Some(last) => {
                        live.resumed.lock().expect("lock").push(last.to_owned());
                        last.parse::<u64>().map_or(0, |n| n + 1)
                    }
                    None => 0,
                };
                let body = events(&live, id, who(&headers), first, 2, sse_frame);
                ([("content-type", "text/event-stream")], body).into_response()
            }),
        )
        .route(
            "/silent",
            get(|State(live): State<Arc<Live>>| async move {
                let body = events(&live, "s".into(), Value::Null, 0, 1, sse_frame);
                // One event, then nothing: the body never ends.
                let forever = body.into_data_stream().chain(futures_util::stream::pending());
                ([("content-type", "text/event-stream")], axum::body::Body::from_stream(forever)).into_response()
            }),
        )
        .route("/broken", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            // 64 KiB events every millisecond, for as long as anyone reads.
            "/big/{id}",
            get(|State(live): State<Arc<Live>>| async move {
                live.open.fetch_add(1, Ordering::SeqCst);
                live.opened.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(live.clone());
                let pad = "x".repeat(64 * 1024);
                let stream = futures_util::stream::unfold((0u64, guard), move |(n, guard)| {
                    let pad = pad.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let event = json!({ "n": n, "pad": pad });
                        Some((Ok::<_, std::convert::Infallible>(format!("data: {event}\n\n")), (n + 1, guard)))
                    }
                });
                ([("content-type", "text/event-stream")], axum::body::Body::from_stream(stream)).into_response()
            }),
        )
        .route(
            "/level/{id}",
            get(|State(live): State<Arc<Live>>, headers: HeaderMap| async move {
                live.polls.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "value": live.level.load(Ordering::SeqCst), "who": who(&headers) }))
            }),
        )
        .with_state(live)
}

fn detail_routes() -> Router {
    Router::new()
        .route(
            "/ping",
            get(|| async { axum::Json(json!({ "pong": "pong" })) }),
        )
        .route(
            "/detail/{n}",
            get(|Path(n): Path<u64>| async move {
                if n == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                axum::Json(json!({ "label": format!("detail-{n}") })).into_response()
            }),
        )
}

struct Setup {
    gateway: TestGateway,
    live: Arc<Live>,
    _mocks: (tributary::demo::MockService, tributary::demo::MockService),
}

async fn setup() -> Setup {
    let live = Arc::new(Live::default());
    let live_mock = mock("live", 0, live_routes(live.clone())).await;
    let detail = mock("detail", 0, detail_routes()).await;
    let gateway = gateway(SDL, &[&live_mock, &detail], &[]).await;
    Setup {
        gateway,
        live,
        _mocks: (live_mock, detail),
    }
}

/// Runs `tests/js/subscriptions.mjs` with `client` and returns its report.
async fn js(url: &str, client: &str, query: &str, count: usize, init: Option<Value>) -> Value {
    require_js_deps();
    let mut command = std::process::Command::new("node");
    command
        .arg(crate_root().join("tests/js/subscriptions.mjs"))
        .arg(url)
        .env("SUBS_CLIENT", client)
        .env("SUBS_QUERY", query)
        .env("SUBS_COUNT", count.to_string())
        .env("SUBS_TIMEOUT_MS", "15000");
    if let Some(init) = init {
        command.env("SUBS_INIT", init.to_string());
    }
    let output = run_command(command, Duration::from_secs(30)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{client}: no report ({e}); stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Waits until `check` holds, for at most `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test]
async fn every_client_gets_the_events_in_order_shaped_with_their_bound_children() {
    let s = setup().await;
    let query = r#"subscription { t: ticks(id: "a") { n id detail { label } } }"#;
    for client in ["graphql-ws", "urql", "legacy", "sse"] {
        let report = js(&s.gateway.url(), client, query, 4, None).await;
        assert_eq!(report["errors"], json!([]), "{client}: {report}");
        let events = report["events"].as_array().expect("events");
        assert_eq!(events.len(), 4, "{client}: {report}");
        for (i, event) in events.iter().enumerate() {
            let tick = &event["data"]["t"];
            // Only what was selected, under the alias.
            assert_eq!(tick["n"], json!(i), "{client}: {report}");
            assert_eq!(tick["id"], "a");
            assert!(tick.get("who").is_none(), "{client}: not selected: {tick}");
            // The bound child resolved for this event; event 1's failed
            // (its upstream answers 500) and is null, with an error, and
            // the subscription went on.
            if i == 1 {
                assert_eq!(tick["detail"], Value::Null, "{client}: {event}");
            } else {
                assert_eq!(
                    tick["detail"]["label"],
                    format!("detail-{i}"),
                    "{client}: {event}"
                );
            }
        }
        if client == "graphql-ws" || client == "sse" {
            let errors = &events[1]["errors"];
            assert_eq!(
                errors[0]["path"],
                json!(["t", "detail"]),
                "{client}: {report}"
            );
        }
    }
}

#[tokio::test]
async fn newline_delimited_json_streams_too() {
    let s = setup().await;
    let report = js(
        &s.gateway.url(),
        "graphql-ws",
        r#"subscription { lines(id: "x") { n id } }"#,
        3,
        None,
    )
    .await;
    let ns: Vec<&Value> = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["data"]["lines"]["n"])
        .collect();
    assert_eq!(ns, [&json!(0), &json!(1), &json!(2)], "{report}");
}

#[tokio::test]
async fn a_stream_that_breaks_is_reconnected_and_resumes_after_the_last_event_id() {
    let s = setup().await;
    let report = js(
        &s.gateway.url(),
        "graphql-ws",
        r#"subscription { flaky(id: "f") { n } }"#,
        5,
        None,
    )
    .await;
    let ns: Vec<u64> = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["data"]["flaky"]["n"].as_u64())
        .collect();
    // Two events per connection: five events took three connections, and
    // nothing was lost or repeated across them.
    assert_eq!(ns, [0, 1, 2, 3, 4], "{report}");
    assert!(s.live.opened.load(Ordering::SeqCst) >= 3);
    let resumed = s.live.resumed.lock().expect("lock").clone();
    assert_eq!(
        resumed[..2],
        ["1".to_owned(), "3".to_owned()],
        "Last-Event-ID sent on reconnect"
    );
}

#[tokio::test]
async fn a_silent_stream_is_reconnected_after_its_idle_timeout() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket.subscribe("1", "subscription { silent { n } }").await;
    assert_eq!(socket.next_payload("1").await["data"]["silent"]["n"], 0);
    // idleTimeout 300ms: the stream is opened again, and sends its one event again.
    assert_eq!(socket.next_payload("1").await["data"]["silent"]["n"], 0);
    assert!(s.live.opened.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn leaving_stops_the_upstream_stream_and_subscribers_share_one() {
    let s = setup().await;
    let url = s.gateway.url();
    let query = r#"subscription { ticks(id: "shared") { n } }"#;
    let (a, b) = tokio::join!(
        js(&url, "graphql-ws", query, 6, None),
        js(&url, "sse", query, 6, None)
    );
    assert_eq!(a["events"].as_array().map(Vec::len), Some(6), "{a}");
    assert_eq!(b["events"].as_array().map(Vec::len), Some(6), "{b}");
    // One upstream stream for both (same request, same credentials).
    assert_eq!(s.live.opened.load(Ordering::SeqCst), 1);
    // Both clients completed and went away: the gateway closed it.
    assert!(
        eventually(Duration::from_secs(3), || s
            .live
            .open
            .load(Ordering::SeqCst)
            == 0)
        .await,
        "the upstream stream is still open"
    );
    assert!(s.gateway.gateway.subscriptions() == 0);
}

#[tokio::test]
async fn credentials_from_connection_init_reach_the_upstream_and_are_never_shared() {
    let s = setup().await;
    let url = s.gateway.url();
    let query = r#"subscription { ticks(id: "c") { who } }"#;
    let (alice, bob) = tokio::join!(
        js(
            &url,
            "graphql-ws",
            query,
            2,
            Some(json!({ "authorization": "Bearer alice" }))
        ),
        js(
            &url,
            "legacy",
            query,
            2,
            Some(json!({ "headers": { "authorization": "Bearer bob" } }))
        ),
    );
    for (report, token) in [(&alice, "Bearer alice"), (&bob, "Bearer bob")] {
        for event in report["events"].as_array().expect("events") {
            assert_eq!(event["data"]["ticks"]["who"], token, "{report}");
        }
    }
    // Different credentials: two upstream streams.
    assert_eq!(s.live.opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_poll_is_shared_and_emits_only_changes() {
    let s = setup().await;
    let mut one = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    let mut two = Socket::open(&s.gateway, "graphql-ws", json!({})).await;
    one.subscribe("a", r#"subscription { level(id: "p") { value } }"#)
        .await;
    assert_eq!(one.next_payload("a").await["data"]["level"]["value"], 0);
    two.subscribe("b", r#"subscription { level(id: "p") { value } }"#)
        .await;
    // A late subscriber gets the current value at once.
    assert_eq!(two.next_payload("b").await["data"]["level"]["value"], 0);
    let polls_before = s.live.polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let polls = s.live.polls.load(Ordering::SeqCst) - polls_before;
    // Every 100ms, once for both subscribers (generous bounds).
    assert!((2..=9).contains(&polls), "{polls} polls in 600ms");
    // Nothing changed: nothing was sent. Then a change reaches both.
    s.live.level.store(7, Ordering::SeqCst);
    assert_eq!(one.next_payload("a").await["data"]["level"]["value"], 7);
    assert_eq!(two.next_payload("b").await["data"]["level"]["value"], 7);
    drop((one, two));
    let after = s.live.polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        s.live.polls.load(Ordering::SeqCst) <= after + 1,
        "polling went on after every subscriber left"
    );
}

#[tokio::test]
async fn an_upstream_that_fails_ends_the_subscription_and_the_breaker_stops_calls() {
    let s = setup().await;
    let url = s.gateway.url();
    for _ in 0..2 {
        // One response with the error and no data, then `complete`.
        let report = js(&url, "graphql-ws", "subscription { broken { n } }", 0, None).await;
        let events = report["events"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{report}");
        assert_eq!(events[0]["data"], Value::Null, "{report}");
        assert!(
            events[0]["errors"].to_string().contains("answered 503"),
            "{report}"
        );
        assert_eq!(report["completed"], true, "{report}");
    }
    let hits = s._mocks.0.state.count();
    // Two failures in a row opened the breaker: the next subscription
    // fails fast and makes no call.
    let report = js(&url, "sse", "subscription { broken { n } }", 0, None).await;
    let text = report.to_string();
    assert!(text.contains("circuit is open"), "{report}");
    assert_eq!(s._mocks.0.state.count(), hits);
}

#[tokio::test]
async fn limits_per_connection_and_the_init_deadline() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe("1", r#"subscription { ticks(id: "l1") { n } }"#)
        .await;
    socket
        .subscribe("2", r#"subscription { ticks(id: "l2") { n } }"#)
        .await;
    socket
        .subscribe("3", r#"subscription { ticks(id: "l3") { n } }"#)
        .await;
    // maxPerConnection: 2: the third is refused (one response with the
    // error, then `complete`), the others run.
    let refused = socket.until(|m| m["id"] == "3").await;
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert!(
        refused.to_string().contains("maxPerConnection"),
        "{refused}"
    );
    assert_eq!(socket.until(|m| m["id"] == "3").await["type"], "complete");
    assert!(socket.next_payload("1").await["data"]["ticks"]["n"].is_u64());
    // A connection that never sends connection_init is closed (4408).
    let mut request = s
        .gateway
        .url()
        .replace("http", "ws")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut silent, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = silent.next().await {
            if let Ok(Message::Close(Some(frame))) = message {
                return Some(u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("closed within the deadline");
    assert_eq!(closed, Some(4408));
    // No protocol: refused before the upgrade.
    let response = s
        .gateway
        .client
        .get(s.gateway.url())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn queries_and_mutations_over_the_websocket_and_sse() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket.subscribe("q", "{ ping }").await;
    assert_eq!(
        socket.next_payload("q").await,
        json!({ "data": { "ping": "pong" } })
    );
    assert_eq!(socket.until(|m| m["id"] == "q").await["type"], "complete");
    let report = js(&s.gateway.url(), "sse", "{ ping }", 0, None).await;
    assert_eq!(
        report["events"],
        json!([{ "data": { "ping": "pong" } }]),
        "{report}"
    );
    assert_eq!(report["completed"], true);
    // A subscription over plain HTTP gets a clear error.
    let (status, body) = s
        .gateway
        .query(r#"subscription { ticks(id: "h") { n } }"#)
        .await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("text/event-stream"), "{body}");
}

#[tokio::test]
async fn metrics_count_subscriptions_and_events() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe("m", r#"subscription { ticks(id: "m") { n } }"#)
        .await;
    for _ in 0..3 {
        socket.next_payload("m").await;
    }
    let metrics = s
        .gateway
        .client
        .get(format!("{}/metrics", s.gateway.running.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(
        line("tributary_subscriptions_active{").ends_with(" 1"),
        "{metrics}"
    );
    assert!(line("tributary_subscriptions_active{").contains(r#"field="Subscription.ticks""#));
    let events: f64 = line("tributary_subscription_events_total{")
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(events >= 3.0, "{metrics}");
    assert!(
        line(r#"tributary_subscription_connections{transport="websocket"}"#).ends_with(" 1"),
        "{metrics}"
    );
    let status = s
        .gateway
        .client
        .get(format!("{}/status", s.gateway.running.url()))
        .send()
        .await
        .expect("status")
        .text()
        .await
        .expect("text");
    assert!(
        status.contains("data-feed=\"live /ticks/{$args.id}\""),
        "the status page lists the live stream"
    );
}

#[tokio::test]
async fn shutdown_completes_every_subscription_and_closes_cleanly() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe("s", r#"subscription { ticks(id: "z") { n } }"#)
        .await;
    socket.next_payload("s").await;
    let mut sse = s
        .gateway
        .client
        .post(s.gateway.url())
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(json!({ "query": r#"subscription { ticks(id: "y") { n } }"# }).to_string())
        .send()
        .await
        .expect("sse answers");
    let first = sse.chunk().await.expect("reads").expect("a chunk");
    assert!(String::from_utf8_lossy(&first).contains("event: next"));
    let TestGateway { running, .. } = s.gateway;
    let stopping = tokio::spawn(running.stop());
    // The WebSocket: `complete` for the subscription, then close 1001.
    let complete = socket.until(|m| m["type"] == "complete").await;
    assert_eq!(complete["id"], "s");
    assert_eq!(socket.close_code().await, Some(1001));
    // SSE: the stream ends with `complete`.
    let mut rest = String::new();
    while let Ok(Some(chunk)) = sse.chunk().await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("event: complete"), "{rest}");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("clean");
    assert!(
        eventually(Duration::from_secs(2), || s
            .live
            .open
            .load(Ordering::SeqCst)
            == 0)
        .await
    );
}

#[test]
fn live_fields_are_checked_at_load() {
    let load = |sdl: &str| {
        tributary::config::load("t.graphql", sdl, &|_| Some("http://127.0.0.1:1".into()))
            .err()
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let head = r#"schema @upstream(name: "u", url: "${U}") { query: Query subscription: Subscription }
        type Query { a: Int @rest(upstream: "u", path: "/a") }"#;
    let unbound = load(&format!("{head} type Subscription {{ s: Int }}"));
    assert!(unbound.contains("needs @rest"), "{unbound}");
    let fast = load(&format!(
        r#"{head} type Subscription {{ s: Int @rest(upstream: "u", path: "/s") @poll(every: "10ms") }}"#
    ));
    assert!(fast.contains("at least 100ms"), "{fast}");
    let misplaced = load(
        r#"schema @upstream(name: "u", url: "${U}") { query: Query }
        type Query { a: Int @rest(upstream: "u", path: "/a") @poll(every: "1s") }"#,
    );
    assert!(
        misplaced.contains("only fields of the subscription type are live"),
        "{misplaced}"
    );
    let both = load(&format!(
        r#"{head} type Subscription {{ s: Int @rest(upstream: "u", path: "/s") @poll(every: "1s") @stream }}"#
    ));
    assert!(both.contains("polled or streamed"), "{both}");
    let buffer = load(
        r#"schema @server(subscriptions: { buffer: 10000000 }) @upstream(name: "u", url: "${U}") { query: Query }
        type Query { a: Int @rest(upstream: "u", path: "/a") }"#,
    );
    assert!(
        buffer.contains("`buffer` in `subscriptions` must be a whole number from 1 to 65536"),
        "{buffer}"
    );
    let keep_alive = load(
        r#"schema @server(subscriptions: { keepAlive: "48h" }) @upstream(name: "u", url: "${U}") { query: Query }
        type Query { a: Int @rest(upstream: "u", path: "/a") }"#,
    );
    assert!(keep_alive.contains("at most 24h"), "{keep_alive}");
    let implements = load(&format!(
        r#"{head} interface Node {{ s: Int }} type Subscription implements Node {{ s: Int @rest(upstream: "u", path: "/s") }}"#
    ));
    assert!(
        implements.contains("cannot implement interfaces"),
        "{implements}"
    );
}

#[tokio::test]
async fn identical_subscriptions_share_one_execution_per_event() {
    let s = setup().await;
    let query = r#"subscription { ticks(id: "g") { n detail { label } } }"#;
    let mut one = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    let mut two = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    one.subscribe("1", query).await;
    two.subscribe("2", query).await;
    // Both receive the events (the second from when it joined).
    let first: Vec<Value> = {
        let mut v = Vec::new();
        while v.len() < 5 {
            v.push(one.next_payload("1").await["data"]["ticks"].clone());
        }
        v
    };
    let joined = two.next_payload("2").await["data"]["ticks"].clone();
    assert!(
        joined["detail"]["label"].is_string() || joined["n"] == 1,
        "{joined}"
    );
    assert!(first.iter().all(|t| t["n"].is_u64()));
    // Each event's bound child was fetched once, not once per subscriber.
    let details: Vec<String> = s
        ._mocks
        .1
        .state
        .hits()
        .iter()
        .map(|h| h.target.clone())
        .filter(|t| t.starts_with("/detail/"))
        .collect();
    let mut unique = details.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(details.len(), unique.len(), "{details:?}");
    let metrics = s
        .gateway
        .client
        .get(format!("{}/metrics", s.gateway.running.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"tributary_subscriptions_active{field="Subscription.ticks"} 2"#),
        "{metrics}"
    );
}

/// A gateway with tight caps: one WebSocket, one subscription in all, and a
/// buffer of two events that closes a subscriber who falls behind.
async fn tight(live: &Arc<Live>) -> (TestGateway, tributary::demo::MockService) {
    let sdl = SDL.replace(
        r#"@server(subscriptions: { keepAlive: "1s", maxPerConnection: 2, initTimeout: "500ms" })"#,
        r#"@server(subscriptions: { maxConnections: 1, maxTotal: 1, buffer: 2, overflow: CLOSE })"#,
    );
    assert_ne!(sdl, SDL);
    let live_mock = mock("live", 0, live_routes(live.clone())).await;
    let gw = gateway(&sdl, &[&live_mock], &[("DETAIL_URL", "http://127.0.0.1:9")]).await;
    (gw, live_mock)
}

#[tokio::test]
async fn the_process_and_connection_caps_hold() {
    let live = Arc::new(Live::default());
    let (gw, _mock) = tight(&live).await;
    let mut first = Socket::open(&gw, "graphql-transport-ws", json!({})).await;
    // maxConnections: 1: a second socket is refused before the upgrade.
    let response = gw
        .client
        .get(gw.url())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-transport-ws")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 503);
    // maxTotal: 1: the one subscription runs; a second (over SSE) is refused.
    first
        .subscribe("1", r#"subscription { ticks(id: "cap") { n } }"#)
        .await;
    first.next_payload("1").await;
    let refused = js(
        &gw.url(),
        "sse",
        r#"subscription { ticks(id: "cap2") { n } }"#,
        0,
        None,
    )
    .await;
    assert!(refused.to_string().contains("maxTotal (1)"), "{refused}");
    assert_eq!(
        live.opened.load(Ordering::SeqCst),
        1,
        "the refused one opened no stream"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_closed_with_a_reason() {
    let live = Arc::new(Live::default());
    let (gw, _mock) = tight(&live).await;
    // An SSE client that reads the head and then stops reading: the
    // socket's buffers fill, the gateway cannot deliver, and with `buffer: 2`
    // and `overflow: CLOSE` the subscription ends with an error that says so.
    let mut response = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(json!({ "query": r#"subscription { big(id: "slow") { n pad } }"# }).to_string())
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: complete") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end");
    assert!(
        text.contains("fell") && text.contains("overflow: CLOSE"),
        "{}",
        &text[text.len().saturating_sub(600)..]
    );
    // The slow subscriber was the only one: the upstream stream was closed.
    assert!(
        eventually(Duration::from_secs(3), || live.open.load(Ordering::SeqCst)
            == 0)
        .await
    );
}

#[tokio::test]
async fn fields_that_read_other_parts_of_one_stream_get_their_own_part() {
    let s = setup().await;
    let mut socket = Socket::open(&s.gateway, "graphql-transport-ws", json!({})).await;
    socket
        .subscribe("n", r#"subscription { tickNumber(id: "same") }"#)
        .await;
    socket
        .subscribe("i", r#"subscription { tickId(id: "same") }"#)
        .await;
    assert!(socket.next_payload("n").await["data"]["tickNumber"].is_u64());
    assert_eq!(socket.next_payload("i").await["data"]["tickId"], "same");
}

#[tokio::test]
async fn the_101_names_the_protocol_spoken_and_the_upgrade_headers_win() {
    let s = setup().await;
    // The client lists the legacy protocol first: that one is spoken, and
    // the 101 says so (`open_with` asserts it).
    let mut legacy = Socket::open_with(
        &s.gateway,
        "graphql-ws, graphql-transport-ws",
        // A header the upgrade request already has is not replaced by the
        // payload (a proxy in front may have set it).
        json!({ "authorization": "Bearer from-the-client" }),
        &[("authorization", "Bearer from-the-proxy")],
    )
    .await;
    legacy
        .subscribe("1", r#"subscription { ticks(id: "w") { who } }"#)
        .await;
    assert_eq!(
        legacy.next_payload("1").await["data"]["ticks"]["who"],
        "Bearer from-the-proxy"
    );
}

#[tokio::test]
async fn operations_over_a_websocket_count_against_the_client_rate_limit() {
    let live = Arc::new(Live::default());
    let sdl = SDL.replace(
        r#"@server(subscriptions: { keepAlive: "1s", maxPerConnection: 2, initTimeout: "500ms" })"#,
        r#"@server(rateLimit: { key: "header:x-client", rate: 1, per: "1m", burst: 2 })"#,
    );
    let live_mock = mock("live", 0, live_routes(live.clone())).await;
    let detail = mock("detail", 0, detail_routes()).await;
    let gw = gateway(&sdl, &[&live_mock, &detail], &[]).await;
    // The upgrade takes one token, the first operation the second.
    let mut socket =
        Socket::open_with(&gw, "graphql-transport-ws", json!({}), &[("x-client", "a")]).await;
    socket.subscribe("1", "{ ping }").await;
    assert_eq!(socket.next_payload("1").await["data"]["ping"], "pong");
    socket.subscribe("2", "{ ping }").await;
    let refused = socket.next_payload("2").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
}
