//! `schema @upstream(...)` and `schema @upstreamDefaults(...)`: the upstream
//! services, their clients and guards. Both take the policy arguments, and
//! `@upstreamDefaults` is what every `@upstream`'s policies start from, so
//! they are read together.

use async_graphql::Positioned;
use async_graphql::parser::types::ConstDirective;
use http::{HeaderName, HeaderValue};
use url::Url;

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::{Policies, UpstreamConfig, policy, vocabulary};

impl Loader<'_> {
    /// `@upstreamDefaults`: its policies, applied over `defaults`.
    pub(super) fn upstream_defaults(
        &mut self,
        directive: &Positioned<ConstDirective>,
        defaults: &mut Policies,
    ) {
        let args = DirectiveArgs::new(directive, &vocabulary::policy_names(), &mut self.diags);
        policy::apply(defaults, &args.all(), &mut self.diags);
        if defaults.rate_limit.as_ref().is_some_and(|l| l.shared) {
            self.shared_limits.push(directive.pos);
        }
    }

    /// One `@upstream`; its policies start from `defaults`.
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
        // A subgraph of a supergraph has its URL there already.
        let subgraph_url = name
            .and_then(|(n, _)| self.federated.as_ref()?.subgraph_urls.get(n).cloned())
            .filter(|_| args.get("url").is_none());
        let url_arg = match &subgraph_url {
            Some(url) => Some((url.as_str(), directive.pos)),
            None => args.required_string("url", &mut self.diags),
        };
        let url = url_arg.and_then(|(raw, pos)| {
            let text = self.interpolate(raw, pos)?;
            match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(url)
                }
                Ok(_) => {
                    self.error(
                        pos,
                        format!(
                            "upstream url `{raw}` must be an http:// or https:// URL with a host"
                        ),
                    );
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
        if let Some((_, _, pos)) = policy_args.iter().find(|(k, _, _)| *k == "rateLimit")
            && policies.rate_limit.as_ref().is_some_and(|l| l.shared)
        {
            self.shared_limits.push(*pos);
        }
        // Only a subgraph answers `_entities`.
        if policies.entity_batch.is_some()
            && let Some((n, _)) = name
            && !self
                .federated
                .as_ref()
                .is_some_and(|f| f.subgraph_urls.contains_key(n))
        {
            self.error(
                directive.pos,
                format!("`entityBatch` on upstream `{n}`: it batches a supergraph subgraph's `_entities` fetches, and `{n}` is not a subgraph (batch a REST field with `@rest(batch: {{ key, window }})`)"),
            );
        }
        let http2_only = args.bool("http2", &mut self.diags).unwrap_or(false);
        let graphql = args.bool("graphql", &mut self.diags).unwrap_or(false);
        let private_errors = args.bool("privateErrors", &mut self.diags).unwrap_or(false);
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
            graphql,
            private_errors,
            http2_only,
            headers,
            forward_headers,
            max_response_bytes,
            pool_max_idle,
        })
    }
}
