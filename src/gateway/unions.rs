//! Fragments on unions, rewritten into fragments on their members.
//!
//! The engine matches a fragment's type condition against an object only by
//! the object's own name and the interfaces it implements, so
//! `... on SearchResult { ... on Book { title } }` (a union condition)
//! never matches, in any position. Before the engine sees a document, each
//! fragment on a union becomes what it means: below an object type, a
//! fragment without a condition (the union holds that type, or validation
//! would have refused it); below an abstract type, one fragment per member
//! that can be there. A spread of a fragment on a union becomes those inline
//! fragments (the definition is dropped once nothing spreads it). Positions
//! are kept, so errors still point into the client's text.

use std::collections::{HashMap, HashSet};

use async_graphql::Name;
use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, InlineFragment, Selection,
    SelectionSet, TypeCondition,
};

use crate::config::{Config, TypeDef};
use crate::exec::registry::Registry;

/// Far past any document the depth limit lets through; it only bounds the
/// walk.
const MAX_DEPTH: usize = 128;

/// The schema's unions and the possible types of every abstract type.
#[derive(Debug, Default)]
pub(super) struct Unions {
    members: HashMap<String, Vec<String>>,
    possible: HashMap<String, HashSet<String>>,
}

impl Unions {
    pub(super) fn new(config: &Config) -> Unions {
        let mut out = Unions::default();
        for (name, def) in &config.types {
            match def {
                TypeDef::Union(u) => {
                    out.members.insert(name.clone(), u.members.clone());
                    out.possible
                        .insert(name.clone(), u.members.iter().cloned().collect());
                }
                TypeDef::Object(o) => {
                    for i in &o.implements {
                        out.possible
                            .entry(i.clone())
                            .or_default()
                            .insert(name.clone());
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn possible(&self, ty: &str) -> Option<&HashSet<String>> {
        self.possible.get(ty)
    }

    /// Whether `document` has a fragment on a union anywhere.
    pub(super) fn needed(&self, document: &ExecutableDocument) -> bool {
        !self.members.is_empty()
            && (document.fragments.values().any(|f| {
                self.members
                    .contains_key(f.node.type_condition.node.on.node.as_str())
            }) || document
                .operations
                .iter()
                .any(|(_, op)| self.has_union_inline(&op.node.selection_set.node))
                || document
                    .fragments
                    .values()
                    .any(|f| self.has_union_inline(&f.node.selection_set.node)))
    }

    fn has_union_inline(&self, set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(f) => self.has_union_inline(&f.node.selection_set.node),
            Selection::InlineFragment(i) => {
                i.node
                    .type_condition
                    .as_ref()
                    .is_some_and(|c| self.members.contains_key(c.node.on.node.as_str()))
                    || self.has_union_inline(&i.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => false,
        })
    }

    /// Rewrites `document` in place (root types by operation kind).
    pub(super) fn rewrite(
        &self,
        registry: &Registry,
        document: &mut ExecutableDocument,
        root_of: &dyn Fn(async_graphql::parser::types::OperationType) -> Option<String>,
    ) {
        if !self.needed(document) {
            return;
        }
        let fragments = document.fragments.clone();
        let mut walk = Walk {
            unions: self,
            registry,
            fragments: &fragments,
            spread: HashSet::new(),
        };
        let mut each = |op: &mut Positioned<async_graphql::parser::types::OperationDefinition>| {
            if let Some(root) = root_of(op.node.ty) {
                walk.set(&mut op.node.selection_set.node, &root, 0, false);
            }
        };
        match &mut document.operations {
            DocumentOperations::Single(op) => each(op),
            DocumentOperations::Multiple(ops) => ops.values_mut().for_each(each),
        }
        let mut kept = HashMap::new();
        for (name, mut fragment) in std::mem::take(&mut document.fragments) {
            let on = fragment.node.type_condition.node.on.node.to_string();
            if self.members.contains_key(&on) && walk.spread.contains(&name) {
                continue;
            }
            walk.set(&mut fragment.node.selection_set.node, &on, 0, false);
            kept.insert(name, fragment);
        }
        document.fragments = kept;
    }
}

struct Walk<'a> {
    unions: &'a Unions,
    registry: &'a Registry,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// Union fragments whose spreads were replaced.
    spread: HashSet<Name>,
}

impl Walk<'_> {
    fn set(&mut self, set: &mut SelectionSet, parent: &str, depth: usize, copy: bool) {
        if depth > MAX_DEPTH {
            return;
        }
        let items = std::mem::take(&mut set.items);
        for mut item in items {
            let pos = item.pos;
            match &mut item.node {
                Selection::Field(f) => {
                    let child = self
                        .registry
                        .field(parent, f.node.name.node.as_str())
                        .map(|c| c.named.clone());
                    if let Some(child) = child {
                        self.set(&mut f.node.selection_set.node, &child, depth + 1, false);
                    }
                    set.items.push(item);
                }
                Selection::InlineFragment(i) => {
                    let on = i
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.to_string());
                    match on {
                        Some(on) if self.unions.members.contains_key(&on) => {
                            let inline = i.node.clone();
                            self.expand(inline, pos, &on, parent, set, depth, copy);
                        }
                        Some(on) if copy && !self.can_be(parent, &on) => {}
                        on => {
                            let ty = on.unwrap_or_else(|| parent.to_owned());
                            self.set(&mut i.node.selection_set.node, &ty, depth + 1, copy);
                            set.items.push(item);
                        }
                    }
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.clone();
                    let Some(fragment) = self.fragments.get(&name) else {
                        set.items.push(item);
                        continue;
                    };
                    let on = fragment.node.type_condition.node.on.node.to_string();
                    if copy && !self.can_be(parent, &on) {
                        continue;
                    }
                    if !self.unions.members.contains_key(&on) {
                        set.items.push(item);
                        continue;
                    }
                    self.spread.insert(name);
                    let inline = InlineFragment {
                        type_condition: Some(fragment.node.type_condition.clone()),
                        directives: s.node.directives.clone(),
                        selection_set: fragment.node.selection_set.clone(),
                    };
                    self.expand(inline, pos, &on, parent, set, depth, copy);
                }
            }
        }
    }

    /// Whether an object below `parent` can be of type `on`.
    fn can_be(&self, parent: &str, on: &str) -> bool {
        if parent == on {
            return true;
        }
        match (self.unions.possible(parent), self.unions.possible(on)) {
            (Some(p), Some(o)) => p.iter().any(|t| o.contains(t)),
            (Some(p), None) => p.contains(on),
            (None, Some(o)) => o.contains(parent),
            (None, None) => false,
        }
    }

    /// `inline` (on union `on`) below `parent`, as fragments on members.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        inline: InlineFragment,
        pos: async_graphql::Pos,
        on: &str,
        parent: &str,
        out: &mut SelectionSet,
        depth: usize,
        copy: bool,
    ) {
        let members = self.unions.members.get(on).cloned().unwrap_or_default();
        let targets: Vec<String> = match self.unions.possible(parent) {
            // An abstract parent: the members it can be.
            Some(possible) => members
                .into_iter()
                .filter(|m| possible.contains(m))
                .collect(),
            // An object parent: itself, when the union holds it.
            None if members.iter().any(|m| m == parent) => vec![String::new()],
            None => Vec::new(),
        };
        if targets.is_empty() && copy {
            return;
        }
        if targets.is_empty() {
            // Validation refuses it; leave it for the engine to say so.
            let mut inline = inline;
            self.set(&mut inline.selection_set.node, on, depth + 1, copy);
            out.items.push(Positioned::new(
                Selection::InlineFragment(Positioned::new(inline, pos)),
                pos,
            ));
            return;
        }
        for target in targets {
            let mut copy = inline.clone();
            let ty = if target.is_empty() {
                copy.type_condition = None;
                parent.to_owned()
            } else {
                let cond_pos = copy.type_condition.as_ref().map_or(pos, |c| c.pos);
                copy.type_condition = Some(Positioned::new(
                    TypeCondition {
                        on: Positioned::new(Name::new(&target), cond_pos),
                    },
                    cond_pos,
                ));
                target
            };
            self.set(&mut copy.selection_set.node, &ty, depth + 1, true);
            out.items.push(Positioned::new(
                Selection::InlineFragment(Positioned::new(copy, pos)),
                pos,
            ));
        }
    }
}
