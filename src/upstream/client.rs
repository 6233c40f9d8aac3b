//! One pooled HTTP client per upstream, and the mapping of everything that
//! can go wrong on the wire to an [`ErrorCode`].

use std::sync::Arc;

use serde_json::Value;

use super::UpstreamRequest;
use crate::config::UpstreamConfig;
use crate::error::{ErrorCode, FieldError};

/// A declared upstream with its connection pool.
#[derive(Debug)]
pub struct Upstream {
    pub config: Arc<UpstreamConfig>,
    client: reqwest::Client,
}

impl Upstream {
    pub fn new(config: Arc<UpstreamConfig>) -> Result<Upstream, reqwest::Error> {
        crate::init_tls();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
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
        Ok(Upstream { config, client })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Sends `request` and reads a JSON body of at most `maxResponseBytes`.
    pub async fn call(&self, request: &UpstreamRequest) -> Result<Value, FieldError> {
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
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FieldError::new(
                ErrorCode::UpstreamHttpError,
                format!("upstream `{}` answered {}", self.name(), status.as_u16()),
            )
            .upstream(self.name())
            .status(status.as_u16()));
        }
        let limit = self.config.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(self.too_large(status.as_u16()));
        }
        let mut body = Vec::with_capacity(
            response.content_length().unwrap_or(1024).min(limit as u64) as usize,
        );
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(self.too_large(status.as_u16()));
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| {
            FieldError::new(
                ErrorCode::UpstreamBadResponse,
                format!(
                    "upstream `{}` answered with a body that is not JSON (line {}, column {})",
                    self.name(),
                    e.line(),
                    e.column()
                ),
            )
            .upstream(self.name())
            .status(status.as_u16())
        })
    }

    fn too_large(&self, status: u16) -> FieldError {
        FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!(
                "upstream `{}` answered with more than {} bytes (maxResponseBytes)",
                self.name(),
                self.config.max_response_bytes
            ),
        )
        .upstream(self.name())
        .status(status)
    }

    /// reqwest's messages carry the URL, which may hold secrets: build our own.
    fn transport_error(&self, e: &reqwest::Error) -> FieldError {
        let (code, what) = if e.is_timeout() {
            (
                ErrorCode::UpstreamTimeout,
                format!(
                    "did not answer within {}",
                    humantime::format_duration(self.config.timeout)
                ),
            )
        } else if e.is_connect() {
            (
                ErrorCode::UpstreamUnavailable,
                "refused or dropped the connection".to_owned(),
            )
        } else if e.is_body() || e.is_decode() {
            (
                ErrorCode::UpstreamUnavailable,
                "broke off the response body".to_owned(),
            )
        } else {
            (
                ErrorCode::UpstreamUnavailable,
                "could not be reached".to_owned(),
            )
        };
        FieldError::new(code, format!("upstream `{}` {what}", self.name())).upstream(self.name())
    }
}
