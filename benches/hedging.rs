//! Hedged calls against a tail: `cargo bench --bench hedging`.
//!
//! One upstream on 127.0.0.1 answers at once, except that 5% of its
//! requests (a fixed, seeded pattern) take `BENCH_SLOW_MS` (200 ms). Two
//! gateways in this process serve the same one-call query over it, one
//! without `hedge` and one with `hedge: { after: BENCH_AFTER, max: 1 }`
//! (`"p95"` by default, so the delay follows the upstream's own recent
//! answers). `BENCH_N` (2000) sequential queries each; printed: p50, p99 and
//! max latency, and the upstream requests per query (the hedges' extra load).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tributary::Gateway;
use tributary::demo::{Fault, MockService};
use tributary::http::graphiql::Assets;
use tributary::server::{self, AppState};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("hedging bench: skipped (run it with `cargo bench --bench hedging`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("hedging bench failed: {e}");
        std::process::exit(1);
    }
}

fn num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run() -> Result<(), BoxError> {
    tributary::init_tls();
    let n = num("BENCH_N", 2000);
    let slow = Duration::from_millis(num("BENCH_SLOW_MS", 200));
    let after = std::env::var("BENCH_AFTER").unwrap_or_else(|_| "p95".to_owned());
    let routes = axum::Router::new().route(
        "/item",
        axum::routing::get(|| async { axum::Json(json!({ "id": "1" })) }),
    );
    let upstream = MockService::start("items", 0, Duration::ZERO, routes).await?;
    println!(
        "hedging bench: {n} sequential queries per gateway; 5% of upstream requests take {} ms",
        slow.as_millis()
    );
    for hedge in [None, Some(after.as_str())] {
        let extra = hedge.map_or(String::new(), |a| {
            format!(r#", hedge: {{ after: "{a}", max: 1 }}"#)
        });
        let sdl = format!(
            r#"schema @upstream(name: "items", url: "{}", retry: false{extra}) {{ query: Query }}
               type Query {{ item: Item @rest(upstream: "items", path: "/item") }}
               type Item {{ id: ID! }}"#,
            upstream.url()
        );
        let config =
            tributary::config::load("bench.graphql", &sdl, &|_| None).map_err(|d| d.to_string())?;
        let gateway = Arc::new(Gateway::new(&config)?);
        let running = server::spawn(
            "127.0.0.1:0",
            AppState {
                gateway,
                assets: Arc::new(Assets::Cdn),
            },
        )
        .await?;
        let client = reqwest::Client::builder().no_proxy().build()?;
        let url = format!("{}/graphql", running.url());
        // The same 5% pattern of slow requests for both gateways: every
        // 20th request, from a seeded offset, whatever made it.
        upstream.state.reset();
        let pattern: Vec<Fault> = (0..n * 3)
            .map(|i| {
                if (i * 7 + 3) % 20 == 0 {
                    Fault::Delay(slow)
                } else {
                    Fault::Delay(Duration::ZERO)
                }
            })
            .collect();
        upstream.state.push_faults(pattern);
        let mut times = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let started = Instant::now();
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(r#"{"query":"{ item { id } }"}"#)
                .send()
                .await?;
            let _ = response.bytes().await?;
            times.push(started.elapsed());
        }
        times.sort();
        let pct =
            |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
        let requests = upstream.state.count();
        println!(
            "  {:<34} p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  upstream requests per query {:.3} (+{:.1}%)",
            hedge.map_or("no hedge".to_owned(), |a| format!(
                "hedge: {{ after: \"{a}\", max: 1 }}"
            )),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            requests as f64 / n as f64,
            100.0 * (requests as f64 - n as f64) / n as f64
        );
        upstream.state.clear_faults();
        running.stop().await?;
    }
    Ok(())
}
