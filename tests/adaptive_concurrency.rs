//! Adaptive concurrency (`maxConcurrent: adaptive`): against an upstream
//! whose latency rises with its own concurrency (8 workers: beyond 8 calls
//! in flight each call takes proportionally longer), the gateway's calls in
//! flight settle near that knee while 48 clients keep asking, where a fixed
//! cap lets all 48 through; another upstream's answers stay fast. Real
//! servers on 127.0.0.1:0; bounds are generous.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::json;
use support::{TestGateway, json_route};

const KNEE: usize = 8;
const CLIENTS: usize = 48;

/// What the slow upstream saw: calls in flight now, and at each arrival.
#[derive(Default)]
struct Load {
    now: AtomicUsize,
    arrivals: Mutex<Vec<(Instant, usize)>>,
}

impl Load {
    /// The most calls in flight at an arrival after `since`.
    fn peak_since(&self, since: Instant) -> usize {
        let arrivals = self.arrivals.lock().expect("lock");
        arrivals
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }
}

/// 20 ms a call up to KNEE in flight, proportionally more beyond.
fn slow_routes(load: Arc<Load>) -> Router {
    Router::new().route(
        "/slow",
        get(move || {
            let load = load.clone();
            async move {
                let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
                load.arrivals
                    .lock()
                    .expect("lock")
                    .push((Instant::now(), now));
                let wait = Duration::from_millis(20) * (now.max(KNEE) as u32) / KNEE as u32;
                tokio::time::sleep(wait).await;
                load.now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({ "id": "s" }))
            }
        }),
    )
}

fn sdl(limit: &str) -> String {
    format!(
        r#"
schema
  @upstream(name: "slow", url: "${{SLOW_URL}}", retry: false, queueTimeout: "5s", breaker: false, {limit})
  @upstream(name: "fast", url: "${{FAST_URL}}")
{{ query: Query }}
type Query {{
  slow: Item @rest(upstream: "slow", path: "/slow")
  fast: Item @rest(upstream: "fast", path: "/fast")
}}
type Item {{ id: ID! }}
"#
    )
}

/// 48 clients ask the slow upstream for `run`; one more asks the fast one
/// in a loop. The slow upstream's peak in flight over the last second, and
/// the fast answers' times, slowest last.
async fn under_load(gw: &TestGateway, load: &Load, run: Duration) -> (usize, Vec<Duration>) {
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|_| async {
        while started.elapsed() < run {
            let (status, body) = gw.query("{ slow { id } }").await;
            assert_eq!(status, 200, "{body}");
        }
    });
    let fast = async {
        let mut times = Vec::new();
        while started.elapsed() < run {
            let asked = Instant::now();
            let (_, body) = gw.query("{ fast { id } }").await;
            times.push(asked.elapsed());
            assert_eq!(body["data"]["fast"]["id"], "f", "{body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        times
    };
    let ((), mut times) = tokio::join!(
        async {
            futures_util::future::join_all(clients).await;
        },
        fast
    );
    times.sort();
    (
        load.peak_since(started + run - Duration::from_secs(1)),
        times,
    )
}

#[tokio::test]
async fn the_adaptive_limit_settles_near_the_upstreams_knee() {
    let load = Arc::new(Load::default());
    let slow = support::mock("slow", 0, slow_routes(load.clone())).await;
    let fast = support::mock("fast", 0, json_route("/fast", json!({ "id": "f" }))).await;
    let gw = support::gateway(&sdl("maxConcurrent: adaptive"), &[&slow, &fast], &[]).await;
    let (peak, fast_times) = under_load(&gw, &load, Duration::from_secs(4)).await;
    assert!(
        (KNEE / 2..=3 * KNEE).contains(&peak),
        "in flight at the slow upstream settled near its knee of {KNEE}: peak {peak} in the last second"
    );
    let p99 = fast_times[fast_times.len() * 99 / 100];
    assert!(
        p99 < Duration::from_millis(300),
        "the fast upstream's answers stayed fast: p99 {p99:?}"
    );

    let limit = gw
        .sample(
            "tributary_upstream_concurrency_limit",
            &[r#"upstream="slow""#, r#"mode="adaptive""#],
        )
        .await
        .expect("the adaptive limit in /metrics") as usize;
    assert!((1..=3 * KNEE).contains(&limit), "limit {limit}");
    eprintln!(
        "adaptive: peak {peak} in flight in the last second, limit {limit}, fast p99 {p99:?}"
    );
    assert!(
        gw.sample("tributary_upstream_in_flight", &[r#"upstream="slow""#])
            .await
            .is_some()
    );
    let status = gw.text("/status").await;
    assert!(
        status.contains(&format!("0 / {limit} (adaptive)")),
        "{status}"
    );
}

#[tokio::test]
async fn a_fixed_cap_lets_every_client_through_to_the_slow_upstream() {
    let load = Arc::new(Load::default());
    let slow = support::mock("slow", 0, slow_routes(load.clone())).await;
    let fast = support::mock("fast", 0, json_route("/fast", json!({ "id": "f" }))).await;
    let gw = support::gateway(&sdl("maxConcurrent: 256"), &[&slow, &fast], &[]).await;
    let (peak, _) = under_load(&gw, &load, Duration::from_secs(2)).await;
    assert!(
        peak >= CLIENTS - 8,
        "every client's call in flight: peak {peak}"
    );
    assert_eq!(
        gw.sample(
            "tributary_upstream_concurrency_limit",
            &[r#"upstream="slow""#, r#"mode="fixed""#]
        )
        .await,
        Some(256.0)
    );
}

#[test]
fn adaptive_settings_are_checked_at_load() {
    let load = |limit: &str| {
        tributary::config::load("t.graphql", &sdl(limit), &|_| {
            Some("http://127.0.0.1:1".into())
        })
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default()
    };
    assert_eq!(load("maxConcurrent: adaptive"), "");
    assert_eq!(load(r#"maxConcurrent: "adaptive""#), "");
    assert_eq!(load("adaptive: { min: 2, max: 50, initial: 5 }"), "");
    assert!(load("adaptive: { min: 9, max: 5 }").contains("is above"));
    assert!(load("adaptive: { least: 1 }").contains("unknown key `least`"));
    assert!(load("maxConcurrent: fast").contains("maxConcurrent"));
}
