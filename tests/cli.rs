//! The `tributary` binary as an operator runs it: `check` with `file:line:col`
//! diagnostics, `serve` with its listening line and graceful SIGTERM, `demo`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tributary");
/// Generous: the machine is shared with other builds.
const START_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A valid schema; the bad ones below are small edits of it.
const GOOD: &str = r#"schema
  @upstream(name: "users", url: "http://127.0.0.1:9", timeout: "2s")
{
  query: Query
}

type Query {
  user(id: ID!): User @rest(upstream: "users", path: "/users/{$args.id}")
}

type User {
  id: ID!
  name: String
}
"#;

fn write_schema(dir: &support::TempDir, name: &str, sdl: &str) -> PathBuf {
    let path = dir.join(format!("{name}.graphql"));
    std::fs::write(&path, sdl).expect("schema file is written");
    path
}

fn tributary(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TRIBUTARY_LISTEN")
        .env_remove("TRIBUTARY_GRAPHIQL_ASSETS")
        .env("RUST_LOG", "warn");
    command
}

fn check(paths: &[&Path]) -> Output {
    let mut command = tributary(&["check"]);
    command.args(paths);
    command.output().expect("tributary check runs")
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the schema"));
    text[..at].lines().count() + usize::from(text[..at].ends_with('\n'))
}

/// Every `.graphql` file under `dir`, recursively.
fn graphql_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry reads").path();
        // The federation example: subgraph SDL (for the subgraphs, not the
        // gateway) and an overlay, checked with its supergraph below.
        if path.ends_with("schema/federation") {
            continue;
        }
        if path.is_dir() {
            graphql_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "graphql") {
            out.push(path);
        }
    }
}

#[test]
fn check_accepts_every_schema_in_the_repository() {
    let root = support::crate_root();
    let mut files = Vec::new();
    for dir in ["schema", "deploy"] {
        graphql_files(&root.join(dir), &mut files);
    }
    assert!(
        !files.is_empty(),
        "no .graphql files under schema/ or deploy/"
    );
    files.sort();

    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = check(&paths);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tributary check failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in &files {
        assert!(
            stdout.contains(&format!("{}: ok", file.display())),
            "{} not reported ok:\n{stdout}",
            file.display()
        );
    }

    // The supergraph, alone and with its overlay.
    let supergraph = root.join("schema/federation/supergraph.graphql");
    let overlay = root.join("schema/federation/overlay.graphql");
    for args in [vec![], vec!["--overlay".as_ref(), overlay.as_os_str()]] {
        let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .arg("check")
            .arg(&supergraph)
            .args(&args)
            .output()
            .expect("tributary runs");
        assert!(
            output.status.success(),
            "tributary check {} {args:?} failed:\n{}",
            supergraph.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One bad schema: a substitution in [`GOOD`], the text marking the line the
/// diagnostic must point at, and a part of the message.
struct Bad {
    name: &'static str,
    replace: &'static str,
    with: &'static str,
    line_at: &'static str,
    message: &'static str,
}

const BAD: [Bad; 10] = [
    Bad {
        name: "unknown-upstream",
        replace: r#"@rest(upstream: "users""#,
        with: r#"@rest(upstream: "people""#,
        line_at: r#""people""#,
        message: "unknown upstream `people` (declared: users)",
    },
    Bad {
        name: "unknown-args-name",
        replace: "{$args.id}",
        with: "{$args.userId}",
        line_at: "$args.userId",
        message: "`Query.user` has no argument `userId` (arguments: id)",
    },
    Bad {
        name: "unknown-parent-field",
        replace: "  name: String\n",
        with: "  name: String\n  friend: User @rest(upstream: \"users\", path: \"/users/{$parent.friendId}\")\n",
        line_at: "$parent.friendId",
        message: "`User` has no field `friendId` read from its upstream JSON",
    },
    Bad {
        name: "duplicate-upstream",
        replace: "{\n  query: Query",
        with: "  @upstream(name: \"users\", url: \"http://127.0.0.1:10\")\n{\n  query: Query",
        line_at: "127.0.0.1:10",
        message: "duplicate upstream `users`",
    },
    Bad {
        name: "bad-duration",
        replace: r#"timeout: "2s""#,
        with: r#"timeout: "fast""#,
        line_at: r#""fast""#,
        message: r#"`timeout: "fast"` is not a duration"#,
    },
    Bad {
        name: "missing-env",
        replace: "http://127.0.0.1:9",
        with: "${TRIBUTARY_TEST_SURELY_UNSET}",
        line_at: "TRIBUTARY_TEST_SURELY_UNSET",
        message: "environment variable TRIBUTARY_TEST_SURELY_UNSET is not set",
    },
    Bad {
        name: "header-not-forwarded",
        replace: r#"path: "/users/{$args.id}")"#,
        with: r#"path: "/users/{$args.id}", query: { zip: "{$header.x-zip}" })"#,
        line_at: "$header.x-zip",
        message: "header `x-zip` is not forwarded",
    },
    Bad {
        name: "get-with-body",
        replace: r#"path: "/users/{$args.id}")"#,
        with: r#"path: "/users", body: { id: "{$args.id}" })"#,
        line_at: "body:",
        message: "`Query.user` sends a body with GET",
    },
    Bad {
        name: "unknown-directive-argument",
        replace: r#"timeout: "2s")"#,
        with: r#"timeout: "2s", retries: 3)"#,
        line_at: "retries",
        message: "unknown argument `retries` on @upstream",
    },
    Bad {
        name: "syntax-error",
        replace: "  name: String\n",
        with: "  name String\n",
        line_at: "name String",
        message: "syntax error: expected",
    },
];

#[test]
fn check_reports_each_mistake_at_its_line_with_a_helpful_message() {
    let dir = support::fresh_dir("cli");
    for bad in &BAD {
        assert!(GOOD.contains(bad.replace), "{}: bad substitution", bad.name);
        let sdl = GOOD.replacen(bad.replace, bad.with, 1);
        let path = write_schema(&dir, bad.name, &sdl);
        let output = check(&[&path]);
        let stderr = String::from_utf8_lossy(&output.stderr);

        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", bad.name);
        let line = line_of(&sdl, bad.line_at);
        let prefix = format!("{}:{line}:", path.display());
        let diagnostic = stderr
            .lines()
            .find(|l| l.contains(bad.message))
            .unwrap_or_else(|| panic!("{}: no `{}` in:\n{stderr}", bad.name, bad.message));
        let column = diagnostic
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once(": "))
            .map(|(column, _)| column);
        assert!(
            column.is_some_and(|c| c.parse::<usize>().is_ok_and(|c| c > 0)),
            "{}: expected `{prefix}COL: ...`, got `{diagnostic}`",
            bad.name
        );
    }
}

#[test]
fn check_points_at_the_exact_column() {
    let dir = support::fresh_dir("cli");
    let sdl = GOOD.replacen(r#"timeout: "2s""#, r#"timeout: "fast""#, 1);
    let path = write_schema(&dir, "column", &sdl);
    let stderr = String::from_utf8_lossy(&check(&[&path]).stderr).into_owned();
    // Line 2 is `  @upstream(name: "users", url: "http://127.0.0.1:9", timeout: "fast")`:
    // the diagnostic points at the value.
    let column = sdl
        .lines()
        .nth(1)
        .and_then(|l| l.find("\"fast\""))
        .expect("line 2 has the timeout")
        + 1;
    assert!(
        stderr.starts_with(&format!(
            "{}:2:{column}: `timeout: \"fast\"`",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn check_reports_every_error_of_a_file_in_line_order() {
    let dir = support::fresh_dir("cli");
    let sdl = GOOD
        .replacen(r#"timeout: "2s")"#, r#"timeout: "fast", retries: 3)"#, 1)
        .replacen(r#"upstream: "users""#, r#"upstream: "people""#, 1)
        .replacen("  name: String\n", "  name: Strin\n", 1);
    let path = write_schema(&dir, "several", &sdl);
    let output = check(&[&path]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");

    let expected = [
        (line_of(&sdl, "fast"), "is not a duration"),
        (line_of(&sdl, "retries"), "unknown argument `retries`"),
        (line_of(&sdl, "people"), "unknown upstream `people`"),
        (line_of(&sdl, "Strin\n"), "unknown type `Strin`"),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (got, (line, message)) in lines.iter().zip(expected) {
        assert!(
            got.starts_with(&format!("{}:{line}:", path.display())) && got.contains(message),
            "expected line {line} `{message}`, got `{got}`\n{stderr}"
        );
    }
}

#[test]
fn check_fails_when_any_file_fails_and_names_each() {
    let dir = support::fresh_dir("cli");
    let good = write_schema(&dir, "good", GOOD);
    let bad = write_schema(&dir, "bad", &GOOD.replacen("2s", "fast", 1));
    let output = check(&[&good, &bad]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(&format!("{}: ok", good.display())),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("{}:2:", bad.display())),
        "{stderr}"
    );
}

/// A `tributary` process serving HTTP; killed if the test ends early.
struct Server {
    process: support::Process,
    url: String,
}

impl Server {
    /// Starts `tributary ARGS` and waits for its listening line.
    fn start(command: Command) -> Server {
        let mut process = support::Process::spawn(command, "cli-log");
        let url = process.listening_url();
        Server { process, url }
    }

    fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the URL ends with a port")
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("tributary answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body reads"))
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(self) -> ExitStatus {
        self.process.terminate()
    }
}

fn client() -> reqwest::Client {
    tributary::init_tls();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn serve_prints_its_address_answers_and_stops_on_sigterm() {
    let dir = support::fresh_dir("cli");
    let schema = write_schema(&dir, "serve", GOOD);
    let path = schema.to_str().expect("UTF-8 temp path");
    let server = Server::start(tributary(&["serve", path, "--listen", "127.0.0.1:0"]));
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );

    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_owned()));
    let url = server.url.clone();
    let started = Instant::now();
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(started.elapsed() < STOP_LIMIT);
    assert!(
        client().get(format!("{url}/healthz")).send().await.is_err(),
        "still answering after SIGTERM"
    );
}

/// A request that hangs on its upstream cannot keep the process alive past
/// `shutdownGrace` after SIGTERM.
#[tokio::test]
async fn sigterm_stops_within_the_grace_period_even_with_a_hanging_request() {
    let hang = support::mock(
        "hang",
        0,
        axum::Router::new().route(
            "/hang",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(120)).await;
                "late"
            }),
        ),
    )
    .await;
    let dir = support::fresh_dir("cli");
    let sdl = format!(
        r#"schema @server(shutdownGrace: "500ms", maxRequestTime: "120s")
  @upstream(name: "hang", url: "{}", timeout: "120s", readTimeout: "120s") {{ query: Query }}
type Query {{ hang: String @rest(upstream: "hang", path: "/hang") }}
"#,
        hang.url()
    );
    let schema = write_schema(&dir, "grace", &sdl);
    let path = schema.to_str().expect("UTF-8 temp path");
    let server = Server::start(tributary(&["serve", path, "--listen", "127.0.0.1:0"]));
    let url = format!("{}/graphql", server.url);
    let hanging = tokio::spawn(async move {
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"query":"{ hang }"}"#)
            .send()
            .await
    });
    // The request has reached the upstream.
    let reached = Instant::now();
    while hang.state.count() == 0 && reached.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hang.state.count(), 1);
    let started = Instant::now();
    let status = server.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?} to stop ({status})",
        started.elapsed()
    );
    hanging.abort();
}

#[tokio::test]
async fn serve_reads_the_address_from_tributary_listen() {
    let dir = support::fresh_dir("cli");
    let schema = write_schema(&dir, "env-listen", GOOD);
    let path = schema.to_str().expect("UTF-8 temp path");
    let mut command = tributary(&["serve", path]);
    command.env("TRIBUTARY_LISTEN", "127.0.0.1:0");
    let server = Server::start(command);
    // The default would be 127.0.0.1:4000.
    assert_ne!(server.port(), 4000);
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn serve_refuses_an_invalid_schema_without_listening() {
    let dir = support::fresh_dir("cli");
    let schema = write_schema(&dir, "serve-bad", &GOOD.replacen("2s", "fast", 1));
    let path = schema.to_str().expect("UTF-8 temp path");
    let mut child = tributary(&["serve", path, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tributary starts");
    let started = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && started.elapsed() < START_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        panic!("`serve` on an invalid schema kept running");
    }
    let output = child.wait_with_output().expect("output reads");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stdout.contains(support::LISTENING), "{stdout}");
    assert!(
        stderr.contains(&format!("{path}:2:")) && stderr.contains("is not a duration"),
        "{stderr}"
    );
}

#[tokio::test]
async fn demo_serves_the_product_page() {
    let server = Server::start(tributary(&["demo", "--listen", "127.0.0.1:0"]));
    let query = r#"{ product(id: "42") { id details { name } price { currency } stock { inStock } recommendations { productId } shipping { carrier } } }"#;
    let response = client()
        .post(format!("{}/graphql", server.url))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("demo answers");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("body reads");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(body.get("errors").is_none(), "{body}");
    let product = &body["data"]["product"];
    assert_eq!(product["id"], "42");
    assert_eq!(product["details"]["name"], "Product 42");
    assert_eq!(product["price"]["currency"], "EUR");
    assert!(product["stock"]["inStock"].is_boolean(), "{body}");
    assert!(
        product["recommendations"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert!(product["shipping"]["carrier"].is_string(), "{body}");
    assert_eq!(server.terminate().code(), Some(0));
}

/// `tributary directives` prints definitions an editor can use (the loader
/// takes its known arguments from the same table), and a schema that
/// carries them still loads.
#[test]
fn directives_prints_definitions_that_a_schema_may_carry() {
    let output = tributary(&["directives"]).output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    let definitions = String::from_utf8(output.stdout).expect("UTF-8");
    for directive in [
        "@upstream(",
        "@rest(",
        "@server(",
        "@listSize(",
        "@onError(",
    ] {
        assert!(
            definitions.contains(&format!("directive {directive}")),
            "{directive}"
        );
    }
    assert!(
        definitions.contains("  tripsBreaker: Boolean"),
        "{definitions}"
    );

    let dir = support::fresh_dir("cli");
    let with_definitions = write_schema(&dir, "defined", &format!("{definitions}\n{GOOD}"));
    let out = check(&[&with_definitions]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
