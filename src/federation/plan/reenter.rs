//! Re-entry: fields of a type that has no key in the subgraph resolving
//! them are asked at the nearest ancestor that subgraph can be entered at
//! (an entity, or the root of a query), the fields on the way repeated.

use super::{MAX_HOPS, NodeKind, Out, Planner, internal_alias};
use crate::federation::selection::Sel;
use crate::federation::supergraph::GraphId;

impl Planner<'_> {
    /// Fields of a type no subgraph can represent (no key there): asked of
    /// the subgraph that resolves them by re-entering at an ancestor, the
    /// nearest entity (or, for a query, the root) from which every field on
    /// the way down resolves in that subgraph.
    pub(super) fn reenter(
        &mut self,
        node: usize,
        path: &[String],
        ty: &str,
        holes: Vec<Sel>,
        hops: usize,
    ) -> Vec<usize> {
        let (made, left) = self.try_reenter(node, path, ty, holes, hops);
        for h in left {
            self.errors.push(format!(
                "no subgraph resolves `{ty}.{}` (at `{}`)",
                h.name,
                path.join(".")
            ));
        }
        made
    }

    /// [`Planner::reenter`], returning the holes it found no way for.
    pub(super) fn try_reenter(
        &mut self,
        node: usize,
        path: &[String],
        ty: &str,
        holes: Vec<Sel>,
        hops: usize,
    ) -> (Vec<usize>, Vec<Sel>) {
        let mut made = Vec::new();
        let mut left = Vec::new();
        let mut remaining = holes;
        while let Some(first) = remaining.first().cloned() {
            let mut routed = false;
            for target in self.sg.resolvers(ty, &first.name) {
                let batch: Vec<Sel> = remaining
                    .iter()
                    .filter(|h| self.sg.resolves(target, ty, &h.name))
                    .cloned()
                    .collect();
                if let Some(id) = self.reenter_at(node, path, ty, target, &batch, hops) {
                    made.push(id);
                    remaining.retain(|h| !batch.iter().any(|b| b.key == h.key));
                    routed = true;
                    break;
                }
            }
            if !routed {
                left.push(remaining.remove(0));
            }
        }
        (made, left)
    }

    /// [`Planner::reenter`] through `target`, at the nearest ancestor it
    /// can be entered at.
    pub(super) fn reenter_at(
        &mut self,
        node: usize,
        path: &[String],
        ty: &str,
        target: GraphId,
        batch: &[Sel],
        hops: usize,
    ) -> Option<usize> {
        let depth = self.trail.len();
        if hops >= MAX_HOPS || path.len() != depth {
            return None;
        }
        for i in (0..depth).rev() {
            if !self.trail[i..]
                .iter()
                .all(|s| self.sg.resolves(target, &s.parent_ty, &s.name))
            {
                continue;
            }
            let ancestor = self.trail[i].parent_ty.clone();
            let root = i == 0 && ancestor == self.sg.query_type;
            if root && self.mutation {
                return None;
            }
            let key = if root {
                None
            } else {
                // The ancestor object came from the subgraph that answered
                // the field above it; its own fields may come from another.
                let fetchers = [
                    i.checked_sub(1).map(|above| self.trail[above].graph),
                    Some(self.trail[i].graph),
                ];
                let key = fetchers.into_iter().flatten().find_map(|fetching| {
                    self.sg.ty(&ancestor).and_then(|t| {
                        t.keys_in(target)
                            .find(|k| self.can_provide(fetching, &ancestor, &k.fields))
                            .map(|k| (fetching, k.fields.clone()))
                    })
                });
                match key {
                    Some((fetching, k)) => Some((fetching, k)),
                    None => continue,
                }
            };
            let kind = match &key {
                None => NodeKind::Root,
                Some((_, k)) => NodeKind::Entity {
                    path: path[..i].to_vec(),
                    types: vec![ancestor.clone()],
                    typename: ancestor.clone(),
                    rep: k.clone(),
                    key_len: k.len(),
                    aliases: k.iter().map(internal_alias).collect(),
                },
            };
            let deps = if root { Vec::new() } else { vec![node] };
            let id = self.push(target, deps, kind, false);
            let mut inner = self.object_set(target, id, path, ty, batch, &[], hops + 1);
            // From the position up to the ancestor, field by field.
            let mut inner_ty = ty.to_owned();
            for step in self.trail[i..depth].iter().rev() {
                if step.field_ty != inner_ty {
                    inner = vec![
                        Out::typename(),
                        Out::Fragment {
                            on: inner_ty.clone(),
                            sub: inner,
                        },
                    ];
                }
                let field = Out::Field {
                    alias: (step.key != step.name).then(|| step.key.clone()),
                    name: step.name.clone(),
                    args: step.args.clone(),
                    sub: inner,
                    restore: None,
                };
                inner = vec![Out::typename(), field];
                inner_ty = step.parent_ty.clone();
            }
            self.nodes[id].selection = match key {
                None => inner,
                Some((fetching, k)) => {
                    self.pending_keys.push((i, ancestor.clone(), fetching, k));
                    vec![Out::Fragment {
                        on: ancestor,
                        sub: inner,
                    }]
                }
            };
            return Some(id);
        }
        None
    }
}
