//! A combined request's answer, split per member: each member's value
//! shaped (its children started), or the error that stands for it; errors
//! deeper in a value reported at the client's paths and locations.

use std::sync::Arc;

use async_graphql::{PathSegment, Pos, ServerError};
use serde_json::Value;

use super::super::{Position, shape};
use super::document::sels_at;
use super::{Part, shown_message};
use crate::error::{ErrorCode, FieldError};
use crate::exec::data::{FieldResult, Resolved};
use crate::exec::state::RequestState;
use crate::exec::view::View;
use crate::federation::selection::Sel;
use crate::upstream::Upstream;

/// Each part's result from the upstream's answer: its value shaped (its
/// children started), or the error that stands for it; errors inside a
/// value are reported at the client's paths.
pub(super) fn results(
    state: &Arc<RequestState>,
    upstream: &Upstream,
    json: View,
    at: &Position,
    parts: Vec<Part>,
) -> Vec<FieldResult> {
    let private = upstream.config.private_errors;
    let name = upstream.name();
    let body = json.get();
    let mut own: Vec<Option<FieldError>> = vec![None; parts.len()];
    if let Some(Value::Array(errors)) = body.get("errors") {
        for error in errors {
            let shown = shown_message(
                name,
                private,
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream reported an error"),
            );
            let field_error =
                FieldError::new(ErrorCode::UpstreamGraphqlError, shown).upstream(name);
            let path: Vec<&Value> = error
                .get("path")
                .and_then(Value::as_array)
                .map(|p| p.iter().collect())
                .unwrap_or_default();
            let part = path
                .first()
                .and_then(|alias| alias.as_str())
                .and_then(|alias| parts.iter().position(|p| p.alias == alias));
            match part {
                // At the field itself, or with no path: the field's error
                // (its policy applies) when it has no value.
                Some(i) if path.len() == 1 => {
                    own[i].get_or_insert(field_error);
                }
                Some(i) => {
                    let part = &parts[i];
                    let mut client: Vec<PathSegment> = part
                        .path
                        .split('.')
                        .map(|s| match s.parse::<usize>() {
                            Ok(n) => PathSegment::Index(n),
                            Err(_) => PathSegment::Field(s.to_owned()),
                        })
                        .collect();
                    // The client's selections of the field, found again
                    // only when an error needs their locations.
                    let root: &[Sel] = state
                        .graphql
                        .as_ref()
                        .and_then(|op| op.normalized().ok())
                        .map_or(&[], |(_, sels)| sels.as_slice());
                    let mut sels: Vec<&Sel> = sels_at(root, &part.path);
                    let mut pos = sels.first().and_then(|s| s.pos);
                    for segment in &path[1..] {
                        match segment {
                            Value::Number(n) => {
                                client.push(PathSegment::Index(
                                    n.as_u64()
                                        .and_then(|n| usize::try_from(n).ok())
                                        .unwrap_or(0),
                                ));
                            }
                            Value::String(key) => {
                                client.push(PathSegment::Field(key.clone()));
                                sels = sels
                                    .iter()
                                    .flat_map(|s| s.sub.iter())
                                    .filter(|s| s.key == *key)
                                    .collect();
                                pos = sels.first().and_then(|s| s.pos).or(pos);
                            }
                            _ => {}
                        }
                    }
                    state.absorb(server_error(field_error, pos, client));
                }
                None => {
                    // No path into a field: every part without a value
                    // stands for it.
                    for (i, slot) in own.iter_mut().enumerate() {
                        let has_value = body
                            .get("data")
                            .and_then(|d| d.get(&parts[i].alias))
                            .is_some_and(|v| !v.is_null());
                        if !has_value {
                            slot.get_or_insert(field_error.clone());
                        }
                    }
                }
            }
        }
    }
    parts
        .into_iter()
        .zip(own)
        .map(|(part, error)| {
            let value = json.at(&["data".to_owned(), part.alias.clone()]);
            if value.get().is_null()
                && let Some(error) = error
            {
                return Err(error);
            }
            let position = Position {
                path: part.path.clone(),
                call: at.call,
                span: at.span.clone(),
                keyed: true,
            };
            let data = shape(state, &part.plan, &part.plan.field.def.ty, value, &position);
            Ok(Resolved::fresh(data))
        })
        .collect()
}

fn server_error(error: FieldError, pos: Option<Pos>, path: Vec<PathSegment>) -> ServerError {
    let mut error = error
        .into_graphql()
        .into_server_error(pos.unwrap_or_default());
    if pos.is_none() {
        error.locations.clear();
    }
    error.path = path;
    error
}
