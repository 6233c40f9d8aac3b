//! The CORS layer built from `@server(cors: ...)`: tower-http answers
//! preflights itself (the router, and so the GraphQL engine, never sees
//! them) and adds the `Access-Control-*` headers to every other answer.

use std::sync::Arc;

use http::{HeaderName, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::config::{CorsSettings, HeaderList, Origins};
use crate::gateway::{Gateway, PLAN_HEADER};
use crate::http::graphql::TIMELINE_HEADER;

/// The layer for `cors`. The loader has refused what tower-http would
/// panic on (credentials with a wildcard origin or header list).
pub(super) fn layer(cors: &CorsSettings, gateway: &Gateway) -> CorsLayer {
    let origins = match &cors.origins {
        Origins::Any => AllowOrigin::any(),
        listed @ Origins::Listed(_) => {
            let listed = Arc::new(listed.clone());
            AllowOrigin::predicate(move |origin, _| listed.allows(origin.as_bytes()))
        }
    };
    let allow_headers = match &cors.allow_headers {
        Some(HeaderList::Any) => AllowHeaders::any(),
        Some(HeaderList::Listed(names)) => AllowHeaders::list(names.iter().cloned()),
        None => AllowHeaders::list(read_headers(gateway)),
    };
    let expose_headers = match &cors.expose_headers {
        HeaderList::Any => ExposeHeaders::any(),
        HeaderList::Listed(names) => ExposeHeaders::list(names.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(allow_headers)
        .expose_headers(expose_headers)
        .allow_credentials(cors.allow_credentials)
        .max_age(cors.max_age)
}

/// What the gateway reads of a request, so what a page may need to send:
/// the body's type, `accept`, the trace context, the headers the schema
/// forwards, and the timeline and plan switches where they are allowed.
fn read_headers(gateway: &Gateway) -> Vec<HeaderName> {
    let mut names = vec![
        header::CONTENT_TYPE,
        header::ACCEPT,
        HeaderName::from_static("traceparent"),
        HeaderName::from_static("tracestate"),
    ];
    if gateway.settings().timeline {
        names.push(HeaderName::from_static(TIMELINE_HEADER));
        names.push(HeaderName::from_static(PLAN_HEADER));
    }
    for name in gateway.forwarded_headers() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}
