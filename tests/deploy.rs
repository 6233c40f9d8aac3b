//! deploy/ without Docker or a cluster: the image (deploy/Dockerfile), the
//! compose stack (deploy/compose.yaml, prometheus.yml, schema/compose.graphql)
//! and the Kubernetes manifests (deploy/k8s/) are read and checked against
//! each other and against the code: ports, paths, the variables the schemas
//! read, the order of the demo's upstreams. Then the processes compose starts
//! are run here with compose's own commands and environment (service names
//! mapped to 127.0.0.1), so the wiring is proven to serve the product page.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use serde_norway::Value;
use tributary::demo::SEED;

const BIN: &str = env!("CARGO_BIN_EXE_tributary");
/// Generous: the machine is shared with other builds.
const PRODUCT_PAGE: &str = r#"{ product(id: "42") { id details { name } price { currency } stock { inStock } recommendations { productId product { name } } shipping { carrier } } }"#;

// ---------------------------------------------------------------- files

fn root() -> PathBuf {
    support::crate_root()
}

fn deploy() -> PathBuf {
    root().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` whose name ends with one of `suffixes`.
fn files_under(dir: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry reads").path();
        if path.is_dir() {
            files_under(&path, suffixes, out);
        } else if suffixes.iter().any(|s| path.to_string_lossy().ends_with(s)) {
            out.push(path);
        }
    }
}

/// Every document of a YAML file.
fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// A YAML file of one document.
fn yaml(path: &Path) -> Value {
    let mut docs = yaml_docs(path);
    assert_eq!(
        docs.len(),
        1,
        "{}: expected one YAML document",
        path.display()
    );
    docs.remove(0)
}

/// A scalar as text (`4101` and `"4101"` alike).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A command or argument list: a YAML list or a string of words.
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().map(text).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        other => panic!("expected a list of words, got {other:?}"),
    }
}

fn port(text: &str) -> u16 {
    text.parse()
        .unwrap_or_else(|e| panic!("`{text}` is not a port: {e}"))
}

/// `(host, port)` of a URL, the scheme's default port if none is written.
fn host_port(raw: &str) -> (String, u16) {
    let url = url::Url::parse(raw).unwrap_or_else(|e| panic!("`{raw}` is not a URL: {e}"));
    let host = url.host_str().expect("the URL has a host").to_owned();
    let port = url
        .port_or_known_default()
        .unwrap_or_else(|| panic!("`{raw}` has no port"));
    (host, port)
}

/// The port of a `HOST:PORT` listen address.
fn listen_port(addr: &str) -> u16 {
    port(addr.rsplit_once(':').map_or(addr, |(_, p)| p))
}

// -------------------------------------------------------------- schemas

/// The schema without its comment lines.
fn sdl_code(sdl: &str) -> String {
    sdl.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The variables a schema reads, `${NAME}` or `${NAME:-default}`, with their
/// defaults, in order (comments ignored).
fn env_refs(sdl: &str) -> Vec<(String, Option<String>)> {
    let code = sdl_code(sdl);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let end = after.find('}').expect("every `${` is closed");
        let inner = &after[..end];
        out.push(match inner.split_once(":-") {
            Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
            None => (inner.to_owned(), None),
        });
        rest = &after[end + 1..];
    }
    out
}

/// The schema's code with every `${NAME:-default}` written `${NAME}`.
fn without_defaults(sdl: &str) -> String {
    let code = sdl_code(sdl);
    let mut out = String::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let end = after.find('}').expect("every `${` is closed");
        let name = after[..end].split(":-").next().unwrap_or_default();
        out.push_str(&rest[..at]);
        out.push_str(&format!("${{{name}}}"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Everything after the `schema { ... }` block: the types and bindings.
fn types_part(sdl: &str) -> &str {
    let at = sdl
        .find("\n}\n")
        .expect("the schema block ends with a `}` line");
    &sdl[at + 3..]
}

fn demo_schema() -> String {
    read(&root().join("schema/demo.graphql"))
}

fn compose_schema_path() -> PathBuf {
    deploy().join("schema/compose.graphql")
}

fn k8s_schema_path() -> PathBuf {
    deploy().join("k8s/schema.graphql")
}

/// The `_URL` variable the demo schema reads for each demo service.
fn url_var(service: &str) -> String {
    format!("{}_URL", service.to_ascii_uppercase())
}

// ----------------------------------------------------------- Dockerfile

struct Stage {
    name: Option<String>,
    /// `(INSTRUCTION, arguments)`, continuation lines joined.
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn all(&self, op: &str) -> impl Iterator<Item = &str> {
        self.instructions
            .iter()
            .filter(move |(o, _)| o == op)
            .map(|(_, args)| args.as_str())
    }

    fn copies(&self) -> Vec<CopyLine> {
        self.all("COPY").map(CopyLine::parse).collect()
    }

    /// `ENV` values, `K=V ...` or the old `K V` form.
    fn env(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for args in self.all("ENV") {
            if args.split_whitespace().all(|w| w.contains('=')) {
                for word in args.split_whitespace() {
                    let (k, v) = word.split_once('=').expect("K=V");
                    out.insert(k.to_owned(), v.trim_matches('"').to_owned());
                }
            } else if let Some((k, v)) = args.split_once(char::is_whitespace) {
                out.insert(k.to_owned(), v.trim().to_owned());
            }
        }
        out
    }
}

struct CopyLine {
    from: Option<String>,
    sources: Vec<String>,
    dest: String,
}

impl CopyLine {
    fn parse(args: &str) -> CopyLine {
        let mut from = None;
        let mut paths = Vec::new();
        let words: Vec<String> = if args.trim_start().starts_with('[') {
            serde_json::from_str(args).expect("COPY [\"src\", \"dest\"] is JSON")
        } else {
            args.split_whitespace().map(str::to_owned).collect()
        };
        for word in words {
            if let Some(stage) = word.strip_prefix("--from=") {
                from = Some(stage.to_owned());
            } else if !word.starts_with("--") {
                paths.push(word);
            }
        }
        let dest = paths.pop().expect("COPY has a destination");
        assert!(!paths.is_empty(), "COPY {args}: no source");
        CopyLine {
            from,
            sources: paths,
            dest,
        }
    }
}

fn dockerfile() -> Vec<Stage> {
    let text = read(&deploy().join("Dockerfile"));
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (op, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let (op, args) = (op.to_ascii_uppercase(), args.trim().to_owned());
        if op == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("the Dockerfile starts with FROM")
                .instructions
                .push((op, args));
        }
    }
    stages
}

/// The one port the final image EXPOSEs.
fn exposed_port() -> u16 {
    let stages = dockerfile();
    let last = stages.last().expect("the Dockerfile has stages");
    let ports: Vec<u16> = last
        .all("EXPOSE")
        .flat_map(str::split_whitespace)
        .map(|p| port(p.trim_end_matches("/tcp")))
        .collect();
    assert_eq!(ports.len(), 1, "the image EXPOSEs one port: {ports:?}");
    ports[0]
}

/// The image's `USER`.
fn image_user() -> String {
    let stages = dockerfile();
    let last = stages.last().expect("the Dockerfile has stages");
    last.all("USER")
        .last()
        .expect("the final stage sets USER")
        .to_owned()
}

#[test]
fn the_image_runs_as_non_root_on_the_port_it_exposes_with_graphiql_assets() {
    let stages = dockerfile();
    let last = stages.last().expect("the Dockerfile has stages");

    let user = image_user();
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "root" && uid != "0" && !uid.is_empty(),
        "the image runs as `{user}`"
    );

    let port = exposed_port();
    let env = last.env();
    let listen = env
        .get("TRIBUTARY_LISTEN")
        .expect("the image sets TRIBUTARY_LISTEN");
    assert!(
        listen.starts_with("0.0.0.0:"),
        "TRIBUTARY_LISTEN={listen}: a container must listen on every interface"
    );
    assert_eq!(listen_port(listen), port, "TRIBUTARY_LISTEN vs EXPOSE");

    // TRIBUTARY_GRAPHIQL_ASSETS names the folder the assets stage is copied into,
    // and that stage produces every file the gateway loads from it.
    let assets = env
        .get("TRIBUTARY_GRAPHIQL_ASSETS")
        .expect("the image sets TRIBUTARY_GRAPHIQL_ASSETS");
    let copy = last
        .copies()
        .into_iter()
        .find(|c| c.dest.trim_end_matches('/') == assets.trim_end_matches('/'))
        .unwrap_or_else(|| panic!("nothing is copied into {assets}"));
    let from = copy.from.expect("the assets come from a build stage");
    let stage = stages
        .iter()
        .find(|s| s.name.as_deref() == Some(from.as_str()))
        .unwrap_or_else(|| panic!("no stage `{from}`"));
    let runs: String = stage.all("RUN").collect::<Vec<_>>().join("\n");
    for (file, _) in tributary::http::graphiql::ASSET_FILES {
        assert!(
            runs.contains(file),
            "stage `{from}` does not produce {file}"
        );
    }

    // The entrypoint is the binary the build stage produced.
    let entrypoint: Vec<String> = serde_json::from_str(
        last.all("ENTRYPOINT")
            .last()
            .expect("the image has an ENTRYPOINT"),
    )
    .expect("ENTRYPOINT is in exec form");
    assert!(
        last.copies()
            .iter()
            .any(|c| c.from.is_some() && c.dest == entrypoint[0]),
        "{} is not copied from a build stage",
        entrypoint[0]
    );

    // The default CMD's schema is a file the image copies from the repository.
    let cmd: Vec<String> =
        serde_json::from_str(last.all("CMD").last().expect("the image has a CMD"))
            .expect("CMD is in exec form");
    let schema = cmd.last().expect("CMD names a schema");
    let shipped = last
        .copies()
        .into_iter()
        .filter(|c| c.from.is_none())
        .any(|c| {
            schema
                .strip_prefix(c.dest.trim_end_matches('/'))
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| {
                    c.sources
                        .iter()
                        .any(|s| root().join(s).join(rest).is_file())
                })
        });
    assert!(shipped, "CMD serves {schema}, which no COPY ships");
}

#[test]
fn the_image_copies_paths_that_exist_and_everything_the_build_reads() {
    let stages = dockerfile();
    let ignored: Vec<String> = std::fs::read_to_string(root().join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_owned())
        .collect();
    for stage in &stages {
        for copy in stage.copies().iter().filter(|c| c.from.is_none()) {
            for source in &copy.sources {
                let source = source.trim_start_matches("./").trim_end_matches('/');
                assert!(
                    root().join(source).exists(),
                    "COPY {source}: no such path in the repository"
                );
                assert!(
                    !ignored
                        .iter()
                        .any(|i| source == i || source.starts_with(&format!("{i}/"))),
                    "COPY {source} is excluded by .dockerignore"
                );
            }
        }
    }

    // The stage that runs `cargo build` has every file the crate compiles from.
    let build = stages
        .iter()
        .find(|s| s.all("RUN").any(|r| r.contains("cargo build")))
        .expect("a stage runs cargo build");
    let copied: BTreeSet<String> = build
        .copies()
        .iter()
        .filter(|c| c.from.is_none())
        .flat_map(|c| c.sources.clone())
        .map(|s| s.trim_start_matches("./").trim_end_matches('/').to_owned())
        .collect();
    let mut needed = BTreeSet::from([
        "Cargo.toml".to_owned(),
        "Cargo.lock".to_owned(),
        "src".to_owned(),
    ]);
    if read(&root().join("Cargo.toml")).contains("[[bench]]") {
        needed.insert("benches".to_owned());
    }
    let mut sources = Vec::new();
    files_under(&root().join("src"), &[".rs"], &mut sources);
    for file in sources {
        let code = read(&file);
        for macro_ in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in code.match_indices(macro_) {
                let rest = &code[at + macro_.len()..];
                let relative = &rest[..rest.find('"').expect("closed string")];
                let mut path = file.parent().expect("in a folder").to_path_buf();
                for part in Path::new(relative).components() {
                    match part {
                        std::path::Component::ParentDir => {
                            path.pop();
                        }
                        other => path.push(other),
                    }
                }
                let inside = path.strip_prefix(root()).unwrap_or_else(|_| {
                    panic!(
                        "{} reads {} outside the crate",
                        file.display(),
                        path.display()
                    )
                });
                let top = inside
                    .components()
                    .next()
                    .expect("a path")
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned();
                needed.insert(top);
            }
        }
    }
    for path in &needed {
        assert!(
            copied.contains(path),
            "the build stage does not COPY `{path}`, which the build reads (it copies {copied:?})"
        );
    }
}

// -------------------------------------------------------------- compose

fn compose() -> Value {
    yaml(&deploy().join("compose.yaml"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "compose.yaml has no service `{name}`");
    service
}

/// A service's `environment`, in map or `K=V` list form.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let item = text(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("environment: {other:?}"),
    }
}

/// `(published, container)` ports of a service.
fn published(service: &Value) -> Vec<(Option<u16>, u16)> {
    let Value::Sequence(ports) = &service["ports"] else {
        return Vec::new();
    };
    ports
        .iter()
        .map(|p| match p {
            Value::Mapping(_) => (
                p.get("published").map(|v| port(&text(v))),
                port(&text(&p["target"])),
            ),
            other => {
                let spec = text(other);
                let spec = spec.split('/').next().unwrap_or_default();
                let parts: Vec<&str> = spec.split(':').collect();
                let container = port(parts[parts.len() - 1]);
                let host = (parts.len() >= 2).then(|| port(parts[parts.len() - 2]));
                (host, container)
            }
        })
        .collect()
}

/// A service's bind mounts: `(host path, container path)`, host paths
/// resolved against deploy/.
fn mounts(service: &Value) -> Vec<(PathBuf, String)> {
    let Value::Sequence(volumes) = &service["volumes"] else {
        return Vec::new();
    };
    volumes
        .iter()
        .map(|v| {
            let spec = text(v);
            let mut parts = spec.split(':');
            let source = parts.next().expect("source");
            let target = parts
                .next()
                .unwrap_or_else(|| panic!("`{spec}` is not a bind mount"));
            (
                deploy().join(source.trim_start_matches("./")),
                target.to_owned(),
            )
        })
        .collect()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args.get(at + 1)
        .unwrap_or_else(|| panic!("{flag} has no value in {args:?}"))
}

/// The host path of the schema compose's gateway serves.
fn gateway_schema(gateway: &Value) -> PathBuf {
    let command = words(&gateway["command"]);
    assert_eq!(
        command[0], "serve",
        "the gateway runs `serve SCHEMA`: {command:?}"
    );
    let schema = &command[1];
    mounts(gateway)
        .into_iter()
        .find(|(_, target)| target == schema)
        .map(|(source, _)| source)
        .unwrap_or_else(|| panic!("{schema} is not mounted into the gateway"))
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let mut files = Vec::new();
    files_under(&deploy(), &[".yaml", ".yml"], &mut files);
    // A Helm chart's templates are YAML only once Helm renders them;
    // tests/helm.rs parses what it renders (its Chart.yaml and values.yaml
    // are plain YAML and parsed here).
    let templates = deploy().join("helm");
    files.retain(|f| {
        !(f.starts_with(&templates) && f.components().any(|c| c.as_os_str() == "templates"))
    });
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(deploy())
                .expect("under deploy/")
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "compose.yaml",
        "prometheus.yml",
        "k8s/kustomization.yaml",
        "k8s/deployment.yaml",
        "helm/tributary/Chart.yaml",
        "helm/tributary/values.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no deploy/{expected}: {names:?}"
        );
    }
    for file in &files {
        let docs = yaml_docs(file);
        assert!(
            !docs.is_empty() && docs.iter().all(Value::is_mapping),
            "{}: every document is a mapping",
            file.display()
        );
    }
}

#[test]
fn compose_runs_the_image_and_pinned_backends() {
    let compose = compose();
    let upstreams = service(&compose, "upstreams");
    let gateway = service(&compose, "gateway");
    for (name, s) in [("upstreams", upstreams), ("gateway", gateway)] {
        let context = deploy().join(text(&s["build"]["context"]));
        let dockerfile = context.join(text(&s["build"]["dockerfile"]));
        assert_eq!(
            dockerfile.canonicalize().expect("the Dockerfile exists"),
            deploy()
                .join("Dockerfile")
                .canonicalize()
                .expect("deploy/Dockerfile"),
            "{name} is built from deploy/Dockerfile"
        );
        assert_eq!(
            context.canonicalize().expect("the context exists"),
            root().canonicalize().expect("the crate root"),
            "{name}'s build context is the repository"
        );
    }
    assert_eq!(upstreams["image"], gateway["image"], "one image for both");
    assert_eq!(
        words(&upstreams["command"])[0],
        "upstreams",
        "the upstreams service runs `tributary upstreams`"
    );
    assert_eq!(flag(&words(&upstreams["command"]), "--host"), "0.0.0.0");
    assert!(
        text(&service(&compose, "jaeger")["image"]).starts_with("jaegertracing/jaeger:2."),
        "Jaeger v2"
    );
    assert!(text(&service(&compose, "redis")["image"]).starts_with("redis:7"));
    assert!(text(&service(&compose, "prometheus")["image"]).starts_with("prom/prometheus:"));
}

#[test]
fn compose_gateway_listens_where_the_image_exposes_and_is_health_checked_on_readyz() {
    let compose = compose();
    let gateway = service(&compose, "gateway");
    let port = exposed_port();
    let env = environment(gateway);
    assert_eq!(
        env.get("TRIBUTARY_LISTEN").map(|l| listen_port(l)),
        Some(port),
        "TRIBUTARY_LISTEN vs the Dockerfile's EXPOSE"
    );
    assert!(
        published(gateway).contains(&(Some(port), port)),
        "the gateway publishes {port}:{port}: {:?}",
        published(gateway)
    );
    let check = words(&gateway["healthcheck"]["test"]).join(" ");
    assert!(
        check.contains("GET /readyz ") && check.contains(&format!("/{port} ")),
        "the healthcheck asks /readyz on {port}: {check}"
    );
    assert_eq!(
        gateway_schema(gateway),
        compose_schema_path(),
        "the gateway serves deploy/schema/compose.graphql"
    );
}

#[test]
fn compose_sets_every_variable_the_compose_schema_reads() {
    let compose = compose();
    let env = environment(service(&compose, "gateway"));
    let refs = env_refs(&read(&compose_schema_path()));
    assert!(!refs.is_empty());
    for (name, _) in &refs {
        assert!(
            env.contains_key(name),
            "the compose schema reads ${{{name}}}, the gateway's environment does not set it"
        );
    }
    let names: BTreeSet<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains("REDIS_URL"), "the compose schema uses Redis");
    let (host, _) = host_port(&env["REDIS_URL"]);
    service(&compose, &host);
}

#[test]
fn compose_upstream_urls_follow_the_base_port_and_the_seed_order() {
    let compose = compose();
    let command = words(&service(&compose, "upstreams")["command"]);
    let base = port(flag(&command, "--base-port"));
    let env = environment(service(&compose, "gateway"));
    let defaults: BTreeMap<String, Option<String>> = env_refs(&read(&compose_schema_path()))
        .into_iter()
        .collect();
    for (offset, (name, _)) in (0u16..).zip(SEED) {
        let var = url_var(name);
        let expected = format!("http://upstreams:{}", base + offset);
        assert_eq!(env.get(&var), Some(&expected), "{var} in compose.yaml");
        assert_eq!(
            defaults.get(&var),
            Some(&Some(expected.clone())),
            "{var}'s default in the compose schema"
        );
    }
}

#[test]
fn compose_exports_traces_to_jaeger_over_otlp_http() {
    let compose = compose();
    let env = environment(service(&compose, "gateway"));
    let endpoint = env
        .get("OTEL_EXPORTER_OTLP_ENDPOINT")
        .expect("the gateway exports spans");
    assert_eq!(host_port(endpoint), ("jaeger".to_owned(), 4318));
    assert_eq!(
        env.get("OTEL_SERVICE_NAME").map(String::as_str),
        Some("tributary")
    );
    let jaeger = published(service(&compose, "jaeger"));
    for port in [4318, 16686] {
        assert!(
            jaeger.iter().any(|(_, c)| *c == port),
            "Jaeger publishes {port}: {jaeger:?}"
        );
    }
}

#[test]
fn prometheus_scrapes_the_gateway_metrics() {
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    let config = mounts(prometheus)
        .into_iter()
        .find(|(_, target)| target == "/etc/prometheus/prometheus.yml")
        .map(|(source, _)| source)
        .expect("prometheus.yml is mounted where Prometheus reads it");
    assert_eq!(config, deploy().join("prometheus.yml"));
    let config = yaml(&config);
    let Value::Sequence(jobs) = &config["scrape_configs"] else {
        panic!("prometheus.yml has no scrape_configs");
    };
    let target = format!("gateway:{}", exposed_port());
    let scraped = jobs.iter().any(|job| {
        let path = job.get("metrics_path").map_or("/metrics".to_owned(), text);
        let targets: Vec<String> = match &job["static_configs"] {
            Value::Sequence(configs) => configs.iter().flat_map(|c| words(&c["targets"])).collect(),
            _ => Vec::new(),
        };
        path == "/metrics" && targets.contains(&target)
    });
    assert!(scraped, "no job scrapes {target}/metrics");
}

// -------------------------------------------------------------- schemas

#[test]
fn the_deploy_schemas_are_the_demo_schema_with_other_urls() {
    let demo = demo_schema();
    let compose = read(&compose_schema_path());
    let k8s = read(&k8s_schema_path());
    assert_eq!(
        types_part(&compose),
        types_part(&demo),
        "deploy/schema/compose.graphql's types and bindings differ from schema/demo.graphql: copy them over"
    );
    let demo_vars: BTreeSet<String> = env_refs(&demo).into_iter().map(|(n, _)| n).collect();
    let compose_vars: BTreeSet<String> = env_refs(&compose).into_iter().map(|(n, _)| n).collect();
    assert!(
        demo_vars.is_subset(&compose_vars),
        "the compose schema reads {compose_vars:?}, the demo {demo_vars:?}"
    );
    assert_eq!(
        without_defaults(&k8s),
        without_defaults(&compose),
        "deploy/k8s/schema.graphql may differ from deploy/schema/compose.graphql only in `${{NAME:-default}}` defaults and comments"
    );
    for (name, default) in env_refs(&compose) {
        assert!(
            default.is_some(),
            "${{{name}}} has no default: `tributary check` needs one"
        );
    }
}

/// `tributary check` on each deploy schema with the environment it is
/// deployed with (tests/cli.rs checks them with their defaults).
#[test]
fn the_deploy_schemas_check_with_their_deployed_environment() {
    let compose = compose();
    let k8s = k8s_manifests();
    for (schema, env) in [
        (
            compose_schema_path(),
            environment(service(&compose, "gateway")),
        ),
        (k8s_schema_path(), config_map_data(k8s.one("ConfigMap"))),
    ] {
        let output = Command::new(BIN)
            .arg("check")
            .arg(&schema)
            .envs(&env)
            .env("RUST_LOG", "warn")
            .output()
            .expect("tributary check runs");
        assert!(
            output.status.success(),
            "{}: {}",
            schema.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// ----------------------------------------------------------- Kubernetes

struct Manifests {
    kustomization: Value,
    /// `(kind, document)` of every resource the kustomization lists.
    docs: Vec<(String, Value)>,
}

impl Manifests {
    fn one(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self
            .docs
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, d)| d)
            .collect();
        assert_eq!(found.len(), 1, "expected one {kind} in deploy/k8s");
        found[0]
    }
}

fn k8s_manifests() -> Manifests {
    let dir = deploy().join("k8s");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    let mut docs = Vec::new();
    for resource in words(&kustomization["resources"]) {
        for doc in yaml_docs(&dir.join(&resource)) {
            docs.push((text(&doc["kind"]), doc));
        }
    }
    Manifests {
        kustomization,
        docs,
    }
}

fn config_map_data(config_map: &Value) -> BTreeMap<String, String> {
    match &config_map["data"] {
        Value::Mapping(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
        other => panic!("ConfigMap data: {other:?}"),
    }
}

/// A probe's or a Service's port, by number or by the container port's name.
fn resolve_port(value: &Value, container_ports: &[(String, u16)]) -> u16 {
    match value {
        Value::Number(n) => port(&n.to_string()),
        Value::String(name) => container_ports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("port: {other:?}"),
    }
}

#[test]
fn kustomization_lists_every_manifest_and_generates_the_schema_config_map() {
    let dir = deploy().join("k8s");
    let manifests = k8s_manifests();
    let listed: BTreeSet<String> = words(&manifests.kustomization["resources"])
        .into_iter()
        .collect();
    let mut files = Vec::new();
    files_under(&dir, &[".yaml", ".yml"], &mut files);
    for file in files {
        let name = file
            .strip_prefix(&dir)
            .expect("under k8s/")
            .display()
            .to_string();
        assert!(
            name == "kustomization.yaml" || listed.contains(&name),
            "deploy/k8s/{name} is not in kustomization.yaml's resources"
        );
    }
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
    ] {
        manifests.one(kind);
    }
    for (kind, doc) in &manifests.docs {
        assert!(
            doc["metadata"].get("namespace").is_none(),
            "{kind} sets a namespace: the manifests go wherever `kubectl apply -k` puts them"
        );
    }
    assert!(manifests.kustomization.get("namespace").is_none());

    let Value::Sequence(generators) = &manifests.kustomization["configMapGenerator"] else {
        panic!("kustomization.yaml has no configMapGenerator");
    };
    let schema = generators
        .iter()
        .find(|g| {
            words(&g["files"])
                .iter()
                .any(|f| f.ends_with("schema.graphql"))
        })
        .expect("a configMapGenerator holds schema.graphql");
    for file in words(&schema["files"]) {
        let path = file.split_once('=').map_or(file.as_str(), |(_, p)| p);
        assert!(
            dir.join(path).is_file(),
            "configMapGenerator file {path} is missing"
        );
    }
}

#[test]
fn k8s_deployment_probes_serves_and_runs_like_the_image() {
    let manifests = k8s_manifests();
    let deployment = manifests.one("Deployment");
    let spec = &deployment["spec"];
    assert_eq!(text(&spec["replicas"]), "2");
    let pod = &spec["template"]["spec"];
    let Value::Sequence(containers) = &pod["containers"] else {
        panic!("no containers");
    };
    assert_eq!(containers.len(), 1);
    let container = &containers[0];

    // Ports: the container port is the image's, the probes and the Service
    // use it.
    let Value::Sequence(ports) = &container["ports"] else {
        panic!("the container declares no ports");
    };
    let ports: Vec<(String, u16)> = ports
        .iter()
        .map(|p| {
            (
                p.get("name").map(text).unwrap_or_default(),
                port(&text(&p["containerPort"])),
            )
        })
        .collect();
    assert_eq!(ports.len(), 1, "{ports:?}");
    let container_port = ports[0].1;
    assert_eq!(
        container_port,
        exposed_port(),
        "containerPort vs the Dockerfile's EXPOSE"
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(text(&get["path"]), path, "{probe}");
        assert_eq!(
            resolve_port(&get["port"], &ports),
            container_port,
            "{probe} port"
        );
    }
    let service = manifests.one("Service");
    let Value::Sequence(service_ports) = &service["spec"]["ports"] else {
        panic!("the Service has no ports");
    };
    assert_eq!(service_ports.len(), 1);
    assert_eq!(text(&service_ports[0]["name"]), "http");
    assert_eq!(text(&service_ports[0]["port"]), "80");
    assert_eq!(
        resolve_port(&service_ports[0]["targetPort"], &ports),
        container_port,
        "the Service's targetPort"
    );
    let labels = &spec["template"]["metadata"]["labels"];
    let Value::Mapping(selector) = &service["spec"]["selector"] else {
        panic!("the Service has no selector");
    };
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "the Service selects the pods");
    }
    assert_eq!(
        &spec["selector"]["matchLabels"],
        &service["spec"]["selector"]
    );

    // Environment from the ConfigMap, which listens on the container port.
    let config_map = manifests.one("ConfigMap");
    let env_sources: Vec<String> = match &container["envFrom"] {
        Value::Sequence(sources) => sources
            .iter()
            .filter_map(|s| s.get("configMapRef").map(|r| text(&r["name"])))
            .collect(),
        _ => Vec::new(),
    };
    assert!(
        env_sources.contains(&text(&config_map["metadata"]["name"])),
        "the container reads its environment from the ConfigMap: {env_sources:?}"
    );
    let data = config_map_data(config_map);
    assert_eq!(
        data.get("TRIBUTARY_LISTEN").map(|l| listen_port(l)),
        Some(container_port),
        "TRIBUTARY_LISTEN in the ConfigMap"
    );

    // The schema ConfigMap is mounted where `serve` reads it.
    let Value::Sequence(generators) = &manifests.kustomization["configMapGenerator"] else {
        panic!("no configMapGenerator");
    };
    let generator = generators
        .iter()
        .find(|g| {
            words(&g["files"])
                .iter()
                .any(|f| f.ends_with("schema.graphql"))
        })
        .expect("the schema generator");
    let file = words(&generator["files"])[0].clone();
    let key = file.split_once('=').map_or_else(
        || file.rsplit('/').next().unwrap_or_default().to_owned(),
        |(k, _)| k.to_owned(),
    );
    let Value::Sequence(volumes) = &pod["volumes"] else {
        panic!("no volumes");
    };
    let volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == generator["name"])
        .expect("a volume holds the schema ConfigMap");
    let Value::Sequence(mounts) = &container["volumeMounts"] else {
        panic!("no volumeMounts");
    };
    let mount = mounts
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the schema volume is mounted");
    let args = words(&container["args"]);
    assert_eq!(
        args,
        [
            "serve".to_owned(),
            format!("{}/{key}", text(&mount["mountPath"]).trim_end_matches('/')),
            "--watch".to_owned(),
        ],
        "the container serves the mounted schema and reloads it when the ConfigMap changes"
    );

    // Non-root, as the image; bounded resources.
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], Value::Bool(true));
    let uid = text(&security["runAsUser"]);
    assert_ne!(uid, "0");
    if image_user().parse::<u32>().is_ok() {
        assert_eq!(uid, image_user(), "runAsUser vs the image's USER");
    }
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        Value::Bool(false)
    );
    for (kind, resource) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        assert!(
            container["resources"][kind].get(resource).is_some(),
            "resources.{kind}.{resource} is set"
        );
    }
}

#[test]
fn k8s_autoscaler_targets_the_deployment_on_cpu() {
    let manifests = k8s_manifests();
    let deployment = manifests.one("Deployment");
    let hpa = manifests.one("HorizontalPodAutoscaler");
    assert_eq!(text(&hpa["apiVersion"]), "autoscaling/v2");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(text(&target["kind"]), "Deployment");
    assert_eq!(target["apiVersion"], deployment["apiVersion"]);
    assert_eq!(target["name"], deployment["metadata"]["name"]);
    let Value::Sequence(metrics) = &hpa["spec"]["metrics"] else {
        panic!("the autoscaler has no metrics");
    };
    assert!(
        metrics.iter().any(|m| text(&m["resource"]["name"]) == "cpu"
            && text(&m["resource"]["target"]["type"]) == "Utilization"
            && text(&m["resource"]["target"]["averageUtilization"]) == "70"),
        "scales on 70% CPU: {metrics:?}"
    );
    let min = port(&text(&hpa["spec"]["minReplicas"]));
    let max = port(&text(&hpa["spec"]["maxReplicas"]));
    assert!(
        min >= 2 && min <= max,
        "minReplicas {min}, maxReplicas {max}"
    );
}

#[test]
fn k8s_config_map_sets_every_upstream_url_the_schema_reads() {
    let manifests = k8s_manifests();
    let data = config_map_data(manifests.one("ConfigMap"));
    for (name, default) in env_refs(&read(&k8s_schema_path())) {
        let set = data.get(&name).unwrap_or_else(|| {
            panic!("the k8s schema reads ${{{name}}}, the ConfigMap does not set it")
        });
        if name.ends_with("_URL") {
            assert_eq!(
                Some(set),
                default.as_ref(),
                "{name}: the ConfigMap and the schema's default agree"
            );
        }
    }
}

// ------------------------------------------------------------ processes

/// Starts `tributary ARGS` with `env` (none of the deploy-relevant variables
/// inherited from this process).
fn start_process(args: &[String], env: &BTreeMap<String, String>) -> support::Process {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(root());
    for name in [
        "TRIBUTARY_LISTEN",
        "TRIBUTARY_GRAPHIQL_ASSETS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ] {
        command.env_remove(name);
    }
    command.envs(env).env("RUST_LOG", "warn");
    support::Process::spawn(command, "deploy-log")
}

/// A base port with `count` free ports from it, on every interface, not
/// handed out before in this process.
fn free_ports(count: u16) -> u16 {
    static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..200 {
        let base = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let Some(end) = base.checked_add(count) else {
            continue;
        };
        if taken.iter().any(|t| *t < end && base < t + count) {
            continue;
        }
        let held: std::io::Result<Vec<_>> = (base..end)
            .map(|p| std::net::TcpListener::bind(("0.0.0.0", p)))
            .collect();
        if held.is_ok() {
            taken.push(base);
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

/// Reads the upstreams' start-up lines: `(name, url)` in order.
fn upstream_lines(process: &mut support::Process) -> Vec<(String, String)> {
    (0..SEED.len())
        .map(|_| {
            let line = process.line();
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["demo", "upstream", name, url, ..] => ((*name).to_owned(), (*url).to_owned()),
                _ => panic!("unexpected line: {line}"),
            }
        })
        .collect()
}

fn client() -> reqwest::Client {
    tributary::init_tls();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

async fn get(url: &str) -> (u16, String) {
    let response = client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("body reads"))
}

async fn graphql(url: &str, query: &str) -> Json {
    let response = client()
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("body reads");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn upstreams_serve_the_demo_services_on_fixed_ports_until_sigterm() {
    let base = free_ports(SEED.len() as u16);
    let mut upstreams = start_process(
        &[
            "upstreams".to_owned(),
            "--base-port".to_owned(),
            base.to_string(),
        ],
        &BTreeMap::new(),
    );
    let started = upstream_lines(&mut upstreams);
    for ((offset, (name, _)), (printed, url)) in (0u16..).zip(SEED).zip(&started) {
        assert_eq!(printed, name, "services start in the order of SEED");
        assert_eq!(
            url,
            &format!("http://127.0.0.1:{}", base + offset),
            "{name}"
        );
        let (status, body) = get(&format!("{url}/__stats")).await;
        assert_eq!(status, 200, "{name}: {body}");
    }

    let catalogue = &started[0].1;
    let (status, body) = get(&format!("{catalogue}/products/42")).await;
    assert_eq!(status, 200, "{body}");
    let product: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(product["id"], "42");
    assert_eq!(product["name"], "Product 42");
    let (status, body) = get(&format!("{}/prices/42", started[1].1)).await;
    assert_eq!(status, 200, "pricing answers on base + 1: {body}");

    let status = upstreams.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        client()
            .get(format!("{catalogue}/__stats"))
            .send()
            .await
            .is_err(),
        "still answering after SIGTERM"
    );
}

/// compose's `upstreams` and `gateway` commands and environment, run here:
/// service names become 127.0.0.1, the upstreams' ports are shifted to free
/// ones, Redis is absent (the tier fails open) and no spans are exported.
#[tokio::test]
async fn the_compose_wiring_serves_the_product_page() {
    let compose = compose();
    let count = SEED.len() as u16;
    let base = free_ports(count);

    let mut upstream_args = words(&service(&compose, "upstreams")["command"]);
    let at = upstream_args
        .iter()
        .position(|a| a == "--base-port")
        .expect("--base-port");
    let compose_base = port(&upstream_args[at + 1]);
    upstream_args[at + 1] = base.to_string();
    let mut upstreams = start_process(&upstream_args, &BTreeMap::new());
    upstream_lines(&mut upstreams);

    let gateway = service(&compose, "gateway");
    let no_redis = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut env = BTreeMap::new();
    for (name, value) in environment(gateway) {
        let value = match name.as_str() {
            "TRIBUTARY_LISTEN" => "127.0.0.1:0".to_owned(),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => continue,
            _ if value.contains("://") => {
                let (host, port) = host_port(&value);
                let local = match host.as_str() {
                    "upstreams" => {
                        assert!(
                            (compose_base..compose_base + count).contains(&port),
                            "{name}={value}: not an upstreams port"
                        );
                        base + (port - compose_base)
                    }
                    "redis" => no_redis,
                    other => panic!("{name}={value}: no stand-in for service `{other}`"),
                };
                let written = format!("{host}:{port}");
                assert!(value.contains(&written), "{name}={value}: write the port");
                value.replacen(&written, &format!("127.0.0.1:{local}"), 1)
            }
            _ => value,
        };
        env.insert(name, value);
    }
    let schema = gateway_schema(gateway);
    let mut gateway = start_process(&["serve".to_owned(), schema.display().to_string()], &env);
    let line = gateway.line();
    let url = format!(
        "http://{}",
        line.strip_prefix(support::LISTENING)
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
    );

    assert_eq!(get(&format!("{url}/readyz")).await.0, 200);
    let body = graphql(&url, PRODUCT_PAGE).await;
    assert!(body.get("errors").is_none(), "{body}");
    let product = &body["data"]["product"];
    assert_eq!(product["details"]["name"], "Product 42", "{body}");
    assert_eq!(product["price"]["currency"], "EUR", "{body}");
    assert!(product["stock"]["inStock"].is_boolean(), "{body}");
    assert!(product["shipping"]["carrier"].is_string(), "{body}");
    let recommendations = product["recommendations"].as_array().expect("a list");
    assert!(!recommendations.is_empty(), "{body}");
    assert!(
        recommendations
            .iter()
            .all(|r| r["product"]["name"].is_string()),
        "{body}"
    );

    // The last of SEED, orders, is wired too.
    let body = graphql(
        &url,
        r#"mutation { placeOrder(productId: "42") { id status } }"#,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["placeOrder"]["status"], "CREATED", "{body}");

    assert_eq!(gateway.terminate().code(), Some(0));
    assert_eq!(upstreams.terminate().code(), Some(0));
}

// ---------------------------------------------------------------- alerts

/// Every metric name an alerting expression reads (`name{`, `name[`, `name ==`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let next = bytes[i..].iter().find(|c| !c.is_whitespace());
            let label_context = expr[..expr.char_indices().nth(start).map_or(0, |(b, _)| b)]
                .rfind(['{', '}'])
                .is_some_and(|at| expr.as_bytes()[at] == b'{');
            if (word.starts_with("tributary_")
                || word.starts_with("http_")
                || word.starts_with("graphql_"))
                && matches!(next, Some('{' | '[' | '=' | '>' | '<' | ')') | None)
                && !label_context
            {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[tokio::test]
async fn prometheus_loads_alerting_rules_on_metrics_the_gateway_exports() {
    // Mounted where prometheus.yml's rule_files reads them.
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    let config = yaml(&deploy().join("prometheus.yml"));
    let files = words(&config["rule_files"]);
    assert_eq!(files, ["/etc/prometheus/alerts.yml"], "rule_files");
    let source = mounts(prometheus)
        .into_iter()
        .find(|(_, target)| target == "/etc/prometheus/alerts.yml")
        .map(|(source, _)| source)
        .expect("alerts.yml is mounted where rule_files reads it");
    assert_eq!(source, deploy().join("alerts.yml"));
    let rules = yaml(&source);
    let Value::Sequence(groups) = &rules["groups"] else {
        panic!("alerts.yml has no groups");
    };
    let mut alerts = Vec::new();
    for group in groups {
        let Value::Sequence(list) = &group["rules"] else {
            panic!("a group has no rules");
        };
        for rule in list {
            let name = text(&rule["alert"]);
            assert!(!name.is_empty(), "a rule without `alert`");
            assert!(!text(&rule["expr"]).is_empty(), "{name}: no expr");
            assert!(!text(&rule["for"]).is_empty(), "{name}: no `for`");
            assert!(
                matches!(
                    text(&rule["labels"]["severity"]).as_str(),
                    "warning" | "critical"
                ),
                "{name}: severity"
            );
            assert!(
                !text(&rule["annotations"]["summary"]).is_empty(),
                "{name}: no summary"
            );
            alerts.push((name, text(&rule["expr"])));
        }
    }
    let names: Vec<&str> = alerts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "TributaryUpstreamErrorRate",
            "TributaryUpstreamSlow",
            "TributaryBreakerOpen",
            "TributarySubscriptionsDropping"
        ]
    );
    // Every metric an expression reads is one a gateway exports, once it has
    // made a call that failed and one that answered.
    let upstream = support::mock(
        "items",
        0,
        support::json_route("/ok", serde_json::json!({ "id": "1" })),
    )
    .await;
    let gw = support::gateway(
        r#"schema
             @server(subscriptions: { buffer: 4 })
             @upstream(name: "items", url: "${ITEMS_URL}", retry: false)
           { query: Query subscription: Subscription }
           type Query { ok: Item @rest(upstream: "items", path: "/ok") missing: Item @rest(upstream: "items", path: "/missing") }
           type Subscription { item: Item @rest(upstream: "items", path: "/ok") @poll(every: "1s") }
           type Item { id: ID }"#,
        &[&upstream],
        &[],
    )
    .await;
    gw.query("{ ok { id } missing { id } }").await;
    // A subscription open, so its counters exist (at zero).
    let mut live = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(r#"{"query":"subscription { item { id } }"}"#)
        .send()
        .await
        .expect("an event stream");
    let first = live.chunk().await.expect("reads").expect("an event");
    assert!(String::from_utf8_lossy(&first).contains("event: next"));
    let exported = gw
        .client
        .get(format!("{}/metrics", gw.running.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for (alert, expr) in &alerts {
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{alert}: reads no metric");
        for metric in used {
            // A sample, or (a family with no series yet, like dropped
            // events) its declaration: counters are declared without
            // `_total`, histograms without `_bucket`/`_count`.
            let family = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| metric.strip_suffix(suffix))
                .unwrap_or(&metric);
            assert!(
                exported.lines().any(|l| l.starts_with(&metric))
                    || exported
                        .lines()
                        .any(|l| l.starts_with(&format!("# TYPE {family} "))),
                "{alert} reads `{metric}`, which the gateway does not export:\n{exported}"
            );
        }
    }
}
