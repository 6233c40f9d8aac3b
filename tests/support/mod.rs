//! Test support: real servers on 127.0.0.1:0 and real HTTP.
//!
//! A test builds mock upstreams (axum routers behind a latency and a request
//! recorder), points an SDL snippet at them through `${NAME_URL}` variables,
//! starts the gateway, and speaks HTTP to it.

#![allow(dead_code, unreachable_pub)]

pub mod redis;
pub mod ws;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tributary::Gateway;
use tributary::config;
use tributary::demo::MockService;
use tributary::http::graphiql::Assets;
use tributary::server::{self, AppState, Running};

/// Starts a mock upstream named `name` with `latency` on a free port.
pub async fn mock(name: &str, latency_ms: u64, routes: Router) -> MockService {
    MockService::start(name, 0, Duration::from_millis(latency_ms), routes)
        .await
        .expect("mock upstream starts")
}

/// A gateway under test.
pub struct TestGateway {
    pub running: Running,
    /// The gateway being served (its caches and stores, for assertions).
    pub gateway: Arc<Gateway>,
    pub client: reqwest::Client,
}

/// Loads `sdl` with `${NAME_URL}` set to each mock's URL (upper-cased name),
/// plus `extra_env`, and serves it on 127.0.0.1:0.
pub async fn gateway(sdl: &str, mocks: &[&MockService], extra_env: &[(&str, &str)]) -> TestGateway {
    let mut env: HashMap<String, String> = mocks
        .iter()
        .map(|m| (format!("{}_URL", m.name.to_ascii_uppercase()), m.url()))
        .collect();
    for (k, v) in extra_env {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = config::load("test.graphql", sdl, &|name| env.get(name).cloned())
        .unwrap_or_else(|d| panic!("test schema is invalid:\n{d}"));
    serve(&config).await
}

/// Serves an already loaded configuration.
pub async fn serve(config: &config::Config) -> TestGateway {
    let gateway = Arc::new(Gateway::new(config).expect("gateway builds"));
    let state = AppState {
        gateway: gateway.clone(),
        assets: Arc::new(Assets::Cdn),
    };
    let running = server::spawn("127.0.0.1:0", state)
        .await
        .expect("gateway binds");
    tributary::init_tls();
    TestGateway {
        running,
        gateway,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds"),
    }
}

impl TestGateway {
    pub fn url(&self) -> String {
        format!("{}/graphql", self.running.url())
    }

    /// The text of `GET {path}` (e.g. `/metrics`, `/status`).
    #[allow(dead_code)]
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.running.url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The value of the first sample of `/metrics` whose line starts with
    /// `name` and has every one of `labels` (`key="value"`).
    #[allow(dead_code)]
    pub async fn sample(&self, name: &str, labels: &[&str]) -> Option<f64> {
        self.text("/metrics")
            .await
            .lines()
            .find(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// POSTs `{query, variables}` and returns status and JSON body.
    pub async fn query(&self, query: &str) -> (u16, Value) {
        self.post(serde_json::json!({ "query": query }), &[]).await
    }

    pub async fn query_vars(&self, query: &str, variables: Value) -> (u16, Value) {
        self.post(
            serde_json::json!({ "query": query, "variables": variables }),
            &[],
        )
        .await
    }

    /// POSTs a JSON body with extra headers.
    pub async fn post(&self, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body reads");
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, json)
    }
}

/// Milliseconds between the earliest and the latest of `instants`.
pub fn spread_ms(instants: &[std::time::Instant]) -> u128 {
    let (Some(min), Some(max)) = (instants.iter().min(), instants.iter().max()) else {
        return 0;
    };
    max.duration_since(*min).as_millis()
}

// ---------------------------------------------------------------------------
// Added for http_protocol.rs, cli.rs, audit.rs and graphiql.rs.

/// The crate root: where `schema/`, `scripts/` and `tests/js/` live.
pub fn crate_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) when the JavaScript test dependencies are missing.
pub fn require_js_deps() {
    let modules = crate_root().join("tests/js/node_modules");
    assert!(
        modules.join(".package-lock.json").is_file(),
        "{} is missing or incomplete: run scripts/test-deps.sh (as root) once to install \
         chromium and the pinned npm packages",
        modules.display()
    );
}

/// A directory under the system temp dir, removed when dropped unless the
/// test is failing (then kept for inspection: screenshots, logs).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A new, empty directory under the system temp dir, unique per call.
pub fn fresh_dir(prefix: &str) -> TempDir {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "tributary-{prefix}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir can be created");
    TempDir(dir)
}

/// Loads `sdl` the way [`gateway`] does, without serving it.
pub fn load_config(
    sdl: &str,
    mocks: &[&MockService],
    extra_env: &[(&str, &str)],
) -> config::Config {
    let mut env: HashMap<String, String> = mocks
        .iter()
        .map(|m| (format!("{}_URL", m.name.to_ascii_uppercase()), m.url()))
        .collect();
    for (k, v) in extra_env {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    config::load("test.graphql", sdl, &|name| env.get(name).cloned())
        .unwrap_or_else(|d| panic!("test schema is invalid:\n{d}"))
}

/// Serves `config` with GraphiQL's scripts from `assets`.
pub async fn serve_with_assets(config: &config::Config, assets: Assets) -> TestGateway {
    let gateway = Arc::new(Gateway::new(config).expect("gateway builds"));
    let state = AppState {
        gateway: gateway.clone(),
        assets: Arc::new(assets),
    };
    let running = server::spawn("127.0.0.1:0", state)
        .await
        .expect("gateway binds");
    tributary::init_tls();
    TestGateway {
        running,
        gateway,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds"),
    }
}

/// Runs `command` to completion off the async runtime, capturing its output;
/// kills it and fails the test after `limit`.
pub async fn run_command(
    mut command: std::process::Command,
    limit: Duration,
) -> std::process::Output {
    let shown = format!("{command:?}");
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    match tokio::time::timeout(limit, waiting).await {
        Ok(output) => output
            .expect("the waiting thread does not panic")
            .unwrap_or_else(|e| panic!("cannot wait for {shown}: {e}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{shown} did not finish within {limit:?}");
        }
    }
}

/// Sends `GET target` exactly as written (no URL normalisation, so `..`
/// reaches the server) and returns the response status.
pub async fn raw_get_status(addr: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("gateway accepts connections");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request is sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("response is read");
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"))
}

// ---------------------------------------------------------------------------
// Added for fanout.rs, semantics.rs and safety.rs.

/// A router answering `GET path` with `body`, whatever the request.
pub fn json_route(path: &str, body: Value) -> Router {
    Router::new().route(
        path,
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    )
}

/// `http://127.0.0.1:PORT` where nothing listens: the port was free a
/// moment ago and its listener is closed, so connecting is refused.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The arrival times of every request `mock` received.
pub fn arrivals(mock: &MockService) -> Vec<std::time::Instant> {
    mock.state.hits().iter().map(|h| h.at).collect()
}

/// The decoded query pairs of a received request target (`/p?a=1&a=2`).
pub fn query_pairs(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

impl TestGateway {
    /// POSTs `{query, variables}` with extra headers and returns the status
    /// and the body exactly as sent (to check key order and leaks).
    pub async fn post_text(
        &self,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let mut request = self
            .client
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body reads"))
    }
}

// ---------------------------------------------------------------------------
// Added for cache.rs and redis_tier.rs.

/// Like [`gateway`], and also hands back the [`Gateway`] itself, so a test
/// can read an upstream's cache (`weighted_size`, `stats`).
pub async fn gateway_with_handle(
    sdl: &str,
    mocks: &[&MockService],
    extra_env: &[(&str, &str)],
) -> (TestGateway, Arc<Gateway>) {
    let config = load_config(sdl, mocks, extra_env);
    let gateway = Arc::new(Gateway::new(&config).expect("gateway builds"));
    let state = AppState {
        gateway: gateway.clone(),
        assets: Arc::new(Assets::Cdn),
    };
    let running = server::spawn("127.0.0.1:0", state)
        .await
        .expect("gateway binds");
    tributary::init_tls();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds");
    (
        TestGateway {
            running,
            client,
            gateway: gateway.clone(),
        },
        gateway,
    )
}

/// How long a spawned `tributary` may take to print its first line.
pub const PROCESS_START_LIMIT: Duration = Duration::from_secs(30);
/// How long it may take to exit after SIGTERM.
pub const PROCESS_STOP_LIMIT: Duration = Duration::from_secs(15);
/// The line `serve`/`demo` print once bound.
pub const LISTENING: &str = "tributary listening on http://";

/// A spawned `tributary` process: stdout read line by line, stderr kept in a
/// log file (shown when something goes wrong); killed if the test ends early.
pub struct Process {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl Process {
    /// Spawns `command` (its stdout and stderr are taken over).
    pub fn spawn(mut command: std::process::Command, name: &str) -> Process {
        use std::io::BufRead;
        let dir = fresh_dir(name);
        let log = dir.join("stderr.log");
        let log_file = std::fs::File::create(&log).expect("log file is created");
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("tributary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = send.send(line);
            }
        });
        Process {
            child,
            lines,
            log,
            _dir: dir,
        }
    }

    /// The next line of stdout.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(PROCESS_START_LIMIT) {
            Ok(line) => line,
            Err(_) => panic!(
                "no output within {PROCESS_START_LIMIT:?}; exit status {:?}; stderr:\n{}",
                self.child.try_wait(),
                self.log()
            ),
        }
    }

    /// Waits for the listening line; returns `http://ADDR`.
    pub fn listening_url(&mut self) -> String {
        let line = self.line();
        let addr = line
            .strip_prefix(LISTENING)
            .unwrap_or_else(|| panic!("unexpected first line: {line}\nstderr:\n{}", self.log()));
        format!("http://{addr}")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id (for `/proc/PID/...`).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn signal_term(&self) {
        let pid = self.child.id().to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(kill.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("waitable")
    }

    /// Sends SIGTERM and waits for the exit (blocking this thread).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal_term();
        let started = std::time::Instant::now();
        while started.elapsed() < PROCESS_STOP_LIMIT {
            if let Some(status) = self.exited() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "tributary did not stop within {PROCESS_STOP_LIMIT:?} of SIGTERM; stderr:\n{}",
            self.log()
        );
    }

    /// Sends SIGTERM and waits for the exit without blocking the runtime
    /// (tasks of the test, e.g. a receiver, keep running meanwhile).
    pub async fn terminate_async(mut self) -> std::process::ExitStatus {
        self.signal_term();
        let started = std::time::Instant::now();
        while started.elapsed() < PROCESS_STOP_LIMIT {
            if let Some(status) = self.exited() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "tributary did not stop within {PROCESS_STOP_LIMIT:?} of SIGTERM; stderr:\n{}",
            self.log()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
