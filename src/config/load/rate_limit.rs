//! `@server(rateLimit: ...)`, read into [`ClientRateLimit`]s: one object
//! `{ key, rate, per, burst, shared, trustedProxies, maxKeys }` or a list of
//! them. The bucket keys are read as `@upstream`'s are (`policy::bucket`).

use async_graphql::{Pos, Positioned, Value as ConstValue};
use http::HeaderName;

use super::Loader;
use crate::config::policy::{self, BUCKET_KEYS};
use crate::config::{ClientKey, ClientRateLimit, DEFAULT_RATE_LIMIT_KEYS};

/// The keys only a client limit has.
const CLIENT_KEYS: [&str; 3] = ["key", "trustedProxies", "maxKeys"];

impl Loader<'_> {
    /// The limits `value` gives; those with a problem are reported and left out.
    pub(super) fn rate_limits(&mut self, value: &Positioned<ConstValue>) -> Vec<ClientRateLimit> {
        let pos = value.pos;
        let items: Vec<&ConstValue> = match &value.node {
            ConstValue::List(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut limits: Vec<ClientRateLimit> = Vec::new();
        for item in items {
            let Some(limit) = self.rate_limit(item, pos) else {
                continue;
            };
            if limits.iter().any(|l| l.key == limit.key) {
                self.error(
                    pos,
                    format!(
                        "two rate limits key on `{}`; give each key one limit",
                        limit.key.label()
                    ),
                );
                continue;
            }
            if limit.bucket.shared {
                self.shared_limits.push(pos);
            }
            limits.push(limit);
        }
        limits
    }

    fn rate_limit(&mut self, value: &ConstValue, pos: Pos) -> Option<ClientRateLimit> {
        let ConstValue::Object(map) = value else {
            self.error(
                pos,
                format!("`rateLimit` on @server must be an object like {{ key: \"ip\", rate: 100, per: \"1s\" }} (or a list of them), not `{value}`"),
            );
            return None;
        };
        let known: Vec<&str> = CLIENT_KEYS.iter().chain(&BUCKET_KEYS).copied().collect();
        let mut fine = true;
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{key}` in `rateLimit`; expected one of: {}",
                        known.join(", ")
                    ),
                );
                fine = false;
            }
        }
        let trusted_proxies = match map.get("trustedProxies") {
            None => 0,
            Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| n <= 64) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
            Some(other) => {
                self.error(pos, format!("`trustedProxies` in `rateLimit` must be a whole number from 0 to 64 (the proxies in front of the gateway), not `{other}`"));
                return None;
            }
        };
        let key = match map.get("key") {
            Some(ConstValue::String(text)) => self.client_key(text, trusted_proxies, pos)?,
            Some(other) => {
                self.error(pos, format!("`key` in `rateLimit` must be \"ip\", \"operation\" or \"header:NAME\", not `{other}`"));
                return None;
            }
            None => {
                self.error(
                    pos,
                    "`rateLimit` needs `key`: \"ip\", \"operation\" or \"header:NAME\"",
                );
                return None;
            }
        };
        if map.contains_key("trustedProxies") && !matches!(key, ClientKey::Ip { .. }) {
            self.error(
                pos,
                "`trustedProxies` in `rateLimit` goes only with `key: \"ip\"`",
            );
            return None;
        }
        let max_keys = match map.get("maxKeys") {
            None => DEFAULT_RATE_LIMIT_KEYS,
            Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                n.as_u64().unwrap_or(DEFAULT_RATE_LIMIT_KEYS)
            }
            Some(other) => {
                self.error(
                    pos,
                    format!(
                        "`maxKeys` in `rateLimit` must be a whole number above 0, not `{other}`"
                    ),
                );
                return None;
            }
        };
        let bucket = policy::bucket("rateLimit", map, pos, &mut self.diags)?;
        fine.then_some(ClientRateLimit {
            key,
            bucket,
            max_keys,
        })
    }

    fn client_key(&mut self, text: &str, trusted_proxies: usize, pos: Pos) -> Option<ClientKey> {
        match text {
            "ip" => Some(ClientKey::Ip { trusted_proxies }),
            "operation" => Some(ClientKey::Operation),
            _ => match text.strip_prefix("header:") {
                Some(name) => match HeaderName::try_from(name.trim()) {
                    Ok(name) => Some(ClientKey::Header(name)),
                    Err(_) => {
                        self.error(pos, format!("`key: \"{text}\"` in `rateLimit`: `{name}` is not a valid header name"));
                        None
                    }
                },
                None => {
                    self.error(pos, format!("`key: \"{text}\"` in `rateLimit` is not a key; expected \"ip\", \"operation\" or \"header:NAME\" (e.g. \"header:x-api-key\")"));
                    None
                }
            },
        }
    }
}
