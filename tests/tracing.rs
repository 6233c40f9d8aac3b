//! Traces, as an OpenTelemetry backend (Jaeger) receives them.
//!
//! The test starts its own OTLP/HTTP receiver (`POST /v1/traces`, protobuf
//! decoded with opentelemetry-proto), runs the `tributary` binary as a
//! separate process (OpenTelemetry's global state is per process) pointed at
//! it by the standard `OTEL_*` variables, sends a query with a client
//! `traceparent`, stops the process with SIGTERM (shutdown flushes the
//! spans) and looks at the span tree:
//!
//! ```text
//! client span (traceparent)
//!   query ProductPage          graphql.operation (server)
//!     product.details          graphql.field, one per bound field, overlapping
//!       GET /products/{..}     http.client, one per attempt (client)
//!     product.price ...
//! ```
//!
//! Without any `OTEL_*` variable nothing is exported, yet the client's
//! `traceparent` still reaches every upstream unchanged.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use prost::Message;
use serde_json::{Value, json};
use tributary::demo::Fault;

const BIN: &str = env!("CARGO_BIN_EXE_tributary");
/// The W3C example ids: the client's trace and the client's own span.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// The demo's product page: five bound children of `product`, at once.
const PRODUCT_PAGE: &str = r#"query ProductPage {
  product(id: "42") {
    id
    details { name }
    price { amount }
    stock { inStock }
    recommendations { productId }
    shipping { carrier }
  }
}"#;

/// Each bound field of the product page: its upstream and path template.
const PRODUCT_FIELDS: [(&str, &str, &str); 5] = [
    ("product.details", "catalogue", "/products/{$parent.id}"),
    ("product.price", "pricing", "/prices/{$parent.id}"),
    ("product.stock", "inventory", "/stock/{$parent.id}"),
    (
        "product.recommendations",
        "recommendations",
        "/products/{$parent.id}/recommendations",
    ),
    ("product.shipping", "shipping", "/estimates/{$parent.id}"),
];

/// OTLP span kinds.
const KIND_INTERNAL: i32 = 1;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;
/// OTLP status codes.
const STATUS_UNSET: i32 = 0;
const STATUS_ERROR: i32 = 2;

// ---------------------------------------------------------------------------
// An OTLP/HTTP receiver.

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct ExportedSpan {
    service: Option<String>,
    name: String,
    kind: i32,
    /// 0 unset, 1 ok, 2 error.
    status: i32,
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent: String,
    start: u64,
    end: u64,
    attributes: BTreeMap<String, Value>,
}

impl ExportedSpan {
    fn str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }

    fn is_operation(&self) -> bool {
        self.attributes.contains_key("graphql.operation.type")
    }

    fn is_field(&self) -> bool {
        self.attributes.contains_key("graphql.field.path")
    }

    fn is_attempt(&self) -> bool {
        self.attributes.contains_key("tributary.attempt")
    }
}

type Store = Arc<Mutex<Vec<ExportedSpan>>>;

struct Receiver {
    url: String,
    spans: Store,
    /// Export requests that could not be decoded.
    rejected: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let spans = Store::default();
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(collect))
            .with_state((spans.clone(), rejected.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the receiver binds");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Receiver {
            url,
            spans,
            rejected,
            _stop: stop,
        }
    }

    /// The variables an operator sets to export to this receiver.
    fn otel_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.url.clone()),
            ("OTEL_SERVICE_NAME", "tributary-test".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
    }

    fn spans(&self) -> Vec<ExportedSpan> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for the spans received so far.
    async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let started = Instant::now();
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no {what} within 10 s; received:\n{}\nrejected: {:?}",
                tree(&spans),
                self.rejected.lock().unwrap_or_else(PoisonError::into_inner)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn collect(
    State((store, rejected)): State<(Store, Arc<Mutex<Vec<String>>>)>,
    body: Bytes,
) -> Response {
    let request = match ExportTraceServiceRequest::decode(body.as_ref()) {
        Ok(request) => request,
        Err(e) => {
            rejected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(e.to_string());
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| value(kv.value.as_ref()).as_str().map(str::to_owned))
        });
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ExportedSpan {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    status: span.status.as_ref().map_or(0, |s| s.code),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), value(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    store
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(received);
    // An empty ExportTraceServiceResponse: everything accepted.
    (
        [(http::header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

fn value(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        other => Value::String(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans as an indented tree (roots: spans whose parent was not
/// exported), for failure messages and `--nocapture` runs.
fn tree(spans: &[ExportedSpan]) -> String {
    fn walk(spans: &[ExportedSpan], span: &ExportedSpan, depth: usize, out: &mut String) {
        let ms = span.end.saturating_sub(span.start) as f64 / 1e6;
        out.push_str(&format!(
            "{}{} [kind {} status {}] trace={} span={} parent={} {ms:.1} ms {:?}\n",
            "  ".repeat(depth),
            span.name,
            span.kind,
            span.status,
            &span.trace_id,
            span.span_id,
            if span.parent.is_empty() {
                "-"
            } else {
                &span.parent
            },
            span.attributes
        ));
        let mut children: Vec<&ExportedSpan> =
            spans.iter().filter(|s| s.parent == span.span_id).collect();
        children.sort_by_key(|s| s.start);
        for child in children {
            walk(spans, child, depth + 1, out);
        }
    }
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut out = String::new();
    let mut roots: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| !ids.contains(s.parent.as_str()))
        .collect();
    roots.sort_by_key(|s| s.start);
    for root in roots {
        walk(spans, root, 0, &mut out);
    }
    if out.is_empty() {
        out.push_str("(no spans)\n");
    }
    out
}

/// Every span belongs to the client's trace and hangs from the client's span
/// or from another exported span: Jaeger shows one tree, no orphans.
fn assert_one_tree_under_the_client(spans: &[ExportedSpan]) {
    let shown = tree(spans);
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for span in spans {
        assert_eq!(
            span.trace_id, CLIENT_TRACE,
            "`{}` is not in the client's trace:\n{shown}",
            span.name
        );
        assert!(
            span.parent == CLIENT_SPAN || ids.contains(span.parent.as_str()),
            "`{}` has a parent ({}) that was never exported:\n{shown}",
            span.name,
            span.parent
        );
    }
}

/// The `(trace id, span id)` of a `traceparent` header value.
fn parse_traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "not a traceparent: {value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!(parts[1].len(), 32, "{value}");
    assert_eq!(parts[2].len(), 16, "{value}");
    (parts[1].to_owned(), parts[2].to_owned())
}

// ---------------------------------------------------------------------------
// The gateway as a process.

struct Gateway {
    process: support::Process,
    url: String,
}

impl Gateway {
    /// Starts `tributary ARGS` with `env` (and no inherited `OTEL_*` or
    /// `TRIBUTARY_*` variable) and waits for its listening line.
    async fn start(args: &[&str], env: &[(&'static str, String)]) -> Gateway {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "warn")
            .env("NO_PROXY", "127.0.0.1,localhost");
        for (name, _) in std::env::vars() {
            if name.starts_with("OTEL_") || name.starts_with("TRIBUTARY_") {
                command.env_remove(name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut process = support::Process::spawn(command, "tracing");
        // Waiting blocks a thread: not the runtime's, which runs the receiver.
        let (process, url) = tokio::task::spawn_blocking(move || {
            let url = process.listening_url();
            (process, url)
        })
        .await
        .expect("the waiting thread does not panic");
        Gateway { process, url }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// POSTs `query` with `headers`; returns the JSON body (status 200).
    async fn query(&self, query: &str, headers: &[(&str, &str)]) -> Value {
        tributary::init_tls();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client builds");
        let mut request = client
            .post(format!("{}/graphql", self.url))
            .header("content-type", "application/json")
            .body(json!({ "query": query }).to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("tributary answers");
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.expect("body reads");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// SIGTERM, then waits (without blocking the receiver) for the exit.
    async fn terminate(self) -> ExitStatus {
        self.process.terminate_async().await
    }
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_product_page_is_one_trace_under_the_clients_span() {
    let receiver = Receiver::start().await;
    let gateway = Gateway::start(&["demo", "--listen", "127.0.0.1:0"], &receiver.otel_env()).await;

    let traceparent = client_traceparent();
    let body = gateway
        .query(
            PRODUCT_PAGE,
            &[("traceparent", &traceparent), ("tributary-timeline", "1")],
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["product"]["details"]["name"], "Product 42");
    // The timeline names the trace to look up in Jaeger: the client's.
    assert_eq!(body["extensions"]["timeline"]["traceId"], CLIENT_TRACE);

    // Shutdown flushes: no waiting for the batch schedule.
    let log = gateway.log();
    let status = gateway.terminate().await;
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{log}");
    let spans = receiver
        .wait_for("operation span", |spans| {
            spans.iter().any(|s| s.is_operation())
        })
        .await;
    let shown = tree(&spans);
    println!("{shown}");

    for span in &spans {
        assert_eq!(
            span.service.as_deref(),
            Some("tributary-test"),
            "OTEL_SERVICE_NAME names the service:\n{shown}"
        );
    }
    assert_one_tree_under_the_client(&spans);

    // One operation span, a server span under the client's span.
    let operations: Vec<&ExportedSpan> = spans.iter().filter(|s| s.is_operation()).collect();
    assert_eq!(operations.len(), 1, "{shown}");
    let operation = operations[0];
    assert_eq!(operation.name, "query ProductPage", "{shown}");
    assert_eq!(operation.kind, KIND_SERVER, "{shown}");
    assert_eq!(operation.trace_id, CLIENT_TRACE);
    assert_eq!(operation.parent, CLIENT_SPAN, "{shown}");
    assert_eq!(operation.str("graphql.operation.name"), Some("ProductPage"));
    assert_eq!(operation.str("graphql.operation.type"), Some("query"));
    let hash = operation.str("tributary.document.hash").unwrap_or_default();
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "a short document hash, not the document: {hash:?}"
    );

    // Five field spans, children of the operation span.
    let fields: Vec<&ExportedSpan> = spans.iter().filter(|s| s.is_field()).collect();
    let paths: BTreeSet<&str> = fields
        .iter()
        .filter_map(|s| s.str("graphql.field.path"))
        .collect();
    let expected: BTreeSet<&str> = PRODUCT_FIELDS.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(paths, expected, "{shown}");
    assert_eq!(fields.len(), 5, "{shown}");
    for field in &fields {
        assert_eq!(field.parent, operation.span_id, "{shown}");
        assert_eq!(field.kind, KIND_INTERNAL, "{shown}");
    }

    // Under each field, its one attempt, following the HTTP client semconv.
    for (path, upstream, template) in PRODUCT_FIELDS {
        let field = fields
            .iter()
            .find(|s| s.str("graphql.field.path") == Some(path))
            .expect("every path has its span");
        assert_eq!(field.str("tributary.upstream"), Some(upstream), "{shown}");
        assert_eq!(field.str("tributary.cache"), Some("bypass"), "{shown}");
        let attempts: Vec<&ExportedSpan> =
            spans.iter().filter(|s| s.parent == field.span_id).collect();
        assert_eq!(attempts.len(), 1, "{path}: one attempt\n{shown}");
        let attempt = attempts[0];
        assert!(attempt.is_attempt(), "{shown}");
        assert_eq!(attempt.name, format!("GET {template}"));
        assert_eq!(attempt.kind, KIND_CLIENT, "{shown}");
        assert_eq!(attempt.str("http.request.method"), Some("GET"));
        assert_eq!(attempt.str("url.template"), Some(template));
        assert_eq!(attempt.str("server.address"), Some("127.0.0.1"));
        assert!(attempt.int("server.port").is_some_and(|p| p > 0), "{shown}");
        assert_eq!(attempt.int("http.response.status_code"), Some(200));
        assert_eq!(attempt.str("error.type"), None, "{shown}");
        assert_eq!(attempt.status, STATUS_UNSET, "{shown}");
        assert_eq!(attempt.str("tributary.upstream"), Some(upstream));
        assert_eq!(attempt.int("tributary.attempt"), Some(1));
        assert_eq!(attempt.str("tributary.breaker.state"), Some("closed"));
        assert!(
            field.start <= attempt.start && attempt.end <= field.end,
            "{path}: the attempt lies within its field\n{shown}"
        );
        // The demo's upstreams answer after 65 ms or more.
        assert!(
            attempt.end - attempt.start >= 50_000_000,
            "{path}: the attempt spans the upstream's latency\n{shown}"
        );
    }

    // Concurrent calls overlap: every field starts before any one ends.
    let latest_start = fields.iter().map(|s| s.start).max().expect("five fields");
    let earliest_end = fields.iter().map(|s| s.end).min().expect("five fields");
    assert!(
        latest_start < earliest_end,
        "the five field spans do not all overlap (latest start {latest_start}, \
         earliest end {earliest_end}):\n{shown}"
    );
    assert!(
        operation.start <= fields.iter().map(|s| s.start).min().unwrap_or_default()
            && fields.iter().map(|s| s.end).max().unwrap_or_default() <= operation.end,
        "the operation span covers its fields:\n{shown}"
    );
}

/// `GET /products/{id}` and `GET /prices/{id}` for the `serve` tests.
fn products() -> Router {
    Router::new().route(
        "/products/{id}",
        get(|Path(id): Path<String>| async move {
            axum::Json(json!({ "id": id, "name": format!("Product {id}") }))
        }),
    )
}

fn prices() -> Router {
    Router::new().route(
        "/prices/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(json!({ "id": id, "amount": 9.5 })) }),
    )
}

const TWO_UPSTREAMS: &str = r#"
schema
  @upstream(name: "catalogue", url: "${CATALOGUE_URL}", cache: { ttl: "60s" })
  @upstream(name: "pricing", url: "${PRICING_URL}",
            retry: { attempts: 2, backoff: "10ms", maxBackoff: "10ms" }, breaker: false)
{ query: Query }

type Query { product(id: ID!): Product }

type Product {
  id: ID!
  details: Details @rest(upstream: "catalogue", path: "/products/{$parent.id}")
  price: Price @rest(upstream: "pricing", path: "/prices/{$parent.id}")
}

type Details { id: ID! name: String }
type Price { id: ID! amount: Float }
"#;

const TWO_FIELDS: &str = r#"{ product(id: "7") { details { name } price { amount } } }"#;

/// The `traceparent` each request to `mock` carried.
fn traceparents(mock: &tributary::demo::MockService) -> Vec<String> {
    mock.state
        .hits()
        .iter()
        .map(|hit| {
            hit.headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{} got no traceparent: {:?}", mock.name, hit.headers))
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_export_each_attempt_sends_its_own_span_in_the_clients_trace() {
    let catalogue = support::mock("catalogue", 20, products()).await;
    let pricing = support::mock("pricing", 20, prices()).await;
    // The first price request fails with 503; the retry succeeds.
    pricing.state.push_faults([Fault::Status(503)]);
    let dir = support::fresh_dir("tracing-serve");
    let schema = dir.join("two.graphql");
    std::fs::write(&schema, TWO_UPSTREAMS).expect("schema is written");

    let receiver = Receiver::start().await;
    let mut env = receiver.otel_env();
    env.push(("CATALOGUE_URL", catalogue.url()));
    env.push(("PRICING_URL", pricing.url()));
    let schema_path = schema.to_str().expect("UTF-8 temp path");
    let gateway = Gateway::start(&["serve", schema_path, "--listen", "127.0.0.1:0"], &env).await;

    let traceparent = client_traceparent();
    let body = gateway
        .query(TWO_FIELDS, &[("traceparent", &traceparent)])
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["product"]["price"]["amount"], 9.5);
    // Again, from another client span: the catalogue answer is now cached,
    // and pricing answers 200 with a body that is not JSON (not retried).
    pricing.state.push_faults([Fault::MalformedJson]);
    let second_span = "1111111111111111";
    let second = format!("00-{CLIENT_TRACE}-{second_span}-01");
    let body = gateway.query(TWO_FIELDS, &[("traceparent", &second)]).await;
    assert_eq!(body["data"]["product"]["details"]["name"], "Product 7");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UPSTREAM_BAD_RESPONSE",
        "{body}"
    );

    let log = gateway.log();
    let status = gateway.terminate().await;
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{log}");
    let spans = receiver
        .wait_for("two operation spans", |spans| {
            spans.iter().filter(|s| s.is_operation()).count() == 2
        })
        .await;
    let shown = tree(&spans);
    println!("{shown}");
    // Both operations are children of their client spans; nothing is orphaned
    // (the cached upstream's call runs as its own task: it must keep its parent).
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for span in &spans {
        assert_eq!(span.trace_id, CLIENT_TRACE, "`{}`:\n{shown}", span.name);
        assert!(
            [CLIENT_SPAN, second_span].contains(&span.parent.as_str())
                || ids.contains(span.parent.as_str()),
            "`{}` has a parent that was never exported:\n{shown}",
            span.name
        );
    }
    let operation_of = |client_span: &str| {
        spans
            .iter()
            .find(|s| s.is_operation() && s.parent == client_span)
            .unwrap_or_else(|| panic!("no operation under {client_span}:\n{shown}"))
    };
    let field_of = |operation: &ExportedSpan, path: &str| {
        spans
            .iter()
            .find(|s| s.parent == operation.span_id && s.str("graphql.field.path") == Some(path))
            .unwrap_or_else(|| panic!("no {path} under {}:\n{shown}", operation.span_id))
            .clone()
    };
    let attempts_of = |field: &ExportedSpan| {
        let mut attempts: Vec<ExportedSpan> = spans
            .iter()
            .filter(|s| s.parent == field.span_id)
            .cloned()
            .collect();
        attempts.sort_by_key(|s| s.int("tributary.attempt"));
        attempts
    };

    // First request: the catalogue call (a cache miss) and two price attempts.
    let first = operation_of(CLIENT_SPAN);
    assert_eq!(first.name, "query");
    assert_eq!(
        first.str("graphql.operation.name"),
        None,
        "an anonymous operation has no name attribute, not an empty one"
    );
    let details = field_of(first, "product.details");
    assert_eq!(details.str("tributary.cache"), Some("miss"), "{shown}");
    let details_attempts = attempts_of(&details);
    assert_eq!(details_attempts.len(), 1, "{shown}");
    let price = field_of(first, "product.price");
    assert_eq!(price.str("tributary.cache"), Some("bypass"), "{shown}");
    let price_attempts = attempts_of(&price);
    assert_eq!(
        price_attempts.len(),
        2,
        "one failed try and its retry:\n{shown}"
    );
    let (failed, retried) = (&price_attempts[0], &price_attempts[1]);
    assert_eq!(failed.int("tributary.attempt"), Some(1));
    assert_eq!(failed.int("http.response.status_code"), Some(503));
    assert_eq!(failed.str("error.type"), Some("503"), "{shown}");
    assert_eq!(failed.status, STATUS_ERROR, "Jaeger flags the failed try");
    assert_eq!(retried.int("tributary.attempt"), Some(2));
    assert_eq!(retried.int("http.response.status_code"), Some(200));
    assert_eq!(retried.str("error.type"), None);
    assert_eq!(retried.status, STATUS_UNSET);
    assert!(failed.end <= retried.start, "the retry follows the failure");

    // Each upstream request carried the client's trace id and the span id of
    // the attempt that sent it: Jaeger links the upstream's spans under it.
    let sent = traceparents(&catalogue);
    assert_eq!(
        sent.len(),
        1,
        "the second request was a cache hit: {sent:?}"
    );
    assert_eq!(
        parse_traceparent(&sent[0]),
        (CLIENT_TRACE.to_owned(), details_attempts[0].span_id.clone())
    );
    assert!(sent[0].ends_with("-01"), "sampled: {}", sent[0]);
    let sent = traceparents(&pricing);
    assert_eq!(
        sent.len(),
        3,
        "503, retry, then the second request: {sent:?}"
    );
    for (header, attempt) in sent.iter().zip([failed, retried]) {
        let (trace, span) = parse_traceparent(header);
        assert_eq!(trace, CLIENT_TRACE);
        assert_ne!(
            span, CLIENT_SPAN,
            "the gateway's own span, not the client's"
        );
        assert_eq!(span, attempt.span_id, "{header}:\n{shown}");
    }

    // Second request: the catalogue answer came from the cache, no attempt.
    let again = operation_of(second_span);
    let cached = field_of(again, "product.details");
    assert_eq!(cached.str("tributary.cache"), Some("hit"), "{shown}");
    assert!(attempts_of(&cached).is_empty(), "{shown}");
    let (_, span) = parse_traceparent(&sent[2]);
    let price_again = field_of(again, "product.price");
    let bad = &attempts_of(&price_again)[0];
    assert_eq!(bad.span_id, span);
    assert_eq!(bad.int("http.response.status_code"), Some(200));
    assert_eq!(bad.str("error.type"), Some("bad_response"), "{shown}");
    assert_eq!(
        bad.status, STATUS_ERROR,
        "a 200 that cannot be used is an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampler_that_keeps_nothing_exports_nothing() {
    let receiver = Receiver::start().await;
    let mut env = receiver.otel_env();
    env.push(("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()));
    env.push(("OTEL_TRACES_SAMPLER_ARG", "0".to_owned()));
    let gateway = Gateway::start(&["demo", "--listen", "127.0.0.1:0"], &env).await;
    // No client traceparent: the gateway's own sampler decides.
    let body = gateway.query(PRODUCT_PAGE, &[]).await;
    assert!(body.get("errors").is_none(), "{body}");
    let status = gateway.terminate().await;
    assert_eq!(status.code(), Some(0));
    // Shutdown has flushed whatever there was.
    assert!(receiver.spans().is_empty(), "{}", tree(&receiver.spans()));
}

#[tokio::test]
async fn without_otel_variables_the_clients_traceparent_reaches_the_upstream_unchanged() {
    // This test process never initialises OpenTelemetry: nothing is exported.
    assert!(!tributary::telemetry::otel::enabled());
    let catalogue = support::mock("catalogue", 0, products()).await;
    let pricing = support::mock("pricing", 0, prices()).await;
    let gw = support::gateway(TWO_UPSTREAMS, &[&catalogue, &pricing], &[]).await;

    let traceparent = client_traceparent();
    let (status, body) = gw
        .post(
            json!({ "query": TWO_FIELDS }),
            &[
                ("traceparent", &traceparent),
                ("tracestate", "vendor=opaque"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    for mock in [&catalogue, &pricing] {
        let hits = mock.state.hits();
        assert_eq!(hits.len(), 1, "{}", mock.name);
        let header = |name: &str| {
            hits[0]
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header("traceparent"),
            Some(traceparent.clone()),
            "{}",
            mock.name
        );
        assert_eq!(header("tracestate").as_deref(), Some("vendor=opaque"));
    }

    // A client without a trace gets none invented for it.
    catalogue.state.reset();
    let (status, body) = gw
        .query(r#"{ product(id: "8") { details { name } } }"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let hits = catalogue.state.hits();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].headers.get("traceparent").is_none());
}
