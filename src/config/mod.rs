//! The operator's SDL, read into a typed, validated configuration.
//!
//! `load` is the only entry point: it parses the SDL, reads the directives
//! (`@upstream`, `@server`, `@rest`, `@from`), resolves `${ENV}` references and
//! checks every cross-reference, returning all problems at once as
//! `file:line:col: message` diagnostics. Nothing downstream re-validates.

mod binding;
pub mod budget;
pub mod cors;
mod directives;
mod env;
mod error;
mod load;
pub mod policy;
mod scalars;
pub mod template;
pub mod vocabulary;

use std::{sync::Arc, time::Duration};

use async_graphql::parser::types::Type;
use async_graphql::{Name, Value as ConstValue};
use http::{HeaderName, HeaderValue};
use indexmap::IndexMap;
use url::Url;

pub use binding::{
    BatchConfig, BodyTemplate, EntityBinding, EntityKey, FieldSource, GraphqlBinding, Live,
    RestBinding,
};
pub use cors::{CorsSettings, HeaderList, OriginRule, Origins};
pub use env::EnvLookup;
pub use error::{Diagnostic, Diagnostics};
pub use load::{Federated, load, load_file, load_with};
pub use policy::{
    AdaptivePolicy, BreakerPolicy, CachePolicy, EntityBatchPolicy, HedgeAfter, HedgePolicy,
    OnError, Policies, RetryPolicy,
};
pub use template::{Expr, Piece, Source, Template};

/// Everything the gateway serves, as read from one SDL file.
#[derive(Debug)]
pub struct Config {
    /// Upstreams by name, in declaration order.
    pub upstreams: IndexMap<String, Arc<UpstreamConfig>>,
    pub server: ServerSettings,
    pub query_type: String,
    pub mutation_type: Option<String>,
    /// The root type of subscriptions, when the schema has one.
    pub subscription_type: Option<String>,
    /// The shared second cache tier, from `schema @cache(redis: ...)`.
    pub redis: Option<RedisTier>,
    /// Every named type of the SDL except the built-in scalars.
    pub types: IndexMap<String, TypeDef>,
    /// The supergraph's join metadata, when the schema is a supergraph.
    pub federation: Option<Arc<crate::federation::Supergraph>>,
}

impl Config {
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        match self.types.get(name) {
            Some(TypeDef::Object(object) | TypeDef::Interface(object)) => Some(object),
            _ => None,
        }
    }
}

/// `schema @cache(redis: "redis://...", redisTimeout: "50ms")`: a cache tier
/// shared by every replica, under each process's in-memory tier.
#[derive(Debug, Clone)]
pub struct RedisTier {
    pub url: String,
    /// Every Redis operation's ceiling; a slow Redis is skipped, not waited for.
    pub timeout: Duration,
    /// Key prefix, so several deployments can share one Redis.
    pub prefix: String,
}

/// Gateway-wide settings from `schema @server(...)`: what one request, one
/// connection and the whole process may cost (README, "Security and limits").
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest accepted request body; bigger bodies get 413.
    pub max_body_bytes: usize,
    /// Deepest accepted selection nesting.
    pub max_depth: usize,
    /// Largest accepted operation cost: one point per field (`__typename`
    /// and introspection included), times the size of every list around it.
    /// Also the ceiling on the objects and list items actually resolved.
    pub max_cost: u64,
    /// The size assumed for a list field without `@listSize` or a slicing
    /// argument.
    pub default_list_size: u64,
    /// Most upstream calls one operation may plan, and make.
    pub max_upstream_calls: u64,
    /// Most aliased fields in one document.
    pub max_aliases: usize,
    /// Most fields in the operation's root selection set.
    pub max_root_fields: usize,
    /// Wall-clock ceiling on one request's execution.
    pub max_request_time: Duration,
    /// `requestTimeout`: the request's deadline, carried across its
    /// dependent calls (each gets what remains); `None`: each call has only
    /// its own timeout.
    pub request_timeout: Option<Duration>,
    /// `deadlineHeader`: the header a client may shorten the deadline with
    /// (milliseconds) and in which each upstream call is told what remains.
    pub deadline_header: Option<http::HeaderName>,
    /// Largest response body sent to a client.
    pub max_response_bytes: usize,
    /// Bytes of query text kept in the cache of parsed, validated documents.
    pub document_cache_bytes: u64,
    /// Whether `__schema`/`__type` are answered.
    pub introspection: bool,
    /// Whether `GET /` serves GraphiQL.
    pub graphiql: bool,
    /// Whether a client may ask for `extensions.timeline` with the
    /// `tributary-timeline: 1` header.
    pub timeline: bool,
    /// Inbound connections: timeouts, caps, shutdown.
    pub connections: ConnectionSettings,
    /// Which browser origins may call; `None` (the default): no CORS
    /// headers, so only pages of the gateway's own origin can read answers.
    pub cors: Option<CorsSettings>,
    /// Response compression and compressed request bodies.
    pub compression: CompressionSettings,
    /// Token-bucket limits on client requests (`rateLimit`), each checked
    /// before the engine runs; empty: no limit.
    pub rate_limits: Vec<ClientRateLimit>,
    /// Automatic persisted queries; `None`: `persistedQueries: false`.
    pub persisted_queries: Option<PersistedQueriesSettings>,
    /// The trusted-documents manifest and what to do with operations not
    /// in it; `None`: any operation may run.
    pub trusted_documents: Option<TrustedDocumentsSettings>,
    /// Limits and timers of subscriptions (WebSocket and SSE).
    pub subscriptions: SubscriptionSettings,
    /// Alert webhooks; `None`: no `alerts`.
    pub alerts: Option<AlertSettings>,
}

/// `@server(alerts: {...})`: events POSTed as JSON to `webhooks` when an
/// upstream's breaker changes state, and when an error-rate or latency rule
/// has held for its `for` (and again when it stops holding).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub webhooks: Vec<url::Url>,
    /// Breaker transitions (on unless `breaker: false`).
    pub breaker: bool,
    pub error_rate: Option<ErrorRateRule>,
    pub latency: Option<LatencyRule>,
    /// How often the rules are evaluated.
    pub evaluate_every: std::time::Duration,
    /// Most events sent per minute (each webhook); more are dropped and
    /// counted.
    pub max_per_minute: u32,
    /// Deliveries retried after a failure (with backoff).
    pub retries: u32,
}

/// `errorRate: { above: 0.2, for: "1m", minCalls: 10 }`: the share of an
/// upstream's calls that failed, over the last `for`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRateRule {
    pub above: f64,
    pub for_: std::time::Duration,
    pub min_calls: u64,
}

/// `latency: { p99Above: "500ms", for: "5m" }`: an upstream's p99 (of its
/// recent calls) above the bound at every evaluation for `for`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRule {
    pub p99_above: std::time::Duration,
    pub for_: std::time::Duration,
}

/// `@server(subscriptions: {...})`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSettings {
    /// WebSocket connections at once; one more is refused with 503.
    pub max_connections: usize,
    /// Subscriptions one WebSocket connection may hold at once.
    pub max_per_connection: usize,
    /// Subscriptions the process holds at once, over every transport.
    pub max_total: usize,
    /// A WebSocket must send `connection_init` within this.
    pub init_timeout: Duration,
    /// How often the server pings an idle WebSocket (and comments an SSE
    /// stream) so proxies keep it open.
    pub keep_alive: Duration,
    /// Events kept for a subscription whose client reads slower than they
    /// come.
    pub buffer: usize,
    /// What a full buffer does.
    pub overflow: Overflow,
}

/// What happens to a subscription whose client does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The oldest buffered events are dropped (counted in
    /// `tributary_subscription_events_dropped_total`); the client gets the
    /// newest.
    DropOldest,
    /// The subscription ends with an error that says so.
    Close,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        SubscriptionSettings {
            max_connections: 10_000,
            max_per_connection: 100,
            max_total: 50_000,
            init_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            buffer: 16,
            overflow: Overflow::DropOldest,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_body_bytes: 1024 * 1024,
            max_depth: 32,
            max_cost: 50_000,
            default_list_size: 10,
            max_upstream_calls: 200,
            max_aliases: 1_000,
            max_root_fields: 100,
            max_request_time: Duration::from_secs(15),
            request_timeout: None,
            deadline_header: None,
            max_response_bytes: 16 * 1024 * 1024,
            document_cache_bytes: 32 * 1024 * 1024,
            introspection: true,
            graphiql: true,
            timeline: false,
            connections: ConnectionSettings::default(),
            cors: None,
            compression: CompressionSettings::default(),
            rate_limits: Vec::new(),
            persisted_queries: Some(PersistedQueriesSettings::default()),
            trusted_documents: None,
            subscriptions: SubscriptionSettings::default(),
            alerts: None,
        }
    }
}

/// `@server(persistedQueries: { maxBytes, redis, redisTtl })`: where the
/// documents clients registered by hash (APQ) are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedQueriesSettings {
    /// Bytes of query text kept in memory (least recently used go first).
    pub max_bytes: u64,
    /// Also keep them in the `@cache(redis:)` tier, shared by every replica.
    pub redis: bool,
    /// How long a document lives in Redis after it was registered.
    pub redis_ttl: Duration,
}

impl Default for PersistedQueriesSettings {
    fn default() -> Self {
        PersistedQueriesSettings {
            max_bytes: 4 * 1024 * 1024,
            redis: false,
            redis_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// `@server(trustedDocuments: { manifest, mode, allowIntrospection })`, and
/// `tributary serve --manifest FILE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedDocumentsSettings {
    /// Manifest files (Apollo's persisted-query manifest or GraphQL
    /// Codegen's `persisted-documents.json`), read once at start-up.
    pub manifests: Vec<std::path::PathBuf>,
    pub mode: TrustMode,
    /// Whether an operation that selects only `__schema`, `__type` and
    /// `__typename` may run without being in the manifest.
    pub allow_introspection: bool,
}

/// What happens to an operation that is not in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustMode {
    /// Refused with `PERSISTED_QUERY_NOT_IN_LIST`.
    Enforce,
    /// Run, logged and counted: for adopting a manifest gradually.
    Log,
}

impl TrustMode {
    /// `ENFORCE`/`LOG` (any case), as the schema and `--manifest-mode` write it.
    pub fn parse(text: &str) -> Option<TrustMode> {
        match text.to_ascii_uppercase().as_str() {
            "ENFORCE" => Some(TrustMode::Enforce),
            "LOG" => Some(TrustMode::Log),
            _ => None,
        }
    }
}

/// `rateLimit: { rate, per, burst, shared }`: a token bucket that holds at
/// most `burst` tokens and gains `rate` tokens every `per`; each request (or
/// upstream call) takes one.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitPolicy {
    pub rate: u32,
    pub per: Duration,
    /// What may go at once after an idle spell; `rate` unless given.
    pub burst: u32,
    /// One budget for every replica, kept in the Redis tier; else each
    /// replica counts alone, in memory.
    pub shared: bool,
}

impl RateLimitPolicy {
    /// The time one token takes to come back.
    pub fn interval(&self) -> Duration {
        self.per / self.rate.max(1)
    }

    /// The time an empty bucket takes to fill: after this long idle, a bucket
    /// is as good as new (and may be forgotten).
    pub fn refill(&self) -> Duration {
        self.interval().saturating_mul(self.burst)
    }
}

/// What a client limit counts requests by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    /// An inbound header's value (`key: "header:x-api-key"`); requests
    /// without the header share one bucket.
    Header(HeaderName),
    /// The client's IP (`key: "ip"`): with `trusted_proxies` hops in front
    /// of the gateway, the address the farthest of them saw, read from
    /// `X-Forwarded-For` right to left; without, the socket's peer.
    Ip { trusted_proxies: usize },
    /// The operation's name (`key: "operation"`); anonymous operations share
    /// one bucket.
    Operation,
}

impl ClientKey {
    /// How the limit is named in metrics and errors: `ip`, `operation`,
    /// `header:x-api-key`.
    pub fn label(&self) -> String {
        match self {
            ClientKey::Header(name) => format!("header:{name}"),
            ClientKey::Ip { .. } => "ip".to_owned(),
            ClientKey::Operation => "operation".to_owned(),
        }
    }
}

/// One `@server(rateLimit:)` limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRateLimit {
    pub key: ClientKey,
    pub bucket: RateLimitPolicy,
    /// Most keys whose buckets are kept in memory; beyond it the least
    /// recently used go (idle buckets go anyway once full again).
    pub max_keys: u64,
}

/// Keys a client limit keeps in memory unless `maxKeys` says otherwise.
pub const DEFAULT_RATE_LIMIT_KEYS: u64 = 100_000;

/// `compression: { minBytes, encodings, requests }`, or `compression: false`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressionSettings {
    /// Response encodings offered, picked by the client's `Accept-Encoding`.
    pub gzip: bool,
    pub br: bool,
    pub zstd: bool,
    /// Responses smaller than this are sent as they are: compressing them
    /// costs more CPU than the bytes it saves.
    pub min_bytes: u16,
    /// Accept request bodies with `Content-Encoding: gzip` (their
    /// decompressed size held to `maxBodyBytes`).
    pub requests: bool,
}

impl CompressionSettings {
    /// Nothing compressed either way.
    pub const OFF: CompressionSettings = CompressionSettings {
        gzip: false,
        br: false,
        zstd: false,
        min_bytes: DEFAULT_MIN_COMPRESSED_BYTES,
        requests: false,
    };

    /// Whether any response encoding is offered.
    pub fn responses(&self) -> bool {
        self.gzip || self.br || self.zstd
    }
}

/// Responses below this size are not compressed unless `minBytes` says so.
pub const DEFAULT_MIN_COMPRESSED_BYTES: u16 = 1024;

impl Default for CompressionSettings {
    fn default() -> Self {
        CompressionSettings {
            gzip: true,
            br: true,
            zstd: true,
            min_bytes: DEFAULT_MIN_COMPRESSED_BYTES,
            requests: true,
        }
    }
}

/// How inbound connections are held (`@server` arguments of the same names).
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// A request's headers must arrive within this; it also bounds how long
    /// an idle HTTP/1 keep-alive connection waits for its next request.
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this (408 beyond).
    pub body_read_timeout: Duration,
    /// An HTTP/2 connection with no open stream is closed after this.
    pub idle_timeout: Duration,
    /// Most connections open at once; `None` derives it from the process's
    /// file-descriptor limit.
    pub max_connections: Option<usize>,
    /// How long a connection over the cap waits for a free place before it
    /// is answered 503 and closed.
    pub connection_wait: Duration,
    /// Most concurrent streams on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// After SIGTERM, how long requests in flight may finish before the
    /// process stops anyway.
    pub shutdown_grace: Duration,
    /// Each request carries its connection's peer address (a
    /// [`crate::http::PeerAddr`] extension): set when a rate limit keys on
    /// the client IP, and only then, since nothing else reads it.
    pub peer_addresses: bool,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            connection_wait: Duration::from_millis(500),
            http2_max_streams: 100,
            shutdown_grace: Duration::from_secs(10),
            peer_addresses: false,
        }
    }
}

/// One `@upstream` declaration.
#[derive(Debug)]
pub struct UpstreamConfig {
    pub name: String,
    /// Base URL; binding paths are appended to its path.
    pub url: Url,
    /// Timeouts, retries, breaker, concurrency cap.
    pub policies: Policies,
    /// A GraphQL endpoint (`graphql: true`): its URL is the endpoint, and
    /// fields bind to it with `@graphql`.
    pub graphql: bool,
    /// Error messages from this upstream's GraphQL answers are private
    /// (`privateErrors: true`): clients get a generic message, the log the
    /// original.
    pub private_errors: bool,
    /// Speak HTTP/2 without TLS (h2c prior knowledge). Over TLS, HTTP/2 is
    /// negotiated with ALPN regardless.
    pub http2_only: bool,
    /// Headers sent on every call (credentials from `${ENV}`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Inbound headers that every binding of this upstream may read with
    /// `{$header.NAME}` and that are forwarded as they are.
    pub forward_headers: Vec<HeaderName>,
    /// Largest accepted response body.
    pub max_response_bytes: usize,
    /// Idle keep-alive connections kept per host.
    pub pool_max_idle: usize,
}

#[derive(Debug)]
pub enum TypeDef {
    Object(ObjectDef),
    Interface(ObjectDef),
    Union(UnionDef),
    Enum(EnumDef),
    Scalar(ScalarDef),
    Input(InputDef),
}

#[derive(Debug)]
pub struct ObjectDef {
    pub name: String,
    pub description: Option<String>,
    pub implements: Vec<String>,
    pub fields: IndexMap<String, Arc<FieldDef>>,
}

#[derive(Debug)]
pub struct UnionDef {
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

#[derive(Debug)]
pub struct EnumDef {
    pub name: String,
    pub description: Option<String>,
    pub values: Vec<EnumValueDef>,
}

#[derive(Debug)]
pub struct EnumValueDef {
    pub name: String,
    pub description: Option<String>,
    /// `@deprecated(reason:)`.
    pub deprecation: Option<String>,
}

#[derive(Debug)]
pub struct ScalarDef {
    pub name: String,
    pub description: Option<String>,
    /// `@specifiedBy(url:)`.
    pub specified_by: Option<String>,
}

#[derive(Debug)]
pub struct InputDef {
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<ArgDef>,
    /// `@oneOf`: exactly one field must be given.
    pub one_of: bool,
}

/// One output field and where its value comes from.
#[derive(Debug)]
pub struct FieldDef {
    /// `Type.field`, for messages.
    pub coordinate: String,
    /// Where the field is defined in the SDL.
    pub pos: async_graphql::Pos,
    pub name: String,
    pub description: Option<String>,
    pub ty: Type,
    pub args: Vec<ArgDef>,
    /// `@deprecated(reason:)`.
    pub deprecation: Option<String>,
    pub source: FieldSource,
    /// What the field becomes when it fails.
    pub on_error: OnError,
    /// `@listSize`: how many items the cost analysis assumes for a list.
    pub list_size: Option<ListSize>,
}

/// `@listSize(assumedSize:, slicingArguments:)` on a list field (the shape of
/// the IBM GraphQL cost directive): the size is the value of the first
/// slicing argument the operation gives, else `assumedSize`, else the
/// server's `defaultListSize`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListSize {
    pub assumed: Option<u64>,
    pub slicing: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ArgDef {
    pub name: Name,
    pub description: Option<String>,
    pub ty: Type,
    pub default: Option<ConstValue>,
    /// `@deprecated(reason:)` (arguments and input fields).
    pub deprecation: Option<String>,
}
