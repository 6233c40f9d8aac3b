//! Entries from outside the supergraph: entities whose representations a
//! REST answer (or a field's arguments) gives, planned from an entity call
//! for them instead of from the root.

use std::cmp::Reverse;

use super::{NodeKind, Out, Plan, Planner, Step, applies, finish, internal_alias};
use crate::federation::selection::Sel;
use crate::federation::supergraph::Supergraph;

/// Where an entry's representations sit in the tree being assembled: the
/// list `{"tributary_entry": [...]}`, one object per representation.
pub(crate) const ENTRY: &str = "tributary_entry";

impl Planner<'_> {
    /// The plan of the selection `sels` on entities of object type
    /// `typename`, given representations that carry the fields `available`:
    /// one `_entities` call to the subgraph (among those with a key made of
    /// available fields) that resolves most of the selection, and from
    /// there the jumps any other plan has.
    pub(crate) fn plan_entry(
        sg: &Supergraph,
        typename: &str,
        available: &[String],
        sels: &[Sel],
        operation_name: Option<&str>,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut planner = Planner::new(sg, false);
        let sels: Vec<Sel> = sels
            .iter()
            .filter(|s| applies(sg, s, typename))
            .cloned()
            .collect();
        let Some(ty) = sg.ty(typename) else {
            plan.errors
                .push(format!("`{typename}` is not a type of the supergraph"));
            return plan;
        };
        let best = (0..sg.graphs.len())
            .flat_map(|g| ty.keys_in(g).map(move |k| (g, k)))
            .filter(|(_, k)| {
                k.fields
                    .iter()
                    .all(|f| f.is_typename() || (f.args.is_empty() && available.contains(&f.name)))
            })
            .max_by_key(|(g, _)| (planner.coverage(*g, typename, &sels, 2), Reverse(*g)));
        let Some((graph, key)) = best else {
            plan.errors.push(format!(
                "no subgraph has a key of `{typename}` made of the fields given ({})",
                available.join(", ")
            ));
            return plan;
        };
        let rep = key.fields.clone();
        let path = vec![ENTRY.to_owned()];
        let id = planner.push(
            graph,
            Vec::new(),
            NodeKind::Entity {
                path: path.clone(),
                types: vec![typename.to_owned()],
                typename: typename.to_owned(),
                aliases: rep.iter().map(internal_alias).collect(),
                key_len: rep.len(),
                rep,
            },
            false,
        );
        let sub = planner.object_set(graph, id, &path, typename, &sels, &[], 1);
        planner.nodes[id].selection = vec![Out::Fragment {
            on: typename.to_owned(),
            sub,
        }];
        plan.steps.push(Step {
            nodes: std::mem::take(&mut planner.nodes),
            keys: Vec::new(),
        });
        plan.errors = planner.errors;
        finish(sg, &mut plan, operation_name);
        plan
    }
}
