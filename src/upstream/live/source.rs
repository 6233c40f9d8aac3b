//! The task behind one feed: an upstream event stream read and
//! reconnected, or a call polled at an interval. Each sends its events to
//! the feed's subscribers and ends when the feed is dropped (the last
//! subscriber left) or when the upstream cannot be reached.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::broadcast;

use super::parse::{Frame, Framing, Parser};
use super::{FeedEvent, FeedStatus, Phase};
use crate::error::{ErrorCode, FieldError};
use crate::upstream::guard::{AttemptError, CallOptions};
use crate::upstream::{CallSpec, Upstream, UpstreamRequest};

/// Failed connects (or polls) in a row after which a feed gives up and
/// ends its subscriptions with the error.
pub(super) const MAX_FAILURES: u32 = 8;

/// The first reconnect waits this long, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What a feed's task needs.
pub(super) struct Source {
    pub(super) upstream: Arc<Upstream>,
    pub(super) request: UpstreamRequest,
    pub(super) spec: Arc<CallSpec>,
    /// The part of each event that is the field's value.
    pub(super) select: Vec<String>,
    pub(super) tx: broadcast::Sender<FeedEvent>,
    pub(super) status: Arc<FeedStatus>,
}

impl Source {
    /// Sends `value` (already the selected part) to the subscribers.
    fn send(&self, value: Value) {
        let value = Arc::new(value);
        self.status.delivered(&value);
        // No receiver: the feed is being dropped, and this task with it.
        let _ = self.tx.send(FeedEvent::Value(value));
    }

    fn end(&self, error: FieldError) {
        self.status.set(Phase::Failed);
        let _ = self.tx.send(FeedEvent::Ended(error));
    }

    /// Polls every `every`; an answer different from the last is an event.
    pub(super) async fn poll(self, every: Duration) {
        // Every poll asks the upstream: a cached answer would hide changes
        // for as long as its TTL.
        let spec = CallSpec {
            timeout: self.spec.timeout,
            retry: self.spec.retry.clone(),
            idempotent: self.spec.idempotent,
            trips_breaker: self.spec.trips_breaker,
            cache_ttl: Some(Duration::ZERO),
            keep_last_good: false,
            path_template: self.spec.path_template.clone(),
            shared_in_operation: self.spec.shared_in_operation,
            hedge: self.spec.hedge.clone(),
        };
        let spec = Arc::new(spec);
        let mut last: Option<Value> = None;
        let mut failures = 0;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.upstream.call(&self.request, &spec, None).await {
                Ok(fetched) => {
                    failures = 0;
                    self.status.set(Phase::Open);
                    // Compared as the field reads it: a change elsewhere in
                    // the answer is no event.
                    let value = pluck(Value::clone(&fetched.value), &self.select);
                    if last.as_ref() != Some(&value) {
                        last = Some(value.clone());
                        self.send(value);
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::debug!(upstream = %self.upstream.name(), %error, failures, "poll failed");
                    if last.is_none() || failures >= MAX_FAILURES {
                        self.end(error);
                        return;
                    }
                    self.status.set(Phase::Retrying);
                }
            }
        }
    }

    /// Reads the upstream's stream, reconnecting with backoff (through the
    /// breaker) when it ends, breaks or stays silent for `idle`.
    pub(super) async fn stream(self, idle: Duration) {
        let mut failures = 0u32;
        let mut opened = false;
        let mut last_id: Option<String> = None;
        let mut retry_hint: Option<Duration> = None;
        loop {
            match self
                .upstream
                .open_stream(&self.request, &self.spec, last_id.as_deref())
                .await
            {
                Ok(response) => {
                    opened = true;
                    self.status.set(Phase::Open);
                    let framing = Framing::of(
                        response
                            .headers()
                            .get(http::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok()),
                    );
                    match self
                        .read(response, framing, idle, &mut last_id, &mut retry_hint)
                        .await
                    {
                        Ended::Events => failures = 0,
                        // Quiet is no failure: the upstream took the
                        // request, it just had nothing to say.
                        Ended::Idle => {}
                        // Closed (or broke) without one event.
                        Ended::Empty => failures += 1,
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::debug!(upstream = %self.upstream.name(), %error, failures, "stream did not open");
                    if !opened || failures >= MAX_FAILURES {
                        self.end(error);
                        return;
                    }
                }
            }
            if failures >= MAX_FAILURES {
                self.end(FieldError::new(
                    ErrorCode::UpstreamBadResponse,
                    format!(
                        "upstream `{}` closed its event stream {MAX_FAILURES} times in a row without an event",
                        self.upstream.name()
                    ),
                ).upstream(self.upstream.name()));
                return;
            }
            self.status.set(Phase::Retrying);
            self.status.reconnected();
            let wait = retry_hint.unwrap_or_else(|| backoff(failures));
            tokio::time::sleep(wait).await;
        }
    }

    /// Reads one connection until it ends.
    async fn read(
        &self,
        response: reqwest::Response,
        framing: Framing,
        idle: Duration,
        last_id: &mut Option<String>,
        retry_hint: &mut Option<Duration>,
    ) -> Ended {
        let mut parser = Parser::new(framing, self.upstream.config.max_response_bytes);
        let mut body = response.bytes_stream();
        let mut frames = Vec::new();
        let mut events = false;
        let ended = |events: bool, idle: bool| match (events, idle) {
            (true, _) => Ended::Events,
            (false, true) => Ended::Idle,
            (false, false) => Ended::Empty,
        };
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    tracing::debug!(upstream = %self.upstream.name(), ?idle, "stream silent; reconnecting");
                    return ended(events, true);
                }
                Ok(None) | Ok(Some(Err(_))) => return ended(events, false),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if parser.push(&chunk, &mut frames).is_err() {
                tracing::warn!(upstream = %self.upstream.name(), "stream event over maxResponseBytes; reconnecting");
                return ended(events, false);
            }
            for frame in frames.drain(..) {
                match frame {
                    Frame::Data(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(value) => {
                            events = true;
                            self.send(pluck(value, &self.select));
                        }
                        Err(e) => {
                            tracing::warn!(upstream = %self.upstream.name(), error = %e, "stream event is not JSON; skipped");
                            self.status.skipped();
                        }
                    },
                    Frame::Id(id) => *last_id = Some(id),
                    Frame::Retry(ms) => {
                        *retry_hint =
                            Some(Duration::from_millis(ms).clamp(FIRST_BACKOFF, MAX_BACKOFF));
                    }
                    Frame::Heartbeat => {}
                }
            }
        }
    }
}

/// How one connection of a stream ended.
enum Ended {
    /// After at least one event.
    Events,
    /// Silent for the idle timeout, with no event.
    Idle,
    /// Closed or broken without an event.
    Empty,
}

/// The part of `value` at `path` (`select`), or null.
fn pluck(mut value: Value, path: &[String]) -> Value {
    for key in path {
        value = match value {
            Value::Object(mut map) => map.remove(key).unwrap_or(Value::Null),
            Value::Array(mut items) => match key.parse::<usize>() {
                Ok(i) if i < items.len() => items.swap_remove(i),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
    }
    value
}

pub(super) fn backoff(failures: u32) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(1u32 << failures.min(10));
    let capped = exp.min(MAX_BACKOFF);
    // Up to 25% jitter, so feeds that broke together do not reconnect together.
    let jitter = crate::upstream::guard::random_below(capped.as_millis() as u64 / 4 + 1);
    capped + Duration::from_millis(jitter)
}

/// An open stream response, as the guards see it.
struct Opened(reqwest::Response);

impl crate::upstream::guard::Answered for Opened {}

impl Upstream {
    /// Opens `request` as an event stream under the guards (breaker,
    /// concurrency, rate limit, the call's timeout up to the response
    /// head); the body is read by the caller, as long as it lasts.
    pub(crate) async fn open_stream(
        &self,
        request: &UpstreamRequest,
        spec: &CallSpec,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, FieldError> {
        let client = match self.streams.get() {
            Some(client) => client.clone(),
            None => {
                let client =
                    super::super::client::http_client(&self.config, None).map_err(|_| {
                        FieldError::new(
                            ErrorCode::InternalError,
                            "the stream client could not be built",
                        )
                    })?;
                self.streams.get_or_init(|| client).clone()
            }
        };
        let no_retry = crate::config::RetryPolicy {
            attempts: 1,
            ..spec.retry.clone()
        };
        let options = CallOptions {
            timeout: spec.timeout,
            retry: &no_retry,
            idempotent: false,
            trips_breaker: spec.trips_breaker,
            hedge: None,
        };
        let read_timeout = self.config.policies.read_timeout;
        let (result, _) = self
            .guard
            .call(options, || {
                let mut builder = client
                    .request(request.method.clone(), request.url.clone())
                    .header(
                        http::header::ACCEPT,
                        http::HeaderValue::from_static(
                            "text/event-stream, application/x-ndjson;q=0.9, application/json;q=0.5",
                        ),
                    );
                for (name, value) in request.headers.iter().chain(&request.trace) {
                    builder = builder.header(name, value);
                }
                if let Some(id) = last_event_id
                    && let Ok(value) = http::HeaderValue::from_str(id)
                {
                    builder = builder.header("last-event-id", value);
                }
                let builder = super::super::client::with_body(builder, request);
                async move {
                    let response = builder
                        .send()
                        .await
                        .map_err(|e| super::super::client::classify(&e, read_timeout))?;
                    let status = response.status();
                    if !status.is_success() {
                        return Err(AttemptError::Status {
                            status: status.as_u16(),
                            retry_after: None,
                        });
                    }
                    Ok(Opened(response))
                }
            })
            .await;
        result.map(|opened| opened.0)
    }
}
