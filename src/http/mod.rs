//! HTTP endpoints: GraphQL over HTTP, GraphiQL, health.

pub mod graphiql;
pub mod graphql;
mod negotiate;
pub mod request;

use std::sync::Arc;

use crate::gateway::Gateway;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub assets: Arc<graphiql::Assets>,
}
