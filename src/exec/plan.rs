//! The part of an operation below one field that involves upstream calls.

use std::sync::Arc;

use async_graphql::{SelectionField, Value as ConstValue};
use serde_json::{Map, Value};

use super::registry::{CompiledField, OutputKind, Registry};
use crate::config::FieldSource;

/// One selected field whose subtree makes upstream calls.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The response key (alias or name).
    pub(crate) key: String,
    pub(crate) field: Arc<CompiledField>,
    /// Arguments with variables and defaults applied, as JSON.
    pub(crate) args: Map<String, Value>,
    /// Selected children that are bound, or lead to bound descendants.
    pub(crate) children: Vec<Arc<Plan>>,
}

impl Plan {
    /// The field's `batch: {...}`, when it is batched.
    pub(crate) fn batch(&self) -> Option<&crate::config::BatchConfig> {
        match &self.field.def.source {
            FieldSource::Rest(binding) => binding.batch.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn new(
        registry: &Registry,
        field: Arc<CompiledField>,
        key: String,
        args: Map<String, Value>,
        selection: SelectionField<'_>,
    ) -> Plan {
        let children = children(registry, &field, selection);
        let args = registry.inputs.arguments(&field.def.args, args);
        Plan {
            key,
            field,
            args,
            children,
        }
    }
}

fn children(
    registry: &Registry,
    field: &CompiledField,
    selection: SelectionField<'_>,
) -> Vec<Arc<Plan>> {
    // Below an interface or union the concrete type is known only from the
    // data; those children resolve when the engine reaches them. Below a
    // GraphQL upstream's field, the upstream answers the whole selection.
    if !matches!(field.out, OutputKind::Object)
        || matches!(field.def.source, FieldSource::Graphql(_))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for child in selection.selection_set() {
        if child.name().starts_with("__") || !included(&child) {
            continue;
        }
        let Some(rt) = registry.field(&field.named, child.name()) else {
            continue;
        };
        let key = child.alias().unwrap_or(child.name());
        let grandchildren = children(registry, rt, child);
        let bound = matches!(
            rt.def.source,
            FieldSource::Rest(_) | FieldSource::Graphql(_) | FieldSource::Entity(_)
        );
        if !bound && grandchildren.is_empty() {
            continue;
        }
        merge(
            &mut out,
            Plan {
                key: key.to_owned(),
                field: rt.clone(),
                args: arguments(registry, rt, &child),
                children: grandchildren,
            },
        );
    }
    out
}

/// Adds `plan` to `plans`. A key selected again (two fragments, or the field
/// written twice) is one field with the union of the selections (validation
/// guarantees equal arguments), so its children merge instead of being
/// dropped: a dropped child would still resolve, but late and serially.
fn merge(plans: &mut Vec<Arc<Plan>>, plan: Plan) {
    let Some(existing) = plans.iter_mut().find(|p| p.key == plan.key) else {
        plans.push(Arc::new(plan));
        return;
    };
    // Plans are shared only once planning is done, so these always succeed.
    let Some(existing) = Arc::get_mut(existing) else {
        return;
    };
    for child in plan
        .children
        .into_iter()
        .filter_map(|c| Arc::try_unwrap(c).ok())
    {
        merge(&mut existing.children, child);
    }
}

/// `@skip(if:)` / `@include(if:)`, with variables applied.
fn included(selection: &SelectionField<'_>) -> bool {
    let Ok(directives) = selection.directives() else {
        return true;
    };
    directives.iter().all(|d| {
        let flag = d
            .get_argument("if")
            .map(|v| matches!(v.node, ConstValue::Boolean(true)));
        match d.name.node.as_str() {
            "skip" => flag != Some(true),
            "include" => flag != Some(false),
            _ => true,
        }
    })
}

fn arguments(
    registry: &Registry,
    field: &CompiledField,
    selection: &SelectionField<'_>,
) -> Map<String, Value> {
    let args: Map<String, Value> = selection
        .arguments()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.into_json().unwrap_or(Value::Null)))
        .collect();
    registry.inputs.arguments(&field.def.args, args)
}

/// `args` with the field's argument defaults for those not given.
pub(crate) fn with_defaults(
    field: &CompiledField,
    mut args: Map<String, Value>,
) -> Map<String, Value> {
    for def in &field.def.args {
        if let Some(default) = &def.default
            && !args.contains_key(def.name.as_str())
        {
            args.insert(
                def.name.to_string(),
                default.clone().into_json().unwrap_or(Value::Null),
            );
        }
    }
    args
}
