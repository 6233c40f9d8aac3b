//! A subgraph's subscription over `graphql-transport-ws`: the task behind
//! a feed whose events are the subgraph's `next` payloads. The socket is
//! opened under the guards (breaker, concurrency, rate limit, the call's
//! timeout up to `connection_ack`), reconnected with backoff when it breaks,
//! and completed (`complete`, then close 1000) when the last subscriber
//! leaves. The `subscribe` payload is the rendered request's body as it is:
//! nothing here reads the document.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::source::{MAX_FAILURES, backoff};
use super::{FeedEvent, FeedStatus, Phase};
use crate::error::{ErrorCode, FieldError};
use crate::upstream::guard::{AttemptError, CallOptions};
use crate::upstream::{CallSpec, Upstream, UpstreamRequest};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket with no frame for this long is reconnected.
const IDLE: Duration = Duration::from_secs(30);
/// How often the gateway pings the subgraph.
const PING_EVERY: Duration = Duration::from_secs(10);

/// The subgraph's WebSocket URL: its HTTP URL with `ws`/`wss`.
pub(crate) fn ws_url(url: &Url) -> Option<Url> {
    let mut ws = url.clone();
    let scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    ws.set_scheme(scheme).ok()?;
    Some(ws)
}

pub(super) struct Socket {
    pub(super) upstream: Arc<Upstream>,
    pub(super) request: UpstreamRequest,
    pub(super) spec: Arc<CallSpec>,
    pub(super) tx: broadcast::Sender<FeedEvent>,
    pub(super) status: Arc<FeedStatus>,
}

/// How one connection ended.
enum Outcome {
    /// Broke off (closed, idle, an IO error): reconnect.
    Broke { heard: bool },
    /// The subgraph completed the subscription.
    Completed,
    /// The subgraph refused it (`error`, or a close that says so).
    Failed(FieldError),
}

/// Sends `complete` and closes when the feed's task is dropped (the last
/// subscriber left).
struct Closer(Option<SplitSink<Ws, Message>>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(mut sink) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let complete = json!({ "id": "1", "type": "complete" }).to_string();
                let _ = sink.send(Message::Text(complete.into())).await;
                let _ = sink.close().await;
            });
        }
    }
}

impl Socket {
    fn failed(&self, message: String) -> FieldError {
        FieldError::new(ErrorCode::UpstreamGraphqlError, message).upstream(self.upstream.name())
    }

    pub(super) async fn run(self) {
        let mut failures = 0u32;
        let mut opened = false;
        loop {
            match self.open().await {
                Ok(ws) => {
                    opened = true;
                    self.status.set(Phase::Open);
                    match self.read(ws).await {
                        Outcome::Completed => {
                            self.status.set(Phase::Failed);
                            let _ = self.tx.send(FeedEvent::Completed);
                            return;
                        }
                        Outcome::Failed(error) => {
                            self.status.set(Phase::Failed);
                            let _ = self.tx.send(FeedEvent::Ended(error));
                            return;
                        }
                        Outcome::Broke { heard: true } => failures = 0,
                        Outcome::Broke { heard: false } => failures += 1,
                    }
                }
                Err(error) => {
                    failures += 1;
                    if !opened || failures >= MAX_FAILURES {
                        self.status.set(Phase::Failed);
                        let _ = self.tx.send(FeedEvent::Ended(error));
                        return;
                    }
                }
            }
            if failures >= MAX_FAILURES {
                let error = self.failed(format!(
                    "subgraph `{}` closed its subscription {MAX_FAILURES} times in a row without an event",
                    self.upstream.name()
                ));
                self.status.set(Phase::Failed);
                let _ = self.tx.send(FeedEvent::Ended(error));
                return;
            }
            self.status.set(Phase::Retrying);
            self.status.reconnected();
            tokio::time::sleep(backoff(failures)).await;
        }
    }

    /// Connects, initialises and subscribes, under the guards.
    async fn open(&self) -> Result<Ws, FieldError> {
        let Some(url) = ws_url(&self.request.url) else {
            return Err(FieldError::new(
                ErrorCode::InternalError,
                "the subgraph's URL is not http or https",
            ));
        };
        if url.scheme() == "wss" {
            return Err(self.failed(format!(
                "subgraph `{}` is served over https: subscriptions to it need wss://, which this build does not speak",
                self.upstream.name()
            )));
        }
        let no_retry = crate::config::RetryPolicy {
            attempts: 1,
            ..self.spec.retry.clone()
        };
        let options = CallOptions {
            timeout: self.spec.timeout,
            retry: &no_retry,
            idempotent: false,
            trips_breaker: self.spec.trips_breaker,
            hedge: None,
        };
        let (result, _) = self
            .upstream
            .guard
            .call(options, || self.attempt(url.clone()))
            .await;
        result.map(|opened| opened.0)
    }

    async fn attempt(&self, url: Url) -> Result<Opened, AttemptError> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|_| AttemptError::Connect)?;
        let headers = request.headers_mut();
        headers.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static("graphql-transport-ws"),
        );
        for (name, value) in self
            .upstream
            .config
            .headers
            .iter()
            .chain(&self.request.headers)
            .chain(&self.request.trace)
        {
            headers.insert(name.clone(), value.clone());
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.upstream.config.max_response_bytes));
        let (mut ws, response) =
            match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
                Ok(connected) => connected,
                Err(WsError::Http(response)) => {
                    return Err(AttemptError::Status {
                        status: response.status().as_u16(),
                        retry_after: None,
                    });
                }
                Err(_) => return Err(AttemptError::Connect),
            };
        let agreed = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("graphql-transport-ws"));
        if !agreed {
            return Err(AttemptError::BadResponse {
                status: 101,
                message: "did not agree to graphql-transport-ws".to_owned(),
            });
        }
        // Forwarded headers go in `connection_init` too: some servers
        // authenticate a socket only by its payload.
        let payload: serde_json::Map<String, Value> = self
            .request
            .headers
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    n.as_str().to_owned(),
                    Value::String(v.to_str().ok()?.to_owned()),
                ))
            })
            .collect();
        let init = json!({ "type": "connection_init", "payload": payload });
        ws.send(Message::Text(init.to_string().into()))
            .await
            .map_err(|_| AttemptError::Broken)?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    match message["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("ping") => {
                            let pong = json!({ "type": "pong" }).to_string();
                            ws.send(Message::Text(pong.into()))
                                .await
                                .map_err(|_| AttemptError::Broken)?;
                        }
                        _ => {
                            return Err(AttemptError::BadResponse {
                                status: 101,
                                message: "answered connection_init without connection_ack"
                                    .to_owned(),
                            });
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                _ => return Err(AttemptError::Broken),
            }
        }
        let body = self.request.body.as_deref().unwrap_or(b"{}");
        let payload: Value = serde_json::from_slice(body).map_err(|_| AttemptError::Broken)?;
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": payload });
        ws.send(Message::Text(subscribe.to_string().into()))
            .await
            .map_err(|_| AttemptError::Broken)?;
        Ok(Opened(ws))
    }

    /// Reads one connection until it ends.
    async fn read(&self, ws: Ws) -> Outcome {
        let (sink, mut stream): (SplitSink<Ws, Message>, SplitStream<Ws>) = ws.split();
        let mut closer = Closer(Some(sink));
        let mut pings =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = false;
        // Only frames from the subgraph (a pong too) move the deadline: a
        // subgraph that stops answering is noticed after IDLE.
        let idle = tokio::time::sleep(IDLE);
        tokio::pin!(idle);
        loop {
            let frame = tokio::select! {
                frame = stream.next() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE);
                    Ok(frame)
                }
                () = &mut idle => Err(()),
                _ = pings.tick() => {
                    let ping = json!({ "type": "ping" }).to_string();
                    if let Some(sink) = closer.0.as_mut()
                        && sink.send(Message::Text(ping.into())).await.is_err()
                    {
                        return Outcome::Broke { heard };
                    }
                    continue;
                }
            };
            let text = match frame {
                Err(_) | Ok(None) | Ok(Some(Err(_))) => {
                    closer.0 = None;
                    return Outcome::Broke { heard };
                }
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    closer.0 = None;
                    return match frame {
                        Some(frame)
                            if matches!(
                                u16::from(frame.code),
                                4400 | 4401 | 4403 | 4406 | 4429
                            ) =>
                        {
                            Outcome::Failed(self.failed(format!(
                                "subgraph `{}` closed the subscription: {} {}",
                                self.upstream.name(),
                                u16::from(frame.code),
                                frame.reason
                            )))
                        }
                        _ => Outcome::Broke { heard },
                    };
                }
                Ok(Some(Ok(_))) => continue,
            };
            let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                self.status.skipped();
                continue;
            };
            match message["type"].as_str() {
                Some("next") if message["id"] == "1" => {
                    heard = true;
                    let payload = Arc::new(message.get("payload").cloned().unwrap_or(Value::Null));
                    self.status.delivered(&payload);
                    let _ = self.tx.send(FeedEvent::Value(payload));
                }
                Some("error") if message["id"] == "1" => {
                    closer.0 = None;
                    let private = self.upstream.config.private_errors;
                    let messages: Vec<String> = message["payload"]
                        .as_array()
                        .map(|errors| {
                            errors
                                .iter()
                                .filter_map(|e| e["message"].as_str())
                                .map(|m| {
                                    if private {
                                        tracing::warn!(upstream = %self.upstream.name(), message = m, "a private subscription error");
                                        format!("upstream `{}` reported an error", self.upstream.name())
                                    } else {
                                        m.to_owned()
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    return Outcome::Failed(self.failed(messages.join("; ")));
                }
                Some("complete") if message["id"] == "1" => {
                    closer.0 = None;
                    return Outcome::Completed;
                }
                Some("ping") => {
                    let pong = json!({ "type": "pong" }).to_string();
                    if let Some(sink) = closer.0.as_mut() {
                        let _ = sink.send(Message::Text(pong.into())).await;
                    }
                }
                _ => {}
            }
        }
    }
}

/// An open socket, as the guards see it.
struct Opened(Ws);

impl crate::upstream::guard::Answered for Opened {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_is_the_http_url_with_ws() {
        let url = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            ws_url(&url("http://127.0.0.1:4203/graphql")).map(String::from),
            Some("ws://127.0.0.1:4203/graphql".to_owned())
        );
        assert_eq!(
            ws_url(&url("https://shop.example/api?x=1")).map(String::from),
            Some("wss://shop.example/api?x=1".to_owned())
        );
        assert_eq!(ws_url(&url("ftp://x/")), None);
    }
}
