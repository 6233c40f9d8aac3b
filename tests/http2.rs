//! Upstreams over HTTP/1.1 by default, and HTTP/2 (h2c, prior knowledge) with
//! `http2: true`, on pooled keep-alive connections.

mod support;

use axum::Router;
use axum::routing::get;
use serde_json::json;

fn item() -> Router {
    Router::new().route("/item", get(|| async { axum::Json(json!({"id": "1"})) }))
}

const SDL: &str = r#"
schema
  @upstream(name: "one", url: "${ONE_URL}")
  @upstream(name: "two", url: "${TWO_URL}", http2: true)
{ query: Query }
type Query {
  a: Item @rest(upstream: "one", path: "/item")
  b: Item @rest(upstream: "two", path: "/item")
}
type Item { id: ID! }
"#;

#[tokio::test]
async fn http2_upstreams_speak_h2c_and_others_http1() {
    let one = support::mock("one", 0, item()).await;
    let two = support::mock("two", 0, item()).await;
    let gw = support::gateway(SDL, &[&one, &two], &[]).await;
    for _ in 0..3 {
        let (status, body) = gw.query("{ a { id } b { id } }").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"a": {"id": "1"}, "b": {"id": "1"}}));
    }
    let versions = |m: &tributary::demo::MockService| {
        m.state
            .hits()
            .into_iter()
            .map(|h| h.version)
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(&one), vec!["HTTP/1.1"; 3]);
    assert_eq!(versions(&two), vec!["HTTP/2.0"; 3]);
}
