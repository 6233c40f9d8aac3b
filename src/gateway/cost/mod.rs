//! Operation cost, measured before the engine validates a document and before
//! any upstream call.
//!
//! The model (README, "Security and limits"): every field costs one point,
//! `__typename` and introspection included; a list field multiplies the cost
//! of its selection by its size: the value of its first slicing argument
//! (`@listSize(slicingArguments:)`), else its `@listSize(assumedSize:)`, else
//! the server's `defaultListSize`. Introspection lists take their sizes from
//! the schema itself. Planned upstream calls are counted the same way: a bound
//! field is one call per parent object, a batched one is one call per
//! `maxSize` parents of a list (an upper bound).
//!
//! Fragments are measured once each and their measure reused at every
//! spread, so the work is linear in the size of the document, however often
//! fragments spread one another; a fragment cycle is refused.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationType, Selection,
    SelectionSet, Type,
};
use serde_json::{Map, Value};

use crate::config::{Config, FieldSource, ListSize, ServerSettings, TypeDef};

mod introspection;
use introspection::{SchemaCounts, introspection};

/// What the analysis knows of one output field, compiled from the schema.
#[derive(Debug)]
struct FieldCost {
    /// The named type of the field's value.
    ty: String,
    /// List wrappers around it (`[[T]]` is two).
    lists: u32,
    size: Option<ListSize>,
    /// Defaults of the slicing arguments, for an operation that omits them.
    slicing_defaults: Vec<(String, u64)>,
    call: Call,
}

#[derive(Debug, Clone, Copy)]
enum Call {
    None,
    /// One upstream call per parent object.
    Each,
    /// One call per `max_size` parents of a list.
    Batched(u64),
}

/// The schema as the cost analysis sees it.
#[derive(Debug)]
pub(crate) struct CostModel {
    types: HashMap<String, HashMap<String, FieldCost>>,
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
    default_list_size: u64,
}

/// The limits one operation is measured against (`@server`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_cost: u64,
    pub(crate) max_depth: u64,
    pub(crate) max_upstream_calls: u64,
    pub(crate) max_aliases: usize,
    pub(crate) max_root_fields: usize,
}

impl Limits {
    pub(crate) fn of(server: &ServerSettings) -> Limits {
        Limits {
            max_cost: server.max_cost,
            max_depth: u64::try_from(server.max_depth).unwrap_or(u64::MAX),
            max_upstream_calls: server.max_upstream_calls,
            max_aliases: server.max_aliases,
            max_root_fields: server.max_root_fields,
        }
    }
}

/// What an operation was measured at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    pub cost: u64,
    pub upstream_calls: u64,
    pub depth: u64,
    pub aliases: usize,
    pub root_fields: u64,
    /// A slicing argument reads a variable: the measure holds only for the
    /// variables it was taken with.
    pub(crate) reads_variables: bool,
}

/// The cost of one selection set, per parent object.
#[derive(Debug, Clone, Copy, Default)]
struct SetCost {
    cost: u64,
    /// Unbatched upstream calls.
    calls: u64,
    /// Batched bound fields directly in the set, and the sum of 1/maxSize
    /// over them.
    batched: u64,
    batch_rate: f64,
    depth: u64,
    /// Fields in the set, fragments expanded.
    width: u64,
}

impl SetCost {
    fn add(&mut self, other: &SetCost) {
        self.cost = self.cost.saturating_add(other.cost);
        self.calls = self.calls.saturating_add(other.calls);
        self.batched = self.batched.saturating_add(other.batched);
        self.batch_rate += other.batch_rate;
        self.depth = self.depth.max(other.depth);
        self.width = self.width.saturating_add(other.width);
    }

    /// Calls made for `items` parent objects of this set: batched fields
    /// make one call per `maxSize` items (rounded up, plus one each).
    fn calls_for(&self, items: u64) -> u64 {
        if items <= 1 {
            return self
                .calls
                .saturating_mul(items)
                .saturating_add(self.batched);
        }
        let chunks = (items as f64 * self.batch_rate).ceil();
        let chunks = if chunks >= u64::MAX as f64 {
            u64::MAX
        } else {
            chunks as u64
        };
        self.calls
            .saturating_mul(items)
            .saturating_add(chunks)
            .saturating_add(self.batched)
    }
}

impl CostModel {
    /// Compiles the model once, when the schema loads.
    pub(crate) fn new(config: &Config) -> CostModel {
        let mut types: HashMap<String, HashMap<String, FieldCost>> = HashMap::new();
        let mut counts = SchemaCounts::default();
        for (name, def) in &config.types {
            counts.types += 1;
            match def {
                TypeDef::Object(object) | TypeDef::Interface(object) => {
                    counts.implements += object.implements.len() as u64;
                    let fields = types.entry(name.clone()).or_default();
                    for (fname, field) in &object.fields {
                        counts.fields += 1;
                        counts.args += field.args.len() as u64;
                        let call = match &field.source {
                            FieldSource::Rest(binding) => match &binding.batch {
                                Some(batch) => {
                                    Call::Batched(u64::try_from(batch.max_size).unwrap_or(1).max(1))
                                }
                                None => Call::Each,
                            },
                            FieldSource::Graphql(_) => Call::Each,
                            // Subgraph fetches are planned, one per subgraph
                            // and step for all objects, as for `Federated`.
                            FieldSource::Parent(_)
                            | FieldSource::Arguments
                            | FieldSource::Federated
                            | FieldSource::Entity(_) => Call::None,
                        };
                        let (ty, lists) = named(&field.ty);
                        let slicing_defaults = field
                            .list_size
                            .iter()
                            .flat_map(|size| &size.slicing)
                            .filter_map(|name| {
                                let arg = field.args.iter().find(|a| a.name.as_str() == name)?;
                                match &arg.default {
                                    Some(async_graphql::Value::Number(n)) => {
                                        Some((name.clone(), n.as_u64()?))
                                    }
                                    _ => None,
                                }
                            })
                            .collect();
                        fields.insert(
                            fname.clone(),
                            FieldCost {
                                ty: ty.to_owned(),
                                lists,
                                size: field.list_size.clone(),
                                slicing_defaults,
                                call,
                            },
                        );
                    }
                }
                TypeDef::Union(union) => counts.members += union.members.len() as u64,
                TypeDef::Enum(e) => counts.enum_values += e.values.len() as u64,
                TypeDef::Input(input) => counts.input_fields += input.fields.len() as u64,
                TypeDef::Scalar(_) => {}
            }
        }
        introspection(&mut types, &counts, &config.query_type);
        CostModel {
            types,
            query: config.query_type.clone(),
            mutation: config.mutation_type.clone(),
            subscription: config.subscription_type.clone(),
            default_list_size: config.server.default_list_size.max(1),
        }
    }

    /// Measures the operation `operation_name` of `doc` against `limits`.
    /// An operation that cannot be chosen (unknown or ambiguous name) gets a
    /// zero measure: the engine reports that.
    pub(crate) fn measure(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: Option<&Map<String, Value>>,
        limits: &Limits,
    ) -> Result<Measure, String> {
        let aliases = count_aliases(doc);
        if aliases > limits.max_aliases {
            return Err(format!(
                "the document has {aliases} aliased fields, more than maxAliases ({})",
                limits.max_aliases
            ));
        }
        let Some((ty, selection_set)) = self.operation(doc, operation_name) else {
            return Ok(Measure {
                aliases,
                ..Measure::default()
            });
        };
        let mut walk = Walk {
            model: self,
            doc,
            variables,
            memo: HashMap::new(),
            visiting: HashSet::new(),
            chain: Vec::new(),
            reads_variables: false,
        };
        let root = walk.set(ty, selection_set)?;
        let measure = Measure {
            cost: root.cost,
            upstream_calls: root.calls_for(1),
            depth: root.depth,
            aliases,
            root_fields: root.width,
            reads_variables: walk.reads_variables,
        };
        check(&measure, limits)?;
        Ok(measure)
    }

    fn operation<'d>(
        &self,
        doc: &'d ExecutableDocument,
        name: Option<&str>,
    ) -> Option<(&str, &'d SelectionSet)> {
        let op = match (&doc.operations, name) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
            (DocumentOperations::Multiple(_), None) => return None,
        };
        let ty = match op.node.ty {
            OperationType::Query => self.query.as_str(),
            OperationType::Mutation => self.mutation.as_deref().unwrap_or(""),
            OperationType::Subscription => self.subscription.as_deref().unwrap_or(""),
        };
        Some((ty, &op.node.selection_set.node))
    }
}

/// The first limit `measure` exceeds, as a message that names the limit.
pub(crate) fn check(measure: &Measure, limits: &Limits) -> Result<(), String> {
    if measure.depth > limits.max_depth {
        return Err(format!(
            "the operation is nested too deep: depth {}, more than maxDepth ({})",
            measure.depth, limits.max_depth
        ));
    }
    if measure.root_fields > limits.max_root_fields as u64 {
        return Err(format!(
            "the operation selects {} root fields, more than maxRootFields ({})",
            measure.root_fields, limits.max_root_fields
        ));
    }
    if measure.cost > limits.max_cost {
        return Err(format!(
            "the operation costs {}, more than maxCost ({}): every field counts 1, times the size of each list around it (@listSize, slicing arguments, defaultListSize)",
            measure.cost, limits.max_cost
        ));
    }
    if measure.upstream_calls > limits.max_upstream_calls {
        return Err(format!(
            "the operation would make up to {} upstream calls, more than maxUpstreamCalls ({})",
            measure.upstream_calls, limits.max_upstream_calls
        ));
    }
    Ok(())
}

struct Walk<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    variables: Option<&'a Map<String, Value>>,
    /// Each fragment's measure, taken once.
    memo: HashMap<&'a str, SetCost>,
    visiting: HashSet<&'a str>,
    /// The fragments being measured, outermost first (for the cycle's text).
    chain: Vec<&'a str>,
    reads_variables: bool,
}

/// How the measure's refusal of a fragment cycle begins (graphql-js's text).
pub(crate) const CYCLE: &str = "Cannot spread fragment";

impl<'a> Walk<'a> {
    fn set(&mut self, ty: &str, set: &'a SelectionSet) -> Result<SetCost, String> {
        let mut total = SetCost::default();
        for selection in &set.items {
            let part = match &selection.node {
                Selection::Field(field) => self.field(ty, &field.node)?,
                Selection::InlineFragment(inline) => self.set(
                    super::prepare::inline_type(&inline.node, ty),
                    &inline.node.selection_set.node,
                )?,
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            total.add(&part);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str) -> Result<SetCost, String> {
        if let Some(cost) = self.memo.get(name) {
            return Ok(*cost);
        }
        // Unknown fragments are the engine's to report.
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(SetCost::default());
        };
        if !self.visiting.insert(name) {
            // graphql-js's text (NoFragmentCyclesRule): the fragments on the
            // way back to this one.
            let from = self.chain.iter().position(|f| *f == name).unwrap_or(0);
            let via: Vec<String> = self.chain[from + 1..]
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect();
            return Err(if via.is_empty() {
                format!("{CYCLE} \"{name}\" within itself.")
            } else {
                format!("{CYCLE} \"{name}\" within itself via {}.", via.join(", "))
            });
        }
        self.chain.push(name);
        let on = fragment.node.type_condition.node.on.node.as_str();
        let cost = self.set(on, &fragment.node.selection_set.node)?;
        self.chain.pop();
        self.visiting.remove(name);
        self.memo.insert(name, cost);
        Ok(cost)
    }

    fn field(&mut self, ty: &str, field: &'a Field) -> Result<SetCost, String> {
        let known = self
            .model
            .types
            .get(ty)
            .and_then(|fields| fields.get(field.name.node.as_str()));
        let child_ty = known.map_or("", |f| f.ty.as_str());
        let child = self.set(child_ty, &field.selection_set.node)?;
        let items = match known {
            Some(f) if f.lists > 0 => self.list_size(f, field),
            _ => 1,
        };
        let mut cost = SetCost {
            cost: child.cost.saturating_mul(items).saturating_add(1),
            calls: child.calls_for(items),
            depth: child.depth.saturating_add(1),
            width: 1,
            ..SetCost::default()
        };
        match known.map_or(Call::None, |f| f.call) {
            Call::None => {}
            Call::Each => cost.calls = cost.calls.saturating_add(1),
            Call::Batched(max_size) => {
                cost.batched = 1;
                cost.batch_rate = 1.0 / max_size as f64;
            }
        }
        Ok(cost)
    }

    /// The items one list field is assumed to hold (every list level).
    fn list_size(&mut self, known: &FieldCost, field: &Field) -> u64 {
        let default = self.model.default_list_size;
        let mut outer = None;
        if let Some(size) = &known.size {
            for name in &size.slicing {
                let Some((_, value)) = field
                    .arguments
                    .iter()
                    .find(|(n, _)| n.node.as_str() == name)
                else {
                    continue;
                };
                let given = match &value.node {
                    async_graphql_value::Value::Number(n) => n.as_u64(),
                    async_graphql_value::Value::Variable(var) => {
                        self.reads_variables = true;
                        self.variables
                            .and_then(|v| v.get(var.as_str()))
                            .and_then(Value::as_u64)
                    }
                    _ => None,
                };
                if let Some(n) = given {
                    outer = Some(n);
                    break;
                }
            }
            if outer.is_none() {
                outer = known.slicing_defaults.first().map(|(_, n)| *n);
            }
            if outer.is_none() {
                outer = size.assumed;
            }
        }
        let mut items = outer.unwrap_or(default);
        for _ in 1..known.lists {
            items = items.saturating_mul(default);
        }
        items
    }
}

/// Aliased fields anywhere in the document, fragments counted as written.
fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|s| match &s.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(i) => walk(&i.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

fn named(ty: &Type) -> (&str, u32) {
    let mut lists = 0;
    let mut base = &ty.base;
    loop {
        match base {
            BaseType::Named(name) => return (name.as_str(), lists),
            BaseType::List(inner) => {
                lists += 1;
                base = &inner.base;
            }
        }
    }
}

#[cfg(test)]
mod tests;
