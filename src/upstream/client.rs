//! One pooled HTTP client per upstream, behind its guards.

use std::sync::Arc;

use serde_json::Value;

use super::UpstreamRequest;
use super::guard::{AttemptError, CallOptions, Guard};
use crate::config::{RestBinding, UpstreamConfig};
use crate::error::FieldError;

/// A declared upstream with its connection pool and guard state.
#[derive(Debug)]
pub struct Upstream {
    pub config: Arc<UpstreamConfig>,
    client: reqwest::Client,
    pub guard: Guard,
}

impl Upstream {
    pub fn new(config: Arc<UpstreamConfig>) -> Result<Upstream, reqwest::Error> {
        crate::init_tls();
        let policies = &config.policies;
        // No overall reqwest timeout: the guard's deadline covers retries too.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(policies.connect_timeout)
            .read_timeout(policies.read_timeout)
            .pool_max_idle_per_host(config.pool_max_idle)
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        if config.http2_only {
            builder = builder.http2_prior_knowledge();
        }
        let mut defaults = http::HeaderMap::new();
        for (name, value) in &config.headers {
            defaults.append(name.clone(), value.clone());
        }
        let client = builder.default_headers(defaults).build()?;
        let guard = Guard::new(&config.name, policies);
        Ok(Upstream {
            config,
            client,
            guard,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Sends `request` under the upstream's guards, with `binding`'s
    /// overrides, and returns the response JSON.
    pub async fn call(
        &self,
        request: &UpstreamRequest,
        binding: &RestBinding,
    ) -> Result<Value, FieldError> {
        let policies = &self.config.policies;
        let options = CallOptions {
            timeout: binding
                .timeout
                .map_or(policies.timeout, |t| t.min(policies.timeout)),
            retry: binding.retry.as_ref().unwrap_or(&policies.retry),
            idempotent: binding.idempotent,
        };
        self.guard.call(options, || self.attempt(request)).await
    }

    /// One try: send, check the status, read at most `maxResponseBytes`,
    /// parse JSON.
    async fn attempt(&self, request: &UpstreamRequest) -> Result<Value, AttemptError> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(super::guard::retry::retry_after);
            return Err(AttemptError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }
        let limit = self.config.max_response_bytes;
        let too_large = || AttemptError::BadResponse {
            status: status.as_u16(),
            message: format!("answered with more than {limit} bytes (maxResponseBytes)"),
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let capacity = response.content_length().unwrap_or(1024).min(limit as u64) as usize;
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| AttemptError::BadResponse {
            status: status.as_u16(),
            message: format!(
                "answered with a body that is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        })
    }
}

/// reqwest's messages carry the URL, which may hold secrets: keep the kind only.
fn classify(e: &reqwest::Error) -> AttemptError {
    if e.is_timeout() {
        AttemptError::Timeout
    } else if e.is_connect() {
        AttemptError::Connect
    } else if e.is_body() || e.is_decode() {
        AttemptError::Broken
    } else {
        AttemptError::Connect
    }
}
