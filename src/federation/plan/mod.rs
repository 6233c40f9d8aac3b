//! The query planner: a client operation over the supergraph becomes fetch
//! nodes, each one request to one subgraph (a root query, or an `_entities`
//! call for every object at one response path), with the nodes it waits for.
//!
//! The planner walks the operation once. At each object position it sends
//! the subgraph it is in every field that subgraph resolves (or was
//! `@provides`d there); the rest are holes. Holes become entity jumps: the
//! subgraph that resolves most of them is called with the objects' keys
//! (plus the fields its `@requires` needs), and what it cannot resolve
//! becomes holes again. Key and required fields travel under internal
//! aliases ([`internal_alias`]) so they never collide with the client's.

use std::collections::HashSet;

use async_graphql::parser::types::Type;
use serde_json::{Map, Value as Json};

use super::selection::{FieldSet, Sel};
use super::supergraph::{GraphId, Kind, Supergraph};

mod entry;
mod holes;
mod interface_object;
mod jumps;
mod print;
mod reenter;
mod restore;
mod sels;

pub(crate) use entry::ENTRY;
use print::finish;
use restore::distinct_keys;
pub(crate) use restore::{has_restores, restore};
use sels::{add_read, as_internal, merge_by_key, typed_args};

/// How many entity jumps one hole may take to reach its subgraph (a key
/// fetched from a second subgraph to call a third).
const MAX_HOPS: usize = 4;

/// An operation's plan: steps run one after another (a mutation's root
/// fields, in order); the nodes of a step run as soon as their inputs are in.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    /// Fields no subgraph can resolve (the planner's own errors).
    pub(crate) errors: Vec<String>,
    /// The operation's root selection, normalized: what the response is
    /// shaped by.
    pub(crate) selection: Vec<Sel>,
}

#[derive(Debug, Default)]
pub(crate) struct Step {
    /// In dependency order: a node's `deps` are earlier nodes.
    pub(crate) nodes: Vec<Node>,
    /// The root response keys this step answers.
    pub(crate) keys: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) graph: GraphId,
    pub(crate) deps: Vec<usize>,
    pub(crate) kind: NodeKind,
    pub(crate) selection: Vec<Out>,
    pub(crate) mutation: bool,
    /// The operation's subscription root fetch: sent once over the
    /// subgraph's socket, its answers given by the events.
    pub(crate) subscription: bool,
    /// The subgraph request, printed once planned.
    pub(crate) document: String,
    /// Its operation's name.
    pub(crate) operation_name: String,
    pub(crate) variables: Map<String, Json>,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    /// Root fields of the operation's root type.
    Root,
    /// `_entities` for the objects at `path` whose `__typename` is one of
    /// `types`, represented as `typename` with the `rep` fields.
    Entity {
        path: Vec<String>,
        types: Vec<String>,
        typename: String,
        rep: FieldSet,
        /// How many of `rep`'s fields (its first) are the key: an object
        /// whose key has a null is not sent.
        key_len: usize,
        /// The key each top-level `rep` field is fetched under (its
        /// internal alias), worked out once.
        aliases: Vec<String>,
    },
}

/// One selection of a subgraph request.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Field {
        alias: Option<String>,
        name: String,
        args: Vec<(String, Json, Type)>,
        sub: Vec<Out>,
        /// The key the answer is read under when `alias` is one the
        /// planner made up (a key two sibling fragments share).
        restore: Option<String>,
    },
    Fragment {
        on: String,
        sub: Vec<Out>,
    },
}

impl Out {
    fn typename() -> Out {
        Out::Field {
            alias: None,
            name: "__typename".to_owned(),
            args: Vec::new(),
            sub: Vec::new(),
            restore: None,
        }
    }

    fn key(&self) -> Option<&str> {
        match self {
            Out::Field { alias, name, .. } => Some(alias.as_deref().unwrap_or(name)),
            Out::Fragment { .. } => None,
        }
    }
}

/// The key under which a key or required field is fetched: its name, plus
/// a digest of its arguments when it has any.
pub(crate) fn internal_alias(sel: &Sel) -> String {
    if sel.args.is_empty() {
        return format!("tributary_{}", sel.name);
    }
    let text = serde_json::to_string(&sel.args).unwrap_or_default();
    // FNV-1a: stable across runs and builds.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("tributary_{}_{hash:016x}", sel.name)
}

/// Whether `sel` applies to an object of concrete type `ty`.
pub(crate) fn applies(sg: &Supergraph, sel: &Sel, ty: &str) -> bool {
    sel.on
        .iter()
        .all(|c| c == ty || sg.possible_types(c).contains(&ty))
}

pub(crate) struct Planner<'a> {
    sg: &'a Supergraph,
    nodes: Vec<Node>,
    errors: Vec<String>,
    /// (entity node, field): a `@requires` field its representation
    /// carries the required fields of.
    satisfied: HashSet<(usize, String)>,
    /// The fields from the root down to the position being planned.
    trail: Vec<TrailStep>,
    /// Keys an ancestor's selection must add (depth, type, key): a
    /// re-entry at that ancestor represents it with them.
    pending_keys: Vec<(usize, String, GraphId, FieldSet)>,
    mutation: bool,
    /// What a parent's `@provides` lets the subgraph answer at the position
    /// whose holes are being planned: (subgraph, type, provided fields).
    provided_at: Option<(GraphId, String, Vec<Sel>)>,
}

/// One field on the way from the root to a position.
#[derive(Debug, Clone)]
struct TrailStep {
    key: String,
    name: String,
    args: Vec<(String, Json, Type)>,
    /// The object type the field is on, and the subgraph fetching it there.
    parent_ty: String,
    graph: GraphId,
    /// The field's named type.
    field_ty: String,
}

impl<'a> Planner<'a> {
    /// Plans the root selection `sels` of an operation.
    pub(crate) fn plan(
        sg: &'a Supergraph,
        sels: &[Sel],
        kind: async_graphql::parser::types::OperationType,
        operation_name: Option<&str>,
    ) -> Plan {
        use async_graphql::parser::types::OperationType;
        let mutation = kind == OperationType::Mutation;
        let subscription = kind == OperationType::Subscription;
        let root = match kind {
            OperationType::Mutation => sg
                .mutation_type
                .clone()
                .unwrap_or_else(|| "Mutation".to_owned()),
            OperationType::Subscription => sg
                .subscription_type
                .clone()
                .unwrap_or_else(|| "Subscription".to_owned()),
            OperationType::Query => sg.query_type.clone(),
        };
        let mut plan = Plan::default();
        // Root fields grouped by subgraph: all at once for a query; for a
        // mutation, runs of consecutive fields of one subgraph, in order.
        let mut groups: Vec<(GraphId, Vec<Sel>)> = Vec::new();
        let mut planner = Planner::new(sg, mutation);
        for sel in sels {
            if sel.is_typename() || sel.name.starts_with("__") {
                continue;
            }
            let Some(graph) = planner.root_graph(&root, sel, &groups) else {
                planner
                    .errors
                    .push(format!("no subgraph resolves `{root}.{}`", sel.name));
                continue;
            };
            let existing = if mutation {
                groups.last_mut().filter(|(g, _)| *g == graph)
            } else {
                groups.iter_mut().find(|(g, _)| *g == graph)
            };
            match existing {
                Some((_, list)) => list.push(sel.clone()),
                None => groups.push((graph, vec![sel.clone()])),
            }
        }
        if subscription && groups.len() > 1 {
            planner
                .errors
                .push("a subscription selects exactly one root field".to_owned());
            groups.truncate(1);
        }
        let mut step = Step::default();
        for (graph, group) in groups {
            let id = planner.push(graph, Vec::new(), NodeKind::Root, mutation);
            planner.nodes[id].subscription = subscription;
            let mut selection = planner.object_set(graph, id, &[], &root, &group, &[], 0);
            if subscription {
                // A subscription's root selects its one field and nothing
                // else (5.2.3.1), not even `__typename`.
                selection
                    .retain(|out| !matches!(out, Out::Field { name, .. } if name == "__typename"));
            }
            planner.nodes[id].selection = selection;
            step.keys.extend(group.iter().map(|s| s.key.clone()));
            if mutation {
                let mut done = std::mem::take(&mut step);
                done.nodes = std::mem::take(&mut planner.nodes);
                plan.steps.push(done);
            }
        }
        if !mutation {
            step.nodes = std::mem::take(&mut planner.nodes);
            plan.steps.push(step);
        }
        plan.errors = planner.errors;
        finish(sg, &mut plan, operation_name);
        plan
    }

    fn new(sg: &'a Supergraph, mutation: bool) -> Planner<'a> {
        Planner {
            sg,
            nodes: Vec::new(),
            errors: Vec::new(),
            satisfied: HashSet::new(),
            trail: Vec::new(),
            pending_keys: Vec::new(),
            mutation,
            provided_at: None,
        }
    }

    /// The subgraph a root field goes to: among those that resolve it, the
    /// one that resolves most of its selection, preferring one already used.
    fn root_graph(&self, root: &str, sel: &Sel, groups: &[(GraphId, Vec<Sel>)]) -> Option<GraphId> {
        let candidates = self.sg.resolvers(root, &sel.name);
        let named = self.sg.field(root, &sel.name)?.named.clone();
        candidates.into_iter().max_by_key(|g| {
            let covered = self.coverage(*g, &named, &sel.sub, 2);
            let used = groups.iter().any(|(u, _)| u == g);
            (covered, used, std::cmp::Reverse(*g))
        })
    }

    /// How many of `sels` (to `depth` levels) `graph` resolves on `ty`.
    fn coverage(&self, graph: GraphId, ty: &str, sels: &[Sel], depth: usize) -> usize {
        let types = self.sg.possible_types(ty);
        let mut n = 0;
        for sel in sels {
            if sel.is_typename() {
                continue;
            }
            let resolved = types
                .iter()
                .filter(|t| applies(self.sg, sel, t))
                .any(|t| self.sg.resolves(graph, t, &sel.name))
                || self.sg.resolves(graph, ty, &sel.name);
            if resolved {
                n += 1;
                if depth > 0
                    && let Some(f) = self.field_of(ty, &types, &sel.name)
                {
                    n += self.coverage(graph, &f, &sel.sub, depth - 1);
                }
            }
        }
        n
    }

    fn field_of(&self, ty: &str, types: &[&str], name: &str) -> Option<String> {
        if let Some(f) = self.sg.field(ty, name) {
            return Some(f.named.clone());
        }
        types
            .iter()
            .find_map(|t| self.sg.field(t, name))
            .map(|f| f.named.clone())
    }

    fn push(&mut self, graph: GraphId, deps: Vec<usize>, kind: NodeKind, mutation: bool) -> usize {
        self.nodes.push(Node {
            graph,
            deps,
            kind,
            selection: Vec::new(),
            mutation,
            subscription: false,
            document: String::new(),
            operation_name: String::new(),
            variables: Map::new(),
        });
        self.nodes.len() - 1
    }

    /// The selection of a value of type `ty` at `path`, fetched from `graph`
    /// by node `node`.
    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        sels: &[Sel],
        provided: &[Sel],
        hops: usize,
    ) -> Vec<Out> {
        match self.sg.kind(ty) {
            Kind::Object => {
                let applicable: Vec<Sel> = sels
                    .iter()
                    .filter(|s| applies(self.sg, s, ty))
                    .cloned()
                    .collect();
                self.object_set(graph, node, path, ty, &applicable, provided, hops)
            }
            Kind::Interface
                if self
                    .sg
                    .ty(ty)
                    .is_some_and(|t| t.is_interface_object_in(graph)) =>
            {
                self.interface_object_set(graph, node, path, ty, sels, provided, hops)
            }
            Kind::Interface | Kind::Union => {
                let mut out = vec![Out::typename()];
                for concrete in self.sg.possible_types(ty) {
                    if !self.sg.graph_has_possible(graph, ty, concrete) {
                        continue;
                    }
                    let applicable: Vec<Sel> = sels
                        .iter()
                        .filter(|s| applies(self.sg, s, concrete))
                        .cloned()
                        .collect();
                    let sub =
                        self.object_set(graph, node, path, concrete, &applicable, provided, hops);
                    if sub.len() > 1 {
                        out.push(Out::Fragment {
                            on: concrete.to_owned(),
                            sub,
                        });
                    }
                }
                distinct_keys(&mut out);
                out
            }
            Kind::Leaf | Kind::Input => Vec::new(),
        }
    }

    /// Fields on an object type `ty` (or on an interface, for an entity
    /// call that names the interface).
    #[allow(clippy::too_many_arguments)]
    fn object_set(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        sels: &[Sel],
        provided: &[Sel],
        hops: usize,
    ) -> Vec<Out> {
        let depth = self.trail.len();
        let mut out = vec![Out::typename()];
        let mut holes = Vec::new();
        let mut own_requires = Vec::new();
        // Overlay fields are the REST side's: fetch what they read of
        // their parent instead (by field name, as bindings read it).
        let mut sels = sels.to_vec();
        let mut reads: Vec<Sel> = Vec::new();
        sels.retain(|s| match self.sg.overlay_field(ty, &s.name) {
            Some(paths) => {
                for path in paths {
                    add_read(&mut reads, path);
                }
                false
            }
            None => true,
        });
        for r in reads {
            if !sels.iter().any(|s| s.key == r.key && s.name == r.name) {
                sels.push(r);
            }
        }
        for sel in merge_by_key(&sels) {
            if sel.is_typename() {
                continue;
            }
            // A field of this subgraph that `@requires` fields: only an
            // entity call with them in the representation answers it.
            if self
                .sg
                .join(graph, ty, &sel.name)
                .is_some_and(|j| j.requires.is_some())
                && !self.satisfied.contains(&(node, sel.name.clone()))
            {
                own_requires.push(sel.unconditioned());
                continue;
            }
            let provided_here: Vec<&Sel> = provided
                .iter()
                .filter(|p| p.name == sel.name && applies(self.sg, p, ty))
                .collect();
            let via_provides =
                !provided_here.is_empty() && self.sg.join(graph, ty, &sel.name).is_some();
            if self.sg.resolves(graph, ty, &sel.name) || via_provides {
                let field = self.field(graph, node, path, ty, &sel, &provided_here);
                out.push(field);
            } else {
                holes.push(sel.unconditioned());
            }
        }
        // Keys and required fields may be ones a parent's @provides gives.
        let outer = self
            .provided_at
            .replace((graph, ty.to_owned(), provided.to_vec()));
        if !holes.is_empty() {
            self.holes(graph, node, path, ty, holes, &mut out, hops);
        }
        if !own_requires.is_empty() {
            self.entity_jump(
                graph,
                node,
                path,
                ty,
                graph,
                ty,
                own_requires,
                &mut out,
                hops + 1,
            );
        }
        self.provided_at = outer;
        // Keys a re-entry below asked this position for.
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_keys)
            .into_iter()
            .partition(|(d, t, g, _)| *d == depth && t == ty && *g == graph);
        self.pending_keys = rest;
        for (_, _, _, key) in mine {
            self.add_internal(graph, node, path, ty, &key, &mut out);
        }
        out
    }

    /// One field `graph` resolves, with its sub-selection.
    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        sel: &Sel,
        provided_here: &[&Sel],
    ) -> Out {
        let def = self.sg.field(ty, &sel.name);
        // The subgraph's own type for the field, where it is narrower.
        let named = self
            .sg
            .join(graph, ty, &sel.name)
            .and_then(|j| j.named.clone())
            .filter(|n| self.sg.ty(n).is_some())
            .or_else(|| def.map(|f| f.named.clone()))
            .unwrap_or_default();
        let mut child_provided: Vec<Sel> = provided_here
            .iter()
            .flat_map(|p| p.sub.iter().cloned())
            .collect();
        if let Some(p) = self
            .sg
            .join(graph, ty, &sel.name)
            .and_then(|j| j.provides.as_ref())
        {
            child_provided.extend(p.iter().cloned());
        }
        let sub = if sel.sub.is_empty() {
            Vec::new()
        } else {
            let mut child_path = path.to_vec();
            child_path.push(sel.key.clone());
            self.trail.push(TrailStep {
                key: sel.key.clone(),
                name: sel.name.clone(),
                args: typed_args(self.sg, ty, sel),
                parent_ty: ty.to_owned(),
                graph,
                field_ty: named.clone(),
            });
            let sub = self.set(
                graph,
                node,
                &child_path,
                &named,
                &sel.sub,
                &child_provided,
                // A new position: the jumps counted are those at one position.
                0,
            );
            self.trail.pop();
            sub
        };
        Out::Field {
            alias: (sel.key != sel.name).then(|| sel.key.clone()),
            name: sel.name.clone(),
            args: typed_args(self.sg, ty, sel),
            sub,
            restore: None,
        }
    }
}
