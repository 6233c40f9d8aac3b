//! The one generic resolver. Every field of every object type is served by
//! it; what it does is decided by the field's typed [`FieldRt`].

use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::parser::types::{BaseType, Type};
use serde_json::{Map, Value};

use super::coerce;
use crate::config::FieldSource;
use crate::error::{ErrorCode, FieldError};
use crate::exec::RequestState;
use crate::exec::data::{Data, ObjRef};
use crate::exec::plan::Plan;
use crate::exec::registry::{FieldRt, Out};
use crate::exec::run;

/// The resolver function for `field`.
pub(crate) fn resolver(
    field: Arc<FieldRt>,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    move |rc| {
        let field = field.clone();
        // Leaves read straight from the parent's JSON: no future needed.
        if let (FieldSource::Parent(path), Some(parent)) =
            (&field.def.source, rc.parent_value.downcast_ref::<ObjRef>())
            && is_leaf(&field.out)
        {
            let json = crate::upstream::pluck(&parent.0.json, path).unwrap_or(&Value::Null);
            return FieldFuture::Value(match coerce::leaf(&field, &field.def.ty, json) {
                Ok(value) => Some(FieldValue::value(value)),
                Err(e) => {
                    return FieldFuture::new(async move {
                        Err::<Option<FieldValue<'_>>, _>(e.into_graphql())
                    });
                }
            });
        }
        FieldFuture::new(
            async move { resolve(&field, &rc).await.map_err(FieldError::into_graphql) },
        )
    }
}

fn is_leaf(out: &Out) -> bool {
    !matches!(out, Out::Object | Out::Abstract)
}

async fn resolve<'a>(
    field: &Arc<FieldRt>,
    rc: &ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, FieldError> {
    let state = rc
        .ctx
        .data::<Arc<RequestState>>()
        .map_err(|_| FieldError::new(ErrorCode::InternalError, "request state missing"))?;
    let parent = rc.parent_value.downcast_ref::<ObjRef>();
    let selection = rc.ctx.field();
    let key = selection.alias().unwrap_or(selection.name());
    let data = match parent.and_then(|p| p.0.child(key)) {
        Some(slot) => slot.get().await?,
        None => {
            let args: Map<String, Value> = rc
                .args
                .as_index_map()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone().into_json().unwrap_or(Value::Null)))
                .collect();
            let plan = Arc::new(Plan::new(
                &state.registry,
                field.clone(),
                key.to_owned(),
                args,
                selection,
            ));
            let parent_json = parent.map(|p| &p.0.json).unwrap_or(&Value::Null);
            run::execute(state, &plan, parent_json).await?
        }
    };
    to_field_value(field, &field.def.ty, &data)
}

fn to_field_value<'a>(
    field: &FieldRt,
    ty: &Type,
    data: &Data,
) -> Result<Option<FieldValue<'a>>, FieldError> {
    match (data, &ty.base) {
        (Data::Null, _) if ty.nullable => Ok(None),
        (Data::Null, _) => Err(FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!("{}: expected {ty}, got null", field.def.coordinate),
        )),
        (Data::Leaf(json), _) if is_leaf(&field.out) => {
            coerce::leaf(field, ty, json).map(|v| Some(FieldValue::value(v)))
        }
        (Data::Leaf(json), _) => Err(coerce::mismatch(field, ty, json)),
        (Data::List(items), BaseType::List(inner)) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                values.push(to_field_value(field, inner, item)?.unwrap_or(FieldValue::NULL));
            }
            Ok(Some(FieldValue::list(values)))
        }
        (Data::Object(object), BaseType::Named(_)) => {
            let value = FieldValue::owned_any(ObjRef(object.clone()));
            if matches!(field.out, Out::Abstract) {
                let Some(Value::String(typename)) = object.json.get("__typename") else {
                    return Err(FieldError::new(
                        ErrorCode::UpstreamBadResponse,
                        format!(
                            "{}: the upstream JSON has no `__typename`, so the concrete type of {} is unknown",
                            field.def.coordinate, field.named
                        ),
                    ));
                };
                return Ok(Some(value.with_type(typename.clone())));
            }
            Ok(Some(value))
        }
        (Data::List(_) | Data::Object(_), _) => Err(FieldError::new(
            ErrorCode::UpstreamBadResponse,
            format!(
                "{}: expected {ty}, got a value of another shape",
                field.def.coordinate
            ),
        )),
    }
}
