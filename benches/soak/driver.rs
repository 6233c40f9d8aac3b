//! The soak: a `tributary serve` process over the demo schema and the demo
//! upstreams (two of them faulty), under sustained mixed traffic, sampled at
//! intervals. Shared by `cargo bench --bench soak` (10 minutes, release) and
//! `tests/soak.rs` (one minute, debug).
//!
//! Traffic, each kind from its own loops, all to 127.0.0.1, bounded in time:
//! - good: the product page over healthy upstreams; any error is unexpected;
//! - degraded: the page with recommendations (flaky: every second call 503)
//!   and shipping (slower than its timeout); errors are expected on those two
//!   fields only;
//! - hostile: exponential fragments, 30,000 `__typename` aliases, 5,000
//!   distinct aliases of a bound field, distinct 200 KB documents that fail
//!   validation, distinct 100 KB documents that pass, malformed JSON, deep
//!   JSON variables, non-UTF-8 header values; each must get its refusal;
//! - connections: idle sockets held open and half-sent headers, replaced as
//!   the gateway closes them.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tributary::demo::{Demo, Fault};

pub type Result<T> = std::result::Result<T, String>;

pub struct Settings {
    /// The `tributary` binary.
    pub bin: String,
    pub duration: Duration,
    pub interval: Duration,
    pub good_loops: usize,
    pub degraded_loops: usize,
    pub hostile_loops: usize,
    pub idle_sockets: usize,
    /// Extra `@server` arguments for the run (short timeouts in the test).
    pub server_args: String,
    /// Give the healthy upstreams' calls 5 s instead of the demo's 500 ms to
    /// 1 s (a debug build on a loaded 2-core machine can take that long),
    /// leaving shipping (1.5 s) the only upstream slower than its timeout.
    pub relaxed_timeouts: bool,
}

/// One sampling interval.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at_s: f64,
    pub rss_kib: u64,
    pub good: u64,
    pub good_p50_ms: f64,
    pub good_p99_ms: f64,
    pub degraded: u64,
    pub hostile: u64,
    pub connections_cut: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub samples: Vec<Sample>,
    pub good: u64,
    pub degraded: u64,
    pub hostile: u64,
    pub connections_cut: u64,
    /// Answers that were not what their kind expects, with a few examples.
    pub unexpected: u64,
    pub examples: Vec<String>,
    pub hostile_max_ms: f64,
}

impl Summary {
    pub fn print(&self) {
        println!(
            "{:>7} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>6}",
            "t (s)", "RSS MiB", "good", "p50 ms", "p99 ms", "degraded", "hostile", "cut"
        );
        for s in &self.samples {
            println!(
                "{:>7.0} {:>9.1} {:>8} {:>9.2} {:>9.2} {:>9} {:>8} {:>6}",
                s.at_s,
                s.rss_kib as f64 / 1024.0,
                s.good,
                s.good_p50_ms,
                s.good_p99_ms,
                s.degraded,
                s.hostile,
                s.connections_cut
            );
        }
        println!(
            "totals: good {} degraded {} hostile {} connections cut {} unexpected {} (hostile answered within {:.0} ms at worst)",
            self.good,
            self.degraded,
            self.hostile,
            self.connections_cut,
            self.unexpected,
            self.hostile_max_ms
        );
        if let (Some(first), Some(max), Some(last)) = (
            self.samples.first(),
            self.samples.iter().map(|s| s.rss_kib).max(),
            self.samples.last(),
        ) {
            println!(
                "RSS: first sample {:.1} MiB, peak {:.1} MiB, last {:.1} MiB",
                first.rss_kib as f64 / 1024.0,
                max as f64 / 1024.0,
                last.rss_kib as f64 / 1024.0
            );
        }
        let p99: Vec<f64> = self.samples.iter().map(|s| s.good_p99_ms).collect();
        if let (Some(min), Some(max)) = (
            p99.iter().copied().reduce(f64::min),
            p99.iter().copied().reduce(f64::max),
        ) {
            println!("good p99 per interval: {min:.2} .. {max:.2} ms");
        }
        for e in &self.examples {
            println!("unexpected: {e}");
        }
    }
}

#[derive(Default)]
struct Counters {
    good: AtomicU64,
    degraded: AtomicU64,
    hostile: AtomicU64,
    cut: AtomicU64,
    unexpected: AtomicU64,
    hostile_max_us: AtomicU64,
    good_latencies_us: Mutex<Vec<u64>>,
    examples: Mutex<Vec<String>>,
}

impl Counters {
    fn unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        let mut examples = self.examples.lock().unwrap_or_else(|e| e.into_inner());
        if examples.len() < 10 {
            examples.push(what);
        }
    }
}

pub async fn run(settings: &Settings) -> Result<Summary> {
    tributary::init_tls();
    // The upstreams get a runtime (and thread) of their own, so that the
    // load generators' work never delays their answers.
    let (env_tx, env_rx) = std::sync::mpsc::channel::<Result<HashMap<String, String>>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let upstreams = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = env_tx.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            let demo = match Demo::start(Some(Duration::from_millis(2))).await {
                Ok(demo) => demo,
                Err(e) => {
                    let _ = env_tx.send(Err(format!("demo upstreams: {e}")));
                    return;
                }
            };
            if let (Some(recs), Some(shipping)) =
                (demo.service("recommendations"), demo.service("shipping"))
            {
                recs.state.set_fault(Some(Fault::Flaky));
                shipping
                    .state
                    .set_fault(Some(Fault::Delay(Duration::from_millis(1500))));
            }
            let _ = env_tx.send(Ok(demo.env()));
            let _ = done_rx.await;
            drop(demo);
        });
    });
    let env = env_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the demo upstreams did not start".to_owned())??;

    let schema = soak_schema(&settings.server_args, settings.relaxed_timeouts)?;
    let mut gateway = Gateway::start(&settings.bin, &schema, &env)?;
    let base = gateway.base.clone();
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;

    let mut tasks = Vec::new();
    for i in 0..settings.good_loops {
        tasks.push(tokio::spawn(good_loop(
            client.clone(),
            base.clone(),
            counters.clone(),
            stop.clone(),
            i,
        )));
    }
    for _ in 0..settings.degraded_loops {
        tasks.push(tokio::spawn(degraded_loop(
            client.clone(),
            base.clone(),
            counters.clone(),
            stop.clone(),
        )));
    }
    for i in 0..settings.hostile_loops {
        tasks.push(tokio::spawn(hostile_loop(
            client.clone(),
            base.clone(),
            counters.clone(),
            stop.clone(),
            i,
        )));
    }
    tasks.push(tokio::spawn(connection_loop(
        gateway.addr.clone(),
        settings.idle_sockets,
        counters.clone(),
        stop.clone(),
    )));

    let started = Instant::now();
    let mut summary = Summary::default();
    let mut last = (0, 0, 0, 0);
    while started.elapsed() < settings.duration {
        tokio::time::sleep(settings.interval).await;
        let mut latencies = std::mem::take(
            &mut *counters
                .good_latencies_us
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        latencies.sort_unstable();
        let now = (
            counters.good.load(Ordering::Relaxed),
            counters.degraded.load(Ordering::Relaxed),
            counters.hostile.load(Ordering::Relaxed),
            counters.cut.load(Ordering::Relaxed),
        );
        summary.samples.push(Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_kib: gateway.rss_kib()?,
            good: now.0 - last.0,
            good_p50_ms: percentile(&latencies, 0.50),
            good_p99_ms: percentile(&latencies, 0.99),
            degraded: now.1 - last.1,
            hostile: now.2 - last.2,
            connections_cut: now.3 - last.3,
        });
        last = now;
        if !gateway.alive() {
            return Err("the gateway exited during the soak".to_owned());
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    summary.good = counters.good.load(Ordering::Relaxed);
    summary.degraded = counters.degraded.load(Ordering::Relaxed);
    summary.hostile = counters.hostile.load(Ordering::Relaxed);
    summary.connections_cut = counters.cut.load(Ordering::Relaxed);
    summary.unexpected = counters.unexpected.load(Ordering::Relaxed);
    summary.hostile_max_ms = counters.hostile_max_us.load(Ordering::Relaxed) as f64 / 1000.0;
    summary.examples = counters
        .examples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    gateway.stop();
    let _ = done_tx.send(());
    let _ = upstreams.join();
    Ok(summary)
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// The demo schema with the run's `@server` arguments added.
fn soak_schema(server_args: &str, relaxed: bool) -> Result<std::path::PathBuf> {
    let mut schema = tributary::demo::DEMO_SCHEMA.to_owned();
    if !server_args.is_empty() {
        schema = schema.replacen("@server(", &format!("@server({server_args}, "), 1);
    }
    if relaxed {
        for (from, to) in [
            (
                r#"timeout: "1s", connectTimeout"#,
                r#"timeout: "5s", connectTimeout"#,
            ),
            (r#"readTimeout: "800ms""#, r#"readTimeout: "5s""#),
            (
                r#"url: "${PRICING_URL:-http://127.0.0.1:4102}", timeout: "500ms""#,
                r#"url: "${PRICING_URL:-http://127.0.0.1:4102}", timeout: "5s""#,
            ),
            (
                r#"@upstream(name: "shipping", url: "${SHIPPING_URL:-http://127.0.0.1:4105}""#,
                r#"@upstream(name: "shipping", url: "${SHIPPING_URL:-http://127.0.0.1:4105}", timeout: "1s""#,
            ),
        ] {
            if !schema.contains(from) {
                return Err(format!("the demo schema no longer has `{from}`"));
            }
            schema = schema.replacen(from, to, 1);
        }
    }
    let path = std::env::temp_dir().join(format!("tributary-soak-{}.graphql", std::process::id()));
    std::fs::write(&path, schema).map_err(|e| e.to_string())?;
    Ok(path)
}

const GOOD: &str = "query Page($id: ID!) { product(id: $id) { id details { name brand } price { amount currency } stock { inStock quantity } } }";
const DEGRADED: &str = "query Degraded($id: ID!) { product(id: $id) { id details { name } recommendations { productId score } shipping { days carrier } } }";

async fn post(client: &reqwest::Client, base: &str, body: String) -> Result<(u16, Value)> {
    let response = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let json = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text:.200}"))?;
    Ok((status, json))
}

async fn good_loop(
    client: reqwest::Client,
    base: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    seed: usize,
) {
    let mut n = seed;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({ "query": GOOD, "variables": { "id": (n % 50 + 1).to_string() } });
        let started = Instant::now();
        match post(&client, &base, body.to_string()).await {
            Ok((200, json))
                if json["errors"].is_null()
                    && json["data"]["product"]["details"]["name"].is_string() =>
            {
                counters.good.fetch_add(1, Ordering::Relaxed);
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counters
                    .good_latencies_us
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(us);
            }
            other => counters.unexpected(format!("good: {other:?}")),
        }
    }
}

async fn degraded_loop(
    client: reqwest::Client,
    base: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({ "query": DEGRADED, "variables": { "id": (n % 50 + 1).to_string() } });
        match post(&client, &base, body.to_string()).await {
            Ok((200, json)) if json["data"]["product"]["details"]["name"].is_string() => {
                let allowed = json["errors"].as_array().is_none_or(|errors| {
                    errors.iter().all(|e| {
                        matches!(e["path"][1].as_str(), Some("recommendations" | "shipping"))
                    })
                });
                if allowed {
                    counters.degraded.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.unexpected(format!("degraded: {json}"));
                }
            }
            other => counters.unexpected(format!("degraded: {other:?}")),
        }
    }
}

/// Hostile documents that are the same every time, built once.
struct Fixed {
    fragments: String,
    typenames: String,
    distinct: String,
    deep_variables: String,
}

fn fixed() -> &'static Fixed {
    static FIXED: std::sync::OnceLock<Fixed> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut q = String::from(
            "query { product(id: \"1\") { details { ...F30 } } }\nfragment F0 on CatalogueEntry { name }\n",
        );
        for i in 1..=30 {
            q.push_str(&format!(
                "fragment F{i} on CatalogueEntry {{ ...F{p} ...F{p} }}\n",
                p = i - 1
            ));
        }
        let typenames: String = (0..30_000).map(|i| format!("t{i}: __typename ")).collect();
        let distinct: String = (0..5_000)
            .map(|i| format!("p{i}: product(id: \"{i}\") {{ details {{ name }} }} "))
            .collect();
        let deep = "[".repeat(5_000) + &"]".repeat(5_000);
        Fixed {
            fragments: json!({ "query": q }).to_string(),
            typenames: json!({ "query": format!("{{ {typenames} }}") }).to_string(),
            distinct: json!({ "query": format!("{{ {distinct} }}") }).to_string(),
            deep_variables: format!(
                "{{\"query\":\"{{ __typename }}\",\"variables\":{{\"v\":{deep}}}}}"
            ),
        }
    })
}

/// One hostile request and what it must get back.
fn hostile(n: usize) -> (String, Vec<(&'static str, &'static str)>, Expect) {
    let fixed = fixed();
    match n % 9 {
        0 => (fixed.fragments.clone(), vec![], Expect::Refused("maxCost")),
        1 => (fixed.typenames.clone(), vec![], Expect::Refused("maxAliases")),
        2 => (fixed.distinct.clone(), vec![], Expect::Refused("maxAliases")),
        3 => {
            let padding = " ".repeat(200_000);
            (json!({ "query": format!("{{ nope{n} {padding} }}") }).to_string(), vec![], Expect::Refused(""))
        }
        4 => {
            let padding = " ".repeat(100_000);
            (json!({ "query": format!("{{ a{n}: __typename {padding} }}") }).to_string(), vec![], Expect::Ok)
        }
        5 => ("{\"query\": \"{ product(id: ".to_owned(), vec![], Expect::Status(400)),
        6 => (fixed.deep_variables.clone(), vec![], Expect::Status(400)),
        7 => (
            json!({ "query": "{ product(id: \"1\") { id shipping { days } } }" }).to_string(),
            vec![("x-zip", "\u{00ff}")],
            Expect::Answered,
        ),
        _ => (
            json!({ "query": "{ product(id: \"1\") { recommendations(limit: 50) { productId product { name } } } }" }).to_string(),
            vec![],
            Expect::Answered,
        ),
    }
}

#[derive(Debug)]
enum Expect {
    /// 400, no data, GRAPHQL_VALIDATION_FAILED with this in its message.
    Refused(&'static str),
    Status(u16),
    Ok,
    /// Any well-formed GraphQL response.
    Answered,
}

async fn hostile_loop(
    client: reqwest::Client,
    base: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    seed: usize,
) {
    let mut n = seed * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (body, headers, expect) = hostile(n);
        let mut request = client
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(body);
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(
                &value.chars().map(|c| c as u8).collect::<Vec<_>>(),
            )
            .unwrap_or(reqwest::header::HeaderValue::from_static("x"));
            request = request.header(name, value);
        }
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                Ok((
                    status,
                    serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                ))
            }
            Err(e) => Err(e.to_string()),
        };
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        counters.hostile_max_us.fetch_max(us, Ordering::Relaxed);
        let fine = match (&expect, &answer) {
            (Expect::Refused(word), Ok((400, json))) => {
                json.get("data").is_none()
                    && json["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
                    && json["errors"][0]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(word))
            }
            (Expect::Status(want), Ok((status, _))) => status == want,
            (Expect::Ok, Ok((200, json))) => json["errors"].is_null(),
            (Expect::Answered, Ok((200, json))) => json.get("data").is_some(),
            _ => false,
        };
        if fine {
            counters.hostile.fetch_add(1, Ordering::Relaxed);
        } else {
            let shown = format!("{answer:?}");
            counters.unexpected(format!("hostile {} ({expect:?}): {:.300}", n % 9, shown));
        }
    }
}

/// Keeps `idle` sockets open (half of them with half-sent headers) and
/// counts those the gateway cuts; a cut socket is replaced.
async fn connection_loop(
    addr: String,
    idle: usize,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    let mut held = tokio::task::JoinSet::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        while held.len() < idle {
            n += 1;
            let addr = addr.clone();
            let half_sent = n.is_multiple_of(2);
            held.spawn(async move {
                let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
                    return false;
                };
                if half_sent {
                    let _ = stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nhost: soak\r\nx-slow: ")
                        .await;
                }
                let mut buf = [0u8; 512];
                // Held until the gateway closes it (or 120 s).
                let closed = tokio::time::timeout(Duration::from_secs(120), async {
                    loop {
                        match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                closed.is_ok()
            });
        }
        tokio::select! {
            done = held.join_next() => {
                if let Some(Ok(true)) = done {
                    counters.cut.fetch_add(1, Ordering::Relaxed);
                }
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    held.abort_all();
}

// --- the gateway process ------------------------------------------------------

struct Gateway {
    child: Child,
    base: String,
    addr: String,
}

impl Gateway {
    fn start(
        bin: &str,
        schema: &std::path::Path,
        env: &HashMap<String, String>,
    ) -> Result<Gateway> {
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(schema)
            .args(["--listen", "127.0.0.1:0"])
            .envs(env)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("tributary listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the gateway did not print its address".to_owned())?;
        Ok(Gateway {
            child,
            base: format!("http://{addr}"),
            addr,
        })
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "no VmRSS".to_owned())
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
