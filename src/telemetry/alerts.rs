//! Alert hooks (`@server(alerts: {...})`): JSON events POSTed to webhooks
//! when an upstream's breaker changes state (pushed by the breaker), and
//! when an error-rate or latency rule has held for its `for` and when it
//! stops holding (evaluated every `evaluateEvery`, like a Prometheus rule's
//! `for:`). Each webhook gets at most `maxPerMinute` events a minute (the
//! rest are dropped and counted); a failed delivery (no 2xx within 5 s) is
//! retried `retries` times with backoff, carrying the same `id`.
//!
//! Events:
//! `{"id", "at", "kind": "breaker", "upstream", "from", "to", "reason"}`,
//! `{"id", "at", "kind": "error_rate", "status": "firing" | "resolved",
//! "upstream", "value", "threshold", "calls", "for"}`,
//! `{"id", "at", "kind": "latency", "status", "upstream", "p99Ms",
//! "thresholdMs", "for"}`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::metrics::Metrics;
use crate::config::AlertSettings;
use crate::upstream::Upstream;

/// The running hooks; dropping it stops them.
#[derive(Debug)]
pub(crate) struct Alerts {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Alerts {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Events queued for delivery before new ones are dropped.
const QUEUE: usize = 256;

impl Alerts {
    /// Starts the hooks (`None` outside a runtime, e.g. `tributary check`).
    pub(crate) fn start(
        settings: &AlertSettings,
        upstreams: &[Arc<Upstream>],
        metrics: &Arc<Metrics>,
    ) -> Option<Alerts> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (events, queue) = mpsc::channel::<Value>(QUEUE);
        let ids = Arc::new(Ids::new());
        let mut tasks = Vec::new();
        if settings.breaker {
            for upstream in upstreams {
                let Some(mut transitions) = upstream.guard.breaker_events() else {
                    continue;
                };
                let (events, ids, metrics) = (events.clone(), ids.clone(), metrics.clone());
                let name = upstream.name().to_owned();
                tasks.push(runtime.spawn(async move {
                    loop {
                        let t = match transitions.recv().await {
                            Ok(t) => t,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        };
                        let event = ids.stamp(json!({
                            "kind": "breaker",
                            "upstream": name,
                            "from": t.from.as_str(),
                            "to": t.to.as_str(),
                            "reason": t.reason,
                        }));
                        if events.try_send(event).is_err() {
                            count(&metrics, "breaker", "dropped");
                        }
                    }
                }));
            }
        }
        if settings.error_rate.is_some() || settings.latency.is_some() {
            let rules = Rules::new(settings.clone(), upstreams, metrics.clone());
            let (events, ids) = (events.clone(), ids.clone());
            let every = settings.evaluate_every;
            let metrics = metrics.clone();
            tasks.push(runtime.spawn(async move {
                let mut rules = rules;
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    for event in rules.evaluate(Instant::now()) {
                        let kind = event["kind"].as_str().unwrap_or_default().to_owned();
                        if events.try_send(ids.stamp(event)).is_err() {
                            count(&metrics, &kind, "dropped");
                        }
                    }
                }
            }));
        }
        tasks.push(runtime.spawn(deliver(settings.clone(), queue, metrics.clone())));
        Some(Alerts { tasks })
    }
}

fn count(metrics: &Metrics, kind: &str, result: &str) {
    metrics
        .alerts
        .get_or_create(&vec![
            ("kind".to_owned(), kind.to_owned()),
            ("result".to_owned(), result.to_owned()),
        ])
        .inc();
}

/// Gives each event an id (the same on every retry) and a time.
struct Ids {
    prefix: u128,
    next: AtomicU64,
}

impl Ids {
    fn new() -> Ids {
        let prefix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ids {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn stamp(&self, mut event: Value) -> Value {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if let Value::Object(fields) = &mut event {
            fields.insert("id".to_owned(), json!(format!("{:x}-{n}", self.prefix)));
            fields.insert(
                "at".to_owned(),
                json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string()),
            );
        }
        event
    }
}

/// Sends each event to every webhook, within `maxPerMinute` each, with
/// retries.
async fn deliver(settings: AlertSettings, mut queue: mpsc::Receiver<Value>, metrics: Arc<Metrics>) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "alert webhooks: cannot build the HTTP client");
            return;
        }
    };
    let mut sent: HashMap<usize, VecDeque<Instant>> = HashMap::new();
    while let Some(event) = queue.recv().await {
        let kind = event["kind"].as_str().unwrap_or_default().to_owned();
        for (i, url) in settings.webhooks.iter().enumerate() {
            let recent = sent.entry(i).or_default();
            let now = Instant::now();
            while recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                recent.pop_front();
            }
            if recent.len() >= settings.max_per_minute as usize {
                count(&metrics, &kind, "dropped");
                continue;
            }
            recent.push_back(now);
            let body = bytes::Bytes::from(event.to_string());
            let (client, url, metrics, kind) =
                (client.clone(), url.clone(), metrics.clone(), kind.clone());
            let retries = settings.retries;
            tokio::spawn(async move {
                for attempt in 0..=retries {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(250) * 2u32.pow(attempt - 1))
                            .await;
                    }
                    let result = client
                        .post(url.clone())
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if result.is_ok_and(|r| r.status().is_success()) {
                        count(&metrics, &kind, "sent");
                        return;
                    }
                }
                count(&metrics, &kind, "failed");
                tracing::warn!(kind, "alert webhook: delivery failed after its retries");
            });
        }
    }
}

/// The sustained rules' state per upstream.
struct Rules {
    settings: AlertSettings,
    metrics: Arc<Metrics>,
    clients: Vec<Arc<Upstream>>,
    upstreams: Vec<Watched>,
}

struct Watched {
    name: String,
    /// (when, calls, failed) at each evaluation, oldest first.
    totals: VecDeque<(Instant, u64, u64)>,
    error_firing: bool,
    /// Since when the p99 has been above its bound.
    slow_since: Option<Instant>,
    latency_firing: bool,
}

impl Rules {
    fn new(settings: AlertSettings, upstreams: &[Arc<Upstream>], metrics: Arc<Metrics>) -> Rules {
        Rules {
            settings,
            metrics,
            clients: upstreams.to_vec(),
            upstreams: upstreams
                .iter()
                .map(|u| Watched {
                    name: u.name().to_owned(),
                    totals: VecDeque::new(),
                    error_firing: false,
                    slow_since: None,
                    latency_firing: false,
                })
                .collect(),
        }
    }

    /// The events this evaluation raises.
    fn evaluate(&mut self, now: Instant) -> Vec<Value> {
        let summaries = self.metrics.summaries(&self.clients);
        let mut events = Vec::new();
        for watched in &mut self.upstreams {
            let (calls, failed) = self.metrics.upstream_totals(&watched.name);
            let new_calls = watched.totals.back().is_none_or(|(_, c, _)| calls > *c);
            watched.totals.push_back((now, calls, failed));
            if let Some(rule) = &self.settings.error_rate {
                // The oldest evaluation at least `for` ago starts the window.
                while watched.totals.len() > 2
                    && watched
                        .totals
                        .get(1)
                        .is_some_and(|(t, _, _)| now.duration_since(*t) >= rule.for_)
                {
                    watched.totals.pop_front();
                }
                if let Some(&(start, c0, f0)) = watched.totals.front()
                    && now.duration_since(start) >= rule.for_
                {
                    let (window_calls, window_failed) = (calls - c0, failed - f0);
                    let rate = if window_calls == 0 {
                        0.0
                    } else {
                        window_failed as f64 / window_calls as f64
                    };
                    let holds = window_calls >= rule.min_calls && rate > rule.above;
                    if holds != watched.error_firing {
                        watched.error_firing = holds;
                        events.push(json!({
                            "kind": "error_rate",
                            "status": if holds { "firing" } else { "resolved" },
                            "upstream": watched.name,
                            "value": (rate * 1000.0).round() / 1000.0,
                            "threshold": rule.above,
                            "calls": window_calls,
                            "for": humantime::format_duration(rule.for_).to_string(),
                        }));
                    }
                }
            } else {
                while watched.totals.len() > 1 {
                    watched.totals.pop_front();
                }
            }
            if let Some(rule) = &self.settings.latency {
                let p99 = summaries
                    .iter()
                    .find(|s| s.name == watched.name)
                    .map_or(0.0, |s| s.p99_ms);
                let bound = rule.p99_above.as_secs_f64() * 1000.0;
                // No new calls: nothing new is known; the state stands.
                if new_calls {
                    if p99 > bound {
                        watched.slow_since.get_or_insert(now);
                    } else {
                        watched.slow_since = None;
                    }
                }
                let holds = watched
                    .slow_since
                    .is_some_and(|since| now.duration_since(since) >= rule.for_);
                if holds != watched.latency_firing && (holds || watched.slow_since.is_none()) {
                    watched.latency_firing = holds;
                    events.push(json!({
                        "kind": "latency",
                        "status": if holds { "firing" } else { "resolved" },
                        "upstream": watched.name,
                        "p99Ms": (p99 * 10.0).round() / 10.0,
                        "thresholdMs": bound,
                        "for": humantime::format_duration(rule.for_).to_string(),
                    }));
                }
            }
        }
        events
    }
}
