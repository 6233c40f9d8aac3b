//! GraphQL over WebSocket on `GET /graphql` with `Upgrade: websocket`:
//! `graphql-transport-ws` (the graphql-ws library) and the legacy
//! `graphql-ws` (subscriptions-transport-ws), negotiated by
//! `Sec-WebSocket-Protocol`. async-graphql-axum's `GraphQLWebSocket`
//! speaks the protocols; every operation goes through the gateway
//! ([`Gateway::stream`]: documents, limits, validation as over HTTP). Around
//! it, this module adds what production needs: the connection cap, the
//! `connection_init` deadline, server keep-alive pings, the cap on
//! subscriptions per connection, and a clean close at shutdown (every
//! subscription `complete`, then close 1001).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, request::Parts};
use serde_json::Value;

use super::{AppState, Stopping};
use crate::gateway::Gateway;

/// After the server starts to stop, how long subscriptions have to send
/// their `complete` before the socket is closed.
const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// Whether `headers` ask to upgrade to a WebSocket.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql` with `Upgrade: websocket`.
pub(super) async fn upgrade(app: AppState, mut parts: Parts) -> Response {
    let settings = app.gateway.settings().subscriptions.clone();
    let legacy = match protocol_of(&parts.headers) {
        Some(WebSocketProtocols::SubscriptionsTransportWS) => true,
        Some(WebSocketProtocols::GraphQLWS) => false,
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "a GraphQL WebSocket needs Sec-WebSocket-Protocol: graphql-transport-ws (or the legacy graphql-ws)\n",
            )
                .into_response();
        }
    };
    let Ok(protocol) = GraphQLProtocol::from_request_parts(&mut parts, &()).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(place) = app.gateway.take_socket() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::RETRY_AFTER, "1")],
            format!(
                "the gateway holds maxConnections ({}) WebSocket connections; try again later\n",
                settings.max_connections
            ),
        )
            .into_response();
    };
    let stopping = parts.extensions.get::<Stopping>().cloned();
    let peer = parts.extensions.get::<super::PeerAddr>().map(|p| p.0);
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let headers = parts.headers;
    let gateway = app.gateway.clone();
    // The protocol the client listed first, which is the one spoken (the
    // 101 names that one, whatever order the client gave).
    let chosen = if legacy {
        "graphql-ws"
    } else {
        "graphql-transport-ws"
    };
    upgrade
        .protocols([chosen])
        // A message is at most a request body (`maxBodyBytes`).
        .max_message_size(app.gateway.settings().max_body_bytes)
        .max_frame_size(app.gateway.settings().max_body_bytes)
        .on_upgrade(move |socket| async move {
            let _place = place;
            let gauge = gateway.metrics().live.connections("websocket");
            gauge.inc();
            let connection = Connection {
                gateway,
                headers,
                peer,
                legacy,
                protocol,
                stopping,
            };
            connection.serve(socket).await;
            gauge.dec();
        })
}

fn protocol_of(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        })
}

struct Connection {
    gateway: Arc<Gateway>,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
    legacy: bool,
    protocol: GraphQLProtocol,
    stopping: Option<Stopping>,
}

impl Connection {
    async fn serve(self, socket: WebSocket) {
        let settings = self.gateway.settings().subscriptions.clone();
        let (mut socket_tx, socket_rx) = socket.split();
        // The protocol's messages come through this channel, so the pings,
        // the init deadline and the close share the socket with them.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(32);
        let sink = futures_util::sink::unfold(tx, |tx, message: Message| async move {
            tx.send(message)
                .await
                .map_err(|_| axum::Error::new("the connection is closed"))?;
            Ok::<_, axum::Error>(tx)
        });
        let executor = LiveExecutor {
            gateway: self.gateway.clone(),
            peer: self.peer,
            headers: Arc::new(self.headers),
            held: Arc::new(AtomicUsize::new(0)),
            max: settings.max_per_connection,
            stopping: self.stopping.clone(),
        };
        let graphql = GraphQLWebSocket::new_with_pair(sink, socket_rx, executor, self.protocol)
            .on_connection_init(|payload| async move {
                let mut data = Data::default();
                data.insert(InitHeaders(init_headers(&payload)));
                Ok(data)
            })
            .serve();
        tokio::pin!(graphql);
        let init = tokio::time::sleep(settings.init_timeout);
        tokio::pin!(init);
        let mut pings = tokio::time::interval_at(
            tokio::time::Instant::now() + settings.keep_alive,
            settings.keep_alive,
        );
        let ping = Message::Text(if self.legacy {
            r#"{"type":"ka"}"#.into()
        } else {
            r#"{"type":"ping"}"#.into()
        });
        let stop = async move {
            match self.stopping {
                Some(stopping) => stopping.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        let grace = tokio::time::sleep(Duration::MAX.min(Duration::from_secs(86_400 * 365)));
        tokio::pin!(grace);
        let mut acked = false;
        let mut stopping = false;
        let mut served = false;
        loop {
            tokio::select! {
                () = &mut graphql, if !served => served = true,
                message = rx.recv() => {
                    let Some(mut message) = message else { break };
                    // Everything already queued goes out in one write: an
                    // event reaches every subscription of a connection at
                    // once, and a write per message would cost a syscall each.
                    loop {
                        if !acked && is_ack(&message) {
                            acked = true;
                        }
                        let close = matches!(message, Message::Close(_));
                        if socket_tx.feed(message).await.is_err() {
                            return;
                        }
                        if close {
                            let _ = socket_tx.flush().await;
                            return;
                        }
                        match rx.try_recv() {
                            Ok(next) => message = next,
                            Err(_) => break,
                        }
                    }
                    if socket_tx.flush().await.is_err() {
                        return;
                    }
                }
                () = &mut init, if !acked => {
                    close(&mut socket_tx, 4408, "Connection initialisation timeout").await;
                    return;
                }
                _ = pings.tick(), if acked => {
                    if socket_tx.send(ping.clone()).await.is_err() {
                        return;
                    }
                }
                () = &mut stop, if !stopping => {
                    stopping = true;
                    grace.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
                }
                () = &mut grace, if stopping => {
                    close(&mut socket_tx, 1001, "the server is shutting down").await;
                    return;
                }
            }
        }
        let _ = socket_tx.close().await;
    }
}

async fn close(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &str,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    let _ = socket.close().await;
}

fn is_ack(message: &Message) -> bool {
    match message {
        Message::Text(text) => {
            serde_json::from_str::<Value>(text.as_str())
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                .as_deref()
                == Some("connection_ack")
        }
        _ => false,
    }
}

/// The headers a connection's `connection_init` payload gives: each string
/// entry of the payload (or of its `headers` object) whose name is a valid
/// header name. They stand beside the upgrade request's headers for every
/// operation of the connection (a header the upgrade request has, which a
/// proxy in front may have set, is not replaced), so bindings read them as
/// `{$header.NAME}` and forwarded headers; they are never logged.
#[derive(Debug, Clone, Default)]
struct InitHeaders(HeaderMap);

fn init_headers(payload: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Value::Object(map) = payload else {
        return headers;
    };
    let nested = match map.get("headers") {
        Some(Value::Object(nested)) => Some(nested),
        _ => None,
    };
    for (name, value) in map.iter().chain(nested.into_iter().flatten()) {
        if let Value::String(value) = value
            && let Ok(name) = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(name, value);
        }
    }
    headers
}

/// Runs a connection's operations through the gateway.
#[derive(Clone)]
struct LiveExecutor {
    gateway: Arc<Gateway>,
    /// The client's address, for rate limits keyed on it.
    peer: Option<std::net::SocketAddr>,
    headers: Arc<HeaderMap>,
    /// Operations this connection runs now.
    held: Arc<AtomicUsize>,
    max: usize,
    stopping: Option<Stopping>,
}

/// One of a connection's places under `maxPerConnection`.
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Executor for LiveExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        if self.held.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.held.fetch_sub(1, Ordering::Relaxed);
            return error(format!(
                "this connection holds maxPerConnection ({}) operations; complete one first",
                self.max
            ));
        }
        let held = Held(self.held.clone());
        let mut headers = HeaderMap::clone(&self.headers);
        if let Some(init) = session_data
            .as_ref()
            .and_then(|d| d.get(&std::any::TypeId::of::<InitHeaders>()))
            .and_then(|d| d.downcast_ref::<InitHeaders>())
        {
            for (name, value) in &init.0 {
                if !self.headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        let incoming = match super::request::from_body(&request_json(&request)) {
            Ok(incoming) => incoming,
            Err(message) => return error(message),
        };
        let gateway = self.gateway.clone();
        let peer = self.peer;
        let responses = futures_util::stream::once(async move {
            // Every operation counts against the client rate limits, as
            // an HTTP request would.
            if let Some(limits) = gateway.client_limits()
                && let Err(refused) = limits.admit_head(&headers, peer).await
            {
                return refused_stream(&refused);
            }
            gateway.stream(incoming, headers).await
        })
        .flatten()
        .map(move |response| {
            let _held = &held;
            response
        });
        match self.stopping.clone() {
            Some(stopping) => responses.take_until(stopping.wait()).boxed(),
            None => responses.boxed(),
        }
    }
}

fn refused_stream(
    refused: &crate::ratelimit::Refused,
) -> BoxStream<'static, async_graphql::Response> {
    let seconds = crate::ratelimit::retry_after_secs(refused.retry_after);
    let error = crate::error::FieldError::new(
        crate::error::ErrorCode::RateLimited,
        format!(
            "too many requests: over the rate limit on `{}` ({}); retry in {seconds} s",
            refused.limit, refused.rate
        ),
    );
    let error = error
        .into_graphql()
        .into_server_error(async_graphql::Pos::default());
    futures_util::stream::once(async move { async_graphql::Response::from_errors(vec![error]) })
        .boxed()
}

fn error(message: String) -> BoxStream<'static, async_graphql::Response> {
    futures_util::stream::once(async move {
        async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(message, None)])
    })
    .boxed()
}

/// The operation as the JSON body of a POST, which the HTTP request reader
/// turns into the gateway's request (persisted queries included).
fn request_json(request: &async_graphql::Request) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    if !request.query.is_empty() {
        body.insert("query".to_owned(), Value::String(request.query.clone()));
    }
    if let Some(name) = &request.operation_name {
        body.insert("operationName".to_owned(), Value::String(name.clone()));
    }
    if let Ok(variables) = request.variables.clone().into_value().into_json() {
        body.insert("variables".to_owned(), variables);
    }
    let extensions: serde_json::Map<String, Value> = request
        .extensions
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone().into_json().ok()?)))
        .collect();
    if !extensions.is_empty() {
        body.insert("extensions".to_owned(), Value::Object(extensions));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}
