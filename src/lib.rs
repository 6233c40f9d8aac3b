//! Tributary: a GraphQL aggregation server. An operator's SDL binds fields to
//! upstream HTTP services; one GraphQL request fans out to every independent
//! upstream call at once and fans in to one response.
//!
//! # Layout
//! - [`config`]: SDL + directives -> typed, validated [`config::Config`]
//!   (diagnostics with `file:line:col`); the directive vocabulary.
//! - [`schema`]: config -> async-graphql dynamic schema; the one generic
//!   resolver; null propagation; JSON -> GraphQL coercion.
//! - [`exec`]: the plan/execute step: renders requests from bindings (safe
//!   templates), starts every bound field as soon as its inputs are known,
//!   dedupes identical calls within an operation, works out what each
//!   upstream's answers are read for.
//! - [`upstream`]: per-upstream clients: cache, single-flight, guards,
//!   transport, parsing answers by a mask.
//! - [`federation`]: Apollo Federation v2 supergraphs: the join metadata,
//!   the API schema, the query planner and the plan's execution through
//!   each subgraph's upstream.
//! - [`gateway`]: a loaded schema ready to execute: prepared documents
//!   (parsed, measured against the cost limits, cached once valid), variable
//!   values checked on every request, and the run-time budgets of each request.
//! - [`http`]: GraphQL over HTTP, GraphiQL.
//! - [`server`]: `app(state) -> Router`; the accept loop with its connection
//!   cap and timeouts; bounded graceful shutdown.
//! - [`demo`]: simulated upstreams for the demo, the tests and benchmarks:
//!   REST services, and the shop's Apollo Federation subgraphs
//!   ([`demo::subgraphs`]).
//! - [`ratelimit`]: token buckets per client key (before the engine) and
//!   per upstream (in its guards), in memory or shared through Redis.
//! - [`telemetry`]: OpenTelemetry, typed call records and timelines,
//!   Prometheus metrics, the status page.
//! - [`error`]: the one `ErrorCode` vocabulary.
//!
//! # Example
//!
//! Loading a schema checks it the way `tributary check` does; problems come
//! back as `file:line:col: message` diagnostics.
//!
//! ```
//! let sdl = r#"
//! schema @upstream(name: "catalogue", url: "${CATALOGUE_URL:-http://127.0.0.1:4101}") { query: Query }
//! type Query { product(id: ID!): Product @rest(upstream: "catalogue", path: "/products/{$args.id}") }
//! type Product { id: ID! name: String }
//! "#;
//! let config = tributary::config::load("shop.graphql", sdl, &|_| None).expect("a valid schema");
//! assert_eq!(config.upstreams["catalogue"].url.as_str(), "http://127.0.0.1:4101/");
//!
//! let typo = sdl.replace("{$args.id}", "{$args.sku}");
//! let errors = tributary::config::load("shop.graphql", &typo, &|_| None).expect_err("unknown argument");
//! assert!(errors.to_string().starts_with("shop.graphql:3:"), "{errors}");
//! assert!(errors.to_string().contains("has no argument `sku`"), "{errors}");
//! ```

pub mod config;
pub mod demo;
pub mod error;
pub mod exec;
pub mod federation;
pub mod gateway;
pub mod http;
pub mod ratelimit;
pub mod schema;
pub mod server;
pub mod telemetry;
pub mod upstream;

pub use gateway::Gateway;

/// Installs the TLS crypto provider once per process (ring, which builds
/// without a C toolchain beyond cc and keeps builds fast).
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
