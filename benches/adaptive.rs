//! Adaptive concurrency against an upstream that slows under its own load:
//! `cargo bench --bench adaptive`.
//!
//! The upstream has `BENCH_KNEE` (16) workers: a call takes 20 ms while at
//! most that many are in flight, and `20 ms × (in flight / knee)^BENCH_EXP`
//! beyond (exponent 2 by default: past its knee the service thrashes and
//! serves fewer calls per second the more it is given). `BENCH_CLIENTS`
//! (200) closed-loop clients ask one gateway for it for `BENCH_SECS` (8 s)
//! while one more client asks another upstream (instant) every 10 ms. Two
//! gateways in this process, one after the other: `maxConcurrent: 256`
//! (fixed) and `maxConcurrent: adaptive`, both with the default
//! `queueTimeout` (20 ms: what cannot get a slot soon is shed). Printed per
//! gateway: answered queries per second (goodput), the share shed
//! (`UPSTREAM_OVERLOADED`), p50/p99 of answered queries, the upstream's
//! calls in flight (mean and max, sampled every 5 ms), the limit at the
//! end, and the other upstream's p99.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it does nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tributary::Gateway;
use tributary::demo::MockService;
use tributary::http::graphiql::Assets;
use tributary::server::{self, AppState};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("adaptive bench: skipped (run it with `cargo bench --bench adaptive`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("adaptive bench failed: {e}");
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
    let knee = num("BENCH_KNEE", 16) as f64;
    let exp = num("BENCH_EXP", 2) as f64;
    let clients = num("BENCH_CLIENTS", 200) as usize;
    let secs = Duration::from_secs(num("BENCH_SECS", 8));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let counter = in_flight.clone();
    let routes = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let factor = (now as f64 / knee).max(1.0).powf(exp);
                tokio::time::sleep(Duration::from_secs_f64(0.020 * factor)).await;
                counter.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({ "id": "s" }))
            }
        }),
    );
    let slow = MockService::start("slow", 0, Duration::ZERO, routes).await?;
    let fast = MockService::start(
        "fast",
        0,
        Duration::ZERO,
        axum::Router::new().route(
            "/fast",
            axum::routing::get(|| async { axum::Json(json!({ "id": "f" })) }),
        ),
    )
    .await?;
    println!(
        "adaptive bench: {clients} clients for {} s; upstream knee {knee} calls, 20 ms each, ×(n/knee)^{exp} beyond",
        secs.as_secs()
    );
    for limit in ["maxConcurrent: 256", "maxConcurrent: adaptive"] {
        let sdl = format!(
            r#"schema
                 @upstream(name: "slow", url: "{}", retry: false, breaker: false, timeout: "30s", {limit})
                 @upstream(name: "fast", url: "{}")
               {{ query: Query }}
               type Query {{
                 slow: Item @rest(upstream: "slow", path: "/slow")
                 fast: Item @rest(upstream: "fast", path: "/fast")
               }}
               type Item {{ id: ID! }}"#,
            slow.url(),
            fast.url()
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
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(clients + 8)
            .build()?;
        let url = format!("{}/graphql", running.url());
        let started = Instant::now();
        let shed = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url, shed) = (client.clone(), url.clone(), shed.clone());
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    while started.elapsed() < secs {
                        let asked = Instant::now();
                        let Ok(response) = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(r#"{"query":"{ slow { id } }"}"#)
                            .send()
                            .await
                        else {
                            continue;
                        };
                        let body = response.bytes().await.unwrap_or_default();
                        if body.windows(19).any(|w| w == b"UPSTREAM_OVERLOADED") {
                            shed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            times.push(asked.elapsed());
                        }
                    }
                    times
                })
            })
            .collect();
        let other = {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                while started.elapsed() < secs {
                    let asked = Instant::now();
                    if let Ok(r) = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(r#"{"query":"{ fast { id } }"}"#)
                        .send()
                        .await
                    {
                        let _ = r.bytes().await;
                        times.push(asked.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                times
            })
        };
        let sampler = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while started.elapsed() < secs {
                    // The first second is the limit finding its level.
                    if started.elapsed() > Duration::from_secs(1) {
                        samples.push(in_flight.load(Ordering::Relaxed));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                samples
            })
        };
        let mut answered = Vec::new();
        for w in workers {
            answered.extend(w.await?);
        }
        let mut other = other.await?;
        let samples = sampler.await?;
        let metrics = client
            .get(format!("{}/metrics", running.url()))
            .send()
            .await?
            .text()
            .await?;
        let end_limit = metrics
            .lines()
            .find(|l| {
                l.starts_with("tributary_upstream_concurrency_limit")
                    && l.contains(r#"upstream="slow""#)
            })
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or("?")
            .to_owned();
        answered.sort();
        other.sort();
        let pct = |t: &[Duration], p: f64| {
            t.get(((t.len().max(1) - 1) as f64 * p).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let shed = shed.load(Ordering::Relaxed);
        let total = answered.len() as u64 + shed;
        let mean = samples.iter().sum::<usize>() as f64 / samples.len().max(1) as f64;
        println!(
            "  {:<24} answered {:>6.0}/s  shed {:>5.1}%  p50 {:>7.1} ms  p99 {:>8.1} ms  upstream in flight mean {:>5.1} max {:>4}  limit at end {:>4}  other upstream p99 {:>5.1} ms",
            limit,
            answered.len() as f64 / secs.as_secs_f64(),
            100.0 * shed as f64 / total.max(1) as f64,
            pct(&answered, 0.5),
            pct(&answered, 0.99),
            mean,
            samples.iter().max().copied().unwrap_or(0),
            end_limit,
            pct(&other, 0.99),
        );
        running.stop().await?;
        // Let the upstream's calls in flight finish before the next gateway.
        while in_flight.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}
