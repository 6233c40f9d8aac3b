//! Entities below the REST side: an `@entity` field's representations (made
//! by its parents, all items of a list at once) are resolved by a plan that
//! starts with an `_entities` call for them (see [`Planner::plan_entry`]),
//! run through the same executor as any plan. Failure markers index the
//! request's one list of failures, and errors the plan reports at the
//! entry come back at the client's paths of the objects they were for.

use std::sync::{Arc, PoisonError};

use async_graphql::{PathSegment, Pos};
use serde_json::{Map, Value as Json};

use super::execute::{self, Assembly, Origin};
use super::plan::{ENTRY, Planner};
use super::selection::Sel;
use super::{Planned, Request, Subgraphs};
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;

/// A plan of an entry, kept per (document address, operation, variables,
/// field path, entity type, the representation's fields).
pub(super) type EntryKey = (usize, Option<String>, String, String, String, String);

/// The representations of one entry and where they go.
pub(crate) struct Entry<'a> {
    /// The object type of the entities.
    pub(crate) typename: &'a str,
    /// The client's selection below the field.
    pub(crate) selection: &'a [Sel],
    /// The field's response path without list indices (`orders.product`):
    /// what the plan is kept by and shown at.
    pub(crate) path: Arc<str>,
    /// Each representation (`__typename` and key fields) and the response
    /// path of the object it stands for.
    pub(crate) representations: Vec<(Map<String, Json>, Vec<PathSegment>)>,
    /// The call whose answer gave them.
    pub(crate) call: Option<usize>,
}

impl Request {
    /// Resolves `entry`: each representation's entity, assembled from the
    /// subgraphs' answers (markers standing for what failed), in order.
    pub(crate) async fn entry(
        &self,
        state: &Arc<RequestState>,
        entry: Entry<'_>,
    ) -> Result<Vec<Json>, FieldError> {
        let mut available: Vec<String> = Vec::new();
        for (rep, _) in &entry.representations {
            for (k, v) in rep {
                if k != "__typename" && !v.is_null() && !available.contains(k) {
                    available.push(k.clone());
                }
            }
        }
        available.sort_unstable();
        let planned = self.subgraphs.entry_plan(
            &self.document,
            self.operation_name.as_deref(),
            &self.variables,
            &entry,
            &available,
        );
        if planned.steps.is_empty() {
            let message = planned.errors.join("; ");
            return Err(FieldError::new(ErrorCode::InternalError, message));
        }
        for message in &planned.errors {
            let error = FieldError::new(ErrorCode::InternalError, message.clone());
            let mut error = error.into_graphql().into_server_error(Pos::default());
            error.locations.clear();
            state.absorb(error);
        }
        let (objects, paths): (Vec<Json>, Vec<Vec<PathSegment>>) = entry
            .representations
            .into_iter()
            .map(|(rep, path)| (Json::Object(rep), path))
            .unzip();
        let mut tree = Map::new();
        tree.insert(ENTRY.to_owned(), Json::Array(objects));
        let assembly = Arc::new(Assembly::sharing(&self.assembly, Json::Object(tree)));
        let origin = Origin {
            path: Some(entry.path.clone()),
            call: entry.call,
            seed: None,
        };
        for step in &planned.steps {
            execute::run_step(&self.subgraphs, state, step, &assembly, &origin).await;
        }
        if let Some(failure) = assembly.entry_failure() {
            return Err(failure);
        }
        let errors = std::mem::take(
            &mut *assembly
                .errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for mut error in errors {
            // `tributary_entry.3.x` is the object of representation 3.
            if let [PathSegment::Field(f), PathSegment::Index(i), ..] = error.path.as_slice()
                && f == ENTRY
                && let Some(base) = paths.get(*i)
            {
                let mut path = base.clone();
                path.extend(error.path.drain(2..));
                error.path = path;
            }
            state.absorb(error);
        }
        let mut data = assembly.data.lock().unwrap_or_else(PoisonError::into_inner);
        match data.get_mut(ENTRY).map(Json::take) {
            Some(Json::Array(objects)) => Ok(objects),
            _ => Err(FieldError::new(
                ErrorCode::InternalError,
                "the entities' answers were lost",
            )),
        }
    }
}

impl Subgraphs {
    /// The plan of `entry` for representations carrying `available`, from
    /// the cache when planned before.
    fn entry_plan(
        &self,
        document: &Arc<async_graphql::parser::types::ExecutableDocument>,
        operation_name: Option<&str>,
        variables: &Map<String, Json>,
        entry: &Entry<'_>,
        available: &[String],
    ) -> Arc<Planned> {
        let key: EntryKey = (
            Arc::as_ptr(document) as usize,
            operation_name.map(str::to_owned),
            if variables.is_empty() {
                String::new()
            } else {
                serde_json::to_string(variables).unwrap_or_default()
            },
            entry.path.to_string(),
            entry.typename.to_owned(),
            available.join(" "),
        );
        if let Some(hit) = self.entries.get(&key)
            && Arc::ptr_eq(&hit.document, document)
        {
            return hit;
        }
        let plan = Planner::plan_entry(
            &self.supergraph,
            entry.typename,
            available,
            entry.selection,
            operation_name,
        );
        let planned = Arc::new(Planned {
            document: document.clone(),
            steps: plan.steps.into_iter().map(Arc::new).collect(),
            errors: plan.errors,
            selection: Vec::new(),
        });
        self.entries.insert(key, planned.clone());
        planned
    }
}
