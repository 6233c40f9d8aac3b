//! A raw `graphql-transport-ws` / `graphql-ws` client for tests that need
//! the protocol's edges (the JavaScript clients cover the rest).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::TestGateway;

/// A raw `graphql-transport-ws` or `graphql-ws` client.
pub struct Socket {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    legacy: bool,
}

impl Socket {
    pub async fn open(gateway: &TestGateway, protocol: &str, init: Value) -> Socket {
        Socket::open_with(gateway, protocol, init, &[]).await
    }

    /// [`Socket::open`] offering `protocols` (the first is the one spoken)
    /// with extra upgrade headers.
    pub async fn open_with(
        gateway: &TestGateway,
        protocols: &str,
        init: Value,
        headers: &[(&str, &str)],
    ) -> Socket {
        let protocol = protocols
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut request = gateway
            .url()
            .replace("http", "ws")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().expect("header"));
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connects");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol.as_str()),
            "the 101 names the protocol the socket speaks"
        );
        let mut socket = Socket {
            ws,
            legacy: protocol == "graphql-ws",
        };
        socket
            .send(json!({ "type": "connection_init", "payload": init }))
            .await;
        let ack = socket.until(|m| m["type"] == "connection_ack").await;
        assert_eq!(ack["type"], "connection_ack");
        socket
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("sends");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query } }))
            .await;
    }

    /// The next message for which `pick` holds (pings and keep-alives skipped).
    pub async fn until(&mut self, mut pick: impl FnMut(&Value) -> bool) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let message: Value =
                            serde_json::from_str(text.as_str()).expect("JSON message");
                        if pick(&message) {
                            return message;
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("the socket ended: {other:?}"),
                }
            }
        })
        .await
        .expect("a message in time")
    }

    /// The payload of the next `next` (`data`) message for `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        let kind = if self.legacy { "data" } else { "next" };
        self.until(|m| m["id"] == id && m["type"] == kind).await["payload"].clone()
    }

    pub async fn close_code(&mut self) -> Option<u16> {
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = self.ws.next().await {
                match message {
                    Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .expect("closed in time")
    }
}
