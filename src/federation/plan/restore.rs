//! Made-up aliases for response keys that sibling fragments share, and
//! moving answers back under their keys.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::Out;

/// A response key that two sibling fragments share may name fields of
/// different types in the subgraph (`ID` in one type, `ID!` in another),
/// which the subgraph's validation refuses: each gets an alias of its own,
/// and the answer is moved back under the key when it arrives.
pub(super) fn distinct_keys(set: &mut [Out]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in set.iter() {
        if let Out::Fragment { sub, .. } = item {
            for f in sub {
                if let Some(k) = f.key()
                    && k != "__typename"
                {
                    *seen.entry(k.to_owned()).or_default() += 1;
                }
            }
        }
    }
    for item in set.iter_mut() {
        if let Out::Fragment { on, sub } = item {
            for f in sub.iter_mut() {
                if let Out::Field {
                    alias,
                    name,
                    restore,
                    ..
                } = f
                {
                    let key = alias.clone().unwrap_or_else(|| name.clone());
                    if seen.get(&key).copied().unwrap_or(0) > 1 {
                        *alias = Some(format!("tributary_{on}_{key}"));
                        *restore = Some(key);
                    }
                }
            }
        }
    }
}

/// Whether answers to `set` carry made-up aliases to move back.
pub(crate) fn has_restores(set: &[Out]) -> bool {
    set.iter().any(|o| match o {
        Out::Field { restore, sub, .. } => restore.is_some() || has_restores(sub),
        Out::Fragment { sub, .. } => has_restores(sub),
    })
}

/// Moves answers under made-up aliases back under their keys.
pub(crate) fn restore(value: &mut Json, set: &[Out]) {
    match value {
        Json::Array(items) => {
            for item in items {
                restore(item, set);
            }
        }
        Json::Object(_) => {
            for out in set {
                match out {
                    Out::Fragment { sub, .. } => restore(value, sub),
                    Out::Field {
                        alias,
                        name,
                        sub,
                        restore: back,
                        ..
                    } => {
                        let Json::Object(map) = value else { return };
                        let key = alias.as_deref().unwrap_or(name);
                        match back {
                            Some(original) => {
                                if let Some(mut v) = map.remove(key) {
                                    restore(&mut v, sub);
                                    map.insert(original.clone(), v);
                                }
                            }
                            None => {
                                if let Some(v) = map.get_mut(key) {
                                    restore(v, sub);
                                }
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
