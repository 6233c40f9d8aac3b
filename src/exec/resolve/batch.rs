//! Batched children of a list: the keys of all items in one request per
//! `maxSize` keys, and each item's element of the answer by its key.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{CallSite, Position, call, prepare, shape, spawn};
use crate::config::BatchConfig;
use crate::error::{ErrorCode, FieldError};
use crate::exec::data::{BatchAnswer, BatchSlot, Data, Resolved, SharedBatch, Slot, StaleMark};
use crate::exec::plan::Plan;
use crate::exec::render::pluck;
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::upstream::UpstreamRequest;

/// The text a key value is matched by: `7` and `"7"` are the same key.
pub(super) fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One batched child for many parents (the items of the list at `at`): a
/// slot per parent (`None` for a parent that is not an object).
pub(super) fn start_batch(
    state: &Arc<RequestState>,
    plan: &Arc<Plan>,
    parents: &[Option<&Value>],
    at: &Position,
) -> Vec<Option<Slot>> {
    let Some(batch) = plan.batch() else {
        return parents.iter().map(|_| None).collect();
    };
    // Each parent's key, and the distinct keys in first-seen order.
    let mut keys: Vec<Option<String>> = Vec::with_capacity(parents.len());
    let mut distinct: Vec<Value> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for parent in parents {
        let value = parent
            .and_then(|p| pluck(p, &batch.input.path))
            .filter(|v| !v.is_null());
        let key = value.and_then(|v| {
            let text = key_text(v)?;
            if !seen.contains_key(&text) {
                seen.insert(text.clone(), distinct.len());
                distinct.push(v.clone());
            }
            Some(text)
        });
        keys.push(key);
    }
    // With a window, the keys join those of other requests in flight;
    // without, one request per `maxSize` keys, all at once.
    if let Some(window) = &plan.field.window {
        let answer = super::window::join(state, plan, window, distinct, at);
        return slots(parents, keys, |_| Some(answer.clone()), plan);
    }
    let chunks: Vec<SharedBatch> = distinct
        .chunks(batch.max_size)
        .map(|chunk| {
            let request = batch_request(state, plan, batch, chunk);
            let task_state = state.clone();
            let task_plan = plan.clone();
            let site = CallSite {
                path: Arc::from(format!("{}.*.{}", at.path, plan.key)),
                join: at.path.clone(),
                parent: at.clone(),
                batch: Some(chunk.len()),
            };
            spawn(state, &plan.field.def.coordinate, async move {
                let request = request?;
                let (json, stale, at) = call(&task_state, &task_plan, request, site).await?;
                batch_answer(&task_state, &task_plan, json, stale, &at).map(Arc::new)
            })
        })
        .collect();
    let chunk_of = |key: &str| {
        let chunk = seen.get(key).map_or(0, |i| i / batch.max_size);
        chunks.get(chunk).cloned()
    };
    slots(parents, keys, chunk_of, plan)
}

/// A slot per parent: its key's element of the batch `answer_of` gives.
fn slots(
    parents: &[Option<&Value>],
    keys: Vec<Option<String>>,
    answer_of: impl Fn(&str) -> Option<SharedBatch>,
    plan: &Arc<Plan>,
) -> Vec<Option<Slot>> {
    parents
        .iter()
        .zip(keys)
        .map(|(parent, key)| {
            (*parent)?;
            let Some(key) = key else {
                return Some(Slot::Ready(Ok(Resolved::fresh(Data::Null))));
            };
            Some(Slot::Batched(BatchSlot {
                answer: answer_of(&key)?,
                key,
                plan: plan.clone(),
            }))
        })
        .collect()
}

fn batch_answer(
    state: &Arc<RequestState>,
    plan: &Plan,
    json: View,
    stale: Option<StaleMark>,
    at: &Position,
) -> Result<BatchAnswer, FieldError> {
    let batch = plan
        .batch()
        .ok_or_else(|| FieldError::new(ErrorCode::InternalError, "not batched"))?;
    let Value::Array(elements) = json.get() else {
        return Err(FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!(
                "{}: a batched call must answer a JSON list",
                plan.field.def.coordinate
            ),
        ));
    };
    let item_ty = &plan.field.def.ty;
    let mut items = HashMap::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        if let Some(key) = pluck(element, &batch.key).and_then(key_text) {
            items
                .entry(key)
                .or_insert_with(|| Arc::new(shape(state, plan, item_ty, json.index(i), at)));
        }
    }
    Ok(BatchAnswer {
        items,
        failed: HashMap::new(),
        stale,
    })
}

/// The request for one chunk of keys: the batched placeholder gets the list
/// (or the list joined with `join`).
pub(super) fn batch_request(
    state: &RequestState,
    plan: &Plan,
    batch: &BatchConfig,
    keys: &[Value],
) -> Result<UpstreamRequest, FieldError> {
    let value = match &batch.join {
        Some(sep) => Value::String(
            keys.iter()
                .filter_map(key_text)
                .collect::<Vec<_>>()
                .join(sep),
        ),
        None => Value::Array(keys.to_vec()),
    };
    // A parent object holding just the batched value at its path.
    let parent = batch.input.path.iter().rev().fold(value, |inner, key| {
        Value::Object(Map::from_iter([(key.clone(), inner)]))
    });
    prepare(state, plan, &parent)?.ok_or_else(|| {
        FieldError::new(
            ErrorCode::InternalError,
            format!(
                "{}: the batched request has a path input",
                plan.field.def.coordinate
            ),
        )
    })
}
