//! Small operations on planned selections: reads, internal aliases, merges,
//! typed arguments.

use async_graphql::parser::types::Type;
use serde_json::Value as Json;

use super::internal_alias;
use crate::federation::selection::Sel;
use crate::federation::supergraph::Supergraph;

/// Adds the field path `path` (read by a binding) to `reads`.
pub(super) fn add_read(reads: &mut Vec<Sel>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let at = match reads.iter().position(|r| r.name == *first) {
        Some(i) => i,
        None => {
            reads.push(Sel {
                key: first.clone(),
                name: first.clone(),
                args: Vec::new(),
                on: Vec::new(),
                sub: Vec::new(),
                pos: None,
            });
            reads.len() - 1
        }
    };
    add_read(&mut reads[at].sub, rest);
}

pub(super) fn as_internal(s: &Sel) -> Sel {
    Sel {
        key: internal_alias(s),
        ..s.clone()
    }
}

/// Selections with the same response key and conditions merged into one
/// (their sub-selections concatenated), in first-seen order.
pub(super) fn merge_by_key(sels: &[Sel]) -> Vec<Sel> {
    let mut out: Vec<Sel> = Vec::with_capacity(sels.len());
    for s in sels {
        match out.iter_mut().find(|o| o.key == s.key) {
            Some(o) => o.sub.extend(s.sub.iter().cloned()),
            None => out.push(s.clone()),
        }
    }
    out
}

pub(super) fn typed_args(sg: &Supergraph, ty: &str, sel: &Sel) -> Vec<(String, Json, Type)> {
    let def = sg.field(ty, &sel.name).or_else(|| {
        sg.possible_types(ty)
            .iter()
            .find_map(|t| sg.field(t, &sel.name))
    });
    sel.args
        .iter()
        .filter_map(|(name, value)| {
            let ty = def?.args.get(name)?.clone();
            Some((name.clone(), value.clone(), ty))
        })
        .collect()
}
