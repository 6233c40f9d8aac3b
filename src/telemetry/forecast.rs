//! Predicted latency: for an operation, the dependency graph of its
//! upstream calls with each call's configured timeout and its upstream's
//! observed p50/p95 (the gateway's own recent measurements), and the
//! predicted critical path: the chain of dependent calls whose sum is the
//! largest, at p50, at p95 and by timeouts.
//!
//! Two sources of the graph: an operation's text against the schema
//! (`tributary plan`, before it ever runs; [`plan`]), and a recorded
//! execution's calls (the status page's recent operations;
//! [`from_timeline`]). A chain's p95 is the sum of its calls' p95s: an
//! upper estimate (the slow ends of independent calls rarely meet).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

use super::timeline::Timeline;
use crate::config::{Config, FieldSource, TypeDef};

/// An upstream's observed p50 and p95, in milliseconds.
pub type Observed = HashMap<String, (f64, f64)>;

/// One call of the graph.
#[derive(Debug, Clone)]
pub struct Call {
    /// Response path (`*` for every item of a list).
    pub path: String,
    pub upstream: String,
    pub timeout: Duration,
    /// The call whose answer it needs.
    pub after: Option<usize>,
    /// One call per item of a list (not batched).
    pub per_item: bool,
}

/// The slowest chain by one measure.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    pub calls: Vec<usize>,
    pub ms: f64,
}

/// The graph and its critical paths.
#[derive(Debug, Clone, Default)]
pub struct Forecast {
    pub calls: Vec<Call>,
    pub p50: Chain,
    pub p95: Chain,
    pub timeouts: Chain,
}

impl Forecast {
    /// The critical paths of `calls` (parents before the calls that wait
    /// for them).
    pub fn new(calls: Vec<Call>, observed: &Observed) -> Forecast {
        let measure = |f: &dyn Fn(&Call) -> f64| slowest(&calls, f);
        let p50 = measure(&|c| observed.get(&c.upstream).map_or(0.0, |o| o.0));
        let p95 = measure(&|c| observed.get(&c.upstream).map_or(0.0, |o| o.1));
        let timeouts = measure(&|c| c.timeout.as_secs_f64() * 1000.0);
        Forecast {
            calls,
            p50,
            p95,
            timeouts,
        }
    }

    /// The chain as `upstream path -> upstream path`.
    pub fn describe(&self, chain: &Chain) -> String {
        chain
            .calls
            .iter()
            .filter_map(|&i| self.calls.get(i))
            .map(|c| format!("{} {}", c.upstream, c.path))
            .collect::<Vec<_>>()
            .join(" -> ")
    }
}

/// The chain with the largest sum of `cost`: a call's own cost plus the
/// costliest chain of the calls that wait for it.
fn slowest(calls: &[Call], cost: &dyn Fn(&Call) -> f64) -> Chain {
    // Calls come parents first, so one pass from the end settles children.
    let mut best: Vec<Chain> = vec![Chain::default(); calls.len()];
    for i in (0..calls.len()).rev() {
        let below = (i + 1..calls.len())
            .filter(|&j| calls[j].after == Some(i))
            .map(|j| &best[j])
            .max_by(|a, b| a.ms.total_cmp(&b.ms))
            .cloned()
            .unwrap_or_default();
        let mut chain = Chain {
            calls: vec![i],
            ms: cost(&calls[i]) + below.ms,
        };
        chain.calls.extend(below.calls);
        best[i] = chain;
    }
    (0..calls.len())
        .filter(|&i| calls[i].after.is_none())
        .map(|i| best[i].clone())
        .max_by(|a, b| a.ms.total_cmp(&b.ms))
        .unwrap_or_default()
}

/// The observed p50/p95 and the timeout of each upstream, from the
/// gateway's own summaries.
pub fn observed(
    upstreams: &[super::metrics::UpstreamSummary],
) -> (Observed, HashMap<String, Duration>) {
    let observed = upstreams
        .iter()
        .filter(|u| u.calls > 0)
        .map(|u| (u.name.clone(), (u.p50_ms, u.p95_ms)))
        .collect();
    let timeouts = upstreams
        .iter()
        .map(|u| (u.name.clone(), u.timeout))
        .collect();
    (observed, timeouts)
}

/// The graph of a recorded execution: its calls and who waited for whom.
pub fn from_timeline(
    timeline: &Timeline,
    observed: &Observed,
    timeouts: &HashMap<String, Duration>,
) -> Forecast {
    let mut order: Vec<usize> = (0..timeline.calls.len()).collect();
    order.sort_by_key(|&i| timeline.calls[i].start);
    let index: HashMap<usize, usize> = order
        .iter()
        .enumerate()
        .map(|(at, &i)| (timeline.calls[i].id, at))
        .collect();
    let calls = order
        .iter()
        .map(|&i| {
            let c = &timeline.calls[i];
            Call {
                path: c.path.to_string(),
                upstream: c.upstream.to_string(),
                timeout: timeouts.get(&*c.upstream).copied().unwrap_or_default(),
                after: c.parent.and_then(|p| index.get(&p).copied()),
                per_item: false,
            }
        })
        .collect();
    Forecast::new(calls, observed)
}

/// The graph of `query`'s operation over a (REST or GraphQL-bound)
/// schema, without running it.
pub fn forecast(
    config: &Config,
    query: &str,
    operation_name: Option<&str>,
    observed: &Observed,
) -> Result<Forecast, String> {
    let document = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
    let (root, selection) = operation(config, &document, operation_name)?;
    let mut walk = Walk {
        config,
        fragments: &document.fragments,
        calls: Vec::new(),
        depth: 0,
    };
    walk.selection(&root, &selection.node, None, "", false);
    Ok(Forecast::new(walk.calls, observed))
}

fn operation<'d>(
    config: &Config,
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Result<(String, &'d Positioned<SelectionSet>), String> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .ok_or_else(|| format!("the document has no operation `{name}`"))?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().ok_or("the document has no operation")?
        }
        (DocumentOperations::Multiple(_), None) => {
            return Err("the document has several operations: name one".to_owned());
        }
    };
    use async_graphql::parser::types::OperationType;
    let root = match op.node.ty {
        OperationType::Query => Some(config.query_type.clone()),
        OperationType::Mutation => config.mutation_type.clone(),
        OperationType::Subscription => config.subscription_type.clone(),
    }
    .ok_or("the schema has no root type for this operation")?;
    Ok((root, &op.node.selection_set))
}

struct Walk<'a> {
    config: &'a Config,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    calls: Vec<Call>,
    depth: usize,
}

/// Bounds the walk (fragments may nest deeply; validation is the
/// engine's, not this view's).
const MAX_DEPTH: usize = 64;

impl Walk<'_> {
    fn selection(
        &mut self,
        ty: &str,
        set: &SelectionSet,
        after: Option<usize>,
        path: &str,
        in_list: bool,
    ) {
        if self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => self.field(ty, &field.node, after, path, in_list),
                Selection::InlineFragment(f) => {
                    let on = f
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty.to_owned(), |c| c.node.on.node.to_string());
                    self.selection(&on, &f.node.selection_set.node, after, path, in_list);
                }
                Selection::FragmentSpread(spread) => {
                    let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node) else {
                        continue;
                    };
                    let on = fragment.node.type_condition.node.on.node.to_string();
                    self.selection(&on, &fragment.node.selection_set.node, after, path, in_list);
                }
            }
        }
        self.depth -= 1;
    }

    fn field(
        &mut self,
        ty: &str,
        field: &async_graphql::parser::types::Field,
        after: Option<usize>,
        path: &str,
        in_list: bool,
    ) {
        let key = field.response_key().node.as_str();
        let Some(TypeDef::Object(object) | TypeDef::Interface(object)) = self.config.types.get(ty)
        else {
            return;
        };
        let Some(def) = object.fields.get(field.name.node.as_str()) else {
            return;
        };
        let here = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        let call = match &def.source {
            FieldSource::Rest(binding) => Some(Call {
                path: here.clone(),
                upstream: binding.upstream.name.clone(),
                timeout: binding.timeout.unwrap_or(binding.upstream.policies.timeout),
                after,
                per_item: in_list && binding.batch.is_none(),
            }),
            FieldSource::Graphql(binding) => Some(Call {
                path: here.clone(),
                upstream: binding.upstream.name.clone(),
                timeout: binding.upstream.policies.timeout,
                after,
                per_item: in_list,
            }),
            _ => None,
        };
        let (after, in_list) = match call {
            Some(call) => {
                self.calls.push(call);
                (Some(self.calls.len() - 1), false)
            }
            None => (after, in_list),
        };
        let (list, inner) = named(&def.ty);
        let path = if list { format!("{here}.*") } else { here };
        self.selection(
            &inner,
            &field.selection_set.node,
            after,
            &path,
            in_list || list,
        );
    }
}

/// Whether `ty` is a list (at any depth) and its named type.
fn named(ty: &async_graphql::parser::types::Type) -> (bool, String) {
    match &ty.base {
        async_graphql::parser::types::BaseType::Named(name) => (false, name.to_string()),
        async_graphql::parser::types::BaseType::List(inner) => (true, named(inner).1),
    }
}

/// `tributary plan`'s view: the graph as a tree, each call with its
/// timeout and observed p50/p95, then the predicted critical paths.
pub fn render(forecast: &Forecast, observed: &Observed, deadline: Option<Duration>) -> String {
    let mut out = String::from("calls (each waits for the one it is indented under):\n");
    if forecast.calls.is_empty() {
        out.push_str("  (none: nothing in this operation calls an upstream)\n");
    }
    let depth = |mut i: usize| {
        let mut d = 0;
        while let Some(p) = forecast.calls[i].after {
            d += 1;
            i = p;
        }
        d
    };
    for (i, call) in forecast.calls.iter().enumerate() {
        let seen = observed.get(&call.upstream).map_or_else(
            || "no observations".to_owned(),
            |(p50, p95)| format!("p50 {p50:.1} ms, p95 {p95:.1} ms"),
        );
        let _ = writeln!(
            out,
            "  {}{} {}  [timeout {}, {seen}]{}",
            "  ".repeat(depth(i)),
            call.upstream,
            call.path,
            humantime::format_duration(call.timeout),
            if call.per_item {
                "  (one call per item, in parallel)"
            } else {
                ""
            }
        );
    }
    if observed.is_empty() && !forecast.calls.is_empty() {
        out.push_str("no observations (--observed URL costs the calls at a gateway's p50/p95)\n");
    }
    for (what, chain) in [
        ("p50", &forecast.p50),
        ("p95", &forecast.p95),
        ("by timeouts", &forecast.timeouts),
    ] {
        if chain.calls.is_empty() || (observed.is_empty() && what != "by timeouts") {
            continue;
        }
        let _ = writeln!(
            out,
            "critical path {what}: {:.1} ms: {}",
            chain.ms,
            forecast.describe(chain)
        );
    }
    if let Some(deadline) = deadline {
        let limit = deadline.as_secs_f64() * 1000.0;
        if forecast.timeouts.ms > limit {
            let _ = writeln!(
                out,
                "warning: the longest chain can take {:.0} ms by its timeouts, more than requestTimeout ({:.0} ms)",
                forecast.timeouts.ms, limit
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(upstream: &str, after: Option<usize>, timeout_ms: u64) -> Call {
        Call {
            path: upstream.to_owned(),
            upstream: upstream.to_owned(),
            timeout: Duration::from_millis(timeout_ms),
            after,
            per_item: false,
        }
    }

    #[test]
    fn the_critical_path_is_the_costliest_chain_of_dependent_calls() {
        // a -> b -> c, and d alone; d is slowest alone, a-b-c together.
        let calls = vec![
            call("a", None, 100),
            call("b", Some(0), 100),
            call("c", Some(1), 100),
            call("d", None, 1000),
            call("e", Some(0), 50),
        ];
        let observed: Observed = [
            ("a", (10.0, 20.0)),
            ("b", (10.0, 20.0)),
            ("c", (10.0, 80.0)),
            ("d", (25.0, 30.0)),
            ("e", (1.0, 2.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let forecast = Forecast::new(calls, &observed);
        assert_eq!(forecast.p50.calls, [0, 1, 2]);
        assert_eq!(forecast.p50.ms, 30.0);
        assert_eq!(forecast.p95.calls, [0, 1, 2]);
        assert_eq!(forecast.p95.ms, 120.0);
        assert_eq!(forecast.timeouts.calls, [3]);
        assert_eq!(forecast.describe(&forecast.p50), "a a -> b b -> c c");
    }
}
