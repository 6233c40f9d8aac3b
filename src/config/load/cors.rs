//! `@server(cors: { ... })`, read into [`CorsSettings`]: origins, credentials,
//! headers and the preflight cache, with every combination a browser would
//! refuse (credentials with a wildcard) refused here first.

use async_graphql::{Pos, Positioned, Value as ConstValue};
use http::HeaderName;

use super::Loader;
use crate::config::cors::DEFAULT_CORS_MAX_AGE;
use crate::config::{CorsSettings, HeaderList, OriginRule, Origins, policy};

const KNOWN: [&str; 5] = [
    "origins",
    "allowCredentials",
    "allowHeaders",
    "exposeHeaders",
    "maxAge",
];

impl Loader<'_> {
    /// `cors: { origins: [...], ... }`; `None` after a diagnostic.
    pub(super) fn cors(&mut self, value: &Positioned<ConstValue>) -> Option<CorsSettings> {
        let pos = value.pos;
        let ConstValue::Object(map) = &value.node else {
            self.error(
                pos,
                format!(
                    "`cors` on @server must be an object like {{ origins: [\"https://app.example.com\"] }}, not `{}`",
                    value.node
                ),
            );
            return None;
        };
        let errors_before = self.diags.len();
        for key in map.keys() {
            if !KNOWN.contains(&key.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{key}` in `cors`; expected one of: {}",
                        KNOWN.join(", ")
                    ),
                );
            }
        }
        let origins = match map.get("origins") {
            Some(list) => self.origins(list, pos),
            None => {
                self.error(pos, "`cors` needs `origins`: the pages that may call, e.g. [\"https://app.example.com\", \"https://*.example.com\"]");
                None
            }
        };
        let allow_credentials = match map.get("allowCredentials") {
            None => false,
            Some(ConstValue::Boolean(b)) => *b,
            Some(other) => {
                self.error(
                    pos,
                    format!("`allowCredentials` in `cors` must be true or false, not `{other}`"),
                );
                false
            }
        };
        let allow_headers = map
            .get("allowHeaders")
            .and_then(|v| self.header_list("allowHeaders", v, pos));
        let expose_headers = match map.get("exposeHeaders") {
            Some(v) => self.header_list("exposeHeaders", v, pos),
            None => Some(HeaderList::Listed(Vec::new())),
        };
        let max_age = match map.get("maxAge") {
            None => Some(DEFAULT_CORS_MAX_AGE),
            Some(v) => match policy::duration("maxAge", v, pos, &mut self.diags) {
                Some(d) if d.subsec_nanos() != 0 => {
                    self.error(pos, format!("`maxAge` in `cors` counts whole seconds (browsers read seconds), not {d:?}"));
                    None
                }
                other => other,
            },
        };
        if allow_credentials {
            let wildcard = if origins == Some(Origins::Any) {
                Some("origins")
            } else if allow_headers == Some(HeaderList::Any) {
                Some("allowHeaders")
            } else if expose_headers == Some(HeaderList::Any) {
                Some("exposeHeaders")
            } else {
                None
            };
            if let Some(key) = wildcard {
                self.error(
                    pos,
                    format!(
                        "`allowCredentials: true` cannot go with `{key}: [\"*\"]`: browsers refuse credentials with a wildcard; list them"
                    ),
                );
            }
        }
        if self.diags.len() > errors_before {
            return None;
        }
        Some(CorsSettings {
            origins: origins?,
            allow_credentials,
            allow_headers,
            expose_headers: expose_headers?,
            max_age: max_age?,
        })
    }

    fn origins(&mut self, value: &ConstValue, pos: Pos) -> Option<Origins> {
        let texts = self.string_list("origins", value, pos)?;
        if texts.is_empty() {
            self.error(
                pos,
                "`origins` in `cors` lists no origin; list the pages that may call, or drop `cors`",
            );
            return None;
        }
        if texts.contains(&"*") {
            if texts.len() > 1 {
                self.error(
                    pos,
                    "`\"*\"` in `origins` lets every page in: list it alone",
                );
                return None;
            }
            return Some(Origins::Any);
        }
        let mut rules = Vec::new();
        for text in texts {
            if text.eq_ignore_ascii_case("null") {
                self.error(pos, "the `null` origin cannot be allowed: sandboxed frames and local files send it, so any page could");
                continue;
            }
            match OriginRule::parse(text) {
                Ok(rule) => rules.push(rule),
                Err(e) => self.error(pos, format!("in `origins` of `cors`: {e}")),
            }
        }
        Some(Origins::Listed(rules))
    }

    fn header_list(&mut self, key: &str, value: &ConstValue, pos: Pos) -> Option<HeaderList> {
        let texts = self.string_list(key, value, pos)?;
        if texts.contains(&"*") {
            if texts.len() > 1 {
                self.error(
                    pos,
                    format!("`\"*\"` in `{key}` stands for every header: list it alone"),
                );
                return None;
            }
            return Some(HeaderList::Any);
        }
        let mut names = Vec::new();
        for text in texts {
            match HeaderName::try_from(text) {
                Ok(name) => names.push(name),
                Err(_) => self.error(
                    pos,
                    format!("`{text}` in `{key}` of `cors` is not a valid header name"),
                ),
            }
        }
        Some(HeaderList::Listed(names))
    }

    /// A list of strings (a single string is a list of one).
    fn string_list<'v>(
        &mut self,
        key: &str,
        value: &'v ConstValue,
        pos: Pos,
    ) -> Option<Vec<&'v str>> {
        match value {
            ConstValue::String(s) => Some(vec![s.as_str()]),
            ConstValue::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        ConstValue::String(s) => out.push(s.as_str()),
                        other => {
                            self.error(pos, format!("`{key}` in `cors` must be a list of strings; `{other}` is not one"));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.error(
                    pos,
                    format!("`{key}` in `cors` must be a list of strings, not `{other}`"),
                );
                None
            }
        }
    }
}
