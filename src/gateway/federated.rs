//! The response of a supergraph operation shaped from its plan's answers,
//! without the engine (see [`crate::federation::shape`]).

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{Pos, Response};

use super::Gateway;
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;

impl Gateway {
    /// Runs a supergraph operation's plan to the end and shapes its
    /// response from the assembled answers (see [`crate::federation::shape`]).
    pub(super) async fn shape_federated(
        &self,
        state: &Arc<RequestState>,
        kind: OperationType,
    ) -> Response {
        state.mark_executed();
        let mut errors = Vec::new();
        let data = match (&state.federation, self.root_type(kind)) {
            (Some(request), Some(root)) => match request.complete(state).await {
                Ok((assembled, planned)) => crate::federation::shape::data(
                    &self.registry,
                    state,
                    root,
                    &planned.selection,
                    assembled.get(),
                    &mut errors,
                ),
                Err(e) => {
                    errors.push(e.into_graphql().into_server_error(Pos::default()));
                    async_graphql::Value::Null
                }
            },
            _ => {
                let error = FieldError::new(ErrorCode::InternalError, "no plan for the operation");
                errors.push(error.into_graphql().into_server_error(Pos::default()));
                async_graphql::Value::Null
            }
        };
        let mut response = Response::new(data);
        let mut absorbed = state.take_absorbed();
        absorbed.append(&mut errors);
        response.errors = absorbed;
        if let Some(stale) = state.take_stale() {
            response.extensions.insert("stale".to_owned(), stale);
        }
        response
    }
}
