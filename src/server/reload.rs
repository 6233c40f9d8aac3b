//! Schema reload: `serve --watch` (the files' contents, polled) and SIGHUP.
//!
//! A reload loads the files again and builds a new gateway; a file that does
//! not load is logged with its `file:line:col` diagnostics and the running
//! schema keeps serving. A new gateway keeps the upstream clients of the
//! upstreams whose configuration did not change (their connections, caches,
//! breakers and in-flight dedupe), and its router replaces the old one
//! atomically ([`LiveApp::swap`]): requests in flight finish on the router
//! and gateway they started with. Contents are compared, not times, so a
//! Kubernetes ConfigMap mount (a `..data` symlink swapped to a new folder)
//! reloads like an edit. What the router's connection handling was started
//! with (timeouts, connection limits, the listen address) stays until a
//! restart; a reload that changes it says so in the log.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::LiveApp;
use crate::config::{Config, Diagnostics};
use crate::gateway::Gateway;
use crate::http::AppState;
use crate::http::graphiql::Assets;

/// Loads the schema files (as `serve` loads them at start).
pub type Loader = Box<dyn Fn() -> Result<Config, Diagnostics> + Send + Sync>;

/// What `/readyz` and `/metrics` say about reloads.
#[derive(Debug, Default)]
pub struct Reloads {
    ok: AtomicU64,
    failed: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The loaded schema's hash (of the files' contents).
    hash: String,
    /// The last reload: when, and its error if it failed.
    last: Option<(SystemTime, Option<String>)>,
}

impl Reloads {
    /// The loaded schema's hash.
    pub fn hash(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hash
            .clone()
    }

    /// `/readyz`'s lines: the schema hash and the last reload.
    pub fn describe(&self) -> String {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = format!("schema {}\n", state.hash);
        match &state.last {
            None => out.push_str("last reload: none\n"),
            Some((at, None)) => {
                let _ = writeln!(
                    out,
                    "last reload: ok, {}",
                    humantime::format_rfc3339_seconds(*at)
                );
            }
            Some((at, Some(error))) => {
                let _ = writeln!(
                    out,
                    "last reload: failed, {}: {}",
                    humantime::format_rfc3339_seconds(*at),
                    error.lines().next().unwrap_or_default()
                );
            }
        }
        out
    }

    /// Adds the reload families to OpenMetrics `text` (before `# EOF`).
    pub fn render_metrics(&self, text: &mut String) {
        let mut families = String::new();
        families.push_str("# TYPE tributary_schema_reloads counter\n");
        families.push_str("# HELP tributary_schema_reloads Schema reloads, by outcome.\n");
        let _ = writeln!(
            families,
            "tributary_schema_reloads_total{{outcome=\"ok\"}} {}",
            self.ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            families,
            "tributary_schema_reloads_total{{outcome=\"failed\"}} {}",
            self.failed.load(Ordering::Relaxed)
        );
        families.push_str("# TYPE tributary_schema_info gauge\n");
        families.push_str(
            "# HELP tributary_schema_info The loaded schema, by the hash of its files.\n",
        );
        let _ = writeln!(
            families,
            "tributary_schema_info{{hash=\"{}\"}} 1",
            self.hash()
        );
        match text.rfind("# EOF") {
            Some(at) => text.insert_str(at, &families),
            None => text.push_str(&families),
        }
    }
}

/// Reloads the schema into a running server.
pub struct Reloader {
    files: Vec<PathBuf>,
    load: Loader,
    app: Arc<LiveApp>,
    assets: Arc<Assets>,
    current: Mutex<Arc<Gateway>>,
    reloads: Arc<Reloads>,
    /// One reload at a time (a SIGHUP during a watch-triggered one waits).
    running: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// `gateway` serves now (behind `app`), loaded from `files` by `load`.
    pub fn new(
        files: Vec<PathBuf>,
        load: Loader,
        app: Arc<LiveApp>,
        assets: Arc<Assets>,
        gateway: Arc<Gateway>,
        reloads: Arc<Reloads>,
    ) -> Arc<Reloader> {
        if let Some(hash) = hash_files(&files) {
            reloads
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .hash = hash;
        }
        Arc::new(Reloader {
            files,
            load,
            app,
            assets,
            current: Mutex::new(gateway),
            reloads,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// The hash of the files' contents now (`None`: one cannot be read).
    pub fn files_hash(&self) -> Option<String> {
        hash_files(&self.files)
    }

    /// Loads the files again and, if they load, serves them. `why` is for
    /// the log (`watch`, `SIGHUP`).
    pub async fn reload(self: &Arc<Self>, why: &str) -> Result<(), String> {
        let _one = self.running.lock().await;
        let hash = self.files_hash().unwrap_or_default();
        // Loading and building take a while (the schema, the engine, the
        // clients): off the runtime's workers, which keep serving.
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || this.swap())
            .await
            .unwrap_or_else(|e| Err(format!("the reload did not finish: {e}")));
        let now = SystemTime::now();
        let mut state = self
            .reloads
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &outcome {
            Ok(kept) => {
                self.reloads.ok.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "tributary: schema reloaded ({why}): {hash} ({kept} upstream clients kept)"
                );
                state.hash = hash;
                state.last = Some((now, None));
            }
            Err(error) => {
                self.reloads.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "tributary: schema reload ({why}) refused; still serving {}:\n{error}",
                    state.hash
                );
                state.last = Some((now, Some(error.clone())));
            }
        }
        outcome.map(|_| ())
    }

    /// Builds and serves the new gateway; how many upstream clients it kept.
    fn swap(&self) -> Result<usize, String> {
        let config = (self.load)().map_err(|d| d.to_string())?;
        let previous = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let gateway =
            Gateway::reusing(&config, Some(&previous))?.with_reloads(self.reloads.clone());
        let kept = gateway
            .upstreams()
            .iter()
            .filter(|u| previous.upstreams().iter().any(|p| Arc::ptr_eq(p, u)))
            .count();
        if format!("{:?}", gateway.settings().connections)
            != format!("{:?}", previous.settings().connections)
        {
            eprintln!(
                "tributary: the new schema changes @server's connection settings; they apply after a restart"
            );
        }
        let gateway = Arc::new(gateway);
        let state = AppState {
            gateway: gateway.clone(),
            assets: self.assets.clone(),
        };
        self.app.swap(super::app(state));
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = gateway;
        Ok(kept)
    }

    /// Reloads whenever the files' contents change, checked every `every`.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut seen = self.files_hash();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = self.files_hash();
            // A file mid-swap may be missing for a moment: wait for it.
            if now.is_some() && now != seen {
                seen = now;
                let _ = self.reload("watch").await;
            }
        }
    }

    /// Reloads on every SIGHUP.
    #[cfg(unix)]
    pub async fn on_hangup(self: Arc<Self>) {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            eprintln!("tributary: cannot listen for SIGHUP; reload by --watch only");
            return;
        };
        while hangups.recv().await.is_some() {
            let _ = self.reload("SIGHUP").await;
        }
    }
}

/// A SHA-256 of the files' contents, in order (hex, first 16 bytes).
fn hash_files(files: &[PathBuf]) -> Option<String> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for file in files {
        let bytes = std::fs::read(file).ok()?;
        context.update(&(bytes.len() as u64).to_le_bytes());
        context.update(&bytes);
    }
    let digest = context.finish();
    Some(
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}
