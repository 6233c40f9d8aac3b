//! Interfaces and unions: the concrete type comes from `__typename` in the
//! upstream JSON; fields bound below an abstract type are fetched when the
//! engine reaches them.

mod support;

use axum::Router;
use axum::routing::get;
use serde_json::json;

fn catalogue() -> Router {
    Router::new()
        .route(
            "/search",
            get(|| async {
                axum::Json(json!([
                    {"__typename": "Book", "id": "1", "title": "Dune", "authorId": "7"},
                    {"__typename": "Movie", "id": "2", "minutes": 155}
                ]))
            }),
        )
        .route(
            "/featured",
            get(|| async { axum::Json(json!({"__typename": "Movie", "id": "3", "minutes": 90})) }),
        )
        .route("/untyped", get(|| async { axum::Json(json!({"id": "4"})) }))
        .route(
            "/authors/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    axum::Json(json!({"id": id, "name": "Frank Herbert"}))
                },
            ),
        )
}

const SDL: &str = r#"
schema @upstream(name: "catalogue", url: "${CATALOGUE_URL}") { query: Query }
type Query {
  search: [SearchResult!]! @rest(upstream: "catalogue", path: "/search")
  featured: Media @rest(upstream: "catalogue", path: "/featured")
  untyped: Media @rest(upstream: "catalogue", path: "/untyped")
}
interface Media { id: ID! }
type Book implements Media {
  id: ID!
  title: String!
  authorId: ID!
  author: Author @rest(upstream: "catalogue", path: "/authors/{$parent.authorId}")
}
type Movie implements Media { id: ID! minutes: Int! }
type Author { id: ID! name: String! }
union SearchResult = Book | Movie
"#;

#[tokio::test]
async fn unions_and_interfaces_resolve_from_typename() {
    let mock = support::mock("catalogue", 0, catalogue()).await;
    let gw = support::gateway(SDL, &[&mock], &[]).await;
    let (status, body) = gw
        .query(
            "{ search { __typename ... on Book { title author { name } } ... on Movie { minutes } } \
               featured { __typename id ... on Movie { minutes } } }",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"],
        json!({
            "search": [
                {"__typename": "Book", "title": "Dune", "author": {"name": "Frank Herbert"}},
                {"__typename": "Movie", "minutes": 155}
            ],
            "featured": {"__typename": "Movie", "id": "3", "minutes": 90}
        })
    );
    let targets: Vec<String> = mock.state.hits().into_iter().map(|h| h.target).collect();
    assert!(targets.contains(&"/authors/7".to_owned()), "{targets:?}");
}

#[tokio::test]
async fn an_abstract_value_without_typename_is_a_clear_field_error() {
    let mock = support::mock("catalogue", 0, catalogue()).await;
    let gw = support::gateway(SDL, &[&mock], &[]).await;
    let (status, body) = gw.query("{ untyped { id } featured { id } }").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"untyped": null, "featured": {"id": "3"}})
    );
    let error = &body["errors"][0];
    assert_eq!(error["path"], json!(["untyped"]));
    assert_eq!(error["extensions"]["code"], "UPSTREAM_BAD_RESPONSE");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("__typename") && message.contains("Query.untyped"),
        "{message}"
    );
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
}

/// Descriptions written on interfaces (and their fields), unions, enums and
/// input objects reach introspection.
#[tokio::test]
async fn descriptions_of_every_kind_of_type_reach_introspection() {
    let svc = support::mock("svc", 0, catalogue()).await;
    let sdl = r#"
schema @upstream(name: "svc", url: "${SVC_URL}") { query: Query }
type Query {
  "Look one up."
  find(filter: Filter): Any @rest(upstream: "svc", path: "/items")
}
"Has an id."
interface Node {
  "The id."
  id: ID!
}
"A thing."
type Thing implements Node { id: ID! kind: Kind }
"Either kind of result."
union Any = Thing
"What a thing is."
enum Kind { SMALL LARGE }
"How to narrow a search."
input Filter { kind: Kind }
"#;
    let gw = support::gateway(sdl, &[&svc], &[]).await;
    let (_, body) = gw
        .query(
            r#"{ node: __type(name: "Node") { description fields { name description } }
                 any: __type(name: "Any") { description }
                 kind: __type(name: "Kind") { description }
                 filter: __type(name: "Filter") { description } }"#,
        )
        .await;
    assert_eq!(
        body["data"],
        json!({
            "node": { "description": "Has an id.", "fields": [{ "name": "id", "description": "The id." }] },
            "any": { "description": "Either kind of result." },
            "kind": { "description": "What a thing is." },
            "filter": { "description": "How to narrow a search." },
        }),
        "{body}"
    );
}

/// `@deprecated` (fields, arguments, enum values), `@specifiedBy` and
/// `@oneOf` written in the SDL reach introspection.
#[tokio::test]
async fn deprecations_specified_by_and_one_of_reach_introspection() {
    let svc = support::mock("svc", 0, catalogue()).await;
    let sdl = r#"
schema @upstream(name: "svc", url: "${SVC_URL}") { query: Query }
type Query {
  find(by: By, old: Int @deprecated(reason: "use by")): Thing @rest(upstream: "svc", path: "/items")
}
type Thing {
  id: ID!
  legacy: String @deprecated
  stamp: Stamp
  kind: Kind
}
enum Kind { SMALL "Too big." HUGE @deprecated(reason: "gone") }
scalar Stamp @specifiedBy(url: "https://example.com/stamp")
input By @oneOf { id: ID name: String }
"#;
    let gw = support::gateway(sdl, &[&svc], &[]).await;
    let (_, body) = gw
        .query(
            r#"{ thing: __type(name: "Thing") { fields(includeDeprecated: true) { name isDeprecated deprecationReason } }
                 kind: __type(name: "Kind") { enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } }
                 stamp: __type(name: "Stamp") { specifiedByURL }
                 by: __type(name: "By") { isOneOf }
                 query: __type(name: "Query") { fields { args(includeDeprecated: true) { name isDeprecated deprecationReason } } } }"#,
        )
        .await;
    let data = &body["data"];
    assert_eq!(
        data["thing"]["fields"][1],
        json!({ "name": "legacy", "isDeprecated": true, "deprecationReason": "No longer supported" }),
        "{body}"
    );
    assert_eq!(
        data["kind"]["enumValues"][1],
        json!({ "name": "HUGE", "description": "Too big.", "isDeprecated": true, "deprecationReason": "gone" }),
        "{body}"
    );
    assert_eq!(
        data["stamp"]["specifiedByURL"], "https://example.com/stamp",
        "{body}"
    );
    assert_eq!(data["by"]["isOneOf"], true, "{body}");
    assert_eq!(
        data["query"]["fields"][0]["args"][1],
        json!({ "name": "old", "isDeprecated": true, "deprecationReason": "use by" }),
        "{body}"
    );
}
