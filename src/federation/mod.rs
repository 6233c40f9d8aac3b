//! Federation: serving an Apollo Federation v2 supergraph.
//!
//! - [`supergraph`]: the join metadata, read once at load.
//! - [`api`]: the API schema clients see (machinery and `@inaccessible`
//!   elements removed). It loads like any Tributary schema, with every
//!   unbound field marked [`FieldSource::Federated`](crate::config::FieldSource),
//!   so the engine, validation, introspection, null propagation and the
//!   REST bindings of an overlay work on it unchanged.
//! - [`selection`]: operations and field sets in one normalized shape.
//! - [`plan`]: the query planner (fetch nodes and what each waits for).
//! - [`execute`]: runs a plan through each subgraph's [`Upstream`] (guards,
//!   breaker, dedupe, timeline, spans) and assembles one JSON tree, which
//!   the engine's resolvers read by response key.
//!
//! Each subgraph is an upstream named as in the supergraph; the overlay's
//! `extend schema @upstream(name: "<subgraph>", ...)` sets its policies.

pub(crate) mod api;
mod entry;
pub(crate) mod execute;
mod explain;
pub(crate) mod live;
pub(crate) mod plan;
pub(crate) mod selection;
pub(crate) mod shape;
pub(crate) mod supergraph;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use async_graphql::Pos;
use async_graphql::parser::types::{ExecutableDocument, TypeSystemDefinition};
use serde_json::{Map, Value as Json};

use crate::config::{self, Config, Diagnostic, Diagnostics, EnvLookup, RetryPolicy};
use crate::error::{ErrorCode, FieldError};
use crate::exec::{RequestState, View};
use crate::upstream::{CallSpec, Upstream};

pub use supergraph::{Subgraph, Supergraph, is_supergraph};

pub(crate) use entry::Entry;
use execute::Assembly;
pub(crate) use explain::explain_document;
pub use explain::{explain, fetches};
use plan::{Plan, Planner, Step};
use selection::Normalizer;

/// Loads `path` as a supergraph, with the operator's overlay SDL (REST
/// fields on its types, subgraph policies) when given.
pub fn load_file(path: &Path, overlay: Option<&Path>) -> Result<Config, Diagnostics> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Diagnostics {
            file: p.display().to_string(),
            items: vec![Diagnostic {
                pos: Pos { line: 1, column: 1 },
                message: format!("cannot read the file: {e}"),
            }],
        })
    };
    let text = read(path)?;
    let overlay_text = overlay.map(read).transpose()?;
    let overlay_file = overlay.map(|p| p.display().to_string());
    load(
        &path.display().to_string(),
        &text,
        overlay_file.as_deref().zip(overlay_text.as_deref()),
        &|name| std::env::var(name).ok(),
    )
}

/// Loads supergraph `text` (`file` names it in diagnostics) with an
/// optional overlay `(file, text)`.
pub fn load(
    file: &str,
    text: &str,
    overlay: Option<(&str, &str)>,
    env: EnvLookup<'_>,
) -> Result<Config, Diagnostics> {
    let fail = |file: &str, items: Vec<Diagnostic>| Diagnostics {
        file: file.to_owned(),
        items,
    };
    let doc = async_graphql::parser::parse_schema(text).map_err(|e| {
        let pos = e.positions().next().unwrap_or(Pos { line: 1, column: 1 });
        let message = e.to_string();
        let message = message
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("= "))
            .unwrap_or_else(|| message.lines().next().unwrap_or_default());
        fail(
            file,
            vec![Diagnostic {
                pos,
                message: format!("syntax error: {message}"),
            }],
        )
    })?;
    let sg = Supergraph::read(&doc).map_err(|items| fail(file, items))?;
    let api = api::print(&doc);

    // Subgraphs the overlay declares get their policies from it (and their
    // URL from the supergraph unless it gives one).
    let mut declared = HashSet::new();
    if let Some((_, overlay_text)) = overlay
        && let Ok(o) = async_graphql::parser::parse_schema(overlay_text)
    {
        for def in &o.definitions {
            if let TypeSystemDefinition::Schema(s) = def {
                for d in &s.node.directives {
                    if d.node.name.node == "upstream"
                        && let Some(name) = supergraph::string_arg(&d.node, "name")
                    {
                        declared.insert(name);
                    }
                }
            }
        }
    }
    let mut head = String::from("schema");
    for g in &sg.graphs {
        if !declared.contains(&g.name) {
            head.push_str(&format!(
                " @upstream(name: {}, url: {})",
                quote(&g.name),
                quote(&g.url)
            ));
        }
    }
    head.push_str(&format!(" {{ query: {}", sg.query_type));
    if let Some(m) = &sg.mutation_type {
        head.push_str(&format!(" mutation: {m}"));
    }
    if let Some(s) = &sg.subscription_type {
        head.push_str(&format!(" subscription: {s}"));
    }
    head.push_str(" }\n");
    let generated = format!("{head}{api}\n");
    let offset = generated.lines().count();
    let combined = match overlay {
        Some((_, o)) => format!("{generated}{o}\n"),
        None => generated,
    };
    let federated = config::Federated {
        types: sg
            .types
            .keys()
            .filter(|t| !supergraph::is_machinery_type(t))
            .cloned()
            .collect(),
        subgraph_urls: sg
            .graphs
            .iter()
            .map(|g| (g.name.clone(), g.url.clone()))
            .collect(),
        entities: sg
            .types
            .values()
            .filter(|t| t.kind == supergraph::Kind::Object && t.keys.iter().any(|k| k.resolvable))
            .map(|t| t.name.clone())
            .collect(),
        subscription_type: sg.subscription_type.clone(),
    };
    let overlay_file = overlay.map(|(f, _)| f.to_owned());
    let mut config = config::load_with(file, &combined, env, Some(federated)).map_err(|d| {
        // Diagnostics in the overlay point into it; the rest are about the
        // API schema made from the supergraph.
        let mut items = Vec::new();
        let mut api_items = Vec::new();
        for item in d.items {
            let line = item.pos.line;
            if line > offset && overlay_file.is_some() {
                items.push(Diagnostic {
                    pos: Pos {
                        line: line - offset,
                        column: item.pos.column,
                    },
                    message: item.message,
                });
            } else {
                api_items.push(Diagnostic {
                    pos: Pos { line: 1, column: 1 },
                    message: format!("in the API schema of the supergraph: {}", item.message),
                });
            }
        }
        match overlay_file.as_deref() {
            Some(f) if api_items.is_empty() => fail(f, items),
            _ => {
                api_items.extend(items);
                fail(file, api_items)
            }
        }
    })?;
    let mut sg = sg;
    for (name, def) in &config.types {
        let (config::TypeDef::Object(object) | config::TypeDef::Interface(object)) = def else {
            continue;
        };
        if !sg.types.contains_key(name) {
            continue;
        }
        for (fname, field) in &object.fields {
            let reads: Vec<Vec<String>> = match &field.source {
                config::FieldSource::Rest(binding) => {
                    crate::exec::projection::parent_paths(binding)
                        .into_iter()
                        .map(<[String]>::to_vec)
                        .collect()
                }
                config::FieldSource::Parent(path) => vec![path.clone()],
                config::FieldSource::Entity(binding) => binding.parent_paths(),
                _ => continue,
            };
            sg.overlay
                .entry(name.clone())
                .or_default()
                .insert(fname.clone(), reads);
        }
    }
    config.federation = Some(Arc::new(sg));
    Ok(config)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// One subgraph's client and the specs of its calls.
#[derive(Debug)]
pub(crate) struct GraphClient {
    pub(crate) name: String,
    pub(crate) upstream: Arc<Upstream>,
    /// Queries may be retried; mutations never.
    pub(crate) query_spec: Arc<CallSpec>,
    pub(crate) mutation_spec: Arc<CallSpec>,
    /// `entityBatch`: its `_entities` fetches shared across requests.
    pub(crate) entities: Option<execute::EntityWindow>,
}

/// The supergraph and a client for each of its subgraphs.
pub struct Subgraphs {
    pub(crate) supergraph: Arc<Supergraph>,
    pub(crate) graphs: Vec<GraphClient>,
    /// Plans by (prepared document, operation, variables): a document the
    /// gateway keeps prepared is planned once per set of variable values.
    plans: moka::sync::Cache<PlanKey, Arc<Planned>>,
    /// Plans of entities below REST fields (see [`entry`]).
    entries: moka::sync::Cache<entry::EntryKey, Arc<Planned>>,
}

impl std::fmt::Debug for Subgraphs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subgraphs")
            .field("graphs", &self.graphs)
            .finish_non_exhaustive()
    }
}

/// A prepared document's address (its entry holds the document, so the
/// address cannot be reused while the entry lives), its operation and its
/// variable values.
type PlanKey = (usize, Option<String>, String);

/// A plan ready to run, shared by the requests of one document.
pub(crate) struct Planned {
    document: Arc<ExecutableDocument>,
    steps: Vec<Arc<Step>>,
    errors: Vec<String>,
    /// The operation's root selection, normalized (see [`shape`]).
    pub(crate) selection: Vec<selection::Sel>,
}

/// Plans kept per gateway.
const PLAN_CACHE_ENTRIES: u64 = 1024;

impl Subgraphs {
    pub(crate) fn new(
        supergraph: Arc<Supergraph>,
        upstreams: &HashMap<String, Arc<Upstream>>,
    ) -> Result<Subgraphs, String> {
        let mut graphs = Vec::new();
        for g in &supergraph.graphs {
            let upstream = upstreams
                .get(&g.name)
                .cloned()
                .ok_or_else(|| format!("subgraph `{}` has no upstream", g.name))?;
            let policies = &upstream.config.policies;
            let spec = |idempotent: bool, retry: RetryPolicy| {
                Arc::new(CallSpec {
                    timeout: policies.timeout,
                    retry,
                    idempotent,
                    trips_breaker: true,
                    cache_ttl: None,
                    keep_last_good: false,
                    path_template: Arc::from("graphql"),
                    // A query's identical fetches are one; a mutation's never.
                    shared_in_operation: idempotent,
                    hedge: policies.hedge.clone(),
                })
            };
            graphs.push(GraphClient {
                entities: policies
                    .entity_batch
                    .as_ref()
                    .map(execute::EntityWindow::new),
                name: g.name.clone(),
                query_spec: spec(true, policies.retry.clone()),
                mutation_spec: spec(false, policies.retry.clone()),
                upstream,
            });
        }
        Ok(Subgraphs {
            supergraph,
            graphs,
            plans: moka::sync::Cache::new(PLAN_CACHE_ENTRIES),
            entries: moka::sync::Cache::new(PLAN_CACHE_ENTRIES),
        })
    }

    /// How many plans are kept (planned documents, operations and variable
    /// values).
    pub(crate) fn cached_plans(&self) -> u64 {
        self.plans.run_pending_tasks();
        self.plans.entry_count()
    }

    /// The plan of a request, from the cache when its document, operation
    /// and variables were planned before.
    pub(crate) fn planned(
        &self,
        document: &Arc<ExecutableDocument>,
        operation_name: Option<&str>,
        variables: &Map<String, Json>,
    ) -> Result<Arc<Planned>, FieldError> {
        let vars = if variables.is_empty() {
            String::new()
        } else {
            serde_json::to_string(variables).unwrap_or_default()
        };
        let key: PlanKey = (
            Arc::as_ptr(document) as usize,
            operation_name.map(str::to_owned),
            vars,
        );
        if let Some(hit) = self.plans.get(&key)
            && Arc::ptr_eq(&hit.document, document)
        {
            return Ok(hit);
        }
        let plan = self
            .plan(document, operation_name, variables)
            .map_err(|e| {
                FieldError::new(ErrorCode::InternalError, format!("planning failed: {e}"))
            })?;
        let planned = Arc::new(Planned {
            document: document.clone(),
            steps: plan.steps.into_iter().map(Arc::new).collect(),
            errors: plan.errors,
            selection: plan.selection,
        });
        self.plans.insert(key, planned.clone());
        Ok(planned)
    }

    /// Plans `document`'s operation with `variables` (without running it).
    pub(crate) fn plan(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Map<String, Json>,
    ) -> Result<Plan, String> {
        plan_operation(&self.supergraph, document, operation_name, variables)
    }
}

/// The plan of `document`'s operation over `sg`.
pub(crate) fn plan_operation(
    sg: &Supergraph,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Map<String, Json>,
) -> Result<Plan, String> {
    {
        let (op_name, op) = match operation_name {
            Some(name) => document
                .operations
                .iter()
                .find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
            None => document.operations.iter().next(),
        }
        .ok_or_else(|| "no such operation".to_owned())?;
        let op_name = op_name.map(|n| n.as_str());
        let norm = Normalizer {
            doc: document,
            variables,
            defaults: &op.node.variable_definitions,
        };
        let mut sels = Vec::new();
        norm.set(&op.node.selection_set.node, &[], &mut sels, 0)?;
        let name = op_name.or(operation_name);
        let mut plan = Planner::plan(sg, &sels, op.node.ty, name);
        plan.selection = sels;
        Ok(plan)
    }
}

/// The error a failed part of the assembled answer stands for: a fetch that
/// failed, or a subgraph's error at that path. The field's resolver reports
/// it, so `@onError` and null propagation apply to exactly the fields the
/// failed fetch owned.
pub(crate) fn failure(state: &RequestState, value: &Json) -> Option<FieldError> {
    let Json::Object(map) = value else {
        return None;
    };
    let index = map.get(execute::FAILED)?.as_u64()?;
    let request = state.federation.as_ref()?;
    request.assembly.failure(usize::try_from(index).ok()?)
}

/// One request's federated execution: planned on first use, run step by
/// step as the engine asks for root fields (a mutation's in order).
pub(crate) struct Request {
    subgraphs: Arc<Subgraphs>,
    document: Arc<ExecutableDocument>,
    operation_name: Option<String>,
    variables: Map<String, Json>,
    progress: tokio::sync::Mutex<Progress>,
    assembly: Arc<Assembly>,
}

#[derive(Default)]
struct Progress {
    plan: Option<Result<Arc<Planned>, FieldError>>,
    next: usize,
    snapshot: Option<Arc<Json>>,
    /// A subscription event: the root fetch's answer (see [`live`]).
    seed: Option<Arc<Json>>,
}

impl Request {
    pub(crate) fn new(
        subgraphs: Arc<Subgraphs>,
        document: Arc<ExecutableDocument>,
        operation_name: Option<String>,
        variables: Map<String, Json>,
    ) -> Request {
        Request {
            subgraphs,
            document,
            operation_name,
            variables,
            progress: tokio::sync::Mutex::new(Progress::default()),
            assembly: Arc::new(Assembly::new()),
        }
    }

    /// The assembled root object once every step up to the one answering
    /// root field `key` has run.
    pub(crate) async fn root(
        &self,
        state: &Arc<RequestState>,
        key: &str,
    ) -> Result<View, FieldError> {
        self.run(state, Some(key)).await.map(|(root, _)| root)
    }

    /// Runs every step, in order, and hands back the assembled root object
    /// and the plan (whose normalized selection the response is shaped by).
    pub(crate) async fn complete(
        &self,
        state: &Arc<RequestState>,
    ) -> Result<(View, Arc<Planned>), FieldError> {
        self.run(state, None).await
    }

    /// Runs the steps up to the one answering root field `key` (all of
    /// them for `None`).
    async fn run(
        &self,
        state: &Arc<RequestState>,
        key: Option<&str>,
    ) -> Result<(View, Arc<Planned>), FieldError> {
        let mut progress = self.progress.lock().await;
        if progress.plan.is_none() {
            let planned = self.subgraphs.planned(
                &self.document,
                self.operation_name.as_deref(),
                &self.variables,
            );
            if let Ok(plan) = &planned {
                for message in &plan.errors {
                    let error = FieldError::new(ErrorCode::InternalError, message.clone());
                    let mut error = error.into_graphql().into_server_error(Pos::default());
                    error.locations.clear();
                    state.absorb(error);
                }
            }
            progress.plan = Some(planned);
        }
        let planned = match &progress.plan {
            Some(Ok(planned)) => planned.clone(),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(FieldError::new(ErrorCode::InternalError, "no plan")),
        };
        let steps = &planned.steps;
        let assembly = self.assembly.clone();
        let wanted = match key {
            Some(key) => steps
                .iter()
                .position(|s| s.keys.iter().any(|k| k == key))
                .map_or(progress.next, |i| i + 1),
            None => steps.len(),
        };
        let mut ran = false;
        while progress.next < wanted {
            let step = steps[progress.next].clone();
            let origin = execute::Origin {
                seed: progress.seed.clone(),
                ..execute::Origin::default()
            };
            execute::run_step(&self.subgraphs, state, &step, &assembly, &origin).await;
            progress.next += 1;
            ran = true;
        }
        let finished = progress.next >= steps.len();
        if ran || progress.snapshot.is_none() {
            let errors = std::mem::take(
                &mut *assembly
                    .errors
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for e in errors {
                state.absorb(e);
            }
            let mut data = assembly
                .data
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Nothing merges into a finished tree: it is moved, not copied.
            let data = if finished {
                std::mem::take(&mut *data)
            } else {
                data.clone()
            };
            progress.snapshot = Some(Arc::new(data));
        }
        let root = View::root(progress.snapshot.clone().unwrap_or_default());
        Ok((root, planned))
    }
}
