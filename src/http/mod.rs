//! HTTP endpoints: GraphQL over HTTP, GraphiQL, health.

pub mod graphiql;
pub mod graphql;
mod negotiate;
pub mod request;
