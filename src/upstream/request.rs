//! A rendered upstream request, ready to send, and its identity (the exact
//! bytes that cache, single-flight and dedupe keys are made of).

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use url::Url;

/// A rendered request, ready to send.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    /// W3C trace headers passed through from the client; not part of the
    /// request's identity (cache and dedupe keys).
    pub trace: Vec<(HeaderName, HeaderValue)>,
    /// The request's deadline, when it has one: the call gets at most what
    /// remains (retries included). Not part of the identity.
    pub deadline: Option<Deadline>,
}

/// When the client's request must be answered, and the header that tells
/// each upstream attempt how many milliseconds remain.
#[derive(Debug, Clone)]
pub struct Deadline {
    pub at: std::time::Instant,
    pub header: Option<HeaderName>,
}

impl UpstreamRequest {
    /// The request's identity, from its exact bytes: identical requests
    /// (within one upstream) have identical identities, and requests that
    /// differ in any byte of method, URL, header names or values or body
    /// never share one. Every part is length-prefixed, so no two sequences
    /// of parts run together into the same bytes.
    pub fn identity(&self) -> Vec<u8> {
        fn part(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let url = self.url.as_str();
        let body = self.body.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(url.len() + body.len() + 64 * (self.headers.len() + 1));
        part(&mut out, self.method.as_str().as_bytes());
        part(&mut out, url.as_bytes());
        for (name, value) in &self.headers {
            part(&mut out, name.as_str().as_bytes());
            part(&mut out, value.as_bytes());
        }
        // A body-less request and one with an empty body differ.
        out.push(u8::from(self.body.is_some()));
        part(&mut out, body);
        out
    }
}
