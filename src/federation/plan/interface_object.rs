//! Interface objects: a subgraph that knows an interface as an
//! `@interfaceObject` answers its own fields, never the concrete type, which
//! comes from a subgraph that knows the implementations.

use super::{NodeKind, Out, Planner, internal_alias, merge_by_key};
use crate::federation::selection::Sel;
use crate::federation::supergraph::GraphId;

impl Planner<'_> {
    /// An interface that `graph` knows as an `@interfaceObject`: it answers
    /// the interface's own fields, never the concrete type, so the concrete
    /// type always comes from a subgraph that knows the implementations.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn interface_object_set(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        sels: &[Sel],
        provided: &[Sel],
        hops: usize,
    ) -> Vec<Out> {
        let mut out = vec![Out::typename()];
        let mut direct = Vec::new();
        let mut rest = Vec::new();
        let mut own_requires = Vec::new();
        for sel in merge_by_key(sels) {
            if sel.is_typename() {
                continue;
            }
            let requires = self
                .sg
                .join(graph, ty, &sel.name)
                .is_some_and(|j| j.requires.is_some());
            if sel.on.is_empty() && requires && !self.satisfied.contains(&(node, sel.name.clone()))
            {
                own_requires.push(sel);
            } else if sel.on.is_empty() && self.sg.resolves(graph, ty, &sel.name) {
                out.push(self.field(graph, node, path, ty, &sel, &[]));
            } else if sel.on.is_empty()
                && self
                    .interface_graphs(ty, &sel.name)
                    .into_iter()
                    .any(|g| g != graph)
            {
                direct.push(sel);
            } else {
                rest.push(sel);
            }
        }
        let _ = provided;
        // Interface fields another subgraph resolves for the interface.
        if !direct.is_empty() {
            self.holes(graph, node, path, ty, direct, &mut out, hops);
        }
        // This subgraph's own fields that @requires what it lacks.
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
        // The concrete type (always: the response needs it), and every field
        // under a type condition, from a subgraph with the implementations.
        let Some(owner) = self.sg.ty(ty).and_then(|t| {
            t.graphs
                .iter()
                .copied()
                .find(|g| !t.is_interface_object_in(*g) && t.keys_in(*g).next().is_some())
        }) else {
            self.errors.push(format!(
                "no subgraph knows the implementations of `{ty}`, so the concrete types at `{}` are unknown",
                path.join(".")
            ));
            return out;
        };
        let key = self.sg.ty(ty).and_then(|t| {
            t.keys_in(owner)
                .find(|k| self.can_provide(graph, ty, &k.fields))
                .map(|k| k.fields.clone())
        });
        let Some(key) = key else {
            self.errors.push(format!(
                "`{ty}` has no key that {} can provide for {}",
                self.sg.graphs[graph].name, self.sg.graphs[owner].name
            ));
            return out;
        };
        self.add_internal(graph, node, path, ty, &key, &mut out);
        let mut types = vec![ty.to_owned()];
        types.extend(self.sg.possible_types(ty).iter().map(|t| (*t).to_owned()));
        let id = self.push(
            owner,
            vec![node],
            NodeKind::Entity {
                path: path.to_vec(),
                types,
                typename: ty.to_owned(),
                key_len: key.len(),
                aliases: key.iter().map(internal_alias).collect(),
                rep: key,
            },
            false,
        );
        let sub = self.set(owner, id, path, ty, &rest, &[], hops + 1);
        self.nodes[id].selection = vec![Out::Fragment {
            on: ty.to_owned(),
            sub,
        }];
        out
    }

    /// Subgraphs that resolve `ty.field` on the interface `ty` itself.
    pub(super) fn interface_graphs(&self, ty: &str, field: &str) -> Vec<GraphId> {
        self.sg.resolvers(ty, field)
    }
}
