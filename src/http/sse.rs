//! GraphQL over Server-Sent Events, the protocol's "distinct connections"
//! mode: a `POST` (or `GET`) of `/graphql` with `Accept: text/event-stream`
//! is answered by a stream of `next` events, one per response (a
//! subscription's events; a query's one response), then one `complete`.
//! A comment line every `keepAlive` keeps proxies from closing a quiet
//! stream; a client that goes away drops the stream, and with it the
//! subscription. At shutdown the stream completes.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderValue, header};

use axum::Extension;

use super::Stopping;
use super::negotiate::ResponseType;
use crate::gateway::{Gateway, GraphqlRequest, Prepared};

/// Whether the client asked for an event stream (GraphQL over SSE), and
/// the server's stop signal that ends one.
pub(super) struct Live {
    pub(super) sse: bool,
    pub(super) stopping: Option<Stopping>,
}

impl Live {
    pub(super) fn of(headers: &HeaderMap, stopping: Option<Extension<Stopping>>) -> Live {
        Live {
            sse: wants_event_stream(headers),
            stopping: stopping.map(|s| s.0),
        }
    }

    /// How errors before the stream are answered: as
    /// `application/graphql-response+json` for an event stream.
    pub(super) fn response_type(&self, headers: &HeaderMap) -> Option<ResponseType> {
        if self.sse {
            Some(ResponseType::GraphqlResponse)
        } else {
            super::negotiate::response_type(headers)
        }
    }
}

/// Whether the client's first choice is an event stream.
pub(super) fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next()
        .is_some_and(|first| {
            first
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// The event stream of `request`, already prepared and admitted.
pub(super) fn respond(
    gateway: &Arc<Gateway>,
    request: GraphqlRequest,
    prepared: Arc<Prepared>,
    headers: HeaderMap,
    stopping: Option<Stopping>,
    timeline: bool,
) -> Response {
    let started = std::time::Instant::now();
    let responses: BoxStream<'static, async_graphql::Response> =
        if Gateway::is_subscription(&prepared) {
            gateway.subscribe(request, &prepared, headers)
        } else {
            let gateway = gateway.clone();
            futures_util::stream::once(async move {
                gateway
                    .execute(request, &prepared, headers, started, timeline)
                    .await
                    .response
            })
            .boxed()
        };
    let keep_alive = gateway.settings().subscriptions.keep_alive;
    let gauge = gateway.metrics().live.connections("sse");
    gauge.inc();
    let state = Events {
        responses,
        ticks: tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive),
        stop: Box::pin(async move {
            match stopping {
                Some(stopping) => stopping.wait().await,
                None => std::future::pending().await,
            }
        }),
        done: false,
        gauge,
    };
    let body = futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let chunk = tokio::select! {
            next = state.responses.next() => match next {
                Some(response) => next_event(&response),
                None => {
                    state.done = true;
                    Bytes::from_static(b"event: complete\ndata:\n\n")
                }
            },
            _ = state.ticks.tick() => Bytes::from_static(b":\n\n"),
            () = &mut state.stop => {
                state.done = true;
                Bytes::from_static(b"event: complete\ndata:\n\n")
            }
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), state))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                http::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

struct Events {
    responses: BoxStream<'static, async_graphql::Response>,
    ticks: tokio::time::Interval,
    stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    done: bool,
    /// Open SSE streams; decremented when the client goes away too.
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn next_event(response: &async_graphql::Response) -> Bytes {
    let json = serde_json::to_string(response).unwrap_or_else(|_| {
        r#"{"errors":[{"message":"the response could not be serialized"}]}"#.to_owned()
    });
    Bytes::from(format!("event: next\ndata: {json}\n\n"))
}
