//! The gateway's one error vocabulary: every error a client can see carries an
//! [`ErrorCode`] in `extensions.code`, and this module is the only place where
//! internal errors become GraphQL errors.

use std::fmt;

use async_graphql::ErrorExtensions;

/// The value of `extensions.code` on every error the gateway reports.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The upstream answered with a status outside 2xx.
    UpstreamHttpError,
    /// The upstream could not be reached (connection refused, reset, DNS).
    UpstreamUnavailable,
    /// The upstream did not answer within its time budget.
    UpstreamTimeout,
    /// The upstream's circuit breaker is open: the call was not made.
    UpstreamCircuitOpen,
    /// A GraphQL upstream (a subgraph) answered with an error for the field.
    UpstreamGraphqlError,
    /// The upstream's concurrency cap was full for longer than its queue timeout.
    UpstreamOverloaded,
    /// The upstream's `rateLimit` allows no more calls now: this one was not made.
    UpstreamRateLimited,
    /// The upstream answered 2xx with a body we cannot use: not JSON, too big,
    /// or a JSON value that does not fit the declared GraphQL type.
    UpstreamBadResponse,
    /// A value from the client (argument, header) cannot be placed in an
    /// upstream request safely, e.g. a path segment of `..`.
    BadUserInput,
    /// The request body or parameters are not a GraphQL-over-HTTP request.
    BadRequest,
    /// The document does not parse.
    GraphqlParseFailed,
    /// The document does not validate against the schema (or exceeds limits).
    GraphqlValidationFailed,
    /// The operation type is not allowed over this HTTP method.
    MethodNotAllowed,
    /// The operation, as it ran, resolved more objects and list items than
    /// `maxCost`, or planned more calls than `maxUpstreamCalls`: it was
    /// stopped. (A document whose measure exceeds a limit before execution
    /// is a validation failure.)
    OperationLimitExceeded,
    /// The client's requests are over a `@server(rateLimit:)`: the request
    /// was refused before it ran (429, with `Retry-After`).
    RateLimited,
    /// The request ran longer than `maxRequestTime` and was dropped.
    RequestTimeout,
    /// The response would be larger than `maxResponseBytes`.
    ResponseTooLarge,
    /// The request named its document by a hash (`persistedQuery`) or id
    /// (`documentId`) the gateway does not know: send the query with it.
    PersistedQueryNotFound,
    /// The operation is not in the trusted-documents manifest, which is
    /// enforced.
    PersistedQueryNotInList,
    /// The request named its document by hash, and persisted queries are
    /// off (`persistedQueries: false`).
    PersistedQueryNotSupported,
    /// A bug: something the gateway believed impossible happened.
    InternalError,
}

impl ErrorCode {
    /// The SCREAMING_SNAKE_CASE name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UpstreamHttpError => "UPSTREAM_HTTP_ERROR",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorCode::UpstreamBadResponse => "UPSTREAM_BAD_RESPONSE",
            ErrorCode::UpstreamCircuitOpen => "UPSTREAM_CIRCUIT_OPEN",
            ErrorCode::UpstreamGraphqlError => "UPSTREAM_GRAPHQL_ERROR",
            ErrorCode::UpstreamOverloaded => "UPSTREAM_OVERLOADED",
            ErrorCode::UpstreamRateLimited => "UPSTREAM_RATE_LIMITED",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::OperationLimitExceeded => "OPERATION_LIMIT_EXCEEDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
            ErrorCode::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status of a response whose only error has this code and that
    /// carries no `data` (request errors). Field errors never change the status.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ErrorCode::BadRequest
            | ErrorCode::GraphqlParseFailed
            | ErrorCode::GraphqlValidationFailed
            | ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            // Not an error of the request: the client's next step (send the
            // query with its hash) is part of the protocol, and Apollo's and
            // urql's links read it from a 200 answer.
            ErrorCode::PersistedQueryNotFound => StatusCode::OK,
            ErrorCode::PersistedQueryNotInList | ErrorCode::PersistedQueryNotSupported => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::UpstreamHttpError
            | ErrorCode::UpstreamUnavailable
            | ErrorCode::UpstreamBadResponse
            | ErrorCode::UpstreamGraphqlError => StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamCircuitOpen
            | ErrorCode::UpstreamOverloaded
            | ErrorCode::UpstreamRateLimited => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::OperationLimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ResponseTooLarge => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that happened while resolving one field. Cheap to clone, because
/// one upstream failure can be reported by several fields that share a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: ErrorCode,
    /// Safe for clients: never an upstream body, URL secret or header value.
    pub message: String,
    /// The upstream the failure came from, if any.
    pub upstream: Option<String>,
    /// The upstream's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How many attempts were made (0: none, e.g. breaker open).
    pub attempts: u32,
    /// Where below the field the failure is: the indices of a null item of
    /// a list whose items are non-null (the error's path ends there).
    pub item: Option<Vec<usize>>,
}

/// The extension that carries [`FieldError::item`] to the null propagation,
/// which moves it into the error's path.
pub const ITEM_EXTENSION: &str = "tributary.item";

/// The extension that carries where in the document an error is, when that
/// is not the field's position (`[line, column]`); the null propagation
/// moves it into the error's locations.
pub const LOCATION_EXTENSION: &str = "tributary.location";

impl FieldError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        FieldError {
            code,
            message: message.into(),
            upstream: None,
            status: None,
            attempts: 0,
            item: None,
        }
    }

    pub fn upstream(mut self, name: &str) -> Self {
        self.upstream = Some(name.to_owned());
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The GraphQL error a resolver returns.
    pub fn into_graphql(self) -> async_graphql::Error {
        let FieldError {
            code,
            message,
            upstream,
            status,
            item,
            ..
        } = self;
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(item) = &item {
                ext.set(ITEM_EXTENSION, item.clone());
            }
            if let Some(upstream) = &upstream {
                ext.set("upstream", upstream.as_str());
            }
            if let Some(status) = status {
                ext.set("status", status);
            }
        })
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for FieldError {}
