//! GraphQL over HTTP for one subgraph: `POST /graphql` with a JSON
//! `{query, variables, operationName}`, answered with the JSON response.

use async_graphql::dynamic::Schema;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;

pub(super) fn router(schema: Schema) -> Router {
    Router::new()
        // GET with `Upgrade: websocket`: subscriptions over
        // graphql-transport-ws (or the legacy graphql-ws).
        .route(
            "/graphql",
            post(graphql).get_service(async_graphql_axum::GraphQLSubscription::new(schema.clone())),
        )
        .with_state(schema)
}

async fn graphql(State(schema): State<Schema>, body: Bytes) -> Response {
    match serde_json::from_slice::<async_graphql::Request>(&body) {
        Ok(request) => Json(schema.execute(request).await).into_response(),
        // GraphQL over HTTP: a body that is not a GraphQL request is a 400,
        // still with a GraphQL-shaped error.
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "errors": [{ "message": format!("the body is not a GraphQL request: {e}") }]
            })),
        )
            .into_response(),
    }
}
