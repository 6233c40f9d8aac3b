//! Entity jumps: an `_entities` call for the objects at a position, with
//! the key and required fields it needs made present first.

use super::{NodeKind, Out, Planner, applies, as_internal, internal_alias};
use crate::federation::selection::{FieldSet, Sel};
use crate::federation::supergraph::{GraphId, Kind};

impl Planner<'_> {
    /// Where `ty.field` can be resolved through an entity call: (subgraph,
    /// the type the representation names).
    pub(super) fn targets(&self, ty: &str, field: &str) -> Vec<(GraphId, String)> {
        let mut out: Vec<(GraphId, String)> = self
            .sg
            .resolvers(ty, field)
            .into_iter()
            .filter(|g| {
                self.sg
                    .ty(ty)
                    .is_some_and(|t| t.keys_in(*g).next().is_some())
            })
            .map(|g| (g, ty.to_owned()))
            .collect();
        if let Some(t) = self.sg.ty(ty) {
            for interface in &t.implements {
                let Some(i) = self.sg.ty(interface) else {
                    continue;
                };
                for g in &i.interface_object_in {
                    if self.sg.resolves(*g, interface, field) && i.keys_in(*g).next().is_some() {
                        out.push((*g, interface.clone()));
                    }
                }
            }
        }
        out
    }

    /// An `_entities` call to `target` for the objects of type `ty` at
    /// `path`, resolving `batch`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn entity_jump(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        target: GraphId,
        typename: &str,
        batch: Vec<Sel>,
        out: &mut Vec<Out>,
        hops: usize,
    ) -> Option<usize> {
        // Fields requiring one field with different arguments
        // (`price(currency: "USD")`, `price(currency: "EUR")`) cannot share a
        // representation: each such group is a call of its own.
        let requires_of = |s: &Sel| {
            self.sg
                .join(target, typename, &s.name)
                .and_then(|j| j.requires.clone())
                .unwrap_or_default()
        };
        let mut groups: Vec<(Vec<Sel>, Vec<Sel>)> = Vec::new();
        for sel in batch {
            let needs = requires_of(&sel);
            let fits = |reqs: &[Sel]| {
                needs
                    .iter()
                    .all(|n| reqs.iter().all(|r| r.name != n.name || r == n))
            };
            match groups.iter_mut().find(|(_, reqs)| fits(reqs)) {
                Some((sels, reqs)) => {
                    sels.push(sel);
                    reqs.extend(needs);
                }
                None => groups.push((vec![sel], needs)),
            }
        }
        if groups.len() > 1 {
            let mut last = None;
            for (group, _) in groups {
                last = self
                    .entity_jump(graph, node, path, ty, target, typename, group, out, hops)
                    .or(last);
            }
            return last;
        }
        let batch: Vec<Sel> = groups.into_iter().flat_map(|(s, _)| s).collect();
        let rep_type = self.sg.ty(typename)?;
        let keys: Vec<FieldSet> = rep_type.keys_in(target).map(|k| k.fields.clone()).collect();
        let mut deps = vec![node];
        // A key `graph` answers whole, else the one it answers most of.
        let key = keys
            .iter()
            .find(|k| self.can_provide(graph, ty, k))
            .or_else(|| {
                keys.iter().max_by_key(|k| {
                    k.iter()
                        .filter(|s| self.sg.resolves(graph, ty, &s.name))
                        .count()
                })
            })
            .cloned();
        let Some(key) = key else {
            self.errors.push(format!(
                "`{typename}` has no resolvable key in {}",
                self.sg.graphs[target].name
            ));
            return None;
        };
        let Some(made) = self.supply(graph, node, path, ty, &key, out, hops) else {
            self.errors.push(format!(
                "no subgraph provides the key `{}` of `{typename}` at `{}`",
                key.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                path.join(".")
            ));
            return None;
        };
        deps.extend(made);
        let key_len = key.len();
        let mut rep = key;
        for sel in &batch {
            let Some(requires) = self
                .sg
                .join(target, typename, &sel.name)
                .and_then(|j| j.requires.clone())
            else {
                continue;
            };
            match self.supply(graph, node, path, ty, &requires, out, hops) {
                Some(made) => deps.extend(made),
                None => self.errors.push(format!(
                    "no subgraph provides what `{typename}.{}` requires at `{}`",
                    sel.name,
                    path.join(".")
                )),
            }
            for r in requires {
                if !rep.contains(&r) {
                    rep.push(r);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        let id = self.push(
            target,
            deps,
            NodeKind::Entity {
                path: path.to_vec(),
                // An interface's objects may have their concrete type by now.
                types: std::iter::once(ty.to_owned())
                    .chain(
                        (self.sg.kind(ty) == Kind::Interface)
                            .then(|| self.sg.possible_types(ty))
                            .into_iter()
                            .flatten()
                            .map(str::to_owned),
                    )
                    .collect(),
                typename: typename.to_owned(),
                aliases: rep.iter().map(internal_alias).collect(),
                rep,
                key_len,
            },
            false,
        );
        for sel in &batch {
            self.satisfied.insert((id, sel.name.clone()));
        }
        let sub = self.object_set(target, id, path, typename, &batch, &[], hops + 1);
        self.nodes[id].selection = vec![Out::Fragment {
            on: typename.to_owned(),
            sub,
        }];
        Some(id)
    }

    /// Makes the fields `set` (a key, or what a field requires) present on
    /// the objects of type `ty` at `path`: fetched by `graph` (in `node`)
    /// under internal aliases where it resolves them, with whatever it
    /// cannot answer below them planned as entity jumps, and the rest
    /// fetched by entity jumps. Returns the nodes a representation made of
    /// them waits for; `None` when some field cannot be had.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn supply(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        set: &[Sel],
        out: &mut Vec<Out>,
        hops: usize,
    ) -> Option<Vec<usize>> {
        let before = self.nodes.len();
        let (here, elsewhere): (Vec<Sel>, Vec<Sel>) = set
            .iter()
            .cloned()
            .partition(|s| s.is_typename() || self.answers(graph, ty, &s.name));
        self.add_internal(graph, node, path, ty, &here, out);
        if !elsewhere.is_empty() {
            let internal: Vec<Sel> = elsewhere.iter().map(as_internal).collect();
            let made = self.holes(graph, node, path, ty, internal, out, hops + 1);
            if made.is_empty() {
                return None;
            }
        }
        Some((before..self.nodes.len()).collect())
    }

    /// Whether `graph` answers `ty.field` here: it resolves it, or a
    /// parent's `@provides` gives it at the position being planned.
    pub(super) fn answers(&self, graph: GraphId, ty: &str, field: &str) -> bool {
        self.sg.resolves(graph, ty, field)
            || self.provided_at.as_ref().is_some_and(|(g, t, provided)| {
                *g == graph
                    && t == ty
                    && provided
                        .iter()
                        .any(|p| p.name == field && applies(self.sg, p, ty))
            })
    }

    /// Whether `graph` resolves every field of `set` on `ty`.
    pub(super) fn can_provide(&self, graph: GraphId, ty: &str, set: &[Sel]) -> bool {
        set.iter().all(|s| {
            if s.is_typename() {
                return true;
            }
            if !self.answers(graph, ty, &s.name) {
                return false;
            }
            if s.sub.is_empty() {
                return true;
            }
            let Some(named) = self.sg.field(ty, &s.name).map(|f| f.named.clone()) else {
                return false;
            };
            match self.sg.kind(&named) {
                Kind::Object => self.can_provide(graph, &named, &s.sub),
                _ => self.sg.possible_types(&named).iter().all(|t| {
                    let applicable: Vec<Sel> = s
                        .sub
                        .iter()
                        .filter(|x| applies(self.sg, x, t))
                        .cloned()
                        .collect();
                    !self.sg.graph_has_possible(graph, &named, t)
                        || self.can_provide(graph, t, &applicable)
                }),
            }
        })
    }

    /// Adds the key or required fields `set` to `out` under internal aliases
    /// (a plain leaf the client selected already is read as it is).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_internal(
        &mut self,
        graph: GraphId,
        node: usize,
        path: &[String],
        ty: &str,
        set: &[Sel],
        out: &mut Vec<Out>,
    ) {
        for s in set {
            if s.is_typename() {
                continue;
            }
            let alias = internal_alias(s);
            if out.iter().any(|o| o.key() == Some(alias.as_str())) {
                continue;
            }
            // A plain leaf the client selected already: read under its name.
            let plain = s.args.is_empty() && s.sub.is_empty();
            if plain
                && out.iter().any(|o| {
                    matches!(o, Out::Field { alias: None, name, args, sub, .. }
                        if *name == s.name && args.is_empty() && sub.is_empty())
                })
            {
                continue;
            }
            let internal = Sel {
                key: alias,
                ..s.clone()
            };
            let field = self.field(graph, node, path, ty, &internal, &[]);
            out.push(field);
        }
    }
}
