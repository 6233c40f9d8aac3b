//! HTTP endpoints: GraphQL over HTTP, GraphiQL, health.

pub mod graphiql;
pub mod graphql;
mod negotiate;
pub mod request;
mod sse;
mod ws;

use std::sync::Arc;

use crate::gateway::Gateway;

/// The peer address of the connection a request came on, in its
/// extensions when a rate limit keys on the client IP
/// (`ConnectionSettings::peer_addresses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Set when the server begins to shut down: subscriptions (WebSocket and
/// SSE) complete and close instead of holding the drain open. In each
/// request's extensions.
/// A clone held by an upgraded connection (a WebSocket, which no longer
/// counts as an HTTP connection) makes the server's drain wait for it.
#[derive(Debug, Clone)]
pub struct Stopping {
    pub signal: tokio::sync::watch::Receiver<bool>,
    pub drain: tokio::sync::mpsc::Sender<()>,
}

impl Stopping {
    /// Resolves once the server is stopping (at once if it already is).
    pub async fn wait(mut self) {
        // A dropped sender means the server is gone: stop too.
        let _ = self.signal.wait_for(|stopping| *stopping).await;
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub assets: Arc<graphiql::Assets>,
}
