//! The request deadline (`@server(requestTimeout:, deadlineHeader:)`):
//! carried across dependent calls, shortened (never lengthened) by the
//! client's header, told to every upstream in the operator's header. Real
//! upstreams on 127.0.0.1:0 with real latencies; timing bounds are generous.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{gateway, json_route, mock};

const SDL: &str = r#"
schema
  @server(requestTimeout: "600ms", deadlineHeader: "x-request-deadline-ms")
  @upstream(name: "first", url: "${FIRST_URL}", timeout: "5s", retry: false)
  @upstream(name: "second", url: "${SECOND_URL}", timeout: "5s",
            retry: { attempts: 5, backoff: "50ms" })
{ query: Query }

type Query {
  thing: Thing @rest(upstream: "first", path: "/thing")
}

type Thing {
  id: ID!
  "Starts when `thing` has answered: it gets only what is left."
  more: More @rest(upstream: "second", path: "/more/{$parent.id}") @onError(use: NULL)
}

type More { label: String }
"#;

/// The header's value on each request `mock` received, in ms.
fn deadlines(mock: &tributary::demo::MockService) -> Vec<u64> {
    mock.state
        .hits()
        .iter()
        .filter_map(|h| {
            h.headers
                .get("x-request-deadline-ms")?
                .to_str()
                .ok()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test]
async fn a_late_dependent_call_gets_only_what_remains_and_the_answer_comes_at_the_deadline() {
    let first = mock("first", 400, json_route("/thing", json!({ "id": "7" }))).await;
    let second = mock(
        "second",
        1000,
        json_route("/more/7", json!({ "label": "late" })),
    )
    .await;
    let gw = gateway(SDL, &[&first, &second], &[]).await;
    let started = Instant::now();
    let (status, body) = gw.query("{ thing { id more { label } } }").await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    // `thing` answered in time; `more` was cut at the deadline and became
    // null (its @onError), with an error saying why.
    assert_eq!(
        body["data"],
        json!({ "thing": { "id": "7", "more": null } }),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["path"],
        json!(["thing", "more"]),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_TIMEOUT",
        "{body}"
    );
    // At the deadline (600 ms), not at `second`'s own 5 s timeout.
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // Each call was told what remained: ~600 ms, then ~200 ms after `thing`'s 400.
    let told_first = deadlines(&first);
    let told_second = deadlines(&second);
    assert!(
        told_first.len() == 1 && (450..=600).contains(&told_first[0]),
        "{told_first:?}"
    );
    assert!(
        !told_second.is_empty() && told_second[0] <= 210,
        "{told_second:?}"
    );
    // Its retries (attempts: 5) did not outlive the deadline.
    assert!(second.state.count() <= 2, "{} calls", second.state.count());
}

#[tokio::test]
async fn the_client_can_shorten_the_deadline_but_not_lengthen_it() {
    let first = mock("first", 300, json_route("/thing", json!({ "id": "7" }))).await;
    let second = mock(
        "second",
        0,
        json_route("/more/7", json!({ "label": "now" })),
    )
    .await;
    let gw = gateway(SDL, &[&first, &second], &[]).await;
    // 100 ms: `thing` (300 ms) is cut.
    let (_, short) = gw
        .post(
            json!({ "query": "{ thing { id } }" }),
            &[("x-request-deadline-ms", "100")],
        )
        .await;
    assert_eq!(short["data"], json!({ "thing": null }), "{short}");
    assert_eq!(
        short["errors"][0]["extensions"]["code"], "UPSTREAM_TIMEOUT",
        "{short}"
    );
    // 60 s asks for more than requestTimeout: the 600 ms stand.
    let (_, long) = gw
        .post(
            json!({ "query": "{ thing { id more { label } } }" }),
            &[("x-request-deadline-ms", "60000")],
        )
        .await;
    assert_eq!(long["data"]["thing"]["more"]["label"], "now", "{long}");
    let told = deadlines(&first);
    assert!(told.iter().all(|ms| *ms <= 600), "{told:?}");
}

#[tokio::test]
async fn without_a_request_timeout_calls_keep_their_own_and_send_no_header() {
    let first = mock("first", 0, json_route("/thing", json!({ "id": "7" }))).await;
    let second = mock("second", 0, json_route("/more/7", json!({ "label": "x" }))).await;
    let sdl = SDL.replace(
        r#"@server(requestTimeout: "600ms", deadlineHeader: "x-request-deadline-ms")"#,
        "",
    );
    let gw = gateway(&sdl, &[&first, &second], &[]).await;
    let (_, body) = gw.query("{ thing { more { label } } }").await;
    assert_eq!(body["data"]["thing"]["more"]["label"], "x", "{body}");
    assert!(deadlines(&first).is_empty() && deadlines(&second).is_empty());
    let _: Value = body;
}

#[test]
fn check_warns_when_the_chain_of_timeouts_outlasts_the_deadline() {
    let dir = support::fresh_dir("deadline-check");
    let schema = dir.join("schema.graphql");
    std::fs::write(
        &schema,
        SDL.replace("${FIRST_URL}", "http://127.0.0.1:1")
            .replace("${SECOND_URL}", "http://127.0.0.1:2"),
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("check")
        .arg(&schema)
        .output()
        .expect("tributary check runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A warning, not an error: the schema is valid.
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: the longest chain of dependent calls (Query.thing -> Thing.more) can take 10s by its timeouts, more than requestTimeout (600ms)"),
        "{stderr}"
    );
}
