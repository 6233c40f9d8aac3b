//! End-to-end gateway benchmark: `cargo bench --bench gateway`.
//!
//! The demo upstreams run in this process (`tributary::demo::Demo`); the
//! gateway runs as a separate process (the release `tributary` binary, `serve
//! schema/demo.graphql`), pinned to its own core when `taskset` is available,
//! so its CPU time and peak RSS can be read from `/proc`. Loopback only.
//!
//! (a) Seed latencies (catalogue 120, pricing 95, inventory 110,
//!     recommendations 140, shipping 65 ms): the product page (five bound
//!     fields, one upstream call each) sent sequentially on one keep-alive
//!     connection, interleaved with direct GETs of the slowest upstream
//!     (recommendations, 140 ms). Overhead = gateway p50 − direct p50.
//! (b) Zero upstream latency: closed-loop load, `BENCH_CONNS` keep-alive
//!     connections for `BENCH_DURATION_S` after `BENCH_WARMUP_S` of warm-up
//!     (wrk when installed, else an in-process reqwest load generator). RPS,
//!     latency percentiles, gateway CPU time per request (utime + stime from
//!     `/proc/PID/stat`), upstream calls per query, peak RSS (VmHWM).
//!
//! Knobs (environment): `BENCH_PART` (`all` | `latency` | `throughput`),
//! `BENCH_N` (200), `BENCH_SEQ_WARMUP` (20), `BENCH_DURATION_S` (10),
//! `BENCH_WARMUP_S` (2), `BENCH_CONNS` (50), `BENCH_LOADGEN` (`auto` | `wrk` |
//! `inproc`), `BENCH_PIN` (1 when `taskset` works and there are >= 2 CPUs),
//! `BENCH_GW_CPUS` (`1`), `BENCH_REST_CPUS` (`0`: this process, the upstreams
//! and the load generator), `BENCH_GATEWAY_BIN` (default: the `tributary`
//! binary cargo built for this bench), `BENCH_JSON` (also write the summary
//! as JSON to this file).
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it does nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary::demo::Demo;

/// The product page: the five bound fields of the demo schema, every field
/// of each upstream answer selected (so the answer can be compared with the
/// upstreams' own JSON), no nested `product` under the recommendations.
const QUERY: &str = "query ProductPage($id: ID!) { product(id: $id) { id \
    details { id name description brand category } \
    price { productId amount currency } \
    stock { productId inStock quantity warehouse } \
    recommendations(limit: 4) { productId score } \
    shipping { productId days cost carrier } } }";
const PRODUCT_ID: &str = "42";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("gateway bench: skipped (run it with `cargo bench --bench gateway`)");
        return;
    }
    let settings = Settings::from_env();
    if settings.pin {
        // Threads started from here on (runtime workers, wrk) inherit core REST_CPUS.
        let pid = std::process::id().to_string();
        let pinned = Command::new("taskset")
            .args(["-pc", &settings.rest_cpus, &pid])
            .stdout(Stdio::null())
            .status();
        if !pinned.is_ok_and(|s| s.success()) {
            eprintln!(
                "gateway bench: could not pin this process to {}",
                settings.rest_cpus
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    match runtime.block_on(run(&settings)) {
        Ok(summary) => {
            println!();
            println!("BENCH_JSON {summary}");
            if let Ok(path) = std::env::var("BENCH_JSON")
                && let Err(e) = std::fs::write(&path, format!("{summary:#}\n"))
            {
                eprintln!("gateway bench: cannot write {path}: {e}");
            }
            println!(
                "gateway bench: done in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("gateway bench: FAILED: {message}");
            std::process::exit(1);
        }
    }
}

struct Settings {
    /// CPUs of the machine (before this process pins itself).
    cpus: usize,
    part: String,
    n: usize,
    seq_warmup: usize,
    duration: Duration,
    warmup: Duration,
    conns: usize,
    loadgen: String,
    pin: bool,
    gw_cpus: String,
    rest_cpus: String,
    bin: String,
}

impl Settings {
    fn from_env() -> Settings {
        fn var(name: &str, default: &str) -> String {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        }
        fn num(name: &str, default: u64) -> u64 {
            let text = var(name, &default.to_string());
            text.parse().unwrap_or_else(|_| {
                eprintln!("gateway bench: {name}={text} is not a number; using {default}");
                default
            })
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let pin_default = if taskset && cpus >= 2 { "1" } else { "0" };
        Settings {
            cpus,
            part: var("BENCH_PART", "all"),
            n: num("BENCH_N", 200) as usize,
            seq_warmup: num("BENCH_SEQ_WARMUP", 20) as usize,
            duration: Duration::from_secs(num("BENCH_DURATION_S", 10)),
            warmup: Duration::from_secs(num("BENCH_WARMUP_S", 2)),
            conns: num("BENCH_CONNS", 50).max(1) as usize,
            loadgen: var("BENCH_LOADGEN", "auto"),
            pin: var("BENCH_PIN", pin_default) == "1",
            gw_cpus: var("BENCH_GW_CPUS", "1"),
            rest_cpus: var("BENCH_REST_CPUS", "0"),
            bin: var("BENCH_GATEWAY_BIN", env!("CARGO_BIN_EXE_tributary")),
        }
    }
}

async fn run(s: &Settings) -> Result<Value> {
    tributary::init_tls();
    let tck = clock_ticks();
    println!(
        "gateway bench: {} CPUs, gateway pinned: {}, binary {}",
        s.cpus,
        if s.pin {
            format!(
                "cpu {} (upstreams + load generator: cpu {})",
                s.gw_cpus, s.rest_cpus
            )
        } else {
            "no".to_owned()
        },
        s.bin
    );
    let mut summary = serde_json::Map::new();
    summary.insert(
        "machine".into(),
        json!({
            "cpus": s.cpus,
            "pinned": s.pin, "gw_cpus": s.gw_cpus, "rest_cpus": s.rest_cpus,
            "clk_tck": tck,
        }),
    );
    if matches!(s.part.as_str(), "all" | "latency") {
        summary.insert("seed_latency".into(), seed_latency(s, tck).await?);
    }
    if matches!(s.part.as_str(), "all" | "throughput") {
        summary.insert("zero_latency_throughput".into(), throughput(s, tck).await?);
    }
    Ok(Value::Object(summary))
}

// --- (a) seed latencies ---------------------------------------------------

async fn seed_latency(s: &Settings, tck: u64) -> Result<Value> {
    println!();
    println!("== (a) product page at seed upstream latencies ==");
    let demo = Demo::start(None).await?;
    let gateway = GatewayProcess::start(s, &demo.env()).await?;
    let client = keep_alive_client(1)?;
    let body = request_body();
    check_answer(&client, &gateway.url, &demo).await?;
    let direct = format!(
        "{}/products/{PRODUCT_ID}/recommendations?limit=4",
        service_url(&demo, "recommendations")?
    );
    let direct_client = keep_alive_client(1)?;
    for _ in 0..s.seq_warmup {
        post(&client, &gateway.url, &body).await?;
        get(&direct_client, &direct).await?;
    }
    let noise = Noise::start(gateway.pid)?;
    // Interleaved, so both series see the same background noise.
    let mut gw = Vec::with_capacity(s.n);
    let mut up = Vec::with_capacity(s.n);
    let mut errors = 0;
    for _ in 0..s.n {
        let t = Instant::now();
        let text = post(&client, &gateway.url, &body).await?;
        gw.push(t.elapsed());
        if text.contains("\"errors\"") {
            errors += 1;
        }
        let t = Instant::now();
        get(&direct_client, &direct).await?;
        up.push(t.elapsed());
    }
    let noise = noise.finish(gateway.pid, tck)?;
    gateway.stop();
    let g = Percentiles::of(&mut gw);
    let d = Percentiles::of(&mut up);
    let overhead = g.p50 - d.p50;
    println!(
        "gateway  (N={}, sequential, 1 keep-alive conn): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  min {:.2}  max {:.2}",
        s.n, g.p50, g.p90, g.p99, g.min, g.max
    );
    println!(
        "direct   recommendations (140 ms):              p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  min {:.2}  max {:.2}",
        d.p50, d.p90, d.p99, d.min, d.max
    );
    println!(
        "overhead p50 = gateway p50 - direct p50 = {overhead:.3} ms   (target < 1 ms; < 0.5 ms stretch)   errors {errors}"
    );
    noise.print();
    Ok(json!({
        "n": s.n, "gateway_ms": g.json(), "direct_recommendations_ms": d.json(),
        "overhead_p50_ms": round3(overhead), "errors": errors, "noise": noise.json(),
    }))
}

// --- (b) zero latency throughput ----------------------------------------------

async fn throughput(s: &Settings, tck: u64) -> Result<Value> {
    println!();
    println!(
        "== (b) product page at zero upstream latency: {} conns, {} s after {} s warm-up ==",
        s.conns,
        s.duration.as_secs(),
        s.warmup.as_secs()
    );
    let demo = Demo::start(Some(Duration::ZERO)).await?;
    let gateway = GatewayProcess::start(s, &demo.env()).await?;
    let client = keep_alive_client(1)?;
    check_answer(&client, &gateway.url, &demo).await?;
    let use_wrk = match s.loadgen.as_str() {
        "wrk" => true,
        "inproc" => false,
        _ => wrk_available(),
    };
    let body = request_body();
    let script = if use_wrk {
        Some(WrkScript::write(&body)?)
    } else {
        None
    };
    let loadgen = LoadGen {
        script: script.as_ref(),
        url: &gateway.url,
        body: &body,
        conns: s.conns,
    };
    loadgen.run(s.warmup).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for service in &demo.services {
        service.state.reset();
    }
    let noise = Noise::start(gateway.pid)?;
    let gw0 = proc_cpu_ticks(gateway.pid)?;
    let me0 = self_cpu_ticks()?;
    let result = loadgen.run(s.duration).await?;
    let gw1 = proc_cpu_ticks(gateway.pid)?;
    let me1 = self_cpu_ticks()?;
    let noise = noise.finish(gateway.pid, tck)?;
    let hwm_kib = status_kib(gateway.pid, "VmHWM")?;
    let rss_kib = status_kib(gateway.pid, "VmRSS")?;
    let threads = status_kib(gateway.pid, "Threads")?;
    let calls: usize = demo.services.iter().map(|svc| svc.state.count()).sum();
    // Still right after the load?
    check_answer(&client, &gateway.url, &demo).await?;
    gateway.stop();

    let reqs = result.requests.max(1) as f64;
    let gw_cpu_s = (gw1 - gw0) as f64 / tck as f64;
    let rps = result.requests as f64 / result.elapsed.as_secs_f64();
    let cpu_us = gw_cpu_s / reqs * 1e6;
    // Completed + in flight at the end, as the peer harness counts.
    let calls_per_query = calls as f64 / (result.requests + s.conns) as f64;
    let rest_process_s = (me1.own - me0.own) as f64 / tck as f64;
    let rest_children_s = (me1.children - me0.children) as f64 / tck as f64;
    let elapsed = result.elapsed.as_secs_f64();
    println!(
        "load generator: {}   completed {} in {:.2} s   errors {}",
        result.tool, result.requests, elapsed, result.errors
    );
    println!("RPS {rps:.0}");
    println!(
        "latency p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms   (closed loop: at saturation this is queueing)",
        result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms
    );
    println!(
        "gateway CPU {gw_cpu_s:.2} s over {elapsed:.2} s ({:.0}% of one core) = {cpu_us:.1} us/request",
        gw_cpu_s / elapsed * 100.0
    );
    println!(
        "gateway peak RSS (VmHWM) {:.1} MiB   (RSS at end {:.1} MiB, {threads} threads)",
        hwm_kib as f64 / 1024.0,
        rss_kib as f64 / 1024.0
    );
    println!("upstream calls/query {calls_per_query:.3} (expected 5)");
    println!(
        "load side (cpu {}): upstreams+bench {rest_process_s:.2} s, wrk {rest_children_s:.2} s of {elapsed:.2} s",
        s.rest_cpus
    );
    noise.print();
    Ok(json!({
        "load_generator": result.tool, "conns": s.conns, "duration_s": round3(elapsed),
        "requests": result.requests, "errors": result.errors, "rps": round3(rps),
        "p50_ms": result.p50_ms, "p90_ms": result.p90_ms, "p99_ms": result.p99_ms, "max_ms": result.max_ms,
        "gw_cpu_s": round3(gw_cpu_s), "gw_cpu_us_per_req": round3(cpu_us),
        "gw_cpu_util": round3(gw_cpu_s / elapsed),
        "gw_peak_rss_mib": round3(hwm_kib as f64 / 1024.0), "gw_threads": threads,
        "upstream_calls_per_query": round3(calls_per_query),
        "load_side_cpu_s": {"bench_process": round3(rest_process_s), "wrk": round3(rest_children_s)},
        "noise": noise.json(),
    }))
}

struct LoadResult {
    tool: &'static str,
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

struct LoadGen<'a> {
    script: Option<&'a WrkScript>,
    url: &'a str,
    body: &'a str,
    conns: usize,
}

impl LoadGen<'_> {
    async fn run(&self, duration: Duration) -> Result<LoadResult> {
        match self.script {
            // wrk runs on a blocking thread: the upstreams in this process
            // must keep being served while it waits.
            Some(script) => {
                tokio::task::block_in_place(|| script.run(self.url, self.conns, duration))
            }
            None => inproc_load(self.url, self.body, self.conns, duration).await,
        }
    }
}

fn wrk_available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A wrk Lua script that POSTs the body and prints a JSON summary line.
struct WrkScript {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl WrkScript {
    fn write(body: &str) -> Result<WrkScript> {
        let dir = std::env::temp_dir().join(format!("tributary-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("post.lua");
        let script = format!(
            r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JSON {{\"requests\":%d,\"duration_us\":%d,\"errors\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d}}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#
        );
        std::fs::write(&path, script)?;
        Ok(WrkScript { dir, path })
    }

    fn run(&self, url: &str, conns: usize, duration: Duration) -> Result<LoadResult> {
        let out = Command::new("wrk")
            .arg("-t1")
            .arg(format!("-c{conns}"))
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .args(["--timeout", "10s", "-s"])
            .arg(&self.path)
            .arg(url)
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("JSON "))
            .ok_or_else(|| format!("wrk printed no summary: {stdout}"))?;
        let v: Value = serde_json::from_str(line)?;
        let field = |k: &str| v[k].as_f64().unwrap_or(0.0);
        Ok(LoadResult {
            tool: "wrk -t1",
            requests: field("requests") as usize,
            errors: field("errors") as usize,
            elapsed: Duration::from_micros(field("duration_us") as u64),
            p50_ms: field("p50_us") / 1000.0,
            p90_ms: field("p90_us") / 1000.0,
            p99_ms: field("p99_us") / 1000.0,
            max_ms: field("max_us") / 1000.0,
        })
    }
}

impl Drop for WrkScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Closed loop: `conns` tasks, each one request at a time on its own
/// keep-alive connection, until `duration` is over.
async fn inproc_load(
    url: &str,
    body: &str,
    conns: usize,
    duration: Duration,
) -> Result<LoadResult> {
    let client = keep_alive_client(conns)?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let client = client.clone();
        let url = url.to_owned();
        let body = body.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                match post(&client, &url, &body).await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed();
    let requests = all.len();
    let p = Percentiles::of(&mut all);
    Ok(LoadResult {
        tool: "in-process (reqwest)",
        requests,
        errors,
        elapsed,
        p50_ms: p.p50,
        p90_ms: p.p90,
        p99_ms: p.p99,
        max_ms: p.max,
    })
}

// --- the gateway process ------------------------------------------------------

struct GatewayProcess {
    child: Child,
    pid: u32,
    /// `http://ADDR/graphql`
    url: String,
}

impl GatewayProcess {
    async fn start(s: &Settings, env: &HashMap<String, String>) -> Result<GatewayProcess> {
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/demo.graphql");
        let mut command = if s.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", &s.gw_cpus]).arg(&s.bin);
            c
        } else {
            Command::new(&s.bin)
        };
        command
            .args(["serve", schema, "--listen", "127.0.0.1:0"])
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // taskset execs the gateway, so the child's PID is the gateway's.
        let mut child = command.spawn()?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(addr) = line.strip_prefix("tributary listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                    sent = true;
                }
            }
        });
        let mut process = GatewayProcess {
            child,
            pid,
            url: String::new(),
        };
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                return Err(format!(
                    "the gateway did not print its listening address within 30 s ({})",
                    process.status()
                )
                .into());
            }
        };
        process.url = format!("{base}/graphql");
        process.ready(&format!("{base}/readyz")).await?;
        Ok(process)
    }

    /// Waits until `GET /readyz` answers 200 (at most 10 s).
    async fn ready(&mut self, url: &str) -> Result<()> {
        let client = keep_alive_client(1)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = client.get(url).timeout(Duration::from_secs(1)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline || !matches!(self.child.try_wait(), Ok(None)) {
                return Err(
                    format!("the gateway is not ready at {url} ({})", self.status()).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn status(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => format!("it exited: {status}"),
            Ok(None) => "it is still running".to_owned(),
            Err(e) => format!("status unknown: {e}"),
        }
    }

    /// SIGTERM, then SIGKILL after 5 s: only the process this bench started.
    fn stop(self) {
        tokio::task::block_in_place(|| self.stop_now());
    }

    fn stop_now(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// --- HTTP helpers --------------------------------------------------------------

fn request_body() -> String {
    json!({"operationName": "ProductPage", "query": QUERY, "variables": {"id": PRODUCT_ID}})
        .to_string()
}

fn keep_alive_client(conns: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(10))
        .build()?)
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> Result<String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("gateway answered {status}: {text}").into());
    }
    Ok(text)
}

async fn get(client: &reqwest::Client, url: &str) -> Result<String> {
    let response = client.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("{url} answered {status}").into());
    }
    Ok(text)
}

fn service_url(demo: &Demo, name: &str) -> Result<String> {
    Ok(demo
        .service(name)
        .ok_or_else(|| format!("no demo service `{name}`"))?
        .url())
}

/// The gateway's `data` must equal the upstreams' own answers, field for field.
async fn check_answer(client: &reqwest::Client, url: &str, demo: &Demo) -> Result<()> {
    let text = post(client, url, &request_body()).await?;
    let answer: Value = serde_json::from_str(&text)?;
    if answer.get("errors").is_some() {
        return Err(format!("the gateway answered with errors: {text}").into());
    }
    let id = PRODUCT_ID;
    let mut expected = serde_json::Map::new();
    expected.insert("id".into(), json!(id));
    for (key, service, path) in [
        ("details", "catalogue", format!("/products/{id}")),
        ("price", "pricing", format!("/prices/{id}")),
        ("stock", "inventory", format!("/stock/{id}")),
        (
            "recommendations",
            "recommendations",
            format!("/products/{id}/recommendations?limit=4"),
        ),
        ("shipping", "shipping", format!("/estimates/{id}")),
    ] {
        let direct = get(client, &format!("{}{path}", service_url(demo, service)?)).await?;
        expected.insert(key.into(), serde_json::from_str(&direct)?);
    }
    let expected = json!({ "product": expected });
    if answer.get("data") != Some(&expected) {
        return Err(format!(
            "wrong answer:\n  got      {}\n  expected {expected}",
            answer["data"]
        )
        .into());
    }
    Ok(())
}

// --- /proc ------------------------------------------------------------------------

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Fields of `/proc/PID/stat` after the command name (field 3 is index 0).
fn stat_fields(pid: &str) -> Result<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unexpected /proc/PID/stat")?;
    Ok(after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect())
}

/// utime + stime of a process (all its threads), in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Result<u64> {
    let f = stat_fields(&pid.to_string())?;
    // utime is field 14, stime 15 (1-based); index 0 here is field 3.
    Ok(f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0))
}

struct SelfTicks {
    own: u64,
    /// cutime + cstime: children waited for (wrk).
    children: u64,
}

fn self_cpu_ticks() -> Result<SelfTicks> {
    let f = stat_fields("self")?;
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    Ok(SelfTicks {
        own: at(11) + at(12),
        children: at(13) + at(14),
    })
}

/// A `kB` (or plain number) line of `/proc/PID/status`.
fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status").into())
}

/// Machine-wide CPU time over a window, split into ours (gateway, this
/// process, its waited-for children) and everyone else's: other processes'
/// builds show up as `other_cpu_s`. irq/softirq time (loopback TCP) is
/// charged to no process and reported on its own.
struct Noise {
    machine: (u64, u64),
    ours: u64,
    started: Instant,
}

struct NoiseReport {
    seconds: f64,
    busy_s: f64,
    softirq_s: f64,
    other_s: f64,
}

impl Noise {
    fn start(gw_pid: u32) -> Result<Noise> {
        Ok(Noise {
            machine: machine_ticks()?,
            ours: ours_ticks(gw_pid)?,
            started: Instant::now(),
        })
    }

    fn finish(self, gw_pid: u32, tck: u64) -> Result<NoiseReport> {
        let (busy1, irq1) = machine_ticks()?;
        let ours = ours_ticks(gw_pid)? - self.ours;
        let busy = busy1.saturating_sub(self.machine.0);
        let irq = irq1.saturating_sub(self.machine.1);
        let tck = tck as f64;
        Ok(NoiseReport {
            seconds: self.started.elapsed().as_secs_f64(),
            busy_s: busy as f64 / tck,
            softirq_s: irq as f64 / tck,
            other_s: busy.saturating_sub(irq).saturating_sub(ours) as f64 / tck,
        })
    }
}

impl NoiseReport {
    fn print(&self) {
        println!(
            "noise: other processes used {:.2} CPU-s in this {:.1} s window (machine busy {:.2} CPU-s, irq/softirq {:.2}); {}",
            self.other_s,
            self.seconds,
            self.busy_s,
            self.softirq_s,
            if self.other_s > 0.05 * self.seconds {
                "NOISY: re-run on a quiet machine before quoting"
            } else {
                "quiet"
            }
        );
    }

    fn json(&self) -> Value {
        json!({"window_s": round3(self.seconds), "machine_busy_cpu_s": round3(self.busy_s),
               "softirq_cpu_s": round3(self.softirq_s), "other_cpu_s": round3(self.other_s)})
    }
}

/// (busy, irq + softirq) ticks of the whole machine, from `/proc/stat`.
fn machine_ticks() -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text.lines().next().ok_or("empty /proc/stat")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is in user)
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Ok((busy, at(5) + at(6)))
}

/// CPU ticks of the gateway, this process and its waited-for children.
fn ours_ticks(gw_pid: u32) -> Result<u64> {
    let me = self_cpu_ticks()?;
    Ok(proc_cpu_ticks(gw_pid)? + me.own + me.children)
}

// --- statistics ---------------------------------------------------------------------

struct Percentiles {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles, in milliseconds.
    fn of(samples: &mut [Duration]) -> Percentiles {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rank = |p: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            ms(samples[i.clamp(1, samples.len()) - 1])
        };
        Percentiles {
            min: samples.first().map_or(0.0, |d| ms(*d)),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: samples.last().map_or(0.0, |d| ms(*d)),
        }
    }

    fn json(&self) -> Value {
        json!({"min": round3(self.min), "p50": round3(self.p50), "p90": round3(self.p90),
               "p99": round3(self.p99), "max": round3(self.max)})
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
