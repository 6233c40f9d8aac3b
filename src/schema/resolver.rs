//! The one generic resolver. Every field of every object type is served by
//! it; what it does is decided by the field's typed [`CompiledField`].

use std::sync::Arc;

use async_graphql::ErrorExtensions;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::parser::types::{BaseType, Type};
use serde_json::{Map, Value};

use super::coerce;
use crate::config::{FieldSource, OnError};
use crate::error::{ErrorCode, FieldError};
use crate::exec::{
    CompiledField, Data, ObjRef, ObjectData, OutputKind, RequestState, View, resolve_unplanned,
};

/// Stands for a null item of a list of objects. The engine completes every
/// item of such a list as an object, `null` included; the fields of this
/// stand-in answer [`NULL_ITEM`], which the null propagation turns into the
/// item's null and reports nowhere.
pub(crate) struct NullItem;

/// The error a [`NullItem`]'s fields answer.
pub(crate) const NULL_ITEM: &str = "tributary: a null list item";

/// The resolver function for `field`.
pub(crate) fn resolver(
    field: Arc<CompiledField>,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    move |rc| {
        if rc.parent_value.downcast_ref::<NullItem>().is_some() {
            return FieldFuture::new(async {
                Err::<Option<FieldValue<'_>>, _>(async_graphql::Error::new(NULL_ITEM))
            });
        }
        if let Some(error) = null_argument(&field, &rc) {
            return FieldFuture::new(async move { Err::<Option<FieldValue<'_>>, _>(error) });
        }
        let field = field.clone();
        // Leaves read straight from the parent's JSON: no future needed.
        if let Some(parent) = rc.parent_value.downcast_ref::<ObjRef>()
            && is_leaf(&field.out)
            && let Some(json) = match &field.def.source {
                // A GraphQL upstream's answer is keyed by response key.
                FieldSource::Parent(_) if parent.0.keyed => {
                    let selection = rc.ctx.field();
                    let key = selection.alias().unwrap_or(selection.name());
                    Some(parent.0.json.get().get(key).unwrap_or(&Value::Null))
                }
                FieldSource::Parent(path) => {
                    Some(crate::exec::pluck(parent.0.json.get(), path).unwrap_or(&Value::Null))
                }
                // The planner's data is keyed by response key.
                FieldSource::Federated => {
                    let selection = rc.ctx.field();
                    let key = selection.alias().unwrap_or(selection.name());
                    Some(parent.0.json.get().get(key).unwrap_or(&Value::Null))
                }
                _ => None,
            }
        {
            let coerced = match federated_failure(&field, &rc, json) {
                Some(failed) => Err(failed),
                None => coerce::leaf(&field, &field.def.ty, json),
            };
            match coerced {
                Ok(value) => return FieldFuture::Value(leaf_value(value)),
                Err(e) => {
                    let result = on_error(&field, &rc, e);
                    return FieldFuture::new(async move { result });
                }
            }
        }
        FieldFuture::new(async move {
            match resolve(&field, &rc).await {
                Ok(value) => Ok(value),
                Err(e) => on_error(&field, &rc, e),
            }
        })
    }
}

/// The failure a supergraph field's value stands for (a failed fetch or a
/// subgraph's error at its path).
fn federated_failure(
    field: &CompiledField,
    rc: &ResolverContext<'_>,
    json: &Value,
) -> Option<FieldError> {
    if !matches!(field.def.source, FieldSource::Federated) || !json.is_object() {
        return None;
    }
    let state = rc.ctx.data::<Arc<RequestState>>().ok()?;
    crate::federation::failure(state, json)
}

/// A non-null argument given `null` through a variable (a literal `null`
/// is a validation error): the field fails, at the argument's value
/// (CoerceArgumentValues, 6.4.1).
fn null_argument(field: &CompiledField, rc: &ResolverContext<'_>) -> Option<async_graphql::Error> {
    let def =
        field.def.args.iter().find(|a| {
            !a.ty.nullable && rc.args.get(a.name.as_str()).is_some_and(|v| v.is_null())
        })?;
    let at = rc
        .ctx
        .item
        .node
        .arguments
        .iter()
        .find(|(name, _)| name.node == def.name)
        .map_or(rc.ctx.item.pos, |(_, value)| value.pos);
    Some(
        async_graphql::Error::new(format!(
            "Argument \"{}\" of non-null type \"{}\" must not be null.",
            def.name, def.ty
        ))
        .extend_with(|_, ext| {
            ext.set("code", ErrorCode::BadUserInput.as_str());
            ext.set(
                crate::error::LOCATION_EXTENSION,
                vec![at.line as u64, at.column as u64],
            );
        }),
    )
}

/// A coerced leaf as the engine takes it: null is no value (a null list or
/// enum given as a value would be refused as not a list, not an enum).
fn leaf_value<'a>(value: async_graphql::Value) -> Option<FieldValue<'a>> {
    match value {
        async_graphql::Value::Null => None,
        value => Some(FieldValue::value(value)),
    }
}

/// Applies the field's `@onError` policy to its failure.
fn on_error<'a>(
    field: &CompiledField,
    rc: &ResolverContext<'_>,
    error: FieldError,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let (OnError::Default(value)
    | OnError::Stale {
        fallback: Some(value),
    }) = &field.def.on_error
    else {
        // FAIL and NULL: the error rises to the nearest nullable position,
        // which for a NULL field (always nullable) is the field itself.
        return Err(error.into_graphql());
    };
    let json = value.clone().into_json().unwrap_or(Value::Null);
    match to_field_value(field, &field.def.ty, &plain(json)) {
        Ok(fallback) => {
            if let Ok(state) = rc.ctx.data::<Arc<RequestState>>() {
                let mut reported = error
                    .into_graphql()
                    .extend_with(|_, ext| ext.set("degraded", true))
                    .into_server_error(rc.ctx.item.pos);
                if let Some(node) = &rc.ctx.path_node {
                    reported.path = super::null_propagation::path_of(node);
                }
                state.absorb(reported);
            }
            Ok(fallback)
        }
        // `check` verified the default fits the type; if it still does not,
        // report the original failure.
        Err(_) => Err(error.into_graphql()),
    }
}

/// A part of the planner's answer, with no calls behind it.
fn plain_view(view: View) -> Data {
    match view.get() {
        Value::Null => Data::Null,
        Value::Array(items) => Data::List(
            (0..items.len())
                .map(|i| plain_view(view.index(i)))
                .collect(),
        ),
        Value::Object(_) => Data::Object(Arc::new(ObjectData {
            json: view,
            children: Vec::new(),
            keyed: false,
        })),
        _ => Data::Leaf(view),
    }
}

/// A value with no calls behind it (an `@onError` default).
fn plain(json: Value) -> Data {
    match json {
        Value::Null => Data::Null,
        Value::Array(items) => Data::List(items.into_iter().map(plain).collect()),
        json @ Value::Object(_) => Data::Object(Arc::new(ObjectData {
            json: View::new(json),
            children: Vec::new(),
            keyed: false,
        })),
        json => Data::Leaf(View::new(json)),
    }
}

fn is_leaf(out: &OutputKind) -> bool {
    !matches!(out, OutputKind::Object | OutputKind::Abstract)
}

async fn resolve<'a>(
    field: &Arc<CompiledField>,
    rc: &ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, FieldError> {
    let state = rc
        .ctx
        .data::<Arc<RequestState>>()
        .map_err(|_| FieldError::new(ErrorCode::InternalError, "request state missing"))?;
    // Objects and list items count against maxCost as they are resolved
    // (leaves read from a parent's JSON are bounded by the document).
    state.budget.resolve(1)?;
    let parent = rc.parent_value.downcast_ref::<ObjRef>();
    let selection = rc.ctx.field();
    let key = selection.alias().unwrap_or(selection.name());
    // A root field of a supergraph: the planner's assembled root object.
    let federated_root = match (&field.def.source, parent, &state.federation) {
        (FieldSource::Federated, None, Some(request)) => Some(request.root(state, key).await?),
        _ => None,
    };
    let parent_json = parent.map(|p| &p.0.json).or(federated_root.as_ref());
    if let Some(json) = parent_json
        && let Some(failed) =
            federated_failure(field, rc, json.get().get(key).unwrap_or(&Value::Null))
    {
        return Err(failed);
    }
    // Nothing bound below: the planner's JSON is the value, as it is.
    if field.plain_federated
        && let Some(json) = parent_json
    {
        let data = plain_view(json.at(std::slice::from_ref(&key.to_owned())));
        if let Data::List(items) = &data {
            state
                .budget
                .resolve(u64::try_from(items.len()).unwrap_or(u64::MAX))?;
        }
        return to_field_value(field, &field.def.ty, &data);
    }
    let resolved = match parent.and_then(|p| p.0.child(key)) {
        Some(slot) => slot.get().await?,
        None => {
            let args = arguments(rc);
            // The response paths of the field and of its parent object.
            let (path, join) = match &rc.ctx.path_node {
                Some(node) => (
                    node.to_string(),
                    node.parent.map(ToString::to_string).unwrap_or_default(),
                ),
                None => (key.to_owned(), String::new()),
            };
            // Boxed: this path (no prefetched slot) is rare, and inlining
            // the whole call would make every resolver's future large.
            Box::pin(resolve_unplanned(
                state,
                field.clone(),
                args,
                selection,
                parent_json.map(|json| (json, parent.is_some_and(|p| p.0.keyed))),
                Arc::from(path.as_str()),
                Arc::from(join.as_str()),
            ))
            .await?
        }
    };
    if let Data::List(items) = resolved.data.as_ref() {
        state
            .budget
            .resolve(u64::try_from(items.len()).unwrap_or(u64::MAX))?;
    }
    if let Some(stale) = &resolved.stale
        && let Some(node) = &rc.ctx.path_node
    {
        state.mark_stale(
            super::null_propagation::path_of(node),
            stale.upstream.clone(),
            stale.age,
        );
    }
    to_field_value(field, &field.def.ty, &resolved.data)
}

/// The field's argument values as JSON.
pub(super) fn arguments(rc: &ResolverContext<'_>) -> Map<String, Value> {
    rc.args
        .as_index_map()
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into_json().unwrap_or(Value::Null)))
        .collect()
}

/// A null item at `indices` of a list whose items are non-null.
fn null_in_list(field: &CompiledField, indices: Vec<usize>) -> FieldError {
    let mut error = FieldError::new(
        ErrorCode::UpstreamBadResponse,
        format!(
            "Cannot return null for non-nullable field {}.",
            field.def.coordinate
        ),
    );
    error.item = Some(indices);
    error
}

/// A null item of a list of `field`'s type, as the engine is given it.
fn null_item<'a>(field: &CompiledField) -> FieldValue<'a> {
    match (&field.out, &field.stand_in_type) {
        (OutputKind::Object, _) => FieldValue::owned_any(NullItem),
        (OutputKind::Abstract, Some(object)) => {
            FieldValue::owned_any(NullItem).with_type(object.clone())
        }
        _ => FieldValue::NULL,
    }
}

pub(super) fn to_field_value<'a>(
    field: &CompiledField,
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
            coerce::leaf(field, ty, json.get()).map(leaf_value)
        }
        (Data::Leaf(json), _) => Err(coerce::mismatch(field, ty, json.get())),
        (Data::List(items), BaseType::List(inner)) => {
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // A null where the item may not be null fails at the item.
                if !inner.nullable && matches!(item, Data::Null) {
                    return Err(null_in_list(field, vec![i]));
                }
                let value = to_field_value(field, inner, item).map_err(|mut e| {
                    if let Some(below) = e.item.take() {
                        e.item = Some(std::iter::once(i).chain(below).collect());
                    }
                    e
                })?;
                values.push(match value {
                    Some(value) => value,
                    None => null_item(field),
                });
            }
            Ok(Some(FieldValue::list(values)))
        }
        (Data::Object(object), BaseType::Named(_)) => {
            let value = FieldValue::owned_any(ObjRef(object.clone()));
            if matches!(field.out, OutputKind::Abstract) {
                let Some(Value::String(typename)) = object.json.get().get("__typename") else {
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
