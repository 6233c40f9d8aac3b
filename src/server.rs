//! The HTTP application and its graceful run loop.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::{StatusCode, header};
use tokio::net::TcpListener;

use crate::gateway::Gateway;
use crate::http::{graphiql, graphql};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub assets: Arc<graphiql::Assets>,
}

/// The router: `/graphql`, GraphiQL on `/`, `/healthz`, `/readyz`,
/// `/metrics`, `/status`.
pub fn app(state: AppState) -> Router {
    // The GraphQL handler enforces maxBodyBytes itself, with a GraphQL error.
    let body_limit = state.gateway.settings.max_body_bytes.saturating_add(1);
    Router::new()
        .route("/", get(graphiql::page))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok\n") }))
        .route("/readyz", get(|| async { text(StatusCode::OK, "ready\n") }))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// `GET /metrics`: OpenMetrics text (what prometheus-client writes: `# UNIT`,
/// `# EOF`, counter families without `_total`). Labelled as Prometheus'
/// 0.0.4 text, Prometheus would parse it with the classic parser and lose
/// the counters' type.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.gateway.metrics.render(),
    )
        .into_response()
}

/// `GET /status`: upstream health and recent waterfalls, as HTML.
async fn status(State(state): State<AppState>) -> axum::response::Response {
    let gateway = &state.gateway;
    let upstreams = gateway.metrics.summaries(&gateway.upstreams);
    let timelines = gateway.recent.list();
    axum::response::Html(crate::telemetry::status::render(&upstreams, &timelines)).into_response()
}

fn text(status: StatusCode, body: &'static str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in
/// flight finish.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
    let task = tokio::spawn(run(listener, app(state), async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
