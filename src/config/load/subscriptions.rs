//! `@server(subscriptions: { ... })`, read into [`SubscriptionSettings`].

use std::time::Duration;

use async_graphql::{Positioned, Value as ConstValue};

use super::Loader;
use crate::config::{Overflow, SubscriptionSettings, policy};

const KNOWN: [&str; 7] = [
    "maxConnections",
    "maxPerConnection",
    "maxTotal",
    "initTimeout",
    "keepAlive",
    "buffer",
    "overflow",
];

impl Loader<'_> {
    /// The settings `value` gives over the defaults.
    pub(super) fn subscriptions(&mut self, value: &Positioned<ConstValue>) -> SubscriptionSettings {
        let pos = value.pos;
        let mut settings = SubscriptionSettings::default();
        let ConstValue::Object(map) = &value.node else {
            self.error(
                pos,
                format!("`subscriptions` on @server must be an object like {{ maxPerConnection: 100 }}, not `{}`", value.node),
            );
            return settings;
        };
        for key in map.keys() {
            if !KNOWN.contains(&key.as_str()) {
                self.error(
                    pos,
                    format!(
                        "unknown key `{key}` in `subscriptions`; expected one of: {}",
                        KNOWN.join(", ")
                    ),
                );
            }
        }
        // `buffer` is preallocated per feed and per shared execution.
        let counts: [(&str, &mut usize, u64); 4] = [
            ("maxConnections", &mut settings.max_connections, 10_000_000),
            (
                "maxPerConnection",
                &mut settings.max_per_connection,
                10_000_000,
            ),
            ("maxTotal", &mut settings.max_total, 10_000_000),
            ("buffer", &mut settings.buffer, 65_536),
        ];
        for (key, slot, max) in counts {
            match map.get(key) {
                None => {}
                Some(ConstValue::Number(n)) if n.as_u64().is_some_and(|n| (1..=max).contains(&n)) => {
                    *slot = n.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(1);
                }
                Some(other) => self.error(
                    pos,
                    format!("`{key}` in `subscriptions` must be a whole number from 1 to {max}, not `{other}`"),
                ),
            }
        }
        let durations: [(&str, &mut Duration); 2] = [
            ("initTimeout", &mut settings.init_timeout),
            ("keepAlive", &mut settings.keep_alive),
        ];
        for (key, slot) in durations {
            if let Some(value) = map.get(key)
                && let Some(d) = policy::duration(key, value, pos, &mut self.diags)
            {
                if d.is_zero() || d > Duration::from_secs(86_400) {
                    self.error(
                        pos,
                        format!("`{key}` in `subscriptions` must be longer than 0 and at most 24h"),
                    );
                } else {
                    *slot = d;
                }
            }
        }
        match map.get("overflow") {
            None => {}
            Some(ConstValue::Enum(e)) if e.as_str() == "DROP_OLDEST" => {
                settings.overflow = Overflow::DropOldest;
            }
            Some(ConstValue::Enum(e)) if e.as_str() == "CLOSE" => {
                settings.overflow = Overflow::Close;
            }
            Some(other) => self.error(
                pos,
                format!(
                    "`overflow` in `subscriptions` must be DROP_OLDEST or CLOSE, not `{other}`"
                ),
            ),
        }
        settings
    }
}
