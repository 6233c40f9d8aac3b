//! `@server(persistedQueries: ...)` and `@server(trustedDocuments: ...)`,
//! read into [`PersistedQueriesSettings`] and [`TrustedDocumentsSettings`].
//! The manifests themselves are read when the gateway is built
//! (`gateway::persisted`), where the schema they are checked against is.

use async_graphql::{Positioned, Value as ConstValue};

use super::Loader;
use crate::config::{PersistedQueriesSettings, TrustMode, TrustedDocumentsSettings, policy};

const PERSISTED_KEYS: [&str; 3] = ["maxBytes", "redis", "redisTtl"];
const TRUSTED_KEYS: [&str; 3] = ["manifest", "mode", "allowIntrospection"];

impl Loader<'_> {
    /// `false`, `true` or `{ maxBytes, redis, redisTtl }` over the defaults.
    pub(super) fn persisted_queries(
        &mut self,
        value: &Positioned<ConstValue>,
    ) -> Option<PersistedQueriesSettings> {
        let pos = value.pos;
        let mut settings = PersistedQueriesSettings::default();
        let map = match &value.node {
            ConstValue::Boolean(true) => return Some(settings),
            ConstValue::Boolean(false) => return None,
            ConstValue::Object(map) => map,
            other => {
                self.error(pos, format!("`persistedQueries` on @server must be false, true or an object like {{ maxBytes: 4194304 }}, not `{other}`"));
                return Some(settings);
            }
        };
        self.unknown_keys(map, &PERSISTED_KEYS, "persistedQueries", pos);
        match map.get("maxBytes") {
            None => {}
            Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                settings.max_bytes = n.as_u64().unwrap_or(settings.max_bytes);
            }
            Some(other) => self.error(
                pos,
                format!(
                    "`maxBytes` in `persistedQueries` must be a whole number above 0, not `{other}`"
                ),
            ),
        }
        match map.get("redis") {
            None => {}
            Some(ConstValue::Boolean(b)) => {
                settings.redis = *b;
                if *b {
                    self.persisted_redis_at = Some(pos);
                }
            }
            Some(other) => self.error(
                pos,
                format!("`redis` in `persistedQueries` must be true or false, not `{other}`"),
            ),
        }
        if let Some(ttl) = map.get("redisTtl")
            && let Some(d) = policy::duration("redisTtl", ttl, pos, &mut self.diags)
        {
            if d.as_millis() == 0 {
                self.error(pos, "`redisTtl` in `persistedQueries` must be at least 1ms");
            } else {
                settings.redis_ttl = d;
            }
        }
        Some(settings)
    }

    /// `{ manifest: "path" | ["path", ...], mode: ENFORCE | LOG,
    /// allowIntrospection }`.
    pub(super) fn trusted_documents(
        &mut self,
        value: &Positioned<ConstValue>,
    ) -> Option<TrustedDocumentsSettings> {
        let pos = value.pos;
        let ConstValue::Object(map) = &value.node else {
            self.error(pos, format!("`trustedDocuments` on @server must be an object like {{ manifest: \"persisted-documents.json\", mode: ENFORCE }}, not `{}`", value.node));
            return None;
        };
        self.unknown_keys(map, &TRUSTED_KEYS, "trustedDocuments", pos);
        let mut manifests = Vec::new();
        let items: Vec<&ConstValue> = match map.get("manifest") {
            None => Vec::new(),
            Some(ConstValue::List(items)) => items.iter().collect(),
            Some(single) => vec![single],
        };
        for item in items {
            match item {
                ConstValue::String(path) => match self.interpolate(path, pos) {
                    Some(path) => manifests.push(std::path::PathBuf::from(path)),
                    None => return None,
                },
                other => self.error(
                    pos,
                    format!("`manifest` in `trustedDocuments` must be a file path or a list of them, not `{other}`"),
                ),
            }
        }
        let mode = match map.get("mode") {
            None => TrustMode::Enforce,
            Some(ConstValue::Enum(name)) => match TrustMode::parse(name.as_str()) {
                Some(mode) => mode,
                None => {
                    self.error(
                        pos,
                        format!(
                            "`mode` in `trustedDocuments` must be ENFORCE or LOG, not `{name}`"
                        ),
                    );
                    TrustMode::Enforce
                }
            },
            Some(ConstValue::String(name)) => {
                match TrustMode::parse(name) {
                    Some(mode) => mode,
                    None => {
                        self.error(pos, format!("`mode` in `trustedDocuments` must be ENFORCE or LOG, not \"{name}\""));
                        TrustMode::Enforce
                    }
                }
            }
            Some(other) => {
                self.error(
                    pos,
                    format!("`mode` in `trustedDocuments` must be ENFORCE or LOG, not `{other}`"),
                );
                TrustMode::Enforce
            }
        };
        let allow_introspection = match map.get("allowIntrospection") {
            None => false,
            Some(ConstValue::Boolean(b)) => *b,
            Some(other) => {
                self.error(pos, format!("`allowIntrospection` in `trustedDocuments` must be true or false, not `{other}`"));
                false
            }
        };
        if manifests.is_empty() {
            self.error(
                pos,
                "`trustedDocuments` needs a `manifest`: the file (or files) of the operations clients may run",
            );
            return None;
        }
        Some(TrustedDocumentsSettings {
            manifests,
            mode,
            allow_introspection,
        })
    }

    fn unknown_keys(
        &mut self,
        map: &indexmap::IndexMap<async_graphql::Name, ConstValue>,
        known: &[&str],
        what: &str,
        pos: async_graphql::Pos,
    ) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{key}` in `{what}`; expected one of: {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
}
