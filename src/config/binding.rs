//! Where a field's value comes from (`FieldSource`) and the bindings that
//! say how: `@rest`, `@graphql`, `@entity`, with their templates.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};

use super::{Expr, RetryPolicy, Template, UpstreamConfig, template};

/// How a field gets its value.
#[derive(Debug)]
pub enum FieldSource {
    /// `@rest`: an upstream call.
    Rest(Arc<RestBinding>),
    /// Read from the parent's JSON: the field's own name, or `@from(path:)`.
    Parent(Vec<String>),
    /// A root field with no binding whose type is an object: the object is
    /// made of the field's arguments.
    Arguments,
    /// A field of a supergraph: the query planner fetches it from its
    /// subgraph, and it is read from its parent's JSON by response key.
    Federated,
    /// `@graphql`: a root field of a GraphQL upstream, with the client's
    /// selection below it forwarded.
    Graphql(Arc<GraphqlBinding>),
    /// `@entity`: a supergraph entity (or a list of them) that the query
    /// planner resolves from the subgraphs, starting from representations
    /// the field's parent gives.
    Entity(Arc<EntityBinding>),
}

/// A field's `@entity` binding, fully checked.
#[derive(Debug)]
pub struct EntityBinding {
    /// The entity type: the field's named type, an object type of the
    /// supergraph with a resolvable key.
    pub typename: String,
    pub key: EntityKey,
}

/// Where an `@entity` field's representations come from.
#[derive(Debug)]
pub enum EntityKey {
    /// `key: { upc: "{$parent.productUpc}" }`: one representation, its
    /// fields rendered from the parent's JSON and the field's arguments.
    Templates(Vec<(String, BodyTemplate)>),
    /// No `key`: the parent's JSON at this path (the field's name, or its
    /// `@from`) is the representation, or a list of them.
    Parent(Vec<String>),
}

impl EntityBinding {
    /// The paths into its parent's JSON the representations are made of.
    pub fn parent_paths(&self) -> Vec<Vec<String>> {
        match &self.key {
            EntityKey::Parent(path) => vec![path.clone()],
            EntityKey::Templates(fields) => fields
                .iter()
                .flat_map(|(_, t)| t.exprs())
                .filter(|e| e.source == template::Source::Parent)
                .map(|e| e.path.clone())
                .collect(),
        }
    }
}

impl EntityKey {
    /// The representation fields the key names, when it names them (the
    /// templates' keys); `None` when they are read from the parent's JSON.
    pub fn fields(&self) -> Option<Vec<&str>> {
        match self {
            EntityKey::Templates(fields) => Some(fields.iter().map(|(k, _)| k.as_str()).collect()),
            EntityKey::Parent(_) => None,
        }
    }
}

/// A field's `@graphql` binding, fully checked.
#[derive(Debug)]
pub struct GraphqlBinding {
    pub upstream: Arc<UpstreamConfig>,
    /// The upstream's root field (the field's own name by default).
    pub field: String,
    /// The upstream field's arguments, as JSON whose strings are templates;
    /// `None`: the client's arguments, as they are.
    pub args: Option<Vec<(String, BodyTemplate)>>,
}

/// A field's `@rest` binding, fully checked.
#[derive(Debug)]
pub struct RestBinding {
    /// On a `Subscription` field: how the call becomes a stream of events.
    pub live: Option<Live>,
    pub upstream: Arc<UpstreamConfig>,
    pub method: Method,
    /// The path, one template per `/`-separated segment.
    pub path: Vec<Template>,
    /// The path as written (`/products/{$parent.id}`), for spans.
    pub path_template: String,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<BodyTemplate>,
    /// A path into the response JSON whose sub-tree is the field's value.
    pub select: Vec<String>,
    /// Inbound headers forwarded as they are (the upstream's list plus the
    /// field's own).
    pub forward_headers: Vec<HeaderName>,
    /// The field's own call ceiling, below the upstream's.
    pub timeout: Option<Duration>,
    /// The field's own retry policy, merged over the upstream's.
    pub retry: Option<RetryPolicy>,
    /// `@cache(ttl:)`: the field's own freshness; zero bypasses the cache.
    pub cache_ttl: Option<Duration>,
    /// `batch: {...}`: one call for the inputs of all parents in a list.
    pub batch: Option<BatchConfig>,
    /// Whether the call may be retried: safe and idempotent methods are, other
    /// methods only with `idempotent: true`.
    pub idempotent: bool,
    /// `tripsBreaker: false`: the field's failures follow its inputs (a bad
    /// id answered 500), so they are not counted by the upstream's breaker.
    pub trips_breaker: bool,
    /// `@rest(hedge:)`: the field's own hedging (`Some(None)`: `hedge:
    /// false`); `None` takes the upstream's.
    pub hedge: Option<Option<crate::config::HedgePolicy>>,
}

/// `@rest(batch: { key, maxSize, join, window })`: under a list, the values of
/// the one `$parent` placeholder of all items go in one request (repeated query
/// parameter, joined with `join`, or a JSON list in a body), and each item gets
/// the response element whose `key` equals its value. With `window`, the keys
/// of every request in flight during the window go together (see
/// `exec::resolve::window`).
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// The batched placeholder.
    pub input: Expr,
    /// Path to the key in each response element.
    pub key: Vec<String>,
    pub max_size: usize,
    pub join: Option<String>,
    /// How long the first key of a cross-request batch waits for others.
    pub window: Option<std::time::Duration>,
}

/// A JSON body with templates in its strings. A string that is exactly one
/// placeholder keeps the value's JSON type.
#[derive(Debug)]
pub enum BodyTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    List(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_exprs(&mut out);
        out
    }

    fn collect_exprs<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            BodyTemplate::String(t) => out.extend(t.exprs()),
            BodyTemplate::List(items) => items.iter().for_each(|i| i.collect_exprs(out)),
            BodyTemplate::Object(fields) => fields.iter().for_each(|(_, v)| v.collect_exprs(out)),
            BodyTemplate::Null | BodyTemplate::Bool(_) | BodyTemplate::Number(_) => {}
        }
    }
}

/// How a `Subscription` field's `@rest` call feeds its events.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// The upstream answers an event stream (`text/event-stream` or
    /// newline-delimited JSON); each event is one value. A stream silent
    /// for `idle_timeout` is reconnected.
    Stream { idle_timeout: Duration },
    /// `@poll(every:)`: the call is made again at this interval and its
    /// answer is an event only when it changed.
    Poll { every: Duration },
}
