//! Property-based fuzzing of everything that reads untrusted text: the SDL
//! loader, template rendering, GraphQL-over-HTTP request parsing and the
//! cost analysis. Inputs are seeds from `tests/fuzz/corpus/` (and the
//! schemas the project ships) mutated at random (and, for the cost analysis, documents generated from a grammar).
//!
//! In the suite each target runs a few hundred cases; `scripts/fuzz.sh` runs
//! them for a bounded time with many more. A failing case is shrunk and kept
//! by proptest in `tests/proptest-regressions/fuzz.txt`, which is committed
//! and replayed first on every run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value};
use tributary::Gateway;
use tributary::config::{self, FieldSource, TypeDef};
use tributary::gateway::GraphqlRequest;
use tributary::http::request::{from_body, from_query_string};

/// Counts cases in a long run (`FUZZ_CASES` set, as `scripts/fuzz.sh`
/// does) and prints the count every 1,000, so a run cut by its time limit
/// still says how far it got.
fn tick() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CASES: AtomicU64 = AtomicU64::new(0);
    static LONG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *LONG.get_or_init(|| std::env::var_os("FUZZ_CASES").is_some()) {
        let n = CASES.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(1_000) {
            eprintln!("fuzz: {n} cases");
        }
    }
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    // The suite runs a fixed sequence of cases, so that it passes or fails
    // the same way every time; `scripts/fuzz.sh` (FUZZ_CASES set) explores
    // fresh ones on every run.
    let rng_seed = if std::env::var_os("FUZZ_CASES").is_some() {
        proptest::test_runner::RngSeed::Random
    } else {
        proptest::test_runner::RngSeed::Fixed(0x7269_6275_7461_7279)
    };
    ProptestConfig {
        cases,
        rng_seed,
        max_shrink_iters: 2_000,
        // Tests run from the package root.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/fuzz.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(kind);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("seed reads"))
        .collect();
    if kind == "sdl" {
        // Every schema the project ships is a seed too.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for shipped in ["schema/demo.graphql", "deploy/schema/compose.graphql"] {
            seeds.push(std::fs::read(root.join(shipped)).expect("shipped schema reads"));
        }
    }
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Tokens worth splicing into GraphQL, SDL, JSON and templates.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "\"",
    "\"\"\"",
    "...",
    "@",
    "$",
    "#",
    "\\",
    "\n",
    "\0",
    "@rest(",
    "@listSize(assumedSize: ",
    "@server(",
    "@upstream(",
    "@onError(use: ",
    "{$args.",
    "{$parent.",
    "{$header.",
    "${",
    ":-",
    "}",
    "fragment F on Post { ...F }",
    "__typename",
    "__schema",
    "query",
    "mutation",
    "on",
    "-1",
    "0",
    "18446744073709551616",
    "1e309",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "%2F",
    "..",
    "/",
    "?",
    "&",
    "=",
    "\r\n",
    "null",
    "true",
    "{\"query\":",
    "\"variables\":",
    "[[[[[[[[",
    "}}}}}}}}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, usize),
    Byte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), 0usize..256).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Insert(at, t)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Byte(at, b)),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in mutations {
        let len = out.len().max(1);
        match *m {
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(out.len());
                if at < end {
                    out.drain(at..end);
                }
            }
            Mutation::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(out.len());
                if at < end {
                    let copy = out[at..end].to_vec();
                    out.splice(end..end, copy);
                }
            }
            Mutation::Insert(at, t) => {
                let at = (at % len).min(out.len());
                out.splice(at..at, TOKENS[t].bytes());
            }
            Mutation::Byte(at, b) => {
                if !out.is_empty() {
                    let at = at % out.len();
                    out[at] = b;
                }
            }
        }
    }
    out
}

fn seeded(kind: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(kind);
    (0..seeds.len(), proptest::collection::vec(mutation(), 0..12))
        .prop_map(move |(i, ms)| mutate(&seeds[i], &ms))
}

proptest! {
    #![proptest_config(cases(128))]

    /// The loader answers every SDL with a config or diagnostics, quickly;
    /// a config it accepts builds a gateway.
    #[test]
    fn sdl_loader_never_panics(sdl in seeded("sdl")) {
        tick();
        let text = String::from_utf8_lossy(&sdl);
        let started = Instant::now();
        let loaded = config::load("fuzz.graphql", &text, &|_| None);
        prop_assert!(started.elapsed() < Duration::from_secs(2));
        match loaded {
            Ok(config) => { Gateway::new(&config).map(|_| ()).map_err(TestCaseError::fail)?; }
            Err(diagnostics) => {
                let shown = diagnostics.to_string();
                prop_assert!(shown.starts_with("fuzz.graphql:"), "{}", shown);
            }
        }
    }

    /// Request parsing answers every body and query string with a request
    /// or a message.
    #[test]
    fn request_parsing_never_panics(bytes in seeded("request"), raw in any::<Vec<u8>>()) {
        tick();
        let _ = from_body(&bytes);
        let _ = from_body(&raw);
        let _ = from_query_string(&String::from_utf8_lossy(&bytes));
        let _ = from_query_string(&String::from_utf8_lossy(&raw));
    }
}

/// The binding the rendering target fills in.
const TEMPLATE_SDL: &str = r#"
schema @upstream(name: "api", url: "http://127.0.0.1:1/base") { query: Query }
type Query {
  item(id: String, q: String, h: String): Item
    @rest(upstream: "api", path: "/items/{$args.id}/v{$args.q}",
          query: { q: "{$args.q}", fixed: "1" }, headers: [{ name: "x-h", value: "{$args.h}" }])
}
type Item { id: ID }
"#;

/// Loaded once for all cases.
fn binding() -> Arc<tributary::config::RestBinding> {
    static BINDING: std::sync::OnceLock<Arc<tributary::config::RestBinding>> =
        std::sync::OnceLock::new();
    BINDING.get_or_init(load_binding).clone()
}

fn load_binding() -> Arc<tributary::config::RestBinding> {
    let config = config::load("t.graphql", TEMPLATE_SDL, &|_| None).expect("schema");
    let Some(TypeDef::Object(query)) = config.types.get("Query") else {
        panic!("Query is an object");
    };
    match &query.fields["item"].source {
        FieldSource::Rest(binding) => binding.clone(),
        other => panic!("not bound: {other:?}"),
    }
}

proptest! {
    #![proptest_config(cases(512))]

    /// Whatever the arguments, a rendered request stays on its host and
    /// its path keeps the template's shape: values never add segments,
    /// start a query or a fragment, or break a header.
    #[test]
    fn rendering_keeps_the_request_shape(
        id in any::<String>(),
        q in any::<String>(),
        h in any::<String>(),
    ) {
        tick();
        let binding = binding();
        let base = url::Url::parse("http://127.0.0.1:1/base").expect("url");
        let mut args = Map::new();
        args.insert("id".to_owned(), Value::String(id.clone()));
        args.insert("q".to_owned(), Value::String(q.clone()));
        args.insert("h".to_owned(), Value::String(h));
        let headers = http::HeaderMap::new();
        let inputs = tributary::exec::render::Inputs { args: &args, parent: &Value::Null, headers: &headers };
        match tributary::exec::render::render(&binding, &base, inputs) {
            Ok(None) => prop_assert!(id.is_empty(), "no call only for an empty segment"),
            Ok(Some(request)) => {
                prop_assert_eq!(request.url.host_str(), Some("127.0.0.1"));
                prop_assert_eq!(request.url.port(), Some(1));
                prop_assert!(request.url.fragment().is_none());
                let segments: Vec<&str> = request.url.path().split('/').collect();
                prop_assert_eq!(segments.len(), 5, "{}", request.url);
                prop_assert_eq!(segments[1], "base");
                prop_assert_eq!(segments[2], "items");
                let keys: Vec<String> = request.url.query_pairs().map(|(k, _)| k.into_owned()).collect();
                prop_assert!(keys.iter().all(|k| k == "q" || k == "fixed"), "{:?}", keys);
                let q_back: Vec<String> = request.url.query_pairs().filter(|(k, _)| k == "q").map(|(_, v)| v.into_owned()).collect();
                prop_assert_eq!(q_back, vec![q]);
            }
            Err(e) => prop_assert_eq!(e.code.as_str(), "BAD_USER_INPUT"),
        }
    }
}

/// A schema with recursion through lists, batching and interfaces.
const COST_SDL: &str = r#"
schema @server(maxCost: 5000, maxDepth: 12, maxUpstreamCalls: 50)
  @upstream(name: "api", url: "http://127.0.0.1:1") { query: Query }
type Query {
  posts(first: Int): [Post!]! @rest(upstream: "api", path: "/posts") @listSize(assumedSize: 20, slicingArguments: ["first"])
  user(id: ID!): User @rest(upstream: "api", path: "/users/{$args.id}")
  node: Node @rest(upstream: "api", path: "/node")
}
interface Node { id: ID! }
type Post implements Node { id: ID! userId: ID title: String
  user: User @rest(upstream: "api", path: "/users", query: { id: "{$parent.userId}" }, batch: { key: "id", maxSize: 10 }) }
type User implements Node { id: ID! name: String posts: [Post!] @rest(upstream: "api", path: "/posts") }
"#;

const FIELDS: &[&str] = &[
    "posts",
    "user",
    "node",
    "id",
    "title",
    "name",
    "userId",
    "__typename",
];

/// A selection set from a small grammar: fields (some aliased, some with
/// arguments), inline fragments and spreads of fragments F0..F4.
fn selection(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        (0..FIELDS.len()).prop_map(|i| FIELDS[i].to_owned()),
        (0..5u8).prop_map(|i| format!("...F{i}")),
        (0..FIELDS.len(), 0..100u32).prop_map(|(i, a)| format!("a{a}: {}", FIELDS[i])),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        2 => ((0..3usize), proptest::collection::vec(selection(depth - 1), 1..5))
            .prop_map(|(f, inner)| {
                let field = ["posts(first: 3)", "user(id: \"1\")", "posts"][f];
                format!("{field} {{ {} }}", inner.join(" "))
            }),
        1 => proptest::collection::vec(selection(depth - 1), 1..4)
            .prop_map(|inner| format!("... on User {{ {} }}", inner.join(" "))),
    ]
    .boxed()
}

fn document() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(selection(4), 1..6),
        proptest::collection::vec(
            (
                0..5u8,
                0..2usize,
                proptest::collection::vec(selection(3), 1..4),
            ),
            0..5,
        ),
    )
        .prop_map(|(root, fragments)| {
            let mut doc = format!("query {{ {} }}\n", root.join(" "));
            for (name, on, body) in fragments {
                let on = ["Post", "User"][on];
                doc.push_str(&format!(
                    "fragment F{name} on {on} {{ {} }}\n",
                    body.join(" ")
                ));
            }
            doc
        })
}

proptest! {
    #![proptest_config(cases(256))]

    /// The cost analysis answers every document quickly, cycles and unknown
    /// fragments included; a document it accepts is within the limits.
    #[test]
    fn cost_analysis_is_fast_and_total(doc in document(), seed in seeded("query")) {
        tick();
        static GATEWAY: std::sync::OnceLock<Gateway> = std::sync::OnceLock::new();
        let gateway = GATEWAY.get_or_init(|| {
            let config = config::load("t.graphql", COST_SDL, &|_| None).expect("schema");
            Gateway::new(&config).expect("gateway")
        });
        for query in [doc, String::from_utf8_lossy(&seed).into_owned()] {
            let request = GraphqlRequest { query, operation_name: None, variables: None };
            let started = Instant::now();
            let prepared = gateway.prepare(&request, false);
            prop_assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
            if let Ok(prepared) = prepared {
                let m = prepared.measure;
                prop_assert!(m.cost <= 5000 && m.depth <= 12 && m.upstream_calls <= 50, "{:?}", m);
            }
        }
    }
}

/// Found by `sdl_loader_never_panics`: a Redis URL that starts with
/// `redis://` but that the Redis client cannot read (a port of `5ms`) passed
/// `check`, and the gateway then failed to start. `check` refuses it now.
#[test]
fn found_by_fuzzing_a_redis_url_the_client_rejects_is_refused_by_check() {
    let sdl = r#"
schema @upstream(name: "api", url: "http://127.0.0.1:1") @cache(redis: "redis://127.0.0.1:5ms") { query: Query }
type Query { x: String @rest(upstream: "api", path: "/x") }
"#;
    let err = config::load("t.graphql", sdl, &|_| None).expect_err("refused");
    assert!(
        err.to_string()
            .contains("is not a Redis URL the client accepts"),
        "{err}"
    );
    let fine = sdl.replace("5ms", "6379");
    let config = config::load("t.graphql", &fine, &|_| None).expect("a good URL loads");
    Gateway::new(&config).map(|_| ()).expect("and starts");
}
