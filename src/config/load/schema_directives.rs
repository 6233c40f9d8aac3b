//! The schema's own directives: `@server`, `@cache(redis:)` and `@upstream`
//! (with the header checks that keep one source per header).

use super::*;

impl Loader<'_> {
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
        if let Some(v) = args.bool("introspection", diags) {
            server.introspection = v;
        }
        if let Some(v) = args.bool("graphiql", diags) {
            server.graphiql = v;
        }
        if let Some(v) = args.bool("timeline", diags) {
            server.timeline = v;
        }
    }

    pub(super) fn redis(&mut self, directive: &Positioned<ConstDirective>) -> Option<RedisTier> {
        let args = DirectiveArgs::new(
            directive,
            &["redis", "redisTimeout", "prefix"],
            &mut self.diags,
        );
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
            .unwrap_or(std::time::Duration::from_millis(50));
        let prefix = args
            .string("prefix", &mut self.diags)
            .map_or_else(|| "tributary".to_owned(), |(p, _)| p.to_owned());
        Some(RedisTier {
            url,
            timeout,
            prefix,
        })
    }

    pub(super) fn upstream(
        &mut self,
        directive: &Positioned<ConstDirective>,
        defaults: &Policies,
    ) -> Option<UpstreamConfig> {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("upstream"),
            &mut self.diags,
        );
        let name = args.required_string("name", &mut self.diags);
        let url = args.required_string("url", &mut self.diags).and_then(|(raw, pos)| {
            let text = self.interpolate(raw, pos)?;
            match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(url)
                }
                Ok(_) => {
                    self.error(pos, format!("upstream url `{raw}` must be an http:// or https:// URL with a host"));
                    None
                }
                Err(e) => {
                    self.error(pos, format!("upstream url `{raw}` is not a URL: {e}"));
                    None
                }
            }
        });
        let mut policies = defaults.clone();
        let policy_names = vocabulary::policy_names();
        let policy_args: Vec<_> = args
            .all()
            .into_iter()
            .filter(|(k, _, _)| policy_names.contains(k))
            .collect();
        policy::apply(&mut policies, &policy_args, &mut self.diags);
        let http2_only = args.bool("http2", &mut self.diags).unwrap_or(false);
        let max_response_bytes = args
            .usize("maxResponseBytes", &mut self.diags)
            .unwrap_or(16 * 1024 * 1024);
        let pool_max_idle = args.usize("poolMaxIdle", &mut self.diags).unwrap_or(64);
        let mut headers = Vec::new();
        for (name, value, pos) in args.pairs("headers", &mut self.diags) {
            let Some(value) = self.interpolate(&value, pos) else {
                continue;
            };
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                (Err(_), _) => self.error(pos, format!("`{name}` is not a valid header name")),
                (_, Err(_)) => self.error(
                    pos,
                    format!("the value of header `{name}` is not a valid header value"),
                ),
            }
        }
        let forward_headers = self.header_names(&args, "forwardHeaders");
        let static_names: Vec<&HeaderName> = headers.iter().map(|(n, _)| n).collect();
        self.check_header_sources(
            directive.pos,
            &format!("upstream `{}`", name.map_or("?", |(n, _)| n)),
            url.as_ref(),
            &[&static_names],
            &forward_headers,
        );
        Some(UpstreamConfig {
            name: name?.0.to_owned(),
            url: url?,
            policies,
            http2_only,
            headers,
            forward_headers,
            max_response_bytes,
            pool_max_idle,
        })
    }

    /// A header may come from one place only: sent twice upstream, the
    /// receiver picks one (or joins them), and with credentials that can be
    /// the wrong caller's. `sent` are the groups of headers written by the
    /// schema (a binding's templates, the upstream's fixed headers);
    /// `forwarded` come from the client. URL userinfo is an `Authorization`.
    pub(super) fn check_header_sources(
        &mut self,
        pos: Pos,
        what: &str,
        url: Option<&Url>,
        sent: &[&[&HeaderName]],
        forwarded: &[HeaderName],
    ) {
        let mut seen: Vec<&HeaderName> = Vec::new();
        for group in sent {
            for name in group.iter().copied() {
                if seen.contains(&name) {
                    self.error(pos, format!("{what} sends header `{name}` twice: from its @rest `headers` and its upstream's `headers`; keep one"));
                }
                if forwarded.contains(name) {
                    self.error(pos, format!("{what} both sends header `{name}` and forwards the client's `{name}`: upstream it would arrive twice; keep one"));
                }
                seen.push(name);
            }
        }
        let userinfo = url.is_some_and(|u| !u.username().is_empty() || u.password().is_some());
        if userinfo {
            let authorization = http::header::AUTHORIZATION;
            if forwarded.contains(&authorization) {
                self.error(pos, format!("{what}: the upstream URL carries credentials (user:password@) and the client's `authorization` is forwarded too; upstream it would arrive twice; keep one"));
            }
            if seen.contains(&&authorization) {
                self.error(pos, format!("{what}: the upstream URL carries credentials (user:password@) and an `authorization` header is sent too; keep one"));
            }
        }
    }

    pub(super) fn header_names(&mut self, args: &DirectiveArgs<'_>, key: &str) -> Vec<HeaderName> {
        let mut out = Vec::new();
        for (name, pos) in args.strings(key, &mut self.diags) {
            match HeaderName::try_from(name) {
                Ok(n) => out.push(n),
                Err(_) => self.error(pos, format!("`{name}` is not a valid header name")),
            }
        }
        out
    }
}
