//! Upstream JSON -> GraphQL values of the declared type. What does not fit is
//! a field error that says where, what was expected and what arrived.

use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{Name, Number, Value as GqlValue};
use serde_json::Value;

use crate::error::{ErrorCode, FieldError};
use crate::exec::{CompiledField, OutputKind};

/// Coerces a scalar or enum field's JSON (or a list of them).
pub(crate) fn leaf(field: &CompiledField, ty: &Type, json: &Value) -> Result<GqlValue, FieldError> {
    match (&ty.base, json) {
        (_, Value::Null) if ty.nullable => Ok(GqlValue::Null),
        (_, Value::Null) => Err(mismatch(field, ty, json)),
        (BaseType::List(inner), Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                leaf(field, inner, item).map_err(|mut e| {
                    // The error is at the item (its path ends there).
                    e.item = Some(
                        std::iter::once(i)
                            .chain(e.item.take().unwrap_or_default())
                            .collect(),
                    );
                    e
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(GqlValue::List),
        (BaseType::List(_), _) => Err(mismatch(field, ty, json)),
        (BaseType::Named(_), _) => {
            scalar(&field.out, json).ok_or_else(|| mismatch(field, ty, json))
        }
    }
}

fn scalar(out: &OutputKind, json: &Value) -> Option<GqlValue> {
    Some(match (out, json) {
        (OutputKind::Int, Value::Number(n)) => {
            let i = n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?;
            GqlValue::Number(Number::from(i32::try_from(i).ok()?))
        }
        (OutputKind::Float, Value::Number(n)) => GqlValue::Number(Number::from_f64(n.as_f64()?)?),
        (OutputKind::String, Value::String(s)) => GqlValue::String(s.clone()),
        // The spec allows presenting numbers and booleans as strings.
        (OutputKind::String, Value::Number(n)) => GqlValue::String(n.to_string()),
        (OutputKind::String, Value::Bool(b)) => GqlValue::String(b.to_string()),
        (OutputKind::Boolean, Value::Bool(b)) => GqlValue::Boolean(*b),
        (OutputKind::Id, Value::String(s)) => GqlValue::String(s.clone()),
        (OutputKind::Id, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            GqlValue::String(n.to_string())
        }
        (OutputKind::Enum(values), Value::String(s)) if values.contains(s) => {
            GqlValue::Enum(Name::new(s))
        }
        (OutputKind::Custom, json) => GqlValue::from_json(json.clone()).ok()?,
        _ => return None,
    })
}

/// `Product.price: expected Float!, got string "abc"`.
pub(crate) fn mismatch(field: &CompiledField, ty: &Type, json: &Value) -> FieldError {
    let mut error = FieldError::new(
        ErrorCode::UpstreamBadResponse,
        format!(
            "{}: expected {ty}, got {}",
            field.def.coordinate,
            describe(json)
        ),
    );
    if let Some(upstream) = &field.upstream {
        error = error.upstream(upstream.name());
    }
    error
}

fn describe(json: &Value) -> String {
    let mut text = match json {
        Value::Null => return "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", Value::String(s.clone())),
        Value::Array(items) => return format!("a list of {} items", items.len()),
        Value::Object(map) => return format!("an object with {} keys", map.len()),
    };
    if text.len() > 80 {
        let mut cut = 77;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}
