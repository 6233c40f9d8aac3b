//! The placeholder scalars `tributary directives` defines for argument
//! values that are objects, durations or templates, and what each holds.

pub(super) const SCALARS: &[(&str, &str)] = &[
    (
        "tributary__Duration",
        "A duration: \"250ms\", \"2s\", \"1m\".",
    ),
    (
        "tributary__Retry",
        "{ attempts, backoff, maxBackoff, jitter, maxRetryAfter, budget }, or false.",
    ),
    (
        "tributary__Breaker",
        "{ failureRatio, minCalls, window, consecutiveFailures, openFor, halfOpenProbes, failureStatuses, graphqlErrors }, or false.",
    ),
    (
        "tributary__Hedge",
        "{ after: \"p95\" | \"40ms\", max: 1 }, or false.",
    ),
    (
        "tributary__Cache",
        "{ ttl, staleIfError, maxEntries, maxBytes, respectCacheControl }, or true/false.",
    ),
    (
        "tributary__Headers",
        "[{ name: \"...\", value: \"...\" }] or { name: \"value\" }.",
    ),
    (
        "tributary__Templates",
        "{ name: \"template\" }: values may hold {$args.x}, {$parent.x}, {$header.x}.",
    ),
    (
        "tributary__Cors",
        "{ origins: [\"https://app.example.com\", \"https://*.example.com\"], allowCredentials: false, allowHeaders: [...], exposeHeaders: [...], maxAge: \"5m\" }",
    ),
    (
        "tributary__Compression",
        "{ minBytes: 1024, encodings: [\"gzip\", \"br\", \"zstd\"], requests: true }, or false.",
    ),
    (
        "tributary__RateLimit",
        "{ rate: 100, per: \"1s\", burst: 200, shared: false }, or false.",
    ),
    (
        "tributary__ClientRateLimit",
        "{ key: \"ip\" | \"operation\" | \"header:x-api-key\", rate: 100, per: \"1s\", burst: 200, shared: false, trustedProxies: 0, maxKeys: 100000 }",
    ),
    (
        "tributary__PersistedQueries",
        "{ maxBytes: 4194304, redis: false, redisTtl: \"24h\" }, or false.",
    ),
    (
        "tributary__Subscriptions",
        "{ maxConnections: 10000, maxPerConnection: 100, maxTotal: 50000, initTimeout: \"10s\", keepAlive: \"15s\", buffer: 16, overflow: DROP_OLDEST | CLOSE }",
    ),
    (
        "tributary__TrustedDocuments",
        "{ manifest: \"path\" or [\"path\", ...], mode: ENFORCE | LOG, allowIntrospection: false }",
    ),
    ("tributary__Json", "Any JSON value."),
    (
        "tributary__Alerts",
        "{ webhooks: [\"url\"], breaker: true, errorRate: { above: 0.2, for: \"1m\", minCalls: 10 }, latency: { p99Above: \"500ms\", for: \"5m\" }, evaluateEvery: \"10s\", maxPerMinute: 10, retries: 3 }",
    ),
    (
        "tributary__Concurrency",
        "A whole number above 0, or adaptive",
    ),
    (
        "tributary__Adaptive",
        "{ min: 1, max: 256, initial: 10 }, or false",
    ),
    (
        "tributary__EntityBatch",
        "{ window: \"1ms\", maxSize: 100 }, or false",
    ),
    (
        "tributary__Batch",
        "{ key: \"path\", maxSize: 100, join: \",\", window: \"1ms\" }",
    ),
];
