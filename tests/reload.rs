//! Schema reload, with the real binary: `serve --watch` over a ConfigMap-style
//! mount (a `..data` symlink swapped to a new folder), and SIGHUP. Traffic
//! keeps flowing through every reload with no failed request; a schema that
//! does not load is refused with its diagnostics while the old one serves;
//! the client of an unchanged upstream (its cache here) survives a reload.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use support::Process;
use tributary::demo::MockService;

const BIN: &str = env!("CARGO_BIN_EXE_tributary");

/// How long a reload may take to show (the watch reads every 100 ms).
const RELOAD_LIMIT: Duration = Duration::from_secs(15);

fn items() -> Router {
    Router::new().route(
        "/items/{id}",
        get(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                axum::Json(json!({ "id": id, "name": format!("item {id}") }))
            },
        ),
    )
}

/// The schema; `extra` adds fields to `Item`, `timeout` is the upstream's.
fn schema(extra: &str, timeout: &str) -> String {
    format!(
        r#"
schema @upstream(name: "items", url: "${{ITEMS_URL}}", timeout: "{timeout}", cache: {{ ttl: "60s" }})
{{ query: Query }}
type Query {{ item(id: ID!): Item @rest(upstream: "items", path: "/items/{{$args.id}}") }}
type Item {{ id: ID! {extra} }}
"#
    )
}

/// A ConfigMap-style mount: `schema.graphql -> ..data/schema.graphql`, with
/// `..data` a symlink to the current version's folder.
struct Mount {
    dir: support::TempDir,
    version: u32,
}

impl Mount {
    fn new(text: &str) -> Mount {
        let dir = support::fresh_dir("reload-mount");
        let mut mount = Mount { dir, version: 0 };
        mount.publish(text);
        std::os::unix::fs::symlink("..data/schema.graphql", mount.path())
            .expect("the schema symlink is made");
        mount
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("schema.graphql")
    }

    /// Writes `text` as a new version and swaps `..data` to it atomically.
    fn publish(&mut self, text: &str) {
        self.version += 1;
        let folder = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&folder)).expect("a version folder");
        std::fs::write(self.dir.join(&folder).join("schema.graphql"), text)
            .expect("the schema is written");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&folder, &tmp).expect("a new ..data link");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("..data is swapped");
    }
}

fn start(schema: &Path, items: &MockService, watch: bool) -> (Process, String) {
    tributary::init_tls();
    let mut command = std::process::Command::new(BIN);
    command
        .arg("serve")
        .arg(schema)
        .args(["--listen", "127.0.0.1:0"])
        .env("ITEMS_URL", items.url());
    if watch {
        command.args(["--watch", "--watch-interval-ms", "100"]);
    }
    let mut process = Process::spawn(command, "reload");
    let url = process.listening_url();
    (process, url)
}

async fn post(client: &reqwest::Client, url: &str, query: &str) -> (u16, Value) {
    let response = client
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn ready(client: &reqwest::Client, url: &str) -> String {
    client
        .get(format!("{url}/readyz"))
        .send()
        .await
        .expect("readyz answers")
        .text()
        .await
        .expect("a body")
}

/// Waits until `query` answers without errors.
async fn until_served(client: &reqwest::Client, url: &str, query: &str, process: &Process) {
    let started = Instant::now();
    loop {
        let (status, body) = post(client, url, query).await;
        if status == 200 && body.get("errors").is_none() {
            return;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "`{query}` not served after {RELOAD_LIMIT:?}: {body}\nstderr:\n{}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `item(id: "1") { id }` from 4 workers until stopped; the number of
/// requests and of failed ones (not 200, or with errors).
fn traffic(url: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(u64, u64, Vec<String>)> {
    let url = url.to_owned();
    tokio::spawn(async move {
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (url, stop, sent, failed, samples) = (
                    url.clone(),
                    stop.clone(),
                    sent.clone(),
                    failed.clone(),
                    samples.clone(),
                );
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .expect("a client");
                    while !stop.load(Ordering::Relaxed) {
                        let (status, body) =
                            post(&client, &url, r#"{ item(id: "1") { id } }"#).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        if status != 200 || body.get("errors").is_some() {
                            failed.fetch_add(1, Ordering::Relaxed);
                            samples.lock().expect("samples").push(body.to_string());
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a worker ends");
        }
        let samples = samples.lock().expect("samples").clone();
        (
            sent.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
            samples,
        )
    })
}

#[tokio::test]
async fn a_watched_mount_reloads_under_load_without_a_failed_request() {
    let items = support::mock("items", 5, items()).await;
    let mut mount = Mount::new(&schema("", "2s"));
    let (process, url) = start(&mount.path(), &items, true);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let first_hash = ready(&client, &url).await;
    assert!(first_hash.contains("last reload: none"), "{first_hash}");

    // Cached once; the cache belongs to the upstream's client.
    until_served(&client, &url, r#"{ item(id: "1") { id } }"#, &process).await;
    assert_eq!(items.state.hits().len(), 1);

    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&url, stop.clone());

    // A new field, the upstream unchanged: served after the swap, and the
    // upstream's client (its cache) kept.
    mount.publish(&schema("name: String", "2s"));
    until_served(&client, &url, r#"{ item(id: "1") { id name } }"#, &process).await;
    let readyz = ready(&client, &url).await;
    assert!(readyz.contains("last reload: ok"), "{readyz}");
    assert_ne!(
        readyz.lines().nth(1),
        first_hash.lines().nth(1),
        "a new hash"
    );

    // A schema that does not load: refused, with its diagnostics; the last
    // good one keeps serving.
    mount.publish("type Query { broken: Nope }\n");
    let started = Instant::now();
    loop {
        let readyz = ready(&client, &url).await;
        if readyz.contains("last reload: failed") {
            assert!(readyz.contains("schema.graphql:1:"), "{readyz}");
            break;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{readyz}\n{}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = post(&client, &url, r#"{ item(id: "1") { id name } }"#).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("errors").is_none(),
        "still the last good schema: {body}"
    );
    assert!(
        process.log().contains("refused; still serving"),
        "{}",
        process.log()
    );

    stop.store(true, Ordering::Relaxed);
    let (sent, failed, samples) = load.await.expect("the traffic ends");
    assert!(sent > 20, "traffic ran through the reloads: {sent}");
    assert_eq!(failed, 0, "of {sent}: {samples:?}");
    assert_eq!(
        items.state.hits().len(),
        1,
        "every request since the first answered from the kept client's cache"
    );

    // The upstream changed: a client of its own (a cache of its own: the
    // next request reaches the upstream).
    mount.publish(&schema(
        "name: String label: String @from(path: \"name\")",
        "3s",
    ));
    until_served(&client, &url, r#"{ item(id: "1") { label } }"#, &process).await;
    assert_eq!(items.state.hits().len(), 2);
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("a body");
    assert!(
        metrics.contains("tributary_schema_reloads_total{outcome=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tributary_schema_reloads_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    process.terminate();
}

#[tokio::test]
async fn sighup_reloads_without_watch() {
    let items = support::mock("items", 0, items()).await;
    let dir = support::fresh_dir("reload-hup");
    let file = dir.join("schema.graphql");
    std::fs::write(&file, schema("", "2s")).expect("written");
    let (process, url) = start(&file, &items, false);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    std::fs::write(&file, schema("name: String", "2s")).expect("written");
    // Without --watch, nothing changes until the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, body) = post(&client, &url, r#"{ item(id: "1") { name } }"#).await;
    assert!(body.get("errors").is_some(), "not reloaded yet: {body}");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &process.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    until_served(&client, &url, r#"{ item(id: "1") { name } }"#, &process).await;
    assert!(
        process.log().contains("schema reloaded (SIGHUP)"),
        "{}",
        process.log()
    );
    process.terminate();
}

#[tokio::test]
async fn a_supergraph_and_its_overlay_reload_when_the_overlay_changes() {
    tributary::init_tls();
    let root = support::crate_root();
    let dir = support::fresh_dir("reload-supergraph");
    let supergraph = dir.join("supergraph.graphql");
    std::fs::copy(
        root.join("schema/federation/supergraph.graphql"),
        &supergraph,
    )
    .expect("the supergraph is copied");
    let overlay = dir.join("overlay.graphql");
    std::fs::write(
        &overlay,
        "extend schema @upstream(name: \"reviews\", timeout: \"800ms\")\n",
    )
    .expect("written");
    let mut command = std::process::Command::new(BIN);
    command
        .arg("serve")
        .arg(&supergraph)
        .arg("--overlay")
        .arg(&overlay)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--watch",
            "--watch-interval-ms",
            "100",
        ]);
    let mut process = Process::spawn(command, "reload-supergraph");
    let url = process.listening_url();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let before = ready(&client, &url).await;

    // A bad overlay is refused, pointing into the overlay file.
    std::fs::write(&overlay, "extend type Nope { x: Int }\n").expect("written");
    let started = Instant::now();
    let refused = loop {
        let readyz = ready(&client, &url).await;
        if readyz.contains("last reload: failed") {
            break readyz;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{readyz}\n{}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(refused.contains("overlay.graphql:1:"), "{refused}");

    // A good one is served: the timeline it turns on is in the schema now.
    std::fs::write(
        &overlay,
        "extend schema @upstream(name: \"reviews\", timeout: \"800ms\") @server(timeline: true)\n",
    )
    .expect("written");
    let started = Instant::now();
    loop {
        let readyz = ready(&client, &url).await;
        if readyz.contains("last reload: ok") {
            assert_ne!(readyz.lines().nth(1), before.lines().nth(1), "{readyz}");
            break;
        }
        assert!(
            started.elapsed() < RELOAD_LIMIT,
            "{readyz}\n{}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = client
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .header("tributary-timeline", "1")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .expect("an answer");
    let body: Value = serde_json::from_str(&response.text().await.expect("a body")).expect("JSON");
    assert!(
        body["extensions"]["timeline"].is_object(),
        "the reloaded overlay's @server(timeline: true): {body}"
    );
    process.terminate();
}
