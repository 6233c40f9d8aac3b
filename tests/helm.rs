//! The Helm chart (deploy/helm/tributary), rendered and linted by Helm itself:
//! Helm v4's Go SDK, the code behind `helm template` and `helm lint`,
//! through the helm-python-sdk package (scripts/test-deps.sh installs it
//! into tests/helm/venv; tests/helm/render.py drives it). Its default render is
//! cross-checked against deploy/k8s, which tests/deploy.rs checks against the
//! image and the code, and its values (Redis, OTLP, autoscaling, the schema)
//! are checked to do what values.yaml says.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::json;
use serde_norway::Value;

fn root() -> PathBuf {
    support::crate_root()
}

fn chart() -> PathBuf {
    root().join("deploy/helm/tributary")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{what}: {e}\n{text}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// What Helm made of the chart with `values`.
struct Render {
    /// `(kind, document)` of every object, in template order.
    docs: Vec<(String, Value)>,
    lint: serde_json::Value,
}

impl Render {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, d)| d)
            .collect()
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.all(kind)
            .into_iter()
            .find(|d| text(&d["metadata"]["name"]) == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn data(&self, config_map: &str) -> BTreeMap<String, String> {
        match &self.named("ConfigMap", config_map)["data"] {
            Value::Mapping(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
            other => panic!("ConfigMap {config_map} data: {other:?}"),
        }
    }
}

/// Renders and lints `chart_dir` as release `demo` in namespace `apps`.
fn render_dir(chart_dir: &Path, values: &serde_json::Value) -> Render {
    let python = root().join("tests/helm/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test-deps.sh (as root) once to install Helm's SDK",
        python.display()
    );
    let output = Command::new(&python)
        .arg(root().join("tests/helm/render.py"))
        .arg(chart_dir)
        .args(["demo", "apps"])
        .arg(values.to_string())
        .output()
        .expect("render.py runs");
    assert!(
        output.status.success(),
        "render.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("render.py prints JSON");
    let serde_json::Value::Object(manifests) = &out["manifests"] else {
        panic!("no manifests: {out}");
    };
    let mut docs = Vec::new();
    for (path, body) in manifests {
        if !path.ends_with(".yaml") {
            continue;
        }
        for doc in yaml_docs(body.as_str().unwrap_or_default(), path) {
            docs.push((text(&doc["kind"]), doc));
        }
    }
    Render {
        docs,
        lint: out["lint"].clone(),
    }
}

fn render(values: serde_json::Value) -> Render {
    render_dir(&chart(), &values)
}

/// The lint messages at warning (2) or error (3).
fn lint_problems(lint: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = lint["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["severity"].as_u64().unwrap_or(3) >= 2)
        .map(|m| format!("{}: {}", m["path"], m["error"]))
        .collect();
    out.extend(
        lint["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e.to_string()),
    );
    out
}

/// Every document of deploy/k8s that kustomization.yaml lists, by kind.
fn k8s(kind: &str) -> Value {
    let dir = root().join("deploy/k8s");
    let kustomization = yaml_docs(&read(&dir.join("kustomization.yaml")), "kustomization")
        .pop()
        .expect("kustomization.yaml");
    let Value::Sequence(resources) = &kustomization["resources"] else {
        panic!("kustomization lists no resources");
    };
    let mut found: Vec<Value> = resources
        .iter()
        .flat_map(|r| yaml_docs(&read(&dir.join(text(r))), "deploy/k8s"))
        .filter(|d| text(&d["kind"]) == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in deploy/k8s");
    found.remove(0)
}

fn container(deployment: &Value) -> &Value {
    let Value::Sequence(containers) = &deployment["spec"]["template"]["spec"]["containers"] else {
        panic!("no containers");
    };
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// Whether every label `selector` asks for is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Value::Mapping(selector) = selector else {
        panic!("selector: {selector:?}");
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| &labels[k] == v)
}

/// `${NAME}` and `${NAME:-default}` references of a schema, comments left out.
fn env_refs(sdl: &str) -> Vec<(String, Option<String>)> {
    let code: String = sdl
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
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

/// What each variable the schema reads comes to with `env` set.
fn resolved(sdl: &str, env: &BTreeMap<String, String>) -> BTreeMap<String, Option<String>> {
    env_refs(sdl)
        .into_iter()
        .map(|(name, default)| {
            let value = env.get(&name).cloned().or(default);
            (name, value)
        })
        .collect()
}

#[test]
fn the_chart_lints_clean_and_a_broken_chart_does_not() {
    for values in [
        json!({}),
        json!({ "redis": { "deploy": true }, "autoscaling": { "enabled": false } }),
        json!({ "otlp": { "endpoint": "http://collector:4318" }, "redis": { "url": "redis://cache:6379" } }),
    ] {
        let rendered = render(values.clone());
        assert_eq!(rendered.lint["total_charts_linted"], 1, "{}", rendered.lint);
        let problems = lint_problems(&rendered.lint);
        assert!(problems.is_empty(), "{values}: {problems:?}");
    }

    // The same lint finds a template that does not parse.
    let dir = support::fresh_dir("helm-broken");
    let copy = dir.join("tributary");
    copy_dir(&chart(), &copy);
    std::fs::write(
        copy.join("templates/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"tributary.fullname\" . \n",
    )
    .expect("template written");
    let lint = lint_only(&copy);
    assert!(
        !lint_problems(&lint).is_empty(),
        "a broken template linted clean: {lint}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("chart dir reads") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("named"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("file copies");
        }
    }
}

/// Lints a chart that may not render (render.py would fail on it).
fn lint_only(chart_dir: &Path) -> serde_json::Value {
    let output = Command::new(root().join("tests/helm/venv/bin/python"))
        .arg("-c")
        .arg("import json, sys, helm_python as h; print(json.dumps(h.lint(sys.argv[1], {}, strict=True)))")
        .arg(chart_dir)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("lint prints JSON")
}

#[test]
fn the_default_render_is_the_gateway_of_deploy_k8s() {
    let rendered = render(json!({}));
    let deployments = rendered.all("Deployment");
    assert_eq!(deployments.len(), 1, "no Redis unless asked for");
    let deployment = deployments[0];
    let expected = k8s("Deployment");
    let got = container(deployment);
    let want = container(&expected);

    // The container runs, listens, is probed, stops and is confined exactly
    // as deploy/k8s has it.
    for key in [
        "args",
        "ports",
        "volumeMounts",
        "readinessProbe",
        "livenessProbe",
        "lifecycle",
        "resources",
        "securityContext",
    ] {
        assert_eq!(got[key], want[key], "container {key}");
    }
    let (pod, k8s_pod) = (
        &deployment["spec"]["template"]["spec"],
        &expected["spec"]["template"]["spec"],
    );
    for key in ["securityContext", "terminationGracePeriodSeconds"] {
        assert_eq!(pod[key], k8s_pod[key], "pod {key}");
    }
    // The image kustomize sets.
    let kustomization = yaml_docs(
        &read(&root().join("deploy/k8s/kustomization.yaml")),
        "kustomization",
    )
    .pop()
    .expect("kustomization");
    let tag = text(&kustomization["images"][0]["newTag"]);
    assert_eq!(text(&got["image"]), format!("tributary:{tag}"));
    // The autoscaler owns the replica count.
    assert!(deployment["spec"].get("replicas").is_none());

    // The environment and the schema come from the release's ConfigMaps, the
    // optional Secret from where deploy/k8s reads it.
    let Value::Sequence(env_from) = &got["envFrom"] else {
        panic!("no envFrom");
    };
    let env_map = text(&env_from[0]["configMapRef"]["name"]);
    assert_eq!(env_map, "demo-tributary-env");
    assert_eq!(
        env_from[1],
        container(&expected)["envFrom"][1],
        "the Secret"
    );
    let schema_map = text(&pod["volumes"][0]["configMap"]["name"]);
    assert_eq!(
        pod["volumes"][0]["name"], got["volumeMounts"][0]["name"],
        "the schema volume is the one mounted"
    );
    let schema = rendered.data(&schema_map);
    let k8s_schema = read(&root().join("deploy/k8s/schema.graphql"));
    assert_eq!(
        schema.get("schema.graphql").map(|s| s.trim_end()),
        Some(k8s_schema.trim_end()),
        "the chart serves deploy/k8s/schema.graphql by default"
    );
    assert_eq!(
        read(&chart().join("files/schema.graphql")),
        k8s_schema,
        "files/schema.graphql is a copy of deploy/k8s/schema.graphql"
    );

    // Every variable the schema reads comes to what it comes to in deploy/k8s.
    let env = rendered.data(&env_map);
    let k8s_env = match &k8s("ConfigMap")["data"] {
        Value::Mapping(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
        other => panic!("k8s ConfigMap: {other:?}"),
    };
    assert_eq!(resolved(&k8s_schema, &env), resolved(&k8s_schema, &k8s_env));
    for key in ["TRIBUTARY_LISTEN", "RUST_LOG", "OTEL_SERVICE_NAME"] {
        assert_eq!(env.get(key), k8s_env.get(key), "{key}");
    }
    assert!(!env.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));

    // The Service: port 80 to the pods' `http`, selecting them.
    let services = rendered.all("Service");
    assert_eq!(services.len(), 1);
    let service = services[0];
    assert_eq!(service["spec"]["ports"], k8s("Service")["spec"]["ports"]);
    assert!(selects(
        &service["spec"]["selector"],
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"]
    );

    // The autoscaler: deploy/k8s's, aimed at this Deployment.
    let hpas = rendered.all("HorizontalPodAutoscaler");
    assert_eq!(hpas.len(), 1);
    let (hpa, k8s_hpa) = (
        &hpas[0]["spec"],
        k8s("HorizontalPodAutoscaler")["spec"].clone(),
    );
    for key in ["minReplicas", "maxReplicas", "metrics"] {
        assert_eq!(hpa[key], k8s_hpa[key], "hpa {key}");
    }
    assert_eq!(
        hpa["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert_eq!(text(&hpa["scaleTargetRef"]["kind"]), "Deployment");

    // No object picks its own namespace: the release's applies.
    for (kind, doc) in &rendered.docs {
        assert!(doc["metadata"].get("namespace").is_none(), "{kind}");
    }

    // And the gateway accepts the schema with this environment.
    check_schema(&schema["schema.graphql"], &env);
}

/// `tributary check` on `sdl` with exactly `env` (the ConfigMap) set.
fn check_schema(sdl: &str, env: &BTreeMap<String, String>) {
    let dir = support::fresh_dir("helm-schema");
    let path = dir.join("schema.graphql");
    std::fs::write(&path, sdl).expect("schema written");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.arg("check").arg(&path).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    let output = command.envs(env).output().expect("check runs");
    assert!(
        output.status.success(),
        "tributary check refused the rendered schema:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn values_deploy_redis_export_traces_fix_the_replicas_and_replace_the_schema() {
    let schema = "schema @upstream(name: \"api\", url: \"${API_URL}\") { query: Query }\n\
                  type Query { ping: Ping @rest(upstream: \"api\", path: \"/ping\") }\n\
                  type Ping { ok: Boolean }\n";
    let rendered = render(json!({
        "redis": { "deploy": true },
        "otlp": { "endpoint": "http://collector:4318", "sampler": "parentbased_traceidratio", "samplerArg": "0.05" },
        "autoscaling": { "enabled": false },
        "replicaCount": 3,
        "schema": schema,
        "env": { "API_URL": "http://api.internal" },
    }));
    let gateway = rendered.named("Deployment", "demo-tributary");
    assert_eq!(text(&gateway["spec"]["replicas"]), "3");
    assert!(rendered.all("HorizontalPodAutoscaler").is_empty());

    // The release's own Redis, and REDIS_URL pointing at its Service.
    let env = rendered.data("demo-tributary-env");
    let redis = rendered.named("Deployment", "demo-tributary-redis");
    let redis_service = rendered.named("Service", "demo-tributary-redis");
    assert_eq!(
        env.get("REDIS_URL").map(String::as_str),
        Some("redis://demo-tributary-redis:6379")
    );
    assert_eq!(text(&redis_service["spec"]["ports"][0]["port"]), "6379");
    let redis_pods = &redis["spec"]["template"]["metadata"]["labels"];
    let gateway_pods = &gateway["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&redis_service["spec"]["selector"], redis_pods));
    let gateway_service = rendered.named("Service", "demo-tributary");
    assert!(
        !selects(&gateway_service["spec"]["selector"], redis_pods),
        "the gateway's Service must not send traffic to Redis"
    );
    assert!(!selects(&redis_service["spec"]["selector"], gateway_pods));

    // Traces.
    for (key, value) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.05"),
        ("OTEL_SERVICE_NAME", "tributary"),
        ("API_URL", "http://api.internal"),
    ] {
        assert_eq!(env.get(key).map(String::as_str), Some(value), "{key}");
    }

    // The schema given replaces the demo's, and changing it rolls the pods.
    let served = rendered.data("demo-tributary-schema");
    assert_eq!(served["schema.graphql"], schema);
    check_schema(&served["schema.graphql"], &env);
    let checksum = |r: &Render| {
        text(
            &r.named("Deployment", "demo-tributary")["spec"]["template"]["metadata"]["annotations"]
                ["checksum/schema"],
        )
    };
    let default = render(json!({}));
    assert_ne!(checksum(&rendered), checksum(&default));
    assert_eq!(
        checksum(&default),
        checksum(&render(json!({ "replicaCount": 5 })))
    );

    // An external Redis: REDIS_URL, nothing deployed.
    let external = render(json!({ "redis": { "url": "rediss://cache.example:6380" } }));
    assert_eq!(
        external
            .data("demo-tributary-env")
            .get("REDIS_URL")
            .map(String::as_str),
        Some("rediss://cache.example:6380")
    );
    assert_eq!(external.all("Deployment").len(), 1);
}
