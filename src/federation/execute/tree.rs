//! The response tree being assembled: addresses of objects in it, finding
//! the objects at a path, deep merges, and picking representations.

use async_graphql::PathSegment;
use serde_json::{Map, Value as Json};

use crate::federation::plan::applies;
use crate::federation::selection::Sel;
use crate::federation::supergraph::Supergraph;

/// One step in an object's address in the response tree.
#[derive(Debug, Clone)]
pub(super) enum Addr {
    Key(String),
    Index(usize),
}

pub(super) fn to_path(addr: &[Addr]) -> Vec<PathSegment> {
    addr.iter()
        .map(|a| match a {
            Addr::Key(k) => PathSegment::Field(k.clone()),
            Addr::Index(i) => PathSegment::Index(*i),
        })
        .collect()
}

/// Every object at `path` below `value` (lists flattened).
pub(super) fn collect<'a>(
    value: &'a Json,
    path: &[String],
    addr: &mut Vec<Addr>,
    out: &mut Vec<(Vec<Addr>, &'a Map<String, Json>)>,
) {
    match value {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                addr.push(Addr::Index(i));
                collect(item, path, addr, out);
                addr.pop();
            }
        }
        Json::Object(map) => match path.split_first() {
            None => out.push((addr.clone(), map)),
            Some((key, rest)) => {
                if let Some(child) = map.get(key) {
                    addr.push(Addr::Key(key.clone()));
                    collect(child, rest, addr, out);
                    addr.pop();
                }
            }
        },
        _ => {}
    }
}

pub(super) fn locate_path<'a>(value: &'a mut Json, path: &[PathSegment]) -> Option<&'a mut Json> {
    let mut at = value;
    for step in path {
        at = match (step, at) {
            (PathSegment::Field(k), Json::Object(map)) => map.get_mut(k)?,
            (PathSegment::Index(i), Json::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

pub(super) fn locate<'a>(value: &'a mut Json, addr: &[Addr]) -> Option<&'a mut Json> {
    let mut at = value;
    for step in addr {
        at = match (step, at) {
            (Addr::Key(k), Json::Object(map)) => map.get_mut(k)?,
            (Addr::Index(i), Json::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

/// Deep-merges `src` into `target`: objects field by field, lists of the
/// same length item by item, anything else replaced.
pub(crate) fn merge(target: &mut Json, src: Json) {
    match (target, src) {
        (Json::Object(t), Json::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(&k) {
                    Some(existing) if !existing.is_null() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (Json::Array(t), Json::Array(s)) if t.len() == s.len() => {
            for (a, b) in t.iter_mut().zip(s) {
                merge(a, b);
            }
        }
        (t, s) => *t = s,
    }
}

/// The representation fields `set` of `object`: at the top each read from
/// its internal alias (`aliases`, parallel to `set`), else (a plain field the
/// client selected) from its key; below, by key.
pub(super) fn pick(
    sg: &Supergraph,
    object: &Map<String, Json>,
    set: &[Sel],
    aliases: Option<&[String]>,
    out: &mut Map<String, Json>,
) {
    let typename = object.get("__typename").and_then(Json::as_str);
    for (i, s) in set.iter().enumerate() {
        if s.is_typename() {
            continue;
        }
        if let Some(t) = typename
            && !s.on.is_empty()
            && !applies(sg, s, t)
        {
            continue;
        }
        let alias = aliases.and_then(|a| a.get(i));
        let value = alias
            .and_then(|a| object.get(a))
            .or_else(|| object.get(&s.key))
            .cloned()
            .unwrap_or(Json::Null);
        let value = if s.sub.is_empty() {
            value
        } else {
            pick_value(sg, value, &s.sub)
        };
        out.insert(s.name.clone(), value);
    }
}

pub(super) fn pick_value(sg: &Supergraph, value: Json, sub: &[Sel]) -> Json {
    match value {
        Json::Object(map) => {
            let mut out = Map::new();
            if let Some(t) = map.get("__typename")
                && sub.iter().any(|s| !s.on.is_empty())
            {
                out.insert("__typename".to_owned(), t.clone());
            }
            pick(sg, &map, sub, None, &mut out);
            Json::Object(out)
        }
        Json::Array(items) => {
            Json::Array(items.into_iter().map(|v| pick_value(sg, v, sub)).collect())
        }
        other => other,
    }
}
