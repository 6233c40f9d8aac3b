//! Inbound connections: the accept loop and how each connection is held.
//!
//! - At most `max_connections` are served at once. One over the cap waits up
//!   to `connection_wait` for a place, then is answered `503` and closed;
//!   connections already open keep working (health probes included, on a
//!   kept-alive connection).
//! - HTTP/1: the request head must arrive within `header_read_timeout`
//!   (hyper also starts that timer while a keep-alive connection waits for
//!   its next request, so it bounds idle HTTP/1 connections too). HTTP/2:
//!   `http2_max_streams` concurrent streams per connection.
//! - Any connection with no request in flight for `idle_timeout` is closed
//!   gracefully (half-sent headers and silent HTTP/2 connections included).
//! - The body's deadline (`body_read_timeout`) is the GraphQL handler's.
//! - Shutdown: stop accepting, ask every connection to finish its requests,
//!   and return after `shutdown_grace` whatever is still open.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::ConnectionSettings;
use crate::http::PeerAddr;

/// File descriptors kept back from the connection cap for upstream
/// connections, the listener, logs and Redis.
const RESERVED_FDS: usize = 256;
/// Without a readable limit (not Linux), the cap when none is configured.
const FALLBACK_MAX_CONNECTIONS: usize = 10_000;

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 48\r\n\r\nthe gateway is at its connection limit; retry\r\n\r\n";

/// The connection cap: the configured one, else what the process's open-file
/// limit leaves after [`RESERVED_FDS`].
pub fn max_connections(settings: &ConnectionSettings) -> usize {
    settings.max_connections.unwrap_or_else(|| {
        open_file_limit()
            .map(|limit| limit.saturating_sub(RESERVED_FDS as u64).max(64))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(FALLBACK_MAX_CONNECTIONS)
    })
}

/// The soft `Max open files` limit, from `/proc/self/limits`.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The router requests are served by: swapped as a whole when the schema
/// reloads; a request runs on the router (and so the gateway) that was
/// current when it arrived.
#[derive(Debug)]
pub struct LiveApp(std::sync::RwLock<Router>);

impl LiveApp {
    pub fn new(app: Router) -> Arc<LiveApp> {
        Arc::new(LiveApp(std::sync::RwLock::new(app)))
    }

    /// The current router (a cheap clone; the lock is held only for it).
    pub fn current(&self) -> Router {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `app` the router of every request from now on.
    pub fn swap(&self, app: Router) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = app;
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub(super) async fn serve(
    listener: TcpListener,
    app: Arc<LiveApp>,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = max_connections(&settings);
    let places = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Closed once every upgraded connection (WebSocket) holding a sender is
    // gone: the drain waits for those too.
    let (drain_tx, mut drain_rx) = tokio::sync::mpsc::channel::<()>(1);
    let settings = Arc::new(settings);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.http2_max_streams)
        .max_pending_accept_reset_streams(Some(20))
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a transient error: back off
                    // instead of spinning on accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            app: app.clone(),
            builder: builder.clone(),
            settings: settings.clone(),
            stop: stop_rx.clone(),
            drain: drain_tx.clone(),
            peer: settings.peer_addresses.then_some(PeerAddr(peer)),
        };
        match places.clone().try_acquire_owned() {
            Ok(place) => {
                tokio::spawn(conn.serve(stream, place));
            }
            Err(_) => {
                let places = places.clone();
                tokio::spawn(async move {
                    let wait = conn.settings.connection_wait;
                    match tokio::time::timeout(wait, places.acquire_owned()).await {
                        Ok(Ok(place)) => conn.serve(stream, place).await,
                        _ => refuse(stream).await,
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a place until it closes: all places back means
    // all connections are done.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    drop(drain_tx);
    let drained = async {
        let _all_back = places.acquire_many(all).await;
        // Every sender dropped: no upgraded connection is left.
        while drain_rx.recv().await.is_some() {}
    };
    if tokio::time::timeout(settings.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?settings.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// Answers 503 on a connection over the cap and closes it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(OVER_CAPACITY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

struct Connection {
    app: Arc<LiveApp>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    settings: Arc<ConnectionSettings>,
    stop: watch::Receiver<bool>,
    drain: tokio::sync::mpsc::Sender<()>,
    /// Added to each request's extensions, when something reads it.
    peer: Option<PeerAddr>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, place: OwnedSemaphorePermit) {
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = activity.clone();
            let app = self.app.clone();
            let peer = self.peer;
            let stopping = crate::http::Stopping {
                signal: self.stop.clone(),
                drain: self.drain.clone(),
            };
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                let busy = activity.enter();
                let mut app = app.current();
                if let Some(peer) = peer {
                    request.extensions_mut().insert(peer);
                }
                // Long-lived responses (subscriptions) end when the server stops.
                request.extensions_mut().insert(stopping.clone());
                async move {
                    let response =
                        tower_service::Service::call(&mut app, request.map(axum::body::Body::new))
                            .await;
                    drop(busy);
                    response
                }
            })
        };
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let idle = self.settings.idle_timeout;
        let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing = *self.stop.borrow();
        if closing {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                changed = self.stop.changed(), if !closing => {
                    if changed.is_err() || *self.stop.borrow() {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                _ = tick.tick(), if !closing => {
                    if activity.idle_for() >= idle {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
        drop(place);
    }
}

/// Requests in flight on one connection, and when the last one ended.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the connection was last busy.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Zero while a request is in flight.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed)),
        )
    }
}

struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
