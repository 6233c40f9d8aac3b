//! `GET /status`: each upstream's recent p50/p95/p99, error rate, cache hit
//! rate and breaker state, and the waterfalls of the most recent executions,
//! as plain HTML and SVG (no scripts to build or load).

use std::fmt::Write as _;

use super::metrics::UpstreamSummary;
use super::timeline::{CacheUse, CallOutcome, Timeline};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One live stream (a feed of subscriptions) as the status page lists it.
#[derive(Debug, Clone)]
pub struct LiveStream {
    pub upstream: String,
    pub path: String,
    /// `stream` or `poll`.
    pub mode: &'static str,
    pub phase: &'static str,
    pub subscribers: usize,
    pub events: u64,
    pub reconnects: u64,
    pub age: std::time::Duration,
}

pub fn render(
    upstreams: &[UpstreamSummary],
    live: &[LiveStream],
    timelines: &[std::sync::Arc<Timeline>],
) -> String {
    let mut html = String::from(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2433; }
table { border-collapse: collapse; margin-bottom: 2rem; }
th, td { padding: .35rem .8rem; border-bottom: 1px solid #dde2ea; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.open { color: #b42318; font-weight: 600; } .half_open { color: #b54708; font-weight: 600; } .closed { color: #067647; }
figure { margin: 0 0 1.5rem; } figcaption { font-weight: 600; margin-bottom: .3rem; }
svg text { font: 11px system-ui, sans-serif; }
</style></head><body>
<h1>Tributary status</h1>
<h2>Upstreams</h2>
<table id="upstreams"><thead><tr><th>upstream</th><th>calls (recent)</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>error rate</th><th>cache hit rate</th><th>breaker</th><th>in flight / limit</th></tr></thead><tbody>
"#,
    );
    for u in upstreams {
        let hit = u
            .cache_hit_rate
            .map_or_else(|| "no cache".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let _ = writeln!(
            html,
            r#"<tr class="upstream" data-upstream="{name}"><td>{name}</td><td>{calls}</td><td>{p50:.1}</td><td>{p95:.1}</td><td>{p99:.1}</td><td>{err:.1}%</td><td>{hit}</td><td class="{breaker}">{breaker}</td><td class="concurrency">{concurrency}</td></tr>"#,
            name = escape(&u.name),
            calls = u.calls,
            p50 = u.p50_ms,
            p95 = u.p95_ms,
            p99 = u.p99_ms,
            err = u.error_rate * 100.0,
            breaker = u.breaker,
            concurrency = match u.concurrency {
                Some((now, limit, true)) => format!("{now} / {limit} (adaptive)"),
                Some((now, limit, false)) => format!("{now} / {limit}"),
                None => "no cap".to_owned(),
            },
        );
    }
    html.push_str("</tbody></table>\n<h2>Live streams</h2>\n");
    if live.is_empty() {
        html.push_str("<p id=\"live\">No subscriptions now.</p>\n");
    } else {
        html.push_str("<table id=\"live\"><thead><tr><th>upstream and path</th><th>kind</th><th>state</th><th>subscribers</th><th>events</th><th>reconnects</th><th>open for</th></tr></thead><tbody>\n");
        for feed in live {
            let label = escape(&format!("{} {}", feed.upstream, feed.path));
            let _ = writeln!(
                html,
                r#"<tr data-feed="{label}"><td>{label}</td><td>{mode}</td><td>{phase}</td><td>{subs}</td><td>{events}</td><td>{reconnects}</td><td>{age}s</td></tr>"#,
                mode = feed.mode,
                phase = feed.phase,
                subs = feed.subscribers,
                events = feed.events,
                reconnects = feed.reconnects,
                age = feed.age.as_secs(),
            );
        }
        html.push_str("</tbody></table>\n");
    }
    html.push_str(&predictions(upstreams, timelines));
    html.push_str("<h2>Recent executions</h2>\n");
    if timelines.is_empty() {
        html.push_str("<p>No executions yet: run a query.</p>\n");
    }
    for t in timelines {
        html.push_str(&waterfall(t));
    }
    html.push_str("</body></html>\n");
    html
}

/// The predicted critical path of each recent operation: its recorded
/// calls' dependency graph, each call costed by its upstream's observed
/// p50/p95 and its timeout.
fn predictions(upstreams: &[UpstreamSummary], timelines: &[std::sync::Arc<Timeline>]) -> String {
    let (observed, timeouts) = super::forecast::observed(upstreams);
    let mut html = String::from(
        "<h2>Predicted latency of recent operations</h2>\n<table id=\"predicted\"><thead><tr><th>operation</th><th>calls</th><th>took ms</th><th>critical path (p50)</th><th>p50 ms</th><th>p95 ms</th><th>by timeouts ms</th></tr></thead><tbody>\n",
    );
    for t in timelines {
        let forecast = super::forecast::from_timeline(t, &observed, &timeouts);
        let _ = writeln!(
            html,
            r#"<tr class="prediction"><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.0}</td></tr>"#,
            escape(&t.operation),
            forecast.calls.len(),
            t.total.as_secs_f64() * 1000.0,
            escape(&forecast.describe(&forecast.p50)),
            forecast.p50.ms,
            forecast.p95.ms,
            forecast.timeouts.ms,
        );
    }
    html.push_str("</tbody></table>\n");
    html
}

/// One execution as bars on a time axis.
fn waterfall(t: &Timeline) -> String {
    const LABEL: f64 = 260.0;
    const WIDTH: f64 = 560.0;
    const ROW: f64 = 20.0;
    let total_ms = (t.total.as_secs_f64() * 1000.0).max(1.0);
    let height = ROW * (t.calls.len() as f64 + 1.0) + 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<figure class="execution"><figcaption>{} — {:.1} ms total, {:.2} ms gateway overhead{}</figcaption>
<svg class="waterfall" width="{}" height="{height}" viewBox="0 0 {} {height}" role="img">"#,
        escape(&t.operation),
        total_ms,
        t.overhead.as_secs_f64() * 1000.0,
        t.trace_id
            .as_deref()
            .map(|id| format!(", trace {id}"))
            .unwrap_or_default(),
        LABEL + WIDTH + 60.0,
        LABEL + WIDTH + 60.0,
    );
    for (i, call) in t.calls.iter().enumerate() {
        let y = ROW * i as f64 + 4.0;
        let x = LABEL + call.start.as_secs_f64() * 1000.0 / total_ms * WIDTH;
        let w = (call.duration.as_secs_f64() * 1000.0 / total_ms * WIDTH).max(1.0);
        let color = match (call.outcome, call.cache) {
            (CallOutcome::Ok, CacheUse::Hit) => "#7a5af8",
            (CallOutcome::Ok, CacheUse::Stale) => "#f79009",
            (CallOutcome::Ok, _) => "#2e90fa",
            (CallOutcome::Failed(_), _) => "#f04438",
        };
        let _ = write!(
            svg,
            r##"<g class="call"><text x="0" y="{ty}">{path} ({upstream})</text><rect x="{x:.1}" y="{y}" width="{w:.1}" height="{h}" fill="{color}"><title>{path}: {dur:.1} ms, {outcome}, cache {cache}, {attempts} attempt(s)</title></rect><text x="{tx:.1}" y="{ty}">{dur:.0} ms</text></g>"##,
            ty = y + 12.0,
            path = escape(&call.path),
            upstream = escape(&call.upstream),
            h = ROW - 6.0,
            dur = call.duration.as_secs_f64() * 1000.0,
            outcome = call.outcome.as_str(),
            cache = call.cache.as_str(),
            attempts = call.attempts,
            tx = x + w + 4.0,
        );
    }
    let axis_y = ROW * t.calls.len() as f64 + 8.0;
    let _ = write!(
        svg,
        r##"<line x1="{LABEL}" y1="{axis_y}" x2="{end}" y2="{axis_y}" stroke="#98a2b3"/><text x="{end}" y="{ty}">{total_ms:.0} ms</text></svg></figure>"##,
        end = LABEL + WIDTH,
        ty = axis_y + 12.0,
    );
    svg.push('\n');
    svg
}
