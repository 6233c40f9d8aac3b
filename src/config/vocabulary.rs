//! Tributary's own directives: one table that names every directive, where it
//! goes and the arguments it takes. The loader takes each directive's known
//! arguments from it, and `tributary directives` prints it as SDL
//! `directive` definitions, so editors can complete and check a schema file.

use std::fmt::Write as _;

/// One argument of a directive.
pub struct Arg {
    pub name: &'static str,
    /// Its type in the printed definitions (the `tributary__*` scalars stand
    /// for values that are objects or `false`, durations and templates).
    pub ty: &'static str,
    pub description: &'static str,
}

/// One directive.
pub struct Directive {
    pub name: &'static str,
    pub locations: &'static str,
    pub description: &'static str,
    pub args: &'static [Arg],
}

const fn arg(name: &'static str, ty: &'static str, description: &'static str) -> Arg {
    Arg {
        name,
        ty,
        description,
    }
}

/// The guard and cache policies, on `@upstream` and `@upstreamDefaults`.
pub const POLICY: &[Arg] = &[
    arg(
        "timeout",
        "tributary__Duration",
        "Ceiling for the whole call, retries and backoff included (10s).",
    ),
    arg(
        "connectTimeout",
        "tributary__Duration",
        "Ceiling for opening a connection (2s).",
    ),
    arg(
        "readTimeout",
        "tributary__Duration",
        "Longest wait for the next bytes of a response (5s).",
    ),
    arg(
        "attemptTimeout",
        "tributary__Duration",
        "Ceiling for one attempt; a timed-out attempt may be retried.",
    ),
    arg(
        "retry",
        "tributary__Retry",
        "{ attempts, backoff, maxBackoff, jitter, maxRetryAfter, budget }, or false.",
    ),
    arg(
        "breaker",
        "tributary__Breaker",
        "{ failureRatio, minCalls, window, consecutiveFailures, openFor, halfOpenProbes, failureStatuses, graphqlErrors }, or false.",
    ),
    arg(
        "maxConcurrent",
        "tributary__Concurrency",
        "Most calls in flight to the upstream (256), or adaptive: a limit that follows the upstream's latency.",
    ),
    arg(
        "adaptive",
        "tributary__Adaptive",
        "{ min: 1, max: 256, initial: 10 }, or false: an adaptive concurrency limit within these bounds (none).",
    ),
    arg(
        "queueTimeout",
        "tributary__Duration",
        "How long a call waits for a place under maxConcurrent (20ms).",
    ),
    arg(
        "hedge",
        "tributary__Hedge",
        "{ after: \"p95\" | \"40ms\", max: 1 }, or false: another copy of an idempotent call that has not answered after `after` (the upstream's recent percentile or a duration); the first answer wins (none).",
    ),
    arg(
        "entityBatch",
        "tributary__EntityBatch",
        "{ window: \"1ms\", maxSize: 100 }, or false: a subgraph's _entities fetches from concurrent requests go in one call (none).",
    ),
    arg(
        "cache",
        "tributary__Cache",
        "{ ttl, staleIfError, maxEntries, maxBytes, respectCacheControl }, or true/false.",
    ),
    arg(
        "dedupe",
        "Boolean",
        "Identical in-flight safe requests from concurrent client requests share one call.",
    ),
    arg(
        "rateLimit",
        "tributary__RateLimit",
        "{ rate, per, burst, shared }, or false: calls to the upstream per `per` across all requests (none).",
    ),
];

/// `@upstream`'s own arguments (its policies are [`POLICY`]).
const UPSTREAM: &[Arg] = &[
    arg("name", "String!", "The name bindings use."),
    arg(
        "url",
        "String!",
        "Base URL; ${ENV} and ${ENV:-default} are read from the environment.",
    ),
    arg("http2", "Boolean", "Speak HTTP/2 without TLS (h2c)."),
    arg(
        "graphql",
        "Boolean",
        "A GraphQL endpoint: the URL is the endpoint; fields bind to it with @graphql.",
    ),
    arg(
        "privateErrors",
        "Boolean",
        "The upstream's GraphQL error messages are not shown to clients (they are logged).",
    ),
    arg(
        "headers",
        "tributary__Headers",
        "Sent on every call: [{ name, value }] or { name: value }.",
    ),
    arg(
        "forwardHeaders",
        "[String!]",
        "Inbound headers forwarded on every call and readable as {$header.NAME}.",
    ),
    arg(
        "maxResponseBytes",
        "Int",
        "Largest accepted response body (16 MiB).",
    ),
    arg(
        "poolMaxIdle",
        "Int",
        "Idle keep-alive connections kept (64).",
    ),
];

const SERVER: &[Arg] = &[
    arg("maxBodyBytes", "Int", "Largest request body (1 MiB)."),
    arg("maxDepth", "Int", "Deepest selection nesting (32)."),
    arg(
        "maxCost",
        "Int",
        "Largest operation cost: each field 1, times the size of every list around it (50000).",
    ),
    arg("maxComplexity", "Int", "The older name of maxCost."),
    arg(
        "defaultListSize",
        "Int",
        "List size assumed without @listSize or a slicing argument (10).",
    ),
    arg(
        "maxUpstreamCalls",
        "Int",
        "Most upstream calls one operation may plan and make (200).",
    ),
    arg(
        "maxAliases",
        "Int",
        "Most aliased fields in a document (1000).",
    ),
    arg(
        "maxRootFields",
        "Int",
        "Most fields in the root selection set (100).",
    ),
    arg(
        "maxRequestTime",
        "tributary__Duration",
        "Longest one request may execute (15s).",
    ),
    arg(
        "requestTimeout",
        "tributary__Duration",
        "The request's deadline: every call gets at most what remains of it, so a dependent stage that starts late gets only the rest (none).",
    ),
    arg(
        "deadlineHeader",
        "String",
        "A header (milliseconds) with which a client may shorten the deadline, and in which every upstream call is sent what remains (none).",
    ),
    arg(
        "maxResponseBytes",
        "Int",
        "Largest response body sent to a client (16 MiB).",
    ),
    arg(
        "documentCacheBytes",
        "Int",
        "Bytes of parsed, validated documents kept (32 MiB).",
    ),
    arg(
        "introspection",
        "Boolean",
        "Answer __schema and __type (true).",
    ),
    arg("graphiql", "Boolean", "Serve GraphiQL on / (true)."),
    arg(
        "timeline",
        "Boolean",
        "Let clients ask for extensions.timeline (false).",
    ),
    arg(
        "headerReadTimeout",
        "tributary__Duration",
        "A request head must arrive within this (10s).",
    ),
    arg(
        "bodyReadTimeout",
        "tributary__Duration",
        "A request body must arrive within this (10s).",
    ),
    arg(
        "idleTimeout",
        "tributary__Duration",
        "A connection idle this long is closed (60s).",
    ),
    arg(
        "maxConnections",
        "Int",
        "Most connections at once (the open-file limit minus 256).",
    ),
    arg(
        "connectionWait",
        "tributary__Duration",
        "How long a connection over the cap waits before 503 (500ms).",
    ),
    arg(
        "http2MaxStreams",
        "Int",
        "Most concurrent streams per HTTP/2 connection (100).",
    ),
    arg(
        "shutdownGrace",
        "tributary__Duration",
        "How long requests may finish after SIGTERM (10s).",
    ),
    arg(
        "cors",
        "tributary__Cors",
        "{ origins, allowCredentials, allowHeaders, exposeHeaders, maxAge }: the browser origins that may call (none).",
    ),
    arg(
        "compression",
        "tributary__Compression",
        "{ minBytes, encodings, requests }, or false: responses compressed by Accept-Encoding, gzip request bodies (on, 1024 bytes).",
    ),
    arg(
        "rateLimit",
        "tributary__ClientRateLimit",
        "{ key, rate, per, burst, shared, trustedProxies, maxKeys }, or a list of them: requests per client key, 429 beyond (none).",
    ),
    arg(
        "persistedQueries",
        "tributary__PersistedQueries",
        "{ maxBytes, redis, redisTtl }, or false: automatic persisted queries (on, 4 MiB in memory).",
    ),
    arg(
        "alerts",
        "tributary__Alerts",
        "{ webhooks: [\"${ALERT_WEBHOOK_URL}\"], breaker, errorRate: { above, for, minCalls }, latency: { p99Above, for }, evaluateEvery, maxPerMinute, retries }: JSON events POSTed on breaker transitions and sustained error rate or latency per upstream (none).",
    ),
    arg(
        "subscriptions",
        "tributary__Subscriptions",
        "{ maxConnections, maxPerConnection, maxTotal, initTimeout, keepAlive, buffer, overflow: DROP_OLDEST | CLOSE }: WebSocket and SSE subscriptions (10000 connections, 100 per connection, 50000 in all, 10s, 15s, 16 events, DROP_OLDEST).",
    ),
    arg(
        "trustedDocuments",
        "tributary__TrustedDocuments",
        "{ manifest, mode: ENFORCE | LOG, allowIntrospection }: the operations clients may run (none: any).",
    ),
];

const REST: &[Arg] = &[
    arg(
        "upstream",
        "String!",
        "The @upstream that serves the field.",
    ),
    arg(
        "path",
        "String!",
        "Appended to the upstream's URL; {$args.x}, {$parent.x}, {$header.x} fill one segment each.",
    ),
    arg(
        "method",
        "String",
        "GET (default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS.",
    ),
    arg(
        "query",
        "tributary__Templates",
        "Query parameters: { name: \"template\" }.",
    ),
    arg(
        "headers",
        "tributary__Headers",
        "Headers to send: [{ name, value }] or { name: value }, values are templates.",
    ),
    arg(
        "body",
        "tributary__Json",
        "A JSON body whose strings are templates.",
    ),
    arg(
        "select",
        "String",
        "A dotted path into the response: its value is the field's.",
    ),
    arg(
        "forwardHeaders",
        "[String!]",
        "Inbound headers forwarded on this call.",
    ),
    arg(
        "timeout",
        "tributary__Duration",
        "The field's own ceiling, below the upstream's.",
    ),
    arg(
        "retry",
        "tributary__Retry",
        "The field's retry policy, merged over the upstream's.",
    ),
    arg(
        "idempotent",
        "Boolean",
        "Whether a call with this method may be retried.",
    ),
    arg(
        "hedge",
        "tributary__Hedge",
        "The field's own hedging, over the upstream's: { after: \"p95\" | \"40ms\", max: 1 }, or false.",
    ),
    arg(
        "batch",
        "tributary__Batch",
        "{ key, maxSize, join, window }: one call for all items of a list (with window: of every request in the window).",
    ),
    arg(
        "tripsBreaker",
        "Boolean",
        "false: this field's failures are not counted by the upstream's breaker (true).",
    ),
];

const CACHE: &[Arg] = &[
    arg(
        "ttl",
        "tributary__Duration",
        "On a field: its own freshness; \"0s\" bypasses the cache.",
    ),
    arg(
        "redis",
        "String",
        "On the schema: the Redis tier's URL (redis:// or rediss://).",
    ),
    arg(
        "redisTimeout",
        "tributary__Duration",
        "On the schema: every Redis operation's ceiling (50ms).",
    ),
    arg("prefix", "String", "On the schema: the Redis key prefix."),
];

/// Every directive of the schema language.
pub const DIRECTIVES: &[Directive] = &[
    Directive {
        name: "upstream",
        locations: "SCHEMA",
        description: "An upstream HTTP service, its client and its guards.",
        args: UPSTREAM,
    },
    Directive {
        name: "upstreamDefaults",
        locations: "SCHEMA",
        description: "Policies every @upstream starts from.",
        args: POLICY,
    },
    Directive {
        name: "server",
        locations: "SCHEMA",
        description: "Gateway-wide limits and switches.",
        args: SERVER,
    },
    Directive {
        name: "cache",
        locations: "SCHEMA | FIELD_DEFINITION",
        description: "On the schema: the shared Redis tier. On a field: its cache TTL.",
        args: CACHE,
    },
    Directive {
        name: "rest",
        locations: "FIELD_DEFINITION",
        description: "The field's value is an upstream call's response.",
        args: REST,
    },
    Directive {
        name: "graphql",
        locations: "FIELD_DEFINITION",
        description: "The field is a root field of a GraphQL upstream; the client's selection below it is forwarded.",
        args: &[
            arg(
                "upstream",
                "String!",
                "The @upstream (graphql: true) that serves the field.",
            ),
            arg(
                "field",
                "String",
                "The upstream's root field (default: this field's name).",
            ),
            arg(
                "args",
                "tributary__Json",
                "The upstream field's arguments, e.g. { id: \"{$parent.id}\" } (default: the client's arguments).",
            ),
        ],
    },
    Directive {
        name: "entity",
        locations: "FIELD_DEFINITION",
        description: "In a supergraph's overlay: the field is an entity of the supergraph (or a list of them), resolved by the subgraphs from representations its parent gives.",
        args: &[arg(
            "key",
            "tributary__Json",
            "The representation's key fields as templates, e.g. { upc: \"{$parent.productUpc}\" } (default: the parent's JSON at the field's name or @from path is the representation).",
        )],
    },
    Directive {
        name: "from",
        locations: "FIELD_DEFINITION",
        description: "The field reads this dotted path of its parent's JSON.",
        args: &[arg(
            "path",
            "String!",
            "A dotted path, e.g. \"meta.title\".",
        )],
    },
    Directive {
        name: "onError",
        locations: "FIELD_DEFINITION",
        description: "What the field becomes when it fails.",
        args: &[
            arg(
                "use",
                "tributary__OnError!",
                "FAIL, NULL, DEFAULT or STALE.",
            ),
            arg(
                "value",
                "tributary__Json",
                "The value for DEFAULT (and STALE's fallback).",
            ),
        ],
    },
    Directive {
        name: "listSize",
        locations: "FIELD_DEFINITION",
        description: "The size the cost analysis assumes for this list.",
        args: &[
            arg(
                "assumedSize",
                "Int",
                "The size when no slicing argument gives one.",
            ),
            arg(
                "slicingArguments",
                "[String!]",
                "Int arguments of the field whose value is the size.",
            ),
        ],
    },
    Directive {
        name: "poll",
        locations: "FIELD_DEFINITION",
        description: "On a subscription field: its @rest call is made again at this interval, and an answer that changed is an event (one poll for all subscribers of the same request).",
        args: &[arg(
            "every",
            "tributary__Duration!",
            "The interval, at least 100ms, e.g. \"5s\".",
        )],
    },
    Directive {
        name: "stream",
        locations: "FIELD_DEFINITION",
        description: "On a subscription field (the default there without @poll): its @rest call answers an event stream, text/event-stream or newline-delimited JSON.",
        args: &[arg(
            "idleTimeout",
            "tributary__Duration",
            "A stream silent this long (no event, no comment) is reconnected (30s).",
        )],
    },
];

/// The names of `directive`'s arguments; `@upstream` takes its own and the
/// policies.
pub fn arg_names(directive: &str) -> Vec<&'static str> {
    let own = DIRECTIVES
        .iter()
        .filter(|d| d.name == directive)
        .flat_map(|d| d.args.iter().map(|a| a.name));
    if directive == "upstream" {
        own.chain(POLICY.iter().map(|a| a.name)).collect()
    } else {
        own.collect()
    }
}

/// The names of the policy arguments (on `@upstream` and
/// `@upstreamDefaults`).
pub fn policy_names() -> Vec<&'static str> {
    POLICY.iter().map(|a| a.name).collect()
}

/// The SDL definitions of every directive and the types their arguments use.
pub fn sdl() -> String {
    let mut out = String::from(
        "# Tributary's directives, as `tributary directives` prints them. Put this file\n\
         # next to your schema for editor completion; the gateway does not need it.\n\n",
    );
    for d in DIRECTIVES {
        let _ = writeln!(out, "\"{}\"", d.description);
        let _ = writeln!(out, "directive @{}(", d.name);
        let extra: &[Arg] = if d.name == "upstream" { POLICY } else { &[] };
        for a in d.args.iter().chain(extra) {
            let _ = writeln!(out, "  \"{}\"", a.description.replace('"', "\\\""));
            let _ = writeln!(out, "  {}: {}", a.name, a.ty);
        }
        let repeatable = if d.name == "upstream" {
            " repeatable"
        } else {
            ""
        };
        let _ = writeln!(out, "){repeatable} on {}\n", d.locations);
    }
    for (name, description) in super::scalars::SCALARS {
        let _ = writeln!(
            out,
            "\"{}\"\nscalar {name}\n",
            description.replace('"', "\\\"")
        );
    }
    out.push_str(
        "\"What a failed field becomes.\"\nenum tributary__OnError { FAIL NULL DEFAULT STALE }\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_parse_as_sdl() {
        let sdl = sdl();
        let doc = async_graphql::parser::parse_schema(&sdl).expect("the printed SDL parses");
        assert_eq!(
            doc.definitions
                .iter()
                .filter(|d| matches!(
                    d,
                    async_graphql::parser::types::TypeSystemDefinition::Directive(_)
                ))
                .count(),
            DIRECTIVES.len()
        );
    }

    #[test]
    fn upstream_takes_its_own_arguments_and_the_policies() {
        let names = arg_names("upstream");
        assert!(names.contains(&"url") && names.contains(&"retry"));
        assert!(arg_names("rest").contains(&"tripsBreaker"));
        assert!(arg_names("nope").is_empty());
    }
}
