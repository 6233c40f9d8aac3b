//! Holes: the fields of an object position that the subgraph being asked
//! cannot resolve, planned as entity jumps (or re-entries) to the subgraphs
//! that can.

use std::collections::HashSet;

use super::{MAX_HOPS, Out, Planner};
use crate::federation::selection::Sel;
use crate::federation::supergraph::GraphId;

impl Planner<'_> {
    /// Plans the fields `holes` of the objects of type `ty` at `path`,
    /// which `graph` (fetching them in `node`) cannot resolve. Returns the
    /// nodes made.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn holes(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        holes: Vec<Sel>,
        out: &mut Vec<Out>,
        hops: usize,
    ) -> Vec<usize> {
        let mut made = Vec::new();
        if hops >= MAX_HOPS {
            for h in &holes {
                self.errors.push(format!(
                    "`{ty}.{}` at `{}` is more than {MAX_HOPS} entity jumps away",
                    h.name,
                    path.join(".")
                ));
            }
            return made;
        }
        let mut remaining = holes;
        let mut unroutable: Vec<Sel> = Vec::new();
        while !remaining.is_empty() {
            // (subgraph, type the representation names) -> holes it resolves
            let mut best: Option<((GraphId, String), Vec<usize>, bool)> = None;
            for (i, h) in remaining.iter().enumerate() {
                for target in self.targets(ty, &h.name) {
                    if target.0 == graph && target.1 == ty {
                        continue;
                    }
                    let covered: Vec<usize> = remaining
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| self.targets(ty, &o.name).contains(&target))
                        .map(|(j, _)| j)
                        .collect();
                    let direct = self.sg.ty(&target.1).is_some_and(|t| {
                        t.keys_in(target.0)
                            .any(|k| self.can_provide(graph, ty, &k.fields))
                    });
                    let better = match &best {
                        None => true,
                        Some((_, c, d)) => (direct, covered.len()) > (*d, c.len()),
                    };
                    if better {
                        best = Some((target, covered, direct));
                    }
                }
                if best.is_none() {
                    unroutable.push(remaining.remove(i));
                    break;
                }
            }
            let Some(((target, typename), covered, direct)) = best else {
                continue;
            };
            let batch: Vec<Sel> = covered.iter().map(|&j| remaining[j].clone()).collect();
            let keep: HashSet<usize> = covered.into_iter().collect();
            remaining = remaining
                .into_iter()
                .enumerate()
                .filter(|(j, _)| !keep.contains(j))
                .map(|(_, s)| s)
                .collect();
            // Chasing a key through another subgraph that needs a key
            // itself: re-entering at an ancestor may be the shorter way.
            if !direct && hops > 0 {
                let (ids, left) = self.try_reenter(node, path, ty, batch.clone(), hops);
                if left.is_empty() {
                    made.extend(ids);
                    continue;
                }
                made.extend(ids);
                if let Some(id) =
                    self.entity_jump(graph, node, path, ty, target, &typename, left, out, hops)
                {
                    made.push(id);
                }
                continue;
            }
            if let Some(id) =
                self.entity_jump(graph, node, path, ty, target, &typename, batch, out, hops)
            {
                made.push(id);
            }
        }
        if !unroutable.is_empty() {
            made.extend(self.reenter(node, path, ty, unroutable, hops));
        }
        made
    }
}
