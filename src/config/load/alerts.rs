//! `@server(alerts: { ... })`, read into [`AlertSettings`].

use std::time::Duration;

use async_graphql::{Pos, Positioned, Value as ConstValue};
use indexmap::IndexMap;

use super::Loader;
use crate::config::{AlertSettings, ErrorRateRule, LatencyRule, policy};

const KNOWN: [&str; 7] = [
    "webhooks",
    "breaker",
    "errorRate",
    "latency",
    "evaluateEvery",
    "maxPerMinute",
    "retries",
];

impl Loader<'_> {
    /// The alert settings `value` asks for; `None` after an error.
    pub(super) fn alerts(&mut self, value: &Positioned<ConstValue>) -> Option<AlertSettings> {
        let pos = value.pos;
        let map = self.alert_object("alerts", &value.node, pos, &KNOWN)?;
        let webhooks = match map.get("webhooks") {
            Some(ConstValue::List(items)) if !items.is_empty() => items
                .iter()
                .filter_map(|item| self.webhook(item, pos))
                .collect::<Vec<_>>(),
            _ => {
                self.error(
                    pos,
                    "`alerts` needs `webhooks`: a list of URLs, e.g. [\"${ALERT_WEBHOOK_URL}\"]",
                );
                return None;
            }
        };
        let breaker = match map.get("breaker") {
            None => true,
            Some(ConstValue::Boolean(b)) => *b,
            Some(other) => {
                self.error(
                    pos,
                    format!("`breaker` in `alerts` must be true or false, not `{other}`"),
                );
                true
            }
        };
        let error_rate = match map.get("errorRate") {
            None => Some(ErrorRateRule {
                above: 0.2,
                for_: Duration::from_secs(60),
                min_calls: 10,
            }),
            Some(ConstValue::Boolean(false)) => None,
            Some(v) => self.error_rate(v, pos),
        };
        let latency = match map.get("latency") {
            None => Some(LatencyRule {
                p99_above: Duration::from_millis(500),
                for_: Duration::from_secs(300),
            }),
            Some(ConstValue::Boolean(false)) => None,
            Some(v) => self.latency_rule(v, pos),
        };
        let evaluate_every = match map.get("evaluateEvery") {
            None => Duration::from_secs(10),
            Some(v) => match policy::duration("evaluateEvery", v, pos, &mut self.diags) {
                Some(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(3600) => d,
                Some(_) => {
                    self.error(pos, "`evaluateEvery` in `alerts` must be from 100ms to 1h");
                    return None;
                }
                None => return None,
            },
        };
        let max_per_minute = self.alert_count(map, "maxPerMinute", 10, 1_000, pos)?;
        let retries = self.alert_count(map, "retries", 3, 10, pos)?;
        Some(AlertSettings {
            webhooks,
            breaker,
            error_rate,
            latency,
            evaluate_every,
            max_per_minute,
            retries,
        })
    }

    fn alert_object<'v>(
        &mut self,
        what: &str,
        value: &'v ConstValue,
        pos: Pos,
        known: &[&str],
    ) -> Option<&'v IndexMap<async_graphql::Name, ConstValue>> {
        let ConstValue::Object(map) = value else {
            self.error(
                pos,
                format!("`{what}` must be an object like {{ {}: ... }}", known[0]),
            );
            return None;
        };
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
        Some(map)
    }

    fn webhook(&mut self, item: &ConstValue, pos: Pos) -> Option<url::Url> {
        let ConstValue::String(raw) = item else {
            self.error(pos, format!("a webhook must be a URL string, not `{item}`"));
            return None;
        };
        let text = self.interpolate(raw, pos)?;
        match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            // The URL may hold a secret: the message names the template.
            _ => {
                self.error(
                    pos,
                    format!("the webhook `{raw}` is not an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    fn error_rate(&mut self, value: &ConstValue, pos: Pos) -> Option<ErrorRateRule> {
        let map = self.alert_object("errorRate", value, pos, &["above", "for", "minCalls"])?;
        let above = match map.get("above") {
            Some(ConstValue::Number(n)) if n.as_f64().is_some_and(|r| r > 0.0 && r < 1.0) => {
                n.as_f64().unwrap_or(0.2)
            }
            None => 0.2,
            Some(other) => {
                self.error(
                    pos,
                    format!("`above` in `errorRate` must be a ratio between 0 and 1, such as 0.2, not `{other}`"),
                );
                return None;
            }
        };
        let for_ = self.rule_for(map, "errorRate", Duration::from_secs(60), pos)?;
        let min_calls = u64::from(self.alert_count(map, "minCalls", 10, 1_000_000, pos)?);
        Some(ErrorRateRule {
            above,
            for_,
            min_calls,
        })
    }

    fn latency_rule(&mut self, value: &ConstValue, pos: Pos) -> Option<LatencyRule> {
        let map = self.alert_object("latency", value, pos, &["p99Above", "for"])?;
        let p99_above = match map.get("p99Above") {
            None => Duration::from_millis(500),
            Some(v) => policy::duration("p99Above", v, pos, &mut self.diags)?,
        };
        let for_ = self.rule_for(map, "latency", Duration::from_secs(300), pos)?;
        Some(LatencyRule { p99_above, for_ })
    }

    fn rule_for(
        &mut self,
        map: &IndexMap<async_graphql::Name, ConstValue>,
        rule: &str,
        default: Duration,
        pos: Pos,
    ) -> Option<Duration> {
        match map.get("for") {
            None => Some(default),
            Some(v) => match policy::duration("for", v, pos, &mut self.diags)? {
                d if d.is_zero() || d > Duration::from_secs(86_400) => {
                    self.error(
                        pos,
                        format!("`for` in `{rule}` must be above 0 and at most 24h"),
                    );
                    None
                }
                d => Some(d),
            },
        }
    }

    fn alert_count(
        &mut self,
        map: &IndexMap<async_graphql::Name, ConstValue>,
        key: &str,
        default: u32,
        max: u32,
        pos: Pos,
    ) -> Option<u32> {
        match map.get(key) {
            None => Some(default),
            Some(ConstValue::Number(n))
                if n.as_u64()
                    .is_some_and(|n| n <= u64::from(max) && (key == "retries" || n > 0)) =>
            {
                n.as_u64().and_then(|n| u32::try_from(n).ok())
            }
            Some(other) => {
                self.error(
                    pos,
                    format!(
                        "`{key}` in `alerts` must be a whole number up to {max}, not `{other}`"
                    ),
                );
                None
            }
        }
    }
}
