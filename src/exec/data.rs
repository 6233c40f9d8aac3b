//! The executed result tree that resolvers read.

use std::sync::Arc;

use std::collections::HashMap;

use super::plan::Plan;
use super::view::View;
use futures_util::future::{BoxFuture, Shared};

use crate::error::{ErrorCode, FieldError};

/// One field's executed value.
#[derive(Debug)]
pub(crate) enum Data {
    Null,
    /// A scalar or enum (or a list of them), coerced by the resolver.
    Leaf(View),
    Object(Arc<ObjectData>),
    List(Vec<Data>),
}

/// An object's upstream JSON and the calls already started for its children.
#[derive(Debug)]
pub(crate) struct ObjectData {
    pub(crate) json: View,
    /// By response key (alias or name). Few per object: a vector beats a map.
    pub(crate) children: Vec<(String, Slot)>,
    /// The JSON is keyed by response key (a GraphQL upstream's answer):
    /// unbound fields read it by their alias, not their name.
    pub(crate) keyed: bool,
}

impl ObjectData {
    pub(crate) fn child(&self, key: &str) -> Option<&Slot> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
}

/// A field's executed value, and whether a stale cached answer stood in for
/// a failed call.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) data: Arc<Data>,
    pub(crate) stale: Option<StaleMark>,
}

impl Resolved {
    pub(crate) fn fresh(data: Data) -> Resolved {
        Resolved {
            data: Arc::new(data),
            stale: None,
        }
    }
}

/// A stale answer served in place of a failed call.
#[derive(Debug, Clone)]
pub(crate) struct StaleMark {
    pub(crate) upstream: Arc<str>,
    pub(crate) age: std::time::Duration,
}

pub(crate) type FieldResult = Result<Resolved, FieldError>;
pub(crate) type Pending = Shared<BoxFuture<'static, FieldResult>>;

/// A child's value: known already, or on its way.
#[derive(Debug)]
pub(crate) enum Slot {
    Ready(FieldResult),
    Pending(Pending),
    /// One element of a batched call shared by all items of a list.
    Batched(BatchSlot),
}

impl Slot {
    pub(crate) async fn get(&self) -> FieldResult {
        match self {
            Slot::Ready(result) => result.clone(),
            Slot::Pending(pending) => pending.clone().await,
            Slot::Batched(slot) => slot.get().await,
        }
    }
}

/// What the engine holds as an object's parent value.
pub(crate) struct ObjRef(pub(crate) Arc<ObjectData>);

/// A batched call's answer, shared by the items of the list it serves.
pub(crate) type SharedBatch = Shared<BoxFuture<'static, Result<Arc<BatchAnswer>, FieldError>>>;

/// One item's element of a batched call: the shared call and the item's key
/// (no future of its own per item).
#[derive(Debug)]
pub(crate) struct BatchSlot {
    pub(crate) answer: SharedBatch,
    pub(crate) key: String,
    pub(crate) plan: Arc<Plan>,
}

impl BatchSlot {
    pub(crate) async fn get(&self) -> FieldResult {
        let answer = self.answer.clone().await?;
        if let Some(error) = answer.failed.get(&self.key) {
            return Err(error.clone());
        }
        match answer.items.get(&self.key) {
            Some(data) => Ok(Resolved {
                data: data.clone(),
                stale: answer.stale.clone(),
            }),
            None => {
                let key_path = self
                    .plan
                    .batch()
                    .map(|b| b.key.join("."))
                    .unwrap_or_default();
                Err(FieldError::new(
                    ErrorCode::UpstreamBadResponse,
                    format!(
                        "{}: the batched answer has no element with {key_path} = {}",
                        self.plan.field.def.coordinate, self.key
                    ),
                ))
            }
        }
    }
}

/// A batched call's elements, by key, each built (children started).
#[derive(Debug)]
pub(crate) struct BatchAnswer {
    pub(crate) items: HashMap<String, Arc<Data>>,
    /// Keys whose call failed (a cross-request batch's keys can go in
    /// different calls).
    pub(crate) failed: HashMap<String, FieldError>,
    pub(crate) stale: Option<StaleMark>,
}
