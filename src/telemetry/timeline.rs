//! Each request's execution timeline: every upstream call with its offset,
//! duration and outcome; the critical path; the wait at each fan-in join; and
//! the gateway's own overhead (total time minus the union of upstream waits).
//! Returned in `extensions.timeline` on request, kept for the status page,
//! and summarised into metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ErrorCode;
use crate::upstream::guard::BreakerState;

/// One upstream call of a request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    #[serde(skip)]
    pub id: usize,
    /// The call whose answer this call's inputs came from.
    #[serde(skip)]
    pub parent: Option<usize>,
    /// Response path, `*` standing for every item of a batched list.
    pub path: Arc<str>,
    /// The object whose children were fetched together (the join).
    #[serde(skip)]
    pub join: Arc<str>,
    pub upstream: Arc<str>,
    #[serde(serialize_with = "ms", rename = "startMs")]
    pub start: Duration,
    #[serde(serialize_with = "ms", rename = "durationMs")]
    pub duration: Duration,
    pub outcome: CallOutcome,
    pub status: Option<u16>,
    pub attempts: u32,
    pub cache: CacheUse,
    /// The upstream's breaker when the call ended (`None`: it has none).
    #[serde(serialize_with = "breaker")]
    pub breaker: Option<BreakerState>,
    pub batch_size: Option<usize>,
}

/// How a call ended: `ok`, or the error code it failed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    Failed(ErrorCode),
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Failed(code) => code.as_str(),
        }
    }
}

impl Serialize for CallOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where a call's answer came from, as the timeline shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheUse {
    /// Not cacheable, or the call failed.
    Bypass,
    Miss,
    Hit,
    /// The call failed and a cached answer stood in.
    Stale,
    /// It joined another request's identical call in flight.
    Shared,
}

impl CacheUse {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Bypass => "bypass",
            CacheUse::Miss => "miss",
            CacheUse::Hit => "hit",
            CacheUse::Stale => "stale",
            CacheUse::Shared => "shared",
        }
    }
}

fn breaker<S: serde::Serializer>(state: &Option<BreakerState>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.map_or("off", BreakerState::as_str))
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0)
}

/// Collects a request's call records.
#[derive(Debug)]
pub struct Recorder {
    pub t0: Instant,
    next: AtomicUsize,
    calls: Mutex<Vec<CallRecord>>,
}

impl Recorder {
    pub fn new(t0: Instant) -> Recorder {
        Recorder {
            t0,
            next: AtomicUsize::new(0),
            calls: Mutex::default(),
        }
    }

    /// Reserves an id for a call about to start.
    pub fn begin(&self) -> (usize, Duration) {
        (self.next.fetch_add(1, Ordering::Relaxed), self.t0.elapsed())
    }

    pub fn finish(&self, record: CallRecord) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    pub fn take(&self) -> Vec<CallRecord> {
        let mut calls =
            std::mem::take(&mut *self.calls.lock().unwrap_or_else(PoisonError::into_inner));
        calls.sort_by_key(|c| (c.start, c.id));
        calls
    }
}

/// A finished request's timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub trace_id: Option<String>,
    pub operation: String,
    #[serde(serialize_with = "ms", rename = "totalMs")]
    pub total: Duration,
    /// Time covered by at least one upstream call.
    #[serde(serialize_with = "ms", rename = "upstreamMs")]
    pub upstream: Duration,
    /// Total minus upstream time: the gateway's own cost.
    #[serde(serialize_with = "ms", rename = "overheadMs")]
    pub overhead: Duration,
    /// Paths of the chain of calls that ended last, first to last.
    pub critical_path: Vec<Arc<str>>,
    pub joins: Vec<Join>,
    pub calls: Vec<CallRecord>,
    /// What built the response: `engine` (the resolvers) or `plan` (a
    /// supergraph operation with nothing bound below its root fields,
    /// shaped straight from the subgraphs' answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<&'static str>,
}

/// Sibling calls fetched together, and how long the first to finish waited
/// for the last.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    pub path: Arc<str>,
    pub calls: usize,
    #[serde(serialize_with = "ms", rename = "waitMs")]
    pub wait: Duration,
    pub slowest: Arc<str>,
}

impl Timeline {
    pub fn new(
        operation: String,
        trace_id: Option<String>,
        total: Duration,
        calls: Vec<CallRecord>,
    ) -> Timeline {
        let upstream = union(&calls);
        let overhead = total.saturating_sub(upstream);
        Timeline {
            trace_id,
            operation,
            total,
            upstream,
            overhead,
            critical_path: critical_path(&calls),
            joins: joins(&calls),
            calls,
            executor: None,
        }
    }
}

fn union(calls: &[CallRecord]) -> Duration {
    let mut spans: Vec<(Duration, Duration)> = calls
        .iter()
        .map(|c| (c.start, c.start + c.duration))
        .collect();
    spans.sort();
    let mut covered = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (start, end) in spans {
        match &mut current {
            Some((_, cur_end)) if start <= *cur_end => *cur_end = (*cur_end).max(end),
            _ => {
                if let Some((s, e)) = current {
                    covered += e - s;
                }
                current = Some((start, end));
            }
        }
    }
    if let Some((s, e)) = current {
        covered += e - s;
    }
    covered
}

fn critical_path(calls: &[CallRecord]) -> Vec<Arc<str>> {
    let Some(last) = calls.iter().max_by_key(|c| c.start + c.duration) else {
        return Vec::new();
    };
    let by_id: std::collections::HashMap<usize, &CallRecord> =
        calls.iter().map(|c| (c.id, c)).collect();
    let mut path = vec![last.path.clone()];
    let mut parent = last.parent;
    while let Some(id) = parent {
        let Some(call) = by_id.get(&id) else {
            break;
        };
        path.push(call.path.clone());
        parent = call.parent;
    }
    path.reverse();
    path
}

fn joins(calls: &[CallRecord]) -> Vec<Join> {
    // By join, in first-call order; a list of N items makes N joins, so this
    // must not be quadratic.
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(&Arc<str>, Vec<&CallRecord>)> = Vec::new();
    for call in calls {
        match index.get(call.join.as_ref()) {
            Some(&i) => groups[i].1.push(call),
            None => {
                index.insert(call.join.as_ref(), groups.len());
                groups.push((&call.join, vec![call]));
            }
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .filter_map(|(join, members)| {
            let end = |c: &CallRecord| c.start + c.duration;
            let first = members.iter().map(|c| end(c)).min()?;
            let slowest = members.iter().max_by_key(|c| end(c))?;
            Some(Join {
                path: join.clone(),
                calls: members.len(),
                wait: end(slowest) - first,
                slowest: slowest.path.clone(),
            })
        })
        .collect()
}

/// The most recent timelines, for the status page.
#[derive(Debug, Default)]
pub struct RecentTimelines {
    items: Mutex<std::collections::VecDeque<Arc<Timeline>>>,
}

/// How many executions the status page draws.
pub const RECENT_TIMELINES: usize = 10;

impl RecentTimelines {
    pub fn push(&self, timeline: Arc<Timeline>) {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if items.len() == RECENT_TIMELINES {
            items.pop_front();
        }
        items.push_back(timeline);
    }

    pub fn list(&self) -> Vec<Arc<Timeline>> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        id: usize,
        parent: Option<usize>,
        path: &str,
        join: &str,
        start: u64,
        dur: u64,
    ) -> CallRecord {
        CallRecord {
            id,
            parent,
            path: path.into(),
            join: join.into(),
            upstream: Arc::from("u"),
            start: Duration::from_millis(start),
            duration: Duration::from_millis(dur),
            outcome: CallOutcome::Ok,
            status: Some(200),
            attempts: 1,
            cache: CacheUse::Bypass,
            breaker: Some(BreakerState::Closed),
            batch_size: None,
        }
    }

    #[test]
    fn computes_union_overhead_critical_path_and_joins() {
        let calls = vec![
            call(0, None, "product.details", "product", 1, 120),
            call(1, None, "product.recs", "product", 1, 140),
            call(
                2,
                Some(1),
                "product.recs.0.product",
                "product.recs.0",
                141,
                120,
            ),
            call(
                3,
                Some(1),
                "product.recs.1.product",
                "product.recs.1",
                142,
                100,
            ),
        ];
        let t = Timeline::new("q".into(), None, Duration::from_millis(265), calls);
        assert_eq!(t.upstream, Duration::from_millis(260), "1..261 covered");
        assert_eq!(t.overhead, Duration::from_millis(5));
        let critical: Vec<&str> = t.critical_path.iter().map(|p| p.as_ref()).collect();
        assert_eq!(critical, vec!["product.recs", "product.recs.0.product"]);
        assert_eq!(t.joins.len(), 1);
        assert_eq!(t.joins[0].wait, Duration::from_millis(20));
        assert_eq!(t.joins[0].slowest.as_ref(), "product.recs");
    }
}
