//! What a subgraph answered, as the executor reads it: the `errors` of an
//! answer, and a subscription event standing for the root fetch's answer.

use async_graphql::PathSegment;
use serde_json::Value as Json;

use crate::error::{ErrorCode, FieldError};

/// A subscription event as the root fetch's answer. An event with no data
/// and no error at a path is a failure of the whole root.
pub(super) fn seeded(seed: &Json, upstream: &str, private: bool) -> Result<Json, FieldError> {
    let no_data = seed.get("data").is_none_or(Json::is_null);
    let errors = seed.get("errors").and_then(Json::as_array);
    let pathless = errors.and_then(|errors| {
        errors
            .iter()
            .find(|e| e.get("path").is_none_or(Json::is_null))
    });
    match (no_data, pathless) {
        (true, Some(error)) => Err(FieldError::new(
            ErrorCode::UpstreamGraphqlError,
            crate::exec::resolve::graphql::shown_message(
                upstream,
                private,
                error
                    .get("message")
                    .and_then(Json::as_str)
                    .unwrap_or("the subgraph's event carried an error"),
            ),
        )
        .upstream(upstream)),
        (true, None) if errors.is_none() => Err(FieldError::new(
            ErrorCode::UpstreamBadResponse,
            "the subgraph's event has no data",
        )
        .upstream(upstream)),
        _ => Ok(seed.clone()),
    }
}

/// The subgraph's `errors` as field errors of the upstream, each with its
/// path in the subgraph's response. Only the message travels: extensions
/// (stack traces, internals) stay in the subgraph, and with `private`
/// (`privateErrors: true`) the message too.
pub(super) fn subgraph_errors(
    body: &Json,
    upstream: &str,
    private: bool,
) -> Vec<(Vec<PathSegment>, FieldError)> {
    let Some(Json::Array(errors)) = body.get("errors") else {
        return Vec::new();
    };
    errors
        .iter()
        .map(|e| {
            let message = crate::exec::resolve::graphql::shown_message(
                upstream,
                private,
                e.get("message")
                    .and_then(Json::as_str)
                    .unwrap_or("the subgraph reported an error"),
            );
            let path: Vec<PathSegment> = match e.get("path") {
                Some(Json::Array(p)) => p
                    .iter()
                    .filter_map(|s| match s {
                        Json::String(k) => Some(PathSegment::Field(k.clone())),
                        Json::Number(n) => n
                            .as_u64()
                            .and_then(|i| usize::try_from(i).ok())
                            .map(PathSegment::Index),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (
                path,
                FieldError::new(ErrorCode::UpstreamGraphqlError, message).upstream(upstream),
            )
        })
        .collect()
}
