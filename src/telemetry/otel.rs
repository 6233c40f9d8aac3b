//! Logging and tracing set-up. Spans go to any OTLP/HTTP endpoint (Jaeger
//! takes OTLP on 4318) when the standard variables ask for it:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, `OTEL_SDK_DISABLED`.
//! With none of them there is no exporter, and the gateway's spans are
//! disabled at the call site, so they cost nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The target of the gateway's spans; logs never show them.
pub const SPAN_TARGET: &str = "tributary::trace";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (and so trace context is injected upstream).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The share of requests without a sampled parent that are traced, in
/// millionths (from `OTEL_TRACES_SAMPLER` / `_ARG`).
static RATIO_PPM: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1_000_000);

/// Head sampling, decided once per request: follow the client's
/// `traceparent` sampled flag when there is one, else the configured ratio.
/// An unsampled request creates no spans at all, so 1% sampling costs about
/// 1% of full tracing (the SDK's own sampler would only drop spans after
/// they were built).
pub fn sample(headers: &HeaderMap) -> bool {
    if !enabled() {
        return false;
    }
    if let Some(flags) = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(3))
        .and_then(|f| u8::from_str_radix(f, 16).ok())
    {
        return flags & 1 == 1;
    }
    let ppm = RATIO_PPM.load(Ordering::Relaxed);
    ppm >= 1_000_000
        || (ppm > 0 && crate::upstream::guard::random_below(1_000_000) < u64::from(ppm))
}

/// Reads the standard sampler variables into a ratio.
fn configured_ratio() -> f64 {
    let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r));
    match std::env::var("OTEL_TRACES_SAMPLER")
        .unwrap_or_default()
        .trim()
    {
        "always_off" | "parentbased_always_off" => 0.0,
        "traceidratio" | "parentbased_traceidratio" => arg.unwrap_or(1.0),
        _ => 1.0,
    }
}

/// Holds the tracer provider; `shutdown` flushes pending spans.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("tributary: flushing traces failed: {e}");
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

fn wants_export() -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    !disabled
        && (env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs logging to stderr (`RUST_LOG`, default `info`) and, when
/// configured, the OTLP span exporter. Call once, inside no runtime.
pub fn init() -> Telemetry {
    crate::init_tls();
    let log_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(format!("{SPAN_TARGET}=off").parse().unwrap_or_default());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter);
    let mut provider = None;
    let otel = if wants_export() {
        match build_provider() {
            Ok(p) => {
                let tracer = p.tracer("tributary");
                provider = Some(p);
                ENABLED.store(true, Ordering::Relaxed);
                RATIO_PPM.store((configured_ratio() * 1_000_000.0) as u32, Ordering::Relaxed);
                opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
                // Only the gateway's own spans: keep hyper, reqwest and the
                // exporter itself out of the traces.
                let filter = EnvFilter::new(format!("{SPAN_TARGET}=info"));
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        // Only attributes that mean something in Jaeger: no
                        // busy/idle times, code locations or thread names.
                        .with_tracked_inactivity(false)
                        .with_threads(false)
                        .with_location(false)
                        .with_target(false)
                        .with_filter(filter),
                )
            }
            Err(e) => {
                eprintln!("tributary: traces will not be exported: {e}");
                None
            }
        }
    } else {
        None
    };
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    Telemetry { provider }
}

fn build_provider() -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| e.to_string())?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if !env_set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name("tributary");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // Sampling is decided before any span exists (`sample`); what
        // reaches the SDK is to be exported.
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_resource(resource.build())
        .build())
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut Vec<(HeaderName, HeaderValue)>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.push((name, value));
        }
    }
}

/// Makes `span` a child of the client's `traceparent`, if any.
pub fn adopt_parent(span: &tracing::Span, headers: &HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(cx);
}

/// The W3C trace headers for an upstream call made inside `span`: our own
/// context when exporting, else the client's `traceparent`/`tracestate`
/// passed through, so traces still join up across services.
pub fn trace_headers(span: &tracing::Span, inbound: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if enabled() && !span.is_none() {
        let cx = span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeaderInjector(&mut out))
        });
    } else {
        for name in ["traceparent", "tracestate"] {
            if let Some(v) = inbound.get(name) {
                out.push((HeaderName::from_static(name), v.clone()));
            }
        }
    }
    out
}

/// The trace id to show in the timeline: ours when exporting, else the
/// client's.
pub fn trace_id(span: &tracing::Span, inbound: &HeaderMap) -> Option<String> {
    if enabled() && !span.is_none() {
        let id = span.context().span().span_context().trace_id();
        return (id != opentelemetry::trace::TraceId::INVALID).then(|| id.to_string());
    }
    let parent = inbound.get("traceparent")?.to_str().ok()?;
    parent
        .split('-')
        .nth(1)
        .filter(|id| id.len() == 32)
        .map(str::to_owned)
}
