//! The policies that shape calls under load: hedging, adaptive
//! concurrency and cross-request entity batching, with their readers.

use std::time::Duration;

use async_graphql::Value as ConstValue;

use super::{DEFAULT_MAX_CONCURRENT, Reader};

/// `adaptive: { min, max, initial }` (or `maxConcurrent: adaptive`): the
/// bounds of an adaptive concurrency limit and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptivePolicy {
    pub min: usize,
    pub max: usize,
    pub initial: usize,
}

impl Default for AdaptivePolicy {
    fn default() -> Self {
        AdaptivePolicy {
            min: 1,
            max: DEFAULT_MAX_CONCURRENT,
            initial: 10,
        }
    }
}

/// `entityBatch: { window: "1ms", maxSize: 100 }` on a subgraph: the
/// representations of every request in flight during `window` go in one
/// `_entities` call per `maxSize`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityBatchPolicy {
    pub window: Duration,
    pub max_size: usize,
}

/// `hedge: { after: "p95" | "40ms", max: 1 }`: when an idempotent call has
/// not answered after `after`, another identical request goes out (up to
/// `max` more); the first answer wins, the others are cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgePolicy {
    pub after: HedgeAfter,
    pub max: u32,
}

/// When a hedge goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeAfter {
    Fixed(Duration),
    /// This quantile (0.5 to 0.999) of the upstream's recent answers.
    Percentile(f64),
}

impl Reader<'_> {
    /// `adaptive: false` or `{ min: 1, max: 256, initial: 10 }`.
    pub(super) fn adaptive(&mut self, value: &ConstValue) -> Option<Option<AdaptivePolicy>> {
        if let ConstValue::Boolean(false) = value {
            return Some(None);
        }
        let map = self.object("adaptive", value, &["min", "max", "initial"])?;
        let mut policy = AdaptivePolicy::default();
        for (key, v) in map {
            let n = self.count(key.as_str(), v)? as usize;
            match key.as_str() {
                "min" => policy.min = n,
                "max" => policy.max = n,
                "initial" => policy.initial = n,
                _ => {}
            }
        }
        if policy.min > policy.max {
            self.error(format!(
                "`adaptive.min` ({}) is above `adaptive.max` ({})",
                policy.min, policy.max
            ));
            return None;
        }
        if !(policy.min..=policy.max).contains(&policy.initial) {
            policy.initial = policy.initial.clamp(policy.min, policy.max);
        }
        Some(Some(policy))
    }

    /// `entityBatch: false` or `{ window: "1ms", maxSize: 100 }`.
    pub(super) fn entity_batch(&mut self, value: &ConstValue) -> Option<Option<EntityBatchPolicy>> {
        if let ConstValue::Boolean(false) = value {
            return Some(None);
        }
        let map = self.object("entityBatch", value, &["window", "maxSize"])?;
        let Some(window) = map.get("window") else {
            self.error("`entityBatch` needs `window`, a duration like \"1ms\"".to_owned());
            return None;
        };
        let window = self.duration("window", window)?;
        if window.is_zero() || window > Duration::from_secs(1) {
            self.error(format!(
                "`window` in `entityBatch` must be above 0 and at most 1s, not {window:?}"
            ));
            return None;
        }
        let max_size = match map.get("maxSize") {
            None => 100,
            Some(v) => self.count("maxSize", v)? as usize,
        };
        Some(Some(EntityBatchPolicy { window, max_size }))
    }

    /// `hedge: false` or `{ after: "p95" | "40ms", max: 1 }`.
    pub(super) fn hedge(&mut self, value: &ConstValue) -> Option<Option<HedgePolicy>> {
        if let ConstValue::Boolean(false) = value {
            return Some(None);
        }
        let map = self.object("hedge", value, &["after", "max"])?;
        let after = match map.get("after") {
            Some(ConstValue::String(s)) if s.starts_with('p') => match s[1..].parse::<f64>() {
                Ok(p) if (50.0..100.0).contains(&p) => HedgeAfter::Percentile(p / 100.0),
                _ => {
                    self.error(format!("`after` in `hedge` must be a percentile from \"p50\" to \"p99.9\" or a duration, not `{s}`"));
                    return None;
                }
            },
            Some(v) => HedgeAfter::Fixed(self.duration("after", v)?),
            None => {
                self.error("`hedge` needs `after`: \"p95\" or a duration like \"40ms\"".to_owned());
                return None;
            }
        };
        let max = match map.get("max") {
            None => 1,
            Some(v) => match self.count("max", v)? {
                n @ 1..=3 => n,
                n => {
                    self.error(format!("`max` in `hedge` must be 1, 2 or 3, not {n}"));
                    return None;
                }
            },
        };
        Some(Some(HedgePolicy { after, max }))
    }
}
