//! The HTTP application and its graceful run loop.

mod compression;
mod connections;
mod cors;
pub mod reload;

pub use connections::{LiveApp, max_connections};

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::{StatusCode, header};
use tokio::net::TcpListener;

use crate::http::{graphiql, graphql};

pub use crate::http::AppState;

/// The router: `/graphql`, GraphiQL on `/`, `/healthz`, `/readyz`,
/// `/metrics`, `/status`; behind it, outermost first, CORS (when
/// configured), response compression and gzip request bodies (both on by
/// default). A layer that is off is not in the stack at all.
pub fn app(state: AppState) -> Router {
    let settings = state.gateway.settings();
    // The GraphQL handler enforces maxBodyBytes itself, with a GraphQL error.
    let body_limit = settings.max_body_bytes.saturating_add(1);
    let decompress = compression::requests(&settings.compression);
    let compress = compression::responses(&settings.compression);
    let cors = settings
        .cors
        .as_ref()
        .map(|cors| cors::layer(cors, &state.gateway));
    let mut router = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok\n") }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .layer(DefaultBodyLimit::max(body_limit));
    if let Some(layer) = decompress {
        router = router.layer(layer);
    }
    if let Some(layer) = compress {
        router = router.layer(layer);
    }
    if let Some(layer) = cors {
        router = router.layer(layer);
    }
    router.with_state(state)
}

/// `GET /metrics`: OpenMetrics text (what prometheus-client writes: `# UNIT`,
/// `# EOF`, counter families without `_total`). Labelled as Prometheus'
/// 0.0.4 text, Prometheus would parse it with the classic parser and lose
/// the counters' type.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    let mut text = state.gateway.metrics().render();
    if let Some(reloads) = state.gateway.reloads() {
        reloads.render_metrics(&mut text);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /readyz`: ready, and with a reloadable schema, its hash and how the
/// last reload went.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let mut body = String::from("ready\n");
    if let Some(reloads) = state.gateway.reloads() {
        body.push_str(&reloads.describe());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `GET /status`: upstream health and recent waterfalls, as HTML; with
/// `Accept: application/json`, the upstreams' summaries as JSON (what
/// `tributary plan --observed` reads).
async fn status(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let gateway = &state.gateway;
    let upstreams = gateway.metrics().summaries(gateway.upstreams());
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if json {
        return axum::Json(serde_json::json!({ "upstreams": upstreams })).into_response();
    }
    let timelines = gateway.recent().list();
    let live = gateway.live_streams();
    axum::response::Html(crate::telemetry::status::render(
        &upstreams, &live, &timelines,
    ))
    .into_response()
}

fn text(status: StatusCode, body: &'static str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests
/// in flight finish for at most the shutdown grace period. Connections are
/// held as `settings` says (see [`connections`]).
pub async fn run(
    listener: TcpListener,
    app: Router,
    settings: crate::config::ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, LiveApp::new(app), settings, shutdown).await
}

/// [`run`] with a router that can be swapped while serving (schema reload).
pub async fn run_live(
    listener: TcpListener,
    app: std::sync::Arc<LiveApp>,
    settings: crate::config::ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, app, settings, shutdown).await
}

/// Resolves on the first SIGINT or SIGTERM. The signals are watched on a
/// thread of their own, so they are heard even while every runtime worker
/// is busy; that thread ends the process if it is still running `grace`
/// (plus two seconds for the runtime to wind down) after the signal, or at
/// a second signal.
pub fn shutdown_within(grace: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::Builder::new()
        .name("tributary-signals".to_owned())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                shutdown_signal().await;
                let _ = tx.send(());
                let limit = grace + std::time::Duration::from_secs(2);
                tokio::select! {
                    () = shutdown_signal() => {
                        eprintln!("tributary: second signal; exiting now");
                    }
                    () = tokio::time::sleep(limit) => {
                        eprintln!("tributary: still running {limit:?} after the shutdown signal; exiting");
                    }
                }
                std::process::exit(1);
            });
        });
    async move {
        match watcher {
            Ok(_) => {
                let _ = rx.await;
            }
            Err(_) => shutdown_signal().await,
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// A server running in the background (tests, the demo).
pub struct Running {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// `http://ADDR`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` and serves `state` in the background.
pub async fn spawn(addr: &str, state: AppState) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = state.gateway.settings().connections.clone();
    let task = tokio::spawn(run(listener, app(state), settings, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
