//! Visibility: OpenTelemetry spans, per-request timelines, Prometheus
//! metrics, and the status page.

pub(crate) mod alerts;
pub mod forecast;
pub mod live;
pub mod metrics;
pub mod otel;
pub mod status;
pub mod timeline;
