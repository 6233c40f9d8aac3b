//! Whole-operation coalescing: identical queries in flight share one
//! execution when every upstream dedupes, keyed on everything that can
//! change the response (text, operation, variables, response variant, and
//! every inbound header a binding or upstream forwards).

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use http::{HeaderMap, HeaderName};

use super::{Gateway, GraphqlRequest, Prepared};
use crate::config::Config;
use crate::upstream::inflight::Inflight;

/// Whole-operation coalescing. When every upstream dedupes, two identical
/// queries in flight (same text, operation, variables, response type,
/// timeline request, and every inbound header any binding reads) make the same
/// upstream requests and get the same answer, so they share one execution.
pub(crate) struct Coalesce {
    /// Inbound headers that can change what a binding sends upstream.
    pub(super) vary: Vec<HeaderName>,
    pub(crate) inflight: Inflight<crate::upstream::cache::CacheKey, Arc<SharedResponse>>,
}

/// A finished response, shareable between coalesced requests.
#[derive(Debug)]
pub(crate) struct SharedResponse {
    pub(crate) status: http::StatusCode,
    pub(crate) content_type: Option<http::HeaderValue>,
    pub(crate) body: bytes::Bytes,
}

impl Gateway {
    /// The coalescing key of a query (`None` when coalescing is off or the
    /// operation is a mutation): everything that can change its response.
    pub(crate) fn coalesce_key(
        &self,
        request: &GraphqlRequest,
        prepared: &Prepared,
        headers: &HeaderMap,
        variant: &[u8],
    ) -> Option<crate::upstream::cache::CacheKey> {
        let coalesce = self.coalesce.as_ref()?;
        if prepared.kind != Some(OperationType::Query) {
            return None;
        }
        Some(operation_key(
            "operation",
            request,
            headers,
            &coalesce.vary,
            variant,
        ))
    }
}

/// What two executions share when they are the same: the operation name,
/// document and variables, the value of every header in `vary`, and
/// `variant`. Exact bytes, each part length-prefixed: header values that
/// differ in any byte (valid text or not) never share.
pub(super) fn operation_key(
    kind: &str,
    request: &GraphqlRequest,
    headers: &HeaderMap,
    vary: &[HeaderName],
    variant: &[u8],
) -> crate::upstream::cache::CacheKey {
    let mut identity = Vec::with_capacity(request.query.len() + 256);
    let mut part = |bytes: &[u8]| {
        identity.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        identity.extend_from_slice(bytes);
    };
    part(variant);
    part(
        request
            .operation_name
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    part(request.query.as_bytes());
    match &request.variables {
        // Serialized in place: no copy of the variables per request.
        Some(v) => part(&serde_json::to_vec(v).unwrap_or_default()),
        None => part(b"\0none"),
    }
    for name in vary {
        for value in headers.get_all(name) {
            part(name.as_str().as_bytes());
            part(value.as_bytes());
        }
    }
    crate::upstream::cache::key(kind, &identity)
}

/// Every inbound header some binding or upstream forwards or reads (a
/// supergraph's subgraph calls carry their upstream's `forwardHeaders`).
pub(super) fn forwarded_headers(config: &Config) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for upstream in config.upstreams.values() {
        for name in &upstream.forward_headers {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let bindings = config.types.values().flat_map(|t| match t {
        crate::config::TypeDef::Object(o) | crate::config::TypeDef::Interface(o) => {
            o.fields.values().collect::<Vec<_>>()
        }
        _ => Vec::new(),
    });
    for field in bindings {
        if let crate::config::FieldSource::Rest(binding) = &field.source {
            for name in &binding.forward_headers {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}
