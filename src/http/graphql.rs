//! `POST /graphql` and `GET /graphql` per the GraphQL-over-HTTP spec.
//!
//! - Requests: `application/json` bodies, as they are or (decoded in front
//!   of the handler, see `server::compression`) gzip-compressed, held to
//!   `maxBodyBytes` as decoded; any other `Content-Encoding` gets 415. GET
//!   with `query`, `operationName`, `variables` (JSON text) in the query
//!   string, with or without a content type, as urql sends them. Mutations
//!   over GET get 405.
//! - Responses: `Accept` picks `application/graphql-response+json` (request
//!   errors get 400 and no `data`) or `application/json` (200 for every
//!   well-formed request, as the spec asks of that type). Requests that are
//!   not GraphQL-over-HTTP at all (bad JSON, no query) get 400 either way.

use std::collections::BTreeMap;
use std::time::Instant;

/// The request header that asks for `extensions.timeline`.
pub const TIMELINE_HEADER: &str = "tributary-timeline";

use async_graphql::ServerError;
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use super::graphiql;
use super::negotiate::{ResponseType, wants_html};
use super::sse::Live;
use super::{AppState, PeerAddr, Stopping};
use crate::error::ErrorCode;
use crate::gateway::{Coalesce, IncomingRequest, Outcome, PersistedError, Refusal, SharedResponse};
use crate::ratelimit::{Refused, retry_after_secs};
use async_graphql::parser::Error as ParseError;

pub async fn post(
    State(app): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    stopping: Option<Extension<Stopping>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let live = Live::of(&headers, stopping);
    let Some(rt) = live.response_type(&headers) else {
        return not_acceptable();
    };
    // Before the body is read: a client over its limit costs no more.
    if let Some(limits) = app.gateway.client_limits()
        && let Err(refused) = limits.admit_head(&headers, peer.map(|p| p.0.0)).await
    {
        return rate_limited(rt, &refused);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" && media != "application/graphql-response+json" {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            rt,
            format!(
                "POST bodies must be application/json, not `{}`",
                if content_type.is_empty() {
                    "(none)"
                } else {
                    content_type
                }
            ),
        );
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        // A gzip body was decoded (and this header removed) in front of the
        // handler when `compression.requests` is on; what is left, the
        // handler cannot read.
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return unsupported_encoding(&app, rt, encoding);
        }
    }
    let limit = app.gateway.settings().max_body_bytes;
    // For a decoded gzip body the header is gone and the limit applies to
    // the decoded bytes as they stream in.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large(rt, limit);
    }
    let deadline = app.gateway.settings().connections.body_read_timeout;
    let bytes: Bytes = match tokio::time::timeout(deadline, read_body(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(BodyError::TooLarge)) => return too_large(rt, limit),
        Ok(Err(BodyError::Unreadable(e))) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                rt,
                format!("the request body could not be read: {e}"),
            );
        }
        Err(_) => {
            let mut response = http_error(
                StatusCode::REQUEST_TIMEOUT,
                rt,
                format!("the request body did not arrive within {deadline:?} (bodyReadTimeout)"),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let request = match super::request::from_body(&bytes) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, rt, message),
    };
    run(&app, rt, request, headers, false, started, live).await
}

/// `GET /graphql`: a query in the query string, GraphiQL for a browser, or
/// a WebSocket upgrade (subscriptions, see `ws`).
pub async fn get(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (parts, _body) = request.into_parts();
    let peer = parts.extensions.get::<PeerAddr>().copied();
    let upgrade = super::ws::is_upgrade(&parts.headers);
    let query = parts.uri.query().unwrap_or_default().to_owned();
    if !upgrade && query.is_empty() && wants_html(&parts.headers) {
        return graphiql::page(State(app)).await;
    }
    let live = Live::of(
        &parts.headers,
        parts.extensions.get::<Stopping>().cloned().map(Extension),
    );
    let Some(rt) = live.response_type(&parts.headers) else {
        return not_acceptable();
    };
    if let Some(limits) = app.gateway.client_limits()
        && let Err(refused) = limits.admit_head(&parts.headers, peer.map(|p| p.0)).await
    {
        return rate_limited(rt, &refused);
    }
    if upgrade {
        return super::ws::upgrade(app, parts).await;
    }
    let headers = parts.headers;
    let request = match super::request::from_query_string(&query) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, rt, message),
    };
    run(&app, rt, request, headers, true, started, live).await
}

/// Documents at least this long are parsed and measured on the blocking
/// pool: parsing is synchronous and grows with the text (46 ms for 559 KB,
/// so roughly 90 ms for
/// 1 MiB in a release build), and it must not hold a runtime worker that
/// other requests are waiting on.
const LARGE_DOCUMENT: usize = 64 * 1024;

async fn run(
    app: &AppState,
    rt: ResponseType,
    incoming: IncomingRequest,
    headers: HeaderMap,
    read_only: bool,
    started: Instant,
    live: Live,
) -> Response {
    // The document a hash or id names, and whether the manifest lets it run.
    let resolved = match app.gateway.resolve(incoming).await {
        Ok(resolved) => resolved,
        Err(refusal) => return persisted_error(rt, refusal),
    };
    let (resolved, prepared) = if resolved.request.query.len() >= LARGE_DOCUMENT {
        let gateway = app.gateway.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let prepared = gateway.prepare_resolved(&resolved, read_only);
            (resolved, prepared)
        })
        .await;
        match prepared {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "preparing a document failed");
                return http_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    rt,
                    "the document could not be prepared".to_owned(),
                );
            }
        }
    } else {
        let prepared = app.gateway.prepare_resolved(&resolved, read_only);
        (resolved, prepared)
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(Refusal::MutationOverGet) => {
            let mut response = http_error(
                StatusCode::METHOD_NOT_ALLOWED,
                rt,
                "mutations are not allowed over GET; use POST".to_owned(),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        Err(Refusal::Parse(e)) => {
            let positions: Vec<async_graphql::Pos> = e.positions().collect();
            // Some of what the parser refuses are validation rules (5.2.1.1
            // Operation Name Uniqueness, 5.2.2.1 Lone Anonymous Operation,
            // 5.5.1.1 Fragment Name Uniqueness): graphql-js's texts and code.
            let (message, code) = match &e {
                ParseError::OperationDuplicated { operation, .. } => (
                    format!("There can be only one operation named \"{operation}\"."),
                    ErrorCode::GraphqlValidationFailed,
                ),
                ParseError::FragmentDuplicated { fragment, .. } => (
                    format!("There can be only one fragment named \"{fragment}\"."),
                    ErrorCode::GraphqlValidationFailed,
                ),
                ParseError::MultipleOperations { .. } => (
                    "This anonymous operation must be the only defined operation.".to_owned(),
                    ErrorCode::GraphqlValidationFailed,
                ),
                other => (other.to_string(), ErrorCode::GraphqlParseFailed),
            };
            let mut error = ServerError::new(message, None);
            error.locations = match &e {
                // Only the anonymous operation is at fault.
                ParseError::MultipleOperations { anonymous, .. } => vec![*anonymous],
                // In document order, as graphql-js lists them.
                _ => {
                    let mut positions = positions;
                    positions.sort_by_key(|p| (p.line, p.column));
                    positions
                }
            };
            return graphql_errors(rt, vec![error], code);
        }
        Err(Refusal::Invalid(errors)) => {
            return graphql_errors(rt, errors, ErrorCode::GraphqlValidationFailed);
        }
        Err(Refusal::Limit(message)) => {
            let error = ServerError::new(message, None);
            return graphql_errors(rt, vec![error], ErrorCode::GraphqlValidationFailed);
        }
    };
    if let Some(limits) = app.gateway.client_limits()
        && limits.has_operation_limits()
        && let Err(refused) = limits.admit_operation(prepared.operation_label()).await
    {
        return rate_limited(rt, &refused);
    }
    if let Err(refusal) = app.gateway.admit(resolved.needs_introspection, &prepared) {
        return persisted_error(rt, refusal);
    }
    let crate::gateway::Resolved {
        request, register, ..
    } = resolved;
    // APQ: the query is kept under its hash once it has executed (so only
    // documents that validated are kept).
    let register = register.map(|hash| (hash, request.query.clone()));
    let timeline = app.gateway.settings().timeline
        && headers
            .get(TIMELINE_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| matches!(v.trim(), "1" | "true"));
    // What else changes the bytes of the response: its media type and
    // whether it carries the timeline.
    let variant = [u8::from(rt == ResponseType::Json), u8::from(timeline)];
    let subscription = crate::gateway::Gateway::is_subscription(&prepared);
    if live.sse || subscription {
        if !live.sse {
            return http_error(
                StatusCode::BAD_REQUEST,
                rt,
                "a subscription needs a WebSocket (graphql-transport-ws or graphql-ws) or `Accept: text/event-stream`".to_owned(),
            );
        }
        if let Some((hash, query)) = &register {
            app.gateway.register(hash, query);
        }
        return super::sse::respond(
            &app.gateway,
            request,
            prepared,
            headers,
            live.stopping,
            timeline,
        );
    }
    let key = app
        .gateway
        .coalesce_key(&request, &prepared, &headers, &variant);
    let gateway = app.gateway.clone();
    let max_bytes = gateway.settings().max_response_bytes;
    let execution = async move {
        let outcome = gateway
            .execute(request, &prepared, headers, started, timeline)
            .await;
        if outcome.executed
            && let Some((hash, query)) = register
        {
            gateway.register(&hash, &query);
        }
        respond(rt, outcome, max_bytes)
    };
    match (&app.gateway.coalesce, key) {
        (Some(coalesce), Some(key)) => coalesced(coalesce, key, rt, execution).await,
        _ => execution.await,
    }
}

/// Joins an identical query already executing, or runs `execution` for all
/// who join it (every upstream has `dedupe: true`).
async fn coalesced(
    coalesce: &Coalesce,
    key: crate::upstream::cache::CacheKey,
    rt: ResponseType,
    execution: impl std::future::Future<Output = Response> + Send + 'static,
) -> Response {
    let (shared, _joined) = coalesce
        .inflight
        .run(key, async move {
            let (parts, body) = execution.await.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            Ok(std::sync::Arc::new(SharedResponse {
                status: parts.status,
                content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
                body,
            }))
        })
        .await;
    match shared {
        Ok(shared) => {
            let mut response = (shared.status, shared.body.clone()).into_response();
            if let Some(content_type) = &shared.content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.clone());
            }
            response
        }
        Err(e) => http_error(StatusCode::INTERNAL_SERVER_ERROR, rt, e.message),
    }
}

fn respond(rt: ResponseType, outcome: Outcome, max_bytes: usize) -> Response {
    let Outcome { response, executed } = outcome;
    if !executed {
        return graphql_errors(rt, response.errors, ErrorCode::GraphqlValidationFailed);
    }
    let body = ResponseBody {
        data: Some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    match serialize_within(&body, max_bytes) {
        Some(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, rt.content_type())],
            bytes,
        )
            .into_response(),
        None => {
            let error = crate::error::FieldError::new(
                ErrorCode::ResponseTooLarge,
                format!("the response is larger than maxResponseBytes ({max_bytes} bytes)"),
            );
            let errors = [error.into_graphql().into_server_error(Default::default())];
            let body = ResponseBody {
                data: Some(&async_graphql::Value::Null),
                errors: &errors,
                extensions: &BTreeMap::new(),
            };
            json_response(StatusCode::OK, rt, &body)
        }
    }
}

/// Serializes `body`, giving up (None) as soon as it passes `max` bytes:
/// an oversized response is never held whole.
fn serialize_within(body: &ResponseBody<'_>, max: usize) -> Option<Vec<u8>> {
    struct Capped {
        out: Vec<u8>,
        max: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.out.len() + buf.len() > self.max {
                return Err(std::io::Error::other("maxResponseBytes"));
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = Capped {
        out: Vec::with_capacity(max.min(4096)),
        max,
    };
    serde_json::to_writer(&mut writer, body).ok()?;
    Some(writer.out)
}

/// Errors raised before execution: no `data`; 400 for the GraphQL media type.
fn graphql_errors(rt: ResponseType, mut errors: Vec<ServerError>, code: ErrorCode) -> Response {
    for error in &mut errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", code.as_str());
        }
    }
    let status = match rt {
        ResponseType::GraphqlResponse => code.http_status(),
        ResponseType::Json => StatusCode::OK,
    };
    let body = ResponseBody {
        data: None,
        errors: &errors,
        extensions: &BTreeMap::new(),
    };
    json_response(status, rt, &body)
}

/// 429 for a request over a client rate limit, before anything ran: a
/// GraphQL error with `RATE_LIMITED` and `Retry-After` in whole seconds.
fn rate_limited(rt: ResponseType, refused: &Refused) -> Response {
    let code = ErrorCode::RateLimited;
    let seconds = retry_after_secs(refused.retry_after);
    let mut error = ServerError::new(
        format!(
            "too many requests: over the rate limit on `{}` ({}); retry in {seconds} s",
            refused.limit, refused.rate
        ),
        None,
    );
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    let body = ResponseBody {
        data: None,
        errors: std::slice::from_ref(&error),
        extensions: &BTreeMap::new(),
    };
    let mut response = json_response(code.http_status(), rt, &body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A document that could not be had from its hash or id, or may not run:
/// a request error with the refusal's code. `PersistedQueryNotFound` is 200
/// for either media type (see `ErrorCode::http_status`).
fn persisted_error(rt: ResponseType, refusal: PersistedError) -> Response {
    let error = ServerError::new(refusal.message, None);
    let mut response = graphql_errors(rt, vec![error], refusal.code);
    // A hash that does not match its query, or both a query and a
    // `documentId`: not a well-formed request, whatever the media type.
    if refusal.code == ErrorCode::BadRequest {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// A request that is not well-formed GraphQL over HTTP.
fn http_error(status: StatusCode, rt: ResponseType, message: String) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::BadRequest.as_str());
    let body = ResponseBody {
        data: None,
        errors: std::slice::from_ref(&error),
        extensions: &BTreeMap::new(),
    };
    json_response(status, rt, &body)
}

enum BodyError {
    /// More than the limit arrived (after decoding, for a gzip body).
    TooLarge,
    /// The stream broke off, or a gzip body is not valid gzip.
    Unreadable(axum::BoxError),
}

/// The whole body, failing as soon as more than `limit` bytes have
/// arrived: a gzip bomb is decoded only up to the limit, never held whole.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Unreadable(e)),
    }
}

/// 415 for a body in an encoding the gateway does not decode, with the
/// encodings it does (RFC 7694).
fn unsupported_encoding(app: &AppState, rt: ResponseType, encoding: &HeaderValue) -> Response {
    let gzip = app.gateway.settings().compression.requests;
    let accepted = if gzip { "gzip" } else { "identity" };
    let message = format!(
        "request bodies with Content-Encoding `{}` are not accepted; send {}",
        String::from_utf8_lossy(encoding.as_bytes()),
        if gzip {
            "them as they are or with Content-Encoding: gzip"
        } else {
            "them as they are (compression.requests is off)"
        }
    );
    let mut response = http_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, rt, message);
    response
        .headers_mut()
        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accepted));
    response
}

fn too_large(rt: ResponseType, limit: usize) -> Response {
    http_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        rt,
        format!("the request body is larger than {limit} bytes (maxBodyBytes)"),
    )
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "accept application/graphql-response+json or application/json\n",
    )
        .into_response()
}

#[derive(Serialize)]
struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

fn json_response(status: StatusCode, rt: ResponseType, body: &ResponseBody<'_>) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, rt.content_type())], bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot serialize the response\n",
            )
                .into_response()
        }
    }
}
