//! A part of an upstream answer, without copying it: the answer's root and
//! the path to the part. A list of 100 objects becomes 100 small paths into
//! one shared answer instead of 100 deep copies.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

static NULL: Value = Value::Null;
static EMPTY: LazyLock<Arc<Value>> = LazyLock::new(|| Arc::new(Value::Null));

#[derive(Debug, Clone)]
enum Step {
    /// An object key, or a list index written as text (`select: "items.0"`).
    Key(Arc<str>),
    Index(usize),
}

/// A shared view of one value inside an answer.
#[derive(Debug, Clone)]
pub(crate) struct View {
    root: Arc<Value>,
    path: Arc<[Step]>,
}

impl View {
    /// The whole of `root`.
    pub(crate) fn root(root: Arc<Value>) -> View {
        View {
            root,
            path: Arc::from([]),
        }
    }

    pub(crate) fn new(value: Value) -> View {
        View::root(Arc::new(value))
    }

    pub(crate) fn null() -> View {
        View::root(EMPTY.clone())
    }

    /// The value; `null` where the path leads nowhere.
    pub(crate) fn get(&self) -> &Value {
        let mut value: &Value = &self.root;
        for step in self.path.iter() {
            let next = match (step, value) {
                (Step::Key(key), Value::Object(map)) => map.get(key.as_ref()),
                (Step::Key(key), Value::Array(items)) => {
                    key.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                (Step::Index(i), Value::Array(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(v) => value = v,
                None => return &NULL,
            }
        }
        value
    }

    fn extend(&self, steps: impl IntoIterator<Item = Step>) -> View {
        // Straight into the shared slice: one allocation, not a vector
        // copied into it.
        let path: Arc<[Step]> = self.path.iter().cloned().chain(steps).collect();
        View {
            root: self.root.clone(),
            path,
        }
    }

    /// Item `i` of this list.
    pub(crate) fn index(&self, i: usize) -> View {
        self.extend([Step::Index(i)])
    }

    /// The value at `keys` below this one (`select`, `@from`, a field name).
    pub(crate) fn at(&self, keys: &[String]) -> View {
        if keys.is_empty() {
            return self.clone();
        }
        self.extend(keys.iter().map(|k| Step::Key(Arc::from(k.as_str()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_objects_and_lists_and_missing_is_null() {
        let json = View::new(serde_json::json!({"data": {"items": [{"id": 1}, {"id": 2}]}}));
        let items = json.at(&["data".into(), "items".into()]);
        assert_eq!(
            items.index(1).at(&["id".into()]).get(),
            &serde_json::json!(2)
        );
        assert_eq!(
            json.at(&["data".into(), "items".into(), "0".into(), "id".into()])
                .get(),
            &serde_json::json!(1)
        );
        assert!(items.index(5).get().is_null());
        assert!(json.at(&["nope".into()]).get().is_null());
        assert!(View::null().get().is_null());
    }
}
