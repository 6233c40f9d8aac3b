//! `schema @server(...)`: the gateway-wide limits and switches, read into
//! [`ServerSettings`]; its `cors` and `compression` objects are read in
//! `cors.rs` and `compression.rs`, its `rateLimit` in `rate_limit.rs`, `persistedQueries`
//! and `trustedDocuments` in `persisted.rs`.

use std::time::Duration;

use async_graphql::Positioned;
use async_graphql::parser::types::ConstDirective;

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::{Diagnostic, ServerSettings, policy, vocabulary};

impl Loader<'_> {
    /// Writes the arguments given over `server`'s defaults.
    pub(super) fn server(
        &mut self,
        directive: &Positioned<ConstDirective>,
        server: &mut ServerSettings,
    ) {
        let args = DirectiveArgs::new(directive, &vocabulary::arg_names("server"), &mut self.diags);
        let diags = &mut self.diags;
        // Counts, as usize or u64 settings (`maxComplexity` is the older
        // name of `maxCost`, read first so `maxCost` wins).
        let sizes: [(&str, &mut usize); 5] = [
            ("maxBodyBytes", &mut server.max_body_bytes),
            ("maxDepth", &mut server.max_depth),
            ("maxAliases", &mut server.max_aliases),
            ("maxRootFields", &mut server.max_root_fields),
            ("maxResponseBytes", &mut server.max_response_bytes),
        ];
        for (key, slot) in sizes {
            if let Some(v) = args.usize(key, diags) {
                *slot = v;
            }
        }
        if let Some(v) = args.usize("maxComplexity", diags) {
            server.max_cost = u64::try_from(v).unwrap_or(u64::MAX);
        }
        let totals: [(&str, &mut u64); 4] = [
            ("maxCost", &mut server.max_cost),
            ("defaultListSize", &mut server.default_list_size),
            ("maxUpstreamCalls", &mut server.max_upstream_calls),
            ("documentCacheBytes", &mut server.document_cache_bytes),
        ];
        for (key, slot) in totals {
            if let Some(v) = args.usize(key, diags) {
                *slot = u64::try_from(v).unwrap_or(u64::MAX);
            }
        }
        if let Some(v) = args.usize("maxConnections", diags) {
            server.connections.max_connections = Some(v);
        }
        if let Some(v) = args.usize("http2MaxStreams", diags) {
            server.connections.http2_max_streams = u32::try_from(v).unwrap_or(u32::MAX);
        }
        let connections = &mut server.connections;
        let durations: [(&str, &mut Duration); 6] = [
            ("maxRequestTime", &mut server.max_request_time),
            ("headerReadTimeout", &mut connections.header_read_timeout),
            ("bodyReadTimeout", &mut connections.body_read_timeout),
            ("idleTimeout", &mut connections.idle_timeout),
            ("connectionWait", &mut connections.connection_wait),
            ("shutdownGrace", &mut connections.shutdown_grace),
        ];
        for (key, slot) in durations {
            if let Some(value) = args.get(key)
                && let Some(d) = policy::duration(key, &value.node, value.pos, diags)
            {
                if d.is_zero() && key != "connectionWait" {
                    diags.push(Diagnostic {
                        pos: value.pos,
                        message: format!("`{key}` on @server must be longer than 0"),
                    });
                } else {
                    *slot = d;
                }
            }
        }
        if let Some(value) = args.get("requestTimeout")
            && let Some(d) = policy::duration("requestTimeout", &value.node, value.pos, diags)
        {
            if d.is_zero() {
                diags.push(Diagnostic {
                    pos: value.pos,
                    message: "`requestTimeout` on @server must be longer than 0".to_owned(),
                });
            } else {
                server.request_timeout = Some(d);
            }
        }
        if let Some(value) = args.get("deadlineHeader") {
            match &value.node {
                async_graphql::Value::String(name) => {
                    match http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
                        Ok(name) => server.deadline_header = Some(name),
                        Err(_) => diags.push(Diagnostic {
                            pos: value.pos,
                            message: format!(
                                "`deadlineHeader` on @server: `{name}` is not a header name"
                            ),
                        }),
                    }
                }
                other => diags.push(Diagnostic {
                    pos: value.pos,
                    message: format!(
                        "`deadlineHeader` on @server must be a header name, not `{other}`"
                    ),
                }),
            }
        }
        if let Some(v) = args.bool("introspection", diags) {
            server.introspection = v;
        }
        if let Some(v) = args.bool("graphiql", diags) {
            server.graphiql = v;
        }
        if let Some(v) = args.bool("timeline", diags) {
            server.timeline = v;
        }
        if let Some(value) = args.get("cors") {
            server.cors = self.cors(value);
        }
        if let Some(value) = args.get("compression") {
            server.compression = self.compression(value);
        }
        if let Some(value) = args.get("rateLimit") {
            server.rate_limits = self.rate_limits(value);
        }
        if let Some(value) = args.get("persistedQueries") {
            server.persisted_queries = self.persisted_queries(value);
        }
        if let Some(value) = args.get("alerts") {
            server.alerts = self.alerts(value);
        }
        if let Some(value) = args.get("subscriptions") {
            server.subscriptions = self.subscriptions(value);
        }
        if let Some(value) = args.get("trustedDocuments") {
            server.trusted_documents = self.trusted_documents(value);
        }
    }
}
