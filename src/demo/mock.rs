//! A simulated upstream: an axum router behind a latency and a recorder of
//! every request's arrival time. The demo's services and the tests' mock
//! upstreams are both built on it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use http::HeaderMap;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::fault::{self, Fault, FaultPlan};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    /// Path and query, exactly as received (still percent-encoded).
    pub target: String,
    pub headers: HeaderMap,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The request body (bodies are small in tests and the demo).
    pub body: bytes::Bytes,
    pub at: Instant,
}

/// Run-time controls and records of one simulated upstream.
#[derive(Debug, Default)]
pub struct MockState {
    latency_ms: AtomicU64,
    /// The most recent requests (at most [`KEPT_HITS`]), oldest first.
    hits: Mutex<std::collections::VecDeque<Hit>>,
    /// Every request since the last reset, kept or not.
    total: AtomicU64,
    faults: Mutex<FaultPlan>,
}

/// How many requests a simulated upstream remembers: enough for any test,
/// bounded so a long-running demo or benchmark does not grow without end.
pub const KEPT_HITS: usize = 10_000;

impl MockState {
    /// Injects `faults` into the next requests, one each, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(faults);
    }

    /// Injects `fault` into every request from now on (`None`: stop).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_steady(fault);
    }

    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// The most recent requests (up to [`KEPT_HITS`]), oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Requests since the last reset.
    pub fn count(&self) -> usize {
        usize::try_from(self.total.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub fn reset(&self) {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.total.store(0, Ordering::Relaxed);
    }
}

/// A running simulated upstream (on 127.0.0.1 unless started with
/// [`MockService::start_at`]).
pub struct MockService {
    pub name: String,
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    stop: Option<oneshot::Sender<()>>,
}

impl MockService {
    /// Serves `routes` on `127.0.0.1:port` (0 for any free port), each answer
    /// delayed by `latency`. `GET /__stats` and `GET /__config?latency_ms=N`
    /// are added.
    pub async fn start(
        name: &str,
        port: u16,
        latency: Duration,
        routes: Router,
    ) -> std::io::Result<MockService> {
        MockService::start_at(name, "127.0.0.1", port, latency, routes).await
    }

    /// Like [`MockService::start`], on `host:port` (e.g. `0.0.0.0` inside a
    /// container).
    pub async fn start_at(
        name: &str,
        host: &str,
        port: u16,
        latency: Duration,
        routes: Router,
    ) -> std::io::Result<MockService> {
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState::default());
        state.set_latency(latency);
        let app = routes
            .layer(middleware::from_fn_with_state(
                state.clone(),
                record_and_delay,
            ))
            .merge(
                Router::new()
                    .route("/__stats", get(stats))
                    .route("/__config", get(configure))
                    .route("/__fault", get(set_mode))
                    .with_state(state.clone()),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MockService {
            name: name.to_owned(),
            addr,
            state,
            stop: Some(stop),
        })
    }

    /// `http://ADDR:PORT`, the address it is bound to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MockService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn record_and_delay(
    State(state): State<Arc<MockState>>,
    request: Request,
    next: Next,
) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let request = Request::from_parts(parts, axum::body::Body::from(body.clone()));
    let hit = Hit {
        method: request.method().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: request.headers().clone(),
        version: format!("{:?}", request.version()),
        body,
        at,
    };
    state.total.fetch_add(1, Ordering::Relaxed);
    {
        let mut hits = state.hits.lock().unwrap_or_else(PoisonError::into_inner);
        if hits.len() == KEPT_HITS {
            hits.pop_front();
        }
        hits.push_back(hit);
    }
    let fault = state
        .faults
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next();
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault
        && let Some(response) = fault::respond(&fault).await
    {
        return response;
    }
    next.run(request).await
}

async fn stats(State(state): State<Arc<MockState>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "requests": state.count(),
        "latency_ms": state.latency().as_millis() as u64,
    }))
}

#[derive(Deserialize)]
struct ModeParams {
    mode: String,
}

/// `GET /__fault?mode=ok|slow|down|flaky|hang|bad-json|graphql-errors`
async fn set_mode(
    State(state): State<Arc<MockState>>,
    Query(params): Query<ModeParams>,
) -> Response {
    use axum::response::IntoResponse;
    match fault::mode(&params.mode) {
        Some(fault) => {
            state.clear_faults();
            state.set_fault(fault);
            axum::Json(serde_json::json!({ "mode": params.mode })).into_response()
        }
        None => (
            http::StatusCode::BAD_REQUEST,
            "mode must be one of ok, slow, down, flaky, hang, bad-json, graphql-errors\n",
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ConfigParams {
    latency_ms: Option<u64>,
}

async fn configure(
    State(state): State<Arc<MockState>>,
    Query(params): Query<ConfigParams>,
) -> axum::Json<serde_json::Value> {
    if let Some(ms) = params.latency_ms {
        state.set_latency(Duration::from_millis(ms));
    }
    stats(State(state)).await
}
