//! The demo's product page, end to end: five upstreams at once.

mod support;

use std::time::Instant;

use tributary::demo::Demo;

#[tokio::test]
async fn demo_product_page_fans_out() {
    let demo = Demo::start(None).await.expect("demo starts");
    let mocks: Vec<&tributary::demo::MockService> = demo.services.iter().collect();
    let gw = support::gateway(tributary::demo::DEMO_SCHEMA, &mocks, &[]).await;
    let query = r#"{ product(id: "42") { id details { name } price { amount currency } stock { quantity } recommendations { productId } shipping { days } } }"#;
    // Warm the connection pools so the timing measures fan-out, not connects.
    gw.query(query).await;
    let started = Instant::now();
    let (status, body) = gw.query(query).await;
    let elapsed = started.elapsed().as_millis();
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["product"]["details"]["name"], "Product 42");
    // Sequential would be 530 ms; concurrent is the slowest call (140 ms).
    assert!(elapsed < 400, "took {elapsed} ms");
}
