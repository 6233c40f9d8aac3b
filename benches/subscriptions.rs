//! Subscriptions under load: `cargo bench --bench subscriptions`.
//!
//! The gateway (the release `tributary` binary, `serve
//! benches/subscriptions/schema.graphql`) runs pinned to one core; this
//! process, on the other core, runs the demo inventory (its event stream,
//! one event per `BENCH_EVERY_MS`, 100 ms = 10 events/s, each stamped with
//! the time it was sent) and the clients: `BENCH_CONNS` WebSockets
//! (graphql-transport-ws) with `BENCH_PER_CONN` subscriptions each, all to
//! the same stream, so one upstream stream feeds them all.
//!
//! Printed: memory per subscription (gateway RSS with every subscription
//! open minus RSS before, over the count), gateway CPU per delivered event
//! (utime + stime over the window, over the events the clients received),
//! the delivered event rate against the expected one, event latency from
//! the upstream's send to the client's receipt (p50, p99, max), and the
//! events the gateway dropped for slow clients (`/metrics`).
//!
//! Knobs: `BENCH_CONNS` (100), `BENCH_PER_CONN` (100), `BENCH_EVERY_MS`
//! (100), `BENCH_WINDOW_S` (10), `BENCH_WARMUP_S` (3), `BENCH_QUERY`
//! (default `subscription { stock(productId: "1", every: EVERY) { sequence
//! at quantity } }`), `BENCH_GW_CPUS` (`1`), `BENCH_REST_CPUS` (`0`),
//! `BENCH_GATEWAY_BIN`.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it does nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tributary::demo::Demo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn num(name: &str, default: u64) -> u64 {
    var(name, &default.to_string()).parse().unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("subscriptions bench: skipped (run it with `cargo bench --bench subscriptions`)");
        return;
    }
    let rest = var("BENCH_REST_CPUS", "0");
    let _ = Command::new("taskset")
        .args(["-pc", &rest, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("subscriptions bench failed: {e}");
        std::process::exit(1);
    }
}

/// Milliseconds since the epoch, as the demo inventory stamps its events.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// What every client task adds to.
#[derive(Default)]
struct Tally {
    events: AtomicU64,
    /// Latency samples (µs) are kept while `measuring`.
    measuring: AtomicBool,
    samples: std::sync::Mutex<Vec<u32>>,
    errors: AtomicU64,
}

async fn run() -> Result<(), BoxError> {
    let conns = num("BENCH_CONNS", 100);
    let per_conn = num("BENCH_PER_CONN", 100);
    let every = num("BENCH_EVERY_MS", 100);
    let window = Duration::from_secs(num("BENCH_WINDOW_S", 10));
    let warmup = Duration::from_secs(num("BENCH_WARMUP_S", 3));
    let query = var(
        "BENCH_QUERY",
        &format!(
            r#"subscription {{ stock(productId: "1", every: {every}) {{ sequence at quantity }} }}"#
        ),
    );
    let total = conns * per_conn;
    tributary::init_tls();
    let demo = Demo::start(Some(Duration::ZERO)).await?;
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = var("BENCH_GATEWAY_BIN", env!("CARGO_BIN_EXE_tributary"));
    let mut command = Command::new("taskset");
    command
        .args(["-c", &var("BENCH_GW_CPUS", "1"), &bin, "serve"])
        .arg(format!("{root}/benches/subscriptions/schema.graphql"))
        .args(["--listen", "127.0.0.1:0"])
        .envs(demo.env())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().ok_or("the gateway exited")??;
        if let Some(rest) = line.strip_prefix("tributary listening on ") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let result = measure(
        &url, pid, conns, per_conn, total, every, window, warmup, &query,
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    url: &str,
    pid: u32,
    conns: u64,
    per_conn: u64,
    total: u64,
    every: u64,
    window: Duration,
    warmup: Duration,
    query: &str,
) -> Result<(), BoxError> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = status_kib(pid, "VmRSS")?;
    let tally = Arc::new(Tally::default());
    let ws_url = format!("{}/graphql", url.replace("http://", "ws://"));
    let opened = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let tally = tally.clone();
        let ws_url = ws_url.clone();
        let query = query.to_owned();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = client(&ws_url, per_conn, &query, &tally).await {
                eprintln!("client: {e}");
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Every subscription open and delivering: at least one event each.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.events.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_open = opened.elapsed();
    tokio::time::sleep(warmup).await;
    let rss_open = status_kib(pid, "VmRSS")?;
    let cpu_before = cpu_ticks(pid)?;
    let events_before = tally.events.load(Ordering::Relaxed);
    tally.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    tally.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid)? - cpu_before) as f64 / clock_ticks();
    let events = tally.events.load(Ordering::Relaxed) - events_before;
    let rss_end = status_kib(pid, "VmRSS")?;
    let dropped = dropped(url).await.unwrap_or(f64::NAN);
    let mut samples = std::mem::take(&mut *tally.samples.lock().map_err(|_| "poisoned")?);
    samples.sort_unstable();
    let pct = |p: f64| -> f64 {
        if samples.is_empty() {
            return f64::NAN;
        }
        let i = ((samples.len() - 1) as f64 * p).round() as usize;
        f64::from(samples[i]) / 1000.0
    };
    let expected = total as f64 * 1000.0 / every as f64;
    println!(
        "subscriptions bench: {total} subscriptions ({conns} WebSockets x {per_conn}), one upstream stream, an event every {every} ms"
    );
    println!(
        "  all open and delivering after {:.1} s; client errors {}",
        all_open.as_secs_f64(),
        tally.errors.load(Ordering::Relaxed)
    );
    println!(
        "  memory: RSS {:.1} MiB before, {:.1} MiB with every subscription open ({:.1} MiB at the end): {:.2} KiB per subscription",
        rss_before as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        (rss_open.saturating_sub(rss_before)) as f64 / total as f64
    );
    println!(
        "  delivered {:.0} events/s of {:.0} expected ({:.1}%) over {elapsed:.1} s; dropped for slow clients: {dropped}",
        events as f64 / elapsed,
        expected,
        100.0 * events as f64 / elapsed / expected
    );
    println!(
        "  gateway CPU: {:.2} s in {elapsed:.1} s ({:.0}% of its core), {:.2} µs per delivered event",
        cpu,
        100.0 * cpu / elapsed,
        if events > 0 {
            cpu * 1e6 / events as f64
        } else {
            f64::NAN
        }
    );
    println!(
        "  event latency, upstream send to client receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        samples.len()
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

/// One WebSocket with `count` subscriptions to `query`; counts every event.
async fn client(url: &str, count: u64, query: &str, tally: &Tally) -> Result<(), BoxError> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.send(Message::Text(
        json!({"type": "connection_init"}).to_string().into(),
    ))
    .await?;
    for id in 0..count {
        let subscribe =
            json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": query}});
        ws.send(Message::Text(subscribe.to_string().into())).await?;
    }
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(text.as_str())?;
        match value["type"].as_str() {
            Some("next") => {
                tally.events.fetch_add(1, Ordering::Relaxed);
                if tally.measuring.load(Ordering::Relaxed)
                    && let Some(at) = value["payload"]["data"]["stock"]["at"].as_f64()
                {
                    let micros = ((now_ms() - at) * 1000.0).max(0.0) as u32;
                    if let Ok(mut samples) = tally.samples.lock() {
                        samples.push(micros);
                    }
                }
            }
            Some("ping") => ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await?,
            Some("error") | Some("complete") => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("client: {text}");
            }
            _ => {}
        }
    }
    Ok(())
}

/// `tributary_subscription_events_dropped_total`, summed.
async fn dropped(url: &str) -> Result<f64, BoxError> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("tributary_subscription_events_dropped_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn cpu_ticks(pid: u32) -> Result<u64, BoxError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text.rsplit_once(") ").ok_or("unexpected /proc/PID/stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of stat, 11 and 12 after the name.
    Ok(fields.get(11).ok_or("short stat")?.parse::<u64>()?
        + fields.get(12).ok_or("short stat")?.parse::<u64>()?)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn status_kib(pid: u32, key: &str) -> Result<u64, BoxError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status").into())
}
