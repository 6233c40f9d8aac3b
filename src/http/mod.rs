//! HTTP endpoints: GraphQL over HTTP, GraphiQL, health.

pub mod graphiql;
pub mod graphql;
mod negotiate;
pub mod request;

use std::sync::Arc;

use crate::gateway::Gateway;

/// The peer address of the connection a request came on, in its
/// extensions when a rate limit keys on the client IP
/// (`ConnectionSettings::peer_addresses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub assets: Arc<graphiql::Assets>,
}
