//! Faults a simulated upstream can be told to inject, one request at a time or
//! steadily: what the guard tests need, and what the demo flips on request
//! (`GET /__fault?mode=slow|down|flaky|hang|bad-json|graphql-errors|ok` on any
//! demo upstream).

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};

/// What the next answer does instead of (or before) the normal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally after this extra delay.
    Delay(Duration),
    /// Accept the request and never answer.
    Hang,
    /// Answer this status with a small JSON error body.
    Status(u16),
    /// 429 with `Retry-After: N` (seconds).
    RateLimited(u64),
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with a JSON string where an object is expected.
    WrongType,
    /// 200 with a JSON string body of this many bytes.
    Oversized(usize),
    /// 200, part of the body, then the connection is cut.
    ResetMidBody,
    /// Every second request answers 503 (a steady fault for the demo).
    Flaky,
    /// 200 with a GraphQL response of errors and no data: what a GraphQL
    /// upstream (a subgraph) answers when its resolvers fail.
    GraphqlErrors,
}

/// The faults still to inject: queued ones first, then the steady one.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    queue: VecDeque<Fault>,
    steady: Option<Fault>,
    flaky_count: u64,
}

impl FaultPlan {
    pub(crate) fn push(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.queue.extend(faults);
    }

    pub(crate) fn set_steady(&mut self, fault: Option<Fault>) {
        self.steady = fault;
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.steady = None;
    }

    /// The fault for the request arriving now, if any.
    pub(crate) fn next(&mut self) -> Option<Fault> {
        if let Some(fault) = self.queue.pop_front() {
            return Some(fault);
        }
        match &self.steady {
            Some(Fault::Flaky) => {
                self.flaky_count += 1;
                self.flaky_count
                    .is_multiple_of(2)
                    .then_some(Fault::Status(503))
            }
            other => other.clone(),
        }
    }
}

/// The demo's named modes.
pub fn mode(name: &str) -> Option<Option<Fault>> {
    Some(match name {
        "ok" => None,
        "slow" => Some(Fault::Delay(Duration::from_secs(3))),
        "down" => Some(Fault::Status(503)),
        "flaky" => Some(Fault::Flaky),
        "hang" => Some(Fault::Hang),
        "bad-json" => Some(Fault::MalformedJson),
        "graphql-errors" => Some(Fault::GraphqlErrors),
        _ => return None,
    })
}

/// The response for a fault that replaces the normal answer; `None` when the
/// normal answer should follow (after any delay the caller applied).
pub(crate) async fn respond(fault: &Fault) -> Option<Response> {
    let json = |status: StatusCode, body: &'static str| {
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    Some(match fault {
        Fault::Delay(d) => {
            tokio::time::sleep(*d).await;
            return None;
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            json(StatusCode::GATEWAY_TIMEOUT, r#"{"error":"hung"}"#)
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json(
                status,
                r#"{"error":"injected fault: secret-upstream-detail"}"#,
            )
        }
        Fault::RateLimited(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::RETRY_AFTER, secs.to_string()),
            ],
            r#"{"error":"slow down"}"#,
        )
            .into_response(),
        Fault::MalformedJson => json(StatusCode::OK, r#"{"id": "1", "name": "#),
        Fault::WrongType => json(StatusCode::OK, r#""surprise""#),
        Fault::Oversized(n) => {
            let mut body = Vec::with_capacity(n + 2);
            body.push(b'"');
            body.resize(n + 1, b'x');
            body.push(b'"');
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Fault::ResetMidBody => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(br#"{"id": "1", "name": "par"#)),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                )),
            ];
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
        Fault::GraphqlErrors => json(
            StatusCode::OK,
            r#"{"data":null,"errors":[{"message":"injected fault: the upstream's resolvers failed","extensions":{"code":"INJECTED_FAULT"}}]}"#,
        ),
        Fault::Flaky => return None,
    })
}
