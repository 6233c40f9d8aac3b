//! `@server(compression: ...)`, read into [`CompressionSettings`]: `false`,
//! `true`, or `{ minBytes, encodings, requests }` over the defaults.

use async_graphql::{Positioned, Value as ConstValue};

use super::Loader;
use crate::config::CompressionSettings;

const KNOWN: [&str; 3] = ["minBytes", "encodings", "requests"];

impl Loader<'_> {
    /// The settings `value` gives; the defaults after a diagnostic.
    pub(super) fn compression(&mut self, value: &Positioned<ConstValue>) -> CompressionSettings {
        let pos = value.pos;
        let mut settings = CompressionSettings::default();
        let map = match &value.node {
            ConstValue::Boolean(true) => return settings,
            ConstValue::Boolean(false) => return CompressionSettings::OFF,
            ConstValue::Object(map) => map,
            other => {
                self.error(pos, format!("`compression` on @server must be false, true or an object like {{ minBytes: 1024 }}, not `{other}`"));
                return settings;
            }
        };
        for key in map.keys() {
            if !KNOWN.contains(&key.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{key}` in `compression`; expected one of: {}",
                        KNOWN.join(", ")
                    ),
                );
            }
        }
        match map.get("minBytes") {
            None => {}
            Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| n <= u64::from(u16::MAX)) => {
                settings.min_bytes = n.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(u16::MAX);
            }
            Some(other) => self.error(pos, format!("`minBytes` in `compression` must be a whole number from 0 to 65535, not `{other}`")),
        }
        if let Some(value) = map.get("encodings") {
            let items: Vec<&ConstValue> = match value {
                ConstValue::List(items) => items.iter().collect(),
                single => vec![single],
            };
            settings.gzip = false;
            settings.br = false;
            settings.zstd = false;
            for item in items {
                let text = match item {
                    ConstValue::String(s) => s.as_str(),
                    ConstValue::Enum(e) => e.as_str(),
                    _ => "",
                };
                match text {
                    "gzip" => settings.gzip = true,
                    "br" => settings.br = true,
                    "zstd" => settings.zstd = true,
                    _ => self.error(pos, format!("`{item}` in `encodings` of `compression` is not an encoding the gateway speaks; expected \"gzip\", \"br\" or \"zstd\"")),
                }
            }
        }
        match map.get("requests") {
            None => {}
            Some(ConstValue::Boolean(b)) => settings.requests = *b,
            Some(other) => self.error(
                pos,
                format!("`requests` in `compression` must be true or false, not `{other}`"),
            ),
        }
        settings
    }
}
