//! Predicted latency: `tributary plan` prints an operation's calls as a
//! dependency graph with their timeouts (and a running gateway's observed
//! p50/p95 with `--observed`) and the predicted critical path; the status
//! page predicts each recent operation from its recorded calls. Real
//! upstreams on 127.0.0.1:0 with fixed latencies.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{TestGateway, json_route};

const BIN: &str = env!("CARGO_BIN_EXE_tributary");

fn sdl() -> String {
    r#"
schema
  @server(requestTimeout: "300ms")
  @upstream(name: "posts", url: "${POSTS_URL}", timeout: "200ms")
  @upstream(name: "users", url: "${USERS_URL}", timeout: "150ms")
  @upstream(name: "ads", url: "${ADS_URL}", timeout: "100ms")
{ query: Query }
type Query {
  post: Post @rest(upstream: "posts", path: "/post")
  ad: Ad @rest(upstream: "ads", path: "/ad")
}
type Post {
  id: ID!
  authorId: ID!
  author: User @rest(upstream: "users", path: "/users/{$parent.authorId}")
}
type User { id: ID! name: String! }
type Ad { id: ID! }
"#
    .to_owned()
}

const QUERY: &str = "{ post { id author { name } } ad { id } }";

async fn served() -> (TestGateway, Vec<tributary::demo::MockService>) {
    let posts = support::mock(
        "posts",
        40,
        json_route("/post", json!({ "id": "p", "authorId": "u" })),
    )
    .await;
    let users = support::mock(
        "users",
        30,
        json_route("/users/u", json!({ "id": "u", "name": "Ada" })),
    )
    .await;
    let ads = support::mock("ads", 5, json_route("/ad", json!({ "id": "a" }))).await;
    let gw = support::gateway(&sdl(), &[&posts, &users, &ads], &[]).await;
    (gw, vec![posts, users, ads])
}

fn plan(dir: &support::TempDir, extra: &[&str]) -> String {
    let schema = dir.path().join("schema.graphql");
    let operation = dir.path().join("op.graphql");
    std::fs::write(&schema, sdl()).expect("schema written");
    std::fs::write(&operation, QUERY).expect("operation written");
    let output = Command::new(BIN)
        .arg("plan")
        .arg(&schema)
        .arg(&operation)
        .args(extra)
        .env("POSTS_URL", "http://127.0.0.1:9")
        .env("USERS_URL", "http://127.0.0.1:9")
        .env("ADS_URL", "http://127.0.0.1:9")
        .output()
        .expect("tributary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn plan_prints_the_call_graph_with_timeouts_and_the_deadline_warning() {
    let dir = support::fresh_dir("forecast");
    let out = plan(&dir, &[]);
    assert!(
        out.contains("  posts post  [timeout 200ms, no observations]"),
        "{out}"
    );
    assert!(
        out.contains("    users post.author  [timeout 150ms, no observations]"),
        "the author call is under the post call it waits for:\n{out}"
    );
    assert!(out.contains("  ads ad  [timeout 100ms"), "{out}");
    assert!(
        out.contains("critical path by timeouts: 350.0 ms: posts post -> users post.author"),
        "{out}"
    );
    assert!(
        out.contains("warning: the longest chain can take 350 ms by its timeouts, more than requestTimeout (300 ms)"),
        "{out}"
    );
}

#[tokio::test]
async fn observed_latencies_predict_the_critical_path() {
    let (gw, _upstreams) = served().await;
    for _ in 0..5 {
        let (status, body) = gw.query(QUERY).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["post"]["author"]["name"], "Ada", "{body}");
    }
    // What the CLI reads: the summaries as JSON.
    let text = gw
        .client
        .get(format!("{}/status", gw.running.url()))
        .header("accept", "application/json")
        .send()
        .await
        .expect("status")
        .text()
        .await
        .expect("text");
    let summaries: Value = serde_json::from_str(&text).expect("JSON summaries");
    let posts = summaries["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "posts"))
        .cloned()
        .unwrap_or_else(|| panic!("{summaries}"));
    assert!(
        posts["p50Ms"].as_f64().is_some_and(|p| p >= 40.0),
        "{posts}"
    );

    let url = gw.running.url();
    let dir = support::fresh_dir("forecast-observed");
    let out = tokio::task::spawn_blocking(move || plan(&dir, &["--observed", &url]))
        .await
        .expect("plan ran");
    let line = out
        .lines()
        .find(|l| l.starts_with("critical path p50: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with("posts post -> users post.author"),
        "the dependent chain, not the fast ad: {line}"
    );
    let ms: f64 = line["critical path p50: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((70.0..400.0).contains(&ms), "about 40 + 30 ms: {line}");

    // The status page predicts the recent executions the same way.
    let page = gw.text("/status").await;
    assert!(
        page.contains("Predicted latency of recent operations"),
        "{page}"
    );
    let row = page
        .lines()
        .find(|l| l.starts_with(r#"<tr class="prediction">"#))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(row.contains("posts post -&gt; users post.author"), "{row}");
    assert!(row.contains("<td>3</td>"), "three calls: {row}");
    assert!(row.contains("<td>350</td>"), "by timeouts: {row}");
}

#[test]
fn plan_costs_a_supergraphs_fetches_after_the_fetches_they_wait_for() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = support::fresh_dir("forecast-supergraph");
    let operation = dir.path().join("op.graphql");
    std::fs::write(
        &operation,
        "{ topProducts(first: 3) { name reviews { body } } }",
    )
    .expect("operation written");
    let output = Command::new(BIN)
        .arg("plan")
        .arg(root.join("schema/federation/supergraph.graphql"))
        .arg(&operation)
        .arg("--overlay")
        .arg(root.join("schema/federation/overlay.graphql"))
        .output()
        .expect("tributary runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("[0] products: root fetch"),
        "the query plan first:\n{out}"
    );
    assert!(
        out.contains("  products (topProducts)  [timeout 10s"),
        "{out}"
    );
    assert!(
        out.contains("    reviews topProducts (_entities)  [timeout 800ms"),
        "the reviews fetch waits for the products one:\n{out}"
    );
    assert!(
        out.contains("critical path by timeouts: 10800.0 ms: products (topProducts) -> reviews topProducts (_entities)"),
        "{out}"
    );
}
