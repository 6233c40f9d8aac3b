//! The shop's federation subgraphs as a gateway meets them: real HTTP servers
//! on free ports answering `_entities` and `_service`, serving exactly the SDL
//! the committed supergraph was composed from, and logging every request so
//! gateway tests can assert which fetches were made.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use serde_json::{Value, json};
use tributary::demo::Fault;
use tributary::demo::subgraphs::{
    DEFAULT_BASE_PORT, Latencies, SUPERGRAPH, Subgraph, SubgraphServer, Subgraphs,
};

const ENTITIES: &str = "query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { __typename SELECTION }
}";

fn client() -> reqwest::Client {
    tributary::init_tls();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// POSTs a GraphQL request body; status and JSON answer.
async fn post(server: &SubgraphServer, body: Value) -> (u16, Value) {
    let response = client()
        .post(server.url())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("subgraph answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body reads");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

/// `_entities` with `representations` as a variable, each entity selecting
/// `selection`; returns the answer and the query text sent.
async fn entities(
    server: &SubgraphServer,
    selection: &str,
    representations: Value,
) -> (Value, String) {
    let query = ENTITIES.replace("SELECTION", selection);
    let body = json!({
        "query": query,
        "variables": { "representations": representations },
        "operationName": "Entities",
    });
    let (status, answer) = post(server, body).await;
    assert_eq!(status, 200, "{answer}");
    (answer, query)
}

#[tokio::test]
async fn products_resolves_three_representations_and_logs_the_request() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let representations = json!([
        { "__typename": "Product", "upc": "1" },
        { "__typename": "Product", "upc": "2" },
        { "__typename": "Product", "upc": "999" },
    ]);
    let (answer, query) = entities(
        &subgraphs.products,
        "... on Product { upc name price weight }",
        representations.clone(),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "data": { "_entities": [
            { "__typename": "Product", "upc": "1", "name": "Red Chair", "price": 419, "weight": 38 },
            { "__typename": "Product", "upc": "2", "name": "Quiet Chair", "price": 738, "weight": 25 },
            null,
        ] } })
    );

    let log = subgraphs.products.requests();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].query, query);
    assert_eq!(log[0].operation_name.as_deref(), Some("Entities"));
    assert_eq!(log[0].variables["representations"], representations);
    assert_eq!(log[0].entities, [3]);
    assert_eq!(log[0].representations(), Some(3));
    assert!(subgraphs.reviews.requests().is_empty());
    assert!(subgraphs.inventory.requests().is_empty());
}

#[tokio::test]
async fn reviews_resolves_products_and_users_in_one_request() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let (answer, _) = entities(
        &subgraphs.reviews,
        "... on Product { upc reviews { id body rating author { id username } } }
         ... on User { id username }",
        json!([
            { "__typename": "Product", "upc": "1" },
            { "__typename": "User", "id": "3" },
            { "__typename": "Product", "upc": "999" },
        ]),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "data": { "_entities": [
            { "__typename": "Product", "upc": "1", "reviews": [
                { "id": "1-1", "body": "Arrived quickly, works well.", "rating": 4,
                  "author": { "id": "2", "username": "brian" } },
                { "id": "1-2", "body": "Smaller than I expected.", "rating": 5,
                  "author": { "id": "5", "username": "edsger" } },
            ] },
            { "__typename": "User", "id": "3", "username": "claude" },
            // Reviews does not own products: an unknown one has no reviews.
            { "__typename": "Product", "upc": "999", "reviews": [] },
        ] } })
    );
    assert_eq!(subgraphs.reviews.requests()[0].representations(), Some(3));

    let (_, me) = post(
        &subgraphs.reviews,
        json!({ "query": "{ me { id username } }" }),
    )
    .await;
    assert_eq!(
        me,
        json!({ "data": { "me": { "id": "1", "username": "ada" } } })
    );
    let log = subgraphs.reviews.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].entities, [] as [usize; 0]);
    assert_eq!(log[1].representations(), None);
}

#[tokio::test]
async fn inventory_computes_shipping_from_the_required_fields() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let (answer, _) = entities(
        &subgraphs.inventory,
        "... on Product { upc inStock shippingEstimate }",
        json!([
            { "__typename": "Product", "upc": "1", "price": 419, "weight": 38 },
            { "__typename": "Product", "upc": "7", "price": 1200, "weight": 10 },
            { "__typename": "Product", "upc": "2", "price": 738, "weight": 25 },
        ]),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "data": { "_entities": [
            { "__typename": "Product", "upc": "1", "inStock": true, "shippingEstimate": 19 },
            // Every seventh product is sold out; above 1000 shipping is free.
            { "__typename": "Product", "upc": "7", "inStock": false, "shippingEstimate": 0 },
            { "__typename": "Product", "upc": "2", "inStock": true, "shippingEstimate": 13 },
        ] } })
    );
    assert_eq!(subgraphs.inventory.requests()[0].representations(), Some(3));

    // A representation without the @requires fields gets an error at its
    // item; the others still resolve.
    let (answer, _) = entities(
        &subgraphs.inventory,
        "... on Product { shippingEstimate }",
        json!([
            { "__typename": "Product", "upc": "1", "price": 419, "weight": 38 },
            { "__typename": "Product", "upc": "2" },
        ]),
    )
    .await;
    assert_eq!(
        answer["data"],
        json!({ "_entities": [{ "__typename": "Product", "shippingEstimate": 19 }, null] }),
        "{answer}"
    );
    assert_eq!(
        answer["errors"][0]["path"],
        json!(["_entities", 1, "shippingEstimate"]),
        "{answer}"
    );
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("@requires"), "{answer}");
    // ...while a fetch that needs no required field needs no more than the key.
    let (answer, _) = entities(
        &subgraphs.inventory,
        "... on Product { inStock }",
        json!([{ "__typename": "Product", "upc": "14" }]),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "data": { "_entities": [{ "__typename": "Product", "inStock": false }] } })
    );
}

#[tokio::test]
async fn malformed_representations_are_errors() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    for (representations, expected) in [
        (json!([{ "__typename": "Product" }]), "key field `upc`"),
        (
            json!([{ "__typename": "Review", "id": "1" }]),
            "not an entity",
        ),
        (json!([{ "upc": "1" }]), "__typename"),
    ] {
        let (answer, _) = entities(
            &subgraphs.products,
            "... on Product { upc }",
            representations,
        )
        .await;
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected}: {answer}");
    }
}

#[tokio::test]
async fn root_fields_of_products() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let query = |q: &str| post(&subgraphs.products, json!({ "query": q }));
    let (_, answer) = query("{ topProducts { upc } }").await;
    let upcs: Vec<&str> = answer["data"]["topProducts"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["upc"].as_str())
        .collect();
    assert_eq!(upcs, (1..=20).map(|n| n.to_string()).collect::<Vec<_>>());
    let (_, answer) = query("{ topProducts(first: 500) { upc } }").await;
    assert_eq!(
        answer["data"]["topProducts"].as_array().map(Vec::len),
        Some(100)
    );
    let (_, answer) = query("{ topProducts(first: 2) { name } }").await;
    assert_eq!(
        answer,
        json!({ "data": { "topProducts": [{ "name": "Red Chair" }, { "name": "Quiet Chair" }] } })
    );
    let (_, answer) =
        query("{ a: product(upc: \"100\") { name } b: product(upc: \"01\") { name } }").await;
    assert_eq!(
        answer,
        json!({ "data": { "a": { "name": "Smart Mug" }, "b": null } })
    );
    let (_, answer) = query("{ topProducts(first: -1) { upc } }").await;
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("negative")),
        "{answer}"
    );
}

#[tokio::test]
async fn service_sdl_is_the_file_the_supergraph_was_composed_from() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    for server in subgraphs.iter() {
        let (status, answer) = post(server, json!({ "query": "{ _service { sdl } }" })).await;
        assert_eq!(status, 200);
        let file = std::fs::read_to_string(subgraph_file(server.subgraph)).expect("SDL file reads");
        assert_eq!(
            answer["data"]["_service"]["sdl"],
            json!(file),
            "{}",
            server.subgraph.name()
        );
        assert_eq!(server.subgraph.sdl(), file);
    }
}

/// The dynamic schema each server builds in code declares the same fields,
/// arguments, defaults and entities as its SDL file.
#[tokio::test]
async fn served_schemas_agree_with_their_sdl_files() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    for server in subgraphs.iter() {
        let name = server.subgraph.name();
        let (_, answer) = post(server, json!({ "query": INTROSPECTION })).await;
        let types = answer["data"]["__schema"]["types"]
            .as_array()
            .expect("types");
        let mut served = BTreeSet::new();
        let mut entity_members = BTreeSet::new();
        for ty in types {
            let type_name = ty["name"].as_str().unwrap_or_default();
            if type_name == "_Entity" {
                for member in ty["possibleTypes"].as_array().into_iter().flatten() {
                    entity_members.insert(member["name"].as_str().unwrap_or_default().to_owned());
                }
            }
            if ty["kind"] != "OBJECT" || type_name.starts_with('_') {
                continue;
            }
            for field in ty["fields"].as_array().into_iter().flatten() {
                let field_name = field["name"].as_str().unwrap_or_default();
                if matches!(field_name, "_service" | "_entities") {
                    continue;
                }
                let args: Vec<String> = field["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| {
                        let default = arg["defaultValue"]
                            .as_str()
                            .map(|d| format!(" = {d}"))
                            .unwrap_or_default();
                        format!(
                            "{}: {}{default}",
                            arg["name"].as_str().unwrap_or_default(),
                            type_ref(&arg["type"])
                        )
                    })
                    .collect();
                served.insert(signature(
                    type_name,
                    field_name,
                    &args,
                    &type_ref(&field["type"]),
                ));
            }
        }

        let document =
            async_graphql::parser::parse_schema(server.subgraph.sdl()).expect("SDL parses");
        let mut declared = BTreeSet::new();
        let mut keyed = BTreeSet::new();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let TypeKind::Object(object) = &ty.node.kind else {
                continue;
            };
            let type_name = ty.node.name.node.as_str();
            if ty.node.directives.iter().any(|d| d.node.name.node == "key") {
                keyed.insert(type_name.to_owned());
            }
            for field in &object.fields {
                let args: Vec<String> = field
                    .node
                    .arguments
                    .iter()
                    .map(|arg| {
                        let default = arg
                            .node
                            .default_value
                            .as_ref()
                            .map(|d| format!(" = {}", d.node))
                            .unwrap_or_default();
                        format!("{}: {}{default}", arg.node.name.node, arg.node.ty.node)
                    })
                    .collect();
                declared.insert(signature(
                    type_name,
                    &field.node.name.node,
                    &args,
                    &field.node.ty.node.to_string(),
                ));
            }
        }
        assert!(!declared.is_empty(), "{name}");
        assert_eq!(served, declared, "{name}");
        assert_eq!(entity_members, keyed, "{name}: _Entity's members");
    }
}

fn signature(ty: &str, field: &str, args: &[String], out: &str) -> String {
    if args.is_empty() {
        format!("{ty}.{field}: {out}")
    } else {
        format!("{ty}.{field}({}): {out}", args.join(", "))
    }
}

/// An introspected type reference as SDL (`[Product!]!`).
fn type_ref(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&ty["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap_or_default().to_owned(),
    }
}

const INTROSPECTION: &str = "{ __schema { types {
  kind name possibleTypes { name }
  fields { name type { ...T } args { name defaultValue type { ...T } } }
} } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

#[tokio::test]
async fn the_log_counts_inline_and_aliased_entities() {
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let query = r#"query($b: [_Any!]!) {
      a: _entities(representations: [{__typename: "Product", upc: "1"}, {__typename: "Product", upc: "2"}]) { __typename }
      ...More
    }
    fragment More on Query { b: _entities(representations: $b) { __typename } }"#;
    let (status, answer) = post(
        &subgraphs.products,
        json!({ "query": query, "variables": { "b": [{ "__typename": "Product", "upc": "3" }] } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["b"],
        json!([{ "__typename": "Product" }]),
        "{answer}"
    );
    let log = subgraphs.products.requests();
    assert_eq!(log[0].entities, [2, 1]);
    assert_eq!(log[0].representations(), Some(3));

    let (status, answer) = post(&subgraphs.products, json!("not a request")).await;
    assert_eq!(status, 400, "{answer}");
    let log = subgraphs.products.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].query, "");
    assert_eq!(&log[1].hit.body[..], br#""not a request""#);

    subgraphs.reset();
    assert!(subgraphs.products.requests().is_empty());
}

#[tokio::test]
async fn faults_and_latency() {
    let subgraphs = Subgraphs::start(Latencies {
        reviews: Duration::from_millis(150),
        ..Latencies::default()
    })
    .await
    .expect("start");
    let sdl = json!({ "query": "{ _service { sdl } }" });

    let started = Instant::now();
    let (status, _) = post(&subgraphs.reviews, sdl.clone()).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );

    let products = &subgraphs.products;
    products
        .state()
        .push_faults([Fault::Status(500), Fault::GraphqlErrors]);
    let (status, _) = post(products, sdl.clone()).await;
    assert_eq!(status, 500);
    let (status, answer) = post(products, sdl.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"], Value::Null, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "INJECTED_FAULT",
        "{answer}"
    );
    let (status, answer) = post(products, sdl.clone()).await;
    assert_eq!(status, 200);
    assert!(answer["data"]["_service"]["sdl"].is_string(), "{answer}");

    subgraphs.inventory.state().set_fault(Some(Fault::Hang));
    let hung = client()
        .post(subgraphs.inventory.url())
        .header("content-type", "application/json")
        .body(sdl.to_string())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    // Faulted requests are logged too: the gateway did send them.
    assert_eq!(products.requests().len(), 3);
    assert_eq!(subgraphs.inventory.requests().len(), 1);
}

#[tokio::test]
async fn the_supergraph_routes_to_the_default_ports_or_the_bound_ones() {
    for (offset, subgraph) in (0..).zip(Subgraph::ALL) {
        let url = format!("http://127.0.0.1:{}/graphql", DEFAULT_BASE_PORT + offset);
        assert_eq!(subgraph.default_url(), url);
        let graph = format!(
            "@join__graph(name: \"{}\", url: \"{url}\")",
            subgraph.name()
        );
        assert!(SUPERGRAPH.contains(&graph), "{graph}");
    }
    let subgraphs = Subgraphs::start(Latencies::default()).await.expect("start");
    let routed = subgraphs.supergraph();
    for server in subgraphs.iter() {
        assert!(routed.contains(&format!("url: \"{}\"", server.url())));
        assert!(!routed.contains(&server.subgraph.default_url()));
    }
}

/// The committed supergraph is what compose.mjs makes of the SDL files today.
#[test]
fn the_committed_supergraph_is_composed_from_the_subgraph_files() {
    let dir = root().join("benches/federation");
    assert!(
        dir.join("node_modules/.package-lock.json").is_file(),
        "{}/node_modules is missing: run scripts/test-deps.sh (or npm ci --prefix benches/federation)",
        dir.display()
    );
    let output = std::process::Command::new("node")
        .arg(dir.join("compose.mjs"))
        .arg("--check")
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn subgraph_file(subgraph: Subgraph) -> PathBuf {
    root().join(format!(
        "schema/federation/subgraphs/{}.graphql",
        subgraph.name()
    ))
}
