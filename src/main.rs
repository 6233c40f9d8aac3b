//! The `tributary` command: `serve`, `check`, `directives`, `demo` (the default),
//! `upstreams`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tributary::config::{self, Config};
use tributary::http::graphiql::Assets;
use tributary::server::{self, AppState};
use tributary::{Gateway, demo};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "A GraphQL aggregation server: SDL fields bound to upstream HTTP services, fetched concurrently."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API described by SCHEMA.
    Serve {
        /// The SDL file with @upstream and @rest directives, or a supergraph
        /// composed by the Federation 2 tools.
        schema: PathBuf,
        /// With a supergraph: SDL that adds REST fields to its types and
        /// sets subgraph policies (`extend schema @upstream(name: ...)`).
        #[arg(long, env = "TRIBUTARY_OVERLAY")]
        overlay: Option<PathBuf>,
        /// Reload the schema (and overlay) when their contents change; the
        /// running schema keeps serving if the new one does not load.
        /// SIGHUP reloads too, with or without it.
        #[arg(long, env = "TRIBUTARY_WATCH")]
        watch: bool,
        /// How often --watch reads the files, in milliseconds.
        #[arg(long, default_value_t = 1000, env = "TRIBUTARY_WATCH_INTERVAL_MS")]
        watch_interval_ms: u64,
        /// A trusted documents manifest (Apollo's persisted query manifest
        /// or GraphQL Codegen's persisted-documents.json), added to those of
        /// `@server(trustedDocuments:)`; may be repeated.
        #[arg(long = "manifest", value_name = "FILE")]
        manifests: Vec<PathBuf>,
        /// What happens to operations not in the manifest: `enforce`
        /// (refused) or `log` (run, logged and counted). Overrides the
        /// schema's `mode`; the default is `enforce`.
        #[arg(long, value_name = "MODE")]
        manifest_mode: Option<String>,
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Validate schema files; exits non-zero with file:line:col errors.
    Check {
        #[arg(required = true)]
        schemas: Vec<PathBuf>,
        /// With a supergraph: its overlay (see `serve --overlay`).
        #[arg(long)]
        overlay: Option<PathBuf>,
    },
    /// Run only the demo's federation subgraphs (products, reviews,
    /// inventory), for schema/federation/supergraph.graphql.
    Subgraphs {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// products, reviews, inventory listen on this port and the next two.
        #[arg(long, default_value_t = demo::subgraphs::DEFAULT_BASE_PORT)]
        base_port: u16,
        /// Added before every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Print the plan of an operation without running it: its upstream
    /// calls as a dependency graph, each with its timeout (and, with
    /// `--observed`, a running gateway's p50/p95 of its upstream), and the
    /// predicted critical path; over a supergraph, first each subgraph
    /// request, what it waits for, and its document.
    Plan {
        /// The supergraph.
        schema: PathBuf,
        /// A file with the operation (`-` reads standard input).
        operation: PathBuf,
        /// Which operation of the document.
        #[arg(long)]
        operation_name: Option<String>,
        /// Variable values, as a JSON object.
        #[arg(long)]
        variables: Option<String>,
        #[arg(long)]
        overlay: Option<PathBuf>,
        /// A running gateway (e.g. http://127.0.0.1:4000) whose recent
        /// measurements cost the calls.
        #[arg(long)]
        observed: Option<String>,
    },
    /// Start the demo: simulated upstreams and the demo schema.
    Demo {
        #[command(flatten)]
        http: HttpArgs,
        /// Answer instantly instead of with the seed latencies.
        #[arg(long)]
        zero_latency: bool,
    },
    /// Prints the SDL definitions of Tributary's directives (for editors).
    Directives,
    /// Run only the demo's simulated upstreams, on fixed ports (for compose).
    Upstreams {
        /// Address to bind them on (`0.0.0.0` inside a container).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// catalogue, pricing, inventory, recommendations, shipping, orders
        /// listen on this port and the next five.
        #[arg(long, default_value_t = 4101)]
        base_port: u16,
        /// Answer instantly instead of with the seed latencies.
        #[arg(long)]
        zero_latency: bool,
    },
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "TRIBUTARY_LISTEN", default_value = "127.0.0.1:4000")]
    listen: String,
    /// Serve GraphiQL's scripts from this folder instead of the public CDN.
    #[arg(long, env = "TRIBUTARY_GRAPHIQL_ASSETS")]
    graphiql_assets: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = tributary::telemetry::otel::init();
    let command = cli.command.unwrap_or(Command::Demo {
        http: HttpArgs {
            listen: std::env::var("TRIBUTARY_LISTEN")
                .unwrap_or_else(|_| "127.0.0.1:4000".to_owned()),
            graphiql_assets: std::env::var_os("TRIBUTARY_GRAPHIQL_ASSETS").map(PathBuf::from),
        },
        zero_latency: false,
    });
    let code = match command {
        Command::Subgraphs {
            host,
            base_port,
            latency_ms,
        } => run(async move {
            demo::subgraphs::serve_fixed(
                &host,
                base_port,
                std::time::Duration::from_millis(latency_ms),
            )
            .await
            .map_err(|e| e.to_string())
        }),
        Command::Check { schemas, overlay } => check(&schemas, overlay.as_deref()),
        Command::Plan {
            schema,
            operation,
            operation_name,
            variables,
            overlay,
            observed,
        } => plan(
            &schema,
            &operation,
            operation_name.as_deref(),
            variables.as_deref(),
            overlay.as_deref(),
            observed.as_deref(),
        ),
        Command::Directives => {
            print!("{}", config::vocabulary::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve {
            schema,
            overlay,
            watch,
            watch_interval_ms,
            manifests,
            manifest_mode,
            http,
        } => {
            let files: Vec<PathBuf> = std::iter::once(schema.clone())
                .chain(overlay.clone())
                .chain(manifests.iter().cloned())
                .collect();
            // What a reload runs again: the schema, its overlay, the manifests.
            let load = move || -> Result<Config, config::Diagnostics> {
                let mut config = load_schema(&schema, overlay.as_deref())?;
                trusted_documents(&mut config, manifests.clone(), manifest_mode.as_deref())
                    .map_err(|message| config::Diagnostics {
                        file: "--manifest".to_owned(),
                        items: vec![config::Diagnostic {
                            pos: async_graphql::Pos { line: 1, column: 1 },
                            message,
                        }],
                    })?;
                Ok(config)
            };
            match load() {
                Ok(config) => {
                    let reload = Reload {
                        files,
                        load: Box::new(load),
                        watch: watch
                            .then(|| std::time::Duration::from_millis(watch_interval_ms.max(10))),
                    };
                    run(serve(config, http, None, Some(reload)))
                }
                Err(diagnostics) => {
                    eprintln!("{diagnostics}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { http, zero_latency } => run(serve_demo(http, zero_latency)),
        Command::Upstreams {
            host,
            base_port,
            zero_latency,
        } => run(serve_upstreams(host, base_port, zero_latency)),
    };
    telemetry.shutdown();
    code
}

/// Adds `--manifest` files and `--manifest-mode` to the schema's
/// `@server(trustedDocuments:)`.
fn trusted_documents(
    config: &mut Config,
    manifests: Vec<PathBuf>,
    mode: Option<&str>,
) -> Result<(), String> {
    let mode = match mode {
        None => None,
        Some(text) => Some(
            config::TrustMode::parse(text)
                .ok_or_else(|| format!("--manifest-mode must be enforce or log, not `{text}`"))?,
        ),
    };
    let server = &mut config.server;
    match &mut server.trusted_documents {
        Some(settings) => {
            settings.manifests.extend(manifests);
            if let Some(mode) = mode {
                settings.mode = mode;
            }
        }
        None if manifests.is_empty() => {
            if mode.is_some() {
                return Err("--manifest-mode needs a manifest (--manifest FILE)".to_owned());
            }
        }
        None => {
            server.trusted_documents = Some(config::TrustedDocumentsSettings {
                manifests,
                mode: mode.unwrap_or(config::TrustMode::Enforce),
                allow_introspection: false,
            });
        }
    }
    Ok(())
}

/// Loads a Tributary schema, or a supergraph (with its overlay).
fn load_schema(path: &Path, overlay: Option<&Path>) -> Result<Config, config::Diagnostics> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if tributary::federation::is_supergraph(&text) {
        return tributary::federation::load_file(path, overlay);
    }
    if let Some(o) = overlay {
        return Err(config::Diagnostics {
            file: o.display().to_string(),
            items: vec![config::Diagnostic {
                pos: async_graphql::Pos { line: 1, column: 1 },
                message: format!(
                    "an overlay goes with a supergraph, and {} is not one",
                    path.display()
                ),
            }],
        });
    }
    config::load_file(path)
}

fn plan(
    schema: &Path,
    operation: &Path,
    operation_name: Option<&str>,
    variables: Option<&str>,
    overlay: Option<&Path>,
    observed: Option<&str>,
) -> ExitCode {
    let config = match load_schema(schema, overlay) {
        Ok(config) => config,
        Err(d) => {
            eprintln!("{d}");
            return ExitCode::FAILURE;
        }
    };
    let text = if operation.as_os_str() == "-" {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
        s
    } else {
        match std::fs::read_to_string(operation) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tributary: cannot read {}: {e}", operation.display());
                return ExitCode::FAILURE;
            }
        }
    };
    let variables = match variables.map(serde_json::from_str::<serde_json::Value>) {
        None => serde_json::Map::new(),
        Some(Ok(serde_json::Value::Object(map))) => map,
        Some(_) => {
            eprintln!("tributary: --variables must be a JSON object");
            return ExitCode::FAILURE;
        }
    };
    let observed = match observed.map(observations).transpose() {
        Ok(observed) => observed.unwrap_or_default(),
        Err(e) => {
            eprintln!("tributary: --observed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.federation.is_some() {
        match tributary::federation::explain(&config, &text, operation_name, &variables) {
            Ok(plan) => print!("{plan}"),
            Err(e) => {
                eprintln!("tributary: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    use tributary::telemetry::forecast;
    // Over a supergraph: its fetches, then the overlay's own bindings.
    let forecast = forecast::forecast(&config, &text, operation_name, &observed).and_then(|f| {
        if config.federation.is_none() {
            return Ok(f);
        }
        let mut calls = tributary::federation::fetches(&config, &text, operation_name, &variables)?;
        calls.extend(f.calls);
        Ok(forecast::Forecast::new(calls, &observed))
    });
    match forecast {
        Ok(f) => {
            print!(
                "{}",
                forecast::render(&f, &observed, config.server.request_timeout)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tributary: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The p50/p95 of each upstream, from a running gateway's `/status`.
fn observations(url: &str) -> Result<tributary::telemetry::forecast::Observed, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/status", url.trim_end_matches('/'));
    let bytes = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        client
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {url}: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))
    })?;
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{url} did not answer JSON: {e}"))?;
    let upstreams = body["upstreams"]
        .as_array()
        .ok_or_else(|| format!("{url} did not answer with upstream summaries"))?;
    Ok(upstreams
        .iter()
        .filter(|u| u["calls"].as_u64().is_some_and(|n| n > 0))
        .filter_map(|u| {
            Some((
                u["name"].as_str()?.to_owned(),
                (u["p50Ms"].as_f64()?, u["p95Ms"].as_f64()?),
            ))
        })
        .collect())
}

fn check(schemas: &[PathBuf], overlay: Option<&Path>) -> ExitCode {
    let mut ok = true;
    for path in schemas {
        match load_schema(path, overlay).and_then(|config| {
            if let Some(warning) = config::budget::deadline_warning(&config) {
                eprintln!("{}: warning: {warning}", path.display());
            }
            Gateway::new(&config)
                .map(|_| ())
                .map_err(|e| config::Diagnostics {
                    file: path.display().to_string(),
                    items: vec![config::Diagnostic {
                        pos: async_graphql::Pos { line: 1, column: 1 },
                        message: e,
                    }],
                })
        }) {
            Ok(()) => println!("{}: ok", path.display()),
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How `serve` reloads its schema: the files, how to load them, and how
/// often to look at them (`None`: on SIGHUP only).
struct Reload {
    files: Vec<PathBuf>,
    load: server::reload::Loader,
    watch: Option<std::time::Duration>,
}

async fn serve(
    config: Config,
    http: HttpArgs,
    demo: Option<demo::Demo>,
    reload: Option<Reload>,
) -> Result<(), String> {
    let reloads = Arc::new(server::reload::Reloads::default());
    let mut gateway = Gateway::new(&config)?;
    if reload.is_some() {
        gateway = gateway.with_reloads(reloads.clone());
    }
    let gateway = Arc::new(gateway);
    let assets = Arc::new(match &http.graphiql_assets {
        Some(dir) => Assets::local(dir)?,
        None => Assets::Cdn,
    });
    let state = AppState {
        gateway: gateway.clone(),
        assets: assets.clone(),
    };
    let app = server::LiveApp::new(server::app(state));
    if let Some(reload) = reload {
        let reloader = server::reload::Reloader::new(
            reload.files,
            reload.load,
            app.clone(),
            assets,
            gateway,
            reloads,
        );
        #[cfg(unix)]
        tokio::spawn(reloader.clone().on_hangup());
        if let Some(every) = reload.watch {
            tokio::spawn(reloader.watch(every));
        }
    }
    let listener = tokio::net::TcpListener::bind(&http.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", http.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("tributary listening on http://{addr}");
    if demo.is_some() {
        eprintln!(
            "GraphiQL: http://{addr}/  (the default query is the product page: five upstream calls at once)"
        );
    }
    let connections = config.server.connections.clone();
    let shutdown = server::shutdown_within(connections.shutdown_grace);
    server::run_live(listener, app, connections, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    drop(demo);
    Ok(())
}

async fn serve_demo(http: HttpArgs, zero_latency: bool) -> Result<(), String> {
    let latency = zero_latency.then_some(std::time::Duration::ZERO);
    let demo = demo::Demo::start(latency)
        .await
        .map_err(|e| format!("cannot start the demo upstreams: {e}"))?;
    for s in &demo.services {
        eprintln!(
            "demo upstream {:<16} {} ({} ms)",
            s.name,
            s.url(),
            s.state.latency().as_millis()
        );
    }
    if let Some(pricing) = demo.service("pricing") {
        eprintln!(
            "flip an upstream into a fault: curl '{}/__fault?mode=down'  (modes: ok, slow, down, flaky, hang, bad-json)",
            pricing.url()
        );
    }
    let env = demo.env();
    let config = config::load("schema/demo.graphql", demo::DEMO_SCHEMA, &|name| {
        env.get(name).cloned().or_else(|| std::env::var(name).ok())
    })
    .map_err(|d| d.to_string())?;
    serve(config, http, Some(demo), None).await
}

async fn serve_upstreams(host: String, base_port: u16, zero_latency: bool) -> Result<(), String> {
    let latency = zero_latency.then_some(std::time::Duration::ZERO);
    let demo = demo::Demo::start_on(&host, base_port, latency)
        .await
        .map_err(|e| format!("cannot start the demo upstreams on {host}:{base_port}: {e}"))?;
    for s in &demo.services {
        println!(
            "demo upstream {:<16} {} ({} ms)",
            s.name,
            s.url(),
            s.state.latency().as_millis()
        );
    }
    server::shutdown_signal().await;
    drop(demo);
    Ok(())
}

fn run(future: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    // One CPU (pinned, or a 1-CPU container limit): a current-thread runtime
    // avoids the multi-thread scheduler's cross-thread wake-ups, which cost
    // tens of microseconds per request. TRIBUTARY_WORKERS overrides.
    let workers = std::env::var("TRIBUTARY_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tributary: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tributary: {e}");
            ExitCode::FAILURE
        }
    }
}
