//! `@cache`, which means one thing on the schema and another on a field:
//! `schema @cache(redis:, redisTimeout:, prefix:)` is the Redis tier every
//! replica shares, and `@cache(ttl:)` on a `@rest` field is that field's own
//! freshness. Each place takes only its own arguments, so a `ttl` on the
//! schema (or a `redis` on a field) is reported as unknown there.

use std::time::Duration;

use async_graphql::Positioned;
use async_graphql::parser::types::ConstDirective;

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::{RedisTier, UpstreamConfig, policy};

/// The arguments of `@cache` on the schema.
const ON_SCHEMA: [&str; 3] = ["redis", "redisTimeout", "prefix"];
/// The arguments of `@cache` on a field.
const ON_FIELD: [&str; 1] = ["ttl"];

impl Loader<'_> {
    /// `schema @cache(redis:)`: the shared tier, with a URL the Redis client
    /// itself accepts.
    pub(super) fn redis(&mut self, directive: &Positioned<ConstDirective>) -> Option<RedisTier> {
        let args = DirectiveArgs::new(directive, &ON_SCHEMA, &mut self.diags);
        let (raw, pos) = args.required_string("redis", &mut self.diags)?;
        let url = self.interpolate(raw, pos)?;
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            self.error(pos, format!("`redis: \"{raw}\"` must be a redis:// URL"));
            return None;
        }
        // The Redis client's own reading of the URL, so that a schema `check`
        // accepts is one the gateway can start with.
        if let Err(e) = redis::Client::open(url.as_str()) {
            self.error(
                pos,
                format!("`redis: \"{raw}\"` is not a Redis URL the client accepts: {e}"),
            );
            return None;
        }
        let timeout = args
            .get("redisTimeout")
            .and_then(|v| policy::duration("redisTimeout", &v.node, v.pos, &mut self.diags))
            .unwrap_or(Duration::from_millis(50));
        let prefix = args
            .string("prefix", &mut self.diags)
            .map_or_else(|| "tributary".to_owned(), |(p, _)| p.to_owned());
        Some(RedisTier {
            url,
            timeout,
            prefix,
        })
    }

    /// `@cache(ttl:)` on the `@rest` field `coordinate`, bound to `upstream`
    /// (absent when the binding names an unknown one, already reported).
    pub(super) fn cache_ttl(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        upstream: Option<&UpstreamConfig>,
    ) -> Option<Duration> {
        let args = DirectiveArgs::new(directive, &ON_FIELD, &mut self.diags);
        let ttl = args
            .get("ttl")
            .and_then(|v| policy::duration("ttl", &v.node, v.pos, &mut self.diags));
        if ttl.is_none() && args.get("ttl").is_none() {
            self.error(
                directive.pos,
                "@cache needs `ttl`, e.g. @cache(ttl: \"30s\"), or \"0s\" to bypass the cache",
            );
        }
        if ttl.is_some_and(|t| !t.is_zero()) && upstream.is_some_and(|u| u.policies.cache.is_none())
        {
            self.error(
                directive.pos,
                format!(
                    "@cache(ttl:) on `{coordinate}` needs a `cache` on its upstream (it bounds the memory)"
                ),
            );
        }
        ttl
    }
}
